"""Dino, the GSC-to-PCI bridge of the B160L (facts from QEMU 7.2's hw/pci-host/dino.c):
its interrupt controller, the bridge registers at 0x800, PCI configuration address/data
and PCI I/O-space access.  The PCI bus is empty (QEMU's lsi53c895a SCSI controller is
not modelled), so configuration reads find no device and read all ones, as do PCI I/O
reads.  Dino's own 16550 UART (0xFFF83800, Dino IRQ 10) is a separate
:class:`~hvdbg.machine.uart.Uart16550` whose interrupt line is :meth:`Dino.set_irq`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hvdbg.machine import memmap as mm

SIZE = 0x1000
IAR0, IODC, IRR0, IAR1, IRR1, IMR, IPR = 0x004, 0x008, 0x00C, 0x010, 0x014, 0x018, 0x01C
TOC_ADDR, ICR, ILR = 0x020, 0x024, 0x028
IO_CONTROL, IO_FBB_EN, IO_ADDR_EN = 0x038, 0x05C, 0x060
PCI_CONFIG_ADDR, PCI_CONFIG_DATA, PCI_IO_DATA = 0x064, 0x068, 0x06C
GMASK, PAMR, MLTIM, BRDG_FEAT, TLTIM = 0x800, 0x804, 0x81C, 0x820, 0x830
PCISTS, PCIWOR = 0x814, 0x828
IRQ_RS232 = 10                       # the Dino UART
IRQS = 11
TOC_RESET = 0xFFFA0030               # IO_COMMAND of the CPU
IAR_RESET = mm.CPU_HPA + 3

# bits kept by writes to the registers at 0x800 .. 0x830, one per word
_KEEP800 = (0x1, 0x7F, 0x7F, 0xFF, 0x7F, 0x1FF, 0xFFFFFFFF, 0xFF, 0x3FFFFFFF, 0xFFFFFF,
            0x3FFFFF, 0xFFFFFFFF, 0x1FF)
_N800 = len(_KEEP800)
_FIELDS = ("config_reg", "iar0", "iar1", "imr", "ipr", "icr", "ilr", "io_fbb_en",
           "io_addr_en", "io_control", "toc_addr")
_CHIP_REGS = {IAR0, IAR1, IRR0, IRR1, IMR, IPR, ICR, ILR, IO_CONTROL, IO_FBB_EN,
              IO_ADDR_EN, TOC_ADDR}


def _mask(size: int) -> int:
    return (1 << (8 * size)) - 1


def _swap(value: int, size: int) -> int:
    return int.from_bytes((value & _mask(size)).to_bytes(size, "little"), "big")


class Dino:
    """``bus_write(pa, size, value)`` is how Dino delivers an interrupt: the value
    ``IAR & 31`` stored at ``IAR & ~31`` (the CPU's interrupt word after reset)."""

    def __init__(self, bus_write: Callable[[int, int, int], None] | None = None) -> None:
        self.bus_write = bus_write or (lambda pa, size, value: None)
        self.reset()

    def reset(self) -> None:
        self.config_reg = 0
        self.imr = self.ipr = self.icr = self.ilr = 0
        self.io_fbb_en = self.io_addr_en = self.io_control = 0
        self.iar0 = self.iar1 = IAR_RESET
        self.toc_addr = TOC_RESET
        self.reg800 = [0] * _N800

    def snapshot(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in _FIELDS}
        d["reg800"] = list(self.reg800)
        return d

    def restore(self, d: dict[str, Any]) -> None:
        for k in _FIELDS:
            setattr(self, k, d[k])
        self.reg800 = list(d["reg800"])

    # ---- interrupt inputs ----
    def set_irq(self, n: int, level: bool) -> None:
        """Interrupt input n: a rising edge latches IPR and, when IMR enables it,
        delivers through IAR1 (ICR bit set) or IAR0."""
        bit = 1 << n
        if level:
            rising = bit & ~self.ilr
            self.ipr |= rising
            self.ilr |= bit
            if rising & self.imr:
                iar = self.iar1 if rising & self.icr else self.iar0
                self.bus_write(iar & ~31 & 0xFFFFFFFF, 4, iar & 31)
        else:
            self.ilr &= ~bit

    # ---- bus interface ----
    def decodes(self, offset: int, size: int) -> bool:
        if size > 4:
            return False
        if offset == PCI_CONFIG_ADDR:
            return size == 4
        if PCI_CONFIG_DATA <= offset < PCI_CONFIG_DATA + 4:
            return True
        if offset in _CHIP_REGS or offset == PCI_IO_DATA:
            return True
        if offset == PCI_IO_DATA + 2:
            return size <= 2
        if offset in (PCI_IO_DATA + 1, PCI_IO_DATA + 3):
            return size == 1
        return GMASK <= offset <= PCISTS or MLTIM <= offset <= PCIWOR or offset == TLTIM

    def read(self, offset: int, size: int) -> int:
        if offset == PCI_CONFIG_ADDR:
            return self.config_reg
        if PCI_CONFIG_DATA <= offset < PCI_CONFIG_DATA + 4:
            return _swap(self._config_read(size), size)     # little-endian window
        if PCI_IO_DATA <= offset < PCI_IO_DATA + 4:
            return _mask(size)                               # no PCI I/O device
        if offset == IPR:
            val, self.ipr = self.ipr, 0                      # reading IPR clears it
            return val & _mask(size)
        if offset == IRR0:
            val = self.ilr & self.imr & ~self.icr
        elif offset == IRR1:
            val = self.ilr & self.imr & self.icr
        elif offset >= GMASK:
            i = (offset - GMASK) // 4
            val = self.reg800[i] if i < _N800 else 0
            if offset == PAMR:
                val &= ~0x01
            elif offset == MLTIM:
                val &= ~0x07
            elif offset == BRDG_FEAT:
                val &= ~(0x10710E0 | 8)
        else:
            val = {IAR0: self.iar0, IAR1: self.iar1, IMR: self.imr, ICR: self.icr,
                   ILR: self.ilr, IO_CONTROL: self.io_control, IO_FBB_EN: self.io_fbb_en,
                   IO_ADDR_EN: self.io_addr_en, TOC_ADDR: self.toc_addr}[offset]
        return val & _mask(size)

    def _config_read(self, size: int) -> int:
        # bus 0 holds no device: every function reads all ones
        return _mask(size)

    def write(self, offset: int, size: int, value: int) -> None:
        value &= _mask(size)
        if offset == PCI_CONFIG_ADDR:
            self.config_reg = value
        elif PCI_CONFIG_DATA <= offset < PCI_CONFIG_DATA + 4:
            pass                                             # no device to configure
        elif PCI_IO_DATA <= offset < PCI_IO_DATA + 4:
            pass                                             # no PCI I/O device
        elif offset == IO_FBB_EN:
            self.io_fbb_en = value & 0x03
        elif offset == IO_ADDR_EN:
            self.io_addr_en = value
        elif offset == IO_CONTROL:
            self.io_control = value
        elif offset == IAR0:
            self.iar0 = value
        elif offset == IAR1:
            self.iar1 = value
        elif offset == IMR:
            self.imr = value
        elif offset == ICR:
            self.icr = value
        elif offset == IPR:
            self.ipr = 0                                     # any write clears it
        elif offset == TOC_ADDR:
            self.toc_addr = TOC_RESET | (value & 0x1E000)
        elif offset >= GMASK:
            i = (offset - GMASK) // 4
            if i < _N800:
                self.reg800[i] = value & _KEEP800[i]
        # ILR, IRR0, IRR1 are read-only
