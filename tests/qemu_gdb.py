"""A minimal GDB remote-serial-protocol client for driving QEMU's gdbstub from tests.

Only what the differential tests need: ``?``, ``g``, ``p``, ``m``, ``s``, ``c``,
``Z0``/``z0``, ``k``, plus ``QStartNoAckMode`` where offered (it would halve the round
trips; QEMU 7.2 answers it empty, so the client stays in ack mode).  Not gdb
itself: a step + ``g`` costs one socket round trip each, about 50 µs, where gdb/MI
would cost milliseconds.

The ``g`` reply of QEMU 7.2's hppa stub (``target/hppa/gdbstub.c``) is 128 big-endian
32-bit registers in gdb's hppa32 order (``/work/shared/design/gdb.md``): 0 = PSW (with
N, V and the C/B nibble carries folded in), 1..31 = GRs, 32 = SAR, 33..36 =
IAOQ/IASQ front and back (spaces as 32-bit values), 37..63 control and space registers,
and 64..127 = the two 32-bit halves of fr0..fr31, high half first (so 64 is the FP
status register).  The FP registers are part of ``g``.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from hvdbg.gdbstub.rsp import Connection, RspError

NUM_REGS = 128
QEMU = "qemu-system-hppa"


class GdbProtocolError(RspError):
    """The stub answered something we did not expect (or nothing at all)."""


class GdbClient:
    """Talks RSP to a stub over a connected socket, with hvdbg's codec
    (``hvdbg.gdbstub.rsp``)."""

    def __init__(self, sock: socket.socket, timeout: float = 10.0) -> None:
        self.sock = sock
        self.conn = Connection(sock, timeout=timeout)

    @property
    def ack(self) -> bool:
        return self.conn.ack_mode

    def command(self, payload: str | bytes) -> str:
        """Send one packet and return the reply's payload."""
        if isinstance(payload, str):
            payload = payload.encode()
        try:
            return self.conn.request(payload).decode("latin-1")
        except GdbProtocolError:
            raise
        except RspError as e:
            raise GdbProtocolError(f"{payload[:60]!r}: {e}") from None

    # ---- requests ----
    def start_no_ack(self) -> None:
        if self.command("QStartNoAckMode") == "OK":
            self.conn.ack_mode = False

    def halt_reason(self) -> str:
        return self.command("?")

    def read_registers(self) -> list[int]:
        reply = self.command("g")
        if reply.startswith("E") or len(reply) < NUM_REGS * 8:
            raise GdbProtocolError(f"unexpected g reply {reply[:40]!r} ({len(reply)} chars)")
        return [int(reply[i * 8:i * 8 + 8], 16) for i in range(NUM_REGS)]

    def read_register(self, num: int) -> int:
        reply = self.command(f"p{num:x}")
        if len(reply) != 8:
            raise GdbProtocolError(f"unexpected p reply {reply!r}")
        return int(reply, 16)

    def read_memory(self, addr: int, length: int, chunk: int = 1024) -> bytes:
        out = bytearray()
        while length > 0:
            n = min(chunk, length)
            reply = self.command(f"m{addr:x},{n:x}")
            if reply.startswith("E") or len(reply) != 2 * n:
                raise GdbProtocolError(f"m{addr:x},{n:x} failed: {reply[:40]!r}")
            out += bytes.fromhex(reply)
            addr += n
            length -= n
        return bytes(out)

    def step(self) -> str:
        reply = self.command("s")
        if not reply.startswith(("T", "S")):
            raise GdbProtocolError(f"step answered {reply!r}")
        return reply

    def cont(self) -> str:
        reply = self.command("c")
        if not reply.startswith(("T", "S")):
            raise GdbProtocolError(f"continue answered {reply!r}")
        return reply

    def set_breakpoint(self, addr: int) -> None:
        reply = self.command(f"Z0,{addr:x},4")
        if reply != "OK":
            raise GdbProtocolError(f"Z0 at {addr:#x} answered {reply!r}")

    def remove_breakpoint(self, addr: int) -> None:
        reply = self.command(f"z0,{addr:x},4")
        if reply != "OK":
            raise GdbProtocolError(f"z0 at {addr:#x} answered {reply!r}")

    def kill(self) -> None:
        """Send ``k`` without waiting: QEMU exits rather than answering."""
        with contextlib.suppress(OSError, RspError):
            self.conn.send(b"k", timeout=1.0)


def _connect(path: Path, proc: subprocess.Popen[bytes], deadline: float) -> socket.socket:
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextlib.contextmanager
def qemu_gdb(elf: Path, qemu: str = QEMU, ram_mib: int = 256,
             start_timeout: float = 20.0) -> Iterator[GdbClient]:
    """Start ``qemu-system-hppa -bios elf`` stopped at reset (``-S``), yield a client
    connected to its gdbstub, and always kill QEMU afterwards.

    The stub listens on a Unix socket in a private temporary directory rather than on a
    TCP port: nothing is reachable from the network, and parallel runs (pytest -n,
    campaigns) cannot connect to each other's QEMU through a reused port number.
    """
    with tempfile.TemporaryDirectory(prefix="hvdbg-qemu-") as tmp, \
            tempfile.TemporaryFile() as errf:
        path = Path(tmp) / "gdb.sock"
        proc = subprocess.Popen(
            [qemu, "-bios", str(elf), "-nographic", "-nodefaults", "-monitor", "none",
             "-serial", "none", "-m", str(ram_mib), "-S",
             "-gdb", f"unix:{path},server=on,wait=off"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
        try:
            try:
                sock = _connect(path, proc, time.monotonic() + start_timeout)
            except OSError:
                errf.seek(0)
                err = errf.read().decode(errors="replace").strip()
                raise RuntimeError(f"could not start {qemu} with a gdbstub: {err}") from None
            client = GdbClient(sock)
            try:
                client.start_no_ack()
                client.halt_reason()
                yield client
            finally:
                client.kill()
                sock.close()
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _demo() -> None:   # pragma: no cover - manual check: step an ELF and print registers
    import sys

    elf = Path(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with qemu_gdb(elf) as g:
        for _ in range(steps + 1):
            r = g.read_registers()
            print(f"pc {r[33]:08x} {r[35]:08x} psw {r[0]:08x} "
                  + " ".join(f"r{i}={r[i]:x}" for i in range(1, 8)))
            g.step()


if __name__ == "__main__":   # pragma: no cover
    _demo()
