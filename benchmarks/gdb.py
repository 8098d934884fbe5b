#!/usr/bin/env python3
"""gdb stub speed, as a user meets it (issue 8 §4), in one run:

1. ``continue`` with gdb's protocol attached and 10 breakpoints set (in code the run
   never reaches) against the same run without gdb: whole commands, wall time, the
   runs alternating, medians — the ratio is the stub's cost;
2. raw-RSP ``stepi`` round trips per second on loopback (``s`` then the stop reply,
   with the repository's one RSP codec);
3. gdb's own ``stepi`` as a user sees it (gdb-multiarch over gdb/MI): median latency.

    python benchmarks/gdb.py [--scale N] [--runs N] [--steps N]
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from cpu import build
from qemu_gdb import GdbClient


def start_stub(elf: Path) -> tuple[subprocess.Popen[bytes], int]:
    p = subprocess.Popen([sys.executable, "-m", "hvdbg", "run", "--bios", str(elf), "--wait",
                          "--gdb", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.stderr is not None
    m = re.search(rb"gdb stub on [\d.]+:(\d+)", p.stderr.readline())
    if not m:
        raise SystemExit("hvdbg did not start its gdb stub")
    return p, int(m.group(1))


def unreached_addresses(elf: Path, n: int) -> list[int]:
    """``n`` instruction addresses in the firmware region past the program's code."""
    out = subprocess.run(["hppa-linux-gnu-nm", "-n", str(elf)], capture_output=True,
                         text=True, check=True).stdout
    end = max(int(a, 16) for a, t, _ in (ln.split() for ln in out.splitlines()
                                         if len(ln.split()) == 3) if t in "tT")
    return [(end + 0x10000 + 0x1000 * i) & ~3 for i in range(n)]


def run_plain(elf: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hvdbg", "run", "--bios", str(elf)], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run_gdb_continue(elf: Path, breaks: list[int]) -> float:
    t0 = time.perf_counter()
    p, port = start_stub(elf)
    c = GdbClient(socket.create_connection(("127.0.0.1", port)), timeout=3600)
    for a in breaks:
        c.set_breakpoint(a)
    reply = c.command("c")
    while reply.startswith("O"):                  # the stub's note that the run ended
        reply = c.conn.recv_packet(timeout=60).decode("latin-1")
    if not reply.startswith("W"):
        raise SystemExit(f"continue stopped early: {reply}")
    c.sock.close()
    p.wait(60)
    return time.perf_counter() - t0


def rsp_steps(elf: Path, n: int) -> float:
    p, port = start_stub(elf)
    c = GdbClient(socket.create_connection(("127.0.0.1", port)))
    c.start_no_ack()
    t0 = time.perf_counter()
    for _ in range(n):
        c.step()
    dt = time.perf_counter() - t0
    c.kill()
    p.wait(60)
    return n / dt


def gdb_stepi_latency(elf: Path, n: int) -> float:
    from gdbmi import Gdb
    p, port = start_stub(elf)
    g = Gdb(elf)
    g.cmd(f"target extended-remote 127.0.0.1:{port}")
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        g.run("stepi")
        lat.append(time.perf_counter() - t0)
    g.close()
    p.kill()
    p.wait(60)
    return statistics.median(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5000)
    args = ap.parse_args()
    elf = build(args.scale)
    breaks = unreached_addresses(elf, 10)
    plain, gdb = [], []
    for i in range(args.runs):
        plain.append(run_plain(elf))
        gdb.append(run_gdb_continue(elf, breaks))
        print(f"run {i + 1}: without gdb {plain[-1]:.3f} s, continue under gdb with "
              f"10 breakpoints {gdb[-1]:.3f} s", file=sys.stderr)
    mp, mg = statistics.median(plain), statistics.median(gdb)
    print(f"continue, 10 breakpoints: {mg:.3f} s vs {mp:.3f} s without gdb: "
          f"{mg / mp:.3f}x (median of {args.runs}, cpu_bench SCALE={args.scale})")
    print(f"raw RSP stepi round trips: {rsp_steps(elf, args.steps):.0f}/s "
          f"({args.steps} steps, no-ack mode)")
    print(f"gdb stepi as a user sees it: median {gdb_stepi_latency(elf, 200) * 1000:.2f} ms "
          f"(200 stepi through gdb/MI)")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
