#!/usr/bin/env python3
"""Linux boot and userspace speed: the guest images (`hvdbg guest build`) under QEMU and
under hvdbg, in one run.

For each emulator, two figures, medians over several runs (host wall time, measured
from the emulator's start by timestamping each console line as it arrives):

- boot: from start to /init's first line ("init: start"): firmware, kernel boot and
  the first userspace process;
- userspace CPU: from "hvbench: start" to "hvbench: checksum=..." — hvtest's CPU-bound
  loop (fill, CRC-32, a 64K sieve per round), started by /init because the command line
  has hvdbg.bench=1 (hvdbg.bench_rounds=N sets the rounds).

Both emulators must print the same checksum.  An emulator that does not reach /init
within --timeout is reported ("hvdbg: does not boot yet") instead of stopping the run.

    python3 benchmarks/boot.py [--runs 5] [--rounds 200] [--only qemu|hvdbg]
"""
from __future__ import annotations

import argparse
import queue
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hvdbg.machine import images

FIRST_LINE = "init: start"
BENCH_START = "hvbench: start"
BENCH_END = "hvbench: checksum="


def commands(img: images.GuestImages, rounds: int) -> dict[str, list[str]]:
    append = f"console=ttyS0 panic=-1 hvdbg.bench=1 hvdbg.bench_rounds={rounds}"
    return {
        "qemu": ["qemu-system-hppa", "-nodefaults", "-nographic", "-serial", "stdio",
                 "-monitor", "none", "-m", "1024", "-kernel", str(img.vmlinux),
                 "-initrd", str(img.initrd), "-append", append, "-no-reboot"],
        "hvdbg": [sys.executable, "-m", "hvdbg", "run", "--kernel", str(img.vmlinux),
                  "--initrd", str(img.initrd), "--append", append, "-m", "1024"],
    }


@dataclass
class Run:
    boot: float | None = None          # seconds to FIRST_LINE
    bench: float | None = None         # seconds from BENCH_START to BENCH_END
    total: float | None = None         # seconds to exit
    checksum: str | None = None
    error: str | None = None


def timed_run(cmd: list[str], timeout: float) -> Run:
    """Start ``cmd``; timestamp every console line; stop at exit or timeout."""
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    except OSError as e:
        return Run(error=str(e))
    lines: queue.Queue[tuple[float, str] | None] = queue.Queue()

    def reader() -> None:
        assert p.stdout is not None
        for raw in p.stdout:
            lines.put((time.perf_counter() - t0, raw.decode(errors="replace").rstrip("\r\n")))
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    r = Run()
    bench_start = None
    tail: list[str] = []
    deadline = t0 + timeout
    while True:
        try:
            item = lines.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            p.kill()
            p.wait()
            r.error = f"no power-off within {timeout:g} s; last lines: {tail[-3:]}"
            return r
        if item is None:
            break
        t, line = item
        tail = (tail + [line])[-20:]
        text = line.replace("\r", "")
        if text.startswith(FIRST_LINE) and r.boot is None:
            r.boot = t
        elif text.startswith(BENCH_START):
            bench_start = t
        elif text.startswith(BENCH_END) and bench_start is not None:
            r.bench = t - bench_start
            r.checksum = text[len(BENCH_END):].split()[0]
    rc = p.wait()
    r.total = time.perf_counter() - t0
    if rc != 0 or r.bench is None:
        err = p.stderr.read().decode(errors="replace") if p.stderr else ""
        r.error = f"exit status {rc}; {err.strip()[-300:]}; last lines: {tail[-3:]}"
    return r


def median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return statistics.median(vals) if vals else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per emulator (median)")
    ap.add_argument("--rounds", type=int, default=200, help="benchmark rounds (default 200)")
    ap.add_argument("--only", choices=("qemu", "hvdbg"), help="run one emulator only")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds before a run is abandoned (default 600)")
    args = ap.parse_args()

    img = images.build()
    cmds = commands(img, args.rounds)
    print(f"images: {img.directory}  (vmlinux sha256 "
          f"{img.manifest['sha256']['vmlinux'][:16]}…, initrd.gz "
          f"{img.manifest['sha256']['initrd.gz'][:16]}…)")
    print(f"benchmark: {args.rounds} rounds; median of {args.runs} runs")
    results: dict[str, list[Run]] = {}
    for name, cmd in cmds.items():
        if args.only and name != args.only:
            continue
        runs = []
        for i in range(args.runs):
            r = timed_run(cmd, args.timeout)
            runs.append(r)
            if r.error and r.boot is None:
                break                      # does not boot: one try is enough
            if r.error:
                print(f"{name} run {i + 1}: {r.error}", file=sys.stderr)
        results[name] = runs
    print(f"{'':8} {'boot s':>8} {'bench s':>8} {'total s':>8}  checksum")
    checksums = set()
    for name, runs in results.items():
        if all(r.boot is None for r in runs):
            print(f"{name}: does not boot yet ({runs[0].error})")
            continue
        b, c, t = (median([getattr(r, f) for r in runs]) for f in ("boot", "bench", "total"))
        sums = {r.checksum for r in runs if r.checksum}
        checksums |= sums

        def fmt(x: float | None) -> str:
            return f"{x:8.2f}" if x is not None else f"{'-':>8}"

        print(f"{name:8} {fmt(b)} {fmt(c)} {fmt(t)}  {' '.join(sorted(sums)) or '-'}")
    if len(checksums) > 1:
        print(f"checksums differ between runs/emulators: {sorted(checksums)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
