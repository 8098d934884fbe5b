"""The authenticated TCP transport between hvdbg processes (primary, backup, devices).

What crosses a connection is the stream's own framing (:mod:`hvdbg.trace.log`: type,
length, seq, payload, CRC), each frame followed by a 32-byte HMAC-SHA256 tag.  The tag
is keyed by a *session key* derived from the shared key file and two fresh nonces, one
from each side, and covers the direction too; so a frame is accepted only by the
session and direction it was made for (replayed into another session it fails its tag;
repeated inside its own session it fails the sequence-number check of
:class:`hvdbg.replication.link.Receiver`), and a peer without the key cannot make one.

Handshake (all of it before any frame is accepted; ``K`` the shared key)::

    client -> server  HELLO     magic, version, purpose, nonce_c
    server -> client  CHALLENGE magic, version, nonce_s, header_s,
                                HMAC(K, "server" purpose nonce_c nonce_s header_s)
    client -> server  PROOF     header_c, HMAC(K, "client" purpose nonce_c nonce_s header_c)
    server -> client  VERDICT   ok, message, HMAC(session, "verdict" ok message)

    session key = HMAC(K, "session" purpose nonce_c nonce_s)

Each side proves it holds ``K`` over the other's fresh nonce (no replayed handshake
passes), and each sends the log :class:`~hvdbg.trace.log.Header` that describes its
guest (images by digest, RAM, clock, epoch, protocol): a backup built from other images
than its primary is refused here, with a message that says which image differs.

Bad input never crashes a process: everything a peer sends is length-checked before it
is read, and every refusal is a :class:`AuthError` with a one-line message.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

from hvdbg.trace.log import (
    FRAME_OVERHEAD,
    MAX_PAYLOAD,
    Header,
    StreamError,
    frame_length,
)

MAGIC = b"HVDBGNET"
NET_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 32
TAG_BYTES = 32
MAX_HEADER = 1 << 16
HANDSHAKE_S = 5.0              # a peer that does not finish its handshake in time is refused
IO_TIMEOUT_S = 0.5             # socket timeout: readers poll their stop flag this often
SEND_TIMEOUT_S = 5.0           # a send that cannot progress this long: the peer is gone
DEFAULT_HOST = "127.0.0.1"     # loopback unless told otherwise

PURPOSE_STREAM = 1             # primary -> backup: the replication stream (acks back)
PURPOSE_DEVICES = 2            # a (would-be) primary -> the device host
PURPOSES = {PURPOSE_STREAM: "replication stream", PURPOSE_DEVICES: "device host"}

_HELLO = struct.Struct(f">8sHB{NONCE_BYTES}s")
_CHALLENGE = struct.Struct(f">8sH{NONCE_BYTES}sI")


class AuthError(Exception):
    """A peer was refused (no key, wrong key, garbage, foreign session, different guest);
    the message is one line, for the user."""


# ---- keys and addresses ---------------------------------------------------------------

def keygen(path: str | Path, force: bool = False) -> Path:
    """Write a fresh random key (hex) to ``path``, readable by its owner only."""
    p = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(p, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)            # also when --force reuses an existing file
        os.write(fd, os.urandom(KEY_BYTES).hex().encode() + b"\n")
    finally:
        os.close(fd)
    return p


def load_key(path: str | Path) -> bytes:
    """The key in ``path``; refused (AuthError) when others may read it, as ssh does."""
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text().strip()
    except OSError as e:
        raise AuthError(f"key file {p}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise AuthError(f"key file {p}: not a key written by 'hvdbg keygen'") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthError(f"key file {p} is accessible by others (mode "
                        f"{stat.S_IMODE(st.st_mode):03o}): chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise AuthError(f"key file {p}: not a key written by 'hvdbg keygen'")
    return key


def parse_address(text: str, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); ValueError with a message otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = default_host
    host = host.strip("[]") or default_host
    try:
        n = int(port)
    except ValueError:
        raise ValueError(f"{text!r}: expected [HOST:]PORT") from None
    if not 0 <= n <= 65535:
        raise ValueError(f"{text!r}: port must be 0 .. 65535")
    return host, n


# ---- the handshake ---------------------------------------------------------------------

def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def _recv_exact(sock: socket.socket, n: int, what: str) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except TimeoutError:
            raise AuthError(f"the peer sent an incomplete {what} (timed out)") from None
        except OSError as e:
            raise AuthError(f"connection lost during the {what}: {e.strerror or e}") from None
        if not chunk:
            raise AuthError(f"the peer closed the connection during the {what}")
        buf += chunk
    return bytes(buf)


def header_problem(mine: bytes, theirs: bytes) -> str:
    """Why two guests differ ("" if they do not): compared field by field, so the
    refusal names what differs (image paths may differ; their contents may not)."""
    if mine == theirs:
        return ""
    try:
        a, _ = Header.parse_stream(io.BytesIO(mine))
        b, _ = Header.parse_stream(io.BytesIO(theirs))
    except StreamError as e:
        return f"the peer's guest description is unreadable ({e})"
    ia = {n: h for n, _, h in a.images}
    ib = {n: h for n, _, h in b.images}
    for name in ("bios", "kernel", "initrd"):
        if ia.get(name) != ib.get(name):
            def d(h: bytes | None) -> str:
                return "none" if h is None else "sha256 " + h.hex()[:16]
            return f"the peer runs another {name} ({d(ib.get(name))}, here {d(ia.get(name))})"
    for field in ("hvdbg_version", "protocol", "epoch", "ram_mib", "clock",
                  "ticks_per_insn", "append"):
        va, vb = getattr(a, field), getattr(b, field)
        if va != vb:
            return f"the peer's {field.replace('_', ' ')} is {vb!r}, here {va!r}"
    return ""


def guest_header(header: Header) -> bytes:
    """The bytes two peers compare: the log header without what may differ between the
    processes of one run (their command lines and image paths, their role names)."""
    h = Header(header.hvdbg_version, "pair", header.protocol, header.epoch,
               header.ram_mib, header.clock, header.ticks_per_insn,
               [(n, "", d) for n, _, d in header.images], header.append, "")
    return h.build()


class Conn:
    """An authenticated connection after its handshake: :meth:`send` and :meth:`recv`
    whole frames; each carries a tag only this session and direction accept."""

    def __init__(self, sock: socket.socket, session: bytes, client: bool,
                 peer_header: bytes, peer: str) -> None:
        self.sock, self.session = sock, session
        self.peer_header, self.peer = peer_header, peer
        self._out_dir = b"c" if client else b"s"
        self._in_dir = b"s" if client else b"c"
        self._send_lock = threading.Lock()
        self.closed = False
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0
        sock.settimeout(IO_TIMEOUT_S)

    def send(self, frame: bytes) -> None:
        """OSError when the peer is gone (or cannot take data for SEND_TIMEOUT_S)."""
        tag = _mac(self.session, self._out_dir, frame)
        with self._send_lock:
            if self.closed:
                raise OSError("connection closed")
            self.sock.settimeout(SEND_TIMEOUT_S)
            try:
                self.sock.sendall(frame + tag)
            except OSError:
                self.close()               # a partly sent frame: the stream is broken
                raise
            finally:
                if not self.closed:
                    self.sock.settimeout(IO_TIMEOUT_S)
            self.frames_out += 1
            self.bytes_out += len(frame) + TAG_BYTES

    def recv(self, stop: Callable[[], bool] = lambda: False,
             timeout: float | None = None) -> bytes | None:
        """The next frame whose tag checks out; None at the peer's end of stream (or when
        ``stop()`` became true, or ``timeout`` passed with nothing).  AuthError for a frame
        this session did not make, or a frame too long to be one."""
        t0 = time.monotonic()
        head = self._read(FRAME_OVERHEAD - 4, stop, t0, timeout, first=True)
        if head is None:
            return None
        n = frame_length(head)
        assert n is not None
        if n - FRAME_OVERHEAD > MAX_PAYLOAD:
            raise AuthError(f"{self.peer}: a frame of {n} bytes is implausible (garbage?)")
        rest = self._read(n - len(head) + TAG_BYTES, stop, t0, None)
        if rest is None:
            raise AuthError(f"{self.peer}: the connection ended inside a frame")
        frame, tag = head + rest[:-TAG_BYTES], rest[-TAG_BYTES:]
        if not hmac.compare_digest(tag, _mac(self.session, self._in_dir, frame)):
            raise AuthError(f"{self.peer}: a frame failed authentication (forged, "
                            f"damaged or replayed from another session): refused")
        self.frames_in += 1
        self.bytes_in += len(frame) + TAG_BYTES
        return frame

    def _read(self, n: int, stop: Callable[[], bool], t0: float, timeout: float | None,
              first: bool = False) -> bytes | None:
        buf = bytearray()
        while len(buf) < n:
            if self.closed:
                return None
            try:
                chunk = self.sock.recv(n - len(buf))
            except TimeoutError:
                if stop() or (first and not buf and timeout is not None
                              and time.monotonic() - t0 > timeout):
                    return None
                continue
            except OSError:
                return None
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def client_handshake(sock: socket.socket, key: bytes, purpose: int, header: bytes,
                     peer: str) -> Conn:
    """Authenticate to a server; AuthError (one line) when refused."""
    sock.settimeout(HANDSHAKE_S)
    nonce_c = os.urandom(NONCE_BYTES)
    p = bytes([purpose])
    try:
        sock.sendall(_HELLO.pack(MAGIC, NET_VERSION, purpose, nonce_c))
    except OSError as e:
        raise AuthError(f"{peer}: cannot send the handshake: {e.strerror or e}") from None
    magic, version, nonce_s, hlen = _CHALLENGE.unpack(
        _recv_exact(sock, _CHALLENGE.size, "handshake"))
    if magic != MAGIC:
        raise AuthError(f"{peer} is not an hvdbg {PURPOSES.get(purpose, '')} (bad magic)")
    if version != NET_VERSION:
        raise AuthError(f"{peer} speaks hvdbg network version {version}, this is "
                        f"{NET_VERSION}")
    if hlen > MAX_HEADER:
        raise AuthError(f"{peer}: implausible handshake (garbage?)")
    theirs = _recv_exact(sock, hlen, "handshake")
    tag = _recv_exact(sock, TAG_BYTES, "handshake")
    if not hmac.compare_digest(tag, _mac(key, b"server", p, nonce_c, nonce_s, theirs)):
        raise AuthError(f"{peer} does not hold this key (or is not the "
                        f"{PURPOSES.get(purpose, 'peer')} it should be): refused")
    proof = _mac(key, b"client", p, nonce_c, nonce_s, header)
    try:
        sock.sendall(struct.pack(">I", len(header)) + header + proof)
    except OSError as e:
        raise AuthError(f"{peer}: connection lost in the handshake: {e.strerror or e}") \
            from None
    session = _mac(key, b"session", p, nonce_c, nonce_s)
    ok, mlen = struct.unpack(">BH", _recv_exact(sock, 3, "handshake verdict"))
    msg = _recv_exact(sock, mlen, "handshake verdict")
    vtag = _recv_exact(sock, TAG_BYTES, "handshake verdict")
    if not hmac.compare_digest(vtag, _mac(session, b"verdict", bytes([ok]), msg)):
        raise AuthError(f"{peer}: forged handshake verdict: refused")
    if not ok:
        raise AuthError(f"{peer} refused this connection: {msg.decode(errors='replace')}")
    return Conn(sock, session, True, theirs, peer)


def server_handshake(sock: socket.socket, key: bytes, purpose: int, header: bytes,
                     check: Callable[[bytes], str], peer: str) -> Conn:
    """Authenticate a client that connected; ``check(their_header)`` says why their guest
    does not fit ("" if it does).  AuthError (one line) when the client is refused; a
    client that proved the key is told why."""
    sock.settimeout(HANDSHAKE_S)
    magic, version, want, nonce_c = _HELLO.unpack(_recv_exact(sock, _HELLO.size,
                                                              "handshake"))
    if magic != MAGIC:
        raise AuthError(f"{peer} is not an hvdbg process (garbage instead of a handshake): "
                        f"refused")
    if version != NET_VERSION:
        raise AuthError(f"{peer} speaks hvdbg network version {version}: refused")
    if want != purpose:
        raise AuthError(f"{peer} wants a {PURPOSES.get(want, f'purpose {want}')}, this is "
                        f"a {PURPOSES[purpose]}: refused")
    p = bytes([purpose])
    nonce_s = os.urandom(NONCE_BYTES)
    try:
        sock.sendall(_CHALLENGE.pack(MAGIC, NET_VERSION, nonce_s, len(header)) + header
                     + _mac(key, b"server", p, nonce_c, nonce_s, header))
    except OSError as e:
        raise AuthError(f"{peer}: connection lost in the handshake: {e.strerror or e}") \
            from None
    (hlen,) = struct.unpack(">I", _recv_exact(sock, 4, "handshake"))
    if hlen > MAX_HEADER:
        raise AuthError(f"{peer}: implausible handshake (garbage?): refused")
    theirs = _recv_exact(sock, hlen, "handshake")
    tag = _recv_exact(sock, TAG_BYTES, "handshake")
    if not hmac.compare_digest(tag, _mac(key, b"client", p, nonce_c, nonce_s, theirs)):
        raise AuthError(f"{peer} does not hold the key: refused")
    session = _mac(key, b"session", p, nonce_c, nonce_s)
    problem = check(theirs)
    msg = problem.encode()[:1000]
    ok = b"\x00" if problem else b"\x01"
    try:
        sock.sendall(struct.pack(">BH", ok[0], len(msg)) + msg
                     + _mac(session, b"verdict", ok, msg))
    except OSError:
        pass
    if problem:
        raise AuthError(f"{peer} refused: {problem}")
    return Conn(sock, session, False, theirs, peer)


def connect(address: tuple[str, int], key: bytes, purpose: int, header: bytes,
            timeout: float = 10.0) -> Conn:
    """Connect (retrying while the server is not up yet, for ``timeout`` seconds) and
    authenticate.  AuthError when refused or unreachable."""
    host, port = address
    peer = f"{host}:{port}"
    t_end = time.monotonic() + timeout
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=HANDSHAKE_S)
            break
        except OSError as e:
            if time.monotonic() >= t_end:
                raise AuthError(f"cannot connect to {peer}: {e.strerror or e}") from None
            time.sleep(0.05)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        return client_handshake(sock, key, purpose, header, peer)
    except BaseException:
        sock.close()
        raise


def listen(address: tuple[str, int]) -> socket.socket:
    srv = socket.create_server(address, reuse_port=False)
    srv.settimeout(IO_TIMEOUT_S)
    return srv


def accept(srv: socket.socket, key: bytes, purpose: int, header: bytes,
           check: Callable[[bytes], str], stop: Callable[[], bool],
           on_refused: Callable[[str], None], deadline: float | None = None) -> Conn | None:
    """Accept clients until one authenticates (refused ones are reported through
    ``on_refused`` and closed: nothing they sent is used).  None when ``stop()`` or the
    ``deadline`` (time.monotonic) came first."""
    while not stop():
        if deadline is not None and time.monotonic() >= deadline:
            return None
        try:
            sock, addr = srv.accept()
        except TimeoutError:
            continue
        except OSError:
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = f"{addr[0]}:{addr[1]}"
        try:
            return server_handshake(sock, key, purpose, header, check, peer)
        except AuthError as e:
            msg = str(e)
            on_refused(msg if "refused" in msg else f"{msg}: refused")
        except Exception as e:  # noqa: BLE001 (bad input never crashes a process)
            on_refused(f"{peer}: refused: {e}")
        sock.close()
    return None


# ---- the stream over a connection: a Channel for StreamOut, a pump for Receiver ------

class TcpChannel:
    """One direction of a :class:`Conn` behind :class:`hvdbg.replication.link.Channel`'s
    interface (what StreamOut and the backup's acknowledgements use)."""

    synchronous = False

    def __init__(self, conn: Conn, name: str) -> None:
        self.conn, self.name = conn, name
        self.sent = 0
        self.bytes = 0

    def send(self, frame: bytes) -> None:
        from hvdbg.replication.link import LinkError
        self.sent += 1
        self.bytes += len(frame)
        try:
            self.conn.send(frame)
        except OSError as e:
            raise LinkError(f"{self.name}: the peer {self.conn.peer} is gone "
                            f"({e.strerror or e})") from None

    def busy_until(self) -> float:
        return 0.0

    def close(self) -> None:
        self.conn.close()


def pump(conn: Conn, deliver: Callable[[bytes], None], on_end: Callable[[str], None],
         stop: Callable[[], bool], name: str) -> threading.Thread:
    """A daemon thread handing each authenticated frame of ``conn`` to ``deliver`` (a
    :class:`~hvdbg.replication.link.Receiver`: CRC and sequence checks), in order.  When
    the peer goes away, or sends a frame this session did not make, the connection is
    closed (nothing more from it is used) and ``on_end(why)`` is called once."""

    def run() -> None:
        why = "the peer closed the connection"
        try:
            while True:
                frame = conn.recv(stop)
                if frame is None:
                    if stop():
                        return
                    break
                deliver(frame)
        except AuthError as e:
            why = str(e)
        except Exception as e:  # noqa: BLE001 (bad input never crashes a process)
            why = f"{conn.peer}: {e}"
        conn.close()
        on_end(why)

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t
