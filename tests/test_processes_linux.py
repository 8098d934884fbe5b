"""Primary, backup and devices as processes on the Linux guest: a recorded boot to
power-off that replays, and seeded kill -9 points of the primary's process across the
boot, after which the console (printed by the device process) is the reference's but
for the repeated-output window (kernel lines compared as in test_replication_linux).
"""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from test_replication_linux import APPEND, EPOCH, _without_one_repeat, same_console

from hvdbg.machine import images
from hvdbg.machine.spec import GuestSpec
from hvdbg.replication.pair import PairSummary, exit_status
from hvdbg.replication.processes import run_pair_processes
from hvdbg.replication.roles import ReplicationConfig
from hvdbg.trace import log as L

KILLS = 5
SEED = 2026


def run(img: images.GuestImages, **kw: object) -> tuple[str, PairSummary]:
    out = bytearray()
    spec = GuestSpec("/usr/share/qemu/hppa-firmware.img", str(img.vmlinux), str(img.initrd),
                     APPEND, 1024, "virtual")
    s = run_pair_processes(spec, ReplicationConfig(EPOCH, "refined", 0.5), sink=out.extend,
                           timeout=900, **kw)  # type: ignore[arg-type]
    return out.decode(errors="replace"), s


@pytest.fixture(scope="module")
def reference(guest_images: images.GuestImages, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[str, PairSummary, Path]:
    d = tmp_path_factory.mktemp("linux-proc-ref")
    out, s = run(guest_images, record=str(d / "rec"))
    return out, s, d / "rec"


def test_linux_processes_boot_and_replay(reference: tuple[str, PairSummary, Path]) -> None:
    out, s, d = reference
    assert s.error == "" and exit_status(s) == 0, s.render()
    assert "init: poweroff" in out and s.verified == s.epochs > 10_000
    r = subprocess.run([sys.executable, "-m", "hvdbg", "replay", str(d)], check=False,
                       capture_output=True, timeout=900, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode(errors="replace") == out


@pytest.mark.parametrize("k", range(KILLS))
def test_linux_processes_kill_9(guest_images: images.GuestImages,
                                reference: tuple[str, PairSummary, Path], k: int) -> None:
    ref_out, ref, d = reference
    assert ref.end is not None
    total = ref.end.icount
    rng = random.Random(SEED)
    at = sorted(rng.randrange(total // 50, total - total // 50) for _ in range(KILLS))[k]
    out, s = run(guest_images, fail_at=at)
    assert s.error == "" and exit_status(s) == 0, s.render()
    assert s.failover_s is not None, s.render()
    if same_console(ref_out, out):
        return
    _, recs = L.read_log(d)
    per: dict[int, int] = {}
    for r in recs:
        if r.type in (L.RecordType.IO, L.RecordType.OUTPUT) and r.data:
            per[r.icount // EPOCH] = per.get(r.icount // EPOCH, 0) + len(r.data)
    limit = max(per.values())
    assert any(same_console(ref_out, cand) for cand in _without_one_repeat(out, limit)), \
        f"kill -9 at {at}: console differs beyond the repeated-output window"
