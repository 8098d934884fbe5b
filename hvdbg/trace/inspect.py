"""Looking at a recorded log without running it (``hvdbg log``, like ``rr dump``):
where each record sits in guest execution, filters, per-kind statistics, a Chrome Trace
Event Format timeline and a per-epoch plot.

Everything here decodes through :func:`hvdbg.trace.log.read_log` (the one decoder) and
consumes records one at a time, so a log of any size is processed in constant memory
(except the plot, which keeps three integers per epoch).

Guest time.  The B160L's CR16 counts at :data:`~hvdbg.machine.memmap.CPU_CLOCK_HZ`
(250 MHz) and, with ``--clock virtual``, the core computes it as ``icount ×
ticks_per_insn`` (docs/core.md), so instruction ``icount`` happens at guest time
``icount × ticks_per_insn / 250 MHz`` (4 ns per instruction with the recorded
``ticks_per_insn`` of 1).  With ``--clock host`` the guest's CR16 followed host time
instead; the same formula then gives a *nominal* guest time, which is all an
instruction-count timeline can give.
"""
from __future__ import annotations

import json
import math
import sys
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from hvdbg.machine.memmap import CPU_CLOCK_HZ
from hvdbg.trace.log import (
    FORMAT_VERSION,
    IO_READ,
    LOG_NAME,
    EndReason,
    Header,
    Record,
    RecordType,
    StreamError,
    read_log,
)

R = RecordType

# ---- guest time ---------------------------------------------------------------------


@dataclass(frozen=True)
class GuestClock:
    """Instruction count → guest time (see the module docstring for the assumption)."""

    ticks_per_insn: int
    clock: str = "virtual"
    hz: int = CPU_CLOCK_HZ

    @classmethod
    def from_header(cls, h: Header) -> GuestClock:
        if h.ticks_per_insn <= 0:
            # a CRC-valid header can still carry a value no writer produces
            raise StreamError(f"header names {h.ticks_per_insn} CR16 ticks per instruction")
        return cls(h.ticks_per_insn, h.clock)

    def seconds(self, icount: int) -> float:
        return icount * self.ticks_per_insn / self.hz

    def us(self, icount: int) -> float:
        # rounded to the nanosecond: a trace viewer shows no finer, and short floats keep
        # the JSON small
        return round(icount * self.ticks_per_insn * 1e6 / self.hz, 3)

    def describe(self) -> str:
        ns = self.ticks_per_insn * 1e9 / self.hz
        nominal = "" if self.clock == "virtual" else \
            f" (nominal: with clock {self.clock} the guest's CR16 followed host time)"
        return (f"{self.ticks_per_insn} CR16 tick(s) per instruction at "
                f"{self.hz / 1e6:g} MHz = {ns:g} ns per instruction{nominal}")


# ---- where a record sits -----------------------------------------------------------

class Span(NamedTuple):
    """The instructions and epochs a record is about, inclusive.  Most records are at
    one point; an EPOCHS record covers whole epochs.  IRQ bits are delivered after the
    last instruction of ``epoch``, i.e. at icount ``(epoch + 1) × L``, and UNCERTAIN
    interrupts are raised when the promoted backup starts ``epoch``."""

    first_epoch: int
    last_epoch: int
    first_icount: int
    last_icount: int
    reach: int                  # instructions retired once the record's point is reached


def locate(rec: Record, epoch_len: int) -> Span:
    t, f = rec.type, rec.fields
    if t is R.EPOCHS:
        first, n = f[0], max(len(rec.data) // 8, 1)
        end = (first + n) * epoch_len
        return Span(first, first + n - 1, first * epoch_len, end - 1, end)
    if t is R.IRQ:
        i = (f[0] + 1) * epoch_len
        return Span(f[0], f[0], i, i, i)
    if t is R.UNCERTAIN:
        i = f[0] * epoch_len
        return Span(f[0], f[0], i, i, i)
    if t is R.PROMOTE:
        return Span(f[0], f[0], f[1], f[1], f[1])
    if t is R.ACK:              # link only, never in a file; no position in the guest
        return Span(0, 0, 0, 0, 0)
    i = f[0]                    # every other payload starts with icount
    return Span(i // epoch_len, i // epoch_len, i, i, i)


class Entry(NamedTuple):
    rec: Record
    offset: int                 # byte offset of the frame in the file
    size: int                   # bytes of the frame
    span: Span


@dataclass
class LogFile:
    """An opened log: its header and one pass over its records (:meth:`entries`)."""

    path: Path
    header: Header
    header_bytes: int
    size: int
    records: Iterator[Record]
    progress: Callable[[int], None] | None = None     # called with the byte offset

    def entries(self) -> Iterator[Entry]:
        pos, L = self.header_bytes, self.header.epoch
        for n, rec in enumerate(self.records, 1):
            size = rec.frame_size
            yield Entry(rec, pos, size, locate(rec, L))
            pos += size
            if self.progress is not None and not n & 0xFFF:
                self.progress(pos)


def open_log(path: str | Path) -> LogFile:
    """Open a log (directory or file) for one pass over its records.  Errors are
    :class:`StreamError`, raised here (header) or while iterating (records)."""
    p = Path(path)
    if p.is_dir():
        p = p / LOG_NAME
    header, records = read_log(p)
    if header.epoch <= 0:
        records.close()         # type: ignore[attr-defined]  (a generator: closes the file)
        raise StreamError(f"header names an epoch of {header.epoch} instructions")
    # the header re-encodes to its exact bytes (same schema, CRC-checked content)
    return LogFile(p, header, len(header.build()), p.stat().st_size, records)


# ---- selection ----------------------------------------------------------------------

KIND_NAMES = {t.name.lower(): t for t in RecordType if t is not R.ACK}


def parse_kinds(text: str) -> frozenset[RecordType]:
    kinds = set()
    for word in text.split(","):
        w = word.strip().lower()
        if w not in KIND_NAMES:
            raise ValueError(f"unknown record kind {word.strip()!r} "
                             f"(kinds: {', '.join(KIND_NAMES)})")
        kinds.add(KIND_NAMES[w])
    return frozenset(kinds)


def parse_range(text: str) -> tuple[int, int | None]:
    """``A:B`` (half-open, as a Python slice; either side may be left out) or ``N``
    (just N).  Numbers may be hex (0x...)."""
    try:
        if ":" not in text:
            n = int(text, 0)
            lo, hi = n, n + 1
        else:
            a, _, b = text.partition(":")
            lo = int(a, 0) if a.strip() else 0
            hi = int(b, 0) if b.strip() else None
    except ValueError:
        raise ValueError(f"expected N or A:B, got {text!r}") from None
    if lo < 0 or (hi is not None and hi < lo):
        raise ValueError(f"not a range of non-negative numbers: {text!r}")
    return lo, hi


@dataclass(frozen=True)
class Selection:
    kinds: frozenset[RecordType] | None = None
    epochs: tuple[int, int | None] = (0, None)       # half-open
    icounts: tuple[int, int | None] = (0, None)

    def wants(self, t: RecordType) -> bool:
        return self.kinds is None or t in self.kinds

    def epoch_ok(self, e: int, epoch_len: int) -> bool:
        """Epoch ``e`` is in the epoch range and overlaps the instruction range (an
        EPOCHS record that is selected may cover epochs that are not)."""
        lo, hi = self.epochs
        if e < lo or (hi is not None and e >= hi):
            return False
        lo, hi = self.icounts
        return (e + 1) * epoch_len > lo and (hi is None or e * epoch_len < hi)

    def matches(self, e: Entry) -> bool:
        if not self.wants(e.rec.type):
            return False
        s = e.span
        lo, hi = self.epochs
        if s.last_epoch < lo or (hi is not None and s.first_epoch >= hi):
            return False
        lo, hi = self.icounts
        return not (s.last_icount < lo or (hi is not None and s.first_icount >= hi))

    def icount_window(self, epoch_len: int) -> tuple[int, int | None]:
        """The instructions the ranges leave (for the guest time of --stats)."""
        lo = max(self.icounts[0], self.epochs[0] * epoch_len)
        his = [h for h in (self.icounts[1],
                           None if self.epochs[1] is None else self.epochs[1] * epoch_len)
               if h is not None]
        return lo, min(his) if his else None

    @property
    def everything(self) -> bool:
        return self.kinds is None and self.epochs == (0, None) and self.icounts == (0, None)


# ---- text and JSON --------------------------------------------------------------------

def _short(data: bytes, limit: int = 48) -> str:
    return repr(data[:limit])[1:] + ("..." if len(data) > limit else "")


def format_record(rec: Record) -> str:
    """One line: :meth:`Record.describe` and what a reader wants next to it."""
    line = rec.describe()
    t = rec.type
    if t is R.EPOCHS:
        n = len(rec.data) // 8
        line += f" (epochs {rec.fields[0]}..{rec.fields[0] + n - 1})"
    elif t is R.IO:
        line += " read" if rec.fields[1] == IO_READ else " write"
        if rec.data:
            line += " " + _short(rec.data)
    elif t is R.OUTPUT:
        line += " " + _short(rec.data)
    elif t is R.DMA:
        line += " " + rec.data[:16].hex() + ("..." if len(rec.data) > 16 else "")
    elif t is R.END:
        line += f" ({_end_reason(rec.fields[1])})"
    return line


def _end_reason(code: int) -> str:
    try:
        return EndReason(code).name.lower()
    except ValueError:
        return f"reason {code}"


def header_lines(lf: LogFile) -> list[str]:
    h = lf.header
    lines = [
        f"log {lf.path}: format {FORMAT_VERSION}, {lf.size} bytes ({lf.header_bytes} header)",
        f"written by hvdbg {h.hvdbg_version}: role {h.role}, protocol {h.protocol}",
        f"machine: {h.ram_mib} MiB RAM, clock {h.clock}, "
        + f"{h.ticks_per_insn} CR16 tick(s) per instruction; epoch {h.epoch} instructions"]
    lines += [f"image {name}: {path} sha256 {digest.hex()}" for name, path, digest in h.images]
    if h.append:
        lines.append(f"append: {h.append}")
    if h.command:
        lines.append(f"command: {h.command}")
    return lines


def header_json(lf: LogFile) -> dict[str, Any]:
    h = lf.header
    return {"type": "HEADER", "format_version": FORMAT_VERSION, "path": str(lf.path),
            "file_bytes": lf.size, "header_bytes": lf.header_bytes,
            "hvdbg_version": h.hvdbg_version, "role": h.role, "protocol": h.protocol,
            "epoch": h.epoch, "ram_mib": h.ram_mib, "clock": h.clock,
            "ticks_per_insn": h.ticks_per_insn,
            "images": [{"name": n, "path": p, "sha256": d.hex()} for n, p, d in h.images],
            "append": h.append, "command": h.command}


def record_json(e: Entry, clock: GuestClock | None) -> dict[str, Any]:
    """Stable keys (docs/tracing.md): the schema's own fields go under ``fields`` so
    that a payload field called ``kind`` or ``size`` never shadows ours."""
    rec, s = e.rec, e.span
    d: dict[str, Any] = {
        "type": rec.type.name, "seq": rec.seq, "offset": e.offset, "bytes": e.size,
        "epoch": s.first_epoch, "epoch_last": s.last_epoch,
        "icount": s.first_icount, "icount_last": s.last_icount,
        "time_us": None if clock is None else clock.us(s.first_icount),
        "fields": dict(zip(rec.field_names, rec.fields, strict=True)),
        "data": rec.data.hex(),
    }
    if rec.type is R.EPOCHS:
        d["digests"] = [f"{dg:#018x}" for _, dg in rec.epochs()]
    return d


# ---- statistics ---------------------------------------------------------------------

@dataclass
class LogStats:
    """Records and frame bytes per kind for the selected records; the guest time they
    cover (the selection's instruction window, clipped to what the log reaches)."""

    lf: LogFile
    sel: Selection
    clock: GuestClock
    count: dict[RecordType, int] = field(default_factory=dict)
    nbytes: dict[RecordType, int] = field(default_factory=dict)
    reach: int = 0                 # instructions retired at the log's last point
    epochs_seen: int = 0
    promotions: list[tuple[int, int]] = field(default_factory=list)   # (epoch, icount)

    def see(self, e: Entry) -> None:
        """Every record, selected or not: how far the log reaches."""
        self.reach = max(self.reach, e.span.reach)

    def add(self, e: Entry) -> None:
        t = e.rec.type
        self.count[t] = self.count.get(t, 0) + 1
        self.nbytes[t] = self.nbytes.get(t, 0) + e.size
        if t is R.EPOCHS:
            self.epochs_seen += sum(1 for ep in range(e.span.first_epoch, e.span.last_epoch + 1)
                                    if self.sel.epoch_ok(ep, self.lf.header.epoch))
        elif t is R.PROMOTE:
            self.promotions.append((e.rec.fields[0], e.rec.fields[1]))

    def report(self) -> dict[str, Any]:
        lo, hi = self.sel.icount_window(self.lf.header.epoch)
        # a window past the log's end covers no guest time
        end = max(lo, self.reach if hi is None else min(hi, self.reach))
        insns = end - lo
        secs = self.clock.seconds(insns)
        total_n, total_b = sum(self.count.values()), sum(self.nbytes.values())

        def rate(b: int) -> float | None:
            return b / secs if secs > 0 else None

        return {
            "log": str(self.lf.path), "file_bytes": self.lf.size,
            "header_bytes": self.lf.header_bytes,
            "clock": self.clock.clock, "ticks_per_insn": self.clock.ticks_per_insn,
            "cr16_hz": self.clock.hz,
            "kinds": {t.name: {"records": self.count[t], "bytes": self.nbytes[t],
                               "bytes_per_guest_second": rate(self.nbytes[t])}
                      for t in sorted(self.count)},
            "records": total_n, "bytes": total_b,
            "icount_first": lo, "icount_end": end, "instructions": insns,
            "guest_seconds": secs, "bytes_per_guest_second": rate(total_b),
            "epochs": self.epochs_seen,
            "promotions": [{"epoch": ep, "icount": ic} for ep, ic in self.promotions],
        }

    def render(self) -> str:
        r = self.report()
        lines = [f"{'kind':<10} {'records':>10} {'bytes':>12} {'bytes/guest s':>15}"]
        for name, k in r["kinds"].items():
            lines.append(f"{name:<10} {k['records']:>10} {k['bytes']:>12} "
                         f"{_num(k['bytes_per_guest_second']):>15}")
        lines.append(f"{'total':<10} {r['records']:>10} {r['bytes']:>12} "
                     f"{_num(r['bytes_per_guest_second']):>15}")
        lines.append(f"file: {r['file_bytes']} bytes ({r['header_bytes']} header)")
        lines.append(f"guest time: icount {r['icount_first']} .. {r['icount_end']} = "
                     f"{r['instructions']} instructions = {r['guest_seconds'] * 1e3:.6g} ms "
                     f"({self.clock.describe()})")
        bw = r["bytes_per_guest_second"]
        lines.append("log bandwidth: " + ("n/a (no guest time)" if bw is None else
                     f"{bw:.6g} bytes per guest second ({bw * 8 / 1e6:.4g} Mbit/s)"))
        lines.append(f"epochs: {r['epochs']}")
        for p in r["promotions"]:
            lines.append(f"failover: PROMOTE at epoch {p['epoch']}, icount {p['icount']}")
        return "\n".join(lines)


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"


# ---- Chrome Trace Event Format --------------------------------------------------------

# one process (the guest), one thread per kind of event; the sort index keeps this order
PID = 1
TID_EPOCHS, TID_IO, TID_IRQ, TID_ENV, TID_DEV, TID_REPL = 1, 2, 3, 4, 5, 6
THREADS = {TID_EPOCHS: "epochs", TID_IO: "I/O", TID_IRQ: "interrupts",
           TID_ENV: "environment (CR16)", TID_DEV: "DMA and output",
           TID_REPL: "replication (failover, end)"}


class ChromeTraceWriter:
    """Streams a trace in the JSON object form ``{"traceEvents": [...], ...}``:
    ``X`` events for epochs (one thread, in order, so per-thread timestamps are
    monotone), ``i`` instants for everything else, ``M`` metadata naming the process
    and threads.  ``ts``/``dur`` are guest microseconds (see :class:`GuestClock`).

    The log format has no record that says "divergence" (the backup or ``hvdbg replay``
    finds one and reports it; it is never written), so there is no divergence event; a
    guest fault is marked by the END instant's reason."""

    def __init__(self, f: IO[str], lf: LogFile, sel: Selection, clock: GuestClock) -> None:
        self.f, self.lf, self.sel, self.clock = f, lf, sel, clock
        self.L = lf.header.epoch
        self.events = 0
        self.next_epoch = 0          # the first epoch not yet emitted (partial-epoch end)
        self.promoted_at: int | None = None
        h = lf.header
        other = {"log": str(lf.path), "role": h.role, "protocol": h.protocol,
                 "epoch": h.epoch, "clock": h.clock, "ticks_per_insn": h.ticks_per_insn,
                 "time_base": f"guest time: icount x {h.ticks_per_insn} / "
                              f"{CPU_CLOCK_HZ} Hz (CR16), in microseconds"}
        # displayTimeUnit ns: an instruction is 4 ns, so the viewer should not round to us
        f.write('{"displayTimeUnit": "ns", "otherData": ' + json.dumps(other)
                + ', "traceEvents": [\n')
        self._first = True
        self._emit({"name": "process_name", "ph": "M", "ts": 0, "pid": PID, "tid": 0,
                    "args": {"name": f"guest ({h.role} log {lf.path})"}})
        for tid, name in THREADS.items():
            self._emit({"name": "thread_name", "ph": "M", "ts": 0, "pid": PID, "tid": tid,
                        "args": {"name": name}})
            self._emit({"name": "thread_sort_index", "ph": "M", "ts": 0, "pid": PID,
                        "tid": tid, "args": {"sort_index": tid}})

    def _emit(self, ev: dict[str, Any]) -> None:
        self.f.write(("" if self._first else ",\n") + json.dumps(ev, separators=(",", ":")))
        self._first = False
        self.events += 1

    def _instant(self, tid: int, name: str, icount: int, args: dict[str, Any],
                 scope: str = "t") -> None:
        self._emit({"name": name, "ph": "i", "s": scope, "ts": self.clock.us(icount),
                    "pid": PID, "tid": tid, "args": args})

    def _epoch(self, epoch: int, start: int, end: int, args: dict[str, Any]) -> None:
        ts = self.clock.us(start)
        self._emit({"name": f"epoch {epoch}", "ph": "X", "ts": ts,
                    "dur": round(self.clock.us(end) - ts, 3), "pid": PID, "tid": TID_EPOCHS,
                    "args": args})

    def _by(self, epoch: int) -> str:
        return "primary" if self.promoted_at is None or epoch < self.promoted_at \
            else "promoted backup"

    def add(self, e: Entry) -> None:
        rec, t, f, L = e.rec, e.rec.type, e.rec.fields, self.L
        if t is R.EPOCHS:
            for ep, digest in rec.epochs():
                if self.sel.epoch_ok(ep, L) and ep >= self.next_epoch:
                    self._epoch(ep, ep * L, (ep + 1) * L,
                                {"epoch": ep, "digest": f"{digest:#018x}", "by": self._by(ep)})
                self.next_epoch = max(self.next_epoch, ep + 1)
        elif t is R.IO:
            rw = "read" if f[1] == IO_READ else "write"
            args: dict[str, Any] = {"pa": f"{f[3]:#010x}", "size": f[2], "value": f"{f[4]:#x}",
                                    "icount": f[0], "seq": rec.seq}
            if rec.data:
                args["output"] = rec.data.decode("latin-1")
            self._instant(TID_IO, f"IO {rw} {f[3]:#x}", f[0], args)
        elif t is R.IRQ:
            self._instant(TID_IRQ, f"IRQ {f[1]:#x}", e.span.first_icount,
                          {"epoch": f[0], "eirr_bits": f"{f[1]:#010x}", "seq": rec.seq})
        elif t is R.ENV:
            # which 16 is HV_ENV_CR16 (csrc/hvcore.h); a record does not say whether the
            # value was read (mfctl) or written (mtctl, the timer compare)
            self._instant(TID_ENV, "ENV cr16" if f[1] == 16 else f"ENV {f[1]}", f[0],
                          {"which": f[1], "value": f[2], "icount": f[0], "seq": rec.seq})
        elif t is R.DMA:
            self._instant(TID_DEV, f"DMA {f[1]:#x}", f[0],
                          {"pa": f"{f[1]:#010x}", "bytes": len(rec.data), "seq": rec.seq})
        elif t is R.OUTPUT:
            self._instant(TID_DEV, "output", f[0],
                          {"text": rec.data.decode("latin-1"), "seq": rec.seq})
        elif t is R.HEARTBEAT:
            self._instant(TID_REPL, "heartbeat", f[0], {"seq": rec.seq})
        elif t is R.PROMOTE:
            self.promoted_at = f[0]
            # global scope: failover is the one event a reader must not miss
            self._instant(TID_REPL, "failover: PROMOTE", f[1],
                          {"epoch": f[0], "icount": f[1], "seq": rec.seq}, scope="g")
        elif t is R.UNCERTAIN:
            self._instant(TID_REPL, "UNCERTAIN interrupts", e.span.first_icount,
                          {"epoch": f[0], "eirr_bits": f"{f[1]:#010x}", "seq": rec.seq})
        elif t is R.END:
            # the last epoch ended early (no EPOCHS record has it): show what ran of it
            ep = f[0] // L
            if self.sel.wants(R.EPOCHS) and f[0] > ep * L and ep >= self.next_epoch \
                    and self.sel.epoch_ok(ep, L):
                self._epoch(ep, ep * L, f[0], {"epoch": ep, "partial": True, "by": self._by(ep)})
                self.next_epoch = ep + 1
            self._instant(TID_REPL, f"END {_end_reason(f[1])}", f[0],
                          {"icount": f[0], "digest": f"{f[2]:#018x}", "seq": rec.seq},
                          scope="g")

    def close(self) -> None:
        self.f.write("\n]}\n")


# ---- per-epoch plot -------------------------------------------------------------------

class EpochSeries:
    """Per epoch: I/O records, interrupt deliveries (IRQ records) and log bytes.  A
    record's bytes count in the epoch it is about (an EPOCHS record: its last epoch, the
    one whose end sent it)."""

    def __init__(self) -> None:
        self.io, self.irq, self.nbytes = array("q"), array("q"), array("q")
        self.promotions: list[int] = []
        self.end_epoch: int | None = None

    def _grow(self, epoch: int) -> None:
        n = epoch + 1 - len(self.io)
        if n > 0:
            zeros = array("q", bytes(8 * n))
            for a in (self.io, self.irq, self.nbytes):
                a.extend(zeros)

    def add(self, e: Entry) -> None:
        t, ep = e.rec.type, e.span.last_epoch
        self._grow(ep)
        self.nbytes[ep] += e.size
        if t is R.IO:
            self.io[ep] += 1
        elif t is R.IRQ:
            self.irq[ep] += 1
        elif t is R.PROMOTE:
            self.promotions.append(e.rec.fields[0])
        elif t is R.END:
            self.end_epoch = ep


def plot_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plot(series: EpochSeries, out: str | Path, title: str,
               epochs: tuple[int, int | None] = (0, None)) -> None:
    import matplotlib
    matplotlib.use("Agg")                       # files only, never a display
    import matplotlib.pyplot as plt

    lo = epochs[0]
    hi = len(series.io) if epochs[1] is None else min(epochs[1], len(series.io))
    xs = range(lo, max(hi, lo))
    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(10, 6.5))
    rows = ((series.io, "I/O records", "tab:blue"), (series.irq, "interrupts", "tab:orange"),
            (series.nbytes, "log bytes", "tab:green"))
    for ax, (data, label, color) in zip(axes, rows, strict=True):
        ys = data[lo:hi]
        # steps, not bars: a Linux log has 10^5 epochs and bars would vanish
        ax.fill_between(xs, ys, step="mid", color=color, alpha=0.6, linewidth=0)
        ax.set_ylabel(label)
        ax.set_ylim(0, max(max(ys, default=0), 1) * 1.08)   # an all-zero row still reads 0
        ax.grid(True, alpha=0.3)
        for p in series.promotions:
            ax.axvline(p, color="red", linestyle="--", linewidth=1.2,
                       label=f"failover (PROMOTE at epoch {p})")
    if series.promotions:
        axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("epoch")
    axes[0].set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


# ---- progress -------------------------------------------------------------------------

class Progress:
    """``\\r`` progress on stderr for long passes: only on a terminal (a pipe or a log
    file would collect the carriage returns) and only once a pass has taken a second —
    a big log, at a few MB/s of decoding — so short runs print nothing."""

    AFTER_S = 1.0
    EVERY_S = 0.25

    def __init__(self, total: int, label: str, stream: IO[str] | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.total, self.label, self.now = total, label, now
        self.start = now()
        self.last = 0.0
        self.shown = False

    def __call__(self, pos: int) -> None:
        if not self.enabled:
            return
        t = self.now()
        if t - self.start < self.AFTER_S or t - self.last < self.EVERY_S:
            return
        self.last, self.shown = t, True
        pct = math.floor(100 * pos / self.total) if self.total else 100
        self.stream.write(f"\rhvdbg log: {self.label} {pct}% "
                          f"({pos >> 20} of {self.total >> 20} MiB)")
        self.stream.flush()

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
