"""The one stop vocabulary: why a session stopped running its VM (:class:`StopReason`),
where (:class:`Stop`), and how far a front end asks it to run (:class:`Until`).

Every front end — ``hvdbg run``, ``hvdbg pair``, the replayer, the gdb stub, the REPL —
sees the same values.  A stop is either *final* (the guest or the role is finished: the
session cannot run further) or a *pause* (breakpoint, watchpoint, target reached, stop
requested): the session stays alive and :meth:`resume` goes on from there.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from hvdbg.cpu.disasm import disassemble


class StopReason(enum.Enum):
    # ---- final: the guest stopped, or this role is done ----
    POWER_OFF = "power off"          # LASI PCR := 2, or the soft power button
    HALT = "halt"                    # QEMU's emulator halt instruction
    RESET = "reset"                  # QEMU's emulator reset instruction (as -no-reboot)
    FAULT = "fault"                  # the core cannot continue
    LIMIT = "instruction limit"      # a run limit ended the run (END written)
    TIMEOUT = "timeout"              # a host-time limit ended the run (END written)
    STOPPED = "stopped"              # ended on request (Ctrl-C, SIGTERM; END written)
    DIED = "died"                    # this primary fail-stopped (injected) or was fenced off
    PROMOTE = "primary failed"       # a backup detected its primary's failure (P7)
    STARVED = "log ended"            # a replayer's log ended before an END record
    DIVERGED = "diverged"            # a backup or replayer does not match the stream
    LINK_FAILED = "link failed"      # the link broke its reliable-FIFO promise
    # ---- pauses: the session stays resumable ----
    BREAKPOINT = "breakpoint"
    WATCHPOINT = "watchpoint"
    STEPPED = "target reached"       # Until.insns / Until.icount reached
    EPOCH = "epoch boundary"         # Until.epochs reached (its interrupts delivered)
    INTERRUPTED = "interrupted"      # request_stop() (gdb Ctrl-C, a deadline, a signal)

    @property
    def final(self) -> bool:
        return self not in _PAUSES

    @property
    def exit_status(self) -> int:
        """The command's exit status for a run that ended here (one table for run,
        pair and the processes): 0 the guest ended it, 3 a limit, 4 a guest fault,
        130 a stop request (SIGINT), 1 anything else (divergence, link, death)."""
        if self.guest_ended:
            return 0
        if self in (StopReason.LIMIT, StopReason.TIMEOUT):
            return 3
        if self is StopReason.STOPPED:
            return 130
        if self is StopReason.FAULT:
            return 4
        return 1

    @property
    def guest_ended(self) -> bool:
        """The guest itself ended the run (exit status 0 for hvdbg run)."""
        return self in (StopReason.POWER_OFF, StopReason.HALT, StopReason.RESET)


_PAUSES = frozenset({StopReason.BREAKPOINT, StopReason.WATCHPOINT, StopReason.STEPPED,
                     StopReason.EPOCH, StopReason.INTERRUPTED})

DEADLINE = "deadline"             # the message of an INTERRUPTED stop at resume()'s deadline
WATCH_KINDS = {1: "read", 2: "write", 3: "access"}


@dataclass(frozen=True)
class Stop:
    reason: StopReason
    icount: int                      # retired instructions since reset
    pc: int                          # IAOQ front (low 2 bits: privilege level)
    pc_space: int
    insn: int | None                 # the instruction word at pc, None if unreadable
    nullified: bool = False          # PSW[N]: the instruction at pc will be skipped
    epoch: int | None = None         # icount // epoch length, when the role has epochs
    watch_addr: int | None = None    # WATCHPOINT: the data address accessed
    watch_kind: int = 0              # WATCHPOINT: 1 read, 2 write
    message: str = ""                # FAULT, DIVERGED, DIED, ...: what happened
    executed: int = 0                # retired during the resume() that stopped here
    seconds: float = 0.0             # wall time of that resume()

    @property
    def final(self) -> bool:
        return self.reason.final

    @property
    def disassembly(self) -> str:
        return "??" if self.insn is None else disassemble(self.insn, self.pc)

    def where(self) -> str:
        null = " (nullified)" if self.nullified else ""
        return f"pc={self.pc:#010x} (space {self.pc_space:#x}): {self.disassembly}{null}"

    def describe(self) -> str:
        where = f"icount {self.icount}, {self.where()}"
        what = self.reason.value
        if self.reason is StopReason.WATCHPOINT and self.watch_addr is not None:
            what += f" ({WATCH_KINDS.get(self.watch_kind, '?')} of {self.watch_addr:#010x})"
        if self.message:
            what += f": {self.message}"
        return f"{what}; {where}"


class Until:
    """How far :meth:`Hypervisor.resume` runs when nothing else stops it."""

    __slots__ = ("kind", "n")

    def __init__(self, kind: str, n: int = 0) -> None:
        if kind not in ("continue", "insns", "icount", "epochs"):
            raise ValueError(f"unknown Until kind {kind!r}")
        if n < 0:
            raise ValueError(f"Until.{kind}: must be >= 0, not {n}")
        self.kind, self.n = kind, n

    @classmethod
    def forever(cls) -> Until:
        return cls("continue")

    @classmethod
    def insns(cls, n: int) -> Until:
        """``n`` more retired instructions (``stepi n``)."""
        return cls("insns", n)

    @classmethod
    def icount(cls, n: int) -> Until:
        """The absolute retired-instruction count ``n``."""
        return cls("icount", n)

    @classmethod
    def epochs(cls, n: int = 1) -> Until:
        """The ``n``-th next epoch boundary, after its interrupts are delivered."""
        return cls("epochs", max(1, n))

    def target(self, icount: int, epoch_len: int) -> int | None:
        """The absolute icount to stop at, or None to run on."""
        if self.kind == "insns":
            return icount + self.n
        if self.kind == "icount":
            return self.n
        if self.kind == "epochs":
            if epoch_len <= 0:
                raise ValueError("this session has no epochs (record or replicate it)")
            return (icount // epoch_len + self.n) * epoch_len
        return None

    def stop_reason(self) -> StopReason:
        return StopReason.EPOCH if self.kind == "epochs" else StopReason.STEPPED

    def __repr__(self) -> str:
        return f"Until.{self.kind}({self.n})"
