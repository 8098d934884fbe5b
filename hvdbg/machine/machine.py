"""A B160L-class machine: one Core and one Environment, booted as QEMU's B160L boots;
:meth:`Machine.run` runs it solo through the session driver
(:mod:`hvdbg.replication.session`), which owns the one run loop."""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from hvdbg.cpu.core import ENV_CR16, ClockMode, Core
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
from hvdbg.machine.stop import DEADLINE, Stop, StopReason, Until

if TYPE_CHECKING:
    from hvdbg.replication.session import Hypervisor

log = logging.getLogger("hvdbg.machine")

PSW_Q = 0x00000008
CMDLINE_ADDR = 0x4000            # where QEMU's hppa loader puts the kernel command line
CMDLINE_MAX = 4096               # including the NUL (one target page)
INITRD_LIMIT = 1 << 30           # the initrd goes below min(RAM, 1 GiB) - 64 KiB
INITRD_GAP = 64 << 10
PAGE_MASK = ~0xFFF


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
        self._session: Hypervisor | None = None

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
        """Thread-safe: make :meth:`run` return ``INTERRUPTED`` soon."""
        self.session().request_stop()

    def deliver_interrupts(self) -> None:
        """Solo: what the devices raised reaches the CPU at once."""
        bits = self.env.take_eirr()
        if self.clock is ClockMode.HOST and self.env.timer.expired():
            bits |= EIRR_TIMER
        if bits:
            self.core.set_eirr(bits)

    def session(self) -> Hypervisor:
        """This machine's solo session (made on first use)."""
        if self._session is None:
            from hvdbg.replication.roles import Solo
            from hvdbg.replication.session import Hypervisor
            self._session = Hypervisor(self, Solo(self))
        return self._session

    def run(self, max_insns: int | None = None, timeout: float | None = None) -> Stop:
        """Run solo until the guest powers off or halts, ``max_insns`` more instructions
        have retired (LIMIT), ``timeout`` seconds of host time passed (TIMEOUT), or a
        debugger event.  A convenience over :meth:`session` for tests and benchmarks;
        the session stays resumable after LIMIT and TIMEOUT."""
        hv = self.session()
        until = Until.forever() if max_insns is None else Until.insns(max_insns)
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = hv.resume(until, deadline=deadline)
        if stop.reason is StopReason.STEPPED:
            return dataclasses.replace(stop, reason=StopReason.LIMIT)
        if stop.reason is StopReason.INTERRUPTED and stop.message == DEADLINE:
            return dataclasses.replace(stop, reason=StopReason.TIMEOUT)
        return stop

    # ---- environment door (HV_CLOCK_HOST) ----
    def env_read(self, which: int) -> int:
        if which == ENV_CR16:
            return self.env.timer.read()
        log.warning("environment read of unknown item %d: answering 0", which)
        return 0

    def env_write(self, which: int, value: int) -> None:
        if which == ENV_CR16:
            self.env.timer.write_compare(value)
        else:
            log.warning("environment write of unknown item %d ignored", which)
