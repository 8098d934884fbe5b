"""The paper's evaluation, redone on bare-metal guests (Bressoud & Schneider measured
replicated / unreplicated time against epoch length): for a CPU-bound guest
(benchmarks/guests/cpu_bench.c) and a console-bound one (console_bench.c), replicated
÷ solo wall time per protocol, epoch length and link latency; stream messages and bytes
per second; the cost of recording; failover time; primary, backup and devices as
processes (hvdbg pair --processes) against threads.

Each ratio is the median over --runs of (pair time / solo time measured right before
it), so slow drift of a noisy machine cancels.  Prints a Markdown table; with --plot DIR
also writes PNG plots (needs matplotlib: pip install matplotlib).

    python3 benchmarks/replication.py [--runs 3] [--quick] [--plot docs/img]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import guestbuild as gb
from cpu import build as build_cpu_bench

from hvdbg.machine.environment import Environment
from hvdbg.machine.spec import GuestSpec
from hvdbg.replication.link import LinkConfig
from hvdbg.replication.pair import PairSummary, run_pair
from hvdbg.replication.processes import run_pair_processes
from hvdbg.replication.roles import PROTOCOLS, ReplicationConfig

CONSOLE_SRC = ROOT / "benchmarks" / "guests" / "console_bench.c"


def build_console_bench(lines: int) -> str:
    return str(gb.build(gb.Guest(f"console_bench_l{lines}", CONSOLE_SRC, [CONSOLE_SRC]),
                        defines=(f"LINES={lines}",)))


def guests() -> dict[str, str]:
    # 500 lines: 128 K I/O exits, ~0.2 s solo (a round trip per exit at 100 us of link
    # latency makes the refined protocol's runs long)
    return {"cpu-bound": str(build_cpu_bench(20)), "console-bound": build_console_bench(500)}


def solo_time(elf: str) -> float:
    m = GuestSpec(elf).boot(Environment())
    t0 = time.perf_counter()
    m.run(timeout=600)
    t = time.perf_counter() - t0
    m.core.close()
    return t


def pair_run(elf: str, epoch: int, protocol: str, latency: float = 0.0,
             fail_at: int | None = None, record: str | None = None) -> PairSummary:
    # a generous detection timeout: a busy machine must not fake failures
    detect = 0.05 if fail_at is not None else 2.0
    return run_pair(GuestSpec(elf), ReplicationConfig(epoch, protocol, detect),
                    link=LinkConfig(latency_us=latency), sink=lambda d: None,
                    fail_at=fail_at, record=record, timeout=600)


def processes_run(elf: str, epoch: int) -> PairSummary:
    """``hvdbg pair --processes``: the guest's run time as the primary measured it
    (process start-up and handshakes excluded)."""
    return run_pair_processes(GuestSpec(elf), ReplicationConfig(epoch, "refined", 2.0),
                              sink=lambda d: None, timeout=600)


def processes_table(gs: dict[str, str], runs: int) -> None:
    """Processes against threads, same guest, protocol and epoch; and what a device
    round trip costs (each I/O exit of the primary is one)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nprocesses (refined, epoch 16K, loopback TCP + HMAC; load average "
          f"{load:.2f} on {os.cpu_count()} CPUs when it started)\n")
    print("| guest | threads ÷ solo | processes ÷ solo | device round trips | "
          "µs per round trip |")
    print("|---|---|---|---|---|")
    for name, elf in gs.items():
        rt, rp, last = [], [], None
        for _ in range(runs):
            solo = solo_time(elf)
            t = pair_run(elf, 16384, "refined")
            p = processes_run(elf, 16384)
            if t.error or p.error:
                raise SystemExit(f"pair failed: {t.error or p.error}")
            rt.append(t.seconds / solo)
            rp.append(p.seconds / solo)
            last = p
        assert last is not None
        note = last.note.split()                    # "N device round trips, U us each"
        trips = note[0] if note else "?"
        each = note[4] if len(note) > 4 else "?"
        print(f"| {name} | {statistics.median(rt):.2f} | {statistics.median(rp):.2f} | "
              f"{trips} | {each} |", flush=True)


def ratio(elf: str, runs: int, **kw: object) -> tuple[float, PairSummary]:
    ratios, last = [], None
    for _ in range(runs):
        solo = solo_time(elf)
        last = pair_run(elf, **kw)  # type: ignore[arg-type]
        if last.error:
            raise SystemExit(f"pair failed: {last.error}")
        ratios.append(last.seconds / solo)
    assert last is not None
    return statistics.median(ratios), last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="epoch 16K, latency 0 only")
    ap.add_argument("--plot", metavar="DIR", help="write PNG plots there")
    ap.add_argument("--processes-only", action="store_true",
                    help="only the processes table (hvdbg pair --processes)")
    args = ap.parse_args()
    if args.processes_only:
        processes_table(guests(), args.runs)
        return
    epochs = [16384] if args.quick else [1024, 4096, 16384, 65536]
    latencies = [0.0] if args.quick else [0.0, 100.0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; medians of {args.runs} runs\n")
    print("| guest | protocol | epoch | link latency | replicated ÷ solo | messages/s | "
          "Mbit/s | time waiting for acks |")
    print("|---|---|---|---|---|---|---|---|")
    results: dict[tuple[str, str, float], list[tuple[int, float]]] = {}
    gs = guests()
    for name, elf in gs.items():
        for protocol in PROTOCOLS:
            for lat in latencies:
                for epoch in epochs:
                    r, s = ratio(elf, args.runs, epoch=epoch, protocol=protocol, latency=lat)
                    results.setdefault((name, protocol, lat), []).append((epoch, r))
                    print(f"| {name} | {protocol} | {epoch} | {lat:.0f} µs | {r:.2f} | "
                          f"{s.messages / s.seconds:.0f} | "
                          f"{s.bytes * 8 / s.seconds / 1e6:.2f} | "
                          f"{s.ack_wait_s * 1000:.0f} ms |", flush=True)
    # recording: a pair with --record against one without, same configuration
    print("\n| guest | recording overhead (refined, epoch 16K, pair with --record ÷ without) |")
    print("|---|---|")
    for name, elf in gs.items():
        over = []
        with tempfile.TemporaryDirectory() as d:
            for i in range(args.runs):
                plain = pair_run(elf, 16384, "refined").seconds
                rec = pair_run(elf, 16384, "refined", record=f"{d}/r{i}").seconds
                over.append(rec / plain)
        print(f"| {name} | {statistics.median(over):.3f} |")
    # failover time
    elf = gs["cpu-bound"]
    ref = pair_run(elf, 16384, "refined")
    total = ref.end.icount if ref.end else 0
    fo = []
    for k in range(args.runs):
        s = pair_run(elf, 16384, "refined", fail_at=total * (k + 1) // (args.runs + 1))
        fo.append((s.failover_s or 0.0) * 1000)
    print(f"\nfailover (cpu-bound, refined, epoch 16K, --detect-ms 50): death → backup "
          f"live, median {statistics.median(fo):.1f} ms (runs: "
          f"{', '.join(f'{x:.1f}' for x in fo)})")
    processes_table(gs, args.runs)
    if args.plot:
        plot(results, Path(args.plot), latencies)


def plot(results: dict[tuple[str, str, float], list[tuple[int, float]]], out: Path,
         latencies: list[float]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out.mkdir(parents=True, exist_ok=True)
    for name in sorted({k[0] for k in results}):
        fig, axes = plt.subplots(1, len(latencies), figsize=(5 * len(latencies), 3.6),
                                 squeeze=False)
        for ax, lat in zip(axes[0], latencies, strict=True):
            for protocol in PROTOCOLS:
                pts = results.get((name, protocol, lat), [])
                if pts:
                    ax.plot([e for e, _ in pts], [r for _, r in pts], marker="o",
                            label=protocol)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("epoch length (instructions)")
            ax.set_ylabel("replicated ÷ solo")
            ax.set_title(f"{name}, link latency {lat:.0f} µs")
            ax.axhline(1.0, color="grey", lw=0.5)
            ax.legend()
        fig.tight_layout()
        path = out / f"replication-{name}.png"
        fig.savefig(path, dpi=100)
        print(f"plot: {path}")


if __name__ == "__main__":
    main()
