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
import sys

from hvdbg.cli.console import (
    EscapeFilter,
    StdoutSink,
    is_terminal,
    raw_terminal,
    start_stdin_reader,
)
from hvdbg.machine import memmap
from hvdbg.machine.elf import GuestImageError
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import Machine, RunResult, StopReason

DEFAULT_FIRMWARE = "/usr/share/qemu/hppa-firmware.img"
LINUX_RAM_MIB = 1024
EXIT_OK, EXIT_USAGE, EXIT_LIMIT, EXIT_FAULT, EXIT_INTERRUPTED = 0, 2, 3, 4, 130

EPILOG = """exit status: 0 guest powered off; 2 usage error or unloadable image;
3 instruction limit or timeout reached; 4 guest fault; 130 interrupted"""


def _positive_int(text: str) -> int:
    v = int(text, 0)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return v


def _nonneg_int(text: str) -> int:
    v = int(text, 0)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return v


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text}")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("run", help="run a guest (console on stdin/stdout)",
                       description=__doc__, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bios", metavar="PROG.elf",
                   help="firmware or bare-metal PA-RISC ELF, loaded into the firmware region "
                        f"(default {DEFAULT_FIRMWARE}, SeaBIOS-hppa)")
    p.add_argument("--kernel", metavar="VMLINUX",
                   help="Linux kernel ELF, started by the firmware (as qemu -kernel)")
    p.add_argument("--initrd", metavar="FILE", help="initial ram disk (needs --kernel)")
    p.add_argument("--append", metavar="CMDLINE", default="",
                   help="kernel command line, e.g. \"console=ttyS0 panic=-1\"")
    p.add_argument("-m", "--memory", type=_positive_int, metavar="MiB",
                   help=f"RAM size in MiB (default {memmap.DEFAULT_RAM_MIB}; "
                        f"{LINUX_RAM_MIB} with --kernel)")
    p.add_argument("--max-insns", type=_nonneg_int, metavar="N",
                   help="stop after N retired instructions (exit status 3)")
    p.add_argument("--timeout", type=_positive_float, metavar="S",
                   help="stop after S seconds of host time (exit status 3)")
    p.add_argument("--stats", action="store_true",
                   help="print instructions retired and MIPS on stderr at exit")
    p.add_argument("--clock", choices=("virtual", "host"),
                   help="CR16 and the real-time clocks: host = host time, CR16 at 250 MHz "
                        "(default with --kernel); virtual = from the instruction count, "
                        "deterministic (default otherwise)")
    p.set_defaults(func=cmd_run)


def _where(r: RunResult) -> str:
    null = " (nullified)" if r.nullified else ""
    return (f"{r.executed} instructions executed, pc={r.pc:#010x} "
            f"(space {r.pc_space:#x}): {r.disassembly}{null}")


def cmd_run(args: argparse.Namespace) -> int:
    if args.initrd and not args.kernel:
        print("hvdbg: error: --initrd needs --kernel", file=sys.stderr)
        return EXIT_USAGE
    if args.memory is None:
        args.memory = LINUX_RAM_MIB if args.kernel else memmap.DEFAULT_RAM_MIB
    if args.clock is None:
        args.clock = "host" if args.kernel else "virtual"
    bios = args.bios or DEFAULT_FIRMWARE
    if args.memory * memmap.MIB > memmap.MAX_RAM:
        print(f"hvdbg: error: -m {args.memory}: at most {memmap.MAX_RAM // memmap.MIB} MiB",
              file=sys.stderr)
        return EXIT_USAGE
    sink = StdoutSink()
    env = Environment(console=sink)
    try:
        machine = Machine(args.memory, clock=args.clock, env=env)
        if args.kernel:
            machine.load_linux(bios, args.kernel, args.initrd, args.append)
        else:
            machine.load_bios(bios)
    except GuestImageError as e:
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
