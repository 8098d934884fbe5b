"""The B160L board minimum: UART, LASI interrupt routing, RTC, CPU interrupt word,
unmodelled addresses, ELF loading and reset state, and the run loop."""
from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from hvdbg.machine import memmap as mm
from hvdbg.machine.elf import GuestImageError, parse_firmware, read_firmware
from hvdbg.machine.environment import Environment, HostIntervalTimer
from hvdbg.machine.lasi import Lasi, LasiRtc
from hvdbg.machine.uart import Uart16550

EM_PARISC = 15
UART = mm.LASI_UART


def make_elf(code: bytes, paddr: int = mm.FIRMWARE_START, entry: int | None = None,
             machine: int = EM_PARISC, memsz: int | None = None, big: bool = True) -> bytes:
    """A minimal ELF32 executable with one PT_LOAD segment holding ``code``."""
    e = ">" if big else "<"
    ehsize, phsize = 52, 32
    off = ehsize + phsize
    ident = b"\x7fELF" + bytes([1, 2 if big else 1, 1]) + bytes(9)
    hdr = ident + struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1,
                              paddr if entry is None else entry, ehsize, 0, 0, ehsize,
                              phsize, 1, 40, 0, 0)
    ph = struct.pack(e + "IIIIIIII", 1, off, paddr, paddr, len(code),
                     len(code) if memsz is None else memsz, 5, 4)
    return hdr + ph + code


# ---------------------------------------------------------------- UART

class Irq:
    def __init__(self) -> None:
        self.level = False
        self.raises = 0

    def __call__(self, level: bool) -> None:
        self.level = level
        self.raises += level


def uart() -> tuple[Uart16550, list[int], Irq]:
    out: list[int] = []
    irq = Irq()
    return Uart16550(tx=out.append, irq=irq), out, irq


def test_uart_reset_values() -> None:
    u, _, irq = uart()
    regs = [u.read(i, 1) for i in range(1, 8)]
    # IER, IIR, LCR, MCR(OUT2), LSR(THRE|TEMT), MSR(DCD|DSR|CTS), SCR
    assert regs == [0x00, 0x01, 0x00, 0x08, 0x60, 0xB0, 0x00]
    assert not irq.level


def test_uart_transmit_and_lsr() -> None:
    u, out, irq = uart()
    for b in b"Hi\n":
        assert u.read(5, 1) & 0x20          # THRE: ready
        u.write(0, 1, b)
    assert bytes(out) == b"Hi\n"
    assert u.read(5, 1) == 0x60
    assert irq.raises == 0                  # THRI not enabled
    u.write(0, 4, 0x1234_5641)              # wider stores use the low byte
    assert out[-1] == 0x41


def test_uart_dlab_and_scratch() -> None:
    u, out, _ = uart()
    u.write(3, 1, 0x83)                     # DLAB, 8N1
    u.write(0, 1, 0x34)
    u.write(1, 1, 0x12)
    assert (u.read(0, 1), u.read(1, 1), u.divider) == (0x34, 0x12, 0x1234)
    assert out == []                        # divisor writes are not data
    u.write(3, 1, 0x03)
    assert u.read(1, 1) == 0                # IER untouched by divisor writes
    u.write(7, 1, 0x5A)
    assert u.read(7, 1) == 0x5A
    u.write(5, 1, 0)                        # LSR is read-only
    assert u.read(5, 1) == 0x60


def test_uart_thre_interrupt_and_iir() -> None:
    u, _, irq = uart()
    u.write(1, 1, 0x02)                     # IER.THRI with THR empty: interrupt at once
    assert irq.level and u.read(2, 1) == 0x02
    assert not irq.level and u.read(2, 1) == 0x01   # reading IIR acknowledged it
    u.write(0, 1, ord("x"))                 # transmit completes: THRE interrupt again
    assert irq.level and u.read(2, 1) == 0x02
    u.write(1, 1, 0x00)
    assert not irq.level and u.read(2, 1) == 0x01


def test_uart_receive_overrun_and_rx_interrupt() -> None:
    u, _, irq = uart()
    u.write(1, 1, 0x05)                     # RDI | RLSI
    assert u.can_receive() == 1
    u.receive(b"a")
    assert u.read(5, 1) & 0x01 and u.read(2, 1) == 0x04 and irq.level
    assert u.can_receive() == 0
    u.receive(b"b")                         # overrun: OE, line-status interrupt first
    assert u.read(2, 1) == 0x06
    assert u.read(5, 1) & 0x02              # LSR read reports and clears OE
    assert not u.read(5, 1) & 0x02
    assert u.read(0, 1) == ord("b")
    assert not u.read(5, 1) & 0x01 and u.read(2, 1) == 0x01 and not irq.level


def test_uart_fifo_trigger_level_and_timeout() -> None:
    u, _, irq = uart()
    u.write(2, 1, 0xC1)                     # FIFO on, trigger level 14
    assert u.read(2, 1) == 0xC1             # FIFO-enabled bits, no interrupt
    u.write(1, 1, 0x01)
    assert u.can_receive() == 14
    u.receive(b"abc")
    assert u.read(2, 1) == 0xC1 and not irq.level      # below the trigger level
    u.tick()                                # a character time passes unread: timeout
    assert u.read(2, 1) == 0xCC and irq.level
    assert bytes(u.read(0, 1) for _ in range(3)) == b"abc"
    assert u.read(5, 1) & 0x01 == 0 and u.read(2, 1) == 0xC1
    u.receive(bytes(range(14)))
    assert u.read(2, 1) == 0xC4             # trigger level reached: data available
    u.write(2, 1, 0xC3)                     # receive FIFO reset
    assert u.rx_fifo == [] and u.read(5, 1) & 0x01 == 0


def test_uart_loopback() -> None:
    u, out, _ = uart()
    u.write(4, 1, 0x1F)                     # LOOP + DTR RTS OUT1 OUT2
    u.write(0, 1, 0x77)
    assert out == [] and u.read(0, 1) == 0x77
    assert u.read(6, 1) == 0xF0
    assert u.can_receive() == 0


def test_uart_snapshot_restore() -> None:
    u, _, _ = uart()
    u.write(2, 1, 0x01)
    u.receive(b"xyz")
    snap = u.snapshot()
    assert u.read(0, 1) == ord("x")
    u.restore(snap)
    assert bytes(u.read(0, 1) for _ in range(3)) == b"xyz"


# ---------------------------------------------------------------- LASI and friends

def test_lasi_irq_routing_to_eirr_bit() -> None:
    env = Environment()
    env.io_write(mm.LASI_HPA + mm.LASI_IMR, 4, 1 << mm.LASI_IRQ_UART)
    env.io_write(UART + 1, 1, 0x02)         # UART THRI -> LASI IRQ 5 -> CPU HPA store of 3
    assert env.take_eirr() == 1 << (31 - 3)
    assert env.io_read(mm.LASI_HPA + mm.LASI_IRR, 4) == 1 << 5
    assert env.io_read(mm.LASI_HPA + mm.LASI_IPR, 4) == 1 << 5
    assert env.io_read(mm.LASI_HPA + mm.LASI_IPR, 4) == 0       # read clears IPR
    env.io_write(mm.LASI_HPA + mm.LASI_IAR, 4, mm.CPU_HPA + 17)
    env.io_write(UART + 1, 1, 0x00)
    env.io_write(UART + 1, 1, 0x02)
    assert env.take_eirr() == 1 << (31 - 17)


def test_lasi_masked_or_bus_error_irq_is_not_delivered() -> None:
    env = Environment()
    env.io_write(UART + 1, 1, 0x02)         # IMR = 0: only IPR records it
    assert env.take_eirr() == 0
    assert env.io_read(mm.LASI_HPA + mm.LASI_IPR, 4) == 1 << 5
    env.io_write(mm.LASI_HPA + mm.LASI_IMR, 4, 1 << 5)
    env.io_write(mm.LASI_HPA + mm.LASI_ICR, 4, mm.LASI_ICR_BUS_ERROR)
    env.io_write(UART + 1, 1, 0x00)
    env.io_write(UART + 1, 1, 0x02)
    assert env.take_eirr() == 0
    assert env.io_read(mm.LASI_HPA + mm.LASI_ICR, 4) == mm.LASI_ICR_BUS_ERROR


def test_lasi_registers_and_power_off() -> None:
    off = []
    lasi = Lasi(power_off=lambda: off.append(1))
    assert lasi.read(mm.LASI_IAR, 4) == mm.CPU_HPA + 3
    lasi.write(mm.LASI_IRR, 4, 0xFFFF)                 # read-only
    assert lasi.read(mm.LASI_IRR, 4) == 0
    lasi.write(mm.LASI_ERRLOG, 4, 0xABCD)
    assert lasi.read(mm.LASI_ERRLOG, 4) == 0xABCD
    assert lasi.read(mm.LASI_VER, 4) == 0
    assert lasi.read(mm.LASI_IAR, 1) == (mm.CPU_HPA + 3) & 0xFF
    lasi.write(mm.LASI_PCR, 4, 1)
    assert off == []
    lasi.write(mm.LASI_PCR, 4, 2)
    assert off == [1]
    assert not lasi.decodes(0x14, 4) and not lasi.decodes(mm.LASI_IMR, 8)


def test_rtc_is_host_time_plus_offset() -> None:
    now = [1000.7]
    rtc = LasiRtc(clock=lambda: now[0])
    assert rtc.read(0, 4) == 1000
    rtc.write(0, 4, 5)
    now[0] += 3
    assert rtc.read(0, 4) == 8
    env = Environment(rtc_clock=lambda: 42.0)
    assert env.io_read(mm.LASI_RTC, 4) == 42


def test_cpu_hpa_raises_eirr_bit() -> None:
    env = Environment()
    env.io_write(mm.CPU_HPA, 4, 0)
    env.io_write(mm.CPU_HPA, 4, 31)
    env.io_write(mm.CPU_HPA, 4, 32 + 5)     # only the low 5 bits count
    assert env.take_eirr() == 0x80000000 | 1 | 1 << 26
    env.io_write(mm.CPU_HPA, 1, 0)          # not a 32-bit store: not decoded
    assert env.take_eirr() == 0


@pytest.mark.parametrize("pa", [mm.DINO_HPA + 0x008, mm.LASI_HPA + 0x14, 0x20000000, mm.MEMORY_HPA,
                                mm.LASI_RTC + 4])
def test_unmodelled_address_logged_once_reads_zero(pa: int, caplog) -> None:  # type: ignore[no-untyped-def]
    env = Environment()
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        assert env.io_read(pa, 4) == 0
        assert env.io_read(pa, 4) == 0
        env.io_write(pa, 4, 0xFFFFFFFF)
        env.io_write(pa, 4, 0xFFFFFFFF)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 2 and f"{pa:#010x}" in msgs[0]
    assert env.io_read(pa, 4) == 0 and env.take_eirr() == 0


def test_environment_snapshot_restore() -> None:
    env = Environment()
    env.io_write(mm.LASI_HPA + mm.LASI_IMR, 4, 0x20)
    env.io_write(UART + 7, 1, 0x99)
    snap = env.snapshot()
    env.io_write(mm.LASI_HPA + mm.LASI_IMR, 4, 0)
    env.io_write(UART + 7, 1, 0)
    env.restore(snap)
    assert env.io_read(mm.LASI_HPA + mm.LASI_IMR, 4) == 0x20
    assert env.io_read(UART + 7, 1) == 0x99


def test_host_interval_timer() -> None:
    t = [0]
    timer = HostIntervalTimer(clock_ns=lambda: t[0])
    t[0] = 4000
    assert timer.read() == 1000             # 250 MHz: ns / 4
    timer.write_compare(2000)               # 4000 ns ahead of start
    assert not timer.expired()
    t[0] = 8000
    assert timer.expired() and not timer.expired()    # fires once
    timer.write_compare(timer.read())       # "now": next round, 2^34 ns later
    t[0] += 10_000
    assert not timer.expired()


# ---------------------------------------------------------------- ELF loading

def test_elf_not_an_elf() -> None:
    with pytest.raises(GuestImageError, match="not an ELF"):
        parse_firmware(b"#!/bin/sh\necho hi\n")


def test_elf_wrong_architecture() -> None:
    true = Path("/bin/true")
    if not true.exists():
        pytest.skip("/bin/true missing")
    with pytest.raises(GuestImageError, match="wrong architecture"):
        read_firmware(true)
    with pytest.raises(GuestImageError, match="wrong architecture"):
        parse_firmware(make_elf(b"\0" * 8, big=False))


def test_elf_truncated() -> None:
    elf = make_elf(b"\x08\x00\x02\x40" * 64)
    with pytest.raises(GuestImageError, match="truncated"):
        parse_firmware(elf[:-10])
    with pytest.raises(GuestImageError):
        parse_firmware(elf[:30])           # not even a whole ELF header


@pytest.mark.parametrize("paddr,memsz", [(0x1000, 8), (mm.FIRMWARE_END - 4, 8),
                                         (0xFFD00000, 8)])
def test_elf_segment_outside_firmware(paddr: int, memsz: int) -> None:
    with pytest.raises(GuestImageError, match="outside the firmware region"):
        parse_firmware(make_elf(b"\0" * 8, paddr=paddr, memsz=memsz))


def test_elf_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GuestImageError, match="cannot read"):
        read_firmware(tmp_path / "nope.elf")


# ---------------------------------------------------------------- the machine

machine_mod = pytest.importorskip("hvdbg.machine.machine")
Machine = machine_mod.Machine
from hvdbg.machine.stop import StopReason


def test_boot_state_as_qemu(tmp_path: Path) -> None:
    code = b"\xe8\x1f\x1f\xf7\x08\x00\x02\x40"          # b,n . ; nop
    f = tmp_path / "spin.elf"
    f.write_bytes(make_elf(code, paddr=mm.FIRMWARE_START + 0x100, memsz=64))
    m = Machine(64)
    m.core.write_phys(mm.FIRMWARE_START + 0x108, b"\xff" * 8)   # must be zero-filled
    m.load_bios(f)
    c = m.core
    assert c.read_phys(mm.FIRMWARE_START + 0x100, 16) == code + bytes(8)
    assert (c.regs["pcoqh"], c.regs["pcoqt"]) == (0xF0000100, 0xF0000104)
    assert c.regs["r26"] == 64 << 20 and c.regs["r25"] == 0 and c.regs["r24"] == ord("c")
    assert (c.regs["r21"], c.regs["r19"], c.regs["r5"]) == (1, 0xFFFA0000, 0xFFFB0000)
    assert c.regs["psw"] == 0x8             # as QEMU 7.2 (Debian) reports at reset
    others = {n for n in range(1, 32)} - {5, 19, 21, 24, 26}
    assert all(c.regs[n] == 0 for n in others)
    r = m.run(max_insns=1000)
    assert r.reason is StopReason.LIMIT and r.executed == 1000 and r.pc == 0xF0000100
    assert "0xf0000100" in r.disassembly


ROUTE = """
        ldil L%0xffd00000,%r4
        ldi 0x20,%r5
        stw %r5,4(%r4)              ; LASI IMR: UART
        ldil L%0xffd05800,%r6
        ldo R%0xffd05800(%r6),%r6
        ldi 2,%r7
        stb %r7,1(%r6)              ; UART IER.THRI -> interrupt
        ldi 0x48,%r7
        stb %r7,0(%r6)              ; 'H'
        ldil L%0xffd0c000,%r8
        ldi 2,%r9
        stw %r9,0(%r8)              ; power off
spin:   b,n spin
"""


def test_machine_run_routes_uart_irq_and_powers_off() -> None:
    from test_cpu_api import assemble
    out: list[bytes] = []
    m = Machine(16, env=Environment(console=out.append))
    code = assemble(ROUTE)
    m.core.write_phys(mm.FIRMWARE_START, code)
    m.core.set_pc(mm.FIRMWARE_START)
    r = m.run(max_insns=10_000)
    assert r.reason is StopReason.POWER_OFF
    assert b"".join(out) == b"H"
    assert m.core.regs["eirr"] == 1 << 28   # EIRR bit 3 from LASI's reset IAR
    assert r.icount == 11                   # the power-off store has not retired


def test_machine_timeout_and_stop() -> None:
    m = Machine(16)
    m.core.write_phys(0x1000, b"\xe8\x1f\x1f\xf7")
    m.core.set_pc(0x1000)
    r = m.run(timeout=0.05)
    assert r.reason is StopReason.TIMEOUT and r.executed > 0
    m.request_stop()
    assert m.run().reason is StopReason.INTERRUPTED


TIMER = """
        mfctl %cr16,%r3
        ldil L%250000,%r4
        ldo R%250000(%r4),%r4
        add %r3,%r4,%r4
        mtctl %r4,%cr16             ; compare = now + 1 ms at 250 MHz
wait:   mfctl %cr23,%r5
        extru,<> %r5,0,1,%r0        ; EIRR bit 0 (interval timer)
        b,n wait
        mfctl %cr16,%r6
        ldil L%0xffd0c000,%r1
        ldi 2,%r2
        stw %r2,0(%r1)
"""


@pytest.mark.parametrize("clock", ["host", "virtual"])
def test_interval_timer_raises_eirr_bit_0(clock: str) -> None:
    from test_cpu_api import assemble
    code = assemble(TIMER)
    deltas = []
    for _ in range(2):
        m = Machine(16, clock=clock)
        m.core.write_phys(mm.FIRMWARE_START, code)
        m.core.set_pc(mm.FIRMWARE_START)
        r = m.run(timeout=10)
        if m.core.state.illegal_count:
            pytest.skip("system control instructions (mtctl/mfctl) not in the core yet")
        assert r.reason is StopReason.POWER_OFF
        assert m.core.regs["eirr"] & 0x80000000
        deltas.append((m.core.regs["r6"] - m.core.regs["r3"]) & 0xFFFFFFFF)
        assert 250_000 <= deltas[-1] < 250_000 * 50      # not early, not absurdly late
    if clock == "virtual":
        assert deltas[0] == deltas[1]                     # deterministic
