"""The B160L physical memory map and boot constants (machine.md; facts from QEMU 7.2's
hw/hppa).  The one place these numbers live on the Python side; csrc/internal.h holds
the few the core needs (firmware region, I/O boundary)."""
from __future__ import annotations

MIB = 1 << 20

DEFAULT_RAM_MIB = 256
MAX_RAM = 3 << 30

FIRMWARE_START = 0xF0000000
FIRMWARE_END = 0xF0800000                  # exclusive; RAM-like VM state, not I/O
POWER_BUTTON = FIRMWARE_END - 0x10         # soft power button word (in the firmware region)

LASI_HPA = 0xFFD00000
LASI_SIZE = 0x00100000
LASI_UART = LASI_HPA + 0x5800              # 16550A console, LASI IRQ 5
LASI_UART_SIZE = 8
LASI_RTC = LASI_HPA + 0x9000               # 32-bit seconds counter
LASI_IRQ_UART = 5
LASI_PARALLEL = LASI_HPA + 0x2800          # PC-style parallel port
LASI_IRQ_PARALLEL = 8                      # where QEMU 7.2 wires it (the LAN input)

DINO_HPA = 0xFFF80000
DINO_SIZE = 0x1000
DINO_UART = 0xFFF83800                     # 16550A, Dino IRQ 10 (QEMU's second -serial)
FW_CFG_IO_BASE = 0xFFFA0000
ISA_IO_BASE = 0xF9000000                   # QEMU's ISA I/O window (0x800 bytes)
CMOS_RTC = ISA_IO_BASE + 0x70              # MC146818 index/data ports
CPU_HPA = 0xFFFB0000                       # CPU n at CPU_HPA + n * 0x1000
CPU_HPA_STRIDE = 0x1000
MEMORY_HPA = 0xFFFFF000

LINUX_PAGE_OFFSET = 0x10000000             # 32-bit parisc Linux maps RAM at PA + this
CPU_CLOCK_HZ = 250_000_000                 # CR16 ticks per second
# --clock virtual: the RTCs read VIRTUAL_EPOCH + icount * ticks_per_insn / CPU_CLOCK_HZ
VIRTUAL_EPOCH = 1_704_067_200              # 2024-01-01 00:00:00 UTC

# LASI chip register offsets
LASI_IRR = 0x00
LASI_IMR = 0x04
LASI_IPR = 0x08
LASI_ICR = 0x0C
LASI_IAR = 0x10
LASI_PCR = 0xC000
LASI_ERRLOG = 0xC004
LASI_VER = 0xC008
LASI_IORESET = 0xC00C
LASI_AMR = 0xC010
LASI_ICR_BUS_ERROR = 1 << 8                # ICR bit 8 suppresses interrupt delivery
LASI_PCR_POWER_OFF = 2

BOOT_ORDER_DISK = ord("c")                 # QEMU hppa's default boot order is "cd"


def in_firmware(pa: int, size: int = 1) -> bool:
    return FIRMWARE_START <= pa and pa + size <= FIRMWARE_END
