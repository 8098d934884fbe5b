"""The in-process link between a primary and a backup hypervisor: one FIFO channel per
direction, with a configurable one-way latency and bandwidth, and injectable faults.

The protocol assumes a reliable FIFO link (protocol.md).  Injected faults break that
assumption on purpose; :class:`Receiver` detects every one of them (sequence numbers
for loss, duplication and reordering; the CRC for corruption) and reports it as a
:class:`LinkError` — it never hands a gap or a damaged frame to the protocol.
"""
from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hvdbg.trace.log import Record, StreamError, decode

FAULT_KINDS = ("drop", "duplicate", "reorder", "corrupt")
CLOSE_WAIT_S = 5.0          # the longest a delivery under way may delay close()


class LinkError(Exception):
    """The link broke its reliable-FIFO promise (detected, never absorbed)."""


@dataclass
class LinkConfig:
    latency_us: float = 0.0                 # one way
    mbps: float = 0.0                       # 0 = unlimited
    faults: dict[int, str] = field(default_factory=dict)   # message index -> fault kind

    @staticmethod
    def parse_faults(specs: list[str]) -> dict[int, str]:
        """``["drop@120", "corrupt@7"]`` -> ``{120: "drop", 7: "corrupt"}``."""
        out: dict[int, str] = {}
        for spec in specs:
            m = re.fullmatch(r"(\w+)@(\d+)", spec)
            if not m or m.group(1) not in FAULT_KINDS:
                raise ValueError(f"link fault {spec!r}: expected KIND@N with KIND one of "
                                 f"{', '.join(FAULT_KINDS)}")
            out[int(m.group(2))] = m.group(1)
        return out


class Channel:
    """One direction.  ``send`` never blocks; frames reach ``deliver`` in order after the
    configured delay (inline when there is none)."""

    def __init__(self, cfg: LinkConfig, deliver: Callable[[bytes], None], name: str) -> None:
        self.cfg, self.deliver, self.name = cfg, deliver, name
        self.sent = 0                      # messages handed to send()
        self.bytes = 0
        self._held: bytes | None = None     # a frame held back by a "reorder" fault
        self._free_at = 0.0                 # bandwidth: when the wire is free again
        self._queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self._busy = False                  # the pump is delivering a frame
        self._thread: threading.Thread | None = None
        if cfg.latency_us > 0 or cfg.mbps > 0:
            self._thread = threading.Thread(target=self._pump, name=f"link-{name}",
                                            daemon=True)
            self._thread.start()

    @property
    def synchronous(self) -> bool:
        """Frames are delivered inside send() (no latency or bandwidth configured)."""
        return self._thread is None

    def send(self, frame: bytes) -> None:
        n = self.sent
        self.sent += 1
        self.bytes += len(frame)
        fault = self.cfg.faults.get(n)
        if fault == "drop":
            return
        if fault == "corrupt":
            b = bytearray(frame)
            b[len(b) // 2] ^= 0x40
            frame = bytes(b)
        if fault == "reorder":
            self._held = frame
            return
        self._put(frame)
        if fault == "duplicate":
            self._put(frame)
        if self._held is not None:
            held, self._held = self._held, None
            self._put(held)

    def _put(self, frame: bytes) -> None:
        if self._thread is None:
            self.deliver(frame)
            return
        now = time.monotonic()
        start = max(now, self._free_at)
        if self.cfg.mbps > 0:
            start += len(frame) * 8 / (self.cfg.mbps * 1e6)
        self._free_at = start
        with self._cv:
            self._queue.append((start + self.cfg.latency_us / 1e6, frame))
            self._cv.notify()

    def _pump(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                due, frame = self._queue[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._cv.wait(delay)        # close() wakes it: nothing after that
                    continue
                self._queue.popleft()
                self._busy = True
            try:
                self.deliver(frame)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()        # drain() waits for this

    def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until every frame sent so far was delivered."""
        if self._thread is None:
            return
        end = time.monotonic() + timeout
        with self._cv:
            while (self._queue or self._busy) and not self._closed:
                left = end - time.monotonic()
                if left <= 0:
                    return
                self._cv.wait(left)

    def busy_until(self) -> float:
        """When (time.monotonic) everything sent so far will have been delivered: a
        receiver that hears nothing before then is not hearing silence."""
        if self._thread is None:
            return 0.0
        return self._free_at + self.cfg.latency_us / 1e6

    def close(self) -> None:
        """No frame is delivered once this returns (a delivery under way is waited for,
        so the receiver may then close what it delivers into, e.g. the log)."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(CLOSE_WAIT_S)


class Receiver:
    """The receiving end of a channel: checks each frame (CRC, sequence number) and
    hands good records to ``on_record``; the first bad frame is kept in ``error`` and
    everything after it is refused."""

    def __init__(self, on_record: Callable[[Record, bytes], None], name: str) -> None:
        self.on_record, self.name = on_record, name
        self.expect = 0
        self.error: LinkError | None = None
        self.on_error: Callable[[LinkError], None] = lambda err: None

    def __call__(self, frame: bytes) -> None:
        if self.error is not None:
            return
        try:
            rec = decode(frame, index=self.expect)
        except StreamError as e:
            self._fail(f"{self.name}: damaged frame: {e}")
            return
        if rec.seq != self.expect:
            what = ("duplicated" if rec.seq < self.expect else
                    "lost or reordered (a gap)")
            self._fail(f"{self.name}: frame seq {rec.seq} arrived, expected {self.expect}: "
                       f"a message was {what}")
            return
        self.expect += 1
        self.on_record(rec, frame)

    def _fail(self, msg: str) -> None:
        self.error = LinkError(msg)
        self.on_error(self.error)
