"""The replication hypervisor on the Linux guest (issue 4): primary and backup agree at
every epoch of a boot to userspace and power-off; a seeded campaign of failover points
across the boot leaves the console as the unreplicated run's (host-time lines and
timestamps aside) but for the repeated-output window; with the host clock the backup
sees the primary's CR16 and RTC values; the recorded run replays exactly.

The images come from hvdbg/machine/images.py (built once, cached; see test_linux_guest).
"""
from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from linux_compare import CR16_TIMED, first_difference
from test_linux_guest import comparable, userspace_lines

from hvdbg.machine import images
from hvdbg.machine.spec import GuestSpec
from hvdbg.replication.pair import PairSummary, exit_status, run_pair
from hvdbg.replication.roles import ReplicationConfig
from hvdbg.trace import log as L

APPEND = "console=ttyS0 panic=-1"
EPOCH = 16384
CAMPAIGN = 20
SEED = 1996


def spec(img: images.GuestImages, clock: str = "host") -> GuestSpec:
    return GuestSpec("/usr/share/qemu/hppa-firmware.img", str(img.vmlinux), str(img.initrd),
                     APPEND, 1024, clock)


def pair(img: images.GuestImages, detect: float = 5.0, clock: str = "host", **kw: object
         ) -> tuple[str, PairSummary]:
    out = bytearray()
    s = run_pair(spec(img, clock), ReplicationConfig(EPOCH, "refined", detect), sink=out.extend,
                 timeout=900, **kw)  # type: ignore[arg-type]
    return out.decode(errors="replace"), s


@pytest.fixture(scope="module")
def reference(guest_images: images.GuestImages, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[str, PairSummary, Path]:
    """One replicated, recorded boot without failures."""
    d = tmp_path_factory.mktemp("linux-ref")
    out, s = pair(guest_images, record=str(d))
    return out, s, d


@pytest.fixture(scope="module")
def reference_virtual(guest_images: images.GuestImages, tmp_path_factory: pytest.TempPathFactory
                      ) -> tuple[str, PairSummary, Path]:
    """The same with --clock virtual: the boot's length in instructions is then fixed,
    so every failure point of the campaign falls inside it."""
    d = tmp_path_factory.mktemp("linux-ref-virtual")
    out, s = pair(guest_images, clock="virtual", record=str(d))
    return out, s, d


def test_linux_pair_agrees_at_every_epoch_and_replays(
        guest_images: images.GuestImages, reference: tuple[str, PairSummary, Path]) -> None:
    out, s, d = reference
    assert s.error == "" and exit_status(s) == 0, s.render()
    assert s.epochs > 10_000 and s.verified == s.epochs
    assert "init: poweroff" in out
    img = guest_images
    solo = subprocess.run([sys.executable, "-m", "hvdbg", "run", "--kernel", str(img.vmlinux),
                           "--initrd", str(img.initrd), "--append", APPEND], check=False,
                          capture_output=True, timeout=900, stdin=subprocess.DEVNULL)
    assert solo.returncode == 0
    # under the host clock the order of asynchronous kernel messages ("Trying to unpack
    # rootfs", "clocksource: Switched") follows host timing: compare the lines as a
    # multiset; the exact order is what the replay below checks, against the recording
    assert sorted(comparable(solo.stdout.decode(errors="replace"))) == \
        sorted(comparable(out))
    r = subprocess.run([sys.executable, "-m", "hvdbg", "replay", str(d)], check=False,
                       capture_output=True, timeout=900, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode(errors="replace") == out
    assert f"verified: {s.epochs} epochs, 0 mismatches".encode() in r.stderr


def test_linux_backup_sees_the_primarys_clock(
        guest_images: images.GuestImages, reference: tuple[str, PairSummary, Path]) -> None:
    """--clock host: CR16 (environment instruction) and the RTCs (I/O reads) are read on
    the primary's side only; the backup takes the values from the stream and still
    matches every digest."""
    _, s, d = reference
    _, recs = L.read_log(d)
    env = io_reads = 0
    for r in recs:
        if r.type is L.RecordType.ENV:
            env += 1
        elif r.type is L.RecordType.IO and r.kind == L.IO_READ:
            io_reads += 1
    assert env > 1000 and io_reads > 0 and s.verified == s.epochs


def test_linux_clock_reads_happen_on_the_primary_only(
        guest_images: images.GuestImages, monkeypatch: pytest.MonkeyPatch) -> None:
    from hvdbg.machine.environment import Environment, HostIntervalTimer
    who: set[str] = set()
    real_read, real_wall = HostIntervalTimer.read, Environment.wall_seconds

    def read(self: HostIntervalTimer) -> int:
        who.add(threading.current_thread().name)
        return real_read(self)

    def wall(self: Environment) -> float:
        who.add(threading.current_thread().name)
        return real_wall(self)
    monkeypatch.setattr(HostIntervalTimer, "read", read)
    monkeypatch.setattr(Environment, "wall_seconds", wall)
    _, s = pair(guest_images, max_insns=60_000_000)
    assert s.error == "" and who == {"primary"}


def _points(total: int) -> list[int]:
    rng = random.Random(SEED)
    return sorted(rng.randrange(total // 50, total - total // 50) for _ in range(CAMPAIGN))


@pytest.mark.parametrize("k", range(CAMPAIGN))
def test_linux_failover_campaign(guest_images: images.GuestImages,
                                 reference_virtual: tuple[str, PairSummary, Path],
                                 k: int) -> None:
    ref_out, ref, d = reference_virtual
    assert ref.end is not None and ref.error == ""
    fail_at = _points(ref.end.icount)[k]
    out, s = pair(guest_images, detect=0.05, clock="virtual", fail_at=fail_at)
    assert s.error == "" and exit_status(s) == 0, s.render()
    assert (s.died_at == fail_at or s.fenced) and s.failover_s is not None
    if same_console(ref_out, out):
        return
    # the repeated-output window: at most one epoch's output, once, right after itself
    _, recs = L.read_log(d)
    per: dict[int, int] = {}
    for r in recs:
        if r.type in (L.RecordType.IO, L.RecordType.OUTPUT) and r.data:
            per[r.icount // EPOCH] = per.get(r.icount // EPOCH, 0) + len(r.data)
    limit = max(per.values())
    assert any(same_console(ref_out, cand) for cand in _without_one_repeat(out, limit)), \
        f"failover at {fail_at}: {first_difference(comparable(ref_out), comparable(out))}"


def same_console(want: str, got: str) -> bool:
    """Userspace output in the same order; kernel lines the same as a multiset.  A
    failover changes the guest's timing (host clock), and the kernel's asynchronous
    work (initramfs unpacking, clocksource switch, ...) then prints in another order;
    what is printed must not change."""
    if userspace_lines(want) != userspace_lines(got):
        return False
    def lines(text: str) -> list[str]:
        return sorted(s for s in comparable(text) if not any(p.search(s) for p in CR16_TIMED))
    return lines(want) == lines(got)


def _without_one_repeat(text: str, limit: int) -> Iterator[str]:
    """Every way of removing one piece of at most ``limit`` characters that repeats the
    text right before it."""
    n = len(text)
    for i in range(1, n):
        for length in range(1, min(limit, i, n - i) + 1):
            if text[i:i + length] == text[i - length:i]:
                yield text[:i] + text[i + length:]
