#!/usr/bin/env python3
"""CPU speed: one CPU-bound bare-metal guest (recursion, CRC32, integer matrix multiply,
a sieve, FP dot products) under hvdbg and under QEMU, in one run.

Prints, for each emulator, the median wall time of several runs, the guest
instructions retired (counted by hvdbg; the guest is deterministic, so QEMU executes
the same instructions) and millions of instructions per second, then the ratio.
Start-up cost is measured with a trivial guest and subtracted ("net"); times run to
the guest's last console output (see timed()).  The runs of
the emulators alternate, so a change in machine load hits all of them alike.

Columns: hvdbg; QEMU plain (TCG, no exact counting); QEMU recording
(``-icount shift=0,rr=record``: exact instruction counting plus a record/replay log,
the closest QEMU comes to what hvdbg does on every run).

    python benchmarks/cpu.py [--scale N] [--runs N]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
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
    """Run cmd; the time is from start to the guest's LAST CONSOLE OUTPUT, not to the
    process exit: QEMU in record mode (rr=record) sometimes spends 6-7 s of CPU after
    the guest has powered off before it exits (bimodal; seen with the hello guest too),
    which is no part of running the guest."""
    env, cwd = None, None
    if cmd[0].startswith("PYTHONPATH="):          # hvdbg from another tree (--baseline)
        tree = cmd[0].split("=", 1)[1]
        env = {**os.environ, "PYTHONPATH": tree}
        cwd = tree                                  # `-m hvdbg` imports from the cwd first
        cmd = cmd[1:]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    assert p.stdout is not None and p.stderr is not None
    out, last = bytearray(), t0
    while chunk := os.read(p.stdout.fileno(), 65536):
        out += chunk
        last = time.perf_counter()
    err = p.stderr.read()
    rc = p.wait(timeout=3600)
    if rc != 0:
        raise SystemExit(f"{cmd[0]} failed ({rc}): {err.decode()[-500:]}")
    return last - t0, subprocess.CompletedProcess(cmd, rc, bytes(out), err)


def hvdbg_cmd(elf: Path) -> list[str]:
    return [sys.executable, "-m", "hvdbg", "run", "--bios", str(elf), "--stats"]


def qemu_cmd(elf: Path, rrfile: Path | None = None) -> list[str]:
    cmd = ["qemu-system-hppa", "-bios", str(elf), "-nographic", "-nodefaults", "-serial",
           "stdio", "-monitor", "none", "-no-reboot", "-m", "256"]
    if rrfile is not None:
        cmd += ["-icount", f"shift=0,rr=record,rrfile={rrfile}"]
    return cmd


def instructions(stderr: bytes) -> int:
    m = re.search(r"([\d,_]+) instructions", stderr.decode())
    if not m:
        raise SystemExit(f"no instruction count in hvdbg --stats output:\n{stderr.decode()}")
    return int(m.group(1).replace(",", "").replace("_", ""))


def median_times(cmds: dict[str, list[str]], runs: int
                 ) -> dict[str, tuple[float, subprocess.CompletedProcess[bytes]]]:
    """Median wall time of each command, the commands run in turn (alternating)."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    last: dict[str, subprocess.CompletedProcess[bytes]] = {}
    for _ in range(runs):
        for k, cmd in cmds.items():
            dt, last[k] = timed(cmd)
            times[k].append(dt)
    return {k: (statistics.median(times[k]), last[k]) for k in cmds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20, help="work multiplier (default 20)")
    ap.add_argument("--runs", type=int, default=5, help="runs per emulator (median)")
    ap.add_argument("--baseline", type=Path, metavar="DIR",
                    help="also time hvdbg from the source tree DIR (its core built in place), "
                         "e.g. an export of an older commit, as the column 'baseline'")
    args = ap.parse_args()
    if not shutil.which("qemu-system-hppa"):
        raise SystemExit("qemu-system-hppa not found: apt-get install qemu-system-misc")

    bench = build(args.scale)
    empty = gb.build(gb.guest("hello"))
    load = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp:
        rr = Path(tmp) / "record.rr"
        emus = {"hvdbg": hvdbg_cmd, "qemu": qemu_cmd,
                "qemu-rr": lambda elf: qemu_cmd(elf, rr)}
        if args.baseline:
            emus["baseline"] = lambda elf: [f"PYTHONPATH={args.baseline.resolve()}",
                                            *hvdbg_cmd(elf)]
        startup = median_times({k: f(empty) for k, f in emus.items()}, args.runs)
        res = median_times({k: f(bench) for k, f in emus.items()}, args.runs)
    outputs = {k: r.stdout for k, (_, r) in res.items()}
    if len(set(outputs.values())) != 1:
        raise SystemExit(f"the emulators printed different checksums: {outputs!r}")
    n = instructions(res["hvdbg"][1].stderr)

    print(f"guest: {bench.name}  ({n:,} instructions; median of {args.runs} alternating "
          f"runs; load average at start {load:.2f})")
    print(f"{'':9} {'wall s':>8} {'net s':>8} {'MIPS(net)':>10} {'start-up s':>11}")
    net = {}
    for k, (t, _) in res.items():
        net[k] = max(t - startup[k][0], 1e-6)
        print(f"{k:9} {t:8.3f} {net[k]:8.3f} {n / net[k] / 1e6:10.1f} {startup[k][0]:11.3f}")
    print(f"hvdbg / qemu speed: {net['qemu'] / net['hvdbg']:.3f}x   "
          f"hvdbg / qemu-rr speed: {net['qemu-rr'] / net['hvdbg']:.3f}x   "
          f"(load average at end {os.getloadavg()[0]:.2f})")
    if "baseline" in net:
        print(f"hvdbg / baseline speed: {net['baseline'] / net['hvdbg']:.3f}x")

if __name__ == "__main__":
    main()
