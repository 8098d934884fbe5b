"""``hvdbg debug``: an interactive debugger (a REPL) over a solo run, a replicated pair
or a replay, with the commands gdb's ``monitor`` has (one registry).

  hvdbg debug --bios PROG.elf                  solo (--record DIR: recorded, with epochs)
  hvdbg debug --pair --bios PROG.elf           primary and backup ('vm backup' switches)
  hvdbg debug --replay DIR                     a recorded run, re-executed

The VMs start paused at instruction 0.  On a terminal the guest console has its own
area of the screen, the prompt stays usable while the guest runs, Ctrl-C stops the
guest (not hvdbg) and Ctrl-D quits; history is kept in $XDG_STATE_HOME/hvdbg/history
(~/.local/state/hvdbg/history).  Otherwise commands are read one a line from stdin and
the console is printed prefixed "guest| ".

Exit status: 0 the session ended (quit, Ctrl-D, end of input); 2 usage error, an image
or log hvdbg cannot load.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from hvdbg.cli import args as checks
from hvdbg.cli.pair import add_replication_arguments
from hvdbg.cli.repl import ConsoleText, ReplApp, is_tty, line_mode
from hvdbg.gdbstub.commands import Debuggee
from hvdbg.machine.elf import GuestImageError, SymbolTable, read_symbols
from hvdbg.machine.environment import Environment
from hvdbg.machine.spec import GuestSpec, SpecError, add_guest_arguments
from hvdbg.replication.roles import ReplicationConfig
from hvdbg.trace.log import StreamError

EXIT_OK, EXIT_USAGE = 0, 2


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("debug", help="debug a guest interactively (REPL)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_guest_arguments(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--pair", action="store_true",
                      help="run the guest replicated: a primary and a backup VM")
    mode.add_argument("--replay", metavar="DIR", type=checks.nonempty,
                      help="debug a recorded run (hvdbg run/pair --record DIR)")
    add_replication_arguments(p)
    # hvdbg pair's 50 ms is tight for a debugger: the REPL's own threads and a loaded
    # host can hold a running primary silent that long, and the backup takes over
    p.add_argument("--detect-ms", type=checks.detect_ms, default=500.0, metavar="MS",
                   help="with --pair: failure-detection timeout of the backup (default 500)")
    checks.add_record_arguments(p, help="record the run to DIR/stream.hvlog (solo: as "
                                        "hvdbg run --record; with --pair: the stream)")
    p.add_argument("--symbols", metavar="ELF", type=checks.nonempty,
                   help="symbols for break/disas/x (default: the kernel, else the "
                        "firmware ELF)")
    p.add_argument("--no-tty", action="store_true",
                   help="line mode even on a terminal (one command a line from stdin)")
    p.set_defaults(func=cmd_debug)


def _symbols(path: str | None) -> tuple[SymbolTable | None, str]:
    if path is None:
        return None, ""
    try:
        table = read_symbols(path)
    except GuestImageError as e:
        return None, f"hvdbg debug: no symbols: {e}"
    return table, ""


def _guest_flags_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, f) not in (None, "") for f in
               ("bios", "kernel", "initrd", "append", "memory", "clock"))


def build_session(args: argparse.Namespace, console: ConsoleText
                  ) -> tuple[list[Debuggee], str | None, Any]:
    """The debuggees for the flags, the default symbol file, and what to close at the
    end (a recorder, a pair); SpecError, GuestImageError, StreamError, OSError."""
    if args.replay:
        from hvdbg.trace.replay import open_replay
        if _guest_flags_given(args) or args.record:
            raise SpecError("--replay takes the guest from the log: no guest flags or "
                            "--record with it")
        hv = open_replay(args.replay, console)
        spec = getattr(hv.role, "spec", None)
        sym = None if spec is None else (spec.kernel or spec.bios)
        return [Debuggee(1, hv)], sym, None
    spec = GuestSpec.from_args(args)
    sym = spec.kernel or spec.bios
    command = shlex.join(["hvdbg", *sys.argv[1:]])
    if args.pair:
        from hvdbg.replication.pair import Pair
        cfg = ReplicationConfig(args.epoch, args.protocol, args.detect_ms / 1000)
        pair = Pair(spec, cfg, record=args.record, sink=console, command=command,
                    force=args.force)
        return [Debuggee(1, pair.sessions[0], pair),
                Debuggee(2, pair.sessions[1], pair)], sym, pair
    from hvdbg.cli.run import _session
    if args.record:
        ReplicationConfig(args.epoch)
    machine = spec.boot(Environment(console=console))
    hv, writer = _session(args, spec, machine, console)  # type: ignore[arg-type]
    return [Debuggee(1, hv)], sym, writer


def cmd_debug(args: argparse.Namespace) -> int:
    console = ConsoleText()
    try:
        debuggees, sym_file, closer = build_session(args, console)
    except StreamError as e:
        print(f"hvdbg debug: bad log {args.replay}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (SpecError, GuestImageError, ValueError, MemoryError) as e:
        print(f"hvdbg debug: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        print(f"hvdbg debug: error: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE
    symbols, warning = _symbols(args.symbols or sym_file)
    if warning:
        print(warning, file=sys.stderr)
    try:
        if is_tty() and not args.no_tty:
            app = ReplApp(debuggees, symbols, console)
            n = len(symbols) if symbols is not None else 0
            app.say(f"hvdbg debug: {', '.join(d.label for d in debuggees)}, paused at "
                    f"icount {debuggees[0].hv.core.icount}; {n} symbols"
                    f"{' from ' + symbols.path if symbols is not None else ''}; "
                    "'help' lists the commands\n")
            app.run()
        else:
            line_mode(debuggees, symbols, console, sys.stdin, sys.stdout)
    finally:
        if closer is not None:
            closer.close()
    return EXIT_OK
