#!/usr/bin/env python3
"""CPU speed: one CPU-bound bare-metal guest (recursion, CRC32, integer matrix multiply,
a sieve, FP dot products) under hvdbg and under QEMU, in one run.

Prints, for each emulator, the median wall time of several runs, the guest
instructions retired (counted by hvdbg; the guest is deterministic, so QEMU executes
the same instructions) and millions of instructions per second, then the ratio.
Start-up cost is measured with a trivial guest and subtracted ("net").

    python benchmarks/cpu.py [--scale N] [--runs N]
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import guestbuild as gb

BENCH_SRC = ROOT / "benchmarks" / "guests" / "cpu_bench.c"


def build(scale: int) -> Path:
    return gb.build(gb.Guest(f"cpu_bench_s{scale}", BENCH_SRC, [BENCH_SRC]),
                    defines=(f"SCALE={scale}",))


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=3600,
                       check=False)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.decode()[-500:]}")
    return dt, r


def hvdbg_cmd(elf: Path) -> list[str]:
    return [sys.executable, "-m", "hvdbg", "run", "--bios", str(elf), "--stats"]


def qemu_cmd(elf: Path) -> list[str]:
    return ["qemu-system-hppa", "-bios", str(elf), "-nographic", "-nodefaults", "-serial",
            "stdio", "-monitor", "none", "-no-reboot", "-m", "256"]


def instructions(stderr: bytes) -> int:
    m = re.search(r"([\d,_]+) instructions", stderr.decode())
    if not m:
        raise SystemExit(f"no instruction count in hvdbg --stats output:\n{stderr.decode()}")
    return int(m.group(1).replace(",", "").replace("_", ""))


def median_time(cmd: list[str], runs: int) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    times, last = [], None
    for _ in range(runs):
        dt, last = timed(cmd)
        times.append(dt)
    assert last is not None
    return statistics.median(times), last


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20, help="work multiplier (default 20)")
    ap.add_argument("--runs", type=int, default=5, help="runs per emulator (median)")
    args = ap.parse_args()
    if not shutil.which("qemu-system-hppa"):
        raise SystemExit("qemu-system-hppa not found: apt-get install qemu-system-misc")

    bench = build(args.scale)
    empty = gb.build(gb.guest("hello"))

    h_empty, _ = median_time(hvdbg_cmd(empty), args.runs)
    q_empty, _ = median_time(qemu_cmd(empty), args.runs)
    h_t, h_r = median_time(hvdbg_cmd(bench), args.runs)
    q_t, q_r = median_time(qemu_cmd(bench), args.runs)
    if h_r.stdout != q_r.stdout:
        raise SystemExit("hvdbg and QEMU printed different checksums:\n"
                         f"hvdbg: {h_r.stdout!r}\nqemu:  {q_r.stdout!r}")
    n = instructions(h_r.stderr)

    print(f"guest: {bench.name}  ({n:,} instructions; median of {args.runs} runs)")
    print(f"{'':8} {'wall s':>8} {'net s':>8} {'MIPS(net)':>10}")
    h_net, q_net = max(h_t - h_empty, 1e-6), max(q_t - q_empty, 1e-6)
    print(f"{'hvdbg':8} {h_t:8.3f} {h_net:8.3f} {n / h_net / 1e6:10.1f}")
    print(f"{'qemu':8} {q_t:8.3f} {q_net:8.3f} {n / q_net / 1e6:10.1f}")
    print(f"hvdbg / qemu speed: {q_net / h_net:.3f}x   (start-up: hvdbg {h_empty:.3f} s, "
          f"qemu {q_empty:.3f} s)")


if __name__ == "__main__":
    main()
