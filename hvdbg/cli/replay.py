"""``hvdbg replay DIR``: re-execute a recorded run from its initial state without
touching any device; the recorded console output goes to stdout, every epoch's state
digest is checked.

Exit status: 0 verified; 1 the re-execution diverged (the first mismatching epoch or
access is named); 2 the log is corrupt, truncated or foreign, or its images changed.
"""
from __future__ import annotations

import argparse
import sys

from hvdbg.cli.console import StdoutSink
from hvdbg.machine.elf import GuestImageError
from hvdbg.machine.spec import SpecError
from hvdbg.machine.stop import StopReason
from hvdbg.replication.roles import Divergence
from hvdbg.trace.log import StreamError
from hvdbg.trace.replay import open_replay, replay


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("replay", help="replay a recorded run and verify it",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", metavar="DIR", help="directory given to --record (or the .hvlog)")
    p.add_argument("--gdb", metavar="[HOST:]PORT",
                   help="debug the replay with gdb: it waits, stopped at instruction 0 "
                        "(as rr replay); attach with: hvdbg gdb --port PORT")
    p.set_defaults(func=cmd_replay)


def _unusable(args: argparse.Namespace, e: Exception) -> int:
    """A log hvdbg cannot use: one line, exit status 2."""
    if isinstance(e, StreamError):
        print(f"hvdbg replay: bad log {args.log}: {e}", file=sys.stderr)
    else:
        print(f"hvdbg replay: cannot rebuild the recorded machine: {e}", file=sys.stderr)
    return 2


def _replay_gdb(args: argparse.Namespace) -> int:
    from hvdbg.gdbstub.commands import Debuggee
    from hvdbg.gdbstub.server import serve_gdb
    try:
        r = open_replay(args.log, StdoutSink())
    except (StreamError, SpecError, GuestImageError) as e:
        return _unusable(args, e)
    try:
        stops = serve_gdb([Debuggee(1, r)], args.gdb, True)
    except (OSError, ValueError) as e:
        print(f"hvdbg replay: error: --gdb {args.gdb}: {e}", file=sys.stderr)
        return 2
    stop = stops.get(1)
    if stop is not None and stop.reason is StopReason.DIVERGED:
        print(f"hvdbg replay: MISMATCH: {stop.message}", file=sys.stderr)
        return 1
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    if args.gdb:
        return _replay_gdb(args)
    try:
        result = replay(args.log, StdoutSink())
    except (StreamError, SpecError, GuestImageError) as e:
        return _unusable(args, e)
    except Divergence as e:
        print(f"hvdbg replay: MISMATCH: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nhvdbg replay: interrupted", file=sys.stderr)
        return 130
    print(f"verified: {result.epochs} epochs, 0 mismatches "
          f"({result.records} records, ended at icount {result.end.icount}: "
          f"{result.end.reason.value if result.end.reason else 'end'})", file=sys.stderr)
    return 0
