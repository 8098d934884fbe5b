"""Unit tests of the C core, one instruction class at a time: results, conditions and
nullification, the instruction address queue, traps, exits and the instruction count.
Expected values are worked out from the PA-RISC 1.1 manual, not read off the core."""
from __future__ import annotations

import pytest
from asmkit import CODE_BASE, Snippet

M32 = 0xFFFFFFFF
PSW_N, PSW_V = 0x00200000, 0x00020000
PSW_CB_MSB = 0x8000


IVA = 0x20000
NOP = 0x08000240


def snip(src: str, **regs: int) -> Snippet:
    """A snippet with every interruption vector at IVA holding nops."""
    s = Snippet(src)
    for name, v in regs.items():
        s.s.gr[int(name[1:])] = v & M32
    s.s.cr[14] = IVA
    nops = NOP.to_bytes(4, "big") * (32 * 8)
    assert s.lib.hv_phys_write(s.vm, IVA, nops, len(nops)) == 0
    return s


def vector(n: int) -> int:
    return IVA + 32 * n


# ---- computational ------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [(1, 2), (0xFFFFFFFF, 1), (0x7FFFFFFF, 1), (0x80000000, 0x80000000)])
def test_add_sets_carry_and_addc_consumes_it(a: int, b: int) -> None:
    s = snip("add %r1,%r2,%r3\naddc %r0,%r0,%r4", r1=a, r2=b)
    s.run(2)
    assert s.gr(3) == (a + b) & M32
    assert s.gr(4) == (a + b) >> 32
    assert bool(s.s.psw & PSW_CB_MSB) == False


def test_64bit_add_and_sub_with_borrow() -> None:
    # (0x00000001_FFFFFFFF + 0x00000000_00000001) and the reverse subtraction
    s = snip("add %r2,%r4,%r6\naddc %r1,%r3,%r5\nsub %r6,%r4,%r8\nsubb %r5,%r3,%r7",
             r1=1, r2=0xFFFFFFFF, r3=0, r4=1)
    s.run(4)
    assert (s.gr(5), s.gr(6)) == (2, 0)
    assert (s.gr(7), s.gr(8)) == (1, 0xFFFFFFFF)


def test_shadd_and_logicals() -> None:
    s = snip("sh2add %r1,%r2,%r3\nandcm %r1,%r2,%r4\nxor %r1,%r2,%r5\nuaddcm %r1,%r2,%r6",
             r1=0x0F0F0F0F, r2=0x00FF00FF)
    s.run(4)
    assert s.gr(3) == ((0x0F0F0F0F << 2) + 0x00FF00FF) & M32
    assert s.gr(4) == 0x0F0F0F0F & ~0x00FF00FF & M32
    assert s.gr(5) == 0x0F0F0F0F ^ 0x00FF00FF
    assert s.gr(6) == (0x0F0F0F0F + (~0x00FF00FF & M32)) & M32


@pytest.mark.parametrize("cond,a,b,nullified", [
    ("=", 5, 5, True), ("=", 5, 6, False), ("<", -1, 0, True), ("<", 0, -1, False),
    ("<<", 0, -1, True), ("<<", -1, 0, False), ("<=", 3, 3, True), (">>=", 3, 3, True),
    ("od", 7, 2, True), ("ev", 7, 2, False), ("sv", 0x80000000, 1, True), ("nsv", 4, 1, True),
])
def test_comclr_conditions_nullify_next(cond: str, a: int, b: int, nullified: bool) -> None:
    s = snip(f"comclr,{cond} %r1,%r2,%r3\nldi 1,%r4\nldi 2,%r5", r1=a, r2=b, r3=99)
    s.run(3)
    assert s.gr(3) == 0
    assert s.gr(4) == (0 if nullified else 1)
    assert s.gr(5) == 2
    assert s.s.icount == 3          # a nullified instruction still retires


def test_addi_condition_and_addio_overflow_trap() -> None:
    s = snip("addi,= 1,%r1,%r2\nldi 7,%r3\naddio 1,%r4,%r5", r1=-1, r4=0x7FFFFFFF, r5=42)
    s.run(3)
    assert s.gr(2) == 0 and s.gr(3) == 0      # result 0: next nullified
    # addio overflowed: overflow trap (12), target unchanged, IIAOQ at the addio;
    # the third retired instruction is the first nop of the vector
    assert s.gr(5) == 42
    assert s.s.iaoq_f == vector(12) + 4
    assert s.s.cr[18] == CODE_BASE + 8


def test_subi_and_comiclr() -> None:
    s = snip("subi 10,%r1,%r2\ncomiclr,> 5,%r1,%r3\nldi 1,%r4", r1=3, r3=77)
    s.run(3)
    assert s.gr(2) == 7
    assert s.gr(3) == 0 and s.gr(4) == 0     # 5 > 3: nullified


def test_extract_deposit_shift() -> None:
    s = snip("""extrw,u %r1,23,8,%r2
extrw,s %r1,31,4,%r3
depwi,z -1,31,4,%r4
depw %r5,15,8,%r6
shrpw %r1,%r7,8,%r8
mtsar %r9
vshd %r1,%r7,%r10""", r1=0x12345678, r5=0xAB, r6=0xFFFFFFFF, r7=0x9ABCDEF0, r9=4)
    s.run(7)
    assert s.gr(2) == 0x56
    assert s.gr(3) == 0xFFFFFFF8            # low nibble 8, sign extended
    assert s.gr(4) == 0xF
    assert s.gr(6) == 0xFFABFFFF            # 8 bits ending at bit 15 (bits 8..15 from the MSB)
    assert s.gr(8) == (((0x12345678 << 32) | 0x9ABCDEF0) >> 8) & M32
    assert s.gr(10) == (((0x12345678 << 32) | 0x9ABCDEF0) >> 4) & M32


def test_divide_step_sequence_divides() -> None:
    # unsigned 32/32 division by divide steps, as in the $$divU millicode: negate the
    # divisor and ds to set V, shift the dividend's MSB into the carry, then 32 rounds
    # of ds (remainder) + addc (quotient bits)
    src = ("sub %r0,%r25,%r1\nds %r0,%r1,%r0\nadd %r26,%r26,%r26\n"
           "ds %r0,%r25,%r1\naddc %r26,%r26,%r26\n"
           + "ds %r1,%r25,%r1\naddc %r26,%r26,%r26\n" * 31)
    for n, d in [(1000003, 97), (0xFFFFFFFF, 3), (12345, 12346), (0x80000000, 1)]:
        s = snip(src, r26=n, r25=d)
        s.run(3 + 2 + 62)
        assert s.gr(26) == n // d, (n, d)


# ---- loads and stores ---------------------------------------------------------------

def test_loads_stores_all_modes() -> None:
    s = snip("""stw %r1,0(%r30)
ldh 2(%r30),%r2
ldb 1(%r30),%r3
stwm %r1,8(%r29)
ldwm -8(%r29),%r4
ldwx,s %r5(%r28),%r6
sth %r1,6(%r30)
stbs,mb %r1,3(%r27)
ldw 4(%r30),%r7""", r1=0x11223344, r30=0x100000, r29=0x200000, r28=0x100000, r5=0,
             r27=0x100000)
    s.run(9)
    assert s.gr(2) == 0x3344 and s.gr(3) == 0x22
    assert s.gr(29) == 0x200000          # stwm post-increments by 8, ldwm -8 pre-decrements
    assert s.gr(4) == 0x11223344
    assert s.gr(6) == 0x11223344
    assert s.gr(27) == 0x100003          # modify-before
    assert s.read(0x100000, 8) == bytes.fromhex("1122334400003344")
    assert s.gr(7) == 0x3344


def test_stby_begin_and_end() -> None:
    s = snip("stby,b %r1,1(%r30)\nstby,e %r1,7(%r30)", r1=0xAABBCCDD, r30=0x100000)
    s.write32(0x100000, 0x01020304)
    s.write32(0x100004, 0x05060708)
    s.run(2)
    assert s.read(0x100000, 8) == bytes.fromhex("01BBCCDD AABBCC08".replace(" ", ""))


def test_unaligned_load_traps_with_ior() -> None:
    s = snip("ldw 2(%r30),%r1", r30=0x100000)
    s.s.psw = 0x8                                # Q: interruption state collection on
    s.run(1)
    assert s.s.iaoq_f == vector(28) + 4
    assert s.s.cr[21] == 0x100002                # IOR
    assert s.s.cr[22] == 0x8                     # IPSW
    assert s.s.icount == 1                       # only the vector's nop retired


def test_io_access_exits_and_completes_on_rerun() -> None:
    s = snip("ldw 0(%r1),%r2\nldi 5,%r3", r1=0xFFD00000)
    e = s.run(10)
    assert e.reason == s.lib.HV_EXIT_IO_READ and e.addr == 0xFFD00000 and e.size == 4
    assert s.s.icount == 0
    s.lib.hv_io_complete(s.vm, 0xCAFEBABE)
    s.run(2)
    assert s.gr(2) == 0xCAFEBABE and s.gr(3) == 5 and s.s.icount == 2


# ---- branches and the instruction address queue ---------------------------------------

def test_bl_links_and_executes_delay_slot() -> None:
    s = snip("bl .+12,%r2\nldi 1,%r3\nldi 2,%r4\nldi 3,%r5")
    s.run(3)
    assert s.gr(2) == CODE_BASE + 8
    assert (s.gr(3), s.gr(4), s.gr(5)) == (1, 0, 3)


def test_bl_n_nullifies_delay_slot() -> None:
    s = snip("bl,n .+12,%r0\nldi 1,%r3\nldi 2,%r4\nldi 3,%r5")
    s.run(3)
    assert (s.gr(3), s.gr(4), s.gr(5)) == (0, 0, 3)
    assert s.s.icount == 3


@pytest.mark.parametrize("taken,forward,expect_slot", [
    (True, True, 0), (False, True, 1), (True, False, 1), (False, False, 0)])
def test_conditional_branch_nullify_rule(taken: bool, forward: bool, expect_slot: int) -> None:
    a, b = (1, 1) if taken else (1, 2)
    if forward:
        src = "comb,=,n %r1,%r2,.+12\nldi 1,%r3\nldi 9,%r9\nldi 7,%r7"
    else:
        src = "b .+16\nnop\nldi 7,%r7\nnop\ncomb,=,n %r1,%r2,.-12\nldi 1,%r3\nldi 9,%r9"
    s = snip(src, r1=a, r2=b)
    s.run(3 if forward else 6)
    assert s.gr(3) == expect_slot


def test_addib_loop_counts_down() -> None:
    s = snip("ldi 5,%r1\nldi 0,%r2\naddib,> -1,%r1,.+0\naddi 1,%r2,%r2")
    s.run(2 + 2 * 5)
    assert s.gr(1) == 0 and s.gr(2) == 5


def test_bv_and_blr() -> None:
    s = snip("blr %r1,%r2\nnop\nldi 1,%r3\nnop\nldi 2,%r3\nbv %r0(%r2)\nnop", r1=1)
    s.run(4)
    assert s.gr(3) == 2 and s.gr(2) == CODE_BASE + 8
    s.run(1)                                     # bv's delay slot
    assert s.s.iaoq_f == CODE_BASE + 8


def test_movb_and_bb() -> None:
    s = snip("movb,<> %r1,%r2,.+12\nldi 1,%r3\nldi 2,%r4\nbb,< %r1,31,.+12\nldi 3,%r5\nldi 4,%r6",
             r1=5)
    s.run(5)
    assert s.gr(2) == 5 and s.gr(3) == 1 and s.gr(4) == 0
    assert s.gr(5) == 3 and s.gr(6) == 0


# ---- the run loop --------------------------------------------------------------------

def test_budget_is_exact_and_icount_counts() -> None:
    s = snip("ldi 0,%r1\naddi 1,%r1,%r1\nb .-4\nnop")
    for n in (1, 7, 1000, 12345):
        before = s.s.icount
        e = s.run(n)
        assert e.reason == s.lib.HV_EXIT_BUDGET
        assert s.s.icount - before == n == e.icount - before


def test_breakpoint_stops_before_and_skip_bp_continues() -> None:
    s = snip("ldi 1,%r1\nldi 2,%r2\nldi 3,%r3")
    assert s.lib.hv_bp_add(s.vm, CODE_BASE + 4) == 0
    e = s.run(10)
    assert e.reason == s.lib.HV_EXIT_BREAKPOINT and s.pc() == 4 and s.gr(2) == 0
    e = s.run(2, s.lib.HV_RUN_SKIP_BP)
    assert s.gr(2) == 2 and s.gr(3) == 3


def test_illegal_instruction_is_counted_and_trapped() -> None:
    s = snip(".word 0x10000000\nnop")           # major opcode 0x04: SPOP, not implemented
    s.run(1)
    assert s.s.illegal_count == 1
    assert s.s.iaoq_f == vector(8) + 4
    assert s.s.cr[19] == 0x10000000              # IIR


def test_watchpoint_reports_after_the_access() -> None:
    s = snip("ldi 1,%r1\nstw %r1,8(%r30)\nldi 2,%r2", r30=0x100000)
    assert s.lib.hv_wp_add(s.vm, 0x100008, 4, s.lib.HV_WATCH_WRITE) == 0
    e = s.run(10)
    assert e.reason == s.lib.HV_EXIT_WATCHPOINT and e.addr == 0x100008
    assert s.pc() == 8 and s.read(0x100008, 4) == b"\0\0\0\1"


def test_trap_loop_returns_a_fault_instead_of_hanging() -> None:
    s = snip(".word 0x10000000")
    s.s.cr[14] = 0x40000                         # vectors full of zeros: illegal again and again
    e = s.run(10)
    assert e.reason == s.lib.HV_EXIT_FAULT


def test_instruction_with_two_io_accesses_completes_once() -> None:
    # stby,b at an address = 1 mod 4 stores a byte and a halfword: two I/O exits, then
    # the instruction retires exactly once and each store reached the hypervisor once
    s = snip("stby,b %r1,1(%r2)\nldi 5,%r3", r1=0xAABBCCDD, r2=0xFFD00000)
    seen = []
    for _ in range(5):
        e = s.run(2)
        if e.reason == s.lib.HV_EXIT_BUDGET:
            break
        assert e.reason == s.lib.HV_EXIT_IO_WRITE
        seen.append((e.addr, e.size, e.value))
        s.lib.hv_io_complete(s.vm, 0)
    assert seen == [(0xFFD00001, 1, 0xBB), (0xFFD00002, 2, 0xCCDD)]
    assert s.gr(3) == 5 and s.s.icount == 2


def test_ldcw_on_io_reads_then_clears_once() -> None:
    s = snip("ldcw 0(%r2),%r1\nldi 5,%r3", r2=0xFFD00010)
    e = s.run(2)
    assert e.reason == s.lib.HV_EXIT_IO_READ
    s.lib.hv_io_complete(s.vm, 7)
    e = s.run(2)
    assert e.reason == s.lib.HV_EXIT_IO_WRITE and e.value == 0
    s.lib.hv_io_complete(s.vm, 0)
    e = s.run(2)
    assert e.reason == s.lib.HV_EXIT_BUDGET
    assert s.gr(1) == 7 and s.gr(3) == 5 and s.s.icount == 2


def test_blr_with_link_equal_to_index_uses_the_old_index() -> None:
    s = snip("blr %r1,%r1\nnop\nldi 1,%r3\nldi 2,%r3\nldi 3,%r4", r1=1)
    s.run(3)
    assert s.gr(1) == CODE_BASE + 8 and s.gr(3) == 0 and s.gr(4) == 3   # target +16


def test_snapshot_between_io_exit_and_completion_restores_the_pending_access() -> None:
    s = snip("ldw 0(%r1),%r2\nldi 5,%r3", r1=0xFFD00000)
    e = s.run(2)
    assert e.reason == s.lib.HV_EXIT_IO_READ
    s.lib.hv_io_complete(s.vm, 0x1234)
    snap = s.ffi.new("uint8_t[]", s.lib.hv_core_snapshot_size())
    s.lib.hv_core_save(s.vm, snap)
    s.run(2)
    assert s.gr(2) == 0x1234 and s.s.icount == 2
    assert s.lib.hv_core_restore(s.vm, snap) == 0
    assert s.s.icount == 0 and s.gr(2) == 0
    e = s.run(2)                                 # completes from the journal, no new exit
    assert e.reason == s.lib.HV_EXIT_BUDGET and s.gr(2) == 0x1234 and s.gr(3) == 5
