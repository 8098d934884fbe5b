"""Fuzz the C core through its public API: random instruction words, random PSW and
register state, random answers to every I/O and environment exit, random external
interrupts, plus malformed calls to the memory, translation, breakpoint and snapshot
entry points.  The core must never crash the host (CI also runs this file against an
ASan/UBSan build), gr0 must stay 0, every exit must have a known reason and
well-formed fields, the retired-instruction count must behave as hvcore.h says, and
the same seed must give the same run.

Bounded by default (about ten seconds).  HVDBG_FUZZ_LONG=1 runs the long variant
(more seeds, more words, more instructions).
"""
from __future__ import annotations

import hashlib
import os
import random
import struct
from dataclasses import dataclass, field
from typing import Any

import pytest

LONG = os.environ.get("HVDBG_FUZZ_LONG") == "1"
SEEDS = range(200) if LONG else range(12)
WORDS = 200_000 if LONG else 50_000           # random words per region (RAM, firmware)
INSNS = 20_000_000 if LONG else 2_000_000     # instructions retired per seed

RAM = 16 << 20
FW_BASE, FW_SIZE = 0xF0000000, 0x00800000
IO_BASE = 0xF0800000
CODE_RAM = 0x00010000                          # where random code goes in RAM
IO_TARGETS = [0xFFD05800, 0xFFD05805, 0xFFD00000, 0xFFD0C000, 0xFFD09000, 0xFFF80064,
              0xFFFA0000, 0xFFFB0000, 0xFFFFF000, 0xF0800000, 0xFFFFFFFC]


def _lib():
    try:
        from hvdbg.cpu._core import ffi, lib
    except ImportError as e:  # not built
        if os.environ.get("CI"):
            pytest.fail(f"hvdbg.cpu._core is not built: {e}")
        pytest.skip(f"hvdbg.cpu._core is not built: {e}")
    return ffi, lib


# ---- random code -----------------------------------------------------------------

def _field(v: int, pos: int, width: int) -> int:
    """Place ``v`` in the instruction word at PA bit ``pos`` (0 = MSB), ``width`` bits."""
    return (v & ((1 << width) - 1)) << (32 - pos - width)


def _plausible(rng: random.Random) -> int:
    """An instruction with a real major opcode: loads/stores (often through base registers
    that point at I/O space), ALU ops, branches with short displacements, system ops."""
    op = rng.choice([0x00, 0x02, 0x03, 0x08, 0x0A, 0x0D, 0x10, 0x11, 0x12, 0x13, 0x18, 0x19,
                     0x1A, 0x1B, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x28, 0x29, 0x2A, 0x2B,
                     0x2C, 0x2D, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x38, 0x39, 0x3A, 0x01,
                     0x09, 0x0B, 0x0C, 0x0E])
    w = _field(op, 0, 6) | rng.getrandbits(26)
    if op in (0x20, 0x21, 0x22, 0x23, 0x28, 0x29, 0x2A, 0x2B, 0x30, 0x31, 0x32, 0x33, 0x3A):
        w = (w & ~0x1FFC) | (rng.randrange(-8, 8) & 0x7FF) << 3   # short branch hops
    return w


def _words(rng: random.Random, n: int) -> bytes:
    out = bytearray()
    for _ in range(n):
        r = rng.random()
        if r < 0.45:
            w = rng.getrandbits(32)
        elif r < 0.95:
            w = _plausible(rng)
        else:
            w = rng.choice([0x08000240, 0xE8000002, 0x00000000, 0xE81F1FF5])  # nop, b,n, break, b .
        out += struct.pack(">I", w)
    return bytes(out)


# ---- random machine state ----------------------------------------------------------

def _randomise(lib, vm, st, rng: random.Random) -> None:
    lib.hv_reset(vm)
    for i in range(1, 32):
        v = rng.choice([rng.getrandbits(32), rng.choice(IO_TARGETS) + rng.randrange(-8, 8),
                        CODE_RAM + 4 * rng.randrange(1 << 14), FW_BASE + 4 * rng.randrange(1 << 14),
                        rng.randrange(-64, 64)])
        st.gr[i] = v & 0xFFFFFFFF
    for i in range(8):
        st.sr[i] = rng.choice([0, 0, rng.getrandbits(16), rng.getrandbits(32)])
    for i in (0, 8, 9, 10, 11, 12, 13, 15, 19, 20, 21, 22, 23):
        st.cr[i] = rng.getrandbits(32)
    st.cr[11] &= 31
    st.cr[14] = rng.choice([CODE_RAM, FW_BASE, rng.getrandbits(32) & ~0x7FF])      # IVA
    for i in range(7):
        st.shadow[i] = rng.getrandbits(32)
    # PSW: mostly the common bits, sometimes anything at all
    common = 0x01FFFF7F & rng.getrandbits(32)
    st.psw = rng.getrandbits(32) if rng.random() < 0.2 else common & ~0x06  # keep C/D off often
    if rng.random() < 0.3:
        st.psw |= rng.choice([0x2, 0x40000, 0x40002])                        # D, C, both
    base = rng.choice([CODE_RAM, FW_BASE])
    pc = (base + 4 * rng.randrange(WORDS)) | rng.randrange(4)                  # privilege bits
    st.iaoq_f = pc
    st.iaoq_b = rng.choice([pc + 4, (base + 4 * rng.randrange(WORDS)) | (pc & 3)])
    st.iasq_f = st.iasq_b = rng.choice([0, 0, rng.getrandbits(32)])
    for i in range(32):
        st.fr[i] = rng.getrandbits(64)
    if rng.random() < 0.5:
        lib.hv_set_clock(vm, lib.HV_CLOCK_VIRTUAL, rng.randrange(1, 8))
    else:
        lib.hv_set_clock(vm, lib.HV_CLOCK_HOST, 0)


KNOWN = {"BUDGET", "IO_READ", "IO_WRITE", "ENV_READ", "ENV_WRITE", "BREAKPOINT",
         "WATCHPOINT", "STOP", "FAULT", "HALT"}


@dataclass
class Stats:
    exits: dict[str, int] = field(default_factory=dict)
    retired: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


def _check_exit(lib, ex, st, reasons: dict[int, str]) -> str:
    name = reasons.get(ex.reason)
    assert name in KNOWN, f"unknown exit reason {ex.reason}"
    assert st.gr[0] == 0, "gr0 was written"
    assert ex.icount == st.icount, "exit icount differs from the state's"
    if name in ("IO_READ", "IO_WRITE"):
        assert ex.size in (1, 2, 4, 8), f"I/O size {ex.size}"
        in_memory = ex.addr < RAM or FW_BASE <= ex.addr < FW_BASE + FW_SIZE
        assert not in_memory, f"I/O exit for memory address {ex.addr:#x}"
        assert ex.addr % ex.size == 0 or ex.size == 8, f"misaligned I/O {ex.addr:#x}/{ex.size}"
    if name in ("ENV_READ", "ENV_WRITE"):
        assert ex.addr == lib.HV_ENV_CR16
    if name == "FAULT":
        assert ex.msg[0] != b"\0", "FAULT without a message"
    return name


def _fuzz_seed(seed: int) -> Stats:
    ffi, lib = _lib()
    rng = random.Random(seed)
    reasons = {getattr(lib, n): n.removeprefix("HV_EXIT_") for n in dir(lib)
               if n.startswith("HV_EXIT_")}
    vm = lib.hv_vm_new(RAM)
    assert vm != ffi.NULL
    try:
        st = lib.hv_state(vm)
        ram_code = _words(rng, WORDS)
        assert lib.hv_phys_write(vm, CODE_RAM, ram_code, len(ram_code)) == 0
        fw_code = _words(rng, WORDS)
        assert lib.hv_phys_write(vm, FW_BASE, fw_code, len(fw_code)) == 0
        _randomise(lib, vm, st, rng)
        for _ in range(rng.randrange(4)):
            lib.hv_bp_add(vm, CODE_RAM + 4 * rng.randrange(WORDS))
        for _ in range(rng.randrange(3)):
            lib.hv_wp_add(vm, CODE_RAM + 4 * rng.randrange(WORDS), rng.randrange(1, 64),
                          rng.randrange(1, 4))
        ex = ffi.new("hv_exit_t *")
        stats = Stats()
        snap = ffi.new("uint8_t[]", lib.hv_core_snapshot_size())
        flags = 0
        stuck = 0                                   # consecutive exits that retired nothing
        while stats.retired < INSNS:
            before = st.icount
            budget = rng.choice([1, 2, 3, 17, 1000, 1000, 20_000])
            if rng.random() < 0.02:
                lib.hv_set_eirr(vm, 1 << rng.randrange(32))
            if rng.random() < 0.01:
                st.cr[15] = rng.getrandbits(32)                     # EIEM
            lib.hv_run(vm, budget, flags, ex)
            flags = 0
            name = _check_exit(lib, ex, st, reasons)
            done = st.icount - before
            assert 0 <= done <= budget, f"ran {done} instructions on a budget of {budget}"
            if name == "BUDGET":
                assert done == budget, f"budget exit after {done} of {budget}"
            stats.retired += done
            stuck = stuck + 1 if done == 0 and name != "FAULT" else 0
            assert stuck < 64, (f"no progress: {name} exits repeat at pc {ex.pc:#x} "
                                f"insn {ex.insn:#010x} addr {ex.addr:#x} (icount {st.icount})")
            stats.exits[name] = stats.exits.get(name, 0) + 1
            stats.digest.update(struct.pack("<IIIIQ", ex.reason, ex.addr, ex.size, ex.value,
                                            ex.icount))
            if name in ("IO_READ", "ENV_READ"):
                lib.hv_io_complete(vm, rng.getrandbits(32))
            elif name in ("IO_WRITE", "ENV_WRITE"):
                lib.hv_io_complete(vm, 0)
            elif name == "BREAKPOINT":
                flags = lib.HV_RUN_SKIP_BP
            elif name in ("FAULT", "HALT") or (name == "BUDGET" and rng.random() < 0.1):
                _randomise(lib, vm, st, rng)                       # start somewhere new
            if rng.random() < 0.01 and name not in ("IO_READ", "IO_WRITE", "ENV_READ",
                                                     "ENV_WRITE"):
                lib.hv_core_save(vm, snap)
                saved = bytes(ffi.buffer(st, ffi.sizeof("hv_cpu_state_t")))
                assert lib.hv_core_restore(vm, snap) == 0
                assert bytes(ffi.buffer(st, ffi.sizeof("hv_cpu_state_t"))) == saved
        stats.digest.update(bytes(ffi.buffer(st, ffi.sizeof("hv_cpu_state_t"))))
        return stats
    finally:
        lib.hv_vm_free(vm)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_code_never_breaks_the_core(seed: int) -> None:
    stats = _fuzz_seed(seed)
    assert stats.retired >= INSNS
    # random code must reach the interesting paths, or the fuzzer is not fuzzing
    assert stats.exits.get("IO_READ", 0) + stats.exits.get("IO_WRITE", 0) > 0, stats.exits


def test_fuzz_run_is_deterministic() -> None:
    a = _fuzz_seed(1234)
    b = _fuzz_seed(1234)
    assert a.exits == b.exits
    assert a.digest.hexdigest() == b.digest.hexdigest()


def test_api_rejects_bad_arguments() -> None:
    """Out-of-range and malformed calls return errors instead of touching host memory."""
    ffi, lib = _lib()
    rng = random.Random(7)
    assert lib.hv_vm_new(0) == ffi.NULL
    assert lib.hv_vm_new(0xFFFFFFFF) == ffi.NULL
    vm = lib.hv_vm_new(RAM)
    try:
        buf = ffi.new("uint8_t[]", 4096)
        # ranges that run off the end of RAM, into I/O space, or wrap around 2^32
        for pa, n in [(RAM - 1, 2), (RAM, 1), (FW_BASE + FW_SIZE - 2, 4), (IO_BASE, 1),
                      (0xFFFFFFFF, 2), (0xFFFFF000, 4096), (RAM - 4096, 4096 + 1)]:
            assert lib.hv_phys_read(vm, pa, buf, n) == -1, hex(pa)
            assert lib.hv_phys_write(vm, pa, buf, n) == -1, hex(pa)
        assert lib.hv_phys_read(vm, RAM - 4096, buf, 4096) == 0
        assert lib.hv_phys_write(vm, FW_BASE + FW_SIZE - 4096, buf, 4096) == 0
        assert lib.hv_phys_read(vm, 0, buf, 0) == 0
        pa = ffi.new("uint32_t *")
        st = lib.hv_state(vm)
        for _ in range(2000):
            st.psw = rng.getrandbits(32)
            for i in range(8, 14):
                st.cr[i] = rng.getrandbits(32)
            lib.hv_translate(vm, rng.getrandbits(32), rng.getrandbits(32), rng.randrange(2), pa)
        # breakpoint and watchpoint tables fill up and report it
        results = [lib.hv_bp_add(vm, 4 * i) for i in range(5000)]
        assert results[0] == 0 and -1 in results
        assert lib.hv_bp_remove(vm, 0xFFFFFFF0) == -1
        wps = [lib.hv_wp_add(vm, 64 * i, 8, lib.HV_WATCH_READ) for i in range(5000)]
        assert wps[0] == 0 and -1 in wps
        lib.hv_bp_clear(vm)
        lib.hv_wp_clear(vm)
        # garbage snapshots are refused or accepted, never crash; a real one round-trips
        size = lib.hv_core_snapshot_size()
        junk = ffi.new("uint8_t[]", bytes(rng.getrandbits(8) for _ in range(size)))
        lib.hv_core_restore(vm, junk)
        lib.hv_reset(vm)
        snap = ffi.new("uint8_t[]", size)
        lib.hv_core_save(vm, snap)
        assert lib.hv_core_restore(vm, snap) == 0
        pages = ffi.new("uint32_t[]", 16)
        assert lib.hv_dirty_take(vm, pages, 0) == 0
        assert lib.hv_dirty_take(vm, pages, 16) <= 16
        # an I/O answer with nothing pending must be harmless
        lib.hv_io_complete(vm, 123)
    finally:
        lib.hv_vm_free(vm)
