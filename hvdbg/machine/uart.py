"""16550A UART (the LASI console at 0xFFD05800), register-compatible with QEMU 7.2's
hw/char/serial.c as the B160L wires it: byte registers at offsets 0..7, any access size
(the register value in the low byte), a host back end that accepts every byte at once
and reports no modem-control lines (MSR stays DCD|DSR|CTS)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

# LSR
LSR_DR, LSR_OE, LSR_BI, LSR_THRE, LSR_TEMT = 0x01, 0x02, 0x10, 0x20, 0x40
LSR_INT_ANY = 0x1E
# IER
IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08
# IIR
IIR_NO_INT, IIR_ID, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI, IIR_CTI = 1, 6, 0, 2, 4, 6, 0x0C
IIR_FE = 0xC0
# FCR
FCR_FE, FCR_RFR, FCR_XFR = 0x01, 0x02, 0x04
# LCR / MCR / MSR
LCR_DLAB = 0x80
MCR_LOOP, MCR_OUT2 = 0x10, 0x08
MSR_ANY_DELTA = 0x0F
MSR_RESET = 0xB0                        # DCD | DSR | CTS
FIFO_LEN = 16
_ITL = {0x00: 1, 0x40: 4, 0x80: 8, 0xC0: 14}

_FIELDS = ("rbr", "thr", "tsr", "ier", "iir", "lcr", "mcr", "lsr", "msr", "scr", "fcr",
           "divider", "thr_ipending", "timeout_ipending", "recv_itl", "cti_armed")


class Uart16550:
    """``tx(byte)`` receives every transmitted byte; ``irq(level)`` is the interrupt line.
    Host input enters through :meth:`receive` (at most :meth:`can_receive` bytes)."""

    def __init__(self, tx: Callable[[int], None] | None = None,
                 irq: Callable[[bool], None] | None = None) -> None:
        self.tx = tx or (lambda b: None)
        self.irq = irq or (lambda level: None)
        self.reset()

    def reset(self) -> None:
        self.rbr = self.thr = self.tsr = 0
        self.ier = 0
        self.iir = IIR_NO_INT
        self.lcr = 0
        self.lsr = LSR_TEMT | LSR_THRE
        self.msr = MSR_RESET
        self.divider = 0x0C
        self.mcr = MCR_OUT2
        self.scr = 0
        self.fcr = 0
        self.recv_itl = 1
        self.thr_ipending = 0
        self.timeout_ipending = 0
        self.cti_armed = False          # character-timeout "timer" (see tick())
        self.rx_fifo: list[int] = []
        self.irq(False)

    # ---- serialisable state ----
    def snapshot(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in _FIELDS}
        d["rx_fifo"] = list(self.rx_fifo)
        return d

    def restore(self, d: dict[str, Any]) -> None:
        for k in _FIELDS:
            setattr(self, k, d[k])
        self.rx_fifo = list(d["rx_fifo"])

    # ---- interrupt ----
    def _update_irq(self) -> None:
        ident = IIR_NO_INT
        if self.ier & IER_RLSI and self.lsr & LSR_INT_ANY:
            ident = IIR_RLSI
        elif self.ier & IER_RDI and self.timeout_ipending:
            ident = IIR_CTI
        elif (self.ier & IER_RDI and self.lsr & LSR_DR
              and (not self.fcr & FCR_FE or len(self.rx_fifo) >= self.recv_itl)):
            ident = IIR_RDI
        elif self.ier & IER_THRI and self.thr_ipending:
            ident = IIR_THRI
        elif self.ier & IER_MSI and self.msr & MSR_ANY_DELTA:
            ident = IIR_MSI
        self.iir = ident | (self.iir & 0xF0)
        self.irq(ident != IIR_NO_INT)

    # ---- bus interface ----
    def decodes(self, offset: int, size: int) -> bool:
        return 0 <= offset < 8 and size in (1, 2, 4, 8)

    def read(self, offset: int, size: int) -> int:
        reg = offset & 7
        if reg == 0:
            if self.lcr & LCR_DLAB:
                return self.divider & 0xFF
            return self._read_rbr()
        if reg == 1:
            return (self.divider >> 8) & 0xFF if self.lcr & LCR_DLAB else self.ier
        if reg == 2:
            ret = self.iir
            if ret & IIR_ID == IIR_THRI:
                self.thr_ipending = 0
                self._update_irq()
            return ret
        if reg == 3:
            return self.lcr
        if reg == 4:
            return self.mcr
        if reg == 5:
            ret = self.lsr
            if self.lsr & (LSR_BI | LSR_OE):
                self.lsr &= ~(LSR_BI | LSR_OE)
                self._update_irq()
            return ret
        if reg == 6:
            if self.mcr & MCR_LOOP:   # modem outputs looped back to the inputs
                return ((self.mcr & 0x0C) << 4) | ((self.mcr & 0x02) << 3) | ((self.mcr & 0x01) << 5)
            ret = self.msr
            if self.msr & MSR_ANY_DELTA:
                self.msr &= 0xF0
                self._update_irq()
            return ret
        return self.scr

    def _read_rbr(self) -> int:
        if self.fcr & FCR_FE:
            ret = self.rx_fifo.pop(0) if self.rx_fifo else 0
            if not self.rx_fifo:
                self.lsr &= ~(LSR_DR | LSR_BI)
                self.cti_armed = False
            else:
                self.cti_armed = True
            self.timeout_ipending = 0
        else:
            ret = self.rbr
            self.lsr &= ~(LSR_DR | LSR_BI)
        self._update_irq()
        return ret

    def write(self, offset: int, size: int, value: int) -> None:
        reg, val = offset & 7, value & 0xFF
        if reg == 0:
            if self.lcr & LCR_DLAB:
                self.divider = (self.divider & 0xFF00) | val
            else:
                self._write_thr(val)
        elif reg == 1:
            if self.lcr & LCR_DLAB:
                self.divider = (self.divider & 0x00FF) | val << 8
            else:
                changed = (self.ier ^ val) & 0x0F
                self.ier = val & 0x0F
                # enabling THRI with THR empty raises the interrupt again (as QEMU)
                if changed & IER_THRI:
                    self.thr_ipending = int(bool(self.ier & IER_THRI and self.lsr & LSR_THRE))
                if changed:
                    self._update_irq()
        elif reg == 2:
            if (val ^ self.fcr) & FCR_FE:      # FIFO enable toggled: flush both
                val |= FCR_XFR | FCR_RFR
            if val & FCR_RFR:
                self.lsr &= ~(LSR_DR | LSR_BI)
                self.cti_armed = False
                self.timeout_ipending = 0
                self.rx_fifo.clear()
            if val & FCR_XFR:
                self.lsr |= LSR_THRE
                self.thr_ipending = 1
            self.fcr = val & 0xC9
            if self.fcr & FCR_FE:
                self.iir |= IIR_FE
                self.recv_itl = _ITL[self.fcr & 0xC0]
            else:
                self.iir &= ~IIR_FE
            self._update_irq()
        elif reg == 3:
            self.lcr = val
        elif reg == 4:
            self.mcr = val & 0x1F
        elif reg == 7:
            self.scr = val
        # 5 (LSR) and 6 (MSR) are read-only

    def _write_thr(self, val: int) -> None:
        self.thr = val
        self.thr_ipending = 0
        self.lsr &= ~(LSR_THRE | LSR_TEMT)
        self._update_irq()
        # the host back end takes the byte at once: THR (and the FIFO) empty again
        self.tsr = val
        self.lsr |= LSR_THRE
        self.thr_ipending = 1
        self._update_irq()
        if self.mcr & MCR_LOOP:
            self._receive_byte(val)
            self._update_irq()
        else:
            self.tx(val)
        self.lsr |= LSR_TEMT

    # ---- host input ----
    def can_receive(self) -> int:
        """How many bytes the receiver takes now (QEMU's flow control towards the host)."""
        if self.mcr & MCR_LOOP:
            return 0
        if self.fcr & FCR_FE:
            n = len(self.rx_fifo)
            if n >= FIFO_LEN:
                return 0
            return self.recv_itl - n if n <= self.recv_itl else 1
        return 0 if self.lsr & LSR_DR else 1

    def receive(self, data: bytes) -> None:
        if not data:
            return
        for b in data:
            self._receive_byte(b)
        self._update_irq()

    def _receive_byte(self, b: int) -> None:
        if self.fcr & FCR_FE:
            if len(self.rx_fifo) < FIFO_LEN:
                self.rx_fifo.append(b)
            else:
                self.lsr |= LSR_OE
            self.lsr |= LSR_DR
            self.cti_armed = True
        else:
            if self.lsr & LSR_DR:
                self.lsr |= LSR_OE
            self.rbr = b
            self.lsr |= LSR_DR

    def uncertain_completion(self) -> None:
        """Replication rule P8: a transmission may or may not have completed, so raise
        transmit-empty again (if enabled); the driver's interrupt handler then carries
        on sending, which is what it does after a real THRE interrupt."""
        if self.ier & IER_THRI and self.lsr & LSR_THRE:
            self.thr_ipending = 1
            self._update_irq()

    def tick(self) -> None:
        """A host-time interval passed (called at slice boundaries): bytes left in the
        receive FIFO since the previous tick raise the character-timeout interrupt, as
        QEMU's 4-character timer does."""
        if self.cti_armed and self.rx_fifo:
            self.cti_armed = False
            self.timeout_ipending = 1
            self._update_irq()
