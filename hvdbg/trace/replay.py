"""The ``Replayer`` role (architecture section 4): a backup whose link is a log file.  It
re-executes the guest from the recorded initial state, answers every I/O and
environment access from the log without touching a device, delivers the recorded
interrupts at the recorded epoch ends, checks every digest and prints the recorded
console output."""
from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hvdbg.machine.spec import GuestSpec, SpecError
from hvdbg.replication.roles import Backup, Outcome, ReplicationConfig, RunEnd
from hvdbg.trace.log import Header, Record, StreamError, read_log

CHUNK = 4096                     # records read ahead at a time


class Replayer(Backup):
    name = "replayer"
    detect = False

    def __init__(self, spec: GuestSpec, header: Header, records: Iterator[Record],
                 sink: Callable[[bytes], None]) -> None:
        super().__init__(spec.boot(), ReplicationConfig(header.epoch, _protocol(header)))
        self.records, self.sink = records, sink
        self.read = 0
        self.eof = False

    def on_output(self, rec: Record) -> None:
        self.sink(rec.data)

    def _wait_for_more(self) -> bool:
        if self.eof:
            return False
        chunk = list(itertools.islice(self.records, CHUNK))
        if not chunk:
            self.eof = True
            return False
        self.read += len(chunk)
        with self.cv:
            self.inbox.extend(chunk)
        self._absorb()
        return True


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
    end: RunEnd
    epochs: int
    records: int


def replay(path: str | Path, sink: Callable[[bytes], None]) -> ReplayResult:
    """Replay the log at ``path``.  Raises StreamError (bad log), SpecError (images
    changed), Divergence (a digest or an access does not match)."""
    header, records = read_log(path)
    spec = spec_from_header(header)
    r = Replayer(spec, header, records, sink)
    end = r.run()
    if end.outcome is Outcome.STARVED:            # ran out of log before an END record
        raise StreamError(f"the log ends without an END record at icount {end.icount} "
                          f"(truncated?)", index=r.read)
    return ReplayResult(end, r.verified, r.read)
