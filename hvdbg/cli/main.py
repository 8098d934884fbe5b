"""The ``hvdbg`` command line: one subcommand module per verb (run, pair, replay, log,
guest, gdb, debug), each providing ``add_parser(subparsers)``."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from hvdbg import __version__
from hvdbg.cli import debug, gdb, guest, log, pair, processes, replay, run

SUBCOMMANDS = (run, pair, replay, log, guest, gdb, debug, processes)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hvdbg",
        description="PA-RISC B160L emulator with replication, record/replay and a gdb stub")
    p.add_argument("--version", action="version", version=f"hvdbg {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log to stderr: -v warnings (e.g. unmodelled I/O), -vv debug")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for mod in SUBCOMMANDS:
        mod.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.ERROR, 1: logging.WARNING}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, stream=sys.stderr, format="hvdbg: %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:       # Ctrl-C before a run handles it (opening a FIFO, ...)
        print(f"\nhvdbg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
