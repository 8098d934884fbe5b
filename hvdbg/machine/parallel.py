"""The LASI parallel port at 0xFFD02800 as QEMU 7.2's B160L has it (hw/char/parallel.c,
memory-mapped, register shift 0, no host back end with -nodefaults): a PC-style SPP
port -- data, status, control -- emulated in software.  Its interrupt goes to LASI
input 8, where QEMU wires it.  Linux's parport_gsc finds it as ``parport0``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

DATA, STATUS, CONTROL = 0, 1, 2
STS_BUSY, STS_ACK, STS_ONLINE, STS_ERROR, STS_TMOUT = 0x80, 0x40, 0x10, 0x08, 0x01
CTR_DIR, CTR_INTEN, CTR_SELECT, CTR_INIT, CTR_STROBE = 0x20, 0x10, 0x08, 0x04, 0x01
LASI_IRQ = 8
_FIELDS = ("dataw", "datar", "status", "control", "irq_pending")


class ParallelPort:
    """``out(byte)`` receives strobed bytes (none with no back end); ``irq(level)``."""

    def __init__(self, irq: Callable[[bool], None] | None = None,
                 out: Callable[[int], None] | None = None) -> None:
        self.irq = irq or (lambda level: None)
        self.out = out or (lambda b: None)
        self.reset()

    def reset(self) -> None:
        self.datar = self.dataw = 0xFF
        self.status = STS_BUSY | STS_ACK | STS_ONLINE | STS_ERROR | STS_TMOUT
        self.control = CTR_SELECT | CTR_INIT | 0xC0
        self.irq_pending = 0

    def snapshot(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _FIELDS}

    def restore(self, d: dict[str, Any]) -> None:
        for k in _FIELDS:
            setattr(self, k, d[k])

    def _update_irq(self) -> None:
        self.irq(bool(self.irq_pending))

    def decodes(self, offset: int, size: int) -> bool:
        return 0 <= offset < 8 and size <= 4

    def read(self, offset: int, size: int) -> int:
        reg = offset & 7
        if reg == DATA:
            return self.datar if self.control & CTR_DIR else self.dataw
        if reg == STATUS:
            ret = self.status
            self.irq_pending = 0
            if not self.status & STS_BUSY and not self.control & CTR_STROBE:
                if self.status & STS_ACK:
                    self.status &= ~STS_ACK
                else:
                    self.status |= STS_ACK | STS_BUSY
            self._update_irq()
            return ret
        if reg == CONTROL:
            return self.control
        return 0xFF & ((1 << (8 * size)) - 1)

    def write(self, offset: int, size: int, value: int) -> None:
        reg, val = offset & 7, value & ((1 << (8 * size)) - 1)
        if reg == DATA:
            self.dataw = val & 0xFF
            self._update_irq()
        elif reg == CONTROL:
            val = (val | 0xC0) & 0xFF
            if not val & CTR_INIT:
                self.status = STS_BUSY | STS_ACK | STS_ONLINE | STS_ERROR
            elif val & CTR_SELECT:
                if val & CTR_STROBE:
                    self.status &= ~STS_BUSY
                    if not self.control & CTR_STROBE:
                        self.out(self.dataw)
                elif self.control & CTR_INTEN:
                    self.irq_pending = 1
            self._update_irq()
            self.control = val
