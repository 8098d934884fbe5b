"""Every bare-metal guest under tests/guests/src: hvdbg's console output must equal
QEMU's byte for byte (or the checked-in expectation where QEMU 7.2 is known wrong)."""
from __future__ import annotations

import guestbuild as gb
import pytest

GUESTS = gb.all_guests()


@pytest.mark.parametrize("g", GUESTS, ids=[g.name for g in GUESTS])
def test_guest_matches_oracle(g: gb.Guest) -> None:
    elf = gb.build(g)
    if "expected" in g.directives:
        want = g.expected_file.read_bytes()
    else:
        want = gb.run_qemu(elf)
    max_insns = g.directives.get("max-insns", "200000000")
    got = gb.run_hvdbg(elf, "--max-insns", max_insns).stdout
    assert got == want


def test_there_are_enough_guests() -> None:
    assert len(GUESTS) >= 15
