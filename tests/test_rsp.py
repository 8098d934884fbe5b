"""The gdb remote-protocol wire layer: framing (hvdbg.gdbstub.rsp), request parsing and
reply builders (packets), the target description (target) and ``hvdbg gdb``.

Interoperability is shown against two real peers: QEMU's hppa gdbstub (our codec as
the client) and gdb-multiarch 13.1 (our codec as the server, in a toy stub below that
knows nothing of VMs).
"""
from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvdbg.cli.gdb import gdb_commands
from hvdbg.gdbstub import packets as P
from hvdbg.gdbstub import rsp
from hvdbg.gdbstub.packets import ParseError, ThreadId, parse
from hvdbg.gdbstub.rsp import (
    Ack,
    BadChecksum,
    Connection,
    ConnectionClosed,
    Decoder,
    FrameError,
    Interrupt,
    Nak,
    Packet,
    RspError,
    RspTimeout,
    frame,
)
from hvdbg.gdbstub.target import TARGET_XML, read_feature

SPECIAL = b"#$}*"


def decode(data: bytes, max_payload: int = rsp.MAX_PAYLOAD) -> list[rsp.Event]:
    return Decoder(max_payload).feed(data)


def packets_of(events: list[rsp.Event]) -> list[bytes]:
    return [e.payload for e in events if isinstance(e, Packet)]


# ---- framing --------------------------------------------------------------------


def test_frame_known_wire_forms() -> None:
    assert frame(b"OK") == b"$OK#9a"
    assert frame(b"g") == b"$g#67"
    assert frame(b"") == b"$#00"
    # every special byte goes out as '}' + (byte ^ 0x20)
    assert frame(SPECIAL) == b"$}\x03}\x04}]}\x0a#" + b"%02x" % rsp.checksum(
        b"}\x03}\x04}]}\x0a")


@pytest.mark.parametrize("rle", [False, True])
def test_round_trip_random_binary_payloads(rle: bool) -> None:
    rnd = random.Random(1)
    for _ in range(300):
        n = rnd.randrange(0, 300)
        # biased towards the special bytes and long runs
        alphabet = bytes(range(256)) + SPECIAL * 20 + b"0" * 40
        payload = bytes(rnd.choice(alphabet) for _ in range(n))
        if rnd.random() < 0.3:
            payload += bytes((rnd.choice(alphabet),)) * rnd.randrange(1, 200)
        framed = frame(payload, rle=rle)
        body = framed[1:-3]
        assert not any(b in b"#$" for b in body), framed   # framing bytes never inside
        assert decode(framed) == [Packet(payload)]


def test_every_special_byte_escaped_and_restored() -> None:
    for b in range(256):
        payload = bytes((b, b, 0x41, b))
        framed = frame(payload)
        if b in SPECIAL:
            assert framed.count(b"}") >= 3
        assert decode(framed) == [Packet(payload)]


def test_rle_decoding() -> None:
    # the manual's example: '0* ' is "0000" (a space is 32 - 29 = 3 more)
    assert decode(b"$0* #%02x" % rsp.checksum(b"0* ")) == [Packet(b"0000")]
    body = b"ab*\"c*~"                       # b + 5 more, c + 97 more
    assert decode(b"$" + body + b"#%02x" % rsp.checksum(body)) == [
        Packet(b"a" + b"b" * 6 + b"c" * 98)]
    # a run repeats the decoded byte of an escape pair
    body = b"}]*!"                           # '}' then 4 more
    assert decode(b"$" + body + b"#%02x" % rsp.checksum(body)) == [Packet(b"}" * 5)]


def test_rle_encoding_avoids_framing_count_chars() -> None:
    for n in range(1, 300):
        framed = frame(b"x" * n, rle=True)
        body = framed[1:-3]
        for i, b in enumerate(body):
            if b == 0x2A:
                assert body[i + 1] not in b"#$}*", (n, body)
        assert decode(framed) == [Packet(b"x" * n)]
    assert len(frame(b"0" * 1024, rle=True)) < 60


def test_bad_checksum_reported_then_resync() -> None:
    ev = decode(b"$OK#00$OK#9a")
    assert ev == [BadChecksum(0x9A, 0x00, b"OK"), Packet(b"OK")]
    ev = decode(b"$OK#zz$OK#9a")                 # not hex at all
    assert ev == [BadChecksum(0x9A, None, b"OK"), Packet(b"OK")]
    ev = decode(b"$OK#9$OK#9a")                  # '$' where the 2nd digit should be
    assert ev == [BadChecksum(0x9A, None, b"OK"), Packet(b"OK")]
    assert decode(b"$OK#9A") == [Packet(b"OK")]  # upper-case digits are fine


def test_oversize_packet_rejected_and_resync() -> None:
    big = b"$" + b"a" * 5000 + b"#00"
    ev = decode(big + b"$OK#9a", max_payload=1024)
    assert len(ev) == 2
    assert isinstance(ev[0], FrameError) and ev[0].kind == "oversize" and not ev[0].intact
    assert ev[1] == Packet(b"OK")
    # oversize without '#': the next '$' resynchronises
    ev = decode(b"$" + b"a" * 5000 + b"$OK#9a", max_payload=1024)
    assert [type(e) for e in ev] == [FrameError, Packet]
    # small raw frame that run-length decodes to more than the bound
    body = b"a*~" * 20
    ev = decode(b"$" + body + b"#%02x" % rsp.checksum(body), max_payload=1024)
    assert len(ev) == 1 and isinstance(ev[0], FrameError)
    assert ev[0].kind == "oversize" and ev[0].intact


def test_decoder_memory_is_bounded() -> None:
    d = Decoder(1024)
    for _ in range(100):
        d.feed(b"$" + b"x" * 10_000)
        d.feed(b"y" * 10_000)
        assert len(d._body) <= 1024


@pytest.mark.parametrize("body, reason", [
    (b"*a", "nothing to repeat"),
    (b"a*", "at the end"),
    (b"a}", "escape at the end"),
    (b"a*\x10", "bad run-length count"),
])
def test_encoding_errors_are_intact_frame_errors(body: bytes, reason: str) -> None:
    ev = decode(b"$" + body + b"#%02x" % rsp.checksum(body) + b"$OK#9a")
    assert len(ev) == 2 and isinstance(ev[0], FrameError), ev
    assert ev[0].kind == "encoding" and ev[0].intact and reason in ev[0].detail
    assert ev[1] == Packet(b"OK")


def test_truncated_packet() -> None:
    ev = decode(b"$m100,4$OK#9a")
    assert len(ev) == 2 and isinstance(ev[0], FrameError) and ev[0].kind == "truncated"
    assert ev[1] == Packet(b"OK")


def test_acks_interrupts_notifications_and_garbage() -> None:
    d = Decoder()
    ev = d.feed(b"+-\x03junk\r\n$OK#9a\x03")
    assert ev == [Ack(), Nak(), Interrupt(), Packet(b"OK"), Interrupt()]
    assert d.skipped == 6
    # 0x03, '+' and '-' inside a packet are data, not events
    payload = b"X0,3:\x03+-"
    assert d.feed(frame(payload)) == [Packet(payload)]
    # notifications are skipped whole, even with a bad checksum or odd bytes inside
    assert d.feed(b"%Stop:T05+\x03-#00%Stop:T05#zz$OK#9a") == [Packet(b"OK")]


def test_garbage_between_frames_makes_no_events() -> None:
    garbage = bytes(b for b in range(256) if b not in b"$%+-\x03") * 3
    d = Decoder()
    assert d.feed(garbage + frame(b"OK") + garbage) == [Packet(b"OK")]
    assert d.skipped == 2 * len(garbage)


def test_any_chunking_gives_the_same_events() -> None:
    rnd = random.Random(7)
    stream = (b"+" + frame(b"qSupported:multiprocess+") + b"\x03garbage" + frame(b"x" * 3000)
              + b"$bad#00" + frame(SPECIAL * 10, rle=True) + b"$" + b"z" * 2000 + frame(b"k"))
    whole = decode(stream, 1024)
    for _ in range(50):
        d = Decoder(1024)
        ev: list[rsp.Event] = []
        i = 0
        while i < len(stream):
            n = rnd.choice((1, 2, 3, 7, 64, 1000))
            ev += d.feed(stream[i:i + n])
            i += n
        assert ev == whole


def _junk(rnd: random.Random) -> bytes:
    kind = rnd.randrange(7)
    if kind == 0:
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
    if kind == 1:                             # a bad checksum
        return b"$" + bytes(rnd.randrange(32, 127) for _ in range(10)) + b"#" + bytes(
            rnd.choice(b"0123456789abcdefxyz#$") for _ in range(2))
    if kind == 2:                             # huge
        return b"$" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(2000, 9000)))
    if kind == 3:                             # truncated valid frame
        f = frame(bytes(rnd.randrange(256) for _ in range(50)))
        return f[:rnd.randrange(1, len(f))]
    if kind == 4:
        return b"\x03" * rnd.randrange(1, 4)
    if kind == 5:                             # a frame with a damaged byte
        f = bytearray(frame(bytes(rnd.randrange(256) for _ in range(40))))
        f[rnd.randrange(len(f))] = rnd.randrange(256)
        return bytes(f)
    return rnd.choice((b"+", b"-", b"%", b"}", b"*", b"#", b"%Stop", b"$}", b"$*"))


def test_fuzz_never_raises_and_resynchronises() -> None:
    """Random junk of every kind, each followed by a numbered sentinel packet: the
    decoder must not raise, and every sentinel must come out, in order."""
    rnd = random.Random(2024)
    for _round in range(40):
        d = Decoder(4096)
        stream = bytearray()
        sentinels = []
        for i in range(60):
            for _ in range(rnd.randrange(0, 4)):
                stream += _junk(rnd)
            s = b"sentinel-%d-%d" % (_round, i)
            sentinels.append(s)
            stream += frame(s, rle=rnd.random() < 0.5)
        events: list[rsp.Event] = []
        pos = 0
        while pos < len(stream):
            n = rnd.randrange(1, 3000)
            events += d.feed(bytes(stream[pos:pos + n]))
            pos += n
        got = [p for p in packets_of(events) if p.startswith(b"sentinel-")]
        assert got == sentinels
        assert len(d._body) <= 4096


# ---- Connection -----------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[Connection, socket.socket]]:
    a, b = socket.socketpair()
    b.settimeout(5)
    conn = Connection(a, timeout=5)
    yield conn, b
    a.close()
    b.close()


def _nothing_sent(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(100)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(5)
    return False


def test_connection_acks_received_packets(pair: tuple[Connection, socket.socket]) -> None:
    conn, peer = pair
    peer.sendall(b"$OK#00" + frame(b"?"))
    assert conn.recv(5) == Packet(b"?")
    assert peer.recv(10) == b"-+"          # nak for the damaged one, ack for the good one


def test_connection_send_waits_for_ack_and_resends(
        pair: tuple[Connection, socket.socket]) -> None:
    conn, peer = pair
    peer.sendall(b"-+")
    conn.send(b"g")
    assert peer.recv(100) == b"$g#67$g#67"
    peer.sendall(b"----")
    with pytest.raises(RspError, match="refused"):
        conn.send(b"g")


def test_connection_keeps_events_arriving_before_the_ack(
        pair: tuple[Connection, socket.socket]) -> None:
    conn, peer = pair
    peer.sendall(b"\x03+")
    conn.send(b"OK")
    assert conn.pending()
    assert conn.recv(0) == Interrupt()
    assert conn.recv(0) is None


def test_connection_no_ack_mode(pair: tuple[Connection, socket.socket]) -> None:
    conn, peer = pair
    conn.ack_mode = False
    conn.send(b"OK")                       # returns without waiting
    assert peer.recv(100) == b"$OK#9a"
    peer.sendall(b"+" + frame(b"g") + b"$x#00")
    assert conn.recv(5) == Packet(b"g")     # the stray '+' is ignored
    assert conn.recv(0) is None             # bad checksum dropped, no '-' sent
    assert _nothing_sent(peer)


def test_connection_frame_errors(pair: tuple[Connection, socket.socket]) -> None:
    conn, peer = pair
    body = b"*a"
    peer.sendall(b"$" + body + b"#%02x" % rsp.checksum(body))
    ev = conn.recv(5)
    assert isinstance(ev, FrameError) and ev.intact
    assert peer.recv(10) == b"+"           # intact: acknowledged, the server answers E01
    peer.sendall(b"+" + b"$" + body + b"#%02x" % rsp.checksum(body))
    with pytest.raises(RspError, match="undecodable"):
        conn.request(b"x")


def test_connection_timeout_and_eof(pair: tuple[Connection, socket.socket]) -> None:
    conn, peer = pair
    assert conn.recv(0) is None
    with pytest.raises(RspTimeout):
        conn.recv_packet(timeout=0)
    with pytest.raises(RspTimeout):
        conn.send(b"g", timeout=0)
    peer.close()
    with pytest.raises(ConnectionClosed):
        conn.recv(5)
    with pytest.raises(ConnectionClosed):
        conn.recv(5)


def test_no_ack_negotiation_between_two_connections() -> None:
    a, b = socket.socketpair()
    client, server = Connection(a, timeout=5), Connection(b, timeout=5)
    result: list[object] = []

    def serve() -> None:
        ev = server.recv(5)
        result.append(ev)
        server.send(P.OK)                   # waits for the client's '+'
        server.ack_mode = False
        result.append(server.recv(5))
        server.send(b"T05")

    t = threading.Thread(target=serve)
    t.start()
    assert client.request(b"QStartNoAckMode") == b"OK"
    client.ack_mode = False
    assert client.request(b"?") == b"T05"
    t.join(5)
    assert result == [Packet(b"QStartNoAckMode"), Packet(b"?")]
    assert not client.pending() and not server.pending()
    a.close()
    b.close()


# ---- requests -------------------------------------------------------------------

T11 = ThreadId(1, 1)

PARSED: list[tuple[bytes, P.Request]] = [
    (b"?", P.QueryHaltReason()),
    (b"!", P.ExtendedMode()),
    (b"g", P.ReadRegisters()),
    (b"G0001aBff", P.WriteRegisters(b"\x00\x01\xab\xff")),
    (b"p21", P.ReadRegister(0x21)),
    (b"P1f=0000abcd", P.WriteRegister(0x1F, b"\x00\x00\xab\xcd")),
    (b"mf0000000,400", P.ReadMemory(0xF0000000, 0x400)),
    (b"M10,2:abcd", P.WriteMemory(0x10, b"\xab\xcd")),
    (b"X10,4:#:,}", P.WriteMemory(0x10, b"#:,}", binary=True)),
    (b"X10,0:", P.WriteMemory(0x10, b"", binary=True)),
    (b"Z0,f0000080,4", P.Breakpoint(True, P.BreakpointType.SOFTWARE, 0xF0000080, 4)),
    (b"z1,100,4", P.Breakpoint(False, P.BreakpointType.HARDWARE, 0x100, 4)),
    (b"Z2,200,8", P.Breakpoint(True, P.BreakpointType.WRITE_WATCH, 0x200, 8)),
    (b"Z3,200,1", P.Breakpoint(True, P.BreakpointType.READ_WATCH, 0x200, 1)),
    (b"Z4,200,2;X2,0102", P.Breakpoint(True, P.BreakpointType.ACCESS_WATCH, 0x200, 2,
                                       b";X2,0102")),
    (b"s", P.Step()),
    (b"s1000", P.Step(0, 0x1000)),
    (b"S05", P.Step(5)),
    (b"S02;40", P.Step(2, 0x40)),
    (b"c", P.Continue()),
    (b"c2000", P.Continue(0, 0x2000)),
    (b"C0b", P.Continue(11)),
    (b"C0b;10", P.Continue(11, 0x10)),
    (b"bs", P.ReverseStep()),
    (b"bc", P.ReverseContinue()),
    (b"vCont?", P.VContQuery()),
    (b"vCont;c", P.VCont((P.VContAction("c"),))),
    (b"vCont;s:p1.1;c", P.VCont((P.VContAction("s", T11), P.VContAction("c")))),
    (b"vCont;C05:p1.-1;S0b:2;t:0", P.VCont((
        P.VContAction("C", ThreadId(1, -1), signal=5), P.VContAction("S", ThreadId(None, 2),
                                                                     signal=11),
        P.VContAction("t", ThreadId(None, 0))))),
    (b"vCont;r1000,1010:p1.1;c", P.VCont((
        P.VContAction("r", T11, start=0x1000, end=0x1010), P.VContAction("c")))),
    (b"vAttach;2", P.VAttach(2)),
    (b"vKill;a", P.VKill(10)),
    (b"vRun;", P.VRun(b"")),
    (b"vRun;2f62696e;2d61;", P.VRun(b"/bin", (b"-a", b""))),
    (b"vMustReplyEmpty", P.VMustReplyEmpty()),
    (b"vStopped", P.VStopped()),
    (b"k", P.Kill()),
    (b"D", P.Detach()),
    (b"D;1", P.Detach(1)),
    (b"Hg0", P.SetThread("g", ThreadId(None, 0))),
    (b"Hc-1", P.SetThread("c", ThreadId(None, -1))),
    (b"Hgp1.2", P.SetThread("g", ThreadId(1, 2))),
    (b"Hgp0.0", P.SetThread("g", ThreadId(0, 0))),
    (b"Hcp2", P.SetThread("c", ThreadId(2, -1))),
    (b"Tp1.1", P.ThreadAlive(T11)),
    (b"T3", P.ThreadAlive(ThreadId(None, 3))),
    (b"qSupported", P.QSupported()),
    (b"qSupported:multiprocess+;swbreak+;xmlRegisters=i386",
     P.QSupported((b"multiprocess+", b"swbreak+", b"xmlRegisters=i386"))),
    (b"qXfer:features:read:target.xml:0,ffb", P.XferRead("features", "target.xml", 0, 0xFFB)),
    (b"qXfer:threads:read::10,20", P.XferRead("threads", "", 0x10, 0x20)),
    (b"qfThreadInfo", P.ThreadInfoFirst()),
    (b"qsThreadInfo", P.ThreadInfoNext()),
    (b"qC", P.CurrentThread()),
    (b"qAttached", P.Attached()),
    (b"qAttached:1", P.Attached(1)),
    (b"qRcmd,65706f6368", P.MonitorCommand(b"epoch")),
    (b"qOffsets", P.Offsets()),
    (b"qSymbol::", P.Symbol()),
    (b"qSymbol::6d61696e", P.Symbol(b"main", None)),
    (b"qSymbol:1000:6d61696e", P.Symbol(b"main", 0x1000)),
    (b"QStartNoAckMode", P.StartNoAckMode()),
    (b"qTStatus", P.TraceStatus()),
    # well formed but not ours: answered empty
    (b"", P.Unknown(b"")),
    (b"qTfV", P.Unknown(b"qTfV")),
    (b"QNonStop:0", P.Unknown(b"QNonStop:0")),
    (b"vFile:setfs:0", P.Unknown(b"vFile:setfs:0")),
    (b"qXfer:features:write:x:0:abc", P.Unknown(b"qXfer:features:write:x:0:abc")),
    (b"qCRC:0,4", P.Unknown(b"qCRC:0,4")),
    (b"vContX", P.Unknown(b"vContX")),
    (b"y\x00\xff", P.Unknown(b"y\x00\xff")),
]


@pytest.mark.parametrize("payload, expected", PARSED, ids=[repr(p[0]) for p in PARSED])
def test_parse(payload: bytes, expected: P.Request) -> None:
    assert parse(payload) == expected


BAD = [
    b"G123", b"Gxx", b"p", b"pzz", b"P1f", b"P1f=abc", b"m100", b"m,4", b"mzz,4",
    b"M10,2:ab", b"M10,1", b"M10,1:zz", b"X10,2:a", b"X10:ab", b"Z5,100,4", b"Z0,100",
    b"z0,,4", b"Sxx", b"C", b"c12g", b"s;", b"vCont", b"vCont;", b"vCont;x", b"vCont;c;s",
    b"vCont;cq", b"vCont;C", b"vCont;r1000", b"vCont;c:", b"vCont;s:pq.1", b"vAttach",
    b"vAttach;x", b"vKill;", b"vRun;zz", b"D;", b"Dx", b"D;q", b"H", b"Hx1", b"Hg", b"Hgpz",
    b"T", b"Tpz.1", b"qAttached:", b"qRcmd,6", b"qRcmd,zz", b"qSymbol:", b"qSymbol:zz:6d",
    b"qXfer:features:read:target.xml", b"qXfer:features:read:target.xml:0",
    b"qXfer:features:read:t:0,zz", b"qXfer:features:read:\xff:0,1",
]


@pytest.mark.parametrize("payload", BAD, ids=[repr(b) for b in BAD])
def test_parse_errors(payload: bytes) -> None:
    with pytest.raises(ParseError) as e:
        parse(payload)
    assert str(e.value)                    # a message the server can log


def test_parse_never_raises_anything_but_parse_error() -> None:
    rnd = random.Random(5)
    prefixes = [p for p, _ in PARSED] + BAD
    for _ in range(20000):
        base = rnd.choice(prefixes)
        cut = base[:rnd.randrange(len(base) + 1)]
        tail = bytes(rnd.choice(b"0123456789abcdef,:;=.-p\x00\xff") for _ in range(
            rnd.randrange(6)))
        try:
            parse(cut + tail)
        except ParseError:
            pass
        try:
            parse(bytes(rnd.randrange(256) for _ in range(rnd.randrange(12))))
        except ParseError:
            pass


@pytest.mark.parametrize("text, tid", [
    (b"p1.1", ThreadId(1, 1)), (b"p1a.-1", ThreadId(0x1A, -1)), (b"p-1.-1", ThreadId(-1, -1)),
    (b"p2", ThreadId(2, -1)), (b"0", ThreadId(None, 0)), (b"-1", ThreadId(None, -1)),
    (b"ff", ThreadId(None, 255)),
])
def test_thread_id_round_trip(text: bytes, tid: ThreadId) -> None:
    assert ThreadId.parse(text) == tid
    assert ThreadId.parse(text.decode()) == tid
    if text != b"p2":
        assert tid.format() == text
    assert ThreadId.parse(tid.format()) == tid
    assert ThreadId(1, 2).format(multiprocess=False) == b"2"
    assert str(ThreadId(1, 2)) == "p1.2"


def test_qsupported_values() -> None:
    q = parse(b"qSupported:multiprocess+;fork-events-;xmlRegisters=i386;x?")
    assert isinstance(q, P.QSupported)
    assert q.value("multiprocess") is True
    assert q.value("fork-events") is False
    assert q.value("xmlRegisters") == b"i386"
    assert q.value("swbreak") is None


# ---- replies --------------------------------------------------------------------


def test_reply_builders() -> None:
    assert P.stop_reply(thread=T11, swbreak=True) == b"T05thread:p1.1;swbreak:;"
    assert P.stop_reply(thread=T11, hwbreak=True) == b"T05thread:p1.1;hwbreak:;"
    assert P.stop_reply(thread=T11, multiprocess=False) == b"T05thread:1;"
    assert P.stop_reply(P.SIGINT) == b"T02"
    for t, word in ((P.BreakpointType.WRITE_WATCH, b"watch"),
                    (P.BreakpointType.READ_WATCH, b"rwatch"),
                    (P.BreakpointType.ACCESS_WATCH, b"awatch")):
        assert P.stop_reply(watch=P.watch_kind(t), watch_addr=0x1F00) == b"T05" + word + b":1f00;"
    with pytest.raises(ValueError):
        P.watch_kind(P.BreakpointType.SOFTWARE)
    assert P.stop_reply(thread=T11, replaylog="begin") == b"T05thread:p1.1;replaylog:begin;"
    assert P.stop_reply(replaylog="end") == b"T05replaylog:end;"
    assert P.stop_reply(registers={0x21: b"\xf0\x00\x00\x80"}) == b"T0521:f0000080;"
    with pytest.raises(ValueError):
        P.stop_reply(swbreak=True, hwbreak=True)
    assert P.exited(0, 1) == b"W00;process:1"
    assert P.exited(3) == b"W03"
    assert P.terminated(9, 0x10) == b"X09;process:10"
    assert P.error() == b"E01" and P.error(0x16) == b"E16"
    assert P.console_output("hi\n") == [b"O68690a"]
    assert P.console_output("") == []
    chunks = P.console_output("x" * 100, max_payload=21)
    assert all(len(c) <= 21 for c in chunks)
    assert b"".join(bytes.fromhex(c[1:].decode()) for c in chunks) == b"x" * 100
    assert P.thread_list([T11, ThreadId(1, 2)]) == b"mp1.1,p1.2"
    assert P.thread_list([]) == P.END_OF_LIST
    assert P.current_thread(T11) == b"QCp1.1"
    assert P.supported(0x4000, ["multiprocess+", b"swbreak+"]) == (
        b"PacketSize=4000;multiprocess+;swbreak+")
    assert P.vcont_actions() == b"vCont;c;C;s;S;t"
    assert P.hex_encode(b"\x00\xff") == b"00ff"
    assert P.hex_decode(b"00FF") == b"\x00\xff"


def test_target_description_paging() -> None:
    assert b"<architecture>hppa1.0</architecture>" in TARGET_XML
    assert read_feature("nope.xml", 0, 100) is None
    doc = b""
    offset = 0
    while True:
        chunk = read_feature("target.xml", offset, 17)
        assert chunk is not None and chunk[:1] in (b"m", b"l") and len(chunk) <= 18
        doc += chunk[1:]
        offset += len(chunk) - 1
        if chunk[:1] == b"l":
            break
    assert doc == TARGET_XML
    assert read_feature("target.xml", len(TARGET_XML) + 5, 10) == b"l"
    whole = read_feature("target.xml", 0, 0xFFB)
    assert whole == b"l" + TARGET_XML


# ---- interoperability: QEMU's gdbstub (our codec as the client) ------------------


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} not found (Debian: see .ci/run for the packages to install)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


QEMU_FIRMWARE = Path("/usr/share/qemu/hppa-firmware.img")


def test_talks_to_qemu_gdbstub() -> None:
    """QEMU 7.2 started with -S (stopped at reset): ``?``, ``g``, ``m``, ``M``
    through hvdbg's Connection (tests/qemu_gdb.py frames with rsp.py)."""
    from qemu_gdb import NUM_REGS, QEMU, qemu_gdb

    from hvdbg.machine.elf import read_firmware

    _need(QEMU)
    if not QEMU_FIRMWARE.is_file():
        pytest.skip(f"{QEMU_FIRMWARE} (QEMU's hppa firmware, an ELF) is not installed")
    image = read_firmware(QEMU_FIRMWARE)
    with qemu_gdb(QEMU_FIRMWARE) as g:
        conn = g.conn
        # QEMU 7.2 does not offer QStartNoAckMode: the client must have stayed in ack mode
        offered = b"QStartNoAckMode+" in conn.request(b"qSupported:multiprocess+")
        assert g.ack is not offered
        assert re.fullmatch(rb"[TS]05.*", conn.request(b"?"))
        regs = conn.request(b"g")
        assert len(regs) == NUM_REGS * 8 and re.fullmatch(rb"[0-9a-f]+", regs)
        pc = int(regs[33 * 8:34 * 8], 16) & ~3
        # QEMU 7.2 answers p only once gdb has read a target description: empty here
        assert conn.request(b"p21") in (b"", regs[33 * 8:34 * 8])
        word = bytes.fromhex(conn.request(b"m%x,10" % pc).decode())
        expected = next(bytes(s.data[pc - s.paddr:pc - s.paddr + 16])
                        for s in image.segments if s.paddr <= pc < s.paddr + len(s.data))
        assert word == expected
        # bytes whose hex spells nothing special, then read back
        assert conn.request(b"M100000,4:2324 7d2a".replace(b" ", b"")) == b"OK"
        assert conn.request(b"m100000,4") == b"23247d2a"
        # QEMU 7.2 has no X packet and no target description: empty answers
        assert conn.request(b"qXfer:features:read:target.xml:0,ffb") == b""


# ---- interoperability: gdb-multiarch (our codec as the server) -------------------


class ToyStub:
    """A stub with one stopped thread, registers and a 64 KiB memory: enough for gdb to
    attach, read and write.  It is the test's, not hvdbg's server."""

    def __init__(self, sock: socket.socket) -> None:
        self.conn = Connection(sock, timeout=30)
        self.regs = bytearray(128 * 4)
        self.regs[33 * 4:34 * 4] = (0x1000 | 3).to_bytes(4, "big")   # pcoqh, priv 3
        self.regs[35 * 4:36 * 4] = (0x1004 | 3).to_bytes(4, "big")
        self.mem = bytearray(i & 0xFF for i in range(0x10000))
        self.log: list[P.Request] = []
        self.errors: list[str] = []

    def answer(self, req: P.Request) -> bytes | None:
        match req:
            case P.QSupported():
                return P.supported(0x4000, ["QStartNoAckMode+", "qXfer:features:read+",
                                            "multiprocess+", "swbreak+", "vContSupported+"])
            case P.StartNoAckMode() | P.ExtendedMode() | P.SetThread() | P.ThreadAlive():
                return P.OK
            case P.XferRead(object="features", annex=annex, offset=off, length=n):
                reply = read_feature(annex, off, n)
                return P.error(0) if reply is None else reply
            case P.QueryHaltReason():
                return P.stop_reply(thread=T11)
            case P.ThreadInfoFirst():
                return P.thread_list([T11])
            case P.ThreadInfoNext():
                return P.END_OF_LIST
            case P.CurrentThread():
                return P.current_thread(T11)
            case P.Attached():
                return b"1"
            case P.VContQuery():
                return P.vcont_actions()
            case P.ReadRegisters():
                return P.hex_encode(bytes(self.regs))
            case P.ReadRegister(regno=n) if n < 128:
                return P.hex_encode(bytes(self.regs[n * 4:n * 4 + 4]))
            case P.ReadMemory(addr=a, length=n):
                if a + n > len(self.mem):
                    return P.error(14)
                return P.hex_encode(bytes(self.mem[a:a + n]))
            case P.WriteMemory(addr=a, data=d):
                if a + len(d) > len(self.mem):
                    return P.error(14)
                self.mem[a:a + len(d)] = d
                return P.OK
            case P.MonitorCommand(command=cmd):
                for o in P.console_output(b"toy: " + cmd + b"\n"):
                    self.conn.send(o)
                return P.OK
            case P.Detach() | P.Kill() | P.VKill():
                return P.OK
        return P.EMPTY

    def serve(self) -> None:
        try:
            while True:
                ev = self.conn.recv(None)
                if isinstance(ev, Interrupt) or ev is None:
                    continue
                if isinstance(ev, FrameError):
                    self.errors.append(ev.detail)
                    if ev.intact:
                        self.conn.send(P.error())
                    continue
                try:
                    req = parse(ev.payload)
                except ParseError as e:
                    self.errors.append(str(e))
                    self.conn.send(P.error())
                    continue
                self.log.append(req)
                reply = self.answer(req)
                if reply is not None:
                    self.conn.send(reply)
                if isinstance(req, P.StartNoAckMode):
                    self.conn.ack_mode = False
                if isinstance(req, P.Detach | P.Kill):
                    return
        except (ConnectionClosed, RspError):
            return


def _run_gdb_against_toy(argv_tail: list[str], gdb_cmd: list[str]
                         ) -> tuple[subprocess.CompletedProcess[str], ToyStub]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    box: list[ToyStub] = []

    def accept() -> None:
        listener.settimeout(60)
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        stub = ToyStub(sock)
        box.append(stub)
        stub.serve()
        sock.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        cmd = [a.replace("PORT", str(port)) for a in gdb_cmd] + argv_tail
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
    finally:
        listener.close()
        t.join(30)
    assert box, f"gdb never connected: {proc.stdout}\n{proc.stderr}"
    return proc, box[0]


def test_gdb_multiarch_through_hvdbg_gdb() -> None:
    """``hvdbg gdb`` starts gdb-multiarch on a stub built from our codec: gdb attaches,
    reads registers and memory, writes bytes that need escaping (X packet), and runs a
    monitor command (O packets)."""
    _need("gdb-multiarch")
    proc, stub = _run_gdb_against_toy(
        ["--", "-batch", "-nx",
         "-ex", "show architecture", "-ex", "show endian", "-ex", "p/x $pc",
         "-ex", "x/2xw 0x1000",
         "-ex", "set {int} 0x2000 = 0x23247d2a", "-ex", "x/4xb 0x2000",
         "-ex", "monitor hello there", "-ex", "detach"],
        [sys.executable, "-m", "hvdbg", "gdb", "--port", "PORT"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert 'The target architecture is set to "hppa1.0"' in out
    assert "big endian" in out
    assert "$1 = 0x1000" in out
    assert re.search(r"0x1000:\s+0x00010203\s+0x04050607", out), out
    assert re.search(r"0x2000:\s+0x23\s+0x24\s+0x7d\s+0x2a", out), out
    assert any(isinstance(r, P.WriteMemory) and r.binary and r.data for r in stub.log)
    assert stub.mem[0x2000:0x2004] == b"#$}*"
    assert "toy: hello there" in out
    assert stub.errors == []
    assert P.StartNoAckMode() in stub.log and P.Detach(1) in stub.log


def test_gdb_multiarch_takes_the_architecture_from_target_xml() -> None:
    """Without ``set architecture``, gdb must pick hppa1.0 from our target.xml."""
    gdb = _need("gdb-multiarch")
    proc, stub = _run_gdb_against_toy(
        ["-ex", "show architecture", "-ex", "detach"],
        [gdb, "-batch", "-nx", "-ex", "target extended-remote 127.0.0.1:PORT"])
    out = proc.stdout + proc.stderr
    assert '"auto" (currently "hppa1.0")' in out, out
    assert any(isinstance(r, P.XferRead) and r.annex == "target.xml" for r in stub.log)


# ---- hvdbg gdb ------------------------------------------------------------------


def _hvdbg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hvdbg", *args], check=False,
                          capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


def test_hvdbg_gdb_print(tmp_path: Path) -> None:
    r = _hvdbg("gdb", "--print")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["set architecture hppa1.0", "set endian big",
                                     "target extended-remote 127.0.0.1:1234"]
    elf = tmp_path / "my prog.elf"
    elf.write_bytes(b"\x7fELF")
    r = _hvdbg("gdb", "--print", "--host", "::1", "--port", "2345", "--file", str(elf))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2:] == [f'file "{elf}"', "target extended-remote [::1]:2345"]
    assert gdb_commands("h", 1)[-1] == "target extended-remote h:1"


def test_hvdbg_gdb_errors(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path))       # no gdb-multiarch on this PATH
    r = _hvdbg("gdb", env=env)
    assert r.returncode == 2
    assert r.stderr.strip() == ("hvdbg: gdb: gdb-multiarch not found "
                                "(Debian/Ubuntu: apt-get install gdb-multiarch)")
    r = _hvdbg("gdb", "--file", str(tmp_path / "missing.elf"))
    assert r.returncode == 2 and "no such file" in r.stderr and "Traceback" not in r.stderr
    for bad in ("0", "65536", "http"):
        r = _hvdbg("gdb", "--port", bad)
        assert r.returncode == 2 and "--port" in r.stderr
