"""A B160L-class machine: one Core, one Environment, and the solo run loop that answers
the core's exits (I/O, environment, halt) until the guest powers off or a limit hits."""
from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvdbg.cpu.core import ENV_CR16, ClockMode, Core, CoreError, Exit, ExitReason
from hvdbg.cpu.disasm import disassemble
from hvdbg.machine import memmap as mm
from hvdbg.machine.elf import (
    FirmwareImage,
    GuestImageError,
    KernelImage,
    load_firmware,
    read_firmware,
    read_image,
    read_kernel,
)
from hvdbg.machine.environment import EIRR_TIMER, Environment

log = logging.getLogger("hvdbg.machine")

SLICE = 1 << 21                  # instructions per core.run() when nothing else stops it
CONSOLE_FLUSH_NS = 10_000_000    # flush console output at least this often while printing
CONSOLE_FLUSH_BYTES = 4096
TIMER_MIN_SLICE = 1024          # shortest slice while waiting for the host interval timer
IO_BURST = 1024                  # I/O exits answered back to back before housekeeping
_IO_READ, _IO_WRITE, _BUDGET = ExitReason.IO_READ, ExitReason.IO_WRITE, ExitReason.BUDGET
_IO_EXITS = (_IO_READ, _IO_WRITE)
PSW_Q = 0x00000008
PSW_N = 0x00200000
CMDLINE_ADDR = 0x4000            # where QEMU's hppa loader puts the kernel command line
CMDLINE_MAX = 4096               # including the NUL (one target page)
INITRD_LIMIT = 1 << 30           # the initrd goes below min(RAM, 1 GiB) - 64 KiB
INITRD_GAP = 64 << 10
PAGE_MASK = ~0xFFF


class StopReason(enum.Enum):
    POWER_OFF = "power off"          # LASI PCR := 2
    HALT = "halt"                    # QEMU's emulator halt instruction
    RESET = "reset"                  # QEMU's emulator reset instruction (as -no-reboot)
    LIMIT = "instruction limit"
    TIMEOUT = "timeout"
    BREAKPOINT = "breakpoint"
    WATCHPOINT = "watchpoint"
    STOP = "stop requested"
    FAULT = "fault"


@dataclass(frozen=True)
class RunResult:
    reason: StopReason
    icount: int                      # retired instructions since reset
    executed: int                    # retired during this run() call
    seconds: float                   # wall time of this run() call
    pc_space: int
    pc: int
    insn: int | None                 # the instruction word at pc, None if unreadable
    nullified: bool = False          # PSW[N]: the instruction at pc will be skipped
    message: str = ""
    exit: Exit | None = None

    @property
    def disassembly(self) -> str:
        return "??" if self.insn is None else disassemble(self.insn, self.pc)

    @property
    def mips(self) -> float:
        return self.executed / self.seconds / 1e6 if self.seconds > 0 else 0.0


class Machine:
    """``Machine(ram_mib=256, clock="virtual")``; :meth:`load_bios`, then :meth:`run`.

    ``clock="virtual"`` (default) lets the core compute CR16 from the instruction count,
    so bare-metal guests are deterministic; ``"host"`` reads host time (250 MHz) through
    environment exits, as QEMU does.
    """

    def __init__(self, ram_mib: int = mm.DEFAULT_RAM_MIB, *, clock: str = "virtual",
                 ticks_per_insn: int = 1, env: Environment | None = None) -> None:
        if not 0 < ram_mib * mm.MIB <= mm.MAX_RAM:
            raise ValueError(f"RAM size {ram_mib} MiB must be in 1 .. {mm.MAX_RAM // mm.MIB}")
        self.core = Core(ram_mib * mm.MIB)
        self.env = env if env is not None else Environment()
        self.env.memory = self.core
        self.env.read_cpu_eirr = lambda: int(self.core.state.cr[23])
        try:
            self.clock = ClockMode[clock.upper()]
        except KeyError:
            raise ValueError(f"clock must be 'virtual' or 'host', not {clock!r}") from None
        self.ticks_per_insn = ticks_per_insn
        self.core.set_clock(self.clock, ticks_per_insn)
        if self.clock is ClockMode.VIRTUAL:
            core = self.core
            self.env.use_virtual_clock(lambda: core.icount, ticks_per_insn)
        else:
            self.env.use_host_clock()
        self.image: FirmwareImage | None = None
        self.kernel: KernelImage | None = None

    # ---- boot ----
    def load_bios(self, path: str | Path) -> FirmwareImage:
        image = read_firmware(path)
        self.boot(image)
        return image

    def load_linux(self, bios: str | Path, kernel: str | Path, initrd: str | Path | None = None,
                   cmdline: str = "") -> KernelImage:
        """Firmware plus a kernel started by it, as ``qemu-system-hppa -bios B -kernel K
        -initrd I -append C``."""
        image = read_firmware(bios)
        kimage = read_kernel(kernel)
        # the initrd goes below min(RAM, 1 GiB) - 64 KiB (see _load_kernel)
        rd = None if initrd is None else read_image(
            initrd, "initrd", min(self.core.ram_size, INITRD_LIMIT) - INITRD_GAP)
        self.boot(image, kimage, rd, cmdline)
        return kimage

    def boot(self, image: FirmwareImage, kernel: KernelImage | None = None,
             initrd: bytes | None = None, cmdline: str = "") -> None:
        """Power-on: CPU and devices reset, firmware (and kernel, initrd, command line)
        loaded, registers as QEMU's B160L sets them (hw/hppa/machine.c)."""
        core = self.core
        core.reset()
        self.env.configure(core.ram_size)
        self.env.reset()
        core.set_clock(self.clock, self.ticks_per_insn)
        load_firmware(core, image)
        self.image = image
        self.kernel = kernel
        s = core.state
        core.set_pc(image.entry)
        # the QEMU 7.2 oracle (Debian 7.2.22) starts the CPU with PSW = Q (0x8)
        s.psw = PSW_Q
        s.gr[26] = core.ram_size
        s.gr[25] = 0                       # kernel entry: none (no boot menu)
        s.gr[24] = mm.BOOT_ORDER_DISK
        s.gr[21] = 1                       # number of CPUs
        s.gr[19] = mm.FW_CFG_IO_BASE
        s.gr[5] = mm.CPU_HPA               # this CPU's HPA
        if kernel is not None:
            self._load_kernel(kernel, initrd, cmdline)
        core.state_changed()

    def _load_kernel(self, kernel: KernelImage, initrd: bytes | None, cmdline: str) -> None:
        core, s = self.core, self.core.state
        ram = core.ram_size
        for seg in kernel.segments:
            if seg.paddr + seg.memsz > ram:
                raise GuestImageError(f"kernel segment {seg.paddr:#010x}-"
                                      f"{seg.paddr + seg.memsz:#010x} does not fit in RAM")
            core.write_phys(seg.paddr, seg.data + bytes(seg.memsz - len(seg.data)))
        s.gr[25] = kernel.entry
        raw = cmdline.encode()[:CMDLINE_MAX - 1] + b"\0"
        core.write_phys(CMDLINE_ADDR, raw)
        s.gr[24] = CMDLINE_ADDR
        if initrd is not None:
            base = (min(ram, INITRD_LIMIT) - INITRD_GAP - len(initrd)) & PAGE_MASK
            if base < kernel.high:
                raise GuestImageError("kernel and initial ram disk too large for the RAM")
            core.write_phys(base, initrd)
            s.gr[23] = base
            s.gr[22] = base + len(initrd)

    # ---- running ----
    def push_input(self, data: bytes) -> None:
        """Thread-safe: host keystrokes for the console."""
        self.env.push_input(data)

    def press_power_button(self) -> None:
        """Thread-safe: press the soft power button (see Environment.press_power_button)."""
        self.env.press_power_button()

    def request_stop(self) -> None:
        """Thread-safe: make :meth:`run` return ``STOP`` soon."""
        self.core.request_stop()

    def _deliver_interrupts(self) -> None:
        bits = self.env.take_eirr()
        if self.clock is ClockMode.HOST and self.env.timer.expired():
            bits |= EIRR_TIMER
        if bits:
            self.core.set_eirr(bits)

    def _result(self, reason: StopReason, start: int, t0: float, e: Any,
                message: str = "") -> RunResult:
        ex = None if e is None else Core.exit_info(e)
        self.env.flush_console()
        s = self.core.state
        pc, space = int(s.iaoq_f), int(s.iasq_f)
        insn: int | None
        if ex is not None and ex.pc == pc and ex.insn:
            insn = ex.insn
        else:
            try:
                pa = self.core.translate(space, pc & ~3, is_code=True)
                insn = self.core.read_u32(pa)
            except CoreError:
                insn = None
        icount = self.core.icount
        return RunResult(reason, icount, icount - start, time.monotonic() - t0, space, pc,
                         insn, bool(s.psw & PSW_N), message, ex)

    def run(self, max_insns: int | None = None, timeout: float | None = None) -> RunResult:
        """Run until the guest powers off or halts, ``max_insns`` more instructions have
        retired, ``timeout`` seconds of host time passed, or a debugger event."""
        core, env = self.core, self.env
        t0 = time.monotonic()
        start = core.icount
        limit = None if max_insns is None else start + max_insns
        deadline = None if timeout is None else t0 + timeout
        last_flush = time.monotonic_ns()
        io_read, io_write, complete = env.io_read, env.io_write, core.io_complete
        e = None                      # the core's exit record (cdata, reused)
        while True:
            # ---- housekeeping: host input, interrupts, console, limits ----
            env.service()
            if env.power_off_requested:              # the soft power button
                return self._result(StopReason.POWER_OFF, start, t0, e)
            self._deliver_interrupts()
            if env.console_pending:
                now = time.monotonic_ns()
                if (e is None or e.reason not in _IO_EXITS
                        or env.console_pending >= CONSOLE_FLUSH_BYTES
                        or now - last_flush >= CONSOLE_FLUSH_NS):
                    env.flush_console()
                    last_flush = now
            if limit is not None and core.icount >= limit:
                return self._result(StopReason.LIMIT, start, t0, e)
            if deadline is not None and time.monotonic() >= deadline:
                return self._result(StopReason.TIMEOUT, start, t0, e)

            slice_len = SLICE
            if self.clock is ClockMode.HOST and env.timer.deadline is not None:
                # end the slice before the host timer is due (assuming >= 125 MIPS);
                # later slices close in on the deadline
                slice_len = max(TIMER_MIN_SLICE, min(SLICE, env.timer.remaining_ns() >> 3))
            # ---- guest: answer I/O exits in a tight loop until something needs the above
            for _ in range(IO_BURST):
                budget = slice_len if limit is None else min(slice_len, limit - core.icount)
                if budget <= 0:
                    break
                e = core.run_raw(budget)
                r = e.reason
                if r == _IO_READ:
                    complete(io_read(e.addr, e.size))
                elif r == _IO_WRITE:
                    size = e.size
                    io_write(e.addr, size, e.value_hi << 32 | e.value if size == 8 else e.value)
                    complete(0)
                    if env.power_off_requested:
                        return self._result(StopReason.POWER_OFF, start, t0, e)
                else:
                    break
                if env.pending_eirr or env.console_pending >= CONSOLE_FLUSH_BYTES:
                    break
            else:
                continue
            if e is None or e.reason in _IO_EXITS:
                continue
            r = e.reason
            if r == _BUDGET:
                continue
            if r == ExitReason.ENV_READ:
                complete(self._env_read(e.addr))
            elif r == ExitReason.ENV_WRITE:
                self._env_write(e.addr, e.value)
                complete(0)
            elif r == ExitReason.HALT:
                reason = StopReason.RESET if e.addr == 1 else StopReason.HALT
                return self._result(reason, start, t0, e)
            elif r == ExitReason.BREAKPOINT:
                return self._result(StopReason.BREAKPOINT, start, t0, e)
            elif r == ExitReason.WATCHPOINT:
                return self._result(StopReason.WATCHPOINT, start, t0, e)
            elif r == ExitReason.STOP:
                return self._result(StopReason.STOP, start, t0, e)
            else:
                ex = Core.exit_info(e)
                return self._result(StopReason.FAULT, start, t0, e, ex.msg or str(ex.reason))

    # ---- environment door (HV_CLOCK_HOST) ----
    def _env_read(self, which: int) -> int:
        if which == ENV_CR16:
            return self.env.timer.read()
        log.warning("environment read of unknown item %d: answering 0", which)
        return 0

    def _env_write(self, which: int, value: int) -> None:
        if which == ENV_CR16:
            self.env.timer.write_compare(value)
        else:
            log.warning("environment write of unknown item %d ignored", which)
