"""Epochs and state digests in the core (architecture sections 2 and 5): records at exact
instruction counts, exits only when asked, digests that are equal for equal states,
change with any byte of memory, and are the same computed incrementally or afresh."""
from __future__ import annotations

import guestbuild as gb
import pytest

from hvdbg.cpu.core import EPOCH_BUF, EPOCH_DIGEST, EPOCH_EXIT_EACH, Core, ExitReason
from hvdbg.machine.machine import Machine

L = 1024


@pytest.fixture(scope="module")
def crcsort() -> str:
    return str(gb.build(gb.guest("crcsort")))


def booted(elf: str) -> Machine:
    m = Machine(16)
    m.load_bios(elf)
    return m


def run_answering(m: Machine, budget: int) -> list:
    """Run ``budget`` instructions, answering I/O (the UART) like the solo loop does;
    returns the non-I/O exits seen."""
    core, env = m.core, m.env
    end = core.icount + budget
    seen = []
    while core.icount < end:
        e = core.run(end - core.icount)
        if e.reason is ExitReason.IO_READ:
            core.io_complete(env.io_read(e.addr, e.size))
        elif e.reason is ExitReason.IO_WRITE:
            env.io_write(e.addr, e.size, e.value)
            core.io_complete(0)
        elif e.reason is not ExitReason.BUDGET:
            seen.append(e)
    return seen


def test_epoch_records_at_exact_counts(crcsort: str) -> None:
    m = booted(crcsort)
    m.core.epoch_config(L)
    assert run_answering(m, 5 * L + 7) == []          # no exit unless asked
    recs = m.core.epoch_take()
    assert [e for e, _ in recs] == [0, 1, 2, 3, 4]
    assert all(d != 0 for _, d in recs)
    assert m.core.epoch_take() == []


def test_exit_next_and_exit_each(crcsort: str) -> None:
    m = booted(crcsort)
    m.core.epoch_config(L)
    run_answering(m, 100)
    m.core.epoch_exit_next()
    seen = run_answering(m, 3 * L)
    assert [(e.reason, e.addr, e.icount) for e in seen] == [(ExitReason.EPOCH, 0, L)]
    m2 = booted(crcsort)
    m2.core.epoch_config(L, EPOCH_DIGEST | EPOCH_EXIT_EACH)
    seen = run_answering(m2, 3 * L)
    assert [(e.addr, e.icount) for e in seen] == [(0, L), (1, 2 * L), (2, 3 * L)]
    # exiting or not, the records are the same
    assert m2.core.epoch_take() == m.core.epoch_take()[:3]


def test_digest_sequence_is_deterministic_and_sensitive(crcsort: str) -> None:
    a, b, c = booted(crcsort), booted(crcsort), booted(crcsort)
    # one byte of otherwise unused RAM differs in c
    c.core.write_phys(0x00F00000, b"\x01")
    for m in (a, b, c):
        m.core.epoch_config(L)
        run_answering(m, 20 * L)
    da, db, dc = (m.core.epoch_take() for m in (a, b, c))
    assert len(da) == 20 and da == db
    assert all(x[1] != y[1] for x, y in zip(da, dc, strict=True))
    # and a register
    b.core.state.gr[19] ^= 1
    assert b.core.digest() != a.core.digest()


def test_incremental_digest_equals_fresh(crcsort: str) -> None:
    m = booted(crcsort)
    m.core.epoch_config(L)
    run_answering(m, 50 * L)
    want = m.core.digest()
    # an identical VM built from scratch: its first digest hashes all memory afresh
    fresh = Core(m.core.ram_size)
    fresh.restore(m.core.snapshot())
    for page in range(m.core.page_count):
        pa = page * 4096 if page * 4096 < m.core.ram_size else \
            0xF0000000 + (page - m.core.ram_size // 4096) * 4096
        fresh.write_phys(pa, m.core.read_phys(pa, 4096))
    assert fresh.digest() == want


def test_record_buffer_full_exits(crcsort: str) -> None:
    m = booted(crcsort)
    m.core.epoch_config(1)             # not a hypervisor epoch length: just fills the buffer
    e = m.core.run(EPOCH_BUF + 10)
    assert e.reason is ExitReason.EPOCH and e.icount == EPOCH_BUF
    # not drained: the core refuses to go on (and never writes past its buffer)
    for _ in range(2):
        e = m.core.run(10)
        assert e.reason is ExitReason.EPOCH and e.icount == EPOCH_BUF + 1
    assert len(m.core.epoch_take()) == EPOCH_BUF
    e = m.core.run(10)
    assert e.reason is ExitReason.BUDGET and e.icount == EPOCH_BUF + 11
    assert [n for n, _ in m.core.epoch_take()] == list(range(EPOCH_BUF, EPOCH_BUF + 11))


def test_epochs_do_not_change_the_guests_course(crcsort: str) -> None:
    """Recording epochs and digests is observation only: the same guest with and without
    them reaches the same state (their cost is measured in benchmarks/, not here)."""
    plain, epochs = booted(crcsort), booted(crcsort)
    epochs.core.epoch_config(L)
    run_answering(plain, 200 * L)
    run_answering(epochs, 200 * L)
    assert len(epochs.core.epoch_take()) == 200
    assert plain.core.digest() == epochs.core.digest()
