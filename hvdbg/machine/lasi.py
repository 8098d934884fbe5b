"""LASI chip registers, its RTC, and the CPU's interrupt word (QEMU 7.2: hw/misc/lasi.c,
target/hppa/int_helper.c)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hvdbg.machine import memmap as mm

_REGS = {mm.LASI_IRR: "irr", mm.LASI_IMR: "imr", mm.LASI_IPR: "ipr", mm.LASI_ICR: "icr",
         mm.LASI_IAR: "iar", mm.LASI_ERRLOG: "errlog", mm.LASI_AMR: "amr"}
# offsets QEMU's LASI decodes that read as 0 and ignore writes (LPT/UART/LAN resets,
# PCR, VER, IORESET)
_ZERO = (0x2000, 0x5000, 0x7000, mm.LASI_PCR, mm.LASI_VER, mm.LASI_IORESET)
IAR_RESET = mm.CPU_HPA + 3


def _mask(size: int) -> int:
    return (1 << (8 * size)) - 1


class Lasi:
    """Interrupt controller and power control.  An interrupt request n (level high) sets
    IPR bit n; when IMR enables it, IRR bit n is set and, unless ICR reports a bus error,
    the 32-bit value ``IAR & 31`` is stored at physical address ``IAR & ~31`` — with the
    reset IAR that is the CPU's interrupt word, raising EIRR bit 3."""

    def __init__(self, bus_write: Callable[[int, int, int], None] | None = None,
                 power_off: Callable[[], None] | None = None) -> None:
        self.bus_write = bus_write or (lambda pa, size, value: None)
        self.power_off = power_off or (lambda: None)
        self.reset()

    def reset(self) -> None:
        self.irr = self.imr = self.ipr = self.icr = 0
        self.errlog = self.amr = 0
        self.iar = IAR_RESET

    def snapshot(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _REGS.values()}

    def restore(self, d: dict[str, Any]) -> None:
        for k in _REGS.values():
            setattr(self, k, d[k])

    def set_irq(self, n: int, level: bool) -> None:
        """Interrupt input n (0..26).  Only a high level acts; LASI latches requests."""
        if not level:
            return
        bit = 1 << n
        self.ipr |= bit
        if bit & self.imr:
            self.irr |= bit
            if not self.icr & mm.LASI_ICR_BUS_ERROR:
                self.bus_write(self.iar & ~31 & 0xFFFFFFFF, 4, self.iar & 31)

    def decodes(self, offset: int, size: int) -> bool:
        return size <= 4 and (offset in _REGS or offset in _ZERO)

    def read(self, offset: int, size: int) -> int:
        name = _REGS.get(offset)
        if name is None:
            return 0
        val = getattr(self, name)
        if offset == mm.LASI_IPR:
            self.ipr = 0                     # reading IPR clears it
        elif offset == mm.LASI_ICR:
            val &= mm.LASI_ICR_BUS_ERROR
        return val & _mask(size)

    def write(self, offset: int, size: int, value: int) -> None:
        value &= _mask(size)
        if offset == mm.LASI_IMR:
            self.imr = value
        elif offset == mm.LASI_IPR:
            self.ipr = 0                     # any write clears it
        elif offset == mm.LASI_ICR:
            self.icr = value
        elif offset == mm.LASI_IAR:
            self.iar = value
        elif offset == mm.LASI_ERRLOG:
            self.errlog = value
        elif offset == mm.LASI_AMR:
            self.amr = value
        elif offset == mm.LASI_PCR and value == mm.LASI_PCR_POWER_OFF:
            self.power_off()
        # IRR and VER are read-only; the reset registers do nothing


class LasiRtc:
    """LASI's 32-bit seconds counter: host time plus a guest-set offset.  Host time is
    an environment input (architecture section 1): reads are I/O reads, so the value a
    primary reads is what the log records."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.time
        self.ref = 0

    def reset(self) -> None:
        self.ref = 0

    def snapshot(self) -> dict[str, Any]:
        return {"ref": self.ref}

    def restore(self, d: dict[str, Any]) -> None:
        self.ref = d["ref"]

    def decodes(self, offset: int, size: int) -> bool:
        return offset == 0 and size <= 4

    def read(self, offset: int, size: int) -> int:
        return (int(self.clock()) + self.ref) & _mask(size)

    def write(self, offset: int, size: int, value: int) -> None:
        self.ref = (value & _mask(size)) - int(self.clock())


class CpuHpa:
    """The CPU's interrupt word: a 32-bit store of value b raises EIRR bit b (PA-RISC
    numbering, bit 0 = MSB); a 32-bit load returns EIRR.  Other sizes are not decoded."""

    def __init__(self, raise_eirr: Callable[[int], None] | None = None,
                 read_eirr: Callable[[], int] | None = None) -> None:
        self.raise_eirr = raise_eirr or (lambda bits: None)
        self.read_eirr = read_eirr or (lambda: 0)

    def reset(self) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, d: dict[str, Any]) -> None:
        pass

    def decodes(self, offset: int, size: int) -> bool:
        return offset == 0 and size == 4

    def read(self, offset: int, size: int) -> int:
        return self.read_eirr() & 0xFFFFFFFF

    def write(self, offset: int, size: int, value: int) -> None:
        self.raise_eirr(1 << (31 - (value & 31)))
