"""GDB remote protocol requests as typed values, and the replies' wire forms.

Parsing is separate from applying (as in rr's GdbServer): ``parse(payload)`` turns the
payload of a packet (already unframed by ``rsp``) into one of the request dataclasses
below, and the server decides what to do with it.  Anything well formed that hvdbg
does not know becomes ``Unknown`` (the server answers with an empty packet, which gdb
reads as "not supported"); a known packet with bad syntax raises ``ParseError`` (the
server answers ``E01``, see ``error``).

Numbers on the wire are hex without ``0x``; thread ids use the multiprocess syntax
``pPID.TID`` where ``-1`` means all and ``0`` means any (``ThreadId``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Final, Literal

SIGINT: Final = 2          # gdb's signal numbers (not the host's)
SIGTRAP: Final = 5

OK: Final = b"OK"
EMPTY: Final = b""         # "not supported"
END_OF_LIST: Final = b"l"  # qsThreadInfo after the last thread


class ParseError(ValueError):
    """A known request with malformed arguments; the message says what is wrong."""


# ---- small syntax helpers --------------------------------------------------------

_HEX_RE: Final = re.compile(rb"[0-9a-fA-F]+")


def parse_hex(text: bytes, what: str = "number") -> int:
    """A non-negative hex number; ParseError (naming ``what``) otherwise."""
    if not _HEX_RE.fullmatch(text):
        raise ParseError(f"bad {what}: {text[:40]!r} is not a hex number")
    return int(text, 16)


def hex_encode(data: bytes) -> bytes:
    return data.hex().encode()


def hex_decode(text: bytes, what: str = "hex data") -> bytes:
    try:
        if len(text) % 2:
            raise ValueError
        return bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise ParseError(f"bad {what}: {text[:40]!r}") from None


def _split(text: bytes, sep: bytes, n: int, what: str) -> list[bytes]:
    parts = text.split(sep, n - 1)
    if len(parts) != n:
        raise ParseError(f"{what}: expected {n} fields separated by {sep.decode()!r}, "
                         f"got {text[:60]!r}")
    return parts


# ---- thread ids ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadId:
    """``pPID.TID``, ``pPID`` (all threads of PID), ``TID``; -1 all, 0 any.

    ``pid`` is None when the id was given without the ``p`` prefix (gdb without
    ``multiprocess+``)."""
    pid: int | None
    tid: int

    ALL: ClassVar[int] = -1
    ANY: ClassVar[int] = 0

    @staticmethod
    def _num(text: bytes, what: str) -> int:
        if text == b"-1":
            return -1
        return parse_hex(text, what)

    @classmethod
    def parse(cls, text: bytes | str) -> ThreadId:
        if isinstance(text, str):
            text = text.encode()
        if text.startswith(b"p"):
            pid_s, dot, tid_s = text[1:].partition(b".")
            pid = cls._num(pid_s, "process id")
            return cls(pid, cls._num(tid_s, "thread id") if dot else cls.ALL)
        return cls(None, cls._num(text, "thread id"))

    def format(self, multiprocess: bool = True) -> bytes:
        def num(v: int) -> bytes:
            return b"-1" if v == -1 else b"%x" % v
        if self.pid is None or not multiprocess:
            return num(self.tid)
        return b"p" + num(self.pid) + b"." + num(self.tid)

    def __str__(self) -> str:
        return self.format().decode()


# ---- requests --------------------------------------------------------------------
# One dataclass per request.  Requests without arguments are still classes, so a
# server can ``match`` on all of them the same way.


@dataclass(frozen=True, slots=True)
class QueryHaltReason:          # ?
    pass


@dataclass(frozen=True, slots=True)
class ExtendedMode:             # !  (sent by "target extended-remote"; answer OK)
    pass


@dataclass(frozen=True, slots=True)
class ReadRegisters:            # g
    pass


@dataclass(frozen=True, slots=True)
class WriteRegisters:           # G hex
    data: bytes


@dataclass(frozen=True, slots=True)
class ReadRegister:             # p n
    regno: int


@dataclass(frozen=True, slots=True)
class WriteRegister:            # P n=hex  (value in target byte order)
    regno: int
    value: bytes


@dataclass(frozen=True, slots=True)
class ReadMemory:               # m addr,len
    addr: int
    length: int


@dataclass(frozen=True, slots=True)
class WriteMemory:              # M addr,len:hex  and  X addr,len:binary
    addr: int
    data: bytes
    binary: bool = False        # came as X (gdb probes X support with a 0-byte write)


class BreakpointType(IntEnum):
    SOFTWARE = 0
    HARDWARE = 1
    WRITE_WATCH = 2
    READ_WATCH = 3
    ACCESS_WATCH = 4


@dataclass(frozen=True, slots=True)
class Breakpoint:               # Z type,addr,kind[;...]  /  z type,addr,kind
    insert: bool
    type: BreakpointType
    addr: int
    kind: int                   # breakpoint: instruction size; watchpoint: byte length
    extra: bytes = b""          # ";cond...;cmds..." (not supported: kept verbatim)


@dataclass(frozen=True, slots=True)
class Step:                     # s [addr]  /  S sig[;addr]
    signal: int = 0
    addr: int | None = None


@dataclass(frozen=True, slots=True)
class Continue:                 # c [addr]  /  C sig[;addr]
    signal: int = 0
    addr: int | None = None


@dataclass(frozen=True, slots=True)
class ReverseStep:              # bs
    pass


@dataclass(frozen=True, slots=True)
class ReverseContinue:          # bc
    pass


@dataclass(frozen=True, slots=True)
class VContQuery:               # vCont?
    pass


@dataclass(frozen=True, slots=True)
class VContAction:
    op: Literal["c", "C", "s", "S", "t", "r"]
    thread: ThreadId | None = None      # None: the default action
    signal: int = 0                     # C and S
    start: int = 0                      # r: step while start <= pc < end
    end: int = 0


@dataclass(frozen=True, slots=True)
class VCont:                    # vCont;action[:thread]...
    actions: tuple[VContAction, ...]


@dataclass(frozen=True, slots=True)
class VAttach:                  # vAttach;pid
    pid: int


@dataclass(frozen=True, slots=True)
class VKill:                    # vKill;pid
    pid: int


@dataclass(frozen=True, slots=True)
class VRun:                     # vRun;filename-hex[;arg-hex]...
    filename: bytes             # empty: "the default program"
    args: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class VMustReplyEmpty:          # vMustReplyEmpty (answer empty: probes unknown-v handling)
    pass


@dataclass(frozen=True, slots=True)
class VStopped:                 # vStopped (non-stop mode notification ack)
    pass


@dataclass(frozen=True, slots=True)
class Kill:                     # k
    pass


@dataclass(frozen=True, slots=True)
class Detach:                   # D  /  D;pid
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class SetThread:                # H g|c thread-id
    op: Literal["g", "c"]       # g: registers and memory; c: step/continue
    thread: ThreadId


@dataclass(frozen=True, slots=True)
class ThreadAlive:              # T thread-id
    thread: ThreadId


@dataclass(frozen=True, slots=True)
class QSupported:               # qSupported[:feature;...]
    features: tuple[bytes, ...] = ()

    def value(self, name: bytes | str) -> bool | bytes | None:
        """``name+`` True, ``name-`` False, ``name=v`` v, absent (or ``name?``) None."""
        if isinstance(name, str):
            name = name.encode()
        for f in self.features:
            if f == name + b"+":
                return True
            if f == name + b"-":
                return False
            if f.startswith(name + b"="):
                return f[len(name) + 1:]
        return None


@dataclass(frozen=True, slots=True)
class XferRead:                 # qXfer:object:read:annex:offset,length
    object: str                 # "features", "threads", "exec-file", ...
    annex: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class ThreadInfoFirst:          # qfThreadInfo
    pass


@dataclass(frozen=True, slots=True)
class ThreadInfoNext:           # qsThreadInfo
    pass


@dataclass(frozen=True, slots=True)
class CurrentThread:            # qC
    pass


@dataclass(frozen=True, slots=True)
class Attached:                 # qAttached[:pid]  (answer 1: attached, detach on quit)
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class MonitorCommand:           # qRcmd,hex  ("monitor ..." in gdb)
    command: bytes


@dataclass(frozen=True, slots=True)
class Offsets:                  # qOffsets
    pass


@dataclass(frozen=True, slots=True)
class Symbol:                   # qSymbol::  /  qSymbol:value-hex:name-hex
    name: bytes | None = None   # None with "qSymbol::": gdb offers to look symbols up
    value: int | None = None    # None: gdb does not know the symbol


@dataclass(frozen=True, slots=True)
class StartNoAckMode:           # QStartNoAckMode
    pass


@dataclass(frozen=True, slots=True)
class TraceStatus:              # qTStatus (answer empty or "T0": no tracepoints)
    pass


@dataclass(frozen=True, slots=True)
class Unknown:                  # anything else: answer EMPTY
    payload: bytes = field(default=b"")


Request = (QueryHaltReason | ExtendedMode | ReadRegisters | WriteRegisters | ReadRegister
           | WriteRegister | ReadMemory | WriteMemory | Breakpoint | Step | Continue
           | ReverseStep | ReverseContinue | VContQuery | VCont | VAttach | VKill | VRun
           | VMustReplyEmpty | VStopped | Kill | Detach | SetThread | ThreadAlive
           | QSupported | XferRead | ThreadInfoFirst | ThreadInfoNext | CurrentThread
           | Attached | MonitorCommand | Offsets | Symbol | StartNoAckMode | TraceStatus
           | Unknown)


# ---- parsing ---------------------------------------------------------------------

# Requests that are their whole payload.
_EXACT: Final[dict[bytes, Request]] = {
    b"?": QueryHaltReason(), b"!": ExtendedMode(), b"g": ReadRegisters(), b"k": Kill(),
    b"bs": ReverseStep(), b"bc": ReverseContinue(), b"vCont?": VContQuery(),
    b"vMustReplyEmpty": VMustReplyEmpty(), b"vStopped": VStopped(),
    b"qfThreadInfo": ThreadInfoFirst(), b"qsThreadInfo": ThreadInfoNext(),
    b"qC": CurrentThread(), b"qOffsets": Offsets(), b"QStartNoAckMode": StartNoAckMode(),
    b"qTStatus": TraceStatus(), b"qSupported": QSupported(), b"qAttached": Attached(),
    b"D": Detach(), b"s": Step(), b"c": Continue(),
}


def _addr_len(text: bytes, what: str) -> tuple[int, int]:
    a, n = _split(text, b",", 2, what)
    return parse_hex(a, f"{what} address"), parse_hex(n, f"{what} length")


def _memory_write(args: bytes, binary: bool) -> WriteMemory:
    what = "X" if binary else "M"
    head, colon, data = args.partition(b":")
    if not colon:
        raise ParseError(f"{what}: missing ':' before the data")
    addr, length = _addr_len(head, what)
    if not binary:
        data = hex_decode(data, "M data")
    if len(data) != length:
        raise ParseError(f"{what}: length says {length} bytes but {len(data)} were sent")
    return WriteMemory(addr, data, binary)


def _breakpoint(args: bytes, insert: bool) -> Breakpoint:
    letter = "Z" if insert else "z"
    main, _, extra = args.partition(b";")
    t, a, k = _split(main, b",", 3, letter)
    typ = parse_hex(t, f"{letter} type")
    if typ > 4:
        raise ParseError(f"{letter}: unknown breakpoint type {typ}")
    return Breakpoint(insert, BreakpointType(typ), parse_hex(a, f"{letter} address"),
                      parse_hex(k, f"{letter} kind"), b";" + extra if extra else b"")


def _resume(letter: int, args: bytes) -> Step | Continue:
    cls = Step if letter in b"sS" else Continue
    if letter in b"sc":
        return cls(0, parse_hex(args, "resume address") if args else None)
    sig_s, semi, addr_s = args.partition(b";")
    sig = parse_hex(sig_s, "signal")
    return cls(sig, parse_hex(addr_s, "resume address") if semi else None)


def _vcont(args: bytes) -> VCont:
    if not args.startswith(b";") or args == b";":
        raise ParseError("vCont: no actions")
    actions: list[VContAction] = []
    for item in args[1:].split(b";"):
        act, colon, tid = item.partition(b":")
        thread = ThreadId.parse(tid) if colon else None
        if not act:
            raise ParseError("vCont: empty action")
        op = chr(act[0])
        rest = act[1:]
        if op in "cst":
            if rest:
                raise ParseError(f"vCont: action {op!r} takes no argument: {act!r}")
            actions.append(VContAction(op, thread))  # type: ignore[arg-type]
        elif op in "CS":
            actions.append(VContAction(op, thread, signal=parse_hex(rest, "vCont signal")))  # type: ignore[arg-type]
        elif op == "r":
            s, e = _split(rest, b",", 2, "vCont r")
            actions.append(VContAction("r", thread, start=parse_hex(s, "vCont r start"),
                                       end=parse_hex(e, "vCont r end")))
        else:
            raise ParseError(f"vCont: unknown action {act[:20]!r}")
    if sum(a.thread is None for a in actions) > 1:
        raise ParseError("vCont: more than one default action")
    return VCont(tuple(actions))


def _xfer(args: bytes) -> XferRead | Unknown:
    # object:read:annex:offset,length (the annex itself cannot contain ':')
    parts = args.split(b":")
    if len(parts) != 4 or parts[1] != b"read":
        if len(parts) >= 2 and parts[1] != b"read":
            return Unknown(b"qXfer:" + args)       # write and other operations
        raise ParseError(f"qXfer: expected object:read:annex:offset,length, got {args[:60]!r}")
    obj, _, annex, ol = parts
    off, length = _addr_len(ol, "qXfer")
    try:
        return XferRead(obj.decode("ascii"), annex.decode("ascii"), off, length)
    except UnicodeDecodeError:
        raise ParseError(f"qXfer: non-ASCII object or annex {args[:60]!r}") from None


_Q_NAME_RE: Final = re.compile(rb"[^:,;]*")


def _q(payload: bytes) -> Request:
    # the name runs up to the first ':', ',' or ';'
    m = _Q_NAME_RE.match(payload)
    end = m.end() if m else len(payload)
    name, sep, args = payload[:end], payload[end:end + 1], payload[end + 1:]
    if name == b"qSupported" and sep == b":":
        return QSupported(tuple(f for f in args.split(b";") if f))
    if name == b"qXfer" and sep == b":":
        return _xfer(args)
    if name == b"qAttached" and sep == b":":
        return Attached(parse_hex(args, "qAttached pid"))
    if name == b"qRcmd" and sep == b",":
        return MonitorCommand(hex_decode(args, "qRcmd command"))
    if name == b"qSymbol" and sep == b":":
        value_s, colon, name_s = args.partition(b":")
        if not colon:
            raise ParseError(f"qSymbol: expected value:name, got {args[:60]!r}")
        if not value_s and not name_s:
            return Symbol()
        return Symbol(hex_decode(name_s, "qSymbol name"),
                      parse_hex(value_s, "qSymbol value") if value_s else None)
    return Unknown(payload)


def _v(payload: bytes) -> Request:
    name, _, args = payload.partition(b";")
    if name == b"vCont":
        return _vcont(payload[5:])
    if name == b"vAttach":
        return VAttach(parse_hex(args, "vAttach pid"))
    if name == b"vKill":
        return VKill(parse_hex(args, "vKill pid"))
    if name == b"vRun":
        fields = args.split(b";") if args else [b""]
        return VRun(hex_decode(fields[0], "vRun filename"),
                    tuple(hex_decode(a, "vRun argument") for a in fields[1:]))
    return Unknown(payload)


def parse(payload: bytes) -> Request:
    """The request in a packet's payload.  Raises ParseError on bad syntax."""
    exact = _EXACT.get(payload)
    if exact is not None:
        return exact
    if not payload:
        return Unknown(payload)
    letter, args = payload[0], payload[1:]
    if letter == ord("q") or letter == ord("Q"):
        return _q(payload)
    if letter == ord("v"):
        return _v(payload)
    if letter == ord("G"):
        return WriteRegisters(hex_decode(args, "G register data"))
    if letter == ord("p"):
        return ReadRegister(parse_hex(args, "register number"))
    if letter == ord("P"):
        n, eq, v = args.partition(b"=")
        if not eq:
            raise ParseError("P: expected n=value")
        return WriteRegister(parse_hex(n, "register number"), hex_decode(v, "P value"))
    if letter == ord("m"):
        return ReadMemory(*_addr_len(args, "m"))
    if letter == ord("M"):
        return _memory_write(args, binary=False)
    if letter == ord("X"):
        return _memory_write(args, binary=True)
    if letter == ord("Z") or letter == ord("z"):
        return _breakpoint(args, insert=letter == ord("Z"))
    if letter in b"sScC":
        return _resume(letter, args)
    if letter == ord("D"):
        if not args.startswith(b";"):
            raise ParseError(f"D: expected D or D;pid, got {payload[:40]!r}")
        return Detach(parse_hex(args[1:], "D pid"))
    if letter == ord("H"):
        if not args or args[:1] not in (b"g", b"c"):
            raise ParseError(f"H: expected Hg or Hc and a thread id, got {payload[:40]!r}")
        return SetThread(chr(args[0]), ThreadId.parse(args[1:]))  # type: ignore[arg-type]
    if letter == ord("T"):
        return ThreadAlive(ThreadId.parse(args))
    return Unknown(payload)


# ---- replies ---------------------------------------------------------------------


def error(code: int = 1) -> bytes:
    """``Exx``: gdb shows the number, nothing more."""
    return b"E%02x" % (code & 0xFF)


WatchKind = Literal["watch", "rwatch", "awatch"]
_WATCH_OF_TYPE: Final[dict[BreakpointType, WatchKind]] = {
    BreakpointType.WRITE_WATCH: "watch", BreakpointType.READ_WATCH: "rwatch",
    BreakpointType.ACCESS_WATCH: "awatch"}


def watch_kind(t: BreakpointType) -> WatchKind:
    """The stop-reply keyword for a watchpoint type (Z2/Z3/Z4)."""
    try:
        return _WATCH_OF_TYPE[t]
    except KeyError:
        raise ValueError(f"{t!r} is not a watchpoint type") from None


def stop_reply(signal: int = SIGTRAP, *, thread: ThreadId | None = None,
               multiprocess: bool = True, swbreak: bool = False, hwbreak: bool = False,
               watch: WatchKind | None = None, watch_addr: int = 0,
               replaylog: Literal["begin", "end"] | None = None,
               registers: Mapping[int, bytes] | None = None) -> bytes:
    """``T`` stop reply, e.g. ``T05thread:p1.1;swbreak:;``.

    At most one stop reason; ``registers`` (gdb number -> target-order bytes) saves
    gdb a ``g`` or ``p`` for the PC after every stop.
    """
    reasons = (swbreak, hwbreak, watch is not None, replaylog is not None)
    if sum(reasons) > 1:
        raise ValueError("a stop reply carries at most one stop reason")
    out = bytearray(b"T%02x" % (signal & 0xFF))
    for regno, value in (registers or {}).items():
        out += b"%x:%s;" % (regno, hex_encode(value))
    if thread is not None:
        out += b"thread:" + thread.format(multiprocess) + b";"
    if swbreak:
        out += b"swbreak:;"
    elif hwbreak:
        out += b"hwbreak:;"
    elif watch is not None:
        if watch not in ("watch", "rwatch", "awatch"):
            raise ValueError(f"bad watch kind {watch!r}")
        out += b"%s:%x;" % (watch.encode(), watch_addr)
    elif replaylog is not None:
        if replaylog not in ("begin", "end"):
            raise ValueError(f"bad replaylog value {replaylog!r}")
        out += b"replaylog:%s;" % replaylog.encode()
    return bytes(out)


def exited(status: int = 0, pid: int | None = None) -> bytes:
    """``W``: the process exited with ``status``."""
    return b"W%02x" % (status & 0xFF) + (b";process:%x" % pid if pid is not None else b"")


def terminated(signal: int, pid: int | None = None) -> bytes:
    """``X``: the process was killed by ``signal``."""
    return b"X%02x" % (signal & 0xFF) + (b";process:%x" % pid if pid is not None else b"")


def console_output(text: str | bytes, max_payload: int = 4096) -> list[bytes]:
    """``O`` packets carrying ``text`` (hex), split to fit ``max_payload``; gdb prints
    them (as monitor output while a qRcmd runs).  Empty text gives no packets, since a
    bare ``O`` would be taken for a reply."""
    if isinstance(text, str):
        text = text.encode()
    step = max(1, (max_payload - 1) // 2)
    return [b"O" + hex_encode(text[i:i + step]) for i in range(0, len(text), step)]


def thread_list(threads: Iterable[ThreadId], multiprocess: bool = True) -> bytes:
    """qfThreadInfo / qsThreadInfo answer ``m id,id,...`` (END_OF_LIST after the last)."""
    ids = [t.format(multiprocess) for t in threads]
    if not ids:
        return END_OF_LIST
    return b"m" + b",".join(ids)


def current_thread(thread: ThreadId, multiprocess: bool = True) -> bytes:
    return b"QC" + thread.format(multiprocess)


def supported(packet_size: int, features: Sequence[str | bytes] = ()) -> bytes:
    """qSupported answer: ``PacketSize=hex;feature+;...``."""
    items = [b"PacketSize=%x" % packet_size]
    items += [f.encode() if isinstance(f, str) else f for f in features]
    return b";".join(items)


def vcont_actions(actions: str = "cCsSt") -> bytes:
    """vCont? answer, e.g. ``vCont;c;C;s;S;t`` (gdb needs at least c, C, s and S)."""
    return b"vCont" + b"".join(b";" + a.encode() for a in actions)


def xfer_chunk(document: bytes, offset: int, length: int) -> bytes:
    """qXfer read answer: ``m`` + data if more follows, ``l`` + data for the last part
    (``l`` alone past the end).  The binary data is escaped by the framing."""
    part = document[offset:offset + length]
    more = offset + len(part) < len(document)
    return (b"m" if more else b"l") + part
