"""Exactness gates of the core's predecoded fast path (csrc/fastpath.h): everything it
does must be bit-identical to the reference path that ``HV_RUN_REFERENCE`` forces.

- every bare-metal test guest, run under random small budgets (1-1000 instructions per
  ``hv_run`` for its first instructions, larger later), gives after every exit the same
  exit record, instruction count, instruction address queue, PSW and full state digest
  on both paths;
- random code (the fuzzer's generator: traps, I/O, virtual mode, nullification) run in
  lockstep on two VMs, one per path;
- self-modifying code (a store into the current page, into the next instruction, into a
  delay slot, a branch target rewritten from the delay slot), an exit on a nullified
  delay slot, breakpoints and watchpoints inside code the fast path has decoded.

CI also runs this file against the ASan/UBSan build of the core (see .ci/run).
"""
from __future__ import annotations

import os
import random
import struct

import guestbuild as gb
import pytest
from asmkit import CODE_BASE, Snippet, assemble

SANITIZE = os.environ.get("HVDBG_SANITIZE") == "1"
# instructions per guest run under budgets of 1..1000 (the rest of the guest runs with
# larger random budgets, still compared after every exit)
SMALL_INSNS = 300_000 if SANITIZE else 1_500_000
PSW_N = 0x00200000
M32 = 0xFFFFFFFF


def _lib():
    from hvdbg.cpu._core import ffi, lib
    return ffi, lib


def _record(ffi, lib, vm, e) -> tuple:
    """What must agree after every exit: the exit record, the queue, the PSW and the
    digest of the whole VM state (registers, TLB, core internals, all memory)."""
    st = lib.hv_state(vm)
    return (e.reason, e.addr, e.size, e.value, e.value_hi, e.pc_space, e.pc, e.insn,
            e.icount, st.iaoq_f, st.iaoq_b, st.iasq_f, st.iasq_b, st.psw, st.icount,
            lib.hv_digest(vm))


# ---- every test guest, fast path against the reference path ---------------------------

def _run_guest(elf, reference: bool, seed: int, max_insns: int,
               bps: tuple[int, ...] = (), linux=None) -> list[tuple]:
    """Run a guest in a Machine whose core runs are cut into random budgets; returns the
    record taken after every exit of the core.  Breakpoints at ``bps`` are recorded and
    stepped over without the machine seeing them.  ``linux``: (kernel, initrd, append)
    booted by the firmware ``elf``."""
    from hvdbg.machine.machine import Machine

    ffi, lib = _lib()
    m = Machine()
    if linux:
        m.load_linux(elf, *linux)
    else:
        m.load_bios(elf)
    core = m.core
    vm = core._vm
    flags = lib.HV_RUN_REFERENCE if reference else 0
    rng = random.Random(seed)
    trace: list[tuple] = []
    e = ffi.new("hv_exit_t *")
    st = lib.hv_state(vm)
    for a in bps:
        assert lib.hv_bp_add(vm, a) == 0

    def run_raw(budget: int, skip_bp: bool = False):
        # the machine sees one run of `budget`; the core sees many short ones
        end = st.icount + budget
        f = flags | (lib.HV_RUN_SKIP_BP if skip_bp else 0)
        while True:
            r = rng.random()
            if st.icount >= SMALL_INSNS:
                b = rng.randint(1, 200_000)
            elif r < 0.3:
                b = rng.randint(1, 13)
            else:
                b = rng.randint(1, 1000)
            b = min(b, end - st.icount)
            lib.hv_run(vm, b, f, e)
            f = flags
            trace.append(_record(ffi, lib, vm, e))
            if e.reason == lib.HV_EXIT_BREAKPOINT:
                f = flags | lib.HV_RUN_SKIP_BP
                continue
            if e.reason != lib.HV_EXIT_BUDGET or st.icount >= end:
                return e

    core.run_raw = run_raw
    m.run(max_insns=max_insns)
    return trace


def _first_difference(a: list[tuple], b: list[tuple]) -> str:
    names = ("reason", "addr", "size", "value", "value_hi", "pc_space", "pc", "insn",
             "exit icount", "iaoq_f", "iaoq_b", "iasq_f", "iasq_b", "psw", "icount", "digest")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            diff = [f"{n}: fast {p:#x} reference {q:#x}" for n, p, q in zip(names, x, y) if p != q]
            return f"exit {i} (icount {y[14]}): " + "; ".join(diff)
    return f"fast path made {len(a)} exits, reference {len(b)}"


GUESTS = gb.all_guests()


@pytest.mark.parametrize("g", GUESTS, ids=[g.name for g in GUESTS])
def test_guest_fast_path_matches_reference_after_every_exit(g: gb.Guest) -> None:
    elf = gb.build(g)
    max_insns = int(g.directives.get("max-insns", "200000000"))
    seed = sum(g.name.encode())
    fast = _run_guest(elf, False, seed, max_insns)
    ref = _run_guest(elf, True, seed, max_insns)
    assert len(ref) > 100, "the guest made too few exits to test anything"
    assert fast == ref, _first_difference(fast, ref)


LINUX_INSNS = 15_000_000 if SANITIZE else 100_000_000


def test_linux_boot_fast_path_matches_reference_after_every_exit(guest_images) -> None:
    """The firmware and the first instructions of a Linux boot (virtual memory, TLB
    misses, interrupts, I/O): the same records after every exit on both paths."""
    from hvdbg.machine import spec

    linux = (guest_images.vmlinux, guest_images.initrd, "console=ttyS0 panic=-1")
    fast = _run_guest(spec.DEFAULT_FIRMWARE, False, 9, LINUX_INSNS, linux=linux)
    ref = _run_guest(spec.DEFAULT_FIRMWARE, True, 9, LINUX_INSNS, linux=linux)
    assert len(ref) > 1000
    assert fast == ref, _first_difference(fast, ref)


BP_GUESTS = ["crcsort", "recursion", "funcptr", "fp_basic", "switch", "tlb_virtual",
             "millicode", "strings"]


@pytest.mark.parametrize("name", BP_GUESTS)
def test_guest_with_breakpoints_fast_path_matches_reference(name: str) -> None:
    """Breakpoints are per-page marks on the fast path (pages without one run fast):
    put three at instructions the guest really executes and compare every exit."""
    _, lib = _lib()
    elf = gb.build(gb.guest(name))
    plain = _run_guest(elf, True, 1, 400_000)
    pcs = sorted({r[6] & ~3 for r in plain if r[0] == lib.HV_EXIT_BUDGET})
    bps = tuple(random.Random(name).sample(pcs, min(3, len(pcs))))
    fast = _run_guest(elf, False, 2, 400_000, bps)
    ref = _run_guest(elf, True, 2, 400_000, bps)
    assert fast == ref, _first_difference(fast, ref)
    assert any(r[0] == lib.HV_EXIT_BREAKPOINT for r in ref), "no breakpoint was hit"


# ---- random code in lockstep ---------------------------------------------------------

def _lockstep_random(seed: int, insns: int) -> dict[str, int]:
    import test_fuzz as fz

    ffi, lib = _lib()
    reasons = {getattr(lib, n): n.removeprefix("HV_EXIT_") for n in dir(lib)
               if n.startswith("HV_EXIT_")}
    vms = [ffi.gc(lib.hv_vm_new(fz.RAM), lib.hv_vm_free) for _ in range(2)]
    rng = random.Random(seed)
    ram_code, fw_code = fz._words(rng, 20_000), fz._words(rng, 20_000)
    for vm in vms:
        assert lib.hv_phys_write(vm, fz.CODE_RAM, ram_code, len(ram_code)) == 0
        assert lib.hv_phys_write(vm, fz.FW_BASE, fw_code, len(fw_code)) == 0

    def randomise() -> None:
        state = rng.getstate()
        for vm in vms:                      # the same random state on both
            rng.setstate(state)
            fz._randomise(lib, vm, lib.hv_state(vm), rng)

    randomise()
    for _ in range(seed % 4):                  # some seeds with breakpoints
        a = fz.CODE_RAM + 4 * rng.randrange(20_000)
        for vm in vms:
            lib.hv_bp_add(vm, a)
    exits = [ffi.new("hv_exit_t *") for _ in range(2)]
    size = ffi.sizeof("hv_cpu_state_t")
    counts: dict[str, int] = {}
    done = 0
    flags = 0
    while done < insns:
        budget = rng.choice([1, 2, 3, 5, 13, 100, 1000, 5000])
        if rng.random() < 0.02:
            bit = 1 << rng.randrange(32)
            for vm in vms:
                lib.hv_set_eirr(vm, bit)
        before = lib.hv_state(vms[0]).icount
        lib.hv_run(vms[0], budget, flags, exits[0])
        lib.hv_run(vms[1], budget, flags | lib.HV_RUN_REFERENCE, exits[1])
        flags = 0
        recs = [_record(ffi, lib, vm, e) for vm, e in zip(vms, exits)]
        states = [bytes(ffi.buffer(lib.hv_state(vm), size)) for vm in vms]
        assert recs[0] == recs[1], _first_difference([recs[0]], [recs[1]])
        assert states[0] == states[1]
        name = reasons[exits[0].reason]
        counts[name] = counts.get(name, 0) + 1
        done += lib.hv_state(vms[0]).icount - before
        if name in ("IO_READ", "ENV_READ"):
            v = rng.getrandbits(32)
            for vm in vms:
                lib.hv_io_complete(vm, v)
        elif name in ("IO_WRITE", "ENV_WRITE"):
            for vm in vms:
                lib.hv_io_complete(vm, 0)
        elif name == "BREAKPOINT":
            flags = lib.HV_RUN_SKIP_BP
        elif name in ("FAULT", "HALT") or (name == "BUDGET" and rng.random() < 0.05):
            randomise()
    return counts


@pytest.mark.parametrize("seed", range(4))
def test_random_code_fast_path_matches_reference_in_lockstep(seed: int) -> None:
    counts = _lockstep_random(seed, 150_000 if SANITIZE else 600_000)
    assert counts.get("IO_READ", 0) + counts.get("IO_WRITE", 0) > 0, counts


# ---- hand-written cases --------------------------------------------------------------

def _pair(src: str, **regs: int) -> list[Snippet]:
    pair = [Snippet(src), Snippet(src)]
    for s in pair:
        for name, v in regs.items():
            s.s.gr[int(name[1:])] = v & M32
    return pair


def _run_pair(pair: list[Snippet], budgets: list[int], bp_skip: bool = False) -> list[tuple]:
    """Run both snippets (fast, reference) with the same budgets; the records must agree
    after every exit.  Returns the fast path's records."""
    ffi, lib = _lib()
    out = []
    flags = 0
    for b in budgets:
        recs = []
        for s, ref in zip(pair, (0, lib.HV_RUN_REFERENCE)):
            e = s.run(b, flags | ref)
            recs.append(_record(ffi, lib, s.vm, e))
        assert recs[0] == recs[1], _first_difference([recs[0]], [recs[1]])
        out.append(recs[0])
        flags = lib.HV_RUN_SKIP_BP if (bp_skip and recs[0][0] == lib.HV_EXIT_BREAKPOINT) else 0
    return out


def _word(src: str) -> int:
    return struct.unpack(">I", assemble(src)[:4])[0]


LDI1, LDI2 = _word("ldi 1,%r5"), _word("ldi 2,%r5")

# r6 accumulates r5; each loop rewrites the instruction that sets r5 after the fast path
# has decoded it.  r7 counts the loops (2), r8 holds the replacement word.
SMC_CURRENT_PAGE = """
loop:   ldi 1,%r5
        add %r5,%r6,%r6
        stw %r8,0(%r2)
        addib,>= -1,%r7,loop
        nop
        nop
"""

SMC_NEXT_INSN = """
loop:   stw %r1,4(%r2)
        ldi 1,%r5
        add %r5,%r6,%r6
        copy %r8,%r1
        addib,>= -1,%r7,loop
        nop
        nop
"""

SMC_DELAY_SLOT = """
loop:   stw %r1,8(%r2)
        b next
        ldi 1,%r5
next:   add %r5,%r6,%r6
        copy %r8,%r1
        addib,>= -1,%r7,loop
        nop
        nop
"""

# the delay slot itself rewrites the branch target, which ran (and was decoded) before
SMC_TARGET_FROM_SLOT = """
        b tgt
        nop
back:   b tgt
        stw %r8,20(%r2)
        nop
tgt:    ldi 1,%r5
        add %r5,%r6,%r6
        addib,>= -1,%r7,back
        nop
        nop
"""


@pytest.mark.parametrize("src,insns,r1", [
    (SMC_CURRENT_PAGE, 10, 0),
    (SMC_NEXT_INSN, 12, LDI1),
    (SMC_DELAY_SLOT, 14, LDI1),
    (SMC_TARGET_FROM_SLOT, 13, 0),
], ids=["current-page", "next-insn", "delay-slot", "target-from-slot"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 1000])
def test_self_modifying_code_is_seen_at_once(src: str, insns: int, r1: int, chunk: int) -> None:
    pair = _pair(src, r1=r1, r2=CODE_BASE, r7=1, r8=LDI2)
    budgets = [chunk] * (insns // chunk) + ([insns % chunk] if insns % chunk else [])
    _run_pair(pair, budgets)
    for s in pair:
        assert s.s.icount == insns
        assert s.gr(6) == 1 + 2, "the rewritten instruction did not take effect"
        assert s.gr(5) == 2


def test_exit_on_a_nullified_delay_slot() -> None:
    # a taken forward comb,n nullifies its delay slot; the budget ends right before it
    src = """
        ldi 7,%r3
        comb,=,n %r0,%r0,tgt
        ldi 99,%r4
        nop
tgt:    ldi 5,%r4
        nop
"""
    pair = _pair(src)
    recs = _run_pair(pair, [2, 1, 1, 1])
    assert recs[0][13] & PSW_N, "the exit after the branch must show PSW[N]"
    assert recs[0][8] == 2
    assert not recs[1][13] & PSW_N and recs[1][8] == 3
    for s in pair:
        assert s.gr(4) == 5 and s.gr(3) == 7


LOOP = """
        ldi 0,%r6
loop:   addi 1,%r6,%r6
        stw %r6,0(%r9)
        ldw 0(%r9),%r10
        addib,> -1,%r7,loop
        nop
spin:   b spin
        nop
"""


def test_breakpoint_in_decoded_code_stops_at_the_same_count() -> None:
    _, lib = _lib()
    pair = _pair(LOOP, r7=50, r9=0x40000)
    _run_pair(pair, [60])                       # decode the loop on the fast path
    for s in pair:
        assert lib.hv_bp_add(s.vm, CODE_BASE + 8) == 0      # the stw in the loop
    recs = _run_pair(pair, [1000] * 6, bp_skip=True)
    hits = [r for r in recs if r[0] == lib.HV_EXIT_BREAKPOINT]
    assert len(hits) >= 5 and all(r[6] == CODE_BASE + 8 for r in hits)
    for s in pair:
        lib.hv_bp_clear(s.vm)
    _run_pair(pair, [1000])
    assert pair[0].gr(6) == 50


# a hot loop on the first page calls a function on the second page and passes through a
# nullified delay slot there (the slot of `b,n` in the last word of the first page)
CROSS_PAGE = """
        ldi 0,%r6
loop:   addi 1,%r6,%r6
        bl far,%r2
        nop
        addib,> -1,%r7,go
        nop
spin:   b spin
        nop
        .org 0xffc
go:     b,n loop
slot:   ldi 99,%r8
far:    addi 2,%r9,%r9
        bv %r0(%r2)
        nop
"""


@pytest.mark.parametrize("bp_at", [0x1000, 0x1004, 0x4])
def test_breakpoint_on_another_page_and_on_a_nullified_slot(bp_at: int) -> None:
    _, lib = _lib()
    pair = _pair(CROSS_PAGE, r7=40)
    _run_pair(pair, [50])                       # the loop runs fast, decoded
    for s in pair:
        assert lib.hv_bp_add(s.vm, CODE_BASE + bp_at) == 0
    recs = _run_pair(pair, [1000] * 12, bp_skip=True)
    hits = [r for r in recs if r[0] == lib.HV_EXIT_BREAKPOINT]
    assert len(hits) >= 5 and all(r[6] == CODE_BASE + bp_at for r in hits)
    if bp_at == 0x1000:                         # stopped before the nullified slot
        assert all(r[13] & PSW_N for r in hits)
    for s in pair:
        assert s.gr(8) == 0


def test_watchpoint_in_decoded_code_stops_at_the_same_count() -> None:
    _, lib = _lib()
    pair = _pair(LOOP, r7=50, r9=0x40000)
    _run_pair(pair, [60])
    for s in pair:
        assert lib.hv_wp_add(s.vm, 0x40000, 4, lib.HV_WATCH_WRITE) == 0
    recs = _run_pair(pair, [1000] * 6)
    hits = [r for r in recs if r[0] == lib.HV_EXIT_WATCHPOINT]
    assert len(hits) >= 5 and all(r[1] == 0x40000 for r in hits)


def test_debugger_write_to_decoded_code_is_seen() -> None:
    """hv_phys_write (gdb's memory write) into a page the fast path decoded."""
    pair = _pair(LOOP, r7=1000, r9=0x40000)
    _run_pair(pair, [100])
    for s in pair:
        s.write32(CODE_BASE + 4, _word("addi 3,%r6,%r6"))
    before = pair[0].gr(6)
    _run_pair(pair, [4 * 10])
    after = pair[0].gr(6)
    assert after > before and (after - before) % 3 == 0, "the old addi 1 still runs"


def test_virtual_mode_loads_and_stores_match() -> None:
    """Data translation on (PSW[D]) with a TLB entry: the fast path's inline translation
    cache lookup, its misses and a TLB-dirty trap give what the reference path gives."""
    _, lib = _lib()
    src = """
        ldi 0,%r6
loop:   addi 1,%r6,%r6
        stw %r6,0(%r9)
        ldw 0(%r9),%r10
        ldb 3(%r9),%r11
        addib,> -1,%r7,loop
        nop
spin:   b spin
        nop
"""
    pair = _pair(src, r7=100, r9=0x00123000)
    for s in pair:
        st = s.s
        st.psw = 0x2                                   # D: data translation on
        # address half: va 0x00123000 -> pa 0x00040000 (space 0); protection half: type 1
        # (read/write), PL1 = PL2 = 3, dirty set
        s.lib.hv_state_changed(s.vm)
        st.gr[20], st.gr[21] = 0x00123000, (0x40000 >> 12) << 5
        st.gr[22] = (1 << 24) | (3 << 22) | (3 << 20) | (1 << 28)
    ins = assemble("idtlba %r21,(%sr0,%r20)\nidtlbp %r22,(%sr0,%r20)")
    for s in pair:
        # run the two inserts from a scratch page, then come back to the loop
        assert lib.hv_phys_write(s.vm, 0x30000, ins + assemble("bv %r0(%r23)\nnop"), 16) == 0
        s.s.gr[23] = CODE_BASE
        s.s.iaoq_f, s.s.iaoq_b = 0x30000, 0x30004
        s.lib.hv_state_changed(s.vm)
    _run_pair(pair, [3, 1, 7, 100, 1, 1000])
    assert pair[0].gr(10) == 100 and pair[0].gr(11) == 100
    assert pair[0].read(0x40000, 4) == (100).to_bytes(4, "big")


# ---- the soft-float fast path ----------------------------------------------------------

FP_OPS = """
        fadd,dbl %fr4,%fr5,%fr6
        fsub,dbl %fr4,%fr5,%fr7
        fmpy,dbl %fr4,%fr5,%fr8
        fdiv,dbl %fr4,%fr5,%fr9
        fmpy,dbl %fr6,%fr9,%fr10
        fadd,dbl %fr8,%fr8,%fr0
        fdiv,dbl %fr7,%fr4,%fr11
        xmpyu %fr4R,%fr5,%fr12
        xmpyu %fr0,%fr4,%fr13
        nop
"""


def _random_double(rng: random.Random) -> int:
    kind = rng.random()
    if kind < 0.35:                                  # any normal, any exponent
        return rng.getrandbits(64) & ~(0x7FF << 52) | rng.randrange(1, 0x7FF) << 52
    if kind < 0.55:                                  # small integers: exact results
        return struct.unpack(">Q", struct.pack(">d", float(rng.randrange(-4096, 4096))))[0]
    if kind < 0.75:                                  # near the fast path's range limits
        e = rng.choice([0x0FF, 0x100, 0x101, 0x6FE, 0x6FF, 0x700, 1, 2, 0x7FE])
        return rng.getrandbits(52) | e << 52 | rng.getrandbits(1) << 63
    return rng.choice([0, 1 << 63, 1, 0x000FFFFFFFFFFFFF, 0x7FF0000000000000,
                       0xFFF0000000000000, 0x7FF8000000000000, 0x7FF4000000000000,
                       0x3FF0000000000000, 0x3CA0000000000000, rng.getrandbits(64)])


def test_soft_float_fast_path_matches_reference() -> None:
    """Double add/sub/mpy/div (and xmpyu) with random operands, rounding modes, the D
    bit, the inexact enable and random flags: bit-identical registers, status, traps."""
    ffi, lib = _lib()
    pair = _pair(FP_OPS)
    nops = (0x08000240).to_bytes(4, "big") * (32 * 32)
    for s in pair:
        s.s.cr[14] = 0x20000                         # IVA: every vector a run of nops
        assert lib.hv_phys_write(s.vm, 0x20000, nops, len(nops)) == 0
    rng = random.Random(5)
    size = ffi.sizeof("hv_cpu_state_t")
    for trial in range(3000):
        a, b = _random_double(rng), _random_double(rng)
        status = 0
        if rng.random() < 0.2:
            status |= rng.randrange(4) << 9          # rounding mode
        if rng.random() < 0.1:
            status |= 1 << 5                         # D: denormals as zero
        if rng.random() < 0.2:
            status |= rng.getrandbits(5)             # trap enables
        if rng.random() < 0.3:
            status |= rng.getrandbits(5) << 27       # sticky flags already set
        for s in pair:
            st = s.s
            st.fr[4], st.fr[5] = a, b
            st.fr[0] = status << 32
            st.psw = 0
            st.iaoq_f, st.iaoq_b = CODE_BASE, CODE_BASE + 4
            lib.hv_state_changed(s.vm)
        _run_pair(pair, [rng.choice([1, 3, 8, 10])])
        states = [bytes(ffi.buffer(s.s, size)) for s in pair]
        assert states[0] == states[1], f"trial {trial}: a={a:#x} b={b:#x} status={status:#x}"


def test_virtual_mode_store_to_a_clean_page_traps_on_both_paths() -> None:
    """A load fills the translation cache for a page whose TLB entry is not dirty (reads
    allowed, writes trap); the store after it must take the TLB-dirty trap on the fast
    path too, not slip through the cached read permission."""
    _, lib = _lib()
    src = """
        ldw 0(%r9),%r10
        stw %r10,0(%r9)
        nop
"""
    pair = _pair(src, r9=0x00124000)
    nops = (0x08000240).to_bytes(4, "big") * (32 * 32)
    ins = assemble("idtlba %r21,(%sr0,%r20)\nidtlbp %r22,(%sr0,%r20)\nbv %r0(%r23)\nnop")
    for s in pair:
        st = s.s
        st.cr[14] = 0x20000                            # IVA: every vector a run of nops
        assert lib.hv_phys_write(s.vm, 0x20000, nops, len(nops)) == 0
        assert lib.hv_phys_write(s.vm, 0x30000, ins, len(ins)) == 0
        st.psw = 0x2 | 0x8                             # D, Q (so IOR records the fault)
        st.gr[20], st.gr[21] = 0x00124000, (0x41000 >> 12) << 5
        st.gr[22] = (1 << 24) | (3 << 22) | (3 << 20)  # read/write, PL 3, D bit clear
        st.gr[23] = CODE_BASE
        st.iaoq_f, st.iaoq_b = 0x30000, 0x30004
        lib.hv_state_changed(s.vm)
    recs = _run_pair(pair, [4, 1, 1, 1, 5])
    for s in pair:
        assert s.s.cr[21] == 0x00124000, "no TLB-dirty trap on the store"
        assert s.s.cr[17] == 0 and s.s.cr[18] == CODE_BASE + 4   # IIAOQ: the store
    assert recs[-1][6] & ~3 >= 0x20000 + 20 * 32, "not in the trap vectors"


@pytest.mark.parametrize("priv", [0, 3])
def test_control_and_space_register_moves_match(priv: int) -> None:
    """The system instructions the fast path runs itself (mtsar, mtctl/mfctl of plain
    control registers, mtsp/mfsp): the same results, and the same privilege traps."""
    ffi, lib = _lib()
    src = """
        mtsar %r1
        mfctl %sar,%r3
        mtctl %r2,%cr24
        mfctl %cr24,%r4
        mtctl %r2,%cr27
        mfctl %cr27,%r5
        mtsp %r2,%sr3
        mfsp %sr3,%r6
        mtsp %r1,%sr6
        mfsp %sr6,%r7
        mtctl %r1,%ipsw
        mfctl %ipsw,%r8
        nop
"""
    pair = _pair(src, r1=0x12345677, r2=0xCAFEF00D)
    nops = (0x08000240).to_bytes(4, "big") * (32 * 32)
    for s in pair:
        s.s.cr[14] = 0x20000
        assert lib.hv_phys_write(s.vm, 0x20000, nops, len(nops)) == 0
        s.s.iaoq_f, s.s.iaoq_b = CODE_BASE | priv, CODE_BASE + 4 | priv
        lib.hv_state_changed(s.vm)
    _run_pair(pair, [1, 2, 3, 20])
    size = ffi.sizeof("hv_cpu_state_t")
    assert bytes(ffi.buffer(pair[0].s, size)) == bytes(ffi.buffer(pair[1].s, size))
    if priv == 0:
        assert (pair[0].gr(3), pair[0].gr(4), pair[0].gr(6)) == (0x17, 0xCAFEF00D, 0xCAFEF00D)
        assert pair[0].gr(8) == 0x12345677
    else:
        assert pair[0].gr(3) == 0x17 and pair[0].gr(4) == 0
        assert pair[0].s.cr[24] == 0, "mtctl cr24 at PL3 must trap"
        assert pair[0].s.cr[18] & ~3 == CODE_BASE + 8, "the trap names the mtctl"


@pytest.mark.parametrize("major", [0x34, 0x35])
def test_random_shift_extract_deposit_words_match(major: int) -> None:
    """Every form of the shift/extract (0x34) and deposit (0x35) majors -- fixed and SAR
    positions, conditions that nullify, gr0 targets, invalid encodings -- on random
    registers and SAR: fast and reference agree after every instruction."""
    ffi, lib = _lib()
    rng = random.Random(major)
    pair = _pair("nop")
    words = b"".join(struct.pack(">I", major << 26 | rng.getrandbits(26)) for _ in range(2048))
    nops = (0x08000240).to_bytes(4, "big") * (32 * 32)
    size = ffi.sizeof("hv_cpu_state_t")
    for s in pair:
        s.s.cr[14] = 0x20000
        assert lib.hv_phys_write(s.vm, 0x20000, nops, len(nops)) == 0
        assert lib.hv_phys_write(s.vm, CODE_BASE, words, len(words)) == 0
    for trial in range(300):
        regs = [rng.getrandbits(32) for _ in range(32)]
        sar, start = rng.randrange(32), rng.randrange(2048 - 16)
        for s in pair:
            for i in range(1, 32):
                s.s.gr[i] = regs[i]
            s.s.cr[11] = sar
            s.s.psw = 0
            s.s.iaoq_f, s.s.iaoq_b = CODE_BASE + 4 * start, CODE_BASE + 4 * start + 4
            lib.hv_state_changed(s.vm)
        _run_pair(pair, [rng.choice([1, 2, 5, 16])])
        assert bytes(ffi.buffer(pair[0].s, size)) == bytes(ffi.buffer(pair[1].s, size)), trial
