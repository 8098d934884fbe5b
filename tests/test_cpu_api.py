"""The Python face of the core: register table, memory access, run budget, breakpoints,
exits, snapshots.  Small programs are assembled with hppa-linux-gnu-as and written
straight into RAM."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from hvdbg.cpu import registers as R

AS = "hppa-linux-gnu-as"
OBJCOPY = "hppa-linux-gnu-objcopy"


def assemble(src: str) -> bytes:
    """Raw .text bytes of a position-independent snippet (local labels only)."""
    import guestbuild
    guestbuild.need_tool(AS)
    guestbuild.need_tool(OBJCOPY)
    with tempfile.TemporaryDirectory() as d:
        s, o, b = Path(d, "x.s"), Path(d, "x.o"), Path(d, "x.bin")
        s.write_text(src + "\n")
        r = subprocess.run([AS, "-o", str(o), str(s)], check=False, capture_output=True,
                           text=True)
        if r.returncode:
            raise RuntimeError(f"{AS} failed:\n{r.stderr}")
        subprocess.run([OBJCOPY, "-O", "binary", "-j", ".text", str(o), str(b)], check=True)
        return b.read_bytes()


def fake_state() -> SimpleNamespace:
    return SimpleNamespace(gr=[0] * 32, sr=[0] * 8, cr=[0] * 32, iiasq_back=0, iiaoq_back=0,
                           shadow=[0] * 7, psw=0, iaoq_f=0, iaoq_b=0, iasq_f=0, iasq_b=0,
                           fr=[0] * 32, timer_cmp=0)


# ---------------------------------------------------------------- register table

GDB_MD = {  # gdb.md: number -> (name, field)
    0: ("flags", "psw"), 1: ("r1", "gr[1]"), 2: ("rp", "gr[2]"), 27: ("dp", "gr[27]"),
    28: ("ret0", "gr[28]"), 29: ("ret1", "gr[29]"), 30: ("sp", "gr[30]"), 31: ("r31", "gr[31]"),
    32: ("sar", "cr[11]"), 33: ("pcoqh", "iaoq_f"), 34: ("pcsqh", "iasq_f"),
    35: ("pcoqt", "iaoq_b"), 36: ("pcsqt", "iasq_b"), 37: ("eiem", "cr[15]"),
    38: ("iir", "cr[19]"), 39: ("isr", "cr[20]"), 40: ("ior", "cr[21]"), 41: ("ipsw", "cr[22]"),
    42: ("goto", "0"), 43: ("sr4", "sr[4]"), 44: ("sr0", "sr[0]"), 47: ("sr3", "sr[3]"),
    48: ("sr5", "sr[5]"), 50: ("sr7", "sr[7]"), 51: ("cr0", "cr[0]"), 52: ("cr8", "cr[8]"),
    53: ("cr9", "cr[9]"), 54: ("ccr", "cr[10]"), 55: ("cr12", "cr[12]"), 56: ("cr13", "cr[13]"),
    57: ("cr24", "cr[24]"), 59: ("cr26", "cr[26]"), 60: ("mpsfu_high", "cr[27]"),
    63: ("pad", "cr[30]"), 64: ("fpsr", "fr[0].hi"), 65: ("fpe1", "fr[0].lo"),
    66: ("fpe2", "fr[1].hi"), 71: ("fpe7", "fr[3].lo"), 72: ("fr4", "fr[4].hi"),
    73: ("fr4R", "fr[4].lo"), 126: ("fr31", "fr[31].hi"), 127: ("fr31R", "fr[31].lo"),
}


@pytest.mark.parametrize("num", sorted(GDB_MD))
def test_gdb_numbering_matches_design(num: int) -> None:
    name, field = GDB_MD[num]
    reg = R.lookup(num)
    assert (reg.num, reg.name, str(reg.field)) == (num, name, field)
    assert R.lookup(name) is reg


def test_register_names_match_gdb_multiarch() -> None:
    gdb = shutil.which("gdb-multiarch")
    if gdb is None:
        pytest.skip("gdb-multiarch not installed")
    out = subprocess.run([gdb, "-batch", "-nx", "-ex", "set architecture hppa1.0",
                          "-ex", "maint print registers"],
                         check=False, capture_output=True, text=True, timeout=60).stdout
    names = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and f[1].isdigit() and f[0] != "Name":
            names[int(f[1])] = f[0]
    assert [names[i] for i in range(128)] == [r.name for r in R.GDB_REGISTERS]


def test_aliases_and_lookup() -> None:
    assert R.lookup("r2") is R.lookup("rp") is R.lookup(2) is R.lookup("%RP")
    assert R.lookup("r30") is R.lookup("sp")
    assert R.lookup("psw") is R.lookup(0)
    assert R.lookup("cr11") is R.lookup("sar")
    assert R.lookup("eirr").num is None and str(R.lookup("eirr").field) == "cr[23]"
    assert str(R.lookup("iva").field) == "cr[14]"
    for bad in ("r32", "fr3", "", 128, -1):
        with pytest.raises(KeyError):
            R.lookup(bad)


def test_fp_halves_are_independent() -> None:
    s = fake_state()
    R.write_reg(s, "fr5", 0x3FF00000)
    R.write_reg(s, "fr5R", 0x00000001)
    assert s.fr[5] == 0x3FF00000_00000001
    R.write_reg(s, 74, 0xFFFFFFFF)            # fr5 high again, by number
    assert s.fr[5] == 0xFFFFFFFF_00000001
    assert R.read_reg(s, 75) == 1


def test_constant_slots_ignore_writes() -> None:
    s = fake_state()
    R.write_reg(s, "goto", 5)
    R.write_reg(s, "r0", 5)
    assert R.read_reg(s, 42) == 0 and R.read_reg(s, "r0") == 0 and s.gr[0] == 0


def test_set_all_regs_roundtrip_fake() -> None:
    s = fake_state()
    vals = [(0x01010101 * (i + 1)) & 0xFFFFFFFF for i in range(128)]
    vals[42] = 0
    R.set_all_regs(s, vals)
    assert R.all_regs(s) == vals
    with pytest.raises(ValueError):
        R.set_all_regs(s, vals[:-1])


# ---------------------------------------------------------------- the core

core_mod = pytest.importorskip("hvdbg.cpu.core")
Core, ExitReason = core_mod.Core, core_mod.ExitReason
MemoryAccessError = core_mod.MemoryAccessError

RAM = 1 << 20
PROG = 0x1000


@pytest.fixture
def core():  # type: ignore[no-untyped-def]
    c = Core(RAM)
    yield c
    c.close()


def load(core, src: str, at: int = PROG) -> int:  # type: ignore[no-untyped-def]
    code = assemble(src)
    core.write_phys(at, code)
    core.set_pc(at)
    return len(code)


def test_registers_roundtrip_through_core_state(core) -> None:  # type: ignore[no-untyped-def]
    vals = [(0x9E3779B9 * (i + 1)) & 0xFFFFFFFF for i in range(128)]
    vals[42] = 0
    R.set_all_regs(core.state, vals)
    assert core.regs.gdb() == vals
    # every gdb register landed in the hv_cpu_state_t field the table names
    s = core.state
    assert s.psw == vals[0] and s.gr[30] == vals[30] and s.cr[11] == vals[32]
    assert (s.iaoq_f, s.iasq_f, s.iaoq_b, s.iasq_b) == tuple(vals[33:37])
    assert s.sr[4] == vals[43] and s.sr[0] == vals[44] and s.sr[5] == vals[48]
    assert s.cr[10] == vals[54] and s.cr[27] == vals[60]
    assert s.fr[0] == vals[64] << 32 | vals[65] and s.fr[31] == vals[126] << 32 | vals[127]
    # and the non-gdb ones
    for i, reg in enumerate(r for r in R.REGISTERS if r.num is None and r.writable):
        core.regs[reg.name] = 0x1000 + i
        assert core.regs[reg.name] == 0x1000 + i
    assert core.regs["eirr"] == s.cr[23]
    # gr0 stays 0 even through the state
    assert core.regs["r0"] == 0


def test_core_rejects_bad_ram_sizes() -> None:
    for n in (0, (3 << 30) + 1):
        with pytest.raises(ValueError):
            Core(n)


def test_phys_read_write_bounds(core) -> None:  # type: ignore[no-untyped-def]
    core.write_phys(RAM - 4, b"\x01\x02\x03\x04")
    assert core.read_phys(RAM - 4, 4) == b"\x01\x02\x03\x04"
    with pytest.raises(MemoryAccessError):
        core.write_phys(RAM - 2, b"\xff\xff\xff\xff")          # crosses the end of RAM
    assert core.read_phys(RAM - 4, 4) == b"\x01\x02\x03\x04"  # all or nothing
    with pytest.raises(MemoryAccessError):
        core.read_phys(RAM, 1)
    fw_end = 0xF0800000
    core.write_phys(fw_end - 4, b"abcd")
    assert core.read_phys(fw_end - 4, 4) == b"abcd"
    for pa, n in ((fw_end - 2, 4), (0xFFD05800, 1), (0xEFFFFFFF, 2), (0xFFFFFFFF, 2)):
        with pytest.raises(MemoryAccessError):
            core.read_phys(pa, n)
    with pytest.raises(ValueError):
        core.read_phys(1 << 32, 1)
    assert core.read_phys(0, 0) == b""


def test_dirty_pages(core) -> None:  # type: ignore[no-untyped-def]
    core.dirty_take()
    core.write_phys(0x3000, b"x")
    core.write_phys(0xF0001000, b"y")
    assert core.dirty_take() == [3, RAM // 4096 + 1]
    assert core.dirty_take() == []


LOOP = """
loop:   ldo 1(%r3),%r3
        b loop
        nop
"""


def test_run_budget_is_exact(core) -> None:  # type: ignore[no-untyped-def]
    load(core, LOOP)
    ex = core.run(0)
    assert ex.reason is ExitReason.BUDGET and core.icount == 0
    for n in (1, 2, 3, 1000, 12345):
        before, r3 = core.icount, core.regs["r3"]
        ex = core.run(n)
        assert ex.reason is ExitReason.BUDGET
        assert core.icount - before == n == ex.icount - before
    # 3 instructions per iteration (ldo, b, delay slot): ldo ran ceil(total / 3) times
    assert core.regs["r3"] == (core.icount + 2) // 3
    assert r3 < core.regs["r3"]


def test_breakpoint_stops_before_and_skip_bp_continues(core) -> None:  # type: ignore[no-untyped-def]
    load(core, LOOP)
    core.add_breakpoint(PROG + 4)              # the branch
    ex = core.run(100)
    assert ex.reason is ExitReason.BREAKPOINT
    assert ex.pc & ~3 == PROG + 4 and ex.addr == PROG + 4
    assert core.icount == 1 and core.regs["r3"] == 1    # ldo done, branch not
    assert core.run(100).icount == 1                    # stays put without skip_bp
    ex = core.run(100, skip_bp=True)                    # one whole iteration, then again
    assert ex.reason is ExitReason.BREAKPOINT and core.icount == 4
    core.remove_breakpoint(PROG + 4)
    with pytest.raises(KeyError):
        core.remove_breakpoint(PROG + 4)
    assert core.run(10).reason is ExitReason.BUDGET


IO = """
        ldil L%0xffd05800,%r4
        ldo R%0xffd05800(%r4),%r4
        ldi 0x41,%r5
        stb %r5,0(%r4)
        ldw 4(%r4),%r6
        nop
"""


def test_io_exits_and_completion(core) -> None:  # type: ignore[no-untyped-def]
    load(core, IO)
    ex = core.run(100)
    assert (ex.reason, ex.addr, ex.size, ex.value) == (ExitReason.IO_WRITE, 0xFFD05800, 1, 0x41)
    assert ex.pc & ~3 == PROG + 12 and core.icount == 3     # the store has not retired
    core.io_complete(0)
    ex = core.run(100)
    assert (ex.reason, ex.addr, ex.size) == (ExitReason.IO_READ, 0xFFD05804, 4)
    assert core.icount == 4
    core.io_complete(0xCAFEF00D)
    ex = core.run(1)
    assert ex.reason is ExitReason.BUDGET and core.regs["r6"] == 0xCAFEF00D
    assert core.icount == 5


def test_fetch_outside_memory_is_a_fault(core) -> None:  # type: ignore[no-untyped-def]
    core.set_pc(0xFFD00000)
    ex = core.run(10)
    assert ex.reason is ExitReason.FAULT and "fetch" in ex.msg and core.icount == 0


def test_snapshot_restore(core) -> None:  # type: ignore[no-untyped-def]
    load(core, LOOP)
    core.run(7)
    snap = core.snapshot()
    regs = core.regs.gdb()
    core.run(50)
    assert core.regs.gdb() != regs
    core.restore(snap)
    assert core.regs.gdb() == regs and core.icount == 7
    core.run(50)
    assert core.icount == 57
    with pytest.raises(ValueError):
        core.restore(b"\0" * len(snap))
    with pytest.raises(ValueError):
        core.restore(snap[:-1])


def test_translate_physical_mode(core) -> None:  # type: ignore[no-untyped-def]
    assert core.translate(0, 0x1234) == 0x1234
    assert core.translate(0, 0xF0000010, is_code=True) == 0xF0000010


def test_set_eirr_and_request_stop(core) -> None:  # type: ignore[no-untyped-def]
    load(core, LOOP)
    core.set_eirr(1 << 28)
    assert core.regs["eirr"] == 1 << 28               # PSW.I is off: nothing taken
    core.run(10)
    assert core.regs["eirr"] == 1 << 28 and core.icount == 10
    core.request_stop()
    ex = core.run(1000)
    assert ex.reason is ExitReason.STOP and core.icount == 10


WATCH = """
        ldi 0x55,%r3
        ldil L%0x2000,%r4
        stw %r3,8(%r4)
        ldw 8(%r4),%r5
        nop
"""


def test_watchpoints(core) -> None:  # type: ignore[no-untyped-def]
    load(core, WATCH)
    core.add_watchpoint(0x2008, 4, core_mod.WATCH_WRITE)
    ex = core.run(100)
    assert ex.reason is ExitReason.WATCHPOINT and ex.addr == 0x2008
    assert ex.size == core_mod.WATCH_WRITE
    assert core.icount == 3 and core.read_u32(0x2008) == 0x55   # the store completed
    assert core.run(2).reason is ExitReason.BUDGET               # reads are not watched
    assert core.regs["r5"] == 0x55
    core.remove_watchpoint(0x2008, 4, core_mod.WATCH_WRITE)
    with pytest.raises(KeyError):
        core.remove_watchpoint(0x2008, 4, core_mod.WATCH_WRITE)
    with pytest.raises(core_mod.CoreError):
        core.add_watchpoint(0x2008, 0)
