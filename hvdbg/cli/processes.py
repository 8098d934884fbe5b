"""``hvdbg keygen``, ``hvdbg devices``, ``hvdbg backup``, ``hvdbg primary``: the replicated
machine as three processes over authenticated TCP (loopback by default).

  hvdbg keygen KEY
  hvdbg devices --listen 7001 --key-file KEY               (console on its stdio)
  hvdbg backup  --listen 7002 --devices 7001 --key-file KEY --bios PROG.elf
  hvdbg primary --backup 7002 --devices 7001 --key-file KEY --bios PROG.elf

``hvdbg pair --processes`` starts all three locally.  Kill the primary (``kill -9``) and
the backup takes over; the console goes on in the devices process.  Addresses are
``[HOST:]PORT``; HOST defaults to 127.0.0.1.  SIGUSR1 to the devices process presses
the soft power button.

Exit status: 0 the guest ended; 1 link failure, divergence, fenced off (a newer
primary took over) or no peer; 2 usage error or refused; 3 limit; 4 guest fault.
"""
from __future__ import annotations

import argparse
import signal
import sys

from hvdbg.cli import args as checks
from hvdbg.cli.console import StdoutSink, StopSignals, start_stdin_reader
from hvdbg.cli.pair import add_replication_arguments
from hvdbg.machine.elf import GuestImageError
from hvdbg.machine.spec import GuestSpec, SpecError, add_guest_arguments
from hvdbg.replication import processes, tcp
from hvdbg.replication.roles import ReplicationConfig


def address(text: str) -> tuple[str, int]:
    try:
        return tcp.parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _key_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key-file", type=checks.nonempty, required=True, metavar="FILE",
                   help="the shared key (hvdbg keygen FILE); every frame is authenticated "
                        "with it")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    k = sub.add_parser("keygen", help="write a key for authenticated replication (0600)")
    k.add_argument("file", type=checks.nonempty, metavar="FILE")
    k.add_argument("--force", action="store_true", help="overwrite FILE")
    k.set_defaults(func=cmd_keygen)

    d = sub.add_parser("devices", help="the device host: console, devices, clocks",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--listen", type=address, required=True, metavar="[HOST:]PORT")
    _key_arg(d)
    d.add_argument("--port-file", help=argparse.SUPPRESS)
    d.add_argument("--trace-ops", help=argparse.SUPPRESS)     # tests: who did what
    d.set_defaults(func=cmd_devices)

    for name, helptext in (("backup", "the backup VM: follows its primary, takes over"),
                           ("primary", "the primary VM")):
        p = sub.add_parser(name, help=helptext, description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "backup":
            p.add_argument("--listen", type=address, required=True, metavar="[HOST:]PORT")
            checks.add_record_arguments(p, help="write what the backup received (then "
                                                "what it did as primary) to DIR")
            p.add_argument("--port-file", help=argparse.SUPPRESS)
            p.add_argument("--accept-timeout", type=checks.timeout, metavar="S",
                           help="give up when no primary connected within S seconds")
        else:
            p.add_argument("--backup", type=address, required=True, metavar="[HOST:]PORT")
            p.add_argument("--fail-primary-at", type=checks.fail_at, metavar="EPOCH[:INSN]",
                           help="this process kills itself (SIGKILL) there")
        p.add_argument("--devices", type=address, required=True, metavar="[HOST:]PORT")
        _key_arg(p)
        add_guest_arguments(p)
        add_replication_arguments(p)
        p.add_argument("--detect-ms", type=checks.detect_ms,
                       default=processes.DEFAULT_DETECT_MS, metavar="MS",
                       help="failure-detection timeout of the backup (default "
                            f"{processes.DEFAULT_DETECT_MS:g})")
        checks.add_run_limits(p)
        p.add_argument("--summary-json", help=argparse.SUPPRESS)
        p.set_defaults(func=cmd_backup if name == "backup" else cmd_primary)


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        path = tcp.keygen(args.file, args.force)
    except FileExistsError:
        print(f"hvdbg keygen: error: {args.file} exists (--force to overwrite)",
              file=sys.stderr)
        return 2
    except OSError as e:
        print(f"hvdbg keygen: error: {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    print(f"hvdbg keygen: wrote {path} (mode 600)", file=sys.stderr)
    return 0


def _key(args: argparse.Namespace, who: str) -> bytes | None:
    try:
        return tcp.load_key(args.key_file)
    except tcp.AuthError as e:
        print(f"hvdbg {who}: error: {e}", file=sys.stderr)
        return None


def cmd_devices(args: argparse.Namespace) -> int:
    key = _key(args, "devices")
    if key is None:
        return 2
    signals = StopSignals(lambda: None)

    def ready(host: processes.DeviceHost) -> None:
        start_stdin_reader(host.env.push_input)
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, lambda s, f: host.press_power_button())

    with signals:
        return processes.run_devices(key, args.listen, StdoutSink(), signals.event,
                                     args.port_file, args.trace_ops, ready)


def _setup(args: argparse.Namespace, who: str
           ) -> tuple[GuestSpec, ReplicationConfig, bytes] | int:
    try:
        spec = GuestSpec.from_args(args)
        cfg = ReplicationConfig(args.epoch, args.protocol, args.detect_ms / 1000)
        spec.image_digests()
    except (SpecError, ValueError) as e:
        print(f"hvdbg {who}: error: {e}", file=sys.stderr)
        return 2
    if cfg.protocol == "output-rule":
        print(f"hvdbg {who}: error: --protocol output-rule is not available across "
              f"processes yet (the device host would have to hold output)", file=sys.stderr)
        return 2
    key = _key(args, who)
    if key is None:
        return 2
    return spec, cfg, key


def cmd_primary(args: argparse.Namespace) -> int:
    setup = _setup(args, "primary")
    if isinstance(setup, int):
        return setup
    spec, cfg, key = setup
    fail_at = None
    if args.fail_primary_at is not None:
        epoch, insn = args.fail_primary_at
        fail_at = epoch * cfg.epoch + insn
    signals = StopSignals(lambda: None)
    try:
        with signals:
            return processes.run_primary(spec, cfg, key, args.backup, args.devices,
                                         fail_at=fail_at, max_insns=args.max_insns,
                                         timeout=args.timeout, stopping=signals.event,
                                         summary_file=args.summary_json)
    except (GuestImageError, SpecError, MemoryError) as e:
        print(f"hvdbg primary: error: {e}", file=sys.stderr)
        return 2


def cmd_backup(args: argparse.Namespace) -> int:
    setup = _setup(args, "backup")
    if isinstance(setup, int):
        return setup
    spec, cfg, key = setup
    signals = StopSignals(lambda: None)
    try:
        with signals:
            return processes.run_backup(
                spec, cfg, key, args.listen, args.devices, record=args.record,
                force=args.force, command=processes.command_line(sys.argv[1:]),
                max_insns=args.max_insns, timeout=args.timeout, stopping=signals.event,
                port_file=args.port_file, summary_file=args.summary_json,
                accept_s=args.accept_timeout)
    except (GuestImageError, SpecError, MemoryError, OSError) as e:
        print(f"hvdbg backup: error: {e}", file=sys.stderr)
        return 2
