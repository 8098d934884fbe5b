"""``hvdbg run``: run a guest on a solo machine (no replication), console on stdio.

Exit status: 0 the guest powered off (or halted / reset itself); 1 the recording could
not be written (disk full, ...); 2 usage error or a
guest image hvdbg cannot load; 3 the instruction limit or the timeout was reached;
4 the core met a fault it cannot continue from; 130 / 143 stopped by SIGINT / SIGTERM
(a recording then ends with an END record and replays up to the stop).

On an interactive terminal the console is raw, as QEMU's -nographic: Ctrl-C goes to
the guest, Ctrl-A x leaves hvdbg (exit status 0), Ctrl-A Ctrl-A sends a Ctrl-A, Ctrl-A p
presses the soft power button (Linux shuts down cleanly).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from hvdbg import __version__
from hvdbg.cli import args as checks
from hvdbg.cli.console import (
    EscapeFilter,
    StdoutSink,
    StopSignals,
    is_terminal,
    raw_terminal,
    start_stdin_reader,
)
from hvdbg.machine.elf import GuestImageError
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import Machine
from hvdbg.machine.spec import GuestSpec, SpecError, add_guest_arguments
from hvdbg.machine.stop import DEADLINE, StopReason, Until
from hvdbg.replication.roles import Primary, ReplicationConfig
from hvdbg.replication.session import Hypervisor
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import Header, LogWriter

EXIT_OK, EXIT_RECORDING, EXIT_USAGE, EXIT_LIMIT, EXIT_FAULT = 0, 1, 2, 3, 4

EPILOG = """exit status: 0 guest powered off; 1 recording not written; 2 usage error or
unloadable image;
3 instruction limit or timeout reached; 4 guest fault; 130/143 SIGINT/SIGTERM"""


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a guest (console on stdin/stdout)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_guest_arguments(p)
    checks.add_run_limits(p)
    p.add_argument("--stats", action="store_true",
                   help="print instructions retired and MIPS on stderr at exit")
    checks.add_record_arguments(
        p, help="record the run (epochs, digests, every I/O value) to DIR/stream.hvlog "
                "for hvdbg replay; interrupts then reach the guest at epoch ends, as "
                "under replication")
    p.add_argument("--epoch", type=int, default=16384, metavar="N",
                   help="instructions per epoch with --record (default 16384)")
    add_gdb_arguments(p)
    p.set_defaults(func=cmd_run)


def add_gdb_arguments(p: argparse.ArgumentParser, wait_flag: bool = True) -> None:
    p.add_argument("--gdb", metavar="[HOST:]PORT",
                   help="serve gdb's remote protocol (loopback unless HOST is given); "
                        "attach with: hvdbg gdb --port PORT")
    if wait_flag:
        p.add_argument("--wait", action="store_true",
                       help="with --gdb: stop before the first instruction until gdb "
                            "continues (as QEMU's -s -S)")


def _session(args: argparse.Namespace, spec: GuestSpec, machine: Machine,
             sink: StdoutSink) -> tuple[Hypervisor, LogWriter | None]:
    """Solo, or with --record a primary without a backup (the same stream, to the log
    only: rr's record)."""
    if not args.record:
        return machine.session(), None
    cfg = ReplicationConfig(args.epoch)
    writer = LogWriter(args.record, Header(
        __version__, "solo", cfg.protocol, cfg.epoch, spec.ram_mib, spec.clock, 1,
        spec.image_digests(), spec.append, shlex.join(["hvdbg", *sys.argv[1:]])),
        force=args.force)
    primary = Primary(machine, cfg, StreamOut(None, writer), ConsoleGate(sink, hold=False))
    return Hypervisor(machine, primary), writer


def _serve_gdb(args: argparse.Namespace, hv: Hypervisor, writer: LogWriter | None) -> int:
    from hvdbg.gdbstub.commands import Debuggee
    from hvdbg.gdbstub.server import serve_gdb
    try:
        stops = serve_gdb([Debuggee(1, hv)], args.gdb, args.wait,
                          args.bios if args.kernel is None else args.kernel)
    except (OSError, ValueError) as e:
        print(f"hvdbg: error: --gdb {args.gdb}: {e}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if writer is not None:
            writer.close()
    stop = stops.get(1)
    return EXIT_OK if stop is None else stop.reason.exit_status


def cmd_run(args: argparse.Namespace) -> int:
    try:
        spec = GuestSpec.from_args(args)
        if args.record:
            ReplicationConfig(args.epoch)
    except (SpecError, ValueError) as e:
        print(f"hvdbg: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    sink = StdoutSink()
    env = Environment(console=sink)
    try:
        machine = spec.boot(env)
    except (GuestImageError, SpecError, MemoryError) as e:
        print(f"hvdbg: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        hv, writer = _session(args, spec, machine, sink)
    except OSError as e:
        print(f"hvdbg: error: cannot record to {args.record}: {e.strerror or e}",
              file=sys.stderr)
        return EXIT_USAGE
    quit_requested: list[bool] = []
    escapes = None
    if is_terminal():
        def quit_console() -> None:
            quit_requested.append(True)
            hv.request_stop()
        escapes = EscapeFilter(quit_console, sink, machine.press_power_button)
    start_stdin_reader(machine.push_input, filter=escapes)
    if args.gdb:
        return _serve_gdb(args, hv, writer)
    until = Until.forever() if args.max_insns is None else Until.insns(args.max_insns)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    t0 = time.monotonic()
    try:
        with StopSignals(hv.request_stop) as signals, raw_terminal():
            stop = hv.resume(until, deadline)
            while stop.reason in (StopReason.BREAKPOINT, StopReason.WATCHPOINT):
                stop = hv.resume(until, deadline)      # breakpoints are a debugger's
            final = stop
            if stop.reason is StopReason.STEPPED:
                final = hv.finish(StopReason.LIMIT)
            elif stop.reason is StopReason.INTERRUPTED:
                final = hv.finish(StopReason.TIMEOUT if stop.message == DEADLINE
                                  else StopReason.STOPPED)
    except OSError as e:                       # ENOSPC while recording, ...
        print(f"hvdbg: error: cannot write the recording: {e.strerror or e}",
              file=sys.stderr)
        return EXIT_RECORDING
    finally:
        if writer is not None:
            try:
                writer.close()
            except OSError as e:
                print(f"hvdbg: error: cannot write the recording: {e.strerror or e}",
                      file=sys.stderr)
                return EXIT_RECORDING
    secs = time.monotonic() - t0
    if args.stats:
        executed = final.icount
        print(f"hvdbg: {executed} instructions retired in {secs:.3f} s: "
              f"{executed / secs / 1e6 if secs > 0 else 0.0:.1f} MIPS", file=sys.stderr)
        if writer is not None:
            print(f"hvdbg: recorded {writer.frames} records ({writer.bytes} bytes) to "
                  f"{writer.path}", file=sys.stderr)
    reason = final.reason
    if reason.guest_ended:
        return EXIT_OK
    if reason is StopReason.STOPPED:
        if quit_requested:
            print("\r\nhvdbg: terminated (Ctrl-A x)", file=sys.stderr)
            return EXIT_OK
        print(f"\nhvdbg: interrupted: {stop.describe()}", file=sys.stderr)
        return signals.exit_status
    where = f"{stop.icount} instructions executed, {stop.where()}"
    if reason is StopReason.LIMIT:
        print(f"hvdbg: instruction limit reached: {where}", file=sys.stderr)
        return EXIT_LIMIT
    if reason is StopReason.TIMEOUT:
        print(f"hvdbg: timeout after {args.timeout:g} s: {where}", file=sys.stderr)
        return EXIT_LIMIT
    print(f"hvdbg: guest {stop.describe()}", file=sys.stderr)
    return EXIT_FAULT
