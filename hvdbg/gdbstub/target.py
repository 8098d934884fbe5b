"""The target description hvdbg serves through ``qXfer:features:read``.

Architecture only: gdb's hppa port has no XML register support (``gdbarch`` fixes the
128-register layout of ``/work/shared/design/gdb.md``), but it honours
``<architecture>``, so a user who forgets ``set architecture`` still gets hppa.
``hppa1.0`` is the only hppa name Debian's gdb-multiarch 13.1 knows
(``gdb-multiarch -batch -ex 'set architecture'`` lists the names).
"""
from __future__ import annotations

from typing import Final

from hvdbg.gdbstub.packets import xfer_chunk

ARCHITECTURE: Final = "hppa1.0"

TARGET_XML: Final = (
    b'<?xml version="1.0"?>\n'
    b'<!DOCTYPE target SYSTEM "gdb-target.dtd">\n'
    b'<target version="1.0">\n'
    b"  <architecture>" + ARCHITECTURE.encode() + b"</architecture>\n"
    b"</target>\n")

#: annex -> document; gdb asks for "target.xml" first and follows <xi:include>s.
FEATURES: Final[dict[str, bytes]] = {"target.xml": TARGET_XML}


def read_feature(annex: str, offset: int, length: int) -> bytes | None:
    """The answer to ``qXfer:features:read:ANNEX:OFFSET,LENGTH`` (``m``/``l`` + data),
    or None for an annex we do not have (the server answers ``E00``)."""
    doc = FEATURES.get(annex)
    if doc is None:
        return None
    return xfer_chunk(doc, offset, length)
