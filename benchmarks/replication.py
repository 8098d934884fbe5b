"""The paper's evaluation, redone on bare-metal guests: replicated / solo wall time for a
CPU-bound guest (benchmarks/guests/cpu_bench.c) and a console-bound one (crcsort), per
epoch length, protocol and link latency; stream bytes and messages per second; failover
time.  Medians of --runs runs (this machine is noisy: compare ratios, not times).

    python3 benchmarks/replication.py [--runs 3] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import guestbuild as gb
from cpu import build as build_cpu_bench

from hvdbg.machine.spec import GuestSpec
from hvdbg.replication.link import LinkConfig
from hvdbg.replication.pair import run_pair
from hvdbg.replication.roles import ReplicationConfig


def solo_time(elf: str) -> float:
    m = GuestSpec(elf).boot()
    t0 = time.perf_counter()
    m.run(timeout=600)
    return time.perf_counter() - t0


def pair_run(elf: str, epoch: int, protocol: str, latency: float, fail_at: int | None = None):
    return run_pair(GuestSpec(elf), ReplicationConfig(epoch, protocol, 0.05),
                    link=LinkConfig(latency_us=latency), sink=lambda d: None,
                    fail_at=fail_at, timeout=600)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="epoch 16K only, latency 0 only")
    args = ap.parse_args()
    guests = {"cpu-bound": str(build_cpu_bench(1)),
              "console-bound": str(gb.build(gb.guest("crcsort")))}
    epochs = [16384] if args.quick else [1024, 4096, 16384, 65536]
    latencies = [0.0] if args.quick else [0.0, 100.0]
    print(f"{'guest':14} {'protocol':12} {'epoch':>6} {'lat us':>6} {'ratio':>6} "
          f"{'msgs/s':>9} {'Mbit/s':>7} {'ack wait':>9}")
    for name, elf in guests.items():
        solo = statistics.median(solo_time(elf) for _ in range(args.runs))
        print(f"{name:14} {'solo':12} {'':>6} {'':>6} {1.0:6.2f}   ({solo:.3f} s)")
        for protocol in ("original", "refined", "output-rule"):
            for epoch in epochs:
                for lat in latencies:
                    runs = [pair_run(elf, epoch, protocol, lat) for _ in range(args.runs)]
                    t = statistics.median(r.seconds for r in runs)
                    s = runs[0]
                    print(f"{name:14} {protocol:12} {epoch:6} {lat:6.0f} {t / solo:6.2f} "
                          f"{s.messages / s.seconds:9.0f} {s.bytes * 8 / s.seconds / 1e6:7.2f} "
                          f"{s.ack_wait_s * 1000:7.1f}ms", flush=True)
    elf = guests["cpu-bound"]
    ref = pair_run(elf, 16384, "refined", 0.0)
    total = ref.end.icount if ref.end else 0
    fo = [pair_run(elf, 16384, "refined", 0.0, fail_at=total // 2).failover_s or 0.0
          for _ in range(args.runs)]
    print(f"failover (refined, epoch 16K, --detect-ms 50): median "
          f"{statistics.median(fo) * 1000:.1f} ms from death to the backup live")


if __name__ == "__main__":
    main()
