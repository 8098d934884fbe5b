"""Device models at the edges (issue 14): a guest that makes a device store into itself,
unmodelled I/O all over the address space, device writes beyond RAM.  The host process
must survive every guest, with QEMU's behaviour as the oracle where QEMU has one."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import guestbuild as gb
import pytest

from hvdbg.machine import environment as envmod
from hvdbg.machine import memmap as mm
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import Machine


def hvdbg(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hvdbg", *args], check=False,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def reentrant() -> tuple[Path, bytes]:
    elf = gb.build(gb.guest("reentrant_io"))
    return elf, gb.run_qemu(elf)


def test_reentrant_guest_under_run_record_replay_and_pair(reentrant: tuple[Path, bytes],
                                                          tmp_path: Path) -> None:
    """LASI's interrupt word aimed at the UART's THR: QEMU blocks the re-entrant store
    and prints everything; so must ``run``, ``run --record`` (and its replay) and
    ``pair`` (they died with RecursionError and lost the console)."""
    elf, want = reentrant
    assert b"reentrant_io: done" in want and b"RAM word after a UART interrupt: 00000007" in want
    r = hvdbg("-v", "run", "--bios", str(elf), "--max-insns", "20000000")
    assert (r.returncode, r.stdout) == (0, want), r.stderr.decode()[-2000:]
    assert r.stderr.decode().count("blocked re-entrant I/O") == 1
    assert "Traceback" not in r.stderr.decode()
    r = hvdbg("run", "--bios", str(elf), "--max-insns", "20000000",
              "--record", str(tmp_path / "rec"))
    assert (r.returncode, r.stdout) == (0, want), r.stderr.decode()[-2000:]
    r = hvdbg("replay", str(tmp_path / "rec"))
    assert (r.returncode, r.stdout) == (0, want), r.stderr.decode()[-2000:]
    r = hvdbg("pair", "--bios", str(elf), "--max-insns", "20000000")
    assert (r.returncode, r.stdout) == (0, want), r.stderr.decode()[-2000:]


def test_reentrant_access_is_blocked_and_warned_once(caplog: pytest.LogCaptureFixture
                                                     ) -> None:
    env = Environment()
    out = bytearray()
    env.console = out.extend
    env.io_write(mm.LASI_HPA + mm.LASI_IAR, 4, mm.LASI_UART + 10)   # store value 10 to THR
    env.io_write(mm.LASI_HPA + mm.LASI_IMR, 4, 1 << mm.LASI_IRQ_UART)
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        env.io_write(mm.LASI_UART + 1, 1, 0x02)          # IER: THRI raises the interrupt
        for b in b"ok":
            env.io_write(mm.LASI_UART, 1, b)
    env.flush_console()
    assert bytes(out) == b"ok"                           # the re-entrant stores were dropped
    blocked = [r for r in caplog.records if "re-entrant" in r.getMessage()]
    assert len(blocked) == 1
    # a device whose access finished is not busy any more
    assert env.io_read(mm.LASI_UART + 1, 1) == 0x02
    assert env._busy == set()


def test_device_read_reentering_itself_reads_zero() -> None:
    """A device that reads itself while busy (through a device-initiated access) gets 0
    and the outer access completes."""
    env = Environment()
    seen = []

    class Probe:
        def decodes(self, offset: int, size: int) -> bool:
            return True

        def read(self, offset: int, size: int) -> int:
            seen.append(env.io_read(mm.CPU_HPA, 4))      # re-enters itself
            return 0x55

        def write(self, offset: int, size: int, value: int) -> None:
            pass

    env.regions.insert(0, (mm.CPU_HPA, 4, "probe", Probe()))  # type: ignore[arg-type]
    assert env.io_read(mm.CPU_HPA, 4) == 0x55
    assert seen == [0]


def test_unmodelled_io_log_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    """Every distinct unassigned address used to stay in the logged-once set forever."""
    env = Environment()
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        for i in range(20 * envmod.LOGGED_ADDRESSES):
            env.io_read(0x80000000 + 4 * i, 4)
            env.io_write(0x80000000 + 4 * i, 4, i)
    assert len(env._logged) <= envmod.LOGGED_ADDRESSES
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == envmod.LOGGED_ADDRESSES + 1
    assert "no more are reported" in msgs[-1]
    # the addresses reported first are still reported once only
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        env.io_read(0x80000000, 4)
    assert caplog.records == []


def test_device_store_beyond_ram_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """LASI's interrupt word aimed past the end of RAM: nothing is written, the log says
    where, the host carries on; the last word of RAM is still RAM."""
    m = Machine(ram_mib=1)
    env = m.env
    ram = m.core.ram_size
    env.io_write(mm.LASI_HPA + mm.LASI_IMR, 4, 1 << mm.LASI_IRQ_UART)
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        for iar in (ram + 5, ram - 32 + 31, 0xFFFFFFE0 | 3):
            env.io_write(mm.LASI_HPA + mm.LASI_IAR, 4, iar)
            env.io_write(mm.LASI_UART + 1, 1, 0)
            env.io_write(mm.LASI_UART + 1, 1, 0x02)
    assert any(f"{ram:#010x}" in r.getMessage() for r in caplog.records)
    assert m.core.read_phys(ram - 32, 32) == (31).to_bytes(4, "big") + bytes(28)


def test_console_input_the_guest_never_reads_is_bounded(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    """``hvdbg run < /dev/zero`` with a guest that never reads its console: host input
    waiting for the UART stays bounded (the rest is dropped, with one warning), and
    what is kept still reaches the guest in order."""
    env = Environment()
    chunk = bytes(range(256)) * 16
    with caplog.at_level(logging.WARNING, logger="hvdbg.machine"):
        for _ in range(3 * envmod.INPUT_LIMIT // len(chunk)):
            env.push_input(chunk)
            env.service()                                # the UART takes 1 byte at a time
    assert env._queued + len(env._held_input) <= envmod.INPUT_LIMIT
    assert len([r for r in caplog.records if "not reading" in r.getMessage()]) == 1
    got = bytearray()
    for _ in range(1000):                                # the guest reads at last
        got.append(env.io_read(mm.LASI_UART, 1))
        env.service()
    assert bytes(got) == (chunk * 2)[:1000]
