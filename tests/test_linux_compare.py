"""The console comparison rule for Linux boots (linux_compare.py), on two real consoles
of the same images (Linux 6.1, busybox initramfs, ``console=ttyS0 panic=-1``, 1024 MiB):
one from qemu-system-hppa 7.2, one from ``hvdbg run --clock host``."""
from __future__ import annotations

import re
from pathlib import Path

import linux_compare as lc

DATA = Path(__file__).resolve().parent / "data"
TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\] ")
HOST = re.compile(r"^init: hostdate: |BogoMIPS|^rtc-generic rtc-generic: setting system clock")


def console(name: str) -> list[str]:
    lines = [TIMESTAMP.sub("", s).rstrip() for s in (DATA / name).read_text().splitlines()]
    return [s for s in lines if not HOST.search(s)]


def test_recorded_boots_agree_modulo_known_differences() -> None:
    q, h = console("linux_boot_qemu.txt"), console("linux_boot_hvdbg.txt")
    assert lc.first_difference(q, h) is None
    assert "hvtest: ALL OK (16 checks)" in h and "init: poweroff" in h
    assert sum(1 for s in q if any(p.search(s) for p in lc.QEMU_ONLY)) == 12


def test_a_real_difference_is_reported() -> None:
    q, h = console("linux_boot_qemu.txt"), console("linux_boot_hvdbg.txt")
    i = h.index("hvtest: ALL OK (16 checks)")
    assert "line" in (lc.first_difference(q, h[:i] + ["hvtest: FAILED"] + h[i + 1:]) or "")
    assert "lines" in (lc.first_difference(q, h[:-1]) or "")
    assert "SCSI" in (lc.first_difference(q + ["scsi host0: sym-2.2.3"],
                                          h + ["scsi host0: sym-2.2.3"]) or "")
    drop = [s for s in h if not s.startswith("Freeing initrd memory")]
    assert "asynchronous" in (lc.first_difference(q, drop) or "")
