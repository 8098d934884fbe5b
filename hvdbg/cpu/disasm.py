"""PA-RISC 1.1 disassembly of single instruction words (capstone 6, big-endian)."""
from __future__ import annotations

import re
from functools import lru_cache

try:
    import capstone
except ImportError:          # disassembly is a convenience; never fatal
    capstone = None

# capstone names general register 0 "flags" (gdb's name for register slot 0)
_R0 = re.compile(r"\bflags\b")


@lru_cache(maxsize=1)
def _engine():  # type: ignore[no-untyped-def]
    if capstone is None or not hasattr(capstone, "CS_ARCH_HPPA"):
        return None
    return capstone.Cs(capstone.CS_ARCH_HPPA,
                       capstone.CS_MODE_HPPA_11 | capstone.CS_MODE_BIG_ENDIAN)


def disassemble(word: int, pc: int = 0) -> str:
    """Assembly text of the instruction ``word`` at address ``pc`` (the low two
    privilege bits of an IAOQ value are ignored); ``.word 0x...`` when undecodable."""
    word &= 0xFFFFFFFF
    md = _engine()
    if md is not None:
        try:
            for insn in md.disasm(word.to_bytes(4, "big"), pc & 0xFFFFFFFC, 1):
                text = f"{insn.mnemonic} {insn.op_str}".strip()
                return _R0.sub("r0", text)
        except capstone.CsError:
            pass
    return f".word {word:#010x}"
