"""The session driver (architecture section 4's ``Hypervisor``; rr calls it a Session):
one VM, one role, one run loop.  Every front end — the CLI, the pair, the replayer, the
gdb stub, the REPL — drives a VM through :meth:`Hypervisor.resume`, which runs until a
:class:`~hvdbg.machine.stop.Stop`.  Pauses (breakpoint, watchpoint, target reached,
stop request) leave the session resumable for every role; a recording goes on after a
breakpoint, a replay does not report divergence because the user stopped it.

The role (:mod:`hvdbg.replication.roles`) answers the VM's exits — I/O, environment
instructions, epoch ends, device interrupts — and carries rules P0–P8; it owns no loop.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from hvdbg.cpu import registers
from hvdbg.cpu.core import Core, CoreError, ExitReason
from hvdbg.machine import memmap as mm
from hvdbg.machine.stop import DEADLINE, Stop, StopReason, Until
from hvdbg.replication.link import LinkError
from hvdbg.trace.log import WRITE_MEMORY, WRITE_REGISTER

if TYPE_CHECKING:
    from hvdbg.machine.machine import Machine
    from hvdbg.replication.roles import Role

PSW_N = 0x00200000
PSW_I = 0x00000001
CR_IVA, CR_EIEM, CR_EIRR = 14, 15, 23
INT_EXTERNAL = 4                 # interruption number of the external interrupt
IO_BURST = 1024          # I/O exits answered back to back before the role's housekeeping
_IO_READ, _IO_WRITE = ExitReason.IO_READ, ExitReason.IO_WRITE
_ENV_READ, _ENV_WRITE = ExitReason.ENV_READ, ExitReason.ENV_WRITE
_BUDGET, _EPOCH = ExitReason.BUDGET, ExitReason.EPOCH
_FOREVER = Until.forever()
_ON_VECTOR = object()           # _enter_vector: the step stopped on the vector


class RoleEnd(Exception):
    """Raised by a role's exit handler: this role's run is over (``reason``)."""

    def __init__(self, reason: StopReason, message: str = "") -> None:
        super().__init__(message or reason.value)
        self.reason, self.message = reason, message


class WriteRefused(Exception):
    """A debugger write this session may not apply (it would make the VM diverge, or
    the VM is not paused); the message says what to do."""


class Divergence(RoleEnd):
    """The backup (or the replayer) does not match the primary's stream."""

    def __init__(self, message: str) -> None:
        super().__init__(StopReason.DIVERGED, message)


class Hypervisor:
    """``Hypervisor(machine, role)``; :meth:`resume` runs the VM, :meth:`request_stop`
    (any thread) pauses it, :meth:`finish` ends the run on the front end's behalf."""

    def __init__(self, machine: Machine, role: Role) -> None:
        self.machine = machine
        self.core: Core = machine.core
        self.role = role
        self.last: Stop | None = None
        self._stop_requested = threading.Event()
        self._skip_bp_at: int | None = None      # resume over the breakpoint we stopped at
        self._lock = threading.Lock()            # one resume() at a time
        self.running = False
        self.allow_divergence = False          # debugger writes on a backup / replay
        role.attach(self)

    # ---- what front ends call ----
    @property
    def ended(self) -> bool:
        return self.last is not None and self.last.final

    @property
    def epoch_len(self) -> int:
        return self.role.epoch_len

    def request_stop(self) -> None:
        """Thread-safe: a running :meth:`resume` returns INTERRUPTED soon; one not yet
        running returns at once."""
        self._stop_requested.set()
        self.core.request_stop()
        self.role.wake()

    def resume(self, until: Until = _FOREVER, deadline: float | None = None) -> Stop:
        """Run the VM until ``until`` or an earlier stop; final stops repeat.  At the
        host-time ``deadline`` (time.monotonic) it pauses: INTERRUPTED, "deadline"."""
        if self.ended:
            assert self.last is not None
            return self.last
        with self._lock:
            self.running = True
            self.role.on_resume()
            t0, start = time.monotonic(), self.core.icount
            try:
                reason, message, exit_ = self._run(until, deadline)
            finally:
                self.running = False
            self.last = self.stop_here(reason, message, exit_, start, t0)
            if reason is StopReason.BREAKPOINT:
                self._skip_bp_at = self.core.icount
            return self.last

    def change_role(self, role: Role) -> None:
        """A backup promoted itself (P7): the same VM and session go on as a primary."""
        with self._lock:
            self.role = role
            role.attach(self)
            self.last = None

    def finish(self, reason: StopReason, message: str = "") -> Stop:
        """End a paused run for the front end (a run limit, a timeout, Ctrl-C): the role
        writes its END, and the session is over."""
        if self.ended:
            assert self.last is not None
            return self.last
        with self._lock:
            t0, start = time.monotonic(), self.core.icount
            reason, message = self._guard(lambda: self.role.finish(reason, message)) \
                or (reason, message)
            self.last = self.stop_here(reason, message, None, start, t0)
            return self.last

    # ---- the loop ----
    def _run(self, until: Until, deadline: float | None) -> tuple[StopReason, str, Any]:
        core, role = self.core, self.role
        target = until.target(core.icount, role.epoch_len)
        on_io, burst_break = role.on_io, role.burst_break
        e: Any = None
        while True:
            ended = self._guard(role.housekeeping)
            if ended is not None:
                return ended[0], ended[1], e
            if self._stop_requested.is_set():
                self._stop_requested.clear()
                return StopReason.INTERRUPTED, "", e
            if deadline is not None and time.monotonic() >= deadline:
                return StopReason.INTERRUPTED, DEADLINE, e
            icount = core.icount
            if target is not None and icount >= target:
                return until.stop_reason(), "", e
            budget = role.budget(icount)
            if target is not None:
                budget = min(budget, target - icount)
            if budget <= 0:
                # a backup ran out of records: wait for more, or the primary is gone
                ended = self._guard(role.wait)
                if ended is not None:
                    return ended[0], ended[1], e
                continue
            skip = self._skip_bp_at == icount
            self._skip_bp_at = None
            pre = None                  # an exit already taken, still to be answered
            if target is not None and target - icount == 1:
                pre = self._enter_vector()
                if pre is _ON_VECTOR:
                    return until.stop_reason(), "", None
            # ---- answer I/O exits back to back until the role needs housekeeping ----
            for _ in range(IO_BURST):
                e = pre if pre is not None else core.run_raw(budget, skip)
                pre = None
                r = e.reason
                if r != _IO_READ and r != _IO_WRITE:
                    break
                ended = self._guard(on_io, e)
                if ended is not None:
                    return ended[0], ended[1], e
                if burst_break():
                    break
                skip = False
                budget = role.budget(core.icount)
                if target is not None:
                    budget = min(budget, target - core.icount)
                if budget <= 0:
                    break
            else:
                continue
            if r == _IO_READ or r == _IO_WRITE or r == _BUDGET:
                if r == _BUDGET:
                    ended = self._guard(role.on_budget)
                    if ended is not None:
                        return ended[0], ended[1], e
                continue
            if r == _EPOCH:
                ended = self._guard(role.on_epoch)
            elif r == _ENV_READ or r == _ENV_WRITE:
                ended = self._guard(role.on_env, e)
            elif r == ExitReason.BREAKPOINT:
                return StopReason.BREAKPOINT, "", e
            elif r == ExitReason.WATCHPOINT:
                return StopReason.WATCHPOINT, "", e
            elif r == ExitReason.STOP:
                continue                      # the top of the loop says why
            elif r == ExitReason.HALT:
                reason = StopReason.RESET if e.addr == 1 else StopReason.HALT
                ended = self._guard(role.finish, reason, "")
                ended = ended or (reason, "")
            else:
                info = Core.exit_info(e)
                msg = info.msg or info.reason.name
                ended = self._guard(role.finish, StopReason.FAULT, msg)
                ended = ended or (StopReason.FAULT, msg)
            if ended is not None:
                return ended[0], ended[1], e

    def _enter_vector(self) -> Any:
        """A single step when an external interrupt is due (delivered at an epoch end,
        say): the step is the interruption itself, so it stops on the vector's first
        instruction with IIAOQ pointing back, as gdb users expect — not one instruction
        into the handler.  A host-side breakpoint on the vector, for this one run,
        stops the core right after it delivered.  Returns _ON_VECTOR, None (nothing
        due: step as usual), or an exit the core took first, for the loop to answer."""
        core = self.core
        s = core.state
        if not (s.psw & PSW_I) or not (int(s.cr[CR_EIRR]) & int(s.cr[CR_EIEM])):
            return None
        vector = (int(s.cr[CR_IVA]) + 32 * INT_EXTERNAL) & 0xFFFFFFFF
        try:                         # the user's own breakpoint there stops it anyway
            core.remove_breakpoint(vector)
            core.add_breakpoint(vector)
            return None
        except KeyError:
            pass
        try:
            core.add_breakpoint(vector)
        except CoreError:
            return None                  # the table is full: step as usual
        try:
            e = core.run_raw(1)
        finally:
            core.remove_breakpoint(vector)
        if e.reason == ExitReason.BREAKPOINT and int(e.addr) == vector:
            return _ON_VECTOR
        return e

    def _guard(self, fn: Any, *args: Any) -> tuple[StopReason, str] | None:
        """Call a role hook; a :class:`RoleEnd` it raises becomes a final stop (or, for
        INTERRUPTED, the pause a stop request asked for)."""
        try:
            fn(*args)
        except RoleEnd as end:
            if end.reason is StopReason.INTERRUPTED:
                self._stop_requested.clear()
            return end.reason, end.message
        except LinkError as err:
            return StopReason.LINK_FAILED, str(err)
        return None

    # ---- the debugger's view: registers and virtual memory (paused VMs only) ----
    def read_registers(self) -> list[int]:
        return registers.all_regs(self.core.state)

    def write_register(self, num: int, value: int) -> str:
        """Write gdb register ``num``: an input (see Role.debug_write); WriteRefused on
        a backup or replay unless :attr:`allow_divergence`."""
        self._paused()
        registers.lookup(num)                       # KeyError for a bad number
        return self.role.debug_write(WRITE_REGISTER, num,
                                     (value & 0xFFFFFFFF).to_bytes(4, "big"),
                                     self.allow_divergence)

    def translate(self, va: int) -> int:
        """``va`` as the CPU would translate a data access now: the space is selected
        by the address's top two bits (sr4..sr7), physical when translation is off.
        With a Linux kernel loaded, a kernel address the TLB does not hold right now is
        read through the kernel's own linear map (PA = VA - PAGE_OFFSET), as a kernel
        debugger would: gdb's unwinder needs the kernel's stack and code, and the TLB
        holds only what was touched lately.  Debugger access only; the CPU never
        translates this way."""
        space = int(self.core.state.sr[4 + (va >> 30)])
        try:
            return self.core.translate(space, va & 0xFFFFFFFF)
        except CoreError:
            off = va - mm.LINUX_PAGE_OFFSET
            if self.machine.kernel is None or not 0 <= off < self.core.ram_size:
                raise
            return off

    def _pages(self, va: int, length: int) -> list[tuple[int, int]]:
        if not (0 <= va and va + length <= 1 << 32):
            raise ValueError(f"{va:#x}+{length:#x} is outside the 32-bit address space")
        out, end = [], va + length
        while va < end:
            n = min(end, (va | 0xFFF) + 1) - va
            out.append((self.translate(va), n))
            va += n
        return out

    def read_memory(self, va: int, length: int) -> bytes:
        """CoreError when a page is unmapped or not memory (I/O is never touched)."""
        return b"".join(self.core.read_phys(pa, n) for pa, n in self._pages(va, length))

    def write_memory(self, va: int, data: bytes) -> str:
        self._paused()
        notes, pos = [], 0
        for pa, n in self._pages(va, len(data)):
            self.core.read_phys(pa, n)              # all memory, or nothing is written
        for pa, n in self._pages(va, len(data)):
            notes.append(self.role.debug_write(WRITE_MEMORY, pa, data[pos:pos + n],
                                               self.allow_divergence))
            pos += n
        return next((m for m in notes if m), "")

    def _paused(self) -> None:
        if self.running:
            raise WriteRefused("the VM is running: stop it first")
        if self.ended:
            raise WriteRefused("the run has ended")

    # ---- where the VM is ----
    def stop_here(self, reason: StopReason, message: str = "", e: Any = None,
                  start: int | None = None, t0: float | None = None) -> Stop:
        """A :class:`Stop` describing the VM as it is now."""
        self.machine.env.flush_console() if self.role.owns_devices else None
        core = self.core
        s = core.state
        pc, space = int(s.iaoq_f), int(s.iasq_f)
        insn: int | None
        if e is not None and e.pc == pc and e.insn:
            insn = int(e.insn)
        else:
            try:
                insn = core.read_u32(core.translate(space, pc & ~3, is_code=True))
            except CoreError:
                insn = None
        icount = core.icount
        watch_addr, watch_kind = None, 0
        if reason is StopReason.WATCHPOINT and e is not None:
            watch_addr, watch_kind = int(e.addr), int(e.size)
        epoch_len = self.role.epoch_len
        return Stop(reason, icount, pc, space, insn, bool(s.psw & PSW_N),
                    icount // epoch_len if epoch_len else None, watch_addr, watch_kind,
                    message, icount - (icount if start is None else start),
                    0.0 if t0 is None else time.monotonic() - t0)
