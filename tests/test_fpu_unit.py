"""Unit tests of the FP coprocessor (csrc/fpu.c) through the C core, one behaviour at a
time.  Expected values come from IEEE 754 (Python floats for round-to-nearest results)
and from QEMU 7.2's documented hppa rules: the default NaN is 0x7FF4000000000000 /
0x7FA00000, a signalling NaN has the fraction MSB set and is quieted by clearing it and
setting the next bit, the FPU works from a copy of the status word that only loads into
fr0 refresh, and every computational operation rewrites fr0 from that copy.  The QEMU
differential guests (tests/guests/src/fp_*.c) cover the operations exhaustively; these
tests pin the mechanisms and run without the guest runtime."""
from __future__ import annotations

import struct
from fractions import Fraction

import pytest
from asmkit import Snippet

IVA = 0x40000
DATA = 0x80000
NOP = 0x08000240
PSW_Q = 0x8
M64 = (1 << 64) - 1


def dbits(x: float) -> int:
    return struct.unpack(">Q", struct.pack(">d", x))[0]


def snip(src: str, status: int = 0, **fr: int) -> Snippet:
    """``src`` runs after ``fldd`` has loaded ``status`` (high word) into fr0; the FP
    registers named in ``fr`` (f4=...) are preset, gr30 points at DATA, every vector at
    IVA holds nops and PSW[Q] is set (interruption state is collected)."""
    s = Snippet("\tfldds 0(%r30),%fr0\n" + src)
    s.write32(DATA, status)
    s.write32(DATA + 4, 0)
    s.s.gr[30] = DATA
    for name, v in fr.items():
        s.s.fr[int(name[1:])] = v & M64
    s.s.cr[14] = IVA
    s.s.psw = PSW_Q
    nops = NOP.to_bytes(4, "big") * (32 * 8)
    assert s.lib.hv_phys_write(s.vm, IVA, nops, len(nops)) == 0
    return s


def vector(n: int) -> int:
    return IVA + 32 * n


ONE, TWO, THREE = dbits(1.0), dbits(2.0), dbits(3.0)
FLAG_V, FLAG_Z, FLAG_O, FLAG_U, FLAG_I = (1 << 31, 1 << 30, 1 << 29, 1 << 28, 1 << 27)
EN_V, EN_Z, EN_O, EN_U, EN_I = 0x10, 0x08, 0x04, 0x02, 0x01
C_BIT = 1 << 26


def status(s: Snippet) -> int:
    return s.s.fr[0] >> 32


# ---- arithmetic results and flags ---------------------------------------------------

@pytest.mark.parametrize("op,a,b", [("fadd", 1.0, 2.0 ** -60), ("fsub", 0.1, 0.3),
                                    ("fmpy", 1.1, 3.3), ("fdiv", 1.0, 3.0),
                                    ("fdiv", -7.5, 0.25)])
def test_double_ops_round_to_nearest_like_ieee(op: str, a: float, b: float) -> None:
    s = snip(f"{op},dbl %fr4,%fr5,%fr6", f4=dbits(a), f5=dbits(b))
    s.run(2)
    py = {"fadd": a + b, "fsub": a - b, "fmpy": a * b, "fdiv": a / b}[op]
    assert s.s.fr[6] == dbits(py)
    fa, fb = Fraction(a), Fraction(b)
    exact = {"fadd": fa + fb, "fsub": fa - fb, "fmpy": fa * fb, "fdiv": fa / fb}[op] == Fraction(py)
    assert status(s) == (0 if exact else FLAG_I)


def test_rounding_mode_comes_from_the_status_word() -> None:
    # 1 + 2^-60 is inexact: up rounds to the next double, down/zero/nearest do not
    for rm, expect in [(0, ONE), (1, ONE), (2, ONE + 1), (3, ONE)]:
        s = snip("fadd,dbl %fr4,%fr5,%fr6", status=rm << 9, f4=ONE, f5=dbits(2.0 ** -60))
        s.run(2)
        assert s.s.fr[6] == expect, rm
    s = snip("fsub,dbl %fr4,%fr5,%fr6", status=3 << 9, f4=dbits(-1.0), f5=dbits(2.0 ** -60))
    s.run(2)
    assert s.s.fr[6] == dbits(-1.0) + 1                # towards -inf: magnitude grows


def test_invalid_operations_give_the_hppa_default_nan() -> None:
    s = snip("fdiv,dbl %fr4,%fr4,%fr6\nfsub,dbl %fr5,%fr5,%fr7\nfdiv,sgl %fr8,%fr8,%fr9",
             f4=0, f5=0x7FF0000000000000, f8=0)
    s.run(4)
    assert s.s.fr[6] == 0x7FF4000000000000
    assert s.s.fr[7] == 0x7FF4000000000000
    assert s.s.fr[9] >> 32 == 0x7FA00000
    assert status(s) == FLAG_V


def test_nan_propagation_prefers_signalling_then_first_operand() -> None:
    qa, qb, sb = 0x7FF0000000000001, 0x7FF0000000000002, 0x7FF8000000000005
    s = snip("fadd,dbl %fr4,%fr5,%fr6\nfadd,dbl %fr4,%fr7,%fr8\nfmpy,dbl %fr9,%fr5,%fr10",
             f4=qa, f5=qb, f7=sb, f9=ONE)
    s.run(4)
    assert s.s.fr[6] == qa                            # two quiet NaNs: the first
    assert s.s.fr[8] == 0x7FF4000000000005            # the signalling one, quieted
    assert s.s.fr[10] == qb
    assert status(s) == FLAG_V                         # only the sNaN raised invalid


def test_double_to_single_nan_keeps_only_the_high_fraction_bits() -> None:
    # QEMU truncates the payload: a NaN whose kept bits are zero comes out as infinity
    s = snip("fcnvff,dbl,sgl %fr4,%fr6\nfcnvff,dbl,sgl %fr5,%fr7",
             f4=0x7FF0000000000123, f5=0x7FF0020000000000)
    s.run(3)
    assert s.s.fr[6] >> 32 == 0x7F800000
    assert s.s.fr[7] >> 32 == 0x7F801000
    assert status(s) == 0


def test_float_to_int_saturates_with_invalid_only() -> None:
    s = snip("fcnvfxt,dbl,sgl %fr4,%fr6\nfcnvfxt,dbl,sgl %fr5,%fr7\nfcnvfxt,dbl,sgl %fr8,%fr9",
             f4=0x7FF0000000000001, f5=dbits(-3e9), f8=dbits(-2.5))
    s.run(4)
    assert s.s.fr[6] >> 32 == 0x7FFFFFFF               # NaN: the largest positive
    assert s.s.fr[7] >> 32 == 0x80000000
    assert s.s.fr[9] >> 32 == 0xFFFFFFFE               # truncation
    assert status(s) == FLAG_V | FLAG_I


def test_tininess_is_detected_after_rounding() -> None:
    # (1+2^-52)*2^-511 * (1-2^-52)*2^-511 = 2^-1022 * (1 - 2^-104): tiny before rounding,
    # rounds to the smallest normal, so no underflow (only inexact)
    a, b = 0x2000000000000001, 0x1FFFFFFFFFFFFFFE
    s = snip("fmpy,dbl %fr4,%fr5,%fr6", f4=a, f5=b)
    s.run(2)
    assert s.s.fr[6] == 0x0010000000000000
    assert status(s) == FLAG_I
    s = snip("fmpy,dbl %fr4,%fr5,%fr6", status=1 << 9, f4=a, f5=b)   # towards zero: tiny
    s.run(2)
    assert s.s.fr[6] == 0x000FFFFFFFFFFFFF
    assert status(s) == 1 << 9 | FLAG_U | FLAG_I


def test_d_bit_flushes_denormal_inputs_and_results_silently() -> None:
    D = 1 << 5
    s = snip("fadd,dbl %fr4,%fr5,%fr6\nfmpy,dbl %fr7,%fr8,%fr9", status=D,
             f4=1, f5=0x0010000000000000, f7=0x0010000000000000, f8=dbits(0.5))
    s.run(3)
    assert s.s.fr[6] == 0x0010000000000000             # the denormal input read as zero
    assert s.s.fr[9] == 0                              # the denormal result became zero
    assert status(s) == D                              # and no flag at all


def test_frnd_and_sqrt() -> None:
    s = snip("frnd,dbl %fr4,%fr6\nfrnd,dbl %fr5,%fr7\nfsqrt,dbl %fr8,%fr9\nfsqrt,sgl %fr10,%fr11",
             f4=dbits(2.5), f5=dbits(-0.5), f8=dbits(2.0), f10=0xBF800000 << 32)
    s.run(5)
    assert s.s.fr[6] == dbits(2.0) and s.s.fr[7] == dbits(-0.0)
    assert s.s.fr[9] == dbits(2.0 ** 0.5)
    assert s.s.fr[11] >> 32 == 0x7FA00000
    assert status(s) == FLAG_V | FLAG_I


def test_xmpyu_and_halves() -> None:
    s = snip("xmpyu %fr4R,%fr5L,%fr6\nfcpy,sgl %fr4R,%fr7L\nfneg,sgl %fr4L,%fr7R".replace(
        "fneg,sgl", ".level 2.0\n\tfneg,sgl"), f4=0x80000000_FFFFFFFF, f5=0xFFFFFFFE_00000000,
             f7=0)
    s.run(4)
    assert s.s.fr[6] == 0xFFFFFFFF * 0xFFFFFFFE
    assert s.s.fr[7] == 0xFFFFFFFF_00000000
    assert status(s) == 0                              # bit operations set no flag


# ---- the status word and fr0 --------------------------------------------------------

def test_every_computation_rewrites_fr0_from_the_status_copy() -> None:
    # fr0R is cleared; a copy into fr0L does not change the rounding the FPU uses
    s = snip("fldws 8(%r30),%fr0R\nfadd,dbl %fr4,%fr4,%fr6", f4=ONE)
    s.write32(DATA + 8, 0x12345678)
    s.run(2)
    assert s.s.fr[0] == 0x12345678
    s.run(1)
    assert s.s.fr[0] == 0 and s.s.fr[6] == TWO
    s = snip("fcpy,sgl %fr5,%fr0\nfadd,dbl %fr4,%fr6,%fr7", f4=ONE, f5=2 << 9 << 32,
             f6=dbits(2.0 ** -60))
    s.run(2)
    assert s.s.fr[0] >> 32 == 2 << 9                   # fr0L holds the copied word
    s.run(1)
    assert s.s.fr[7] == ONE                            # still round to nearest
    assert s.s.fr[0] == FLAG_I << 32


def test_fr0_reads_as_zero_as_an_operand() -> None:
    s = snip("fadd,dbl %fr0,%fr4,%fr6\nfcnvff,dbl,sgl %fr0,%fr7", status=0x3F800000, f4=ONE)
    s.run(3)
    assert s.s.fr[6] == ONE                            # 0 + 1
    # ... except the double source of a double-to-single operation, which reads fr0
    assert s.s.fr[7] >> 32 == 0x3C000000


def test_fcmp_sets_c_and_shifts_the_queue_and_ftest_nullifies() -> None:
    src = "fcmp,dbl,< %fr4,%fr5\nftest\nldi 1,%r3\nfcmp,dbl,> %fr4,%fr5\nftest\nldi 1,%r4"
    s = snip(src, f4=ONE, f5=TWO)
    s.run(7)
    assert s.gr(3) == 0                                # 1 < 2: C set, ldi nullified
    assert s.gr(4) == 1
    assert status(s) & C_BIT == 0
    assert status(s) >> 21 & 1 == 1                    # the previous C moved to the queue


def test_signalling_compare_of_a_quiet_nan_is_invalid() -> None:
    s = snip("fcmp,dbl,? %fr4,%fr5\nfcmp,dbl,< %fr4,%fr5", f4=0x7FF0000000000001, f5=ONE)
    s.run(2)
    assert status(s) == C_BIT                          # '?' (unordered) holds, quietly
    s.run(1)
    assert status(s) == FLAG_V | 1 << 21               # '<' signals; C false, queue shifted


# ---- traps --------------------------------------------------------------------------

def test_enabled_exception_traps_after_recording_the_flag() -> None:
    s = snip("fdiv,dbl %fr4,%fr5,%fr6", status=EN_Z, f4=ONE, f5=0, f6=THREE)
    s.run(2)
    assert s.s.iaoq_f == vector(14) + 4
    assert s.s.cr[19] == 0x30856E06                    # IIR
    assert s.s.fr[6] == THREE                          # destination not written
    assert status(s) == FLAG_Z | EN_Z


def test_fmpyadd_writes_the_product_before_the_add_traps() -> None:
    # QEMU 7.2 decodes the f bit reversed: f=1 (bit 26) is double there
    word = 0x18000000 | 4 << 21 | 5 << 16 | 6 << 11 | 7 << 6 | 1 << 5 | 8
    big = 0x7FEFFFFFFFFFFFFF
    s = snip(f".word {word:#x}", status=EN_O, f4=TWO, f5=TWO, f6=big, f7=big, f8=0)
    s.run(2)
    assert s.s.iaoq_f == vector(14) + 4
    assert s.s.fr[8] == dbits(4.0) and s.s.fr[6] == big
    assert status(s) == FLAG_O | FLAG_I | EN_O


ILLEGAL = [0x30002000, 0x30805006, 0x30858606, 0x30804026, 0x30820206, 0x30800206,
           0x30002423, 0x38850786, 0x38850E86, 0x27481144, 0x2F511045, 0x53442000,
           0x5F442006, 0xB8852F06, 0x38850C84, 0x30851404]


@pytest.mark.parametrize("word", ILLEGAL, ids=[f"{w:08x}" for w in ILLEGAL])
def test_encodings_qemu_rejects_are_illegal(word: int) -> None:
    s = snip(f".word {word:#x}", f6=ONE)
    s.run(2)
    assert s.s.illegal_count == 1
    assert s.s.iaoq_f == vector(8) + 4
    assert s.s.cr[19] == word
    assert s.s.fr[6] == ONE and s.s.fr[0] == 0


# ---- loads and stores ---------------------------------------------------------------

def test_loads_modify_the_base_and_fr0_loads_set_the_status() -> None:
    src = """fldws,ma 8(%r30),%fr4R
fldds,mb 8(%r30),%fr5
ldi 8,%r1
fstwx,sm %fr4R,%r1(%r30)
fldws 0(%r29),%fr0
fadd,dbl %fr6,%fr7,%fr8"""
    s = snip(src, f6=ONE, f7=dbits(2.0 ** -60))
    s.s.gr[29] = DATA + 64
    s.write32(DATA + 16, 0x22222222)
    s.write32(DATA + 20, 0x33333333)
    s.write32(DATA + 64, 2 << 9)                       # round towards +inf
    s.run(7)
    assert s.s.fr[4] & 0xFFFFFFFF == 0                 # the word at DATA (status 0)
    assert s.s.fr[5] == 0x22222222_33333333            # from DATA + 16
    assert s.s.gr[30] == DATA + 16 + 32                # +8, +8, then +8 << 2
    assert s.read(DATA + 16, 4) == b"\0\0\0\0"          # fr4R stored over 0x22222222
    assert s.s.fr[8] == ONE + 1


def test_faulting_load_changes_nothing() -> None:
    s = snip("fldds,mb 4(%r30),%fr4", f4=ONE)
    s.run(2)
    assert s.s.iaoq_f == vector(28) + 4
    assert s.s.gr[30] == DATA and s.s.fr[4] == ONE


def test_io_load_exits_and_completes_once_on_rerun() -> None:
    s = snip("fldws,ma 4(%r29),%fr4\nldi 5,%r3")
    s.s.gr[29] = 0xFFD00000
    e = s.run(10)
    assert e.reason == s.lib.HV_EXIT_IO_READ and e.addr == 0xFFD00000 and e.size == 4
    assert s.s.gr[29] == 0xFFD00000
    s.lib.hv_io_complete(s.vm, 0xCAFEBABE)
    s.run(2)
    assert s.s.fr[4] >> 32 == 0xCAFEBABE
    assert s.s.gr[29] == 0xFFD00004 and s.gr(3) == 5
