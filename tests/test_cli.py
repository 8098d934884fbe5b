"""``hvdbg run`` end to end, as a user runs it (``python -m hvdbg run ...``)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import guestbuild as gb
import pytest
from test_machine import make_elf

from hvdbg.cpu.disasm import disassemble

SPIN = 0xE81F1FF7                 # b,n .   (verified with hppa-linux-gnu-objdump)
NOP = 0x08000240


def hvdbg(*args: str, stdin: bytes | None = None, timeout: float = 60
          ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hvdbg", *args], check=False,
                          capture_output=True,
                          timeout=timeout, input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


@pytest.fixture
def spin_elf(tmp_path: Path) -> Path:
    f = tmp_path / "spin.elf"
    f.write_bytes(make_elf(b"".join(w.to_bytes(4, "big") for w in (NOP, SPIN, NOP)),
                           paddr=0xF0000200))
    return f


def test_hello_matches_qemu() -> None:
    elf = gb.build(gb.guest("hello"))
    want = gb.run_qemu(elf)
    assert want.startswith(b"hello from PA-RISC")
    r = gb.run_hvdbg(elf, "--max-insns", "10000000")
    assert r.stdout == want
    assert r.stderr == b""


def test_max_insns_on_spinning_guest(spin_elf: Path) -> None:
    r = hvdbg("run", "--bios", str(spin_elf), "--max-insns", "100000")
    assert r.returncode == 3
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert "instruction limit" in line and "100000 instructions" in line
    # the loop is the branch and its nullified delay slot; 100000 is even, and the
    # branch retires at odd counts (the first nop is number 1)
    assert "pc=0xf0000208" in line and "nullified" in line
    assert disassemble(NOP, 0xF0000208) in line
    r = hvdbg("run", "--bios", str(spin_elf), "--max-insns", "100001")
    assert r.returncode == 3
    line = r.stderr.decode().strip()
    assert "pc=0xf0000204" in line and disassemble(SPIN, 0xF0000204) in line
    assert "nullified" not in line
    assert r.stdout == b""


def test_timeout_on_spinning_guest(spin_elf: Path) -> None:
    r = hvdbg("run", "--bios", str(spin_elf), "--timeout", "0.3")
    assert r.returncode == 3
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "timeout" in lines[0]
    assert "pc=0xf0000204" in lines[0] or "pc=0xf0000208" in lines[0]


def test_stats_prints_mips(spin_elf: Path) -> None:
    r = hvdbg("run", "--bios", str(spin_elf), "--max-insns", "2000000", "--stats")
    assert r.returncode == 3
    err = r.stderr.decode()
    assert "2000000 instructions retired" in err and "MIPS" in err


@pytest.mark.parametrize("content", [b"garbage, not an ELF", None, b"\x7fELF\x01\x02"])
def test_bad_elf_exits_2_without_traceback(tmp_path: Path, content: bytes | None) -> None:
    f = tmp_path / "bad.elf"
    if content is None:
        f = Path("/bin/true")             # an x86 ELF
    else:
        f.write_bytes(content)
    r = hvdbg("run", "--bios", str(f))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and str(f) in err


def test_missing_file_and_bad_options(tmp_path: Path, spin_elf: Path) -> None:
    r = hvdbg("run", "--bios", str(tmp_path / "none.elf"))
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    r = hvdbg("run", "--bios", str(spin_elf), "-m", "4096")
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    r = hvdbg("run", "--initrd", str(spin_elf))          # an initrd needs a kernel
    assert r.returncode == 2 and b"--kernel" in r.stderr
    r = hvdbg("run", "--kernel", str(tmp_path / "none"))
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    r = hvdbg("run", "--kernel", str(spin_elf), "--initrd", str(tmp_path / "none"))
    assert r.returncode == 2 and b"Traceback" not in r.stderr


def test_fault_exits_4(tmp_path: Path) -> None:
    from test_cpu_api import assemble
    code = assemble("ldil L%0xffd00000,%r1\n bv,n %r0(%r1)\n nop")
    f = tmp_path / "fault.elf"
    f.write_bytes(make_elf(code))
    r = hvdbg("run", "--bios", str(f), "--max-insns", "1000")
    assert r.returncode == 4
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "fetch" in lines[0] and "pc=0xffd00000" in lines[0]


ECHO = """
        ldil L%0xffd05800,%r4
        ldo R%0xffd05800(%r4),%r4
wait:   ldb 5(%r4),%r5              ; LSR
        extru,<> %r5,31,1,%r0       ; DR set: skip the branch
        b,n wait
        ldb 0(%r4),%r6              ; RBR
        ldi 0x71,%r7
        comb,= %r7,%r6,off          ; 'q' powers off
        nop
        ldo 1(%r6),%r6              ; echo the next character up
        stb %r6,0(%r4)
        b,n wait
off:    ldil L%0xffd0c000,%r1
        ldi 2,%r2
        stw %r2,0(%r1)
"""


def test_console_input_reaches_the_guest(tmp_path: Path) -> None:
    from test_cpu_api import assemble
    f = tmp_path / "echo.elf"
    f.write_bytes(make_elf(assemble(ECHO)))
    r = hvdbg("run", "--bios", str(f), "--timeout", "20", stdin=b"HAL9q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"IBM:"


def test_console_escape_filter() -> None:
    from hvdbg.cli.console import EscapeFilter
    quits: list[bool] = []
    echoed: list[bytes] = []
    f = EscapeFilter(lambda: quits.append(True), echoed.append)
    assert f(b"ab\x03c") == b"ab\x03c"              # Ctrl-C goes to the guest
    assert f(b"\x01\x01z\x01") == b"\x01z" and not quits
    assert f(b"qd") == b"d"                         # unknown escape: dropped
    assert f(b"\x01h") == b"" and b"exit" in echoed[0]
    assert f(b"\x01xrest") == b"" and quits == [True]


def test_ctrl_a_x_on_a_terminal_quits(spin_elf: Path) -> None:
    import os
    import pty
    import select
    import time
    pid, fd = pty.fork()
    if pid == 0:                                    # child: hvdbg on the pty
        os.execv(sys.executable, [sys.executable, "-m", "hvdbg", "run", "--bios",
                                  str(spin_elf), "--timeout", "30"])
    out = b""
    wpid = status = 0
    try:
        time.sleep(1.0)
        os.write(fd, b"\x03\x01x")                  # Ctrl-C is the guest's; Ctrl-A x quits
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 1024)
                except OSError:
                    break
                if not data:
                    break
                out += data
            wpid, status = os.waitpid(pid, os.WNOHANG)
            if wpid:
                break
        else:
            os.kill(pid, 9)
            pytest.fail(f"hvdbg did not quit on Ctrl-A x: {out!r}")
        if not wpid:
            _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert b"terminated" in out
