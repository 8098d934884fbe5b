"""Shared test set-up: tests/ on sys.path (guestbuild, asmkit, ...) and the Linux guest
images fixture (built once per session, cached under ~/.cache/hvdbg/guest)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guestbuild import need_tool

from hvdbg.machine import images


@pytest.fixture(scope="session")
def guest_images() -> images.GuestImages:
    """vmlinux and initrd.gz of ``hvdbg guest build`` (built on first use)."""
    need_tool("hppa-linux-gnu-gcc")
    try:
        return images.build()
    except images.GuestBuildUnavailable as e:
        if os.environ.get("CI"):
            pytest.fail(f"guest images cannot be built here: {e}")
        pytest.skip(f"guest images cannot be built here: {e}")
