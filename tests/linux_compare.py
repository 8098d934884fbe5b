"""Comparing a Linux boot console of hvdbg with QEMU's (for tests/test_linux_guest.py).

Beyond host time and host speed (the caller's own filter), two kinds of lines differ
for known reasons, documented in docs/guests.md:

- ``QEMU_ONLY``: QEMU 7.2's B160L always has an LSI 53c895a SCSI controller at PCI
  00:00.0; hvdbg does not model it, so the PCI scan and the sym53c8xx driver print these
  lines only under QEMU;
- ``CR16_TIMED``: figures the kernel measures with CR16 (TLB and cache flush timings and
  the thresholds derived from them) depend on the emulator's speed;
- ``UNORDERED``: lines printed by asynchronous work (the initramfs unpack) whose position
  moves between runs on either emulator: compared as a set, not by position.
"""
from __future__ import annotations

import re

QEMU_ONLY = (
    re.compile(r"^pci 0000:00:00\.0: "),
    re.compile(r"^sym53c8xx 0000:00:00\.0: "),
    re.compile(r"^sym0: "),
    re.compile(r"^scsi host0: sym-"),
)
CR16_TIMED = (
    re.compile(r"^Calculated flush threshold is "),
    re.compile(r"^Whole TLB flush \d+ cycles, "),
    re.compile(r"^Calculated TLB flush threshold "),
    re.compile(r"^TLB flush threshold set to "),
)
UNORDERED = (
    re.compile(r"^Freeing initrd memory: "),
)


def _drop(lines: list[str], patterns: tuple[re.Pattern[str], ...]) -> list[str]:
    return [s for s in lines if not any(p.search(s) for p in patterns)]


def split(lines: list[str], qemu: bool) -> tuple[list[str], list[str]]:
    """(lines compared in order, unordered lines) of one console."""
    lines = _drop(lines, CR16_TIMED + (QEMU_ONLY if qemu else ()))
    ordered = _drop(lines, UNORDERED)
    unordered = sorted(s for s in lines if any(p.search(s) for p in UNORDERED))
    return ordered, unordered


def first_difference(qemu: list[str], hvdbg: list[str]) -> str | None:
    """None when the two consoles (already without timestamps and host-time lines) agree
    modulo the known differences above; otherwise a message naming the first one."""
    for line in hvdbg:
        if any(p.search(line) for p in QEMU_ONLY):
            return f"hvdbg printed a line only QEMU's SCSI controller explains: {line!r}"
    q, q_any = split(qemu, qemu=True)
    h, h_any = split(hvdbg, qemu=False)
    for i, (a, b) in enumerate(zip(q, h, strict=False)):
        if a != b:
            return f"line {i + 1} differs:\n  qemu:  {a!r}\n  hvdbg: {b!r}"
    if len(q) != len(h):
        longer = q if len(q) > len(h) else h
        return (f"qemu printed {len(q)} lines, hvdbg {len(h)}; tail of the longer:\n"
                + "\n".join(longer[-10:]))
    if q_any != h_any:
        return f"asynchronous lines differ:\n  qemu:  {q_any}\n  hvdbg: {h_any}"
    return None
