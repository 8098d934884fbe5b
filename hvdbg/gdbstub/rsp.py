"""GDB remote serial protocol framing: the one RSP codec of hvdbg.

Framing only; nothing here knows about VMs or what a packet means (that is
``packets.py``).  Both hvdbg's gdb server and the test client that drives QEMU's
gdbstub (``tests/qemu_gdb.py``) use it.

Wire format (gdb manual, "Remote Protocol" / "Overview"):

- a packet is ``$`` body ``#`` two hex digits, the digits being the sum of the body's
  bytes modulo 256;
- in the body ``#``, ``$``, ``}`` and ``*`` are sent as ``}`` followed by the byte
  XOR 0x20;
- ``X*n`` is run-length encoding: X repeated ``ord(n) - 29`` more times;
- ``+`` / ``-`` acknowledge a packet received intact / damaged, until both sides have
  agreed on ``QStartNoAckMode``;
- a lone 0x03 between packets is an interrupt request (gdb's Ctrl-C);
- ``%`` body ``#cs`` is an asynchronous notification (non-stop mode only): skipped.

Payloads are ``bytes`` throughout (``X`` and ``qXfer`` carry binary data).
"""
from __future__ import annotations

import logging
import math
import re
import select
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

#: Default bound on a packet body, raw (as framed) and decoded.  Advertised to gdb as
#: ``PacketSize``; anything longer is rejected rather than buffered without end.
MAX_PAYLOAD: Final = 64 * 1024

INTERRUPT_BYTE: Final = 0x03
_ESCAPED: Final = frozenset(b"#$}*")
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
# A run-length count char must not be one a decoder could mistake for framing.
_BAD_COUNT_CHARS: Final = frozenset(b"#$}*")


class RspError(Exception):
    """The peer broke the protocol, went silent or closed the connection."""


class ConnectionClosed(RspError):
    """The peer closed the connection (EOF)."""


class RspTimeout(RspError):
    """Nothing (or no acknowledgement) arrived within the timeout."""


# ---- events produced by the decoder ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Packet:
    """A packet received intact; ``payload`` is unescaped and run-length decoded."""
    payload: bytes


@dataclass(frozen=True, slots=True)
class Interrupt:
    """A 0x03 byte between packets: gdb asks a running target to stop."""


@dataclass(frozen=True, slots=True)
class Ack:
    """``+``: the peer received our last packet intact."""


@dataclass(frozen=True, slots=True)
class Nak:
    """``-``: the peer wants our last packet again."""


@dataclass(frozen=True, slots=True)
class BadChecksum:
    """A frame whose checksum does not match (``received`` is None when the two
    characters after ``#`` are not hex).  In ack mode the answer is ``-``."""
    expected: int
    received: int | None
    raw: bytes          # the framed body, at most 64 bytes of it, for messages


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that cannot be delivered as a packet.

    ``kind`` is ``"oversize"`` (longer than the bound; discarded up to the next ``$``),
    ``"truncated"`` (a new ``$`` began before this frame's ``#``) or ``"encoding"`` (a
    ``*`` with nothing to repeat, a ``}`` at the end, a bad repeat count).  ``intact``
    says whether the frame's checksum was verified, i.e. the peer sent exactly this and
    expects an answer to it (the server replies ``E01``).
    """
    kind: str
    detail: str
    intact: bool


Event = Packet | Interrupt | Ack | Nak | BadChecksum | FrameError

_INTERRUPT: Final = Interrupt()
_ACK: Final = Ack()
_NAK: Final = Nak()


# ---- encoding -------------------------------------------------------------------


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def escape(payload: bytes) -> bytes:
    """``}``-escape the four bytes that cannot appear literally in a packet body."""
    if not any(b in _ESCAPED for b in payload):
        return payload
    out = bytearray()
    for b in payload:
        if b in _ESCAPED:
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def _rle(body: bytes) -> bytes:
    """Run-length encode an escaped body; escape pairs are never part of a run, so a
    decoder that repeats the raw char and one that repeats the decoded byte agree."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        b = body[i]
        if b == 0x7D and i + 1 < n:          # an escape pair: copy, never repeat
            out += body[i:i + 2]
            i += 2
            continue
        run = 1
        while i + run < n and body[i + run] == b and run < 98:
            run += 1
        more = run - 1
        while more >= 3 and (more + 29) in _BAD_COUNT_CHARS:
            more -= 1                        # 6 and 7 would be '#' and '$'
        if more >= 3:
            out += bytes((b, 0x2A, more + 29))
            i += more + 1
        else:
            out.append(b)
            i += 1
    return bytes(out)


def frame(payload: bytes, *, rle: bool = False) -> bytes:
    """``$`` escaped-payload ``#`` checksum, ready for the wire."""
    body = escape(payload)
    if rle:
        body = _rle(body)
    return b"$" + body + b"#" + b"%02x" % checksum(body)


def unframe_body(body: bytes, limit: int = MAX_PAYLOAD) -> bytes:
    """Undo escaping and run-length encoding of a received body.

    Raises ValueError (with a reason) on an encoding error or if the decoded payload
    exceeds ``limit``.  A run repeats the last *decoded* byte.
    """
    if 0x7D not in body and 0x2A not in body:
        if len(body) > limit:
            raise ValueError(f"decoded payload longer than {limit} bytes")
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        b = body[i]
        if b == 0x7D:
            if i + 1 >= n:
                raise ValueError("'}' escape at the end of the packet")
            out.append(body[i + 1] ^ 0x20)
            i += 2
        elif b == 0x2A:
            if not out:
                raise ValueError("'*' run-length marker with nothing to repeat")
            if i + 1 >= n:
                raise ValueError("'*' run-length marker at the end of the packet")
            more = body[i + 1] - 29
            if more < 1:
                raise ValueError(f"bad run-length count character {body[i + 1]:#04x}")
            out += bytes((out[-1],)) * more
            i += 2
        else:
            out.append(b)
            i += 1
        if len(out) > limit:
            raise ValueError(f"decoded payload longer than {limit} bytes")
    return bytes(out)


# ---- incremental decoder --------------------------------------------------------

_IDLE, _BODY, _CS1, _CS2 = range(4)
_BODY_END: Final = re.compile(rb"[#$]")


class Decoder:
    """Feed bytes in any chunking; get events out.  Never raises on any input.

    Between frames, ``+``, ``-`` and 0x03 are events and every other byte except ``$``
    and ``%`` is skipped (counted in ``skipped``).  A frame longer than
    ``max_payload`` is reported once as ``FrameError("oversize")`` and the rest of
    it is skipped up to its ``#cs`` (or the next ``$``).  A ``$`` always starts a new frame, even inside
    another, so the decoder resynchronises on the next packet after any damage.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self.max_payload = max_payload
        self.skipped = 0                  # garbage bytes dropped between frames
        self._state = _IDLE
        self._notification = False        # the current frame began with '%'
        self._discard = False             # the current frame overflowed: drop it
        self._body = bytearray()
        self._cs_hi = 0

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        i, n = 0, len(data)
        while i < n:
            if self._state == _BODY:
                # Bulk path: a body runs to the next '#' or '$' (a 'g' reply is 1 KiB
                # and tests step QEMU thousands of times).
                m = _BODY_END.search(data, i)
                end = n if m is None else m.start()
                if self._discard:
                    i = end
                else:
                    take = min(end - i, self.max_payload - len(self._body))
                    self._body += data[i:i + take]
                    i += take
                if i >= n:
                    break
            self._byte(data[i], events)
            i += 1
        return events

    def _start(self, b: int) -> None:
        self._state = _BODY
        self._notification = b == 0x25
        self._discard = False
        self._body.clear()

    def _byte(self, b: int, events: list[Event]) -> None:
        state = self._state
        if state == _IDLE:
            if b == 0x24 or b == 0x25:          # '$' packet, '%' notification
                self._start(b)
            elif b == 0x2B:
                events.append(_ACK)
            elif b == 0x2D:
                events.append(_NAK)
            elif b == INTERRUPT_BYTE:
                events.append(_INTERRUPT)
            else:
                self.skipped += 1
        elif state == _BODY:
            if b == 0x23:                        # '#'
                self._state = _CS1
            elif b == 0x24:                      # '$' before '#': the old frame is lost
                if not (self._notification or self._discard):
                    events.append(FrameError(
                        "truncated", f"new packet began after {len(self._body)} bytes "
                        f"of an unfinished one ({bytes(self._body[:32])!r}...)", False))
                self._start(b)
            elif self._discard:
                pass
            elif len(self._body) >= self.max_payload:
                if not self._notification:
                    events.append(FrameError(
                        "oversize", f"packet longer than {self.max_payload} bytes "
                        f"(discarded; began {bytes(self._body[:32])!r})", False))
                self._body.clear()
                self._discard = True
            else:
                self._body.append(b)
        elif state == _CS1:
            if b in _HEX:
                self._cs_hi = b
                self._state = _CS2
            else:
                self._bad_cs_digit(b, events)
        elif b in _HEX:                          # _CS2
            self._end(int(bytes((self._cs_hi, b)), 16), events)
        else:
            self._bad_cs_digit(b, events)

    def _bad_cs_digit(self, b: int, events: list[Event]) -> None:
        if not (self._notification or self._discard):
            events.append(BadChecksum(checksum(self._body), None, bytes(self._body[:64])))
        self._body.clear()
        self._state = _IDLE
        if b == 0x24 or b == 0x25:               # the next frame already began
            self._start(b)

    def _end(self, received: int, events: list[Event]) -> None:
        body = bytes(self._body)
        self._body.clear()
        self._state = _IDLE
        if self._notification or self._discard:
            return              # notifications are not used; an oversize frame was reported
        expected = checksum(body)
        if expected != received:
            events.append(BadChecksum(expected, received, body[:64]))
            return
        try:
            events.append(Packet(unframe_body(body, self.max_payload)))
        except ValueError as e:
            kind = "oversize" if "longer" in str(e) else "encoding"
            events.append(FrameError(kind, f"{e} ({body[:32]!r}...)", True))


# ---- blocking connection --------------------------------------------------------


class _Default:
    """Type of DEFAULT_TIMEOUT."""


#: "use the Connection's ``timeout``" (None already means "wait for ever").
DEFAULT_TIMEOUT: Final = _Default()
Timeout = float | None | _Default


class Connection:
    """One RSP peer over a connected stream socket; either end of the protocol.

    Not thread-safe: one thread sends and receives.  In ack mode (the default)
    received packets are acknowledged before ``recv`` returns them, damaged ones are
    answered ``-``, and ``send`` waits for the peer's ``+`` (resending on ``-``).
    After ``QStartNoAckMode`` has been answered ``OK``, both sides set
    ``ack_mode = False``.
    """

    def __init__(self, sock: socket.socket, *, ack_mode: bool = True,
                 max_payload: int = MAX_PAYLOAD, timeout: float | None = 10.0,
                 retries: int = 3, rle: bool = False) -> None:
        self.sock = sock
        self.ack_mode = ack_mode
        self.timeout = timeout           # default for send's ack wait and recv_packet
        self.retries = retries
        self.rle = rle                   # run-length encode what we send
        self.decoder = Decoder(max_payload)
        self._events: deque[Event] = deque()
        self._closed = False
        self._poll = select.poll()       # not select(): no FD_SETSIZE limit
        self._poll.register(sock, select.POLLIN)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # one small packet per round trip: Nagle would add tens of milliseconds
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def pending(self) -> bool:
        """Events already decoded but not yet returned (select() on the socket cannot
        see them)."""
        return bool(self._events)

    # ---- reading ----
    def _fill(self, deadline: float | None) -> bool:
        """Read once from the socket into the event queue; False on timeout."""
        if self._closed:
            raise ConnectionClosed("the gdb peer closed the connection")
        wait_ms = None if deadline is None else math.ceil(
            max(0.0, deadline - time.monotonic()) * 1000)
        if not self._poll.poll(wait_ms):
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self._closed = True
            raise ConnectionClosed("the gdb peer closed the connection")
        self._events.extend(self.decoder.feed(data))
        return True

    def _next_event(self, deadline: float | None) -> Event | None:
        while not self._events:
            if not self._fill(deadline):
                return None
            # a peer streaming garbage must not hold us past the deadline
            if not self._events and deadline is not None and time.monotonic() >= deadline:
                return None
        return self._events.popleft()

    def recv(self, timeout: float | None = None) -> Packet | Interrupt | FrameError | None:
        """The next packet, interrupt or frame error; None if ``timeout`` seconds pass
        first (``timeout=0`` polls, None waits for ever).  Acks and damaged frames are
        handled here; a ``FrameError`` with ``intact`` set expects an answer (``E01``).
        Raises ConnectionClosed at EOF."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ev = self._next_event(deadline)
            if ev is None:
                return None
            if isinstance(ev, Packet):
                if self.ack_mode:
                    self._write(b"+")
                return ev
            if isinstance(ev, Interrupt):
                return ev
            if isinstance(ev, BadChecksum):
                log.warning("bad checksum on %r: expected %02x, got %s", ev.raw,
                            ev.expected, "non-hex" if ev.received is None
                            else f"{ev.received:02x}")
                if self.ack_mode:
                    self._write(b"-")
                continue
            if isinstance(ev, FrameError):
                log.warning("bad packet (%s): %s", ev.kind, ev.detail)
                if self.ack_mode and ev.kind != "truncated":
                    self._write(b"+" if ev.intact else b"-")
                return ev
            # a stray '+'/'-' (e.g. after switching ack mode off): nothing to do

    def _timeout(self, timeout: Timeout) -> float | None:
        return self.timeout if isinstance(timeout, _Default) else timeout

    def recv_packet(self, timeout: Timeout = DEFAULT_TIMEOUT) -> bytes:
        """The next packet's payload, for a client waiting for a reply.  Interrupts
        are ignored; raises RspTimeout, ConnectionClosed, or RspError on an
        undecodable packet."""
        timeout = self._timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ev = self.recv(left)
            if ev is None:
                raise RspTimeout(f"no packet within {timeout} s")
            if isinstance(ev, Packet):
                return ev.payload
            if isinstance(ev, FrameError) and ev.intact:
                raise RspError(f"undecodable packet from the peer: {ev.detail}")

    # ---- writing ----
    def _write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            self._closed = True
            raise ConnectionClosed(f"the gdb peer closed the connection ({e})") from None

    def send(self, payload: bytes, timeout: Timeout = DEFAULT_TIMEOUT) -> None:
        """Send one packet; in ack mode wait for ``+`` (RspTimeout), resending on ``-``
        up to ``retries`` times (then RspError).  Packets and interrupts that arrive
        meanwhile are kept for ``recv``."""
        data = frame(payload, rle=self.rle)
        timeout = self._timeout(timeout)
        for _attempt in range(self.retries + 1):
            self._write(data)
            if not self.ack_mode:
                return
            if self._wait_ack(timeout):
                return
        raise RspError(f"peer refused {payload[:60]!r} {self.retries + 1} times")

    def _wait_ack(self, timeout: float | None) -> bool:
        """True on '+', False on '-'; other events stay queued in order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        held: list[Event] = []
        try:
            while True:
                ev = self._next_event(deadline)
                if ev is None:
                    raise RspTimeout(f"no acknowledgement within {timeout} s")
                if isinstance(ev, Ack):
                    return True
                if isinstance(ev, Nak):
                    return False
                held.append(ev)
        finally:
            self._events.extendleft(reversed(held))

    def send_interrupt(self) -> None:
        """Send 0x03 (what gdb sends on Ctrl-C)."""
        self._write(bytes((INTERRUPT_BYTE,)))

    def request(self, payload: bytes, timeout: Timeout = DEFAULT_TIMEOUT) -> bytes:
        """Client side: send a packet and return the payload of the reply."""
        self.send(payload, timeout)
        return self.recv_packet(timeout)
