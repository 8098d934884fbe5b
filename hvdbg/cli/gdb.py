"""``hvdbg gdb``: start gdb-multiarch attached to an hvdbg (or QEMU) gdb stub.

Runs ``gdb-multiarch`` with the commands an hppa session needs before anything else:

  set architecture hppa1.0     gdb-multiarch's only hppa name
  set endian big               without an ELF gdb assumes little-endian and every
                               register would appear byte-swapped
  file F                       with --file: symbols (vmlinux, a guest ELF)
  target extended-remote H:P   the stub (default 127.0.0.1:1234)

--print prints those commands instead (a gdb script: save it and ``source`` it, or
give each line to another front end).  Arguments after ``--`` go to gdb.

Exit status: gdb's own; 2 usage error, a --file that does not exist, or gdb-multiarch
not installed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from hvdbg.gdbstub.target import ARCHITECTURE

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 1234
GDB = "gdb-multiarch"


def _port(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text}") from None
    if not 0 < v < 65536:
        raise argparse.ArgumentTypeError(f"port must be 1..65535: {text}")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gdb", help="start gdb-multiarch connected to a gdb stub",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"host of the stub (default {DEFAULT_HOST})")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"TCP port of the stub (default {DEFAULT_PORT})")
    p.add_argument("--file", metavar="ELF", help="symbols to load (vmlinux, PROG.elf)")
    p.add_argument("--print", action="store_true", dest="print_only",
                   help="print the gdb commands instead of starting gdb")
    p.add_argument("--gdb", default=GDB, metavar="PROGRAM",
                   help=f"the gdb to run (default {GDB})")
    p.add_argument("gdb_args", nargs=argparse.REMAINDER, metavar="-- GDB-ARGS",
                   help="further arguments for gdb")
    p.set_defaults(func=cmd_gdb)


def _quote(path: str) -> str:
    """gdb splits ``file`` arguments like a shell (buildargv): quote when needed."""
    if path and not any(c in path for c in " \t\"'\\"):
        return path
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def target_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gdb_commands(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 file: str | None = None) -> list[str]:
    """The gdb commands that attach an hppa session to the stub at host:port."""
    cmds = [f"set architecture {ARCHITECTURE}", "set endian big"]
    if file is not None:
        cmds.append(f"file {_quote(file)}")
    cmds.append(f"target extended-remote {target_address(host, port)}")
    return cmds


def cmd_gdb(args: argparse.Namespace) -> int:
    if args.file is not None and not Path(args.file).is_file():
        print(f"hvdbg: gdb: no such file: {args.file}", file=sys.stderr)
        return EXIT_USAGE
    file = None if args.file is None else str(Path(args.file).resolve())
    cmds = gdb_commands(args.host, args.port, file)
    if args.print_only:
        print("\n".join(cmds))
        return EXIT_OK
    gdb = shutil.which(args.gdb)
    if gdb is None:
        hint = " (Debian/Ubuntu: apt-get install gdb-multiarch)" if args.gdb == GDB else ""
        print(f"hvdbg: gdb: {args.gdb} not found{hint}", file=sys.stderr)
        return EXIT_USAGE
    extra = list(args.gdb_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    argv = [gdb, "-q"]
    for c in cmds:
        argv += ["-ex", c]
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: Ctrl-C and the terminal belong to gdb alone.
    os.execv(gdb, argv + extra)
    return EXIT_OK  # pragma: no cover - execv does not return
