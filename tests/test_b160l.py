"""The rest of QEMU 7.2's B160L: fw_cfg, Dino, the CMOS RTC, the clocks behind the
RTCs, kernel loading, and the unmodified SeaBIOS-hppa firmware against QEMU.  (The
guest-visible register behaviour of these devices is also compared with QEMU byte for
byte by the ``b160l_devices`` bare-metal guest.)"""
from __future__ import annotations

import calendar
import logging
import os
import struct
import subprocess
import sys
from pathlib import Path

import guestbuild as gb
import pytest
from test_machine import make_elf

from hvdbg.machine import fwcfg
from hvdbg.machine import memmap as mm
from hvdbg.machine.cmos import CmosRtc
from hvdbg.machine.dino import Dino
from hvdbg.machine.elf import GuestImageError, parse_kernel
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import Machine
from hvdbg.machine.stop import StopReason

FIRMWARE = Path("/usr/share/qemu/hppa-firmware.img")
FW_CTL, FW_DATA = mm.FW_CFG_IO_BASE, mm.FW_CFG_IO_BASE + 4


def need_firmware() -> Path:
    if not FIRMWARE.exists():
        msg = f"{FIRMWARE} not found (Debian package qemu-system-data)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return FIRMWARE


# ---------------------------------------------------------------- fw_cfg

def fw_read(env: Environment, key: int, n: int) -> bytes:
    env.io_write(FW_CTL, 2, key)
    return bytes(env.io_read(FW_DATA, 1) for _ in range(n))


def test_fw_cfg_items_as_qemu_hppa() -> None:
    env = Environment()
    env.configure(1024 * mm.MIB)
    env.reset()
    assert fw_read(env, fwcfg.SIGNATURE, 6) == b"QEMU\0\0"
    assert struct.unpack("<I", fw_read(env, fwcfg.ID, 4)) == (1,)           # no DMA
    assert struct.unpack("<Q", fw_read(env, fwcfg.RAM_SIZE, 8)) == (1 << 30,)
    assert struct.unpack("<HHHH", fw_read(env, fwcfg.NB_CPUS, 2) + fw_read(env, fwcfg.MAX_CPUS, 2)
                         + fw_read(env, fwcfg.BOOT_DEVICE, 2)
                         + fw_read(env, fwcfg.NOGRAPHIC, 2)) == (1, 16, ord("c"), 1)
    assert fw_read(env, 0x8003, 4) == bytes(4)          # no arch-local items
    assert fw_read(env, 0x7FFF, 4) == bytes(4)          # beyond the last slot: invalid


def test_fw_cfg_files_seabios_reads() -> None:
    env = Environment()
    files = env.fw_cfg.files
    assert list(files) == sorted(files)                 # QEMU sorts by name
    assert set(files) == {"/etc/firmware-min-version", "/etc/cpu/tlb_entries",
                          "/etc/cpu/btlb_entries", "/etc/power-button-addr",
                          "/etc/qemu-version", "bootorder", "bios-geometry",
                          "etc/boot-fail-wait"}
    as_int = {n: struct.unpack("<Q", fw_read(env, files[n], 8))[0]
              for n in ("/etc/firmware-min-version", "/etc/cpu/tlb_entries",
                        "/etc/cpu/btlb_entries", "/etc/power-button-addr")}
    assert as_int == {"/etc/firmware-min-version": 6, "/etc/cpu/tlb_entries": 256,
                      "/etc/cpu/btlb_entries": 0, "/etc/power-button-addr": 0xF07FFFF0}
    # the directory: big-endian count, then size, select, reserved, 56-byte name
    d = fw_read(env, fwcfg.FILE_DIR, 4 + 64 * 32)
    assert struct.unpack_from(">I", d)[0] == len(files)
    size, key, _ = struct.unpack_from(">IHH", d, 4)
    assert (size, key) == (8, 0x20) and d[12:12 + 21] == b"/etc/cpu/btlb_entries"


def test_fw_cfg_select_restarts_and_snapshot() -> None:
    env = Environment()
    env.io_write(FW_CTL, 2, fwcfg.SIGNATURE)
    assert env.io_read(FW_DATA, 1) == ord("Q")
    snap = env.snapshot()
    assert env.io_read(FW_DATA, 1) == ord("E")
    env.restore(snap)
    assert env.io_read(FW_DATA, 1) == ord("E")
    env.reset()                                         # reset selects the signature
    assert env.io_read(FW_DATA, 1) == ord("Q")


# ---------------------------------------------------------------- Dino

def test_dino_config_space_is_empty_and_little_endian_window() -> None:
    d = Dino()
    d.write(0x064, 4, 0x80000800)
    assert d.read(0x064, 4) == 0x80000800
    assert d.read(0x068, 4) == 0xFFFFFFFF and d.read(0x06A, 2) == 0xFFFF
    assert d.read(0x06B, 1) == 0xFF
    assert not d.decodes(0x064, 2) and not d.decodes(0x008, 4) and not d.decodes(0x818, 4)


def test_dino_irq_edge_delivery_and_registers() -> None:
    stores: list[tuple[int, int, int]] = []
    d = Dino(bus_write=lambda pa, size, v: stores.append((pa, size, v)))
    d.set_irq(10, True)                                 # masked: latched in IPR only
    assert stores == [] and d.read(0x01C, 4) == 0x400 and d.read(0x01C, 4) == 0
    d.write(0x018, 4, 0x400)                            # IMR
    d.set_irq(10, True)                                 # still high: no new edge
    assert stores == []
    d.set_irq(10, False)
    d.set_irq(10, True)
    assert stores == [(mm.CPU_HPA, 4, 3)]
    d.write(0x024, 4, 0x400)                            # ICR: route through IAR1
    d.write(0x010, 4, mm.CPU_HPA + 7)
    d.set_irq(10, False)
    d.set_irq(10, True)
    assert stores[-1] == (mm.CPU_HPA, 4, 7)
    assert d.read(0x014, 4) == 0x400 and d.read(0x00C, 4) == 0      # IRR1 / IRR0
    snap = d.snapshot()
    d.reset()
    assert d.read(0x004, 4) == mm.CPU_HPA + 3 and d.read(0x020, 4) == 0xFFFA0030
    d.restore(snap)
    assert d.read(0x010, 4) == mm.CPU_HPA + 7


def test_dino_uart_interrupt_reaches_eirr() -> None:
    env = Environment()
    env.io_write(mm.DINO_HPA + 0x018, 4, 1 << 10)       # Dino IMR: its UART
    env.io_write(mm.DINO_UART + 1, 1, 0x02)             # IER.THRI: THR is empty
    assert env.take_eirr() == 1 << (31 - 3)             # IAR0 = CPU HPA + 3


# ---------------------------------------------------------------- clocks

def test_rtcs_from_host_clock() -> None:
    t = calendar.timegm((2031, 5, 17, 13, 45, 9, 0, 0, 0))
    env = Environment(rtc_clock=lambda: t + 0.9)
    assert env.io_read(mm.LASI_RTC, 4) == t
    cmos = {}
    for reg in (0, 2, 4, 6, 7, 8, 9, 0x32):
        env.io_write(mm.CMOS_RTC, 1, reg)
        cmos[reg] = env.io_read(mm.CMOS_RTC + 1, 1)
    # BCD, 24 hours, year relative to QEMU's base year 2000; 2031-05-17 is a Saturday
    assert cmos == {0: 0x09, 2: 0x45, 4: 0x13, 6: 0x07, 7: 0x17, 8: 0x05, 9: 0x31, 0x32: 0}


def test_rtcs_from_instruction_count_in_virtual_mode() -> None:
    env = Environment(rtc_clock=lambda: 1e9)           # host time must not leak in
    count = [0]
    env.use_virtual_clock(lambda: count[0], ticks_per_insn=4)
    assert env.io_read(mm.LASI_RTC, 4) == mm.VIRTUAL_EPOCH
    count[0] = 250_000_000 // 4 * 10 - 1                # just under 10 s of ticks
    assert env.io_read(mm.LASI_RTC, 4) == mm.VIRTUAL_EPOCH + 9
    count[0] += 1
    assert env.io_read(mm.LASI_RTC, 4) == mm.VIRTUAL_EPOCH + 10
    env.io_write(mm.LASI_RTC, 4, 100)                   # the guest sets the clock
    count[0] += 250_000_000 // 4 * 3
    assert env.io_read(mm.LASI_RTC, 4) == 103
    env.io_write(mm.CMOS_RTC, 1, 0)
    assert env.io_read(mm.CMOS_RTC + 1, 1) == 0x13      # 2024-01-01 00:00:13
    env.use_host_clock()
    # the offset the guest set (at virtual second 10) now applies to host time
    assert env.io_read(mm.LASI_RTC, 4) == (10**9 + 100 - (mm.VIRTUAL_EPOCH + 10)) & 0xFFFFFFFF


def test_machine_supplies_icount_to_the_environment() -> None:
    m = Machine(16, clock="virtual", ticks_per_insn=250)
    code = b"\x08\x00\x02\x40" * 4 + b"\xe8\x1f\x1f\xf7"   # nops, then b,n .
    m.core.write_phys(mm.FIRMWARE_START, code)
    m.core.set_pc(mm.FIRMWARE_START)
    assert m.env.wall_seconds() == mm.VIRTUAL_EPOCH
    m.run(max_insns=3_000_000)                          # 3e6 * 250 ticks = 3 s
    assert m.env.wall_seconds() == mm.VIRTUAL_EPOCH + 3
    assert Machine(16, clock="host").env.wall_seconds() > 1.6e9


def test_cmos_snapshot_and_ram() -> None:
    c = CmosRtc(clock=lambda: 0)
    c.write(0, 1, 0x40)
    c.write(1, 1, 0x5A)
    snap = c.snapshot()
    c.reset()
    assert c.read(1, 1) == 0
    c.restore(snap)
    assert c.read(1, 1) == 0x5A and c.read(0, 1) == 0xFF


def test_isa_window_unmodelled_port_logged_once(caplog) -> None:  # type: ignore[no-untyped-def]
    env = Environment()
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        assert env.io_read(mm.ISA_IO_BASE + 0x1F7, 1) == 0      # IDE status: nothing there
        assert env.io_read(mm.ISA_IO_BASE + 0x1F7, 1) == 0
    assert len(caplog.records) == 1 and "0xf90001f7" in caplog.records[0].getMessage()


# ---------------------------------------------------------------- kernel loading

def kernel_elf(vaddr: int = 0x10100000, size: int = 0x2000, entry_off: int = 0x100) -> bytes:
    """An ELF like a vmlinux: virtual and physical addresses 0x10100000 and up."""
    return make_elf(bytes(range(256)) * (size // 256), paddr=vaddr, entry=vaddr + entry_off)


def test_kernel_addresses_masked_to_28_bits() -> None:
    k = parse_kernel(kernel_elf())
    assert k.entry == 0x00100100 and k.segments[0].paddr == 0x00100000
    assert k.high == 0x00102000
    with pytest.raises(GuestImageError):
        parse_kernel(b"\x7fELF" + bytes(60))


def test_boot_registers_cmdline_and_initrd_as_qemu(tmp_path: Path) -> None:
    bios = tmp_path / "fw.elf"
    bios.write_bytes(make_elf(b"\xe8\x1f\x1f\xf7", paddr=mm.FIRMWARE_START + 0x100))
    vm = tmp_path / "vmlinux"
    vm.write_bytes(kernel_elf())
    rd = tmp_path / "initrd.gz"
    rd.write_bytes(b"\x1f\x8b" + bytes(5000))
    m = Machine(512)
    m.load_linux(bios, vm, rd, "console=ttyS0 panic=-1")
    c = m.core
    assert c.read_phys(0x00100000, 4) == bytes([0, 1, 2, 3])
    base = (512 * mm.MIB - 64 * 1024 - 5002) & ~0xFFF
    assert (c.regs["r26"], c.regs["r25"], c.regs["r24"]) == (512 << 20, 0x00100100, 0x4000)
    assert (c.regs["r23"], c.regs["r22"]) == (base, base + 5002)
    assert (c.regs["r21"], c.regs["r19"], c.regs["r5"]) == (1, mm.FW_CFG_IO_BASE, mm.CPU_HPA)
    assert c.read_phys(0x4000, 23) == b"console=ttyS0 panic=-1\0"
    assert c.read_phys(base, 2) == b"\x1f\x8b"
    m2 = Machine(2048)                                  # the initrd stays below 1 GiB
    m2.load_linux(bios, vm, rd)
    assert m2.core.regs["r23"] == (mm.MIB * 1024 - 64 * 1024 - 5002) & ~0xFFF
    big = tmp_path / "big"
    big.write_bytes(bytes(15 * mm.MIB))
    with pytest.raises(GuestImageError, match="too large"):
        Machine(16).load_linux(bios, vm, big)


# ---------------------------------------------------------------- the firmware

def run_both(*args: str) -> tuple[bytes, bytes]:
    qemu = gb.need_tool(gb.QEMU)
    fw = need_firmware()
    q = subprocess.run([qemu, "-nodefaults", "-nographic", "-serial", "stdio", "-monitor", "none",
                        "-no-reboot", "-bios", str(fw), *args], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60, check=False)
    h = subprocess.run([sys.executable, "-m", "hvdbg", "run", "--bios", str(fw), *args],
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    assert h.returncode == 0, h.stderr.decode(errors="replace")
    return q.stdout, h.stdout


@pytest.mark.parametrize("mem", ["512", "64"])
def test_seabios_firmware_output_matches_qemu(mem: str) -> None:
    q, h = run_both("-m", mem)
    assert b"SeaBIOS PA-RISC Firmware Version 6" in q
    assert h == q


def test_seabios_firmware_halts_on_the_default_machine() -> None:
    fw = need_firmware()
    out: list[bytes] = []
    m = Machine(256, env=Environment(console=out.append))
    m.load_bios(fw)
    r = m.run(max_insns=50_000_000)
    assert r.reason is StopReason.HALT
    text = b"".join(out)
    assert b"Available memory:     256 MB" in text and b"No boot device." in text


def test_parallel_port_spp_handshake_and_snapshot() -> None:
    from hvdbg.machine.parallel import ParallelPort
    out: list[int] = []
    levels: list[bool] = []
    p = ParallelPort(irq=levels.append, out=out.append)
    assert [p.read(r, 1) for r in range(4)] == [0xFF, 0xD9, 0xCC, 0xFF]
    p.write(0, 1, 0x41)
    p.write(2, 1, 0x0D)                                 # strobe: the byte goes out
    assert out == [0x41] and p.read(1, 1) & 0x80 == 0
    snap = p.snapshot()
    p.write(2, 1, 0x1C)                                 # interrupts on, strobe released
    p.write(2, 1, 0x1C)                                 # ... select again: interrupt
    assert levels[-1] is True
    p.read(1, 1)                                        # reading status acknowledges
    assert levels[-1] is False
    p.restore(snap)
    assert p.read(2, 1) == 0xCD


class FakeMemory:
    ram_size = 0

    def __init__(self) -> None:
        self.mem: dict[int, bytes] = {}

    def read_phys(self, pa: int, length: int) -> bytes:
        return self.mem.get(pa, bytes(length))

    def write_phys(self, pa: int, data: bytes) -> None:
        self.mem[pa] = bytes(data)


def test_soft_power_button_word() -> None:
    env = Environment()
    mem = FakeMemory()
    env.memory = mem
    mem.write_phys(mm.POWER_BUTTON, (0x101).to_bytes(4, "big"))   # software control
    env.press_power_button()
    assert not env.power_off_requested                  # applied by service(), not at once
    env.service()
    assert mem.read_phys(mm.POWER_BUTTON, 4) == (0x100).to_bytes(4, "big")
    assert not env.power_off_requested                  # the guest polls bit 0
    mem.write_phys(mm.POWER_BUTTON, (0x001).to_bytes(4, "big"))   # hardware control
    env.press_power_button()
    env.service()
    assert env.power_off_requested


def test_power_button_powers_off_the_firmware_machine() -> None:
    fw = need_firmware()
    m = Machine(64)
    m.load_bios(fw)
    m.press_power_button()                              # word 0: hardware control
    assert m.run(max_insns=1000).reason is StopReason.POWER_OFF
