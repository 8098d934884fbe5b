"""QEMU's firmware configuration device as the B160L maps it (facts from QEMU 7.2's
hw/nvram/fw_cfg.c and hw/hppa/machine.c): memory-mapped, no DMA, control port at
``FW_CFG_IO_BASE`` (a 16-bit big-endian store selects an item) and a one-byte data port
at ``FW_CFG_IO_BASE + 4`` that streams the selected item from its start.

The items are fixed at construction (RAM size, CPU counts, boot device, the files
SeaBIOS-hppa Version 6 reads); the only run-time state is the selected item and the
read offset, so the device is deterministic and its snapshot is two integers.
"""
from __future__ import annotations

import struct
from typing import Any

from hvdbg.machine import memmap as mm

# item keys (QEMU's standard-headers/linux/qemu_fw_cfg.h)
SIGNATURE, ID, UUID, RAM_SIZE, NOGRAPHIC, NB_CPUS = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
BOOT_DEVICE, BOOT_MENU, MAX_CPUS, FILE_DIR = 0x0C, 0x0E, 0x0F, 0x19
FILE_FIRST = 0x20
FILE_SLOTS = 0x20                  # QEMU's default number of file slots
ARCH_LOCAL = 0x8000
ENTRY_MASK = 0x3FFF                # without the write-channel and arch-local bits
INVALID = 0xFFFF
MAX_FILE_PATH = 56

CTL_OFFSET = 0                     # 16-bit select, write only
DATA_OFFSET = 4                    # 8-bit data, read only
REGION_SIZE = 8

MIN_SEABIOS_HPPA_VERSION = 6       # hw/hppa/machine.c
TLB_ENTRIES = 256                  # target/hppa: HPPA_TLB_ENTRIES
BTLB_ENTRIES = 0                   # target/hppa: HPPA_BTLB_ENTRIES
MAX_CPUS_HPPA = 16
QEMU_VERSION = "7.2.22"            # Debian bookworm's QEMU, whose stable patches add the file


def _le64(v: int) -> bytes:
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


def b160l_items(ram_size: int, cpus: int = 1, boot_device: int = mm.BOOT_ORDER_DISK,
                boot_menu: bool = False, graphics: bool = False
                ) -> tuple[dict[int, bytes], dict[str, bytes]]:
    """The plain items and the named files QEMU 7.2's B160L offers, for ``-nodefaults``
    with no drives and no ``-fw_cfg`` options."""
    items = {
        SIGNATURE: b"QEMU",
        ID: struct.pack("<I", 1),                      # version 1: no DMA interface
        UUID: bytes(16),
        NOGRAPHIC: struct.pack("<H", 0 if graphics else 1),
        BOOT_MENU: struct.pack("<H", int(boot_menu)),
        NB_CPUS: struct.pack("<H", cpus),
        MAX_CPUS: struct.pack("<H", MAX_CPUS_HPPA),
        RAM_SIZE: _le64(ram_size),
        BOOT_DEVICE: struct.pack("<H", boot_device & 0xFFFF),
    }
    files = {
        "etc/boot-fail-wait": struct.pack("<i", -1),   # no -boot reboot-timeout
        "/etc/firmware-min-version": _le64(MIN_SEABIOS_HPPA_VERSION),
        "/etc/cpu/tlb_entries": _le64(TLB_ENTRIES),
        "/etc/cpu/btlb_entries": _le64(BTLB_ENTRIES),
        "/etc/power-button-addr": _le64(mm.POWER_BUTTON),
        "/etc/qemu-version": QEMU_VERSION.encode() + b"\0",
        "bootorder": b"",                              # no device has a boot index
        "bios-geometry": b"",
    }
    return items, files


class FwCfg:
    """``FwCfg(items, files)``: ``items`` maps keys to contents; ``files`` become the
    file directory (sorted by name, as QEMU sorts them on non-legacy machines) and the
    items ``FILE_FIRST + i``."""

    def __init__(self, items: dict[int, bytes], files: dict[str, bytes]) -> None:
        self.configure(items, files)
        self.reset()

    def configure(self, items: dict[int, bytes], files: dict[str, bytes]) -> None:
        """Replace the contents (machine configuration, not device state)."""
        if len(files) > FILE_SLOTS:
            raise ValueError(f"at most {FILE_SLOTS} fw_cfg files")
        self.entries: dict[int, bytes] = dict(items)
        names = sorted(files, key=lambda n: n.encode())
        directory = bytearray(struct.pack(">I", len(names)))
        for i, name in enumerate(names):
            raw = name.encode()
            if len(raw) >= MAX_FILE_PATH:
                raise ValueError(f"fw_cfg file name too long: {name}")
            directory += struct.pack(">IHH", len(files[name]), FILE_FIRST + i, 0)
            directory += raw.ljust(MAX_FILE_PATH, b"\0")
            self.entries[FILE_FIRST + i] = files[name]
        # QEMU allocates the directory for every slot; unused ones are zero
        directory += bytes(64 * (FILE_SLOTS - len(names)))
        self.entries[FILE_DIR] = bytes(directory)

    @property
    def files(self) -> dict[str, int]:
        """File name -> select key (from the directory)."""
        d = self.entries[FILE_DIR]
        (count,) = struct.unpack_from(">I", d)
        out = {}
        for i in range(count):
            _, key, _ = struct.unpack_from(">IHH", d, 4 + 64 * i)
            out[d[12 + 64 * i:4 + 64 * (i + 1)].rstrip(b"\0").decode()] = key
        return out

    # ---- state ----
    def reset(self) -> None:
        self.select(SIGNATURE)

    def snapshot(self) -> dict[str, Any]:
        return {"cur_entry": self.cur_entry, "cur_offset": self.cur_offset}

    def restore(self, d: dict[str, Any]) -> None:
        self.cur_entry = d["cur_entry"]
        self.cur_offset = d["cur_offset"]

    def select(self, key: int) -> None:
        self.cur_offset = 0
        if key & ENTRY_MASK >= FILE_FIRST + FILE_SLOTS:
            self.cur_entry = INVALID
        else:
            self.cur_entry = key & 0xFFFF

    def _data(self) -> bytes:
        if self.cur_entry == INVALID or self.cur_entry & ARCH_LOCAL:
            return b""                 # the B160L has no arch-local items
        return self.entries.get(self.cur_entry & ENTRY_MASK, b"")

    # ---- bus interface ----
    def decodes(self, offset: int, size: int) -> bool:
        return (offset == CTL_OFFSET and size == 2) or (offset == DATA_OFFSET and size == 1)

    def read(self, offset: int, size: int) -> int:
        if offset != DATA_OFFSET:
            return 0
        data = self._data()
        if self.cur_offset < len(data):
            b = data[self.cur_offset]
            self.cur_offset += 1
            return b
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == CTL_OFFSET:
            self.select(value & 0xFFFF)
        # writes to the data port do nothing (QEMU removed write support in 2.4)
