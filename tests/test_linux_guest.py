"""Linux guest images (hvdbg/machine/images.py, `hvdbg guest build`): build them from
Debian packages, boot them under QEMU (the oracle) and under hvdbg, compare.

The first run builds the kernel (several minutes); later runs reuse
~/.cache/hvdbg/guest/<digest>/.  Missing tools fail the test when CI is set and skip
it otherwise (guestbuild.need_tool).

Comparing two consoles (``comparable``): carriage returns are dropped, the kernel's
``[    1.234567] `` timestamps are cut, and lines whose content is host time or host
speed are dropped (``VOLATILE``); everything else must be equal line for line.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import linux_compare
import pytest
from guestbuild import need_tool

from hvdbg.machine import images

EXPECTED = Path(__file__).resolve().parent / "linux_guest.expected"
APPEND = "console=ttyS0 panic=-1"
MEMORY_MIB = 1024
QEMU_TIMEOUT = 600      # seconds; a boot takes ~6 s on an idle machine
HVDBG_TIMEOUT = 1800

TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
# Lines that differ between two boots of the same images (found by diffing QEMU with
# QEMU and QEMU with hvdbg): host time, and figures the kernel derives from timings it
# takes with the cycle counter, which depend on host speed (delay-loop calibration,
# cache/TLB flush timings and the flush thresholds computed from them).
VOLATILE = (
    re.compile(r"^init: hostdate: "),
    re.compile(r"^rtc-generic rtc-generic: setting system clock to "),
    re.compile(r"^Calibrating delay loop\.\.\. "),
    re.compile(r"^Calculated (TLB )?flush threshold "),
    re.compile(r"^Whole TLB flush \d+ cycles, "),
    # the initramfs is unpacked asynchronously: where this line falls is timing
    re.compile(r"^Freeing initrd memory: "),
)


def qemu_cmd(img: images.GuestImages, append: str = APPEND) -> list[str]:
    return ["qemu-system-hppa", "-nodefaults", "-nographic", "-serial", "stdio",
            "-monitor", "none", "-m", str(MEMORY_MIB), "-kernel", str(img.vmlinux),
            "-initrd", str(img.initrd), "-append", append, "-no-reboot"]


def hvdbg_cmd(img: images.GuestImages, append: str = APPEND) -> list[str]:
    return [sys.executable, "-m", "hvdbg", "run", "--kernel", str(img.vmlinux),
            "--initrd", str(img.initrd), "--append", append, "-m", str(MEMORY_MIB)]


# The kernel's last line.  What follows it is the firmware's power-off path, and under
# QEMU it depends on host timing: on a loaded machine QEMU sometimes prints "SeaBIOS
# machine power switch was pressed." and "SeaBIOS wants SYSTEM HALT." before exiting.
POWER_DOWN = "reboot: Power down"


def comparable(console: str) -> list[str]:
    out = []
    for line in console.replace("\r", "").split("\n"):
        line = TIMESTAMP.sub("", line)
        if any(p.search(line) for p in VOLATILE):
            continue
        out.append(line.rstrip())
        if out[-1] == POWER_DOWN:
            break
    while out and not out[-1]:
        out.pop()
    return out


def userspace_lines(console: str) -> list[str]:
    """The lines /init and hvtest print (hvtest's and busybox's own output), host time
    excluded."""
    return [line for line in comparable(console)
            if line.startswith(("init: ", "hvtest: "))]


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; stdout/stderr decoded without newline translation (the console's
    "\r\r\n" must not become blank lines)."""
    r = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=timeout,
                       check=False)
    return subprocess.CompletedProcess(cmd, r.returncode, r.stdout.decode(errors="replace"),
                                       r.stderr.decode(errors="replace"))


def _boot_qemu(img: images.GuestImages) -> subprocess.CompletedProcess[str]:
    qemu = need_tool("qemu-system-hppa")
    return _run([qemu, *qemu_cmd(img)[1:]], QEMU_TIMEOUT)


def test_images_build_and_boot_under_qemu(guest_images: images.GuestImages) -> None:
    img = guest_images
    assert img.vmlinux.stat().st_size > 1_000_000 and img.initrd.stat().st_size > 100_000
    r = _boot_qemu(img)
    out = r.stdout
    assert r.returncode == 0, f"qemu exit {r.returncode}: {r.stderr}\n{out[-3000:]}"
    assert "Kernel panic" not in out, out[-3000:]
    lines = userspace_lines(out)
    want = EXPECTED.read_text().splitlines()
    assert lines == want, "userspace output differs from tests/linux_guest.expected:\n" + \
        "\n".join(lines)
    assert re.search(r"^init: hostdate: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$",
                     out.replace("\r", ""), re.MULTILINE), out[-2000:]
    assert "reboot: Power down" in out, out[-2000:]


def test_initrd_is_reproducible(guest_images: images.GuestImages, tmp_path: Path) -> None:
    """Recompiling the test program and re-packing the initramfs from the cached busybox
    gives the same bytes as the cached initrd.gz."""
    img = guest_images
    hvtest = images.build_hvtest(tmp_path / "hvtest", tmp_path)
    assert images.sha256_file(hvtest) == img.manifest["sha256"]["hvtest"]
    applets = [line for line in
               (img.directory / "busybox.links").read_text().splitlines() if line]
    entries = images.initramfs_entries(img.directory / "busybox", applets, hvtest,
                                       images.GUEST_SRC / "init")
    sha = images.write_initrd(tmp_path / "initrd.gz", entries)
    assert sha == images.sha256_file(img.initrd) == img.manifest["sha256"]["initrd.gz"]
    assert hashlib.sha256(images.cpio_newc(entries)).hexdigest() == \
        hashlib.sha256(images.cpio_newc(list(reversed(entries)))).hexdigest()


def test_cli_guest_path_uses_the_cache(guest_images: images.GuestImages) -> None:
    r = subprocess.run([sys.executable, "-m", "hvdbg", "guest", "path"], capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == guest_images.directory
    assert "guest: kernel" not in r.stderr          # nothing was rebuilt


def test_hvdbg_boots_like_qemu(guest_images: images.GuestImages) -> None:
    img = guest_images
    q = _boot_qemu(img)
    assert q.returncode == 0, q.stderr
    try:
        h = _run(hvdbg_cmd(img), HVDBG_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hvdbg did not power off within {HVDBG_TIMEOUT} s: "
                    f"{(e.stdout or b'')[-2000:]!r}")
    assert h.returncode == 0, f"hvdbg exit {h.returncode}: {h.stderr[-2000:]}"
    # the one known device difference: QEMU's SCSI controller, which hvdbg does not
    # model (linux_compare.QEMU_ONLY, docs/guests.md)
    diff = linux_compare.first_difference(comparable(q.stdout), comparable(h.stdout))
    assert diff is None, diff
    assert "hvtest: ALL OK" in h.stdout and "reboot: Power down" in h.stdout
