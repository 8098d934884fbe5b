"""The primary's end of the stream (architecture section 3): numbers each record, sends
it on the link to the backup, appends it to the log, and tracks the backup's
acknowledgements; plus the console gate of the output-rule variant."""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from hvdbg.replication.link import Channel, LinkError
from hvdbg.trace.log import LogWriter, Record, RecordType, encode

RECENT = 64                 # records kept for a debugger's "log" command


class StreamOut:
    """``send`` a record: one frame, the same bytes on the link and in the log."""

    def __init__(self, channel: Channel | None, recorder: LogWriter | None,
                 seq: int = 0) -> None:
        self.channel, self.recorder = channel, recorder
        self.seq = seq                     # next sequence number
        self.acked = seq - 1               # highest seq the backup acknowledged
        self.messages = 0
        self.bytes = 0
        self.ack_wait_s = 0.0
        self.waits = 0
        self.error: LinkError | None = None
        self._cv = threading.Condition()
        self._waiting = False
        self.on_acked: Callable[[int], None] = lambda seq: None
        self.recent: collections.deque[Record] = collections.deque(maxlen=RECENT)

    def send(self, rtype: RecordType, fields: tuple[int, ...], data: bytes = b"") -> int:
        seq = self.seq
        frame = encode(rtype, seq, fields, data)
        self.seq = seq + 1
        self.messages += 1
        self.bytes += len(frame)
        self.recent.append(Record(rtype, seq, fields, data))
        if self.recorder is not None:
            self.recorder.write(frame)
        if self.channel is not None:
            self.channel.send(frame)
        else:
            self.acked = seq               # nobody to wait for
            self.on_acked(seq)
        return seq

    # ---- acknowledgements (called from the link's delivery thread) ----
    def on_ack(self, rec: Record) -> None:
        if rec.type is not RecordType.ACK:
            self.link_failed(LinkError(f"unexpected {rec.type.name} from the backup"))
            return
        seq = rec.fields[0]
        self.acked = max(self.acked, seq)
        if self._waiting:
            with self._cv:
                self._cv.notify_all()
        self.on_acked(self.acked)

    def link_failed(self, err: LinkError) -> None:
        with self._cv:
            self.error = err
            self._cv.notify_all()

    @property
    def all_acked(self) -> bool:
        return self.acked >= self.seq - 1

    def wait_acked(self, give_up: Callable[[], bool] = lambda: False,
                   timeout: float = 2.0) -> bool:
        """Block until the backup acknowledged everything sent so far (P2, the refined
        rule).  Returns False when ``give_up()`` became true (polled: this primary is
        being fenced off).  A message left unacknowledged for ``timeout`` seconds was
        lost (the link broke its promise, or the backup is gone): LinkError."""
        if self.all_acked:
            return True
        t0 = time.monotonic()
        if self.channel is not None:            # what is still queued on a slow link
            timeout += max(0.0, self.channel.busy_until() - t0)
        self.waits += 1
        gave_up = False
        if self.channel is not None and self.channel.synchronous and self.error is None:
            # delivery and acknowledgement happen inside send(): nothing is in flight
            self.error = LinkError(f"message {self.acked + 1} was not acknowledged: lost "
                                   f"on the link (or held back out of order)")
        with self._cv:
            self._waiting = True
            while self.acked < self.seq - 1 and self.error is None:
                if give_up():
                    gave_up = True
                    break
                if time.monotonic() - t0 > timeout:
                    self.error = LinkError(
                        f"message {self.acked + 1} not acknowledged within {timeout:g} s: "
                        f"lost on the link, or the backup is gone")
                    break
                self._cv.wait(0.01)
            self._waiting = False
        self.ack_wait_s += time.monotonic() - t0
        if self.error is not None:
            raise self.error
        return not gave_up


class ConsoleGate:
    """Where console output goes.  Without holding it is written at once.  With the
    output rule (VMware FT) each piece is held until the backup has acknowledged the
    OUTPUT record that carries it, so the world never sees output the backup could not
    reproduce."""

    def __init__(self, sink: Callable[[bytes], None], hold: bool) -> None:
        self.sink, self.hold = sink, hold
        self._held: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    def emit(self, seq: int, data: bytes) -> None:
        if not self.hold:
            self.sink(data)
            return
        with self._lock:
            self._held.append((seq, data))

    def release(self, upto_seq: int) -> None:
        """Write out everything carried by records up to ``upto_seq``."""
        if not self.hold:
            return
        with self._lock:
            out = [d for s, d in self._held if s <= upto_seq]
            self._held = [(s, d) for s, d in self._held if s > upto_seq]
        if out:
            self.sink(b"".join(out))

    def held_bytes(self) -> int:
        with self._lock:
            return sum(len(d) for _, d in self._held)

    def drop_rest(self) -> int:
        """The primary died: output it still held was never released.  Returns bytes."""
        with self._lock:
            n = sum(len(d) for _, d in self._held)
            self._held.clear()
        return n
