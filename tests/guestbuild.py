"""Build bare-metal PA-RISC test guests and run them under QEMU (the oracle) and hvdbg.

A guest is ``guests/src/NAME.c`` (or ``NAME.S``), optionally with extra sources
``guests/src/NAME.*.S`` / ``NAME.*.c``; every file in ``guests/lib/`` is linked in.
Directives in the first 20 lines of the main source, as ``hvdbg-test: KEY VALUE``:

- ``expected``     compare with ``src/NAME.expected`` instead of QEMU (for behaviour
                    QEMU 7.2 gets wrong, e.g. the recovery-counter trap); the reason
                    follows on the same line.
- ``max-insns N``  instruction limit for hvdbg (default 200 million).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

GUESTS = Path(__file__).resolve().parent / "guests"
SRC = GUESTS / "src"
LIB = GUESTS / "lib"
BUILD = GUESTS / "build"
CC = "hppa-linux-gnu-gcc"
QEMU = "qemu-system-hppa"
CFLAGS = ["-O2", "-ffreestanding", "-nostdlib", "-static", "-fno-builtin", "-ffunction-sections",
          "-Wall", "-Wno-main", "-fno-pic", "-fno-pie", "-no-pie"]


def need_tool(tool: str) -> str:
    """Path of ``tool``; fail loudly in CI, skip with the reason on a user's machine."""
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} not found (Debian: see .ci/run for the packages to install)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@dataclass
class Guest:
    name: str
    main: Path
    sources: list[Path]
    directives: dict[str, str] = field(default_factory=dict)

    @property
    def expected_file(self) -> Path:
        return SRC / f"{self.name}.expected"


def _directives(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines()[:20]:
        m = re.search(r"hvdbg-test:\s*([\w-]+)\s*(.*?)\s*(\*/)?$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def all_guests() -> list[Guest]:
    guests = []
    for main in sorted(SRC.glob("*.[cS]")):
        if "." in main.stem:
            continue  # an extra source of another guest
        extras = sorted(p for p in SRC.glob(f"{main.stem}.*.[cS]"))
        guests.append(Guest(main.stem, main, [main, *extras], _directives(main)))
    return guests


def guest(name: str) -> Guest:
    for g in all_guests():
        if g.name == name:
            return g
    raise KeyError(name)


def build(g: Guest, defines: tuple[str, ...] = ()) -> Path:
    """Compile and link ``g`` (cached by a digest of every input); ``defines`` are extra
    ``NAME=VALUE`` macros (benchmark sizes)."""
    cc = need_tool(CC)
    libs = sorted(p for p in LIB.iterdir() if p.suffix in (".c", ".S"))
    cflags = [*CFLAGS, *(f"-D{d}" for d in defines)]
    h = hashlib.sha256(" ".join(cflags).encode())
    for p in [*g.sources, *libs, *sorted(LIB.glob("*.h")), LIB / "link.ld"]:
        h.update(p.name.encode() + p.read_bytes())
    out = BUILD / f"{g.name}-{h.hexdigest()[:12]}.elf"
    if out.exists():
        return out
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    cmd = [cc, *cflags, f"-I{LIB}", "-T", str(LIB / "link.ld"), "-Wl,--gc-sections",
           "-Wl,--no-dynamic-linker", "-o", str(tmp), *map(str, libs), *map(str, g.sources),
           "-lgcc"]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"building guest {g.name} failed:\n{' '.join(cmd)}\n{r.stderr}")
    tmp.rename(out)
    return out


def run_qemu(elf: Path, timeout: float = 60) -> bytes:
    qemu = need_tool(QEMU)
    r = subprocess.run([qemu, "-bios", str(elf), "-nographic", "-nodefaults", "-serial", "stdio",
                        "-monitor", "none", "-no-reboot", "-m", "256"],
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       check=False)
    if r.returncode != 0:
        raise RuntimeError(f"qemu failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r.stdout


def run_hvdbg(elf: Path, *args: str, timeout: float = 120,
              check: bool = True) -> subprocess.CompletedProcess[bytes]:
    r = subprocess.run([sys.executable, "-m", "hvdbg", "run", "--bios", str(elf), *args],
                       capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                       check=False)
    if check and r.returncode != 0:
        raise AssertionError(f"hvdbg run failed ({r.returncode}):\n"
                             f"{r.stderr.decode(errors='replace')}\nstdout:\n"
                             f"{r.stdout.decode(errors='replace')[-2000:]}")
    return r
