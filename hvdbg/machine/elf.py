"""Loading a firmware / bare-metal ELF into the firmware region, as QEMU's B160L does
(PT_LOAD segments at their physical addresses; the CPU starts at ``e_entry``)."""
from __future__ import annotations

import io
import os
import stat
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from hvdbg.machine import memmap


class GuestImageError(Exception):
    """The file is not a PA-RISC firmware image hvdbg can load."""


class PhysWriter(Protocol):
    def write_phys(self, pa: int, data: bytes) -> None: ...


@dataclass(frozen=True)
class Segment:
    paddr: int
    data: bytes      # file contents; the rest up to memsz is zero
    memsz: int


@dataclass(frozen=True)
class FirmwareImage:
    entry: int
    segments: tuple[Segment, ...]

    @property
    def low(self) -> int:
        return min((s.paddr for s in self.segments), default=self.entry)

    @property
    def high(self) -> int:
        return max((s.paddr + s.memsz for s in self.segments), default=self.entry)


def _pt_load(data: bytes, name: str, addr_mask: int = 0xFFFFFFFF
             ) -> tuple[int, list[Segment]]:
    """The entry point and the PT_LOAD segments of a 32-bit big-endian PA-RISC ELF, with
    entry and physical addresses masked by ``addr_mask``; GuestImageError otherwise."""
    if data[:4] != b"\x7fELF":
        raise GuestImageError(f"{name}: not an ELF file")
    try:
        elf = ELFFile(io.BytesIO(data))
        machine, cls, little = elf["e_machine"], elf.elfclass, elf.little_endian
        entry = elf["e_entry"]
        headers = [elf.get_segment(i).header for i in range(elf.num_segments())]
    except (ELFError, ValueError, EOFError, struct.error) as e:
        raise GuestImageError(f"{name}: damaged or truncated ELF ({e})") from None
    if machine != "EM_PARISC" or cls != 32 or little:
        kind = f"{machine}, {cls}-bit, {'little' if little else 'big'}-endian"
        raise GuestImageError(f"{name}: wrong architecture ({kind}); "
                              "need a 32-bit big-endian PA-RISC (EM_PARISC) ELF")
    segments = []
    for ph in headers:
        if ph["p_type"] != "PT_LOAD" or ph["p_memsz"] == 0:
            continue
        off, filesz, memsz = ph["p_offset"], ph["p_filesz"], ph["p_memsz"]
        pa = ph["p_paddr"] & addr_mask
        if filesz > memsz:
            raise GuestImageError(f"{name}: segment at {pa:#010x} has filesz > memsz")
        if off + filesz > len(data):
            raise GuestImageError(f"{name}: truncated file (segment at {pa:#010x} needs bytes "
                                  f"up to {off + filesz:#x}, file has {len(data):#x})")
        segments.append(Segment(pa, data[off:off + filesz], memsz))
    if not segments:
        raise GuestImageError(f"{name}: no loadable segments")
    return entry & addr_mask, segments


# The largest file each image may be: the firmware region holds 8 MiB (the rest of a
# firmware ELF is symbols), a vmlinux with its symbols stays well below 256 MiB, and an
# initrd has to fit below 1 GiB of RAM (hw/hppa/machine.c).  A bigger file -- or an
# endless one such as /dev/zero -- is refused instead of read without bound.
IMAGE_LIMITS = {"bios": 64 << 20, "kernel": 256 << 20, "initrd": 1 << 30}
_CHUNK = 1 << 20


def read_image(path: str | Path, kind: str = "bios", limit: int | None = None) -> bytes:
    """The whole file ``path`` as the ``kind`` image (bios, kernel, initrd), at most
    ``limit`` bytes (default ``IMAGE_LIMITS[kind]``); GuestImageError names the file
    otherwise."""
    p = Path(path)
    limit = min(IMAGE_LIMITS[kind], limit if limit is not None else IMAGE_LIMITS[kind])
    too_big = GuestImageError(f"{p}: larger than {limit / (1 << 20):g} MiB, the limit "
                              f"for the {kind} image here")
    try:
        with open(p, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode) and st.st_size > limit:
                raise too_big
            chunks, n = [], 0
            while chunk := f.read(min(_CHUNK, limit + 1 - n)):
                chunks.append(chunk)
                n += len(chunk)
                if n > limit:             # a device or pipe that does not end
                    raise too_big
            return b"".join(chunks)
    except OSError as e:
        raise GuestImageError(f"{p}: cannot read ({e.strerror or e})") from None


def _read(path: str | Path, kind: str) -> tuple[bytes, str]:
    return read_image(path, kind), str(path)


def parse_firmware(data: bytes, name: str = "image") -> FirmwareImage:
    """Check and decode a firmware ELF held in ``data``: every segment and the entry
    point must lie in the firmware region."""
    entry, segments = _pt_load(data, name)
    for seg in segments:
        if not memmap.in_firmware(seg.paddr, seg.memsz):
            raise GuestImageError(
                f"{name}: segment {seg.paddr:#010x}-{seg.paddr + seg.memsz:#010x} lies "
                f"outside the firmware region "
                f"{memmap.FIRMWARE_START:#010x}-{memmap.FIRMWARE_END:#010x}")
    if not memmap.in_firmware(entry, 4):
        raise GuestImageError(f"{name}: entry point {entry:#010x} is outside the firmware region")
    return FirmwareImage(entry, tuple(segments))


def read_firmware(path: str | Path) -> FirmwareImage:
    return parse_firmware(*_read(path, "bios"))


def load_firmware(mem: PhysWriter, image: FirmwareImage) -> int:
    """Copy ``image`` into guest memory (zero-filling up to memsz); returns the entry."""
    for seg in image.segments:
        mem.write_phys(seg.paddr, seg.data + bytes(seg.memsz - len(seg.data)))
    return image.entry


KERNEL_ADDR_MASK = 0x0FFFFFFF      # QEMU's hppa loader keeps the low 28 bits


@dataclass(frozen=True)
class KernelImage:
    entry: int                     # physical (masked) entry address
    segments: tuple[Segment, ...]  # at physical (masked) addresses

    @property
    def high(self) -> int:
        return max(s.paddr + s.memsz for s in self.segments)


def parse_kernel(data: bytes, name: str = "kernel") -> KernelImage:
    """A Linux vmlinux (32-bit PA-RISC ELF): PT_LOAD segments at their physical
    addresses masked to 28 bits, and the masked entry point (hw/hppa/machine.c)."""
    entry, segments = _pt_load(data, name, KERNEL_ADDR_MASK)
    return KernelImage(entry, tuple(segments))


def read_kernel(path: str | Path) -> KernelImage:
    return parse_kernel(*_read(path, "kernel"))


# ---- symbols (the REPL's break/disas/x and its completion; one reader for all) ----

@dataclass(frozen=True)
class Symbol:
    name: str
    addr: int
    size: int
    func: bool


class SymbolTable:
    """Functions and data objects of an ELF's ``.symtab``, by name and by address.
    Addresses are the symbols' own (virtual for a vmlinux, physical = virtual for a
    bare-metal guest in the firmware region): what breakpoints and ``x`` take."""

    def __init__(self, symbols: list[Symbol], path: str = "") -> None:
        self.path = path
        self.by_name: dict[str, Symbol] = {}
        for s in symbols:
            # a global definition wins over a later local one of the same name
            self.by_name.setdefault(s.name, s)
        self._sorted = sorted(symbols, key=lambda s: s.addr)
        self._addrs = [s.addr for s in self._sorted]

    def __len__(self) -> int:
        return len(self.by_name)

    def lookup(self, name: str) -> Symbol | None:
        return self.by_name.get(name)

    def names(self) -> list[str]:
        return list(self.by_name)

    def containing(self, addr: int) -> Symbol | None:
        """The symbol ``addr`` lies in (or, for a symbol without a size, the nearest one
        below it within 64 KiB: assembly labels often have none)."""
        import bisect
        i = bisect.bisect_right(self._addrs, addr) - 1
        while i >= 0:
            s = self._sorted[i]
            if s.addr + s.size > addr or (s.size == 0 and addr - s.addr < 0x10000):
                return s
            if s.addr < addr - 0x10000:
                return None
            i -= 1
        return None

    def describe(self, addr: int) -> str:
        """``name`` or ``name+0xOFF`` for ``addr``; "" when no symbol holds it."""
        s = self.containing(addr)
        if s is None:
            return ""
        return s.name if addr == s.addr else f"{s.name}+{addr - s.addr:#x}"


def read_symbols(path: str | Path) -> SymbolTable:
    """The symbol table of the ELF at ``path`` (empty when it has none);
    GuestImageError when the file is not an ELF."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            out = []
            if symtab is not None:
                for sym in symtab.iter_symbols():
                    kind = sym["st_info"]["type"]
                    if not sym.name or kind not in ("STT_FUNC", "STT_OBJECT", "STT_NOTYPE"):
                        continue
                    if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
                        continue
                    # millicode and local labels ($$mulI, .L12) are not what anyone breaks on
                    if sym.name.startswith((".L", "$")):
                        continue
                    out.append(Symbol(sym.name, sym["st_value"] & 0xFFFFFFFF,
                                      sym["st_size"], kind == "STT_FUNC"))
    except OSError as e:
        raise GuestImageError(f"{p}: cannot read ({e.strerror or e})") from None
    except (ELFError, ValueError, EOFError, struct.error) as e:
        raise GuestImageError(f"{p}: not a readable ELF ({e})") from None
    return SymbolTable(out, str(p))
