"""Replay trusts re-execution, not the log's word (issue 14, defect 11), and a run says
what it did not do (defects 9 and 10)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import guestbuild as gb
import pytest

from hvdbg.trace import log as L

R = L.RecordType


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    elf = gb.build(gb.guest("crcsort"))
    d = tmp_path_factory.mktemp("rec") / "r"
    r = subprocess.run([sys.executable, "-m", "hvdbg", "run", "--bios", str(elf), "--record",
                        str(d)], capture_output=True, check=False, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return d, r.stdout


def _rewrite(src: Path, dst: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Copy a log, records re-encoded (valid CRCs, renumbered) after ``change``."""
    header, recs = L.read_log(src)
    out = [x for rec in recs for x in change(rec)]
    dst.mkdir(parents=True)
    (dst / L.LOG_NAME).write_bytes(header.build() + b"".join(
        L.encode(x.type, i, x.fields, x.data) for i, x in enumerate(out)))


def _replay(d: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hvdbg", "replay", str(d)],
                          capture_output=True, check=False, stdin=subprocess.DEVNULL)


def test_replay_prints_what_re_execution_prints(recording: tuple[Path, bytes]) -> None:
    d, console = recording
    r = _replay(d)
    assert r.returncode == 0 and r.stdout == console


def test_forged_console_output_is_a_mismatch(recording: tuple[Path, bytes],
                                             tmp_path: Path) -> None:
    d, _ = recording
    done = []

    def forge(rec: L.Record) -> list[L.Record]:
        if rec.type is R.IO and rec.data and not done:
            done.append(rec)
            return [L.Record(rec.type, rec.seq, rec.fields, b"X" * len(rec.data))]
        return [rec]
    _rewrite(d, tmp_path / "f", forge)
    assert done
    r = _replay(tmp_path / "f")
    assert r.returncode == 1 and b"console output differs" in r.stderr, r.stderr
    assert b"X" not in r.stdout                      # the forged bytes are never shown


def test_records_left_unconsumed_at_end_are_reported(recording: tuple[Path, bytes],
                                                     tmp_path: Path) -> None:
    d, _ = recording
    ios = [rec for rec in L.read_log(d)[1] if rec.type is R.IO]

    def extra(rec: L.Record) -> list[L.Record]:
        if rec.type is R.END:        # an access the VM never makes, before the end
            ghost = L.Record(R.IO, 0, (rec.icount - 1, L.IO_READ, 1, ios[0].pa, 0))
            return [ghost, rec]
        return [rec]
    _rewrite(d, tmp_path / "u", extra)
    r = _replay(tmp_path / "u")
    assert r.returncode == 1, r.stderr
    assert b"never made" in r.stderr, r.stderr


def test_fail_primary_at_past_the_end_is_said(tmp_path: Path) -> None:
    elf = gb.build(gb.guest("hello"))
    r = subprocess.run([sys.executable, "-m", "hvdbg", "pair", "--bios", str(elf),
                        "--fail-primary-at", "100000"], capture_output=True, check=False,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0
    assert b"never reached --fail-primary-at" in r.stderr, r.stderr


def test_console_to_a_full_device_is_one_line(tmp_path: Path) -> None:
    elf = gb.build(gb.guest("hello"))
    with open("/dev/full", "wb") as full:
        r = subprocess.run([sys.executable, "-m", "hvdbg", "run", "--bios", str(elf)],
                           stdout=full, stderr=subprocess.PIPE, check=False,
                           stdin=subprocess.DEVNULL)
    assert r.returncode == 0                         # the guest ran to its end
    assert b"console output lost" in r.stderr and b"Traceback" not in r.stderr, r.stderr
