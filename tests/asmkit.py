"""Assemble PA-RISC snippets with binutils and run them on the core, for unit tests.

``Snippet(src).run(n)`` places the code at physical 0x10000 (PSW = 0: physical
addressing, interrupts off), runs ``n`` retired instructions and returns the state.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import guestbuild as gb

CODE_BASE = 0x10000
CACHE = gb.BUILD / "asm"


def assemble(src: str) -> bytes:
    """Flat big-endian machine code for ``src`` (cached by content)."""
    gb.need_tool("hppa-linux-gnu-as")
    key = hashlib.sha256(src.encode()).hexdigest()[:16]
    out = CACHE / f"{key}.bin"
    if out.exists():
        return out.read_bytes()
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        s, o, b = Path(d, "a.s"), Path(d, "a.o"), Path(d, "a.bin")
        s.write_text("\t.text\n" + src + "\n")
        r = subprocess.run(["hppa-linux-gnu-as", "-o", str(o), str(s)],
                           capture_output=True, text=True, check=False)
        if r.returncode:
            raise RuntimeError(f"assembler failed:\n{r.stderr}\n{src}")
        subprocess.run([shutil.which("hppa-linux-gnu-objcopy") or "hppa-linux-gnu-objcopy",
                        "-O", "binary", "-j", ".text", str(o), str(b)], check=True)
        data = b.read_bytes()
    out.write_bytes(data)
    return data


class Snippet:
    def __init__(self, src: str, ram: int = 16 << 20):
        from hvdbg.cpu._core import ffi, lib
        self.ffi, self.lib = ffi, lib
        self.vm = ffi.gc(lib.hv_vm_new(ram), lib.hv_vm_free)
        self.code = assemble(src)
        assert lib.hv_phys_write(self.vm, CODE_BASE, self.code, len(self.code)) == 0
        self.s = lib.hv_state(self.vm)
        self.s.iaoq_f, self.s.iaoq_b = CODE_BASE, CODE_BASE + 4
        self.exit = ffi.new("hv_exit_t *")

    def run(self, n: int, flags: int = 0):
        self.lib.hv_run(self.vm, n, flags, self.exit)
        return self.exit

    def gr(self, i: int) -> int:
        return self.s.gr[i]

    def pc(self) -> int:
        return self.s.iaoq_f - CODE_BASE

    def write32(self, pa: int, v: int) -> None:
        assert self.lib.hv_phys_write(self.vm, pa, v.to_bytes(4, "big"), 4) == 0

    def read(self, pa: int, n: int) -> bytes:
        buf = self.ffi.new("uint8_t[]", n)
        assert self.lib.hv_phys_read(self.vm, pa, buf, n) == 0
        return bytes(buf)
