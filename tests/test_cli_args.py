"""Bad flags and image files (issue 14): one set of checks for run and pair; each bad
value gives a clear one-line error and exit status 2, never a traceback and never a
silently different run."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_machine import make_elf

from hvdbg.cli import args as checks
from hvdbg.cli.main import build_parser
from hvdbg.machine import elf as elfmod
from hvdbg.machine.elf import GuestImageError, read_image, read_kernel
from hvdbg.machine.spec import GuestSpec, SpecError

SPIN = 0xE81F1FF7                 # b,n .


def hvdbg(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hvdbg", *args], check=False,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def one_line_error(r: subprocess.CompletedProcess[bytes], status: int = 2) -> str:
    err = r.stderr.decode()
    assert r.returncode == status, err
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("hvdbg") and ("error" in last or "bad log" in last), err
    return last


@pytest.fixture(scope="module")
def spin_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("spin") / "spin.elf"
    f.write_bytes(make_elf(SPIN.to_bytes(4, "big") + bytes(4), paddr=0xF0000200))
    return f


# ---------------------------------------------------------------- flags (defect 10)

BAD_COMMON = [
    ("--timeout", "nan"), ("--timeout", "inf"), ("--timeout", "-1"), ("--timeout", "0"),
    ("--timeout", "1e308"), ("--max-insns", "-1"), ("--max-insns", "nan"),
    ("--max-insns", str(1 << 64)), ("--record", ""), ("--bios", ""), ("--kernel", ""),
    ("--initrd", ""), ("-m", "0"), ("-m", "-4"),
]
BAD_PAIR = [
    ("--detect-ms", "0"), ("--detect-ms", "-1"), ("--detect-ms", "nan"),
    ("--detect-ms", "inf"), ("--detect-ms", "1e308"), ("--link-latency-us", "-1"),
    ("--link-latency-us", "nan"), ("--link-latency-us", "inf"),
    ("--link-latency-us", "1e308"), ("--link-mbps", "-1"), ("--link-mbps", "nan"),
    ("--link-mbps", "inf"), ("--link-mbps", "1e308"), ("--link-mbps", "1e-300"), ("--fail-primary-at", "-1"),
    ("--fail-primary-at", "1:-2"), ("--fail-primary-at", "x"),
]


@pytest.mark.parametrize("command,flag,value",
                         [("run", f, v) for f, v in BAD_COMMON]
                         + [("pair", f, v) for f, v in BAD_COMMON + BAD_PAIR])
def test_parsers_refuse_bad_values(command: str, flag: str, value: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([command, flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"hvdbg {command}: error: argument ") and flag in err, err


def test_run_and_pair_share_one_validator_set() -> None:
    """The same flag means the same check in both commands (one concept, one place)."""
    sub = next(a for a in build_parser()._actions
               if isinstance(a, argparse._SubParsersAction))
    run, pair = sub.choices["run"], sub.choices["pair"]
    types = {}
    for p in (run, pair):
        for a in p._actions:
            for opt in a.option_strings:
                types.setdefault(opt, set()).add(a.type)
    for opt in ("--max-insns", "--timeout", "--record", "--bios", "--kernel", "--initrd",
                "--memory", "--force"):
        assert len(types[opt]) == 1, opt
    assert types["--timeout"] == {checks.timeout}
    assert types["--max-insns"] == {checks.max_insns}


def test_good_values_still_parse() -> None:
    a = build_parser().parse_args(
        ["pair", "--timeout", "2.5", "--max-insns", "0x100", "--detect-ms", "0.5",
         "--link-latency-us", "0", "--link-mbps", "100", "--fail-primary-at", "3:17",
         "--record", "d", "--force"])
    assert (a.timeout, a.max_insns, a.detect_ms, a.link_latency_us, a.link_mbps,
            a.fail_primary_at, a.record, a.force) == (2.5, 256, 0.5, 0.0, 100.0, (3, 17),
                                                      "d", True)
    a = build_parser().parse_args(["run", "--max-insns", "0"])
    assert (a.max_insns, a.timeout, a.record, a.force) == (0, None, None, False)


def test_empty_bios_is_not_the_default_firmware() -> None:
    ns = argparse.Namespace(bios="", kernel=None, initrd=None, append="", memory=None,
                            clock=None)
    spec = GuestSpec.from_args(ns)
    assert spec.bios == ""
    with pytest.raises((GuestImageError, SpecError)):
        spec.boot()


# ---------------------------------------------------------------- image files

def test_endless_or_huge_image_files_are_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GuestImageError, match="larger than 64 MiB"):
        read_image("/dev/zero", "bios")
    monkeypatch.setitem(elfmod.IMAGE_LIMITS, "initrd", 4096)
    big = tmp_path / "big"
    with open(big, "wb") as f:                  # sparse: no disk space used
        f.truncate(4097)
    with pytest.raises(GuestImageError, match="larger than"):
        read_image(big, "initrd")
    (tmp_path / "ok").write_bytes(bytes(4096))
    assert read_image(tmp_path / "ok", "initrd") == bytes(4096)
    with pytest.raises(GuestImageError, match="cannot read"):
        read_image(tmp_path, "bios")


@pytest.mark.parametrize("flag", ["--bios", "--initrd"])
def test_cli_refuses_dev_zero_as_an_image(flag: str, spin_elf: Path) -> None:
    """(The initrd's limit follows the RAM: with -m 16 it is 16 MiB - 64 KiB.)"""
    extra = {"--bios": [],
             "--initrd": ["--bios", str(spin_elf), "--kernel", str(spin_elf), "-m", "16"]}
    r = hvdbg("run", *extra[flag], flag, "/dev/zero", "--max-insns", "10", timeout=120)
    assert "/dev/zero: larger than" in one_line_error(r)


def test_dev_zero_as_a_kernel_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(elfmod.IMAGE_LIMITS, "kernel", 1 << 20)
    with pytest.raises(GuestImageError, match="larger than 1 MiB, the limit for the kernel"):
        read_kernel("/dev/zero")




# ---------------------------------------------------------------- environment

def test_hvdbg_cache_naming_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    f = tmp_path / "not-a-dir"
    f.write_text("")
    r = subprocess.run([sys.executable, "-m", "hvdbg", "guest", "path", "-q"], check=False,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
                       env={**os.environ, "HVDBG_CACHE": str(f)})
    err = r.stderr.decode()
    assert r.returncode == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "HVDBG_CACHE" in err, err
