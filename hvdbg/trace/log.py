"""The stream: one binary format for live replication, recording and replay
(architecture section 3; documented in docs/log-format.md).

A log file is a :data:`HEADER` followed by :data:`FRAME` s; the link between a primary
and a backup carries the same frames.  Every frame has a sequence number and a CRC-32,
so loss, duplication, reordering and corruption are detected, never absorbed.

The schema is written once, with ``construct``.  Parsing and building a frame with
``construct`` costs microseconds, which the primary would pay on every I/O exit, so the
hot path uses :mod:`struct` codecs *derived from* these definitions
(:func:`_fast_codec`); tests check that both agree byte for byte.
"""
from __future__ import annotations

import enum
import errno
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import construct as c

from hvdbg.machine import memmap

FORMAT_VERSION = 1
MAGIC = b"HVDBGLOG"
CLOCKS = ("virtual", "host")
IMAGE_NAMES = ("bios", "kernel", "initrd")


class RecordType(enum.IntEnum):
    EPOCHS = 1      # epoch ends first..first+n-1 with their digests (the [end, E] messages)
    ENV = 2         # an environment value (mfctl cr16 with the host clock, ...)
    IO = 3          # an I/O-space access: the value read, or the value written
    IRQ = 4         # EIRR bits delivered at the end of an epoch (P0, P2, P5)
    DMA = 5         # bytes a device wrote to guest memory during the I/O access that follows
    OUTPUT = 6      # console bytes the environment emitted (what the world saw)
    HEARTBEAT = 7   # the primary is alive at icount (no other traffic)
    PROMOTE = 8     # a backup became the primary (P7)
    UNCERTAIN = 9   # uncertain interrupts raised by a promoted backup (P8)
    END = 10        # the guest stopped (power off, halt, limit)
    ACK = 11        # backup -> primary: frames up to seq received (link only)
    WRITE = 12      # a debugger wrote a register or memory: an input, applied at icount


IO_READ, IO_WRITE = 0, 1
WRITE_REGISTER, WRITE_MEMORY = 0, 1     # WRITE.target


class EndReason(enum.IntEnum):
    POWER_OFF = 0
    HALT = 1
    RESET = 2
    LIMIT = 3
    FAULT = 4
    STOPPED = 5


_END_REASONS = frozenset(int(r) for r in EndReason)


# ---- the schema -------------------------------------------------------------------

Str = c.PascalString(c.Int16ub, "utf8")

HEADER_BODY = c.Struct(
    "hvdbg_version" / Str,
    "role" / Str,                    # who wrote it: solo (run --record) or pair
    "protocol" / Str,                # original | refined | output-rule | none
    "epoch" / c.Int32ub,             # instructions per epoch
    "ram_mib" / c.Int32ub,
    "clock" / Str,                   # virtual | host
    "ticks_per_insn" / c.Int32ub,
    "images" / c.PrefixedArray(c.Int16ub, c.Struct(
        "name" / Str,                # bios | kernel | initrd
        "path" / Str,
        "sha256" / c.Bytes(32),
    )),
    "append" / Str,                  # kernel command line ("" for none)
    "command" / Str,                 # the hvdbg command line that made the log
)

HEADER = c.Struct(
    "magic" / c.Const(MAGIC),
    "version" / c.Int16ub,
    "body" / c.RawCopy(c.Prefixed(c.Int32ub, HEADER_BODY)),
    "crc" / c.Checksum(c.Int32ub, zlib.crc32, c.this.body.data),
)

FRAME = c.Struct(
    "head" / c.RawCopy(c.Struct(
        "type" / c.Int8ub,
        "length" / c.Int32ub,        # payload bytes
        "seq" / c.Int64ub,           # 0, 1, 2, ... per stream
        "payload" / c.Bytes(c.this.length),
    )),
    "crc" / c.Checksum(c.Int32ub, zlib.crc32, c.this.head.data),  # over type .. payload
)

# payloads: fixed fields, then (for some) a variable tail named "data"
PAYLOADS: dict[RecordType, c.Struct] = {
    RecordType.EPOCHS: c.Struct("first" / c.Int64ub, "data" / c.GreedyBytes),  # n x u64 digests
    RecordType.ENV: c.Struct("icount" / c.Int64ub, "which" / c.Int32ub, "value" / c.Int64ub),
    RecordType.IO: c.Struct("icount" / c.Int64ub, "kind" / c.Int8ub, "size" / c.Int8ub,
                            "pa" / c.Int32ub, "value" / c.Int64ub,
                            "data" / c.GreedyBytes),   # console output the access caused
    RecordType.IRQ: c.Struct("epoch" / c.Int64ub, "bits" / c.Int32ub),
    RecordType.DMA: c.Struct("icount" / c.Int64ub, "pa" / c.Int32ub, "data" / c.GreedyBytes),
    RecordType.OUTPUT: c.Struct("icount" / c.Int64ub, "data" / c.GreedyBytes),
    RecordType.HEARTBEAT: c.Struct("icount" / c.Int64ub),
    RecordType.PROMOTE: c.Struct("epoch" / c.Int64ub, "icount" / c.Int64ub),
    RecordType.UNCERTAIN: c.Struct("epoch" / c.Int64ub, "bits" / c.Int32ub),
    RecordType.END: c.Struct("icount" / c.Int64ub, "reason" / c.Int8ub, "digest" / c.Int64ub),
    RecordType.ACK: c.Struct("seq" / c.Int64ub),
    RecordType.WRITE: c.Struct("icount" / c.Int64ub, "target" / c.Int8ub,   # WRITE_*
                               "addr" / c.Int32ub,    # gdb register number or physical
                               "data" / c.GreedyBytes),   # big-endian value / bytes
}


# ---- fast codecs derived from the schema -------------------------------------------

def _fast_codec(s: c.Struct) -> tuple[struct.Struct, tuple[str, ...], bool]:
    """struct format of the fixed fields, their names, and whether a tail follows."""
    fmt, names, tail = ">", [], False
    for sub in s.subcons:
        if isinstance(sub.subcon, c.FormatField):
            fmt += sub.subcon.fmtstr[1:]
            names.append(sub.name)
        elif sub.subcon is c.GreedyBytes and sub is s.subcons[-1]:
            tail = True
        else:
            raise TypeError(f"no fast codec for field {sub.name}")
    return struct.Struct(fmt), tuple(names), tail


_CODECS = {t: _fast_codec(s) for t, s in PAYLOADS.items()}
_TYPES = {int(t): t for t in RecordType}
_FIELD_INDEX = {t: {n: i for i, n in enumerate(names)} for t, (_, names, _) in _CODECS.items()}
_FRAME_HEAD = struct.Struct(">BIQ")       # type, length, seq (FRAME.head without payload)
_CRC = struct.Struct(">I")
FRAME_OVERHEAD = _FRAME_HEAD.size + _CRC.size
MAX_PAYLOAD = 1 << 24


class Record:
    """One decoded record (a plain slotted class: decoding is on the hot path)."""

    __slots__ = ("data", "fields", "seq", "type")

    def __init__(self, type: RecordType, seq: int, fields: tuple[int, ...],
                 data: bytes = b"") -> None:
        self.type = type
        self.seq = seq
        self.fields = fields             # the fixed fields, in schema order
        self.data = data                 # the variable tail (EPOCHS, IO, DMA, OUTPUT)

    def __repr__(self) -> str:
        return f"Record({self.describe()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (self.type, self.seq, self.fields, self.data) \
            == (other.type, other.seq, other.fields, other.data)

    __hash__ = None  # type: ignore[assignment]

    def __getattr__(self, name: str) -> Any:      # rec.icount, rec.value, ...
        try:
            return self.fields[_FIELD_INDEX[self.type][name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def field_names(self) -> tuple[str, ...]:
        """Names of :attr:`fields`, in schema order (for tools that print records)."""
        return _CODECS[self.type][1]

    @property
    def frame_size(self) -> int:
        """Bytes this record takes in a stream or file: frame head, payload, CRC."""
        return FRAME_OVERHEAD + _CODECS[self.type][0].size + len(self.data)

    def epochs(self) -> list[tuple[int, int]]:
        """EPOCHS: ``[(epoch, digest), ...]``."""
        first = self.fields[0]
        n = len(self.data) // 8
        return list(zip(range(first, first + n), struct.unpack(f">{n}Q", self.data),
                        strict=True))

    def describe(self) -> str:
        names = _CODECS[self.type][1]
        body = " ".join(f"{k}={v:#x}" if k in ("pa", "bits", "value", "digest") else f"{k}={v}"
                        for k, v in zip(names, self.fields, strict=True))
        extra = f" +{len(self.data)} bytes" if self.data else ""
        return f"#{self.seq} {self.type.name} {body}{extra}"


def encode(rtype: RecordType, seq: int, fields: tuple[int, ...], data: bytes = b"") -> bytes:
    """One frame (header, payload, CRC) as bytes."""
    st, _, tail = _CODECS[rtype]
    payload = st.pack(*fields) + data if tail else st.pack(*fields)
    return frame_bytes(rtype, seq, payload)


def frame_bytes(rtype: int, seq: int, payload: bytes) -> bytes:
    """A frame around any payload: the one framing (type, length, seq, CRC) that other
    messages on an hvdbg connection (the device protocol) share with the stream."""
    head = _FRAME_HEAD.pack(rtype, len(payload), seq) + payload
    return head + _CRC.pack(zlib.crc32(head))


def unframe(frame: bytes | memoryview) -> tuple[int, int, bytes]:
    """``(type, seq, payload)`` of a whole frame whose length and CRC check out (the
    type is not interpreted: see :func:`decode` for stream records)."""
    n = len(frame)
    if n < FRAME_OVERHEAD:
        raise StreamError(f"truncated frame ({n} bytes)")
    rtype, length, seq = _FRAME_HEAD.unpack_from(frame)
    if n != FRAME_OVERHEAD + length:
        raise StreamError(f"frame length {length} does not match its size {n}")
    (crc,) = _CRC.unpack_from(frame, n - 4)
    if zlib.crc32(memoryview(frame)[:n - 4]) != crc:
        raise StreamError(f"CRC mismatch in frame seq {seq}")
    return rtype, seq, bytes(frame[_FRAME_HEAD.size:n - 4])


class StreamError(Exception):
    """A frame or header that is corrupt, truncated, out of sequence or foreign."""

    def __init__(self, msg: str, *, index: int | None = None, offset: int | None = None):
        where = []
        if index is not None:
            where.append(f"record {index}")
        if offset is not None:
            where.append(f"offset {offset}")
        super().__init__(f"{msg}" + (f" ({', '.join(where)})" if where else ""))
        self.index, self.offset = index, offset


def decode(frame: bytes | memoryview, *, index: int | None = None,
           offset: int | None = None) -> Record:
    """Parse and check one whole frame."""
    n = len(frame)
    if n < FRAME_OVERHEAD:
        raise StreamError(f"truncated frame ({n} bytes)", index=index, offset=offset)
    rtype, length, seq = _FRAME_HEAD.unpack_from(frame)
    if n != FRAME_OVERHEAD + length:
        raise StreamError(f"frame length {length} does not match its size {n}",
                          index=index, offset=offset)
    (crc,) = _CRC.unpack_from(frame, n - 4)
    if zlib.crc32(memoryview(frame)[:n - 4]) != crc:
        raise StreamError(f"CRC mismatch in frame seq {seq}", index=index, offset=offset)
    t = _TYPES.get(rtype)
    if t is None:
        raise StreamError(f"unknown record type {rtype}", index=index, offset=offset)
    st, _, tail = _CODECS[t]
    if length < st.size or (not tail and length != st.size):
        raise StreamError(f"{t.name} payload of {length} bytes", index=index, offset=offset)
    start = _FRAME_HEAD.size
    fields = st.unpack_from(frame, start)
    data = bytes(frame[start + st.size:n - 4]) if tail else b""
    if t is RecordType.EPOCHS and len(data) % 8:
        raise StreamError("EPOCHS payload is not whole digests", index=index, offset=offset)
    return Record(t, seq, fields, data)


def frame_length(buf: bytes | bytearray | memoryview, pos: int = 0) -> int | None:
    """Total length of the frame starting at ``pos``, None if its head is incomplete."""
    if len(buf) - pos < _FRAME_HEAD.size:
        return None
    _, length, _ = _FRAME_HEAD.unpack_from(buf, pos)
    return FRAME_OVERHEAD + length


# ---- the header ---------------------------------------------------------------------

@dataclass
class Header:
    hvdbg_version: str
    role: str
    protocol: str
    epoch: int
    ram_mib: int
    clock: str
    ticks_per_insn: int
    images: list[tuple[str, str, bytes]]      # (name, path, sha256)
    append: str = ""
    command: str = ""

    def build(self) -> bytes:
        body = dict(self.__dict__)
        body["images"] = [{"name": n, "path": p, "sha256": h} for n, p, h in self.images]
        return HEADER.build({"version": FORMAT_VERSION, "body": {"value": body}})

    @classmethod
    def parse_stream(cls, f: BinaryIO) -> tuple[Header, int]:
        """Read the header from ``f``; returns it and its size in bytes."""
        head = f.read(len(MAGIC) + 2 + 4)
        if len(head) < len(MAGIC) + 6 or head[:len(MAGIC)] != MAGIC:
            raise StreamError("not an hvdbg log (bad magic)", offset=0)
        version, length = struct.unpack_from(">HI", head, len(MAGIC))
        if version != FORMAT_VERSION:
            raise StreamError(f"log format version {version}; this hvdbg reads version "
                              f"{FORMAT_VERSION}", offset=len(MAGIC))
        if length > 1 << 20:
            raise StreamError(f"header of {length} bytes is implausible", offset=len(MAGIC) + 2)
        rest = f.read(length + 4)
        if len(rest) < length + 4:
            raise StreamError("truncated header", offset=len(head) + len(rest))
        try:
            parsed = HEADER.parse(head + rest)
        except c.ChecksumError:
            raise StreamError("header CRC mismatch", offset=0) from None
        except c.ConstructError as e:
            raise StreamError(f"malformed header: {e}", offset=0) from None
        v = parsed.body.value
        images = [(i.name, i.path, bytes(i.sha256)) for i in v.images]
        header = cls(v.hvdbg_version, v.role, v.protocol, v.epoch, v.ram_mib, v.clock,
                     v.ticks_per_insn, images, v.append, v.command)
        problem = header.problem()
        if problem:
            raise StreamError(f"header describes no machine hvdbg can build: {problem}",
                              offset=0)
        return header, len(head) + len(rest)

    def problem(self) -> str:
        """Why this header cannot describe a recorded run ("" if it can): what a forged
        or foreign header with a valid CRC is caught by, before anything is built."""
        # imported here: roles imports this module
        from hvdbg.replication.roles import ReplicationConfig
        try:
            ReplicationConfig(self.epoch)
        except ValueError as e:
            return str(e)
        if not 0 < self.ram_mib * memmap.MIB <= memmap.MAX_RAM:
            return f"RAM size {self.ram_mib} MiB (1 .. {memmap.MAX_RAM // memmap.MIB})"
        if self.clock not in CLOCKS:
            return f"clock {self.clock!r} (one of {', '.join(CLOCKS)})"
        if not 1 <= self.ticks_per_insn <= 0xFFFFFFFF:
            return f"ticks per instruction {self.ticks_per_insn}"
        names = [name for name, _, _ in self.images]
        if len(set(names)) != len(names) or not set(names) <= set(IMAGE_NAMES):
            return f"images {names} (each of {', '.join(IMAGE_NAMES)} at most once)"
        if "bios" not in names:
            return "no firmware image"
        if "initrd" in names and "kernel" not in names:
            return "an initrd without a kernel"
        return ""

    @property
    def ram_size(self) -> int:
        return self.ram_mib * memmap.MIB


# ---- files --------------------------------------------------------------------------

LOG_NAME = "stream.hvlog"


class LogExistsError(FileExistsError):
    """The directory already holds a recording (and ``force`` was not given)."""

    def __str__(self) -> str:
        return str(self.strerror)


class LogWriter:
    """Appends frames (already encoded, as sent on the link) to ``DIR/stream.hvlog``.
    Thread-safe enough for one writer at a time, which the roles guarantee.

    A directory that already holds a log is refused (:class:`LogExistsError`, an
    OSError) unless ``force``.  The header goes out at once, so a run that stops before
    its first record still leaves a valid log; only the END record the roles write last
    marks a log complete (a crash leaves a log that replay reports as truncated)."""

    def __init__(self, directory: str | Path, header: Header, force: bool = False) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / LOG_NAME
        mode = "wb" if force else "xb"
        try:
            self._f = open(self.path, mode, buffering=1 << 20)  # noqa: SIM115 (close())
        except FileExistsError:
            raise LogExistsError(
                errno.EEXIST, f"{self.dir} already holds a recording ({LOG_NAME}); "
                "pass --force to overwrite it, or record to another directory",
                str(self.path)) from None
        self._f.write(header.build())
        self._f.flush()
        self.frames = 0
        self.bytes = 0

    def write(self, frame: bytes) -> None:
        self._f.write(frame)
        self.frames += 1
        self.bytes += len(frame)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_log(path: str | Path) -> tuple[Header, Iterator[Record]]:
    """The header and an iterator over the records of a log file (a directory holding
    ``stream.hvlog`` or the file itself).  Errors raise :class:`StreamError` naming the
    record and byte offset."""
    p = Path(path)
    if p.is_dir():
        p = p / LOG_NAME
    try:
        f = open(p, "rb")  # noqa: SIM115 (closed by the iterator)
    except OSError as e:
        raise StreamError(f"cannot open {p}: {e.strerror}") from None
    try:
        header, offset = Header.parse_stream(f)
    except BaseException:
        f.close()
        raise

    ram = header.ram_size

    def records() -> Iterator[Record]:
        pos, index, expect = offset, 0, 0
        with f:
            while True:
                head = f.read(_FRAME_HEAD.size)
                if not head:
                    return
                n = frame_length(head)
                if n is None:
                    raise StreamError("truncated frame head", index=index, offset=pos)
                if n - FRAME_OVERHEAD > MAX_PAYLOAD:
                    raise StreamError(f"frame of {n} bytes is implausible", index=index,
                                      offset=pos)
                rest = f.read(n - len(head))
                if len(rest) < n - len(head):
                    raise StreamError("truncated frame", index=index, offset=pos)
                rec = decode(head + rest, index=index, offset=pos)
                if rec.seq != expect:
                    raise StreamError(f"sequence number {rec.seq}, expected {expect}",
                                      index=index, offset=pos)
                if rec.type is RecordType.END and rec.fields[1] not in _END_REASONS:
                    raise StreamError(f"END record with unknown reason {rec.fields[1]}",
                                      index=index, offset=pos)
                if rec.type is RecordType.DMA:
                    pa, n = rec.fields[1], len(rec.data)
                    if not (pa + n <= ram or memmap.in_firmware(pa, n)):
                        raise StreamError(f"DMA record writes {pa:#010x}+{n:#x}, beyond "
                                          f"the recorded machine's RAM and firmware",
                                          index=index, offset=pos)
                yield rec
                pos += n
                index += 1
                expect += 1

    return header, records()
