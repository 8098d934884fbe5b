"""``hvdbg log DIR``: print a recorded log (the header, then one line per record), as
``rr dump`` does, or summarise it (--stats), or turn it into a timeline
(--chrome-trace, for Perfetto or chrome://tracing) or a per-epoch plot (--plot).

The filters (--kind, --epochs, --icount) select records for every output.  Ranges are
A:B, half-open like a Python slice (either side may be left out), or N for just N.
Times are guest time: icount x ticks per instruction / 250 MHz (the CR16 rate), as
recorded in the header; see docs/tracing.md.

--json prints one JSON object per line (JSON Lines: the header first, then one object
per record); with --stats it prints one JSON document.

Exit status: 0 done; 2 usage error, a corrupt, truncated or foreign log (one line on
stderr; records before the damage have been printed), an output file that cannot be
written, or --plot without matplotlib; 141 stdout was closed early (as ``| head`` does).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from hvdbg.trace.inspect import (
    ChromeTraceWriter,
    EpochSeries,
    GuestClock,
    LogFile,
    LogStats,
    Progress,
    Selection,
    format_record,
    header_json,
    header_lines,
    open_log,
    parse_kinds,
    parse_range,
    plot_available,
    record_json,
    write_plot,
)
from hvdbg.trace.log import StreamError

EXIT_OK, EXIT_BAD, EXIT_PIPE, EXIT_INTERRUPTED = 0, 2, 141, 130


def _arg(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def f(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return f


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("log", help="print, summarise or plot a recorded log",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", metavar="DIR", help="directory given to --record (or the .hvlog)")
    p.add_argument("--kind", type=_arg(parse_kinds), metavar="K[,K...]",
                   help="only these record kinds: epochs, env, io, irq, dma, output, "
                        "heartbeat, promote, uncertain, end")
    p.add_argument("--epochs", type=_arg(parse_range), default=(0, None), metavar="A:B",
                   help="only records about epochs A .. B-1")
    p.add_argument("--icount", type=_arg(parse_range), default=(0, None), metavar="A:B",
                   help="only records about instructions A .. B-1")
    p.add_argument("--json", action="store_true",
                   help="JSON Lines (one object per line); with --stats one JSON document")
    p.add_argument("--stats", action="store_true",
                   help="records and bytes per kind, guest time, log bandwidth per guest "
                        "second (instead of the records)")
    p.add_argument("--no-header", action="store_true", help="records only")
    p.add_argument("--chrome-trace", metavar="OUT.json",
                   help="write a Chrome Trace Event Format timeline (Perfetto, "
                        "chrome://tracing)")
    p.add_argument("--plot", metavar="OUT.png",
                   help="plot I/O, interrupts and log bytes per epoch, failover marked "
                        "(needs matplotlib)")
    p.set_defaults(func=cmd_log)


def _fail(msg: str) -> int:
    # one line even when a message is not (construct's parse errors span two)
    print(f"hvdbg log: {'; '.join(filter(None, msg.splitlines()))}", file=sys.stderr)
    return EXIT_BAD


def _tmp_beside(path: str) -> Path:
    # written beside the target and renamed at the end: a corrupt log must not leave
    # half a trace where a viewer would open it
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.tmp")


def cmd_log(args: argparse.Namespace) -> int:
    if args.plot and not plot_available():
        return _fail("--plot needs matplotlib: pip install 'hvdbg[bench]'")
    sel = Selection(args.kind, args.epochs, args.icount)
    try:
        lf = open_log(args.log)
    except StreamError as e:
        return _fail(f"bad log {args.log}: {e}")
    printing = not (args.stats or args.chrome_trace or args.plot)
    try:
        clock: GuestClock | None = GuestClock.from_header(lf.header)
    except StreamError as e:
        if not printing:
            return _fail(f"bad log {args.log}: {e}")
        clock = None            # the records can still be printed, without guest times
    try:
        return _run(args, lf, sel, clock, printing)
    except StreamError as e:
        return _fail(f"bad log {args.log}: {e}")
    except OSError as e:
        return _fail(f"cannot write {e.filename or 'output'}: {e.strerror or e}")
    except KeyboardInterrupt:
        print("\nhvdbg log: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace, lf: LogFile, sel: Selection, clock: GuestClock | None,
         printing: bool) -> int:
    out = sys.stdout
    try:
        if printing:
            _print(args, lf, sel, clock, out)
            out.flush()
            return EXIT_OK
        assert clock is not None
        return _summaries(args, lf, sel, clock, out)
    except BrokenPipeError:
        # the reader went away (| head): stop quietly; point stdout at /dev/null so the
        # interpreter's final flush cannot raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
        os.close(devnull)
        return EXIT_PIPE


def _print(args: argparse.Namespace, lf: LogFile, sel: Selection, clock: GuestClock | None,
           out: TextIO) -> None:
    if not args.no_header:
        if args.json:
            out.write(json.dumps(header_json(lf)) + "\n")
        else:
            out.write("\n".join(header_lines(lf)) + "\n")
    write, every = out.write, sel.everything
    for e in lf.entries():
        if every or sel.matches(e):
            write(json.dumps(record_json(e, clock)) + "\n" if args.json
                  else format_record(e.rec) + "\n")


def _summaries(args: argparse.Namespace, lf: LogFile, sel: Selection, clock: GuestClock,
               out: TextIO) -> int:
    what = "/".join(w for w, on in (("stats", args.stats), ("trace", args.chrome_trace),
                                    ("plot", args.plot)) if on)
    progress = Progress(lf.size, what)
    lf.progress = progress
    stats = LogStats(lf, sel, clock)
    series = EpochSeries() if args.plot else None
    trace_tmp = _tmp_beside(args.chrome_trace) if args.chrome_trace else None
    try:
        trace_f = open(trace_tmp, "w", encoding="utf-8") if trace_tmp else None  # noqa: SIM115
        try:
            trace = ChromeTraceWriter(trace_f, lf, sel, clock) if trace_f else None
            every = sel.everything
            for e in lf.entries():
                stats.see(e)
                if not (every or sel.matches(e)):
                    continue
                stats.add(e)
                if trace is not None:
                    trace.add(e)
                if series is not None:
                    series.add(e)
            if trace is not None:
                trace.close()
        finally:
            if trace_f is not None:
                trace_f.close()
            progress.done()
        if trace_tmp is not None:
            os.replace(trace_tmp, args.chrome_trace)
            trace_tmp = None
            print(f"hvdbg log: wrote {trace.events if trace else 0} trace events to "
                  f"{args.chrome_trace}", file=sys.stderr)
    finally:
        if trace_tmp is not None:
            trace_tmp.unlink(missing_ok=True)
    if series is not None:
        tmp = _tmp_beside(args.plot).with_suffix(".png")
        try:
            write_plot(series, tmp, f"{lf.path} ({lf.header.role}, epoch {lf.header.epoch})",
                       sel.epochs)
            os.replace(tmp, args.plot)
        finally:
            tmp.unlink(missing_ok=True)
        print(f"hvdbg log: wrote {args.plot}", file=sys.stderr)
    if args.stats:
        out.write((json.dumps(stats.report(), indent=2) if args.json else stats.render())
                  + "\n")
        out.flush()
    return EXIT_OK
