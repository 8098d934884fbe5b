"""The stub survives whatever a peer sends (issue 8 §3): random bytes, bad checksums,
huge lengths, truncated packets, well-framed nonsense for every request letter — no
traceback, no hang, and the next peer is served.  In process, solo session, seeded."""
from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

from test_cli_args import SPIN
from test_machine import make_elf

from hvdbg.gdbstub import rsp
from hvdbg.gdbstub.commands import Debuggee
from hvdbg.gdbstub.server import GdbServer
from hvdbg.machine.spec import GuestSpec

LETTERS = b"?gGpPmMXzZsScCvqQHTkDbB!"


def _junk(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))
    if kind == 1:                                        # a bad checksum
        return b"$" + bytes([rng.choice(LETTERS)]) + b"#00"
    if kind == 2:                                        # an oversize packet
        return b"$" + b"m" * 70000 + b"#00"
    if kind == 3:                                        # truncated: no checksum
        return b"$" + bytes([rng.choice(LETTERS)]) + rng.randbytes(rng.randrange(30))
    body = bytes([rng.choice(LETTERS)]) + bytes(rng.choice(b"0123456789abcdef,:;=.-p$x")
                                                for _ in range(rng.randrange(40)))
    return rsp.frame(body.replace(b"$", b"").replace(b"#", b""))


def test_stub_survives_garbage_and_still_answers(tmp_path: Path) -> None:
    # a guest that spins forever: when a peer goes away the VM runs on (as QEMU's -s),
    # and must still be there for the next one
    elf = tmp_path / "spin.elf"
    elf.write_bytes(make_elf(SPIN.to_bytes(4, "big") + bytes(4), paddr=0xF0000200))
    hv = GuestSpec(str(elf)).boot().session()
    server = GdbServer([Debuggee(1, hv)], "127.0.0.1", 0)
    t = threading.Thread(target=server.serve, args=(True,), daemon=True)
    t.start()
    rng = random.Random(8)
    for _round in range(6):
        s = socket.create_connection(server.address)
        try:                # the stub may drop a peer that breaks the protocol (NAK storms)
            for _ in range(60):
                s.sendall(_junk(rng))
        except OSError:
            pass
        s.close()
        s = socket.create_connection(server.address)     # the next peer is served
        conn = rsp.Connection(s, timeout=30)
        assert conn.request(b"?").startswith((b"T", b"S", b"W"))
        assert len(conn.request(b"g")) == 1024
        assert conn.request(b"vMustReplyEmpty") == b""
        s.close()
    assert t.is_alive()                                  # no request ended the stub
    s = socket.create_connection(server.address)
    conn = rsp.Connection(s, timeout=30)
    conn.send(b"k")
    t.join(30)
    assert not t.is_alive()
