"""Seeded random PA-RISC 1.1 instruction sequences for the QEMU differential test.

``generate(cls, seed, n)`` returns a :class:`Program`: assembly text made of

- a prologue that copies a block of random bytes into a scratch RAM area, then (from
  ``regs_start``, where the harness starts comparing) loads the FP registers and the FP
  status word (rounding mode, sometimes D) from a data table, SAR, and every general
  register with a seeded random value (``ldil``/``ldo`` pairs), leaving ``%r3`` at the
  middle of the scratch area, and sets random carry/borrow and V bits (``ds``, ``add``);
- the random body (``body_start`` .. ``body_end``), one instruction per line;
- an epilogue: ``body_end: b,n body_end``.

Classes: ``int`` (every computational instruction with every condition, immediates,
extract/deposit/shift with fixed and SAR positions, ldil/addil/ldo, and PL0 system
instructions: mtsp/mfsp/ldsid, mtctl/mfctl of harmless control registers, ssm/rsm of
PSW[Q], sync); ``branch`` (compare/add/move-and-branch, bb/bvb, b/bl/gate, blr, bv,
be/ble through any space register, with ``,n``, nullified branches, branches in delay
slots, counted backward ``addib`` loops); ``mem`` (every integer load/store form:
long/short displacement, indexed, ``,ma/,mb/,m/,s/,sm``, ldwm/stwm, stbys, ldcw,
ldwa/stwa, explicit space registers, cache flushes and TLB purges with base modification);
``fp`` (arithmetic, sqrt/abs/copy/round, conversions, fcmp+ftest, xmpyu, fmpyadd/fmpysub,
FP loads/stores, status-word stores, on edge values: NaN, inf, denormals, signed zero).

``build(prog, dir)`` assembles and links it with binutils (``hppa-linux-gnu-as`` /
``-ld``) into an ELF in the firmware region, cached by the digest of the source.

Rules the body keeps so that it never traps and never leaves the sequence:

- ``%r3`` (the scratch base) is never a destination;
- branch targets are forward, at the start of an *item* (never between a setup
  instruction and the instruction that needs it) or ``body_end``; the only backward
  branches close counted loops whose counter nothing else writes;
- an item that sets up a register for the next instruction (a base for a load, an index
  for ``blr``, an address for ``bv``/``be``) starts with a *guard*: an instruction that
  never nullifies and is not a branch, so the setup can be neither nullified nor
  skipped as a delay slot;
- loads and stores address the scratch area only, aligned as they require;
- PSW[I/D/R/P] stay clear (no interrupts, translation or recovery traps), no FP
  exception is enabled, trapping forms (``addo``, ``uaddcmt`` with a condition,
  ``probe`` — which QEMU 7.2 looks up in the TLB even in physical mode) are left out;
- no branch sits in a delay slot unless the class asks for it (``branch`` does, rarely).
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

AS = "hppa-linux-gnu-as"
LD = "hppa-linux-gnu-ld"

CLASSES = ("int", "branch", "mem", "fp")

TEXT_BASE = 0xF0000000
SCRATCH = 0x00100000            # scratch RAM area (8 KiB); %r3 = its middle
SCRATCH_SIZE = 0x2000
SCRATCH_MID = SCRATCH + SCRATCH_SIZE // 2
BASE = 3                        # the register holding SCRATCH_MID, never written by the body
M32 = 0xFFFFFFFF

LINK_SCRIPT = """\
OUTPUT_FORMAT("elf32-hppa-linux")
OUTPUT_ARCH(hppa)
ENTRY(_start)
SECTIONS
{
    . = 0xF0000000;
    .text : { *(.text) }
    . = ALIGN(8);
    .data : { *(.data) }
    /DISCARD/ : { *(.note*) *(.comment) *(.PARISC.unwind) }
}
"""

# ---- condition completers, as GNU as spells them for PA 1.1 ----
ADD_CONDS = ("", "=", "<", "<=", "nuv", "znv", "sv", "od",
             "tr", "<>", ">=", ">", "uv", "vnz", "nsv", "ev")
SUB_CONDS = ("", "=", "<", "<=", "<<", "<<=", "sv", "od",
             "tr", "<>", ">=", ">", ">>=", ">>", "nsv", "ev")
LOG_CONDS = ("", "=", "<", "<=", "od", "tr", "<>", ">=", ">", "ev")
UNIT_CONDS = ("", "sbz", "shz", "sdc", "sbc", "shc", "tr",
              "nbz", "nhz", "ndc", "nbc", "nhc")
UXOR_CONDS = ("", "sbz", "shz", "tr", "nbz", "nhz")
SED_CONDS = ("", "=", "<", "od", "tr", "<>", ">=", "ev")        # shift/extract/deposit
CMPB_CONDS = tuple(c for c in SUB_CONDS)                         # comb/comib ("tr" = always)
ADDB_CONDS = ADD_CONDS
FCMP_CONDS = ("false?", "false", "?", "!<=>", "=", "=T", "?=", "!<>", "!?>=", "<", "?<",
              "!>=", "!?>", "<=", "?<=", "!>", "!?<=", ">", "?>", "!<=", "!?<", ">=",
              "?>=", "!<", "!?=", "<>", "!=", "!=T", "!?", "<=>", "true?", "true")

# control registers a PL0 program may write here without changing what happens next
# (PSW.I/D/R are off): recovery counter, PIDs, IVA, EIEM, temporaries
CR_WRITABLE = (0, 8, 9, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31)

_QEMU_PAUSE = re.compile(r"or %r(10|31),%r\1,%r\1")

INTERESTING = (0, 1, 2, 3, 4, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x80000001,
               0x0000FFFF, 0xFFFF0000, 0x00FF00FF, 0xFF00FF00, 0x99999999, 0x55555555,
               0xAAAAAAAA, 0x00010000, 0x00008000, 0x00007FFF, 0x01010101, 0x80808080,
               0x66666666, 0x12345678, 0x0F0F0F0F, 0x7FFF7FFF)

SGL_SPECIAL = (0x00000000, 0x80000000, 0x3F800000, 0xBFC00000, 0x7F800000, 0xFF800000,
               0x7FC00000, 0x7FA00000, 0xFFC00001, 0x00000001, 0x007FFFFF, 0x80400000,
               0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x4F000000, 0xCF000000, 0x4F800000,
               0x5F000000, 0x3F000000, 0x40490FDB, 0x33800000)
DBL_SPECIAL = (0x0000000000000000, 0x8000000000000000, 0x3FF0000000000000,
               0xBFF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
               0x7FF8000000000000, 0x7FF4000000000000, 0xFFF8000000000001,
               0x0000000000000001, 0x000FFFFFFFFFFFFF, 0x8008000000000000,
               0x0010000000000000, 0x7FEFFFFFFFFFFFFF, 0x41E0000000000000,
               0xC1E0000000000000, 0x41F0000000000000, 0x43E0000000000000,
               0x3FE0000000000000, 0x400921FB54442D18, 0x3CB0000000000000,
               0x47EFFFFFE0000000, 0x3690000000000000)


@dataclass
class Item:
    """One unit of the body: a few instruction lines that must run in order."""

    lines: list[str]
    branch: bool = False                 # the last line is a branch (its delay slot follows)
    # a branch's forward target, as a distance in items (resolved in _assemble_body)
    target: int | None = None
    blr: bool = False                    # lines = guard, "ldi {K},x", "blr x,t"


@dataclass
class Program:
    cls: str
    seed: int
    n: int
    source: str
    body: list[str]                      # body instruction lines, body_start + 4*i each
    setup: list[str]                     # prologue lines from regs_start to body_start
    scratch_init: bytes
    digest: str = ""
    elf: Path | None = None
    symbols: dict[str, int] = field(default_factory=dict)

    @property
    def body_start(self) -> int:
        return self.symbols["body_start"]

    @property
    def body_end(self) -> int:
        return self.symbols["body_end"]

    @property
    def regs_start(self) -> int:
        return self.symbols["regs_start"]

    def line_at(self, pc: int) -> str:
        """The source line of the instruction at ``pc`` (privilege bits ignored)."""
        pc &= ~3
        if self.regs_start <= pc < self.body_start:
            return "(prologue) " + self.setup[(pc - self.regs_start) // 4]
        i = (pc - self.body_start) // 4
        if 0 <= i < len(self.body):
            return self.body[i]
        return "(outside the sequence)"


class Gen:
    """Random choices for one program (all randomness flows from one seeded Random)."""

    def __init__(self, seed: int, cls: str) -> None:
        self.rng = random.Random(f"{cls}:{seed}")
        self.cls = cls
        self.loops = 0

    # ---- operands ----
    def value(self) -> int:
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(INTERESTING)
        if r < 0.5:
            return self.rng.randrange(-64, 64) & M32
        if r < 0.6:     # packed-BCD-looking values, for dcor and the digit-carry conditions
            return int("".join(self.rng.choice("0123456789") for _ in range(8)), 16)
        return self.rng.getrandbits(32)

    def src(self) -> int:
        """Any register may be read (r0 reads 0, r3 is the scratch base)."""
        return self.rng.randrange(32)

    def dst(self, avoid: tuple[int, ...] = ()) -> int:
        """A destination: never %r3; %r0 occasionally (the result is discarded)."""
        while True:
            r = 0 if self.rng.random() < 0.04 else self.rng.randrange(1, 32)
            if r != BASE and r not in avoid:
                return r

    def scratch_reg(self, avoid: tuple[int, ...] = ()) -> int:
        """A register to hold an address or index: not r0, not r3."""
        while True:
            r = self.rng.randrange(1, 32)
            if r != BASE and r not in avoid:
                return r

    def cond(self, conds: tuple[str, ...]) -> str:
        c = self.rng.choice(conds) if self.rng.random() < 0.75 else ""
        return f",{c}" if c else ""

    def imm(self, bits: int) -> int:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if self.rng.random() < 0.3:
            return self.rng.choice((lo, hi, 0, 1, -1))
        return self.rng.randint(lo, hi)

    # ---- integer computational ----
    def computational(self, avoid: tuple[int, ...] = (), nullifying: bool | None = None) -> str:
        """One computational instruction.  ``avoid``: registers not to write;
        ``nullifying`` False: no condition (it never nullifies)."""
        while True:
            line = self._computational(avoid, nullifying)
            # QEMU 7.2 halts the CPU until an interrupt on these (its idle hint,
            # translate.c trans_or); the architecture says nop
            if not _QEMU_PAUSE.fullmatch(line):
                return line

    def _computational(self, avoid: tuple[int, ...], nullifying: bool | None) -> str:
        g, t = self, self.dst(avoid)
        r1, r2 = g.src(), g.src()

        def c(conds: tuple[str, ...]) -> str:
            return "" if nullifying is False else g.cond(conds)

        kind = g.rng.randrange(22)
        if kind == 0:
            op = g.rng.choice(("add", "addl", "addc", "sh1add", "sh2add", "sh3add",
                               "sh1addl", "sh2addl", "sh3addl"))
            return f"{op}{c(ADD_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 1:
            op = g.rng.choice(("sub", "subb", "comclr"))
            return f"{op}{c(SUB_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 2:
            return f"ds{c(SUB_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 3:
            op = g.rng.choice(("and", "andcm", "or", "xor"))
            return f"{op}{c(LOG_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 4:
            return f"uxor{c(UXOR_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 5:           # uaddcmt traps when its condition holds: no condition
            if g.rng.random() < 0.2:
                return f"uaddcmt %r{r1},%r{r2},%r{t}"
            return f"uaddcm{c(UNIT_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 6:
            op = g.rng.choice(("dcor", "idcor"))
            return f"{op}{c(UNIT_CONDS)} %r{r1},%r{t}"
        if kind == 7:
            return f"addi{c(ADD_CONDS)} {g.imm(11)},%r{r2},%r{t}"
        if kind == 8:
            op = g.rng.choice(("subi", "comiclr"))
            return f"{op}{c(SUB_CONDS)} {g.imm(11)},%r{r2},%r{t}"
        if kind == 9:
            op = g.rng.choice(("extru", "extrs"))
            p = g.rng.randrange(32)
            ln = g.rng.randint(1, p + 1)
            return f"{op}{c(SED_CONDS)} %r{r1},{p},{ln},%r{t}"
        if kind == 10:
            op = g.rng.choice(("zdep", "dep"))
            p = g.rng.randrange(32)
            ln = g.rng.randint(1, p + 1)
            return f"{op}{c(SED_CONDS)} %r{r1},{p},{ln},%r{t}"
        if kind == 11:
            op = g.rng.choice(("zdepi", "depi"))
            p = g.rng.randrange(32)
            ln = g.rng.randint(1, p + 1)
            return f"{op}{c(SED_CONDS)} {g.imm(5)},{p},{ln},%r{t}"
        if kind == 12:
            op = g.rng.choice(("vextru", "vextrs", "vdep", "zvdep"))
            return f"{op}{c(SED_CONDS)} %r{r1},{g.rng.randint(1, 32)},%r{t}"
        if kind == 13:
            op = g.rng.choice(("vdepi", "zvdepi"))
            return f"{op}{c(SED_CONDS)} {g.imm(5)},{g.rng.randint(1, 32)},%r{t}"
        if kind == 14:
            return f"shd{c(SED_CONDS)} %r{r1},%r{r2},{g.rng.randrange(32)},%r{t}"
        if kind == 15:
            return f"vshd{c(SED_CONDS)} %r{r1},%r{r2},%r{t}"
        if kind == 16:
            return f"ldil L%{g.value():#x},%r{t}"
        if kind == 17:
            # addil writes r1: only when r1 may be written
            if 1 in avoid:
                return f"ldo {g.imm(14)}(%r{r2}),%r{t}"
            return f"addil L%{g.value():#x},%r{r2}"
        if kind == 18:
            return f"ldo {g.imm(14)}(%r{r2}),%r{t}"
        if kind == 19:
            return f"mtsar %r{r1}"
        if kind == 20:
            return f"mfctl %sar,%r{t}"
        return f"ldi {g.imm(11)},%r{t}"

    def system(self, avoid: tuple[int, ...] = ()) -> str:
        """Space/control-register moves, system mask (Q only: I, D, R, P would bring
        interrupts, translation or recovery traps), sync: none nullifies."""
        g, t = self, self.dst(avoid)
        kind = g.rng.randrange(7)
        if kind == 0:
            return f"mtsp %r{g.src()},%sr{g.rng.randrange(8)}"
        if kind == 1:
            return f"mfsp %sr{g.rng.randrange(8)},%r{t}"
        if kind == 2:
            return f"ldsid (%sr{g.rng.randrange(4)},%r{g.src()}),%r{t}"
        if kind == 3:
            cr = g.rng.choice(CR_WRITABLE + (() if self.cls == "fp" else (10,)))
            return f"mtctl %r{g.src()},%cr{cr}"
        if kind == 4:
            return f"mfctl %cr{g.rng.choice(CR_WRITABLE + (10, 11))},%r{t}"
        if kind == 5:
            return f"{g.rng.choice(('ssm', 'rsm'))} {g.rng.choice((0, 8))},%r{t}"
        # (no probe: QEMU 7.2 looks the address up in the TLB even with PSW.D=0 and
        # raises a non-access DTLB miss; traps are not this generator's business)
        return g.rng.choice(("sync", "syncdma"))

    def guard(self, avoid: tuple[int, ...] = ()) -> str:
        """A non-branch instruction that never nullifies its successor."""
        return self.computational(avoid, nullifying=False)

    # ---- branches ----
    def cond_branch(self) -> Item:
        g = self
        n = ",n" if g.rng.random() < 0.5 else ""
        r1, r2 = g.src(), g.dst()
        if r2 == 0:
            r2 = g.scratch_reg()
        kind = g.rng.randrange(8)
        if kind == 0:
            line = f"comb{g.cond(CMPB_CONDS)}{n} %r{r1},%r{g.src()},{{T}}"
        elif kind == 1:
            line = f"comib{g.cond(CMPB_CONDS)}{n} {g.imm(5)},%r{g.src()},{{T}}"
        elif kind == 2:
            line = f"addb{g.cond(ADDB_CONDS)}{n} %r{r1},%r{r2},{{T}}"
        elif kind == 3:
            line = f"addib{g.cond(ADDB_CONDS)}{n} {g.imm(5)},%r{r2},{{T}}"
        elif kind == 4:
            line = f"movb{g.cond(SED_CONDS)}{n} %r{r1},%r{r2},{{T}}"
        elif kind == 5:
            line = f"movib{g.cond(SED_CONDS)}{n} {g.imm(5)},%r{r2},{{T}}"
        elif kind == 6:
            line = f"bb,{g.rng.choice(('<', '>='))}{n} %r{r1},{g.rng.randrange(32)},{{T}}"
        else:
            line = f"bvb,{g.rng.choice(('<', '>='))}{n} %r{r1},{{T}}"
        return Item([line], branch=True, target=g.distance())

    def loop(self) -> Item:
        """A counted backward loop: guard; ldi k,c; L: body...; addib,cond -1,c,L; slot.
        Only the addib writes c, so it ends (early, if the addib gets nullified)."""
        g = self
        c = g.scratch_reg((1,))
        self.loops += 1
        label = f"LP{self.loops}"
        k = g.rng.randint(1, 4)
        cond, end = g.rng.choice(((">", 1), ("<>", 1), (">=", 0)))
        body = [g.computational((c,)) for _ in range(g.rng.randint(1, 3))]
        n = ",n" if g.rng.random() < 0.5 else ""
        return Item([g.guard((c,)), f"ldi {k - 1 + end},%r{c}", f"{label}: {body[0]}",
                     *body[1:], f"addib,{cond}{n} -1,%r{c},{label}", g.computational((c,))])

    def distance(self) -> int:
        return self.rng.choice((1, 1, 2, 2, 3, 4, 5, 8, 12))

    def uncond_branch(self, in_delay_slot: bool = False) -> Item:
        """b/bl (direct), blr, bv, be/ble (indirect; with a guarded setup), gate
        (not in a delay slot, where it is illegal)."""
        g = self
        n = ",n" if g.rng.random() < 0.5 else ""
        kind = g.rng.randrange(6)
        if kind == 0:
            return Item([f"b{n} {{T}}"], branch=True, target=g.distance())
        if kind == 1:
            return Item([f"bl{n} {{T}},%r{g.dst()}"], branch=True, target=g.distance())
        if kind == 2:
            # blr x,t: target = pc + 8 + 8*x; x (0..3) is chosen in _assemble_body so
            # that the target is an item start; the link register is random
            x = g.scratch_reg()
            return Item([g.guard((x,)), f"ldi {{K}},%r{x}", f"blr{n} %r{x},%r{g.dst()}"],
                        branch=True, blr=True)
        if kind in (3, 4):
            b = g.scratch_reg()
            if kind == 3:
                if g.rng.random() < 0.5:
                    return Item([g.guard((b,)), "ldil L%{T},%r" + str(b),
                                 "ldo R%{T}(%r" + str(b) + f"),%r{b}", f"bv{n} %r0(%r{b})"],
                                branch=True, target=g.distance())
                x = g.scratch_reg((b,))
                # bv x(b) jumps to b + 8*x: set x = 0 or 1 and b = label - 8*x
                k = g.rng.randrange(2)
                return Item([g.guard((b, x)), f"ldi {k},%r{x}",
                             "ldil L%{T}-" + str(8 * k) + ",%r" + str(b),
                             "ldo R%{T}-" + str(8 * k) + "(%r" + str(b) + f"),%r{b}",
                             f"bv{n} %r{x}(%r{b})"], branch=True, target=g.distance())
            op = g.rng.choice(("be", "ble"))
            sr = g.rng.choice((4, 4, 0, 1, 2, 3, 5, 6, 7))   # spaces are ignored, C=0
            return Item([g.guard((b,)), "ldil L%{T},%r" + str(b),
                         op + n + " R%{T}(%sr" + f"{sr},%r{b})"],
                        branch=True, target=g.distance())
        if in_delay_slot:
            return Item([f"b{n} {{T}}"], branch=True, target=g.distance())
        # gate: a branch that may raise the privilege (not with C=0) and writes it in t.
        # It is illegal wherever IAOQ back is not front + 4, so it follows a guard: it is
        # then never a branch target (which, reached through a branch in a delay slot,
        # would put it in that position) nor in a delay slot.
        t = g.dst()
        return Item([g.guard(), f"gate{n} {{T}},%r{t}"], branch=True, target=g.distance())

    # ---- loads and stores ----
    def mem_op(self) -> Item:
        """A load or store into the scratch area with its guarded base/index setup."""
        g = self
        b = g.scratch_reg()
        lines: list[str] = []
        kind = g.rng.randrange(14)
        size = g.rng.choice((1, 2, 4))
        letter = {1: "b", 2: "h", 4: "w"}[size]
        store = g.rng.random() < 0.45
        val = g.src()
        setup_avoid: tuple[int, ...] = (b,)

        def base(extent: int = 2048, align: int = size) -> None:
            off = g.rng.randrange(-extent, extent) // align * align
            lines.append(f"ldo {off}(%r{BASE}),%r{b}")

        if kind in (0, 1):            # long displacement, optionally modifying (ldwm/stwm)
            base()
            d = g.rng.randrange(-1024, 1024) // size * size
            modify = letter == "w" and g.rng.random() < 0.4
            if store:
                op = ("stwm" if modify else f"st{letter}")
                mem = f"{op} %r{val},{d}(%r{b})"
            else:
                t = g.dst((b,) if modify else ())
                op = ("ldwm" if modify else f"ld{letter}")
                mem = f"{op} {d}(%r{b}),%r{t}"
        elif kind in (2, 3, 4):       # short displacement, with ,ma/,mb
            base()
            d = g.rng.randrange(-16, 16) // size * size
            cmpl = g.rng.choice(("", ",ma", ",mb"))
            if store:
                mem = f"st{letter}s{cmpl} %r{val},{d}(%r{b})"
            else:
                t = g.dst((b,) if cmpl else ())
                mem = f"ld{letter}s{cmpl} {d}(%r{b}),%r{t}"
        elif kind in (5, 6):          # indexed loads (,s ,m ,sm)
            x = g.scratch_reg((b,))
            setup_avoid = (b, x)
            base()
            cmpl = g.rng.choice(("", ",s", ",m", ",sm"))
            idx = g.rng.randrange(-256, 256)
            if "s" not in cmpl:       # unscaled: the index itself must keep the alignment
                idx = idx // size * size
            lines.append(f"ldi {idx},%r{x}")
            t = g.dst((b,) if "m" in cmpl else ())
            if store:                 # PA 1.1 has no indexed integer stores: use short form
                d = g.rng.randrange(-16, 16) // size * size
                mem = f"st{letter}s %r{val},{max(d, -16)}(%r{b})"
            else:
                mem = f"ld{letter}x{cmpl} %r{x}(%r{b}),%r{t}"
        elif kind == 7:               # store bytes (begin/end), any byte alignment
            base(align=1)
            d = g.rng.randrange(-16, 16)
            mem = f"stbys,{g.rng.choice('be')}{g.rng.choice(('', ',m'))} %r{val},{d}(%r{b})"
        elif kind == 8:               # load and clear word, 16-byte aligned
            if g.rng.random() < 0.5:
                base(align=16)
                t = g.dst((b,))
                mem = f"ldcws {g.rng.randrange(-1, 1) * 16}(%r{b}),%r{t}"
            else:
                x = g.scratch_reg((b,))
                setup_avoid = (b, x)
                base(align=16)
                lines.append(f"ldi {g.rng.randrange(-64, 64) * 16},%r{x}")
                mem = f"ldcwx %r{x}(%r{b}),%r{g.dst((b,))}"
        elif kind == 10:              # absolute (physical) word access: ldwa/stwa
            base(align=4)
            if store:
                cmpl, d = g.rng.choice(("", ",ma", ",mb")), g.rng.randrange(-4, 4) * 4
                mem = f"stwas{cmpl} %r{val},{d}(%r{b})"
            elif g.rng.random() < 0.5:
                cmpl, d = g.rng.choice(("", ",ma", ",mb")), g.rng.randrange(-4, 4) * 4
                mem = f"ldwas{cmpl} {d}(%r{b}),%r{g.dst((b,))}"
            else:
                x = g.scratch_reg((b,))
                setup_avoid = (b, x)
                cmpl = g.rng.choice(("", ",s", ",m", ",sm"))
                idx = g.rng.randrange(-64, 64) * (1 if "s" in cmpl else 4)
                lines.append(f"ldi {idx},%r{x}")
                mem = f"ldwax{cmpl} %r{x}(%r{b}),%r{g.dst((b,))}"
        elif kind == 11:              # cache flushes / TLB purges: no-ops but for ,m
            x = g.scratch_reg((b,))
            setup_avoid = (b, x)
            base(align=4)
            lines.append(f"ldi {g.rng.randrange(-64, 64) * 4},%r{x}")
            op = g.rng.choice(("fdc", "fdce", "fic", "fice", "pdc", "pdtlb", "pitlb",
                               "pdtlbe", "pitlbe"))
            sp = f"%sr{g.rng.randrange(4)}," if g.rng.random() < 0.5 else ""
            if op in ("fic", "fice", "pitlb", "pitlbe") and not sp:
                sp = "%sr4,"
            mem = f"{op}{g.rng.choice(('', ',m'))} %r{x}({sp}%r{b})"
        elif kind == 12:              # explicit space register (ignored with C=0)
            base(align=size)
            d = g.rng.randrange(-16, 16) // size * size
            sp = g.rng.randrange(4)
            if store:
                mem = f"st{letter} %r{val},{d}(%sr{sp},%r{b})"
            else:
                mem = f"ld{letter} {d}(%sr{sp},%r{b}),%r{g.dst((b,))}"
        else:                         # modified long-displacement word store / load pair
            base(align=4)
            d = g.rng.randrange(-64, 64) * 4
            mem = (f"stwm %r{val},{d}(%r{b})" if store
                   else f"ldwm {d}(%r{b}),%r{g.dst((b,))}")
        return self._guarded(lines, mem, setup_avoid)

    def _guarded(self, setup: list[str], last: str, keep: tuple[int, ...]) -> Item:
        """guard; setup...; [a nullifying op | nothing]; last.  The optional middle
        instruction may nullify ``last`` but writes none of ``keep``."""
        lines = [self.guard(keep), *setup]
        if self.rng.random() < 0.3:
            lines.append(self.computational(keep + (1,), nullifying=True))
        lines.append(last)
        return Item(lines)

    # ---- floating point ----
    def fr_dbl(self, src: bool = False) -> str:
        if src and self.rng.random() < 0.04:
            return "%fr0"                       # reads as +0.0 in an operation
        return f"%fr{self.rng.randrange(4, 32)}"

    def fr_sgl(self, src: bool = False) -> str:
        if src and self.rng.random() < 0.04:
            return "%fr0L"
        return f"%fr{self.rng.randrange(4, 32)}{self.rng.choice('LR')}"

    def fp_op(self) -> Item:
        g = self
        kind = g.rng.randrange(12)
        fmt = g.rng.choice(("sgl", "dbl"))
        r = g.fr_sgl if fmt == "sgl" else g.fr_dbl
        if kind <= 2:
            op = g.rng.choice(("fadd", "fsub", "fmpy", "fdiv"))
            return Item([f"{op},{fmt} {r(True)},{r(True)},{r()}"])
        if kind == 3:
            op = g.rng.choice(("fsqrt", "fabs", "fcpy", "frnd"))
            return Item([f"{op},{fmt} {r(True)},{r()}"])
        if kind == 4:
            op = g.rng.choice(("fcnvff", "fcnvxf", "fcnvfx", "fcnvfxt"))
            f1, f2 = g.rng.choice((("sgl", "dbl"), ("dbl", "sgl"), ("sgl", "sgl"),
                                   ("dbl", "dbl")))
            if op == "fcnvff" and f1 == f2:
                f2 = "dbl" if f1 == "sgl" else "sgl"
            src = g.fr_sgl() if f1 == "sgl" else g.fr_dbl()
            dst = g.fr_sgl() if f2 == "sgl" else g.fr_dbl()
            return Item([f"{op},{f1},{f2} {src},{dst}"])
        if kind in (5, 6):            # compare, test, and an instruction ftest may nullify
            nxt = (f"fadd,dbl {g.fr_dbl()},{g.fr_dbl()},{g.fr_dbl()}"
                   if g.rng.random() < 0.5 else g.computational())
            return Item([f"fcmp,{fmt},{g.rng.choice(FCMP_CONDS)} {r()},{r()}", "ftest", nxt])
        if kind == 7:
            return Item([f"xmpyu {g.fr_sgl()},{g.fr_sgl()},{g.fr_dbl()}"])
        if kind == 8:                 # fmpyadd/fmpysub: five distinct registers
            op = g.rng.choice(("fmpyadd", "fmpysub"))
            if g.rng.random() < 0.5:
                regs = g.rng.sample(range(4, 32), 5)
                return Item([f"{op},dbl " + ",".join(f"%fr{x}" for x in regs)])
            # single: registers fr16..fr31, either half
            regs = g.rng.sample([f"{x}{h}" for x in range(16, 32) for h in "LR"], 5)
            return Item([f"{op},sgl " + ",".join(f"%fr{x}" for x in regs)])
        # FP loads and stores in the scratch area
        b = g.scratch_reg()
        if kind == 11 and g.rng.random() < 0.15:   # store the status / exception words
            fr = g.rng.choice(("%fr0", "%fr0L", "%fr1R", "%fr2", "%fr3L"))
            wide = fr[-1].isdigit()
            d = g.rng.randrange(-2, 2) * (8 if wide else 4)
            return self._guarded([f"ldo {g.rng.randrange(-256, 256) * 8}(%r{BASE}),%r{b}"],
                                 f"fst{'d' if wide else 'w'}s {fr},{d}(%r{b})", (b,))
        off = g.rng.randrange(-256, 256) * 8
        dbl = g.rng.random() < 0.6
        size = 8 if dbl else 4
        d = g.rng.randrange(-2, 2) * size
        fr = g.fr_dbl() if dbl else g.fr_sgl()
        letter = "d" if dbl else "w"
        cmpl = g.rng.choice(("", ",ma", ",mb"))
        if g.rng.random() < 0.5:
            mem = f"f{'ld' if kind != 11 else 'st'}{letter}s{cmpl} " + (
                f"{d}(%r{b}),{fr}" if kind != 11 else f"{fr},{d}(%r{b})")
            return self._guarded([f"ldo {off}(%r{BASE}),%r{b}"], mem, (b,))
        x = g.scratch_reg((b,))
        xc = g.rng.choice(("", ",s", ",m", ",sm"))
        mem = (f"fst{letter}x{xc} {fr},%r{x}(%r{b})" if kind == 11
               else f"fld{letter}x{xc} %r{x}(%r{b}),{fr}")
        idx = g.rng.randrange(-8, 8) * (1 if "s" in xc else size)
        return self._guarded([f"ldo {off}(%r{BASE}),%r{b}", f"ldi {idx},%r{x}"], mem, (b, x))

    # ---- body ----
    def item(self, after_branch: bool) -> Item:
        g, r = self, self.rng.random()
        if self.cls == "int":
            return Item([g.system() if r < 0.08 else g.computational()])
        if self.cls == "branch":
            if after_branch and r >= 0.05:          # keep delay slots branch-free (mostly)
                return Item([g.computational()])
            if r < 0.35:
                return g.cond_branch()
            if r < 0.5:
                return g.uncond_branch(after_branch)
            if r < 0.55 and not after_branch:
                return g.loop()
            return Item([g.computational()])
        if self.cls == "mem":
            if after_branch:
                return Item([g.computational()])
            if r < 0.6:
                return g.mem_op()
            if r < 0.7:
                return g.cond_branch()
            return Item([g.computational()])
        if self.cls == "fp":
            if r < 0.85:
                return g.fp_op()
            return Item([g.computational()])
        raise ValueError(f"unknown class {self.cls!r}")


_LABELS = re.compile(r"^(?:L\w*:\s*)+")


def _assemble_body(items: list[Item], rng: random.Random) -> list[str]:
    """Lay items out as lines; resolve forward branch targets to item-start labels."""
    starts: list[int] = []
    lines: list[str] = []
    for it in items:
        starts.append(len(lines))
        lines.extend(it.lines)
    labels: set[int] = set()
    start_set = set(starts)
    for k, it in enumerate(items):
        if it.blr:
            at = starts[k] + 2                      # the blr line
            ks = [x for x in range(4)
                  if at + 2 + 2 * x in start_set or at + 2 + 2 * x >= len(lines)]
            if ks:
                lines[at - 1] = lines[at - 1].replace("{K}", str(rng.choice(ks)))
            else:                                   # no item start in reach: branch instead
                lines[at - 1] = lines[at - 1].replace("{K}", "0")
                n = ",n" if lines[at].startswith("blr,n") else ""
                it.target = 1
                lines[at] = f"b{n} {{T}}"
        if it.target is None:
            continue
        dest_item = k + it.target
        label = f"L{starts[dest_item]}" if dest_item < len(items) else "body_end"
        if dest_item < len(items):
            labels.add(starts[dest_item])
        for j in range(starts[k], starts[k] + len(it.lines)):
            lines[j] = lines[j].replace("{T}", label)
    out = []
    for i, ln in enumerate(lines):
        out.append(f"L{i}: {ln}" if i in labels else ln)
    return out


def _prologue(g: Gen, scratch_words: int) -> list[str]:
    rng = g.rng
    p = ["\t.level 1.1", "\t.text", "\t.globl _start", "_start:"]
    # copy the random scratch image into RAM
    p += ["\tldil L%scratch_init,%r1", "\tldo R%scratch_init(%r1),%r1",
          f"\tldil L%{SCRATCH:#x},%r2", f"\tldo R%{SCRATCH:#x}(%r2),%r2",
          f"\tldi {scratch_words},%r4",
          "1:\tldws,ma 4(%r1),%r5", "\taddib,> -1,%r4,1b", "\tstws,ma %r5,4(%r2)",
          "regs_start:"]     # the harness compares step by step from here
    if g.cls == "fp":
        p += ["\tldil L%fp_init,%r1", "\tldo R%fp_init(%r1),%r1",
              "\tfldds,ma 8(%r1),%fr0"]          # FP status: rounding mode, no enables
        p += [f"\tfldds,ma 8(%r1),%fr{k}" for k in range(4, 32)]
    # SAR, then every general register (r1 last: ldil/addil scratch), r3 = scratch base
    p += [f"\tldi {rng.randrange(32)},%r4", "\tmtsar %r4"]
    for r in list(range(2, 32)) + [1]:
        if r == BASE:
            v = SCRATCH_MID
        else:
            v = g.value()
        p += [f"\tldil L%{v:#x},%r{r}", f"\tldo R%{v:#x}(%r{r}),%r{r}"]
    # random carry/borrow bits (and the V bit via ds)
    p += [f"\tds %r{g.src()},%r{g.src()},%r0", f"\tadd %r{g.src()},%r{g.src()},%r0"]
    return p


def _fp_table(g: Gen) -> bytes:
    rng = g.rng
    # fr0's status word: rounding mode (bits 9-10 from the right) and, sometimes, D
    # (denormals as zero, bit 5); no flags, no enables (an enabled exception would trap)
    status = rng.randrange(4) << 9 | (0x20 if rng.random() < 0.25 else 0)
    out = struct.pack(">Q", status << 32)

    def sgl() -> int:
        if rng.random() < 0.4:
            return rng.choice(SGL_SPECIAL)
        e = rng.randint(100, 154)
        return rng.getrandbits(1) << 31 | e << 23 | rng.getrandbits(23)

    def dbl() -> int:
        if rng.random() < 0.4:
            return rng.choice(DBL_SPECIAL)
        if rng.random() < 0.15:                    # a small integer in the low word
            return rng.randrange(-100, 100) & M32
        e = rng.randint(1000, 1046)
        return rng.getrandbits(1) << 63 | e << 52 | rng.getrandbits(52)

    for _ in range(4, 32):
        v = dbl() if rng.random() < 0.5 else (sgl() << 32 | sgl())
        out += struct.pack(">Q", v)
    return out


def generate(cls: str, seed: int, n: int = 200) -> Program:
    """A program of class ``cls`` with about ``n`` body instructions."""
    if cls not in CLASSES:
        raise ValueError(f"unknown class {cls!r} (one of {', '.join(CLASSES)})")
    g = Gen(seed, cls)
    scratch = bytes(g.rng.getrandbits(8) for _ in range(SCRATCH_SIZE))
    items: list[Item] = []
    count = 0
    while count < n:
        after_branch = bool(items) and items[-1].branch
        it = g.item(after_branch)
        items.append(it)
        count += len(it.lines)
    body = _assemble_body(items, g.rng)
    # blr lands up to 8 lines past itself: pad so it stays inside the sequence
    body += ["nop"] * 8
    src = _prologue(g, SCRATCH_SIZE // 4)
    setup = [ln.strip() for ln in src[src.index("regs_start:") + 1:]]
    src.append("body_start:")
    src += [f"\t{ln}" if not ln.startswith("L") else ln.replace(": ", ":\t", 1) for ln in body]
    src += ["body_end:", "\tb,n body_end", "\tnop", "", "\t.data", "\t.align 8",
            "fp_init:"]
    fp = _fp_table(g) if cls == "fp" else b""
    src += [f"\t.word {int.from_bytes(fp[i:i + 4], 'big'):#x}" for i in range(0, len(fp), 4)]
    src += ["scratch_init:"]
    src += [f"\t.word {int.from_bytes(scratch[i:i + 4], 'big'):#x}"
            for i in range(0, len(scratch), 4)]
    text = "\n".join(src) + "\n"
    plain = [_LABELS.sub("", ln) for ln in body]
    return Program(cls, seed, n, text, plain, setup, scratch,
                   digest=hashlib.sha256(text.encode()).hexdigest()[:16])


def build(prog: Program, workdir: Path) -> Path:
    """Assemble and link ``prog`` (cached by digest); fills ``prog.elf``/``symbols``."""
    workdir.mkdir(parents=True, exist_ok=True)
    stem = workdir / f"rand-{prog.cls}-{prog.seed}-{prog.digest}"
    elf = stem.with_suffix(".elf")
    if not elf.exists():
        asm = stem.with_suffix(".S")
        asm.write_text(prog.source)
        script = workdir / f"rand-{hashlib.sha256(LINK_SCRIPT.encode()).hexdigest()[:8]}.ld"
        if not script.exists():          # other processes may be linking with it: rename
            part = script.with_suffix(f".ld{os.getpid()}")
            part.write_text(LINK_SCRIPT)
            part.rename(script)
        obj = stem.with_suffix(f".o{os.getpid()}")
        tmp = stem.with_suffix(f".tmp{os.getpid()}")
        for cmd in ([AS, "-o", str(obj), str(asm)],
                    [LD, "-T", str(script), "-o", str(tmp), str(obj)]):
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr}")
        obj.unlink()
        tmp.rename(elf)
    prog.elf = elf
    prog.symbols = _symbols(elf)
    if not TEXT_BASE <= prog.symbols.get("regs_start", 0) < TEXT_BASE + 0x800000:
        raise AssertionError(f"{elf}: not linked into the firmware region")
    for lo, hi, lines in ((prog.regs_start, prog.body_start, prog.setup),
                          (prog.body_start, prog.body_end, prog.body)):
        if hi - lo != 4 * len(lines):
            raise AssertionError(f"{hi - lo} bytes for {len(lines)} lines: a line "
                                 "assembled to more or less than one instruction")
    return elf


def _symbols(elf: Path) -> dict[str, int]:
    from elftools.elf.elffile import ELFFile

    out: dict[str, int] = {}
    with elf.open("rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        for sym in symtab.iter_symbols():
            if sym.name in ("body_start", "body_end", "regs_start", "scratch_init", "fp_init",
                            "_start"):
                out[sym.name] = sym["st_value"]
    return out

