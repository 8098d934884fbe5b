"""``hvdbg run``: run a guest on a solo machine (no replication), console on stdio.

Exit status: 0 the guest powered off (or halted / reset itself); 2 usage error or a
guest image hvdbg cannot load; 3 the instruction limit or the timeout was reached;
4 the core met a fault it cannot continue from; 130 interrupted (Ctrl-C).

On an interactive terminal the console is raw, as QEMU's -nographic: Ctrl-C goes to
the guest, Ctrl-A x leaves hvdbg (exit status 0), Ctrl-A Ctrl-A sends a Ctrl-A, Ctrl-A p
presses the soft power button (Linux shuts down cleanly).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import threading
import time

from hvdbg import __version__
from hvdbg.cli import args as checks
from hvdbg.cli.console import (
    EscapeFilter,
    StdoutSink,
    is_terminal,
    raw_terminal,
    start_stdin_reader,
)
from hvdbg.machine.elf import GuestImageError
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import Machine, RunResult, StopReason
from hvdbg.machine.spec import GuestSpec, SpecError, add_guest_arguments
from hvdbg.replication.roles import Primary, ReplicationConfig
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import Header, LogWriter

EXIT_OK, EXIT_USAGE, EXIT_LIMIT, EXIT_FAULT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130

EPILOG = """exit status: 0 guest powered off; 2 usage error or unloadable image;
3 instruction limit or timeout reached; 4 guest fault; 130 interrupted"""


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
    p.set_defaults(func=cmd_run)


def _run_recorded(args: argparse.Namespace, spec: GuestSpec, cfg: ReplicationConfig,
                  machine: Machine, sink: StdoutSink, quit_requested: list[bool]) -> int:
    """A primary without a backup: the same stream, to the log only (rr's record)."""
    try:
        writer = LogWriter(args.record, Header(
            __version__, "solo", cfg.protocol, cfg.epoch, spec.ram_mib, spec.clock, 1,
            spec.image_digests(), spec.append, shlex.join(["hvdbg", *sys.argv[1:]])))
    except OSError as e:
        print(f"hvdbg: error: cannot record to {args.record}: {e.strerror or e}",
              file=sys.stderr)
        return EXIT_USAGE
    primary = Primary(machine, cfg, StreamOut(None, writer), ConsoleGate(sink, hold=False))
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    stop = threading.Event()
    machine.request_stop = stop.set                   # type: ignore[method-assign]
    t0 = time.monotonic()
    try:
        with raw_terminal():
            end = primary.run(max_insns=args.max_insns, deadline=deadline, stop=stop)
    except KeyboardInterrupt:
        end = primary._end(StopReason.STOP)
    finally:
        writer.close()
    secs = time.monotonic() - t0
    if args.stats:
        print(f"hvdbg: {end.icount} instructions retired in {secs:.3f} s; recorded "
              f"{writer.frames} records ({writer.bytes} bytes) to {writer.path}",
              file=sys.stderr)
    if end.reason in (StopReason.POWER_OFF, StopReason.HALT, StopReason.RESET) or \
            quit_requested:
        return EXIT_OK
    if end.reason in (StopReason.LIMIT, StopReason.TIMEOUT):
        print(f"hvdbg: stopped at icount {end.icount} ({end.reason.value})", file=sys.stderr)
        return EXIT_LIMIT
    print(f"hvdbg: guest fault at icount {end.icount}: {end.message}", file=sys.stderr)
    return EXIT_FAULT


def _where(r: RunResult) -> str:
    null = " (nullified)" if r.nullified else ""
    return (f"{r.executed} instructions executed, pc={r.pc:#010x} "
            f"(space {r.pc_space:#x}): {r.disassembly}{null}")


def cmd_run(args: argparse.Namespace) -> int:
    try:
        spec = GuestSpec.from_args(args)
        cfg = ReplicationConfig(args.epoch) if args.record else None
    except (SpecError, ValueError) as e:
        print(f"hvdbg: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    sink = StdoutSink()
    env = Environment(console=sink)
    try:
        machine = spec.boot(env)
    except (GuestImageError, SpecError) as e:
        print(f"hvdbg: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as e:
        print(f"hvdbg: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    quit_requested = []
    escapes = None
    if is_terminal():
        def quit_console() -> None:
            quit_requested.append(True)
            machine.request_stop()
        escapes = EscapeFilter(quit_console, sink, machine.press_power_button)
    start_stdin_reader(machine.push_input, filter=escapes)
    if cfg is not None:
        return _run_recorded(args, spec, cfg, machine, sink, quit_requested)
    try:
        with raw_terminal():
            result = machine.run(max_insns=args.max_insns, timeout=args.timeout)
    except KeyboardInterrupt:
        env.flush_console()
        s = machine.core.state
        print(f"\nhvdbg: interrupted: {machine.core.icount} instructions executed, "
              f"pc={int(s.iaoq_f):#010x}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.stats:
        print(f"hvdbg: {result.executed} instructions retired in {result.seconds:.3f} s: "
              f"{result.mips:.1f} MIPS", file=sys.stderr)
    reason = result.reason
    if reason in (StopReason.POWER_OFF, StopReason.HALT, StopReason.RESET):
        return EXIT_OK
    if reason is StopReason.STOP and quit_requested:
        print("\r\nhvdbg: terminated (Ctrl-A x)", file=sys.stderr)
        return EXIT_OK
    if reason is StopReason.LIMIT:
        print(f"hvdbg: instruction limit reached: {_where(result)}", file=sys.stderr)
        return EXIT_LIMIT
    if reason is StopReason.TIMEOUT:
        print(f"hvdbg: timeout after {args.timeout:g} s: {_where(result)}", file=sys.stderr)
        return EXIT_LIMIT
    msg = f": {result.message}" if result.message else ""
    print(f"hvdbg: guest {reason.value}{msg}; {_where(result)}", file=sys.stderr)
    return EXIT_FAULT
