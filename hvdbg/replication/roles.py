"""Hypervisor roles (architecture section 4): ``Solo``, ``Primary`` and ``Backup`` here,
``Replayer`` (a backup reading a log) in :mod:`hvdbg.trace.replay`.  A role owns one VM,
answers its exits and ``run()`` s it to a :class:`RunEnd`.

The protocol rules of protocol.md are methods named after them (``p0_...`` to
``p8_...``), so a reader can point at each.  Epoch e holds the instructions whose
retired count is in [e*L, (e+1)*L); the core records every epoch end with a digest and
only exits for one when this hypervisor asked it to (architecture section 2).
"""
from __future__ import annotations

import collections
import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hvdbg.cpu.core import (
    EPOCH_DIGEST,
    EPOCH_EXIT_EACH,
    ClockMode,
    Core,
    ExitReason,
)
from hvdbg.machine.environment import EIRR_TIMER
from hvdbg.machine.machine import Machine, StopReason
from hvdbg.replication.link import LinkError
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import IO_READ, IO_WRITE, EndReason, Record, RecordType

PROTOCOLS = ("original", "refined", "output-rule")
SLICE = 1 << 18                 # longest run between looks at the world (~2 ms)
HEARTBEAT_S = 0.005             # a primary silent this long sends a heartbeat
R = RecordType


class Divergence(Exception):
    """The backup (or the replayer) does not match the primary's stream."""


class Outcome(enum.Enum):
    ENDED = "ended"              # the guest stopped (power off, halt, limit, fault)
    DIED = "died"                # injected fail-stop of the primary
    PROMOTE = "promote"          # the backup detected the primary's failure (P7)
    STARVED = "starved"          # the replayer's log ended before an END record


@dataclass
class ReplicationConfig:
    epoch: int = 16384
    protocol: str = "refined"
    detect_s: float = 0.050

    def __post_init__(self) -> None:
        if not 1024 <= self.epoch <= 1_000_000:
            raise ValueError(f"epoch length {self.epoch}: must be 1024 .. 1000000")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r}: one of {', '.join(PROTOCOLS)}")


@dataclass
class RunEnd:
    outcome: Outcome
    reason: StopReason | None = None
    icount: int = 0
    message: str = ""


@dataclass
class Takeover:
    """What a backup hands its successor primary when it promotes itself (P7)."""
    pending: collections.deque[Record] = field(default_factory=collections.deque)
    irqs: dict[int, int] = field(default_factory=dict)       # epoch -> bits still to deliver
    expected: dict[int, int] = field(default_factory=dict)   # epoch -> the old primary's digest
    known_end: int = -1          # the last epoch end the old primary reported
    next_seq: int = 0


_END_REASONS = {StopReason.POWER_OFF: EndReason.POWER_OFF, StopReason.HALT: EndReason.HALT,
                StopReason.RESET: EndReason.RESET, StopReason.LIMIT: EndReason.LIMIT,
                StopReason.TIMEOUT: EndReason.LIMIT, StopReason.FAULT: EndReason.FAULT,
                StopReason.STOP: EndReason.STOPPED}


FENCED = "fenced: the backup took over"


class Fence:
    """Split-brain guard.  Failure detection by timeout can be wrong (a primary that was
    merely slow); a promoting backup therefore puts the fence down first, and a primary
    touches the devices or the stream only with the fence held and up — so at most one
    primary ever acts, and a wrongly suspected one simply stops (as if it had failed)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down = False
        self.requested = False    # a backup wants the lock: a waiting primary lets go


class _Fenced(Exception):
    """Raised inside a primary's exit handling when it is being fenced off."""


class Role:
    """What every role shares: the VM, its epoch configuration, its own digests."""

    name = "role"

    def __init__(self, machine: Machine, cfg: ReplicationConfig) -> None:
        self.machine, self.cfg = machine, cfg
        self.core: Core = machine.core
        self.epochs_done = 0

    def configure_epochs(self, exit_each: bool = False) -> None:
        self.core.epoch_config(self.cfg.epoch, EPOCH_DIGEST | (EPOCH_EXIT_EACH if exit_each
                                                               else 0))
        self.core.digest()       # hash all memory once now, not inside the first epoch

    def epoch_end_icount(self, epoch: int) -> int:
        return (epoch + 1) * self.cfg.epoch

    def current_epoch(self) -> int:
        return self.core.icount // self.cfg.epoch


# =====================================================================================
# solo
# =====================================================================================

class Solo(Role):
    """The plain emulator as a role: no epochs, no stream; I/O and environment go
    straight to the devices and interrupts are delivered as soon as they arrive
    (:meth:`Machine.run`, whose tight loop this role wraps)."""

    name = "solo"

    def run(self, *, max_insns: int | None = None, deadline: float | None = None,
            stop: threading.Event | None = None) -> RunEnd:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        limit = None if max_insns is None else max(0, max_insns - self.core.icount)
        r = self.machine.run(max_insns=limit, timeout=timeout)
        return RunEnd(Outcome.ENDED, r.reason, r.icount, r.message)


# =====================================================================================
# primary
# =====================================================================================

class Primary(Role):
    """Performs I/O and environment instructions, buffers interrupts to epoch ends and
    emits the stream.  A promoted backup becomes one of these, after first consuming
    the records its predecessor had already sent (``takeover``)."""

    name = "primary"

    def __init__(self, machine: Machine, cfg: ReplicationConfig, out: StreamOut,
                 console: ConsoleGate, *, takeover: Takeover | None = None) -> None:
        super().__init__(machine, cfg)
        self.env = machine.env                      # only a primary holds the devices
        self.out, self.console = out, console
        self.fence = Fence()
        self.ack_slack = 0.01              # + 2 x link latency (set by the pair)
        self.pending_irq = 0                               # P0 buffer for this epoch
        self.scheduled: dict[int, int] = {}                 # epoch -> bits (from a takeover)
        self.catchup: collections.deque[Record] = collections.deque()
        self.repeated_io = 0                                # I/O redone after a takeover
        self.unreported_io: tuple[int, int] | None = None   # see _perform_unreported
        self.repeat_of: tuple[int, int] | None = None       # the dead primary's unreported_io
        self._capture: bytearray | None = None
        self.last_send = time.monotonic()
        # up to the old primary's last reported epoch end, a promoted backup re-executes
        # history: the old primary's interrupts only, its digests checked, nothing re-sent
        self.history_end = -1
        self.expected: dict[int, int] = {}
        if takeover is not None:
            self.catchup = takeover.pending
            self.scheduled = dict(takeover.irqs)
            self.history_end = takeover.known_end
            self.expected = takeover.expected
        self.configure_epochs(exit_each=cfg.protocol == "original")
        self._attach()

    def _attach(self) -> None:
        """This hypervisor now owns the devices: DMA and CPU-HPA reads go to its VM."""
        env = self.env
        env.memory = _DmaTap(self)
        env.read_cpu_eirr = lambda: int(self.core.state.cr[23])
        env.console = self._console_out
        if self.machine.clock is ClockMode.VIRTUAL:      # the RTCs count this VM's time
            core = self.core
            env.use_virtual_clock(lambda: core.icount, self.machine.ticks_per_insn)

    def _console_out(self, data: bytes) -> None:
        if self._capture is not None:           # output caused by the I/O access at hand
            self._capture += data
            return
        seq = self.out.send(R.OUTPUT, (self.core.icount,), data)
        self.console.emit(seq, data)

    # ---- the rules ----
    def p0_buffer_interrupts(self) -> None:
        """P0: an interrupt that arrives during epoch E is not delivered: it is buffered
        (and sent to the backup, tagged E, at E's end — see :meth:`p2_end_epoch`)."""
        bits = self.env.take_eirr()
        if self.machine.clock is ClockMode.HOST and self.env.timer.expired():
            bits |= EIRR_TIMER
        if bits:
            self.pending_irq |= bits
        if self.pending_irq or self.scheduled:
            self.core.epoch_exit_next()         # (pending ones wait past history_end)

    def p1_environment(self, e: Any) -> None:
        """P1: an environment instruction is simulated here; the value is used by the
        VM and sent to the backup."""
        self.flush_epochs()
        if self.catchup and use_logged(self.core, self.catchup, e) is not None:
            return                              # the old primary already did this one
        if e.reason == ExitReason.ENV_READ:
            value = self.machine._env_read(e.addr)
        else:
            self.machine._env_write(e.addr, e.value)
            value = e.value
        self.out.send(R.ENV, (e.icount, e.addr, value))
        self.core.io_complete(value if e.reason == ExitReason.ENV_READ else 0)

    def p1_io(self, e: Any) -> bool:
        """P1 for I/O: the access is performed on the devices (reads: the value read is
        sent; writes: the value written, so the backup can check it).  Returns True when
        the guest powered off.  The refined and output-rule variants differ here."""
        kind = IO_READ if e.reason == ExitReason.IO_READ else IO_WRITE
        self.flush_epochs()
        if self.catchup and use_logged(self.core, self.catchup, e) is not None:
            return False                        # the old primary already did this one
        if self.cfg.protocol == "refined":
            self.refined_wait_before_io()
        if self.repeat_of is not None and self.repeat_of == (e.icount, e.addr):
            self.repeated_io += 1
        env = self.env
        if kind == IO_READ:
            value = env.io_read(e.addr, e.size)
        else:
            value = e.value_hi << 32 | e.value if e.size == 8 else e.value
            env.io_write(e.addr, e.size, value)
        output = b""
        if env.console_pending:                 # what the access printed travels with it
            self._capture = bytearray()
            env.flush_console()
            output, self._capture = bytes(self._capture), None
        seq = self.out.send(R.IO, (e.icount, kind, e.size, e.addr, value), output)
        if output:
            self.console.emit(seq, output)
        if env.power_off_requested:
            return True
        self.core.io_complete(value if kind == IO_READ else 0)
        return False

    def refined_wait_before_io(self) -> None:
        """Refined protocol: instead of waiting at every epoch end (P2), wait for the
        backup's acknowledgement of everything sent before the next I/O instruction — the
        only way the environment can observe the VM."""
        self._wait_acked()

    def p2_end_epoch(self) -> None:
        """P2: at the end of epoch E send ``[end, E]`` (with the interrupts buffered in
        E), wait until the backup acknowledged every message (original variant only),
        then deliver the buffered interrupts and start E+1."""
        records = self.core.epoch_take()
        if records:
            last = records[-1][0]
            bits = self.scheduled.pop(last, 0)
            own = last > self.history_end          # past what the old primary did
            if own:
                bits |= self.pending_irq
                if bits:
                    self.out.send(R.IRQ, (last, bits))
            self._send_epochs(records)
            if self.cfg.protocol == "original":
                self._wait_acked()
            if bits:
                self.core.set_eirr(bits)
            if own:
                self.pending_irq = 0

    def p8_uncertain_interrupts(self) -> int:
        """P8 (on promotion): every device operation that may have been started and whose
        completion interrupt may not have been delivered gets an *uncertain* completion
        interrupt, so the guest's driver repeats or continues it (UART: transmit-empty
        again).  They reach the guest like any interrupt, at the next epoch end (P0).
        Returns the EIRR bits now pending."""
        for _, _, _, dev in self.env.regions:
            uncertain = getattr(dev, "uncertain_completion", None)
            if uncertain is not None:
                uncertain()
        if self.machine.clock is ClockMode.HOST:
            # the interval timer (an environment device with the host clock) may have
            # fired into the dead primary's P0 buffer: one tick more is harmless, a lost
            # one stops the guest's clock for good
            self.env.pending_eirr |= EIRR_TIMER
        bits = self.env.pending_eirr
        self.out.send(R.UNCERTAIN, (self.current_epoch(), bits))
        return bits

    # ---- helpers ----
    def _wait_acked(self) -> None:
        fence = self.fence
        # an acknowledgement slower than half the detection timeout is a lost message
        # (the backup would suspect this primary soon after)
        if not self.out.wait_acked(give_up=lambda: fence.requested,
                                   timeout=self.cfg.detect_s / 2 + self.ack_slack):
            raise _Fenced

    def flush_epochs(self) -> None:
        records = self.core.epoch_take()
        if records:
            self._send_epochs(records)

    def _send_epochs(self, records: list[tuple[int, int]]) -> None:
        if records[0][0] <= self.history_end:
            for epoch, digest in records:            # re-executed history: check it
                want = self.expected.pop(epoch, digest)
                if want != digest:
                    raise Divergence(f"state digest mismatch at the end of epoch {epoch} "
                                     f"while finishing the old primary's work: it had "
                                     f"{want:#018x}, here {digest:#018x}")
            records = [r for r in records if r[0] > self.history_end]
            if not records:
                return
        data = b"".join(d.to_bytes(8, "big") for _, d in records)
        self.out.send(R.EPOCHS, (records[0][0],), data)
        self.epochs_done = records[-1][0] + 1
        self.last_send = time.monotonic()

    def heartbeat(self) -> None:
        if time.monotonic() - self.last_send > HEARTBEAT_S:
            self.out.send(R.HEARTBEAT, (self.core.icount,))
            self.last_send = time.monotonic()

    # ---- the loop ----
    def run(self, *, max_insns: int | None = None, fail_at: int | None = None,
            deadline: float | None = None, stop: threading.Event | None = None) -> RunEnd:
        """Run until the guest stops, ``fail_at`` (an icount: fail-stop injection),
        ``max_insns`` (absolute icount limit) or ``deadline`` (host time)."""
        core, env, machine, fence = self.core, self.env, self.machine, self.fence
        limit = max_insns
        while True:
            if fail_at is not None and core.icount >= fail_at:
                return self._die()
            with fence.lock:
                if fence.down:
                    return RunEnd(Outcome.DIED, None, core.icount, FENCED)
                env.service()
                self.p0_buffer_interrupts()
                if env.console_pending:
                    env.flush_console()
                if limit is not None and core.icount >= limit:
                    return self._end(StopReason.LIMIT)
                if (deadline is not None and time.monotonic() >= deadline) or (
                        stop is not None and stop.is_set()):
                    return self._end(StopReason.TIMEOUT)
            budget = SLICE
            if machine.clock is ClockMode.HOST and env.timer.deadline is not None:
                budget = max(1024, min(SLICE, env.timer.remaining_ns() >> 3))
            for bound in (limit, fail_at):
                if bound is not None:
                    budget = min(budget, bound - core.icount)
            e = core.run_raw(budget)
            with fence.lock:
                if fence.down:
                    return RunEnd(Outcome.DIED, None, core.icount, FENCED)
                try:
                    end = self._handle(e, fail_at)
                except _Fenced:
                    return RunEnd(Outcome.DIED, None, core.icount, FENCED)
            if end is not None:
                return end

    def _die(self) -> RunEnd:
        """Fail-stop at this instruction.  If it is an I/O access, the device performs
        it but the backup never hears of it — the window in which a promoted backup
        repeats an I/O (protocol.md)."""
        icount = self.core.icount
        e = self.core.run_raw(1)
        if e.reason == ExitReason.IO_READ or e.reason == ExitReason.IO_WRITE:
            self._perform_unreported(e)
        return RunEnd(Outcome.DIED, None, icount, "injected failure")

    def _handle(self, e: Any, fail_at: int | None) -> RunEnd | None:
        """Answer one exit of the VM (with the fence held)."""
        r = e.reason
        if fail_at is not None and self.core.icount >= fail_at:
            return None                      # dies at the top of the loop
        if r == ExitReason.IO_READ or r == ExitReason.IO_WRITE:
            if self.p1_io(e):
                return self._end(StopReason.POWER_OFF)
        elif r == ExitReason.ENV_READ or r == ExitReason.ENV_WRITE:
            self.p1_environment(e)
        elif r == ExitReason.EPOCH:
            self.p2_end_epoch()
        elif r == ExitReason.BUDGET:
            self.flush_epochs()
            self.heartbeat()
        elif r == ExitReason.HALT:
            return self._end(StopReason.RESET if e.addr == 1 else StopReason.HALT)
        elif r == ExitReason.STOP:
            return None
        else:
            info = Core.exit_info(e)
            return self._end(StopReason.FAULT, info.msg or info.reason.name)
        return None

    def _perform_unreported(self, e: Any) -> None:
        if e.reason == ExitReason.IO_READ:
            self.env.io_read(e.addr, e.size)
        else:
            self.env.io_write(e.addr, e.size, e.value_hi << 32 | e.value if e.size == 8
                              else e.value)
        # its output reaches the wire (or, under the output rule, is held and never
        # released: no record of it will ever be acknowledged)
        self.env.console = lambda data: self.console.emit(1 << 62, data)
        self.env.flush_console()
        self.unreported_io = (e.icount, e.addr)

    def _end(self, reason: StopReason, message: str = "") -> RunEnd:
        self.flush_epochs()
        self.env.flush_console()
        self.out.send(R.END, (self.core.icount, _END_REASONS[reason], self.core.digest()))
        return RunEnd(Outcome.ENDED, reason, self.core.icount, message)


class _DmaTap:
    """The environment's memory port while a primary owns it: a device's write to guest
    memory lands in the primary's VM and is logged, so the backup applies the same bytes
    before the I/O access that caused it."""

    def __init__(self, primary: Primary) -> None:
        self.primary = primary
        self.ram_size = primary.core.ram_size

    def read_phys(self, pa: int, length: int) -> bytes:
        return self.primary.core.read_phys(pa, length)

    def write_phys(self, pa: int, data: bytes) -> None:
        p = self.primary
        p.core.write_phys(pa, data)
        p.out.send(R.DMA, (p.core.icount, pa), bytes(data))


def use_logged(core: Core, queue: collections.deque[Record], e: Any) -> Record | None:
    """Answer the VM's pending I/O or environment exit ``e`` from the primary's records at
    the head of ``queue`` instead of the devices: device writes to memory (DMA) that came
    first are applied, the record is checked against what the VM does, and its value is
    used.  None when the queue ran out first (what was applied stays applied)."""
    while queue and queue[0].type is R.DMA:
        rec = queue.popleft()
        core.write_phys(rec.pa, rec.data)
    if not queue:
        return None
    rec = queue.popleft()
    if e.reason in (ExitReason.ENV_READ, ExitReason.ENV_WRITE):
        if rec.type is not R.ENV or rec.icount != e.icount or rec.which != e.addr:
            raise Divergence(f"environment access diverged at icount {e.icount}: the "
                             f"primary's stream has {rec.describe()}")
        core.io_complete(rec.value if e.reason == ExitReason.ENV_READ else 0)
        return rec
    kind = IO_READ if e.reason == ExitReason.IO_READ else IO_WRITE
    _check_io(rec, e, kind)
    core.io_complete(rec.value if kind == IO_READ else 0)
    return rec


def _check_io(rec: Record, e: Any, kind: int) -> None:
    if rec.type is R.ENV:
        raise Divergence(f"at icount {e.icount} the VM made an I/O access to {e.addr:#010x} "
                         f"but the primary's stream has an environment value ({rec.describe()})")
    if rec.type is not R.IO:
        raise Divergence(f"at icount {e.icount} expected an IO record, got {rec.describe()}")
    if rec.icount != e.icount or rec.kind != kind or rec.pa != e.addr or rec.size != e.size:
        what = "read" if kind == IO_READ else "write"
        raise Divergence(f"I/O diverged at icount {e.icount}: this VM does a {e.size}-byte "
                         f"{what} of {e.addr:#010x}; the primary's stream has "
                         f"{rec.describe()}")
    if kind == IO_WRITE:
        mine = e.value_hi << 32 | e.value if e.size == 8 else e.value
        if mine != rec.value:
            raise Divergence(f"I/O diverged at icount {e.icount}: this VM writes {mine:#x} to "
                             f"{e.addr:#010x}; the primary wrote {rec.value:#x}")


# =====================================================================================
# backup (and, with a file for a link, the replayer)
# =====================================================================================

class Backup(Role):
    """Consumes the primary's stream, detects the primary's failure and hands over to a
    :class:`Primary` (P7).

    P6 (and the "never perform the I/O" half of P4) hold by construction: a Backup has
    no reference to the Environment at all, so it can neither touch a device nor take
    its interrupts; only the primary's IRQ records reach its VM (:meth:`p5_end_epoch`).
    """

    name = "backup"
    detect = True                              # the replayer has no failure detection

    def __init__(self, machine: Machine, cfg: ReplicationConfig,
                 send_ack: Any | None = None) -> None:
        super().__init__(machine, cfg)
        self.send_ack = send_ack                # callable(bytes) on the reverse channel
        self.inbox: collections.deque[Record] = collections.deque()
        self.cv = threading.Condition()
        self._waiting = False                    # the VM thread sleeps on cv
        self.last_rx = time.monotonic()
        self.link_error: LinkError | None = None
        # what has been absorbed from the inbox
        self.known_end = -1                      # the last epoch whose [end, E] arrived
        self.expected: dict[int, int] = {}       # epoch -> the primary's digest
        self.irqs: dict[int, int] = {}           # epoch -> bits to deliver at its end
        self.ios: collections.deque[Record] = collections.deque()   # ENV, IO, DMA in order
        self.end: Record | None = None
        self.received = 0                        # next expected seq
        self.configure_epochs()
        self.verified = 0                        # digests compared equal

    # ---- the rules ----
    def p3_receive(self, rec: Record) -> None:
        """P3: acknowledge and buffer every message from the primary (runs in the link's
        delivery thread, so acknowledgements do not wait for the VM)."""
        self.inbox.append(rec)                   # deque: safe without the lock
        self.received = rec.seq + 1
        self.last_rx = time.monotonic()
        if self._waiting:
            with self.cv:
                self.cv.notify()
        if self.send_ack is not None:
            self.send_ack(rec.seq)

    def link_failed(self, err: LinkError) -> None:
        with self.cv:
            self.link_error = err
            self.cv.notify()

    def p4_take_value(self, e: Any) -> Record | None:
        """P4: at an environment or I/O instruction wait for the primary's value and use
        it; the device is never touched.  None: the primary is gone (P7 follows)."""
        while True:
            rec = use_logged(self.core, self.ios, e)
            if rec is not None:
                return rec
            if not self._wait_for_more():
                return None

    def p5_end_epoch(self) -> None:
        """P5: at the end of epoch E (the core stops there: the budget ends at the last
        epoch the primary finished, or at one with interrupts) deliver the interrupts the
        primary delivered at the end of E, then start E+1."""
        icount = self.core.icount
        if icount % self.cfg.epoch == 0:
            bits = self.irqs.pop(icount // self.cfg.epoch - 1, 0)
            if bits:
                self.core.set_eirr(bits)

    def p7_detect_failure(self) -> bool:
        """P7: if ``[end, E]`` (or any message) does not arrive within the detection
        timeout, the primary has failed.  The caller then finishes epoch E with the
        records it has and continues as the primary (:meth:`takeover`)."""
        return self.detect and time.monotonic() - self.last_rx > self.cfg.detect_s

    def takeover(self) -> Takeover:
        """P7 hand-over: the records received but not yet used, the interrupts still to
        deliver, the sequence number to continue the stream with."""
        self._absorb()
        self._check_digests()                    # drains the core's records too
        return Takeover(pending=self.ios, irqs=dict(self.irqs), expected=self.expected,
                        known_end=self.known_end, next_seq=self.received)

    # ---- stream bookkeeping ----
    def _absorb(self) -> None:
        inbox = self.inbox
        while inbox:
            rec = inbox.popleft()
            t = rec.type
            if t is R.EPOCHS:
                for epoch, digest in rec.epochs():
                    self.expected[epoch] = digest
                    self.known_end = epoch
            elif t is R.IO or t is R.ENV or t is R.DMA:
                self.ios.append(rec)
                if rec.data and t is R.IO:
                    self.on_output(rec)
            elif t is R.IRQ:
                self.irqs[rec.epoch] = self.irqs.get(rec.epoch, 0) | rec.bits
            elif t is R.END:
                self.end = rec
            elif t is R.OUTPUT:
                self.on_output(rec)
            elif t is R.PROMOTE or t is R.UNCERTAIN or t is R.HEARTBEAT:
                self.on_control(rec)

    def on_output(self, rec: Record) -> None:
        """Console output the primary's environment emitted (the replayer prints it)."""

    def on_control(self, rec: Record) -> None:
        """HEARTBEAT, PROMOTE, UNCERTAIN: nothing to do for the VM (the interrupts P8
        raises reach it through IRQ records like any other)."""

    def _check_digests(self) -> None:
        for epoch, digest in self.core.epoch_take():
            want = self.expected.pop(epoch, None)
            if want is None:
                raise Divergence(f"epoch {epoch} ended here but not in the primary's stream")
            if want != digest:
                raise Divergence(f"state digest mismatch at the end of epoch {epoch} "
                                 f"(icount {self.epoch_end_icount(epoch)}): primary "
                                 f"{want:#018x}, here {digest:#018x}")
            self.verified += 1
            self.epochs_done = epoch + 1

    def _apply_due_dma(self) -> None:
        """Device writes to memory made between instructions (the soft power button, a
        LASI interrupt message to RAM) land at the same instruction count here."""
        ios, core = self.ios, self.core
        while ios and ios[0].type is R.DMA and ios[0].icount <= core.icount:
            rec = ios.popleft()
            core.write_phys(rec.pa, rec.data)

    def _target(self) -> int:
        """How far the VM may run on what has arrived."""
        target = self.epoch_end_icount(self.known_end) if self.known_end >= 0 else 0
        if self.end is not None:
            target = max(target, self.end.icount)
        icount = self.core.icount
        if self.ios and self.ios[0].type is R.DMA and icount < self.ios[0].icount < target:
            target = self.ios[0].icount          # a device wrote memory between accesses
        for epoch in self.irqs:
            at = self.epoch_end_icount(epoch)
            if icount < at < target:
                target = at
        return target

    def _wait_for_more(self) -> bool:
        """Wait for new records; False when the primary is deemed failed (P7) or, for the
        replayer, when the log has ended."""
        with self.cv:
            self._waiting = True
            try:
                while not self.inbox:
                    if self.link_error is not None:
                        raise self.link_error
                    if self.p7_detect_failure() or not self.detect:
                        return False
                    self.cv.wait(self.cfg.detect_s / 4)
            finally:
                self._waiting = False
        self._absorb()
        return True

    # ---- the loop ----
    def run(self) -> RunEnd:
        core = self.core
        self.last_rx = time.monotonic()
        while True:
            self._absorb()
            self._check_digests()
            self._apply_due_dma()
            icount = core.icount
            if self.end is not None and icount >= self.end.icount:
                return self._finish()
            target = self._target()
            if icount >= target:
                if not self._wait_for_more():
                    return self._starved()
                continue
            e = core.run_raw(min(SLICE, target - icount))
            r = e.reason
            if r == ExitReason.BUDGET or r == ExitReason.EPOCH:
                self._check_digests()
                self.p5_end_epoch()
            elif r in (ExitReason.IO_READ, ExitReason.IO_WRITE, ExitReason.ENV_READ,
                       ExitReason.ENV_WRITE):
                if self.end is not None and core.icount >= self.end.icount and not self.ios:
                    return self._finish()            # the primary stopped at this access
                if self.p4_take_value(e) is None:
                    return self._starved()
            elif r == ExitReason.STOP:
                continue
            else:
                if self.end is not None and core.icount == self.end.icount:
                    return self._finish()
                info = Core.exit_info(e)
                raise Divergence(f"this VM stopped at icount {core.icount} "
                                 f"({info.reason.name} {info.msg}) where the primary did not")

    def _starved(self) -> RunEnd:
        """No more records: the primary failed (P7) or, for the replayer, the log ended."""
        if self.detect:
            return RunEnd(Outcome.PROMOTE, None, self.core.icount, "primary failed")
        return RunEnd(Outcome.STARVED, None, self.core.icount, "log ended")

    def _finish(self) -> RunEnd:
        self._check_digests()
        end = self.end
        assert end is not None
        if self.core.icount != end.icount:
            raise Divergence(f"the primary ended at icount {end.icount}, this VM at "
                             f"{self.core.icount}")
        mine = self.core.digest()
        if mine != end.digest:
            raise Divergence(f"final state digest mismatch at icount {end.icount}: primary "
                             f"{end.digest:#018x}, here {mine:#018x}")
        reason = {v: k for k, v in _END_REASONS.items() if k is not StopReason.TIMEOUT}
        return RunEnd(Outcome.ENDED, reason.get(EndReason(end.reason), StopReason.STOP),
                      end.icount)
