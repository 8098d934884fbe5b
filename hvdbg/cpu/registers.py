"""The one register-name table of hvdbg (gdbstub, REPL and diff all use it).

Numbering follows gdb's hppa32 layout (``/work/shared/design/gdb.md``): 128 registers of
32 bits, gdb numbers 0..127.  Registers gdb does not number (r0, IVA, EIRR, the interval
timer, the back of the interruption queues, shadow registers, ...) are in the table too,
with ``num = None``, so that every architected value has exactly one name.

Each register names the field of ``hv_cpu_state_t`` that holds it (``field``), which is
all the code needs: the table is data, and :func:`read_reg` / :func:`write_reg` work on
anything shaped like the C struct (the cffi cdata, or a plain object in tests).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

NUM_GDB_REGS = 128
MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Field:
    """Where a register lives in ``hv_cpu_state_t``.

    ``array``/``index`` select ``state.<array>[index]`` (``index`` None: a scalar
    field).  ``half`` is "hi"/"lo" for a 32-bit half of a 64-bit ``fr[]`` entry.
    ``array == ""`` is a constant-zero slot (gdb's "goto", r0).
    """

    array: str
    index: int | None = None
    half: str | None = None

    def __str__(self) -> str:
        if not self.array:
            return "0"
        s = self.array if self.index is None else f"{self.array}[{self.index}]"
        return f"{s}.{self.half}" if self.half else s


@dataclass(frozen=True)
class Register:
    num: int | None          # gdb register number, None when gdb has no slot for it
    name: str                # canonical name (gdb's where gdb has one)
    field: Field
    aliases: tuple[str, ...] = ()
    writable: bool = True    # False for constant slots (r0, goto)

    def get(self, state: Any) -> int:
        f = self.field
        if not f.array:
            return 0
        v = getattr(state, f.array)
        if f.index is not None:
            v = v[f.index]
        if f.half == "hi":
            return (int(v) >> 32) & MASK32
        return int(v) & MASK32

    def set(self, state: Any, value: int) -> None:
        f = self.field
        if not self.writable or not f.array:
            return
        value = int(value) & MASK32
        if f.index is None:
            setattr(state, f.array, value)
            return
        arr = getattr(state, f.array)
        if f.half == "hi":
            arr[f.index] = (int(arr[f.index]) & MASK32) | (value << 32)
        elif f.half == "lo":
            arr[f.index] = (int(arr[f.index]) & (MASK32 << 32)) | value
        else:
            arr[f.index] = value


def _build() -> tuple[Register, ...]:
    regs: list[Register] = []

    def add(num: int | None, name: str, field: Field, *aliases: str,
            writable: bool = True) -> None:
        regs.append(Register(num, name, field, tuple(aliases), writable))

    # 0: gdb calls the slot "flags"; QEMU (and hvdbg) send the PSW there
    add(0, "flags", Field("psw"), "psw")
    special = {2: "rp", 27: "dp", 28: "ret0", 29: "ret1", 30: "sp"}
    for r in range(1, 32):
        name = special.get(r, f"r{r}")
        aliases = (f"r{r}", f"gr{r}") if r in special else (f"gr{r}",)
        add(r, name, Field("gr", r), *aliases)
    add(32, "sar", Field("cr", 11), "cr11")
    add(33, "pcoqh", Field("iaoq_f"), "iaoq_f", "pc")      # $pc, as gdb says it
    add(34, "pcsqh", Field("iasq_f"), "iasq_f")
    add(35, "pcoqt", Field("iaoq_b"), "iaoq_b")
    add(36, "pcsqt", Field("iasq_b"), "iasq_b")
    add(37, "eiem", Field("cr", 15), "cr15")
    add(38, "iir", Field("cr", 19), "cr19")
    add(39, "isr", Field("cr", 20), "cr20")
    add(40, "ior", Field("cr", 21), "cr21")
    add(41, "ipsw", Field("cr", 22), "cr22")
    add(42, "goto", Field(""), writable=False)
    add(43, "sr4", Field("sr", 4))
    for n, s in enumerate((0, 1, 2, 3, 5, 6, 7)):
        add(44 + n, f"sr{s}", Field("sr", s))
    add(51, "cr0", Field("cr", 0), "rctr")
    add(52, "cr8", Field("cr", 8), "pid1")
    add(53, "cr9", Field("cr", 9), "pid2")
    add(54, "ccr", Field("cr", 10), "cr10")
    add(55, "cr12", Field("cr", 12), "pid3")
    add(56, "cr13", Field("cr", 13), "pid4")
    for n, c in enumerate((24, 25, 26)):
        add(57 + n, f"cr{c}", Field("cr", c))
    # 60..63: gdb's names; QEMU sends cr27..cr30 in these slots, and so do we
    for n, (name, c) in enumerate((("mpsfu_high", 27), ("mpsfu_low", 28),
                                   ("mpsfu_ovflo", 29), ("pad", 30))):
        add(60 + n, name, Field("cr", c), f"cr{c}")
    # 64..127: the 32-bit halves of fr0..fr31, high half first
    add(64, "fpsr", Field("fr", 0, "hi"))
    for k in range(1, 8):
        add(64 + k, f"fpe{k}", Field("fr", k // 2, "hi" if k % 2 == 0 else "lo"))
    for f in range(4, 32):
        add(64 + 2 * f, f"fr{f}", Field("fr", f, "hi"), f"fr{f}l")
        add(65 + 2 * f, f"fr{f}R", Field("fr", f, "lo"))

    # ---- architected state gdb has no number for ----
    add(None, "r0", Field(""), "gr0", writable=False)
    add(None, "iva", Field("cr", 14), "cr14")
    add(None, "cr16", Field("cr", 16), "itmr")
    add(None, "iiasq", Field("cr", 17), "cr17")
    add(None, "iioaq", Field("cr", 18), "cr18", "iiaoq")
    add(None, "eirr", Field("cr", 23), "cr23")
    add(None, "cr31", Field("cr", 31))
    for c in (1, 2, 3, 4, 5, 6, 7):      # reserved control registers (held, unused)
        add(None, f"cr{c}", Field("cr", c))
    add(None, "iiasq_back", Field("iiasq_back"))
    add(None, "iiaoq_back", Field("iiaoq_back"))
    for k, g in enumerate((1, 8, 9, 16, 17, 24, 25)):
        add(None, f"shr{k}", Field("shadow", k), f"shadow_gr{g}")
    add(None, "timer_cmp", Field("timer_cmp"))
    return tuple(regs)


REGISTERS: tuple[Register, ...] = _build()
GDB_REGISTERS: tuple[Register, ...] = tuple(
    sorted((r for r in REGISTERS if r.num is not None), key=lambda r: r.num or 0))

_BY_NAME: dict[str, Register] = {}
for _r in REGISTERS:
    for _n in (_r.name, *_r.aliases):
        if _n.lower() in _BY_NAME:
            raise AssertionError(f"duplicate register name {_n}")
        _BY_NAME[_n.lower()] = _r
assert [r.num for r in GDB_REGISTERS] == list(range(NUM_GDB_REGS))


def lookup(name_or_num: str | int) -> Register:
    """The register called ``name_or_num`` (any alias, case-insensitive, optional
    leading ``%``) or with that gdb number.  KeyError when there is none."""
    if isinstance(name_or_num, int):
        if 0 <= name_or_num < NUM_GDB_REGS:
            return GDB_REGISTERS[name_or_num]
        raise KeyError(f"no gdb register number {name_or_num}")
    key = name_or_num.strip().lower().lstrip("%")
    try:
        return _BY_NAME[key]
    except KeyError:
        raise KeyError(f"unknown register {name_or_num!r}") from None


def names() -> Iterable[str]:
    """Every accepted register name (canonical names and aliases)."""
    return _BY_NAME.keys()


def read_reg(state: Any, name_or_num: str | int) -> int:
    return lookup(name_or_num).get(state)


def write_reg(state: Any, name_or_num: str | int, value: int) -> None:
    """Write a register; writes to constant slots (r0, goto) are ignored, as gdb's
    ``G`` packet needs."""
    lookup(name_or_num).set(state, value)


def all_regs(state: Any) -> list[int]:
    """The 128 gdb registers, in gdb order (the ``g`` packet)."""
    return [r.get(state) for r in GDB_REGISTERS]


def set_all_regs(state: Any, values: Iterable[int]) -> None:
    """Write the gdb registers in order (the ``G`` packet)."""
    vals = list(values)
    if len(vals) != NUM_GDB_REGS:
        raise ValueError(f"expected {NUM_GDB_REGS} register values, got {len(vals)}")
    for r, v in zip(GDB_REGISTERS, vals, strict=True):
        r.set(state, v)
