"""Hypervisor roles (architecture section 4): ``Solo``, ``Primary`` and ``Backup`` here,
``Replayer`` (a backup reading a log) in :mod:`hvdbg.trace.replay`.  A role answers the
exits of one VM — I/O, environment instructions, epoch ends, device interrupts — for the
session driver (:class:`hvdbg.replication.session.Hypervisor`), which owns the one run
loop; a role's run ends when one of its hooks raises :class:`RoleEnd`.

The protocol rules of protocol.md are methods named after them (``p0_...`` to
``p8_...``), so a reader can point at each.  Epoch e holds the instructions whose
retired count is in [e*L, (e+1)*L); the core records every epoch end with a digest and
only exits for one when this hypervisor asked it to (architecture section 2).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hvdbg.cpu import registers
from hvdbg.cpu.core import (
    EPOCH_DIGEST,
    EPOCH_EXIT_EACH,
    ClockMode,
    Core,
    ExitReason,
)
from hvdbg.machine.environment import EIRR_TIMER
from hvdbg.machine.machine import Machine
from hvdbg.machine.stop import StopReason
from hvdbg.replication.link import LinkError
from hvdbg.replication.session import Divergence, RoleEnd, WriteRefused
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import (
    IO_READ,
    IO_WRITE,
    WRITE_REGISTER,
    EndReason,
    Record,
    RecordType,
)

if TYPE_CHECKING:
    from hvdbg.replication.session import Hypervisor

PROTOCOLS = ("original", "refined", "output-rule")
SLICE = 1 << 18                 # longest run between looks at the world (~2 ms)
HEARTBEAT_S = 0.005             # a primary silent this long sends a heartbeat
END_ACK_S = 2.0                 # how long a finishing primary waits for its END's ack
R = RecordType


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
class Takeover:
    """What a backup hands its successor primary when it promotes itself (P7)."""
    pending: collections.deque[Record] = field(default_factory=collections.deque)
    irqs: dict[int, int] = field(default_factory=dict)       # epoch -> bits still to deliver
    expected: dict[int, int] = field(default_factory=dict)   # epoch -> the old primary's digest
    known_end: int = -1          # the last epoch end the old primary reported
    next_seq: int = 0


# the log's END reasons: the one mapping between the stop vocabulary and the wire
END_REASONS = {StopReason.POWER_OFF: EndReason.POWER_OFF, StopReason.HALT: EndReason.HALT,
               StopReason.RESET: EndReason.RESET, StopReason.LIMIT: EndReason.LIMIT,
               StopReason.TIMEOUT: EndReason.LIMIT, StopReason.FAULT: EndReason.FAULT,
               StopReason.STOPPED: EndReason.STOPPED}
_FROM_END = {EndReason.POWER_OFF: StopReason.POWER_OFF, EndReason.HALT: StopReason.HALT,
             EndReason.RESET: StopReason.RESET, EndReason.LIMIT: StopReason.LIMIT,
             EndReason.FAULT: StopReason.FAULT, EndReason.STOPPED: StopReason.STOPPED}


def stop_reason_of_end(reason: int) -> StopReason:
    try:
        return _FROM_END[EndReason(reason)]
    except ValueError:
        raise Divergence(f"the stream's END has an unknown reason {reason}") from None


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


class _Fenced(RoleEnd):
    """Raised inside a primary's exit handling when it is being fenced off."""

    def __init__(self) -> None:
        super().__init__(StopReason.DIED, FENCED)


class Role:
    """What every role shares: the VM, its epoch configuration, its own digests, and the
    hooks the session driver calls.  Hooks raise :class:`RoleEnd` to end the run."""

    name = "role"
    owns_devices = False        # performs I/O on the Environment (Solo, Primary)

    def __init__(self, machine: Machine, cfg: ReplicationConfig | None) -> None:
        self.machine, self.cfg = machine, cfg
        self.core: Core = machine.core
        self.epochs_done = 0
        self.hv: Hypervisor | None = None

    def attach(self, hv: Hypervisor) -> None:
        self.hv = hv

    @property
    def epoch_len(self) -> int:
        return self.cfg.epoch if self.cfg is not None else 0

    def configure_epochs(self, exit_each: bool = False) -> None:
        assert self.cfg is not None
        self.core.epoch_config(self.cfg.epoch, EPOCH_DIGEST | (EPOCH_EXIT_EACH if exit_each
                                                               else 0))
        self.core.digest()       # hash all memory once now, not inside the first epoch

    def epoch_end_icount(self, epoch: int) -> int:
        return (epoch + 1) * self.epoch_len

    def current_epoch(self) -> int:
        return self.core.icount // self.epoch_len

    # ---- hooks (the session driver calls these) ----
    def housekeeping(self) -> None:
        """Between runs of the core: look at the world (input, interrupts, stream)."""

    def budget(self, icount: int) -> int:
        """How many instructions the VM may run now (0: :meth:`wait` first)."""
        return SLICE

    def wait(self) -> None:
        """The budget was 0: block until the VM may run on (or raise RoleEnd)."""

    def on_resume(self) -> None:
        """The session starts running (again) after a pause."""

    def wake(self) -> None:
        """Thread-safe: a :meth:`wait` in progress returns (a stop was requested)."""

    def burst_break(self) -> bool:
        """After an I/O exit: True when housekeeping must run before the next one."""
        return True

    def on_io(self, e: Any) -> None:
        raise NotImplementedError

    def on_env(self, e: Any) -> None:
        raise NotImplementedError

    def on_epoch(self) -> None:
        """The core exited at an epoch end this role asked to see."""

    def on_budget(self) -> None:
        """The budget ran out (the role's slice or the front end's target)."""

    def finish(self, reason: StopReason, message: str = "") -> None:
        """The run ends with ``reason`` (the guest's doing or the front end's)."""

    def debug_write(self, target: int, addr: int, data: bytes, force: bool) -> str:
        """A debugger writes a register (gdb number) or physical memory while the VM is
        paused.  A write changes guest state, so it is an input: this role applies it
        and says what it did (one line), or raises WriteRefused."""
        apply_input(self.core, Record(R.WRITE, 0, (self.core.icount, target, addr), data))
        return ""


# =====================================================================================
# solo
# =====================================================================================

CONSOLE_FLUSH_NS = 10_000_000    # flush console output at least this often while printing
CONSOLE_FLUSH_BYTES = 4096
TIMER_MIN_SLICE = 1024           # shortest slice while waiting for the host interval timer
SOLO_SLICE = 1 << 21


class Solo(Role):
    """The plain emulator: no epochs, no stream; I/O and environment go straight to the
    devices and interrupts are delivered as soon as they arrive."""

    name = "solo"
    owns_devices = True

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine, None)
        self.env = machine.env
        self._last_flush = time.monotonic_ns()
        self._io_streak = False               # console output batched over I/O bursts

    def housekeeping(self) -> None:
        env = self.env
        env.service()
        if env.power_off_requested:              # the soft power button
            raise RoleEnd(StopReason.POWER_OFF)
        self.machine.deliver_interrupts()
        if env.console_pending:
            now = time.monotonic_ns()
            if (not self._io_streak or env.console_pending >= CONSOLE_FLUSH_BYTES
                    or now - self._last_flush >= CONSOLE_FLUSH_NS):
                env.flush_console()
                self._last_flush = now
        self._io_streak = False

    def budget(self, icount: int) -> int:
        env = self.env
        if self.machine.clock is ClockMode.HOST and env.timer.deadline is not None:
            # end the slice before the host timer is due (assuming >= 125 MIPS);
            # later slices close in on the deadline
            return max(TIMER_MIN_SLICE, min(SOLO_SLICE, env.timer.remaining_ns() >> 3))
        return SOLO_SLICE

    def burst_break(self) -> bool:
        env = self.env
        return bool(env.pending_eirr) or env.console_pending >= CONSOLE_FLUSH_BYTES

    def on_io(self, e: Any) -> None:
        env = self.env
        self._io_streak = True
        if e.reason == ExitReason.IO_READ:
            self.core.io_complete(env.io_read(e.addr, e.size))
            return
        size = e.size
        env.io_write(e.addr, size, e.value_hi << 32 | e.value if size == 8 else e.value)
        self.core.io_complete(0)
        if env.power_off_requested:
            raise RoleEnd(StopReason.POWER_OFF)

    def on_env(self, e: Any) -> None:
        if e.reason == ExitReason.ENV_READ:
            self.core.io_complete(self.machine.env_read(e.addr))
        else:
            self.machine.env_write(e.addr, e.value)
            self.core.io_complete(0)

    def finish(self, reason: StopReason, message: str = "") -> None:
        self.env.flush_console()


# =====================================================================================
# primary
# =====================================================================================

class Primary(Role):
    """Performs I/O and environment instructions, buffers interrupts to epoch ends and
    emits the stream.  A promoted backup becomes one of these, after first consuming
    the records its predecessor had already sent (``takeover``)."""

    name = "primary"
    owns_devices = True

    def __init__(self, machine: Machine, cfg: ReplicationConfig, out: StreamOut,
                 console: ConsoleGate, *, takeover: Takeover | None = None) -> None:
        super().__init__(machine, cfg)
        self.cfg: ReplicationConfig = cfg
        self.env = machine.env                      # only a primary holds the devices
        self.out, self.console = out, console
        self.fence = Fence()
        self.ack_slack = 0.01              # + 2 x link latency (set by the pair)
        self.fail_at: int | None = None    # fail-stop injection (an icount)
        self.died_at: int | None = None    # where it fail-stopped (before that instruction)
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
            value = self.machine.env_read(e.addr)
        else:
            self.machine.env_write(e.addr, e.value)
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
            # the old primary already did this one; if it was its last access and the
            # guest powered off by it, the run ends here too (the devices are shared)
            return self.env.power_off_requested and not any(
                r.type is R.IO or r.type is R.ENV for r in self.catchup)
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
        self.env.uncertain_completion()      # (one request when the devices are remote)
        if self.machine.clock is ClockMode.HOST:
            # the interval timer (an environment device with the host clock) may have
            # fired into the dead primary's P0 buffer: one tick more is harmless, a lost
            # one stops the guest's clock for good
            self.env.pending_eirr |= EIRR_TIMER
        bits = self.env.pending_eirr
        self.out.send(R.UNCERTAIN, (self.current_epoch(), bits))
        return bits

    # ---- hooks ----
    def housekeeping(self) -> None:
        core, env, fence = self.core, self.env, self.fence
        if self.fail_at is not None and core.icount >= self.fail_at:
            self._die()
        with fence.lock:
            if fence.down:
                raise _Fenced
            env.service()
            self.p0_buffer_interrupts()
            if env.console_pending:
                env.flush_console()

    def budget(self, icount: int) -> int:
        env = self.env
        budget = SLICE
        if self.machine.clock is ClockMode.HOST and env.timer.deadline is not None:
            budget = max(1024, min(SLICE, env.timer.remaining_ns() >> 3))
        if self.fail_at is not None:
            budget = min(budget, self.fail_at - icount)
        return max(budget, 1) if self.fail_at is None or icount < self.fail_at else 0

    def wait(self) -> None:
        self.housekeeping()                     # budget 0 only at fail_at: dies there

    def burst_break(self) -> bool:
        return True                             # P0 looks at the devices after every access

    def on_io(self, e: Any) -> None:
        with self.fence.lock:
            if self.fence.down:
                raise _Fenced
            if self.p1_io(e):
                self._end(StopReason.POWER_OFF)
                raise RoleEnd(StopReason.POWER_OFF)

    def on_env(self, e: Any) -> None:
        with self.fence.lock:
            if self.fence.down:
                raise _Fenced
            self.p1_environment(e)

    def on_epoch(self) -> None:
        with self.fence.lock:
            if self.fence.down:
                raise _Fenced
            self.p2_end_epoch()

    def on_budget(self) -> None:
        with self.fence.lock:
            if self.fence.down:
                raise _Fenced
            self.flush_epochs()
            self.heartbeat()

    def finish(self, reason: StopReason, message: str = "") -> None:
        with self.fence.lock:
            if self.fence.down:
                raise _Fenced
            self._end(reason)

    def debug_write(self, target: int, addr: int, data: bytes, force: bool) -> str:
        """Applied here and sent as a WRITE record, so the backup and a replay apply the
        same bytes at the same instruction count (their digests still agree)."""
        with self.fence.lock:
            if self.fence.down:
                raise WriteRefused("this primary was fenced off (the backup took over)")
            self.flush_epochs()
            rec_fields = (self.core.icount, target, addr)
            apply_input(self.core, Record(R.WRITE, 0, rec_fields, data))
            self.out.send(R.WRITE, rec_fields, data)
        return ""

    # ---- helpers ----
    def fail_now(self) -> None:
        """Thread-safe: fail-stop at the next instruction boundary (``monitor failover``)."""
        self.fail_at = self.core.icount
        if self.hv is not None:
            self.core.request_stop()

    def _wait_acked(self, timeout: float | None = None) -> None:
        fence = self.fence
        # an acknowledgement slower than half the detection timeout (plus the time the
        # link needs for what is queued on it) is a lost message: the backup would
        # suspect this primary soon after
        if timeout is None:
            timeout = self.cfg.detect_s / 2 + self.ack_slack
        if not self.out.wait_acked(give_up=lambda: fence.requested, timeout=timeout):
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

    def heartbeat_while_paused(self) -> None:
        """Thread-safe, for a front end that holds this VM stopped: a paused primary is
        not a dead one, so the backup must keep hearing from it."""
        hv = self.hv
        if hv is not None and hv.running:
            return
        with self.fence.lock:
            if not self.fence.down and (hv is None or not hv.running):
                self.heartbeat()

    def _die(self) -> None:
        """Fail-stop at this instruction.  If it is an I/O access, the device performs
        it but the backup never hears of it — the window in which a promoted backup
        repeats an I/O (protocol.md)."""
        icount = self.core.icount
        e = self.core.run_raw(1)
        if e.reason == ExitReason.IO_READ or e.reason == ExitReason.IO_WRITE:
            self._perform_unreported(e)
        self.died_at = icount
        raise RoleEnd(StopReason.DIED, "injected failure")

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

    def _end(self, reason: StopReason) -> None:
        """Send END; then wait (bounded) until the backup has acknowledged everything,
        so output held for acknowledgement (output rule) is released, not dropped."""
        self.flush_epochs()
        icount, length = self.core.icount, self.epoch_len
        if icount and icount % length == 0 and self.epochs_done < icount // length:
            # the core saw a stop request on an epoch boundary before recording that
            # epoch: record it now (no instruction runs), or END would lie past an
            # epoch the stream never reported and no backup or replay could follow
            self.core.run_raw(0)
            self.flush_epochs()
        self.env.flush_console()
        self.out.send(R.END, (self.core.icount, END_REASONS[reason], self.core.digest()))
        if self.out.channel is not None:
            try:
                self._wait_acked(END_ACK_S + self.cfg.detect_s + self.ack_slack)
            except LinkError:
                pass            # the pair reports output it could not release


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


def apply_input(core: Core, rec: Record) -> None:
    """A write into the VM that is not an instruction's: a device's DMA, or a debugger's
    register or memory write — inputs, applied at the recorded instruction count."""
    if rec.type is R.DMA:
        core.write_phys(rec.pa, rec.data)
    elif rec.target == WRITE_REGISTER:
        registers.write_reg(core.state, rec.addr, int.from_bytes(rec.data, "big"))
        core.state_changed()
    else:
        core.write_phys(rec.addr, rec.data)


def use_logged(core: Core, queue: collections.deque[Record], e: Any) -> Record | None:
    """Answer the VM's pending I/O or environment exit ``e`` from the primary's records at
    the head of ``queue`` instead of the devices: device writes to memory (DMA) that came
    first are applied, the record is checked against what the VM does, and its value is
    used.  None when the queue ran out first (what was applied stays applied)."""
    while queue and (queue[0].type is R.DMA or queue[0].type is R.WRITE):
        apply_input(core, queue.popleft())
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



# =====================================================================================
# backup (and, with a file for a link, the replayer)
# =====================================================================================

class Backup(Role):
    """Consumes the primary's stream, detects the primary's failure and hands over to a
    :class:`Primary` (P7, :meth:`takeover`).

    P6 (and the "never perform the I/O" half of P4) hold by construction: a Backup has
    no reference to the Environment at all, so it can neither touch a device nor take
    its interrupts; only the primary's IRQ records reach its VM (:meth:`p5_end_epoch`).
    """

    name = "backup"
    detect = True                              # the replayer has no failure detection

    def __init__(self, machine: Machine, cfg: ReplicationConfig,
                 send_ack: Any | None = None) -> None:
        super().__init__(machine, cfg)
        self.cfg: ReplicationConfig = cfg
        self.send_ack = send_ack                # callable(seq) on the reverse channel
        self.inbox: collections.deque[Record] = collections.deque()
        self.cv = threading.Condition()
        self._waiting = False                    # the VM thread sleeps on cv
        self._woken = False
        self.last_rx = time.monotonic()
        self.link_error: LinkError | None = None
        self.lost = False                        # the transport saw the primary go
        self.closed = False                      # promoted: the old primary is not heard
        # what has been absorbed from the inbox
        self.known_end = -1                      # the last epoch whose [end, E] arrived
        self.expected: dict[int, int] = {}       # epoch -> the primary's digest
        self.irqs: dict[int, int] = {}           # epoch -> bits to deliver at its end
        self.ios: collections.deque[Record] = collections.deque()   # ENV, IO, DMA in order
        self.end: Record | None = None
        self.received = 0                        # next expected seq
        self.recorder: Any = None                # the pair's LogWriter
        self.link_busy_until: Any = None         # callable: when the link will be idle
        self.configure_epochs()
        self.verified = 0                        # digests compared equal
        self.recent: collections.deque[Record] = collections.deque(maxlen=64)

    # ---- the rules ----
    def p3_receive(self, rec: Record, frame: bytes = b"") -> None:
        """P3: acknowledge and buffer every message from the primary (runs in the link's
        delivery thread, so acknowledgements do not wait for the VM).  The recording is
        what the backup received: its history, whatever happens to the primary."""
        with self.cv:
            if self.closed:                      # promoted: in-flight frames of the
                return                           # fenced primary are not history
            if self.recorder is not None:
                self.recorder.write(frame)
            self.inbox.append(rec)
            self.received = rec.seq + 1
            self.last_rx = time.monotonic()
            if self._waiting:
                self.cv.notify()
        if self.send_ack is not None:
            self.send_ack(rec.seq)

    def peer_lost(self) -> None:
        """Thread-safe: the transport knows the primary is gone (its process died, its
        connection closed): P7 need not wait for the timeout."""
        with self.cv:
            self.lost = True
            self.cv.notify()

    def link_failed(self, err: LinkError) -> None:
        with self.cv:
            self.link_error = err
            self.cv.notify()

    def p4_take_value(self, e: Any) -> Record | None:
        """P4: at an environment or I/O instruction wait for the primary's value and use
        it; the device is never touched.  None: the primary is gone (P7 follows).  A
        stop request pauses here, the access unanswered: resuming executes it again."""
        while True:
            rec = use_logged(self.core, self.ios, e)
            if rec is not None:
                return rec
            if self._woken_now():
                raise RoleEnd(StopReason.INTERRUPTED)
            if not self._wait_for_more(wake_on_stop=True):
                return None

    def _woken_now(self) -> bool:
        with self.cv:
            woken, self._woken = self._woken, False
        return woken

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
        if not self.detect:
            return False
        if self.lost:
            return True
        heard = self.last_rx
        if self.link_busy_until is not None:     # frames still on a slow link
            heard = max(heard, self.link_busy_until())
        return time.monotonic() - heard > self.cfg.detect_s

    def start_detection(self) -> None:
        """The run starts now: the primary's silence is counted from here, not from
        this backup's construction (booting and set-up are nobody's silence)."""
        with self.cv:
            self.last_rx = time.monotonic()

    def takeover(self) -> Takeover:
        """P7 hand-over: the records received but not yet used, the interrupts still to
        deliver, the sequence number to continue the stream with.  From here on nothing
        more from the old primary is accepted."""
        with self.cv:
            self.closed = True
        self._absorb()
        self._check_digests()                    # drains the core's records too
        return Takeover(pending=self.ios, irqs=dict(self.irqs), expected=self.expected,
                        known_end=self.known_end, next_seq=self.received)

    # ---- hooks ----
    def housekeeping(self) -> None:
        self._absorb()
        self._check_digests()
        self._apply_due_dma()
        if self.end is not None and self.core.icount >= self.end.icount:
            self._finish()

    def budget(self, icount: int) -> int:
        return max(0, min(SLICE, self._target() - icount))

    def wait(self) -> None:
        if not self._wait_for_more(wake_on_stop=True):
            self._starved()
        self._woken_now()               # the session's own flag says why it woke

    def wake(self) -> None:
        with self.cv:
            self._woken = True
            self.cv.notify()

    def on_resume(self) -> None:
        # time this backup spent paused (by a debugger, or before the run) is not the
        # primary's silence: P7 counts from now
        self.last_rx = max(self.last_rx, time.monotonic())
        self._woken_now()               # a wake-up left from an earlier pause is stale

    def on_io(self, e: Any) -> None:
        if self.end is not None and self.core.icount >= self.end.icount and not self.ios:
            self._finish()                       # the primary stopped at this access
        rec = self.p4_take_value(e)
        if rec is None:
            self._starved()
        self.recent.append(rec)
        self.on_access(e, rec)

    def on_access(self, e: Any, rec: Record) -> None:
        """An access was answered from ``rec`` (the replayer re-drives its devices)."""

    on_env = on_io

    def on_epoch(self) -> None:
        self._check_digests()
        self.p5_end_epoch()

    on_budget = on_epoch

    def finish(self, reason: StopReason, message: str = "") -> None:
        if reason in (StopReason.HALT, StopReason.RESET, StopReason.FAULT):
            # the VM itself stopped: the primary must have stopped right here too
            if self.end is not None and self.core.icount == self.end.icount:
                self._finish()
            raise Divergence(f"this VM stopped at icount {self.core.icount} "
                             f"({reason.value} {message}) where the primary did not")
        # a front end ends the run (Ctrl-C): nothing of the stream to check

    def debug_write(self, target: int, addr: int, data: bytes, force: bool) -> str:
        if not force:
            raise WriteRefused(f"the {self.name} only follows the primary's stream: a write "
                               f"would make it diverge (say 'monitor allow-divergence on' "
                               f"to inject it as a fault)")
        apply_input(self.core, Record(R.WRITE, 0, (self.core.icount, target, addr), data))
        return (f"injected fault at icount {self.core.icount}: the {self.name} will "
                f"diverge from the stream")

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
            elif t is R.IO or t is R.ENV or t is R.DMA or t is R.WRITE:
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
        """Console output the primary's environment emitted (the replayer checks it)."""

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
        while ios and (ios[0].type is R.DMA or ios[0].type is R.WRITE) \
                and ios[0].icount <= core.icount:
            apply_input(core, ios.popleft())

    def _target(self) -> int:
        """How far the VM may run on what has arrived."""
        target = self.epoch_end_icount(self.known_end) if self.known_end >= 0 else 0
        if self.end is not None:
            # (END may lie before epochs the stream reported: a backup that took over
            # only to end the run after a stop request; nothing past END is replayed)
            target = self.end.icount
        icount = self.core.icount
        head = self.ios[0] if self.ios else None
        if head is not None and (head.type is R.DMA or head.type is R.WRITE) \
                and icount < head.icount < target:
            target = head.icount                 # a device or a debugger wrote the VM
        for epoch in self.irqs:
            at = self.epoch_end_icount(epoch)
            if icount < at < target:
                target = at
        return target

    def _wait_for_more(self, wake_on_stop: bool) -> bool:
        """Wait for new records; False when the primary is deemed failed (P7) or, for the
        replayer, when the log has ended.  True also when woken by a stop request
        (``wake_on_stop``), so the session can pause."""
        with self.cv:
            self._waiting = True
            try:
                while not self.inbox:
                    if self.link_error is not None:
                        raise RoleEnd(StopReason.LINK_FAILED, str(self.link_error))
                    if wake_on_stop and self._woken:
                        return True          # (the flag stays: the caller pauses)
                    if self.p7_detect_failure() or not self.detect:
                        return False
                    self.cv.wait(self.cfg.detect_s / 4)
            finally:
                self._waiting = False
        self._absorb()
        return True

    def _starved(self) -> None:
        """No more records: the primary failed (P7) or, for the replayer, the log ended."""
        if self.detect:
            raise RoleEnd(StopReason.PROMOTE, "primary failed")
        raise RoleEnd(StopReason.STARVED, "log ended")

    def _finish(self) -> None:
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
        # (an access at the END's icount is the one the primary stopped at: power off)
        left = [r for r in self.ios if r.icount < end.icount]
        if left:
            raise Divergence(f"{len(left)} recorded accesses were never made (the first: "
                             f"{left[0].describe()})")
        self.on_end()
        raise RoleEnd(stop_reason_of_end(end.reason))

    def on_end(self) -> None:
        """The stream's END was reached and checked (the replayer checks its console)."""
