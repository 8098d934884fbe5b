"""The ``Replayer`` role (architecture section 4): a backup whose link is a log file.  It
re-executes the guest from the recorded initial state, answers every I/O and
environment access from the log without touching a device, delivers the recorded
interrupts at the recorded epoch ends, checks every digest, and prints the console
output that re-execution produces (checked against the recorded output)."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvdbg.machine.spec import GuestSpec, SpecError
from hvdbg.machine.stop import Stop, StopReason
from hvdbg.replication.roles import Backup, ReplicationConfig
from hvdbg.replication.session import Divergence, Hypervisor
from hvdbg.trace.log import IO_READ, Header, Record, RecordType, StreamError, read_log

R = RecordType

CHUNK = 4096                     # records read ahead at a time


class Replayer(Backup):
    """A backup whose link is a log file.  The console is what re-execution writes: the
    VM's own device accesses drive a private copy of the devices (never the guest's
    state — read values still come from the log), and what they print must equal the
    recorded output, so a forged OUTPUT record cannot change what replay shows."""

    name = "replayer"
    detect = False

    def __init__(self, spec: GuestSpec, header: Header, records: Iterator[Record],
                 sink: Callable[[bytes], None]) -> None:
        machine = spec.boot()
        super().__init__(machine, ReplicationConfig(header.epoch, _protocol(header)))
        self.spec = spec                         # a debugger's symbols come from its images
        self.records, self.sink = records, sink
        self.read = 0
        self.eof = False
        # the shadow devices: this VM's Environment, which a Backup otherwise never uses
        self.shadow = shadow = machine.env
        shadow.memory = _NoMemory(machine.core.ram_size)
        shadow.console = self._derived_out
        self.recorded = bytearray()              # what the log says was printed
        self.printed_at: list[tuple[int, int]] = []  # (icount, len(recorded) after it)
        self.derived = 0                         # bytes re-execution printed so far

    def on_output(self, rec: Record) -> None:
        self.recorded += rec.data
        self.printed_at.append((rec.icount, len(self.recorded)))

    def on_access(self, e: Any, rec: Record) -> None:
        shadow = self.shadow
        if rec.type is R.IO:
            if rec.kind == IO_READ:
                shadow.io_read(rec.pa, rec.size)
            else:
                shadow.io_write(rec.pa, rec.size, rec.value)
            if shadow.console_pending:
                shadow.flush_console()

    def _derived_out(self, data: bytes) -> None:
        start = self.derived
        want = bytes(self.recorded[start:start + len(data)])
        if data != want and len(want) == len(data):
            raise Divergence(f"console output differs from the recording at byte "
                             f"{start + _first_difference(data, want)}")
        self.derived += len(data)
        self.sink(data)

    def on_end(self) -> None:
        # an access at END's icount was performed (the primary stopped there — powered
        # off, or a stop request right after the access) but its instruction never
        # retired, so it is not re-executed: its output still reached the console
        end = self.end
        for rec in self.ios:
            if rec.type is R.IO and end is not None and rec.icount == end.icount:
                self.on_access(None, rec)
        # the console up to END (a backup that took over only to end a stopped run has
        # received output of its dead predecessor from past that point)
        upto = max((n for icount, n in self.printed_at
                    if end is None or icount <= end.icount), default=0)
        if self.derived != upto:
            raise Divergence(f"re-execution printed {self.derived} bytes of console output; "
                             f"the recording has {upto}")

    def _wait_for_more(self, wake_on_stop: bool) -> bool:
        if self.eof:
            return False
        chunk = list(itertools.islice(self.records, CHUNK))
        if not chunk:
            self.eof = True
            return False
        self.read += len(chunk)
        self.inbox.extend(chunk)
        self._absorb()
        return True


class _NoMemory:
    """The shadow devices' memory port: their writes to memory are not the guest's (the
    log's DMA records are), so they go nowhere."""

    def __init__(self, ram_size: int) -> None:
        self.ram_size = ram_size

    def read_phys(self, pa: int, length: int) -> bytes:
        return bytes(length)

    def write_phys(self, pa: int, data: bytes) -> None:
        pass


def _first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _protocol(header: Header) -> str:
    return header.protocol if header.protocol in ("original", "refined", "output-rule") \
        else "refined"


def spec_from_header(header: Header, check_images: bool = True) -> GuestSpec:
    files = {name: (path, digest) for name, path, digest in header.images}
    if "bios" not in files:
        raise StreamError("the log's header names no firmware image")
    spec = GuestSpec(files["bios"][0], files.get("kernel", (None,))[0],
                     files.get("initrd", (None,))[0], header.append, header.ram_mib,
                     header.clock)
    if check_images:
        for (name, path, want), (_, _, have) in zip(header.images, spec.image_digests(),
                                                    strict=True):
            if want != have:
                raise SpecError(f"{name} image {path} is not the one recorded (sha256 "
                                f"{have.hex()[:16]}…, the log has {want.hex()[:16]}…)")
    return spec


@dataclass
class ReplayResult:
    end: Stop
    epochs: int
    records: int


def open_replay(path: str | Path, sink: Callable[[bytes], None]) -> Hypervisor:
    """A replay session at instruction 0, for a debugger to drive."""
    header, records = read_log(path)
    spec = spec_from_header(header)
    r = Replayer(spec, header, records, sink)
    return Hypervisor(r.machine, r)


def replay(path: str | Path, sink: Callable[[bytes], None]) -> ReplayResult:
    """Replay the log at ``path``.  Raises StreamError (bad log), SpecError (images
    changed), Divergence (a digest, an access or the console does not match)."""
    hv = open_replay(path, sink)
    r = hv.role
    assert isinstance(r, Replayer)
    stop = hv.resume()
    if stop.reason is StopReason.STARVED:         # ran out of log before an END record
        raise StreamError(f"the log ends without an END record at icount {stop.icount} "
                          f"(truncated?)", index=r.read)
    if stop.reason is StopReason.DIVERGED:
        raise Divergence(stop.message)
    return ReplayResult(stop, r.verified, r.read)
