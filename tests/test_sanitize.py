"""CI's sanitizer stage runs the suite with HVDBG_SANITIZE=1 against a core built with
ASan + UBSan.  Check that the core those tests load is really the instrumented one:
a mix-up (an old normal build found first on sys.path) would make the stage pass
without checking anything.  In a normal run there is nothing to check."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

SANITIZE = os.environ.get("HVDBG_SANITIZE") == "1"


def _dynamic_symbols(path: str) -> str:
    return subprocess.run(["nm", "-D", path], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not SANITIZE, reason="HVDBG_SANITIZE=1 not set: normal build")
def test_loaded_core_is_instrumented() -> None:
    from hvdbg.cpu import _core

    syms = _dynamic_symbols(_core.__file__)
    assert "__asan_report_load4" in syms, f"{_core.__file__} is not built with ASan"
    assert "__ubsan_handle_" in syms, f"{_core.__file__} is not built with UBSan"
    assert "libasan" in os.environ.get("LD_PRELOAD", ""), "ASan runtime not preloaded"


@pytest.mark.skipif(not SANITIZE, reason="HVDBG_SANITIZE=1 not set: normal build")
def test_hvdbg_subprocesses_load_the_same_core() -> None:
    """`hvdbg run` (what the guest tests start) must import the instrumented core too."""
    from hvdbg.cpu import _core

    r = subprocess.run([sys.executable, "-c", "import hvdbg.cpu._core as c; print(c.__file__)"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.strip() == _core.__file__
