"""``hvdbg pair``: run a guest replicated on a primary and a backup VM (Bressoud &
Schneider's hypervisor-based fault tolerance), optionally kill the primary and watch the
backup take over; console on stdout once, summary on stderr.

Exit status: 0 the guest powered off; 1 the backup diverged, the link broke its
promise or console output could not be released; 2 usage error; 3 limit or timeout;
4 guest fault; 130 / 143 stopped by SIGINT / SIGTERM (the recording ends with END).
"""
from __future__ import annotations

import argparse
import shlex
import sys

from hvdbg.cli import args as checks
from hvdbg.cli.console import StdoutSink, StopSignals, start_stdin_reader
from hvdbg.cli.run import add_gdb_arguments
from hvdbg.machine.elf import GuestImageError
from hvdbg.machine.spec import GuestSpec, SpecError, add_guest_arguments
from hvdbg.machine.stop import StopReason
from hvdbg.replication.link import FAULT_KINDS, LinkConfig
from hvdbg.replication.pair import exit_status, run_pair
from hvdbg.replication.processes import DEFAULT_DETECT_MS
from hvdbg.replication.roles import PROTOCOLS, ReplicationConfig


def add_replication_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epoch", type=int, default=16384, metavar="N",
                   help="instructions per epoch, 1024 .. 1000000 (default 16384)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="refined",
                   help="original: wait for all acks at every epoch end (P2); refined "
                        "(default): wait only before the next I/O; output-rule: never "
                        "wait, hold console output until the backup has the log up to it")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("pair", help="run a guest on a primary and a backup VM",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_guest_arguments(p)
    add_replication_arguments(p)
    checks.add_run_limits(p)
    p.add_argument("--fail-primary-at", type=checks.fail_at, metavar="EPOCH[:INSN]",
                   help="the primary stops dead at instruction INSN of epoch EPOCH "
                        "(fail-stop; an I/O access there is performed but never reported)")
    p.add_argument("--detect-ms", type=checks.detect_ms, metavar="MS",
                   help="failure-detection timeout of the backup, > 0 (default 50; 500 "
                        "with --processes, whose processes share a loaded host)")
    p.add_argument("--link-latency-us", type=checks.latency_us, default=0.0, metavar="US",
                   help="one-way link latency (default 0)")
    p.add_argument("--link-mbps", type=checks.mbps, default=0.0, metavar="MBPS",
                   help="link bandwidth in Mbit/s (default 0: unlimited)")
    p.add_argument("--link-fault", action="append", default=[], metavar="KIND@N",
                   help=f"inject a fault on message N; KIND: {', '.join(FAULT_KINDS)} "
                        "(detected and reported; repeatable)")
    checks.add_record_arguments(p, help="write the stream to DIR/stream.hvlog")
    p.add_argument("--processes", action="store_true",
                   help="primary, backup and devices as three processes over "
                        "authenticated TCP on loopback (see hvdbg primary --help)")
    p.add_argument("--key-file", type=checks.nonempty, metavar="FILE",
                   help="with --processes: the shared key (default: a fresh one)")
    add_gdb_arguments(p)
    p.set_defaults(func=cmd_pair)


def _pair_gdb(args: argparse.Namespace, spec: GuestSpec, cfg: ReplicationConfig,
              link: LinkConfig, sink: StdoutSink) -> int:
    """Both VMs under gdb: process 1 the primary, process 2 the backup."""
    from hvdbg.gdbstub.commands import Debuggee
    from hvdbg.gdbstub.server import serve_gdb
    from hvdbg.replication.pair import Pair
    try:
        pair = Pair(spec, cfg, link=link, record=args.record, sink=sink,
                    command=shlex.join(["hvdbg", *sys.argv[1:]]), force=args.force)
    except (GuestImageError, SpecError, MemoryError, OSError) as e:
        print(f"hvdbg pair: error: {e}", file=sys.stderr)
        return 2
    start_stdin_reader(pair.env.push_input)
    debuggees = [Debuggee(1, pair.sessions[0], pair),
                 Debuggee(2, pair.sessions[1], pair, attached=False)]   # "attach 2"
    try:
        stops = serve_gdb(debuggees, args.gdb, args.wait, args.bios)
    except (OSError, ValueError) as e:
        print(f"hvdbg pair: error: --gdb {args.gdb}: {e}", file=sys.stderr)
        return 2
    finally:
        pair.close()
    ends = [s for s in stops.values() if s.final and s.reason is not StopReason.DIED]
    if any(s.reason in (StopReason.DIVERGED, StopReason.LINK_FAILED) for s in ends):
        return 1
    return 0 if any(s.reason.guest_ended for s in ends) else 1


def cmd_pair(args: argparse.Namespace) -> int:
    try:
        spec = GuestSpec.from_args(args)
        if args.detect_ms is None:
            args.detect_ms = DEFAULT_DETECT_MS if args.processes else 50.0
        cfg = ReplicationConfig(args.epoch, args.protocol, args.detect_ms / 1000)
        link = LinkConfig(args.link_latency_us, args.link_mbps,
                          LinkConfig.parse_faults(args.link_fault))
    except (SpecError, ValueError) as e:
        print(f"hvdbg pair: error: {e}", file=sys.stderr)
        return 2
    fail_at = None
    if args.fail_primary_at is not None:
        epoch, insn = args.fail_primary_at
        fail_at = epoch * cfg.epoch + insn
    if args.processes:
        return _pair_processes(args, spec, cfg, fail_at)
    sink = StdoutSink()
    if args.gdb:
        return _pair_gdb(args, spec, cfg, link, sink)
    signals = StopSignals(lambda: None)
    try:
        with signals:
            summary = run_pair(spec, cfg, link=link, fail_at=fail_at, record=args.record,
                               timeout=args.timeout, max_insns=args.max_insns, sink=sink,
                               command=shlex.join(["hvdbg", *sys.argv[1:]]),
                               input_hook=start_stdin_reader, stopping=signals.event,
                               force=args.force)
    except (GuestImageError, SpecError, MemoryError) as e:
        print(f"hvdbg pair: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if args.record and e.filename is None:   # writing the log (opening it names it)
            print(f"hvdbg pair: error: cannot write the recording: {e.strerror or e}",
                  file=sys.stderr)
            return 1
        print(f"hvdbg pair: error: {e}", file=sys.stderr)
        return 2
    print(summary.render(), file=sys.stderr)
    status = exit_status(summary)
    return signals.exit_status if status == 130 else status


def _pair_processes(args: argparse.Namespace, spec: GuestSpec, cfg: ReplicationConfig,
                    fail_at: int | None) -> int:
    from hvdbg.replication.processes import run_pair_processes
    unsupported = [flag for flag, on in (("--gdb", args.gdb),
                                         ("--link-latency-us", args.link_latency_us),
                                         ("--link-mbps", args.link_mbps),
                                         ("--link-fault", args.link_fault),
                                         ("--protocol output-rule",
                                          cfg.protocol == "output-rule")) if on]
    if unsupported:
        print(f"hvdbg pair: error: --processes does not support {', '.join(unsupported)}",
              file=sys.stderr)
        return 2
    signals = StopSignals(lambda: None)
    with signals:
        summary = run_pair_processes(spec, cfg, key_file=args.key_file, fail_at=fail_at,
                                     record=args.record, force=args.force,
                                     timeout=args.timeout, max_insns=args.max_insns,
                                     stopping=signals.event)
    print(summary.render(), file=sys.stderr)
    status = exit_status(summary)
    return signals.exit_status if status == 130 else status
