"""A recording that cannot be written (a full disk) is an error the user sees: one line,
exit status 1 — never exit 0 with a truncated log (issue 14, defect 9)."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import guestbuild as gb
import pytest


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "full"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(d)],
                       capture_output=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", str(d)], check=False)


@pytest.mark.parametrize("command", ["run", "pair"])
def test_full_disk_while_recording(command: str, small_disk: Path) -> None:
    elf = gb.build(gb.guest("crcsort"))           # its log is ~57 KB: it cannot fit
    r = subprocess.run([sys.executable, "-m", "hvdbg", command, "--bios", str(elf),
                        "--record", str(small_disk / "r")], capture_output=True,
                       check=False, stdin=subprocess.DEVNULL, timeout=300)
    assert r.returncode == 1, r.stderr
    err = r.stderr.decode()
    assert "cannot write the recording: No space left on device" in err
    assert "Traceback" not in err
