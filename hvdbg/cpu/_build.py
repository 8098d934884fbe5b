"""cffi API-mode build of the C core (csrc/) into ``hvdbg.cpu._core``.

Set ``HVDBG_SANITIZE=1`` to build with ``-fsanitize=address,undefined`` (CI does).
"""
from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"

SOURCES = ["core.c", "mmu.c", "sys.c", "fpu.c", "digest.c"]

ffibuilder = FFI()
ffibuilder.cdef((CSRC / "hvcore.h").read_text())

_cflags = ["-O3", "-fno-tree-slp-vectorize", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing",
           "-ffp-contract=off"]   # the fast path's error-free FP arithmetic must not be fused
_ldflags: list[str] = []
if os.environ.get("HVDBG_SANITIZE") == "1":
    _cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-O1", "-g"]
    _ldflags += ["-fsanitize=address,undefined"]

ffibuilder.set_source(
    "hvdbg.cpu._core",
    '#include "hvcore.h"',
    sources=[str(Path("csrc") / s) for s in SOURCES],
    include_dirs=[str(Path("csrc"))],
    extra_compile_args=_cflags,
    extra_link_args=_ldflags,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
