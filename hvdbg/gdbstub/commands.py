"""hvdbg's own commands — gdb's ``monitor ...`` and the REPL (``hvdbg debug``) share this
one registry; front ends differ only in how they print the text a command returns and
in how they run a VM (:class:`Frontend`).

A command runs against a :class:`Debuggee` set: the session it is aimed at (the current
inferior) and the others (the pair's second VM).  Text may carry style marks
(:func:`mark`): the REPL colours them, :func:`execute` strips them for gdb."""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hvdbg.cpu import registers
from hvdbg.cpu.core import WATCH_READ, WATCH_WRITE, CoreError
from hvdbg.cpu.disasm import disassemble
from hvdbg.machine.stop import WATCH_KINDS, Stop, StopReason, Until
from hvdbg.replication.roles import Backup, Primary
from hvdbg.replication.session import WriteRefused

if TYPE_CHECKING:
    from hvdbg.machine.elf import SymbolTable
    from hvdbg.replication.pair import Pair
    from hvdbg.replication.session import Hypervisor


class CommandError(Exception):
    """Bad arguments or a command that does not apply here; the text says why."""


@dataclass
class Debuggee:
    """One VM as a debugger sees it: a process id, its session, and its pair if any."""
    pid: int
    hv: Hypervisor
    pair: Pair | None = None
    attached: bool = True
    exited: bool = False
    running: bool = False          # a front end's worker is resuming it (REPL)
    # every register's value when the VM last resumed: 'info registers' marks changes
    before: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"process {self.pid} ({self.hv.role.name})"

    def resume(self, until: Until) -> Stop:
        """Run this VM for a debugger: a backup whose failure detector fires (P7) is
        promoted and goes on as the primary, as in a run without a debugger."""
        stop = self.hv.resume(until)
        if stop.reason is StopReason.PROMOTE and self.pair is not None:
            self.pair.promote()
            stop = self.hv.resume(until)
        return stop


@dataclass
class Point:
    """A breakpoint or watchpoint of the command registry (gdb's own Z packets are the
    stub's business)."""
    num: int
    pid: int
    kind: str                      # break, tbreak, watch, rwatch, awatch
    addr: int
    length: int = 4
    where: str = ""                # as the user wrote it
    hits: int = 0

    @property
    def watch_kinds(self) -> int:
        return {"watch": WATCH_WRITE, "rwatch": WATCH_READ,
                "awatch": WATCH_READ | WATCH_WRITE}[self.kind]


class Frontend:
    """How a front end runs a VM for a command, switches VMs and leaves.  This one is
    gdb's ``monitor``: the stub serves no packets while a command runs, so runs are
    synchronous and bounded, and 'continue', 'vm' and 'quit' are gdb's own business."""

    name = "gdb"
    can_continue = False

    def resume(self, ctx: Context, targets: list[Debuggee], until: Until) -> str:
        text = ""
        for d in targets:
            stop = d.hv.resume(until)
            if stop.reason is StopReason.PROMOTE and d.pair is not None:
                d.pair.promote()                # the failure detector fired (P7)
                stop = d.hv.resume(until)
            text += after_stop(ctx, d, stop)
        return text

    def announce(self, ctx: Context, text: str) -> str:
        """A note about a run about to start: printed with the command's result here;
        a front end that waits for the stop prints it at once instead."""
        return text

    def select(self, ctx: Context, d: Debuggee) -> str:
        raise CommandError("under gdb, 'inferior N' selects a VM ('attach 2' first)")

    def quit(self, ctx: Context) -> str:
        raise CommandError("under gdb, use gdb's 'detach' or 'kill'")

    def interrupt(self, ctx: Context) -> str:
        raise CommandError("under gdb, Ctrl-C interrupts the VM")


@dataclass
class Context:
    current: Debuggee
    all: list[Debuggee]
    options: dict[str, bool] = field(default_factory=lambda: {"break-epoch": False})
    symbols: SymbolTable | None = None
    frontend: Frontend = field(default_factory=Frontend)
    points: dict[int, Point] = field(default_factory=dict)
    next_point: int = 1
    # gdb's own breakpoints (the stub's Z packets): (pid, addr) -> type
    gdb_breaks: dict[tuple[int, int], object] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    help: str
    run: Callable[[Context, list[str]], str]


COMMANDS: dict[str, Command] = {}


def command(name: str, usage: str, help: str) -> Callable[[Callable[[Context, list[str]],
                                                                    str]], Callable]:
    def register(fn: Callable[[Context, list[str]], str]) -> Callable:
        COMMANDS[name] = Command(name, usage, help, fn)
        return fn
    return register


# gdb's abbreviations, so fingers trained on gdb work
ALIASES = {"c": "continue", "cont": "continue", "si": "stepi", "b": "break", "br": "break",
           "d": "delete", "disassemble": "disas", "q": "quit", "i": "info", "h": "help"}


def split(line: str) -> list[str]:
    """The words of a command line; ``x/4xw ADDR`` gives ``['x', '/4xw', 'ADDR']``."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise CommandError(f"cannot parse {line!r}: {e}") from None
    if words and "/" in words[0] and not words[0].startswith("/"):
        name, _, fmt = words[0].partition("/")
        words[:1] = [name, "/" + fmt]
    return words


def execute(ctx: Context, line: str, markup: bool = False) -> str:
    """Run one command line; CommandError for unknown commands and bad arguments.
    Style marks stay in the text only with ``markup`` (the REPL)."""
    words = split(line)
    if not words:
        return run_help(ctx, [])
    name = ALIASES.get(words[0], words[0])
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise CommandError(f"unknown command {words[0]!r}; 'help' lists them")
    try:
        text = cmd.run(ctx, words[1:])
    except WriteRefused as e:
        raise CommandError(str(e)) from None
    except CoreError as e:
        raise CommandError(f"{name}: {e}") from None
    return text if markup else strip_marks(text)


# ---- style marks: one text for both front ends ----
_M_OPEN, _M_MID, _M_CLOSE = "\ue000", "\ue001", "\ue002"
_MARKS = re.compile(f"{_M_OPEN}([^{_M_MID}]*){_M_MID}([^{_M_CLOSE}]*){_M_CLOSE}")


def mark(style: str, text: str) -> str:
    """``text`` in the REPL's style ``style`` (pc, changed, sym, addr, insn, error, stop);
    plain for gdb."""
    return f"{_M_OPEN}{style}{_M_MID}{text}{_M_CLOSE}"


def strip_marks(text: str) -> str:
    return _MARKS.sub(r"\2", text)


def styled(text: str) -> list[tuple[str, str]]:
    """``text`` as (style, text) pieces, unmarked text with style ''."""
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _MARKS.finditer(text):
        if m.start() > pos:
            out.append(("", text[pos:m.start()]))
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    if pos < len(text):
        out.append(("", text[pos:]))
    return out


def _int(text: str, what: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise CommandError(f"{what}: expected a number, got {text!r}") from None
    if v < 0:
        raise CommandError(f"{what}: must be >= 0")
    return v


def _onoff(args: list[str], usage: str) -> bool:
    if len(args) != 1 or args[0] not in ("on", "off"):
        raise CommandError(f"usage: {usage}")
    return args[0] == "on"


@command("help", "help [COMMAND]", "list the commands, or say what one does")
def run_help(ctx: Context, args: list[str]) -> str:
    if args:
        cmd = COMMANDS.get(args[0])
        if cmd is None:
            raise CommandError(f"unknown command {args[0]!r}")
        return f"{cmd.usage}\n  {cmd.help}\n"
    width = max(len(c.usage) for c in COMMANDS.values())
    return "".join(f"{c.usage:<{width}}  {c.help}\n" for c in COMMANDS.values())


@command("role", "role", "which VM this is: solo, primary, backup or replayer")
def run_role(ctx: Context, args: list[str]) -> str:
    lines = []
    for d in ctx.all:
        role = d.hv.role
        what = role.name
        if d.pair is not None and d.pair.promoted is role:
            what += " (promoted from backup: the old primary failed)"
        if role.cfg is not None:
            what += f", protocol {role.cfg.protocol}, epoch {role.cfg.epoch}"
        if d.exited:
            what += ", ended"
        mark = "*" if d is ctx.current else " "
        lines.append(f"{mark} process {d.pid}: {what}\n")
    return "".join(lines)


@command("epoch", "epoch", "epoch, instruction within it, icount, interrupts waiting for "
         "the boundary, records not yet acknowledged")
def run_epoch(ctx: Context, args: list[str]) -> str:
    hv = ctx.current.hv
    role, icount, length = hv.role, hv.core.icount, hv.epoch_len
    if not length:
        return f"icount {icount} (no epochs: this run is neither recorded nor replicated)\n"
    epoch, within = divmod(icount, length)
    waiting, unacked = 0, None
    if isinstance(role, Primary):
        waiting = role.pending_irq | role.env.pending_eirr
        unacked = role.out.seq - 1 - role.out.acked
    elif isinstance(role, Backup):
        waiting = role.irqs.get(epoch, 0)
    text = (f"epoch {epoch}, instruction {within} of {length}, icount {icount}\n"
            f"interrupts waiting for the boundary: {waiting:#010x}\n")
    if unacked is not None:
        text += f"records not yet acknowledged: {unacked}\n"
    return text


@command("step-epoch", "step-epoch [N]", "run to the Nth next epoch boundary (default 1), "
         "its interrupts delivered; then 'maint flush register-cache' in gdb")
def run_step_epoch(ctx: Context, args: list[str]) -> str:
    _max_args(args, 1, "step-epoch [N]")
    n = _int(args[0], "N") if args else 1
    hv = _paused(ctx).hv
    if not hv.epoch_len:
        raise CommandError("this run has no epochs (record or replicate it)")
    return run_vms(ctx, [ctx.current], Until.epochs(max(1, n)))


@command("break-epoch", "break-epoch on|off", "stop at every epoch boundary")
def run_break_epoch(ctx: Context, args: list[str]) -> str:
    ctx.options["break-epoch"] = _onoff(args, "break-epoch on|off")
    return f"break-epoch {'on' if ctx.options['break-epoch'] else 'off'}\n"


@command("allow-divergence", "allow-divergence on|off", "let writes on a backup or a "
         "replay through, as injected faults (it will diverge)")
def run_allow_divergence(ctx: Context, args: list[str]) -> str:
    on = _onoff(args, "allow-divergence on|off")
    for d in ctx.all:                  # (gdb's notion of the current process is lazy)
        d.hv.allow_divergence = on
    return f"allow-divergence {'on' if on else 'off'} for every VM of this session\n"


@command("digest", "digest", "the VM's state digest (registers, TLB, all memory)")
def run_digest(ctx: Context, args: list[str]) -> str:
    hv = ctx.current.hv
    return f"icount {hv.core.icount}: digest {hv.core.digest():#018x}\n"


@command("log", "log [N]", "the stream's records around the current point (default 8)")
def run_log(ctx: Context, args: list[str]) -> str:
    n = _int(args[0], "N") if args else 8
    role = ctx.current.hv.role
    lines: list[str] = []
    if isinstance(role, Primary):
        lines += [f"  sent {r.describe()}\n" for r in list(role.out.recent)[-n:]]
    elif isinstance(role, Backup):
        lines += [f"  used {r.describe()}\n" for r in list(role.recent)[-n:]]
        lines += [f"  next {r.describe()}\n" for r in list(role.ios)[:n]]
    else:
        raise CommandError("a solo run has no stream (record it: hvdbg run --record)")
    return "".join(lines) or "  (no records yet)\n"


@command("failover", "failover", "the primary stops dead now; the backup takes over")
def run_failover(ctx: Context, args: list[str]) -> str:
    pair = ctx.current.pair
    if pair is None:
        raise CommandError("failover needs a pair (hvdbg pair --gdb)")
    if pair.promoted is not None:
        raise CommandError("the backup has already taken over")
    primary_d = next(d for d in ctx.all if d.hv is pair.sessions[0])
    if any(d.running or d.hv.running for d in ctx.all):
        raise CommandError("a VM is running: 'interrupt' (or Ctrl-C) stops it first")
    pair.primary.fail_now()
    stop = pair.sessions[0].resume()
    if stop.reason is not StopReason.DIED:
        raise CommandError(f"the primary did not stop dead: {stop.describe()}")
    primary_d.exited = True
    pair.died_wall = None
    pair.promote()
    return (f"process {primary_d.pid} (the primary) stopped dead at icount {stop.icount}; "
            f"process 2 is the primary now (promoted at icount "
            f"{pair.sessions[1].core.icount})\n")


# =====================================================================================
# running, breakpoints and inspection (the REPL's commands; gdb's monitor has them too)
# =====================================================================================

def _max_args(args: list[str], n: int, usage: str) -> None:
    if len(args) > n:
        raise CommandError(f"usage: {usage}")


def _paused(ctx: Context, d: Debuggee | None = None) -> Debuggee:
    """``d`` (the current VM by default), refusing one that runs or ended."""
    d = d or ctx.current
    if d.running or d.hv.running:
        raise CommandError(f"{d.label} is running: 'interrupt' (or Ctrl-C) stops it")
    return d


def _live(ctx: Context, d: Debuggee | None = None) -> Debuggee:
    d = _paused(ctx, d)
    if d.exited or d.hv.ended:
        last = d.hv.last
        why = f": {last.reason.value}" if last is not None else ""
        raise CommandError(f"{d.label} has ended{why}")
    return d


def symbolize(ctx: Context, addr: int) -> str:
    """`` <sym+off>`` for ``addr`` (privilege bits ignored), or ""."""
    if ctx.symbols is None:
        return ""
    name = ctx.symbols.describe(addr & ~3)
    return f" <{name}>" if name else ""


_ADDR = re.compile(r"^\*?(?P<base>[^+\-]+?)\s*(?:(?P<sign>[+-])\s*(?P<off>\w+))?$")


def address(ctx: Context, text: str) -> int:
    """An address: a number, ``$REGISTER``, a symbol, any of them ``+``/``-`` a number
    (``main+0x10``, ``$sp-64``, ``*0xf0000ea4``)."""
    m = _ADDR.match(text.strip())
    if m is None or m.group("base") == "*":
        raise CommandError(f"expected an address (number, symbol or $register), got {text!r}")
    base, off = m.group("base"), 0
    if m.group("off"):
        off = _int(m.group("off"), "offset")
        off = -off if m.group("sign") == "-" else off
    if base.startswith("$"):
        try:
            reg = registers.lookup(base[1:])
        except KeyError:
            raise CommandError(f"unknown register {base!r}") from None
        value = reg.get(ctx.current.hv.core.state)
    elif base[:1].isdigit():
        value = _int(base, "address")
    else:
        sym = ctx.symbols.lookup(base) if ctx.symbols is not None else None
        if sym is None:
            known = "no symbols loaded" if ctx.symbols is None else "not in the symbol table"
            raise CommandError(f"unknown symbol {base!r} ({known})")
        value = sym.addr
    value += off
    if not 0 <= value <= 0xFFFFFFFF:
        raise CommandError(f"{text}: {value:#x} is outside the 32-bit address space")
    return value


def run_vms(ctx: Context, targets: list[Debuggee], until: Until) -> str:
    """Resume ``targets`` through the front end, remembering their registers first so
    'info registers' can mark what the run changed."""
    for d in targets:
        _live(ctx, d)
    for d in targets:
        state = d.hv.core.state
        d.before = {r.name: r.get(state) for r in registers.REGISTERS}
    return ctx.frontend.resume(ctx, targets, until)


def after_stop(ctx: Context, d: Debuggee, stop: Stop) -> str:
    """Book-keeping for a stop (hit counts, temporary breakpoints, an ended VM) and the
    report every front end prints for it."""
    where = ""
    if stop.reason is StopReason.BREAKPOINT:
        for p in list(ctx.points.values()):
            if p.pid == d.pid and p.kind in ("break", "tbreak") and p.addr == stop.pc & ~3:
                p.hits += 1
                where = f"breakpoint {p.num}, "
                if p.kind == "tbreak":
                    _remove_point(ctx, p)
                    where = f"temporary breakpoint {p.num}, "
    elif stop.reason is StopReason.WATCHPOINT and stop.watch_addr is not None:
        for p in ctx.points.values():
            if p.pid == d.pid and p.kind.endswith("watch") and \
                    p.addr <= stop.watch_addr < p.addr + p.length:
                p.hits += 1
                where = f"{p.kind}point {p.num}, "
                break
    if stop.final:
        d.exited = True
    what = stop.reason.value
    if stop.reason is StopReason.WATCHPOINT and stop.watch_addr is not None:
        what += (f" ({WATCH_KINDS.get(stop.watch_kind, '?')} of {stop.watch_addr:#010x}"
                 f"{symbolize(ctx, stop.watch_addr)})")
    if stop.message:
        what += f": {stop.message}"
    if where:                    # "breakpoint 2" says it; "breakpoint 2, breakpoint" twice
        what = where.rstrip(", ") + what[len(stop.reason.value):]
    head = f"{d.label}: {what}" if not stop.final else f"{d.label} ended: {what}"
    epoch = "" if stop.epoch is None else f", epoch {stop.epoch}"
    null = " (nullified)" if stop.nullified else ""
    return (f"{mark('stop', head)}; icount {stop.icount}{epoch}\n"
            f"{mark('pc', '=> ')}{mark('addr', f'{stop.pc & ~3:#010x}')}"
            f"{mark('sym', symbolize(ctx, stop.pc))}: "
            f"{mark('insn', stop.disassembly)}{null}\n")


@command("continue", "continue [all]", "run the current VM (all: every VM, all-stop) until a "
         "breakpoint, watchpoint, Ctrl-C or the end")
def run_continue(ctx: Context, args: list[str]) -> str:
    if args not in ([], ["all"]):
        raise CommandError("usage: continue [all]")
    if not ctx.frontend.can_continue:
        raise CommandError("under gdb, use gdb's 'continue' (Ctrl-C interrupts it)")
    targets = [ctx.current]
    if args:
        targets = [d for d in ctx.all if not d.exited and not d.hv.ended]
    until = Until.epochs(1) if ctx.options["break-epoch"] else Until.forever()
    note = ""
    for d in targets:
        held = [x for x in ctx.all if isinstance(x.hv.role, Primary) and x not in targets
                and not x.exited and not x.running]
        if isinstance(d.hv.role, Backup) and d.pair is not None and held:
            note = (f"note: {held[0].label} is paused: the backup waits at the end of the "
                    f"primary's last finished epoch ('continue all' runs both)\n")
    return (ctx.frontend.announce(ctx, note) if note else "") + run_vms(ctx, targets, until)


@command("stepi", "stepi [N]", "execute N instructions (default 1) on the current VM")
def run_stepi(ctx: Context, args: list[str]) -> str:
    _max_args(args, 1, "stepi [N]")
    n = _int(args[0], "N") if args else 1
    if n == 0:
        raise CommandError("stepi: N must be >= 1")
    return run_vms(ctx, [ctx.current], Until.insns(n))


@command("interrupt", "interrupt", "stop the running VMs (as Ctrl-C)")
def run_interrupt(ctx: Context, args: list[str]) -> str:
    _max_args(args, 0, "interrupt")
    return ctx.frontend.interrupt(ctx)


def _add_point(ctx: Context, kind: str, where: str, addr: int, length: int = 4) -> Point:
    d = _paused(ctx)
    for p in ctx.points.values():
        if p.pid == d.pid and p.kind == kind and p.addr == addr and p.length == length:
            raise CommandError(f"{p.kind}point {p.num} is already at {addr:#010x}")
    core = d.hv.core
    point = Point(ctx.next_point, d.pid, kind, addr, length, where)
    try:
        if kind in ("break", "tbreak"):
            # the core's set is not counted: one entry per address however many points
            if not any(p.pid == d.pid and p.kind in ("break", "tbreak") and p.addr == addr
                       for p in ctx.points.values()) and \
                    not any(pid == d.pid and a & ~3 == addr for pid, a in ctx.gdb_breaks):
                core.add_breakpoint(addr)
        else:
            core.add_watchpoint(addr, length, point.watch_kinds)
    except (CoreError, ValueError) as e:
        raise CommandError(f"{kind}: {e}") from None
    ctx.points[point.num] = point
    ctx.next_point += 1
    return point


def _remove_point(ctx: Context, p: Point) -> None:
    ctx.points.pop(p.num, None)
    d = next((x for x in ctx.all if x.pid == p.pid), None)
    if d is None:
        return
    core = d.hv.core
    try:
        if p.kind in ("break", "tbreak"):
            gdb_has = any(pid == p.pid and a & ~3 == p.addr for pid, a in ctx.gdb_breaks)
            if not gdb_has and not any(q.pid == p.pid and q.kind in ("break", "tbreak")
                                       and q.addr == p.addr for q in ctx.points.values()):
                core.remove_breakpoint(p.addr)
        else:
            core.remove_watchpoint(p.addr, p.length, p.watch_kinds)
    except KeyError:
        pass                                 # gone already (gdb removed the same address)


def _break(ctx: Context, args: list[str], kind: str) -> str:
    if len(args) != 1:
        raise CommandError(f"usage: {kind} LOCATION (symbol, symbol+OFF, address, *ADDR)")
    addr = address(ctx, args[0])
    if addr & 3:
        raise CommandError(f"{kind}: {addr:#010x} is not an instruction address "
                           "(PA-RISC instructions are 4-byte aligned)")
    p = _add_point(ctx, kind, args[0], addr)
    what = "temporary breakpoint" if kind == "tbreak" else "breakpoint"
    return f"{what} {p.num} at {addr:#010x}{symbolize(ctx, addr)} ({ctx.current.label})\n"


@command("break", "break LOCATION", "stop the current VM when it reaches LOCATION "
         "(symbol, symbol+OFF, address)")
def run_break(ctx: Context, args: list[str]) -> str:
    return _break(ctx, args, "break")


@command("tbreak", "tbreak LOCATION", "as break, deleted when first hit")
def run_tbreak(ctx: Context, args: list[str]) -> str:
    return _break(ctx, args, "tbreak")


def _watch(ctx: Context, args: list[str], kind: str) -> str:
    if not 1 <= len(args) <= 2:
        raise CommandError(f"usage: {kind} ADDRESS [LENGTH] (length in bytes, default 4)")
    addr = address(ctx, args[0])
    length = _int(args[1], "LENGTH") if len(args) == 2 else 4
    if not 1 <= length <= 1 << 20:
        raise CommandError(f"{kind}: LENGTH must be 1 .. {1 << 20}")
    p = _add_point(ctx, kind, args[0], addr, length)
    return (f"{kind}point {p.num}: {addr:#010x}{symbolize(ctx, addr)}, {length} bytes "
            f"({ctx.current.label})\n")


@command("watch", "watch ADDRESS [LENGTH]", "stop when the current VM writes to the range")
def run_watch(ctx: Context, args: list[str]) -> str:
    return _watch(ctx, args, "watch")


@command("rwatch", "rwatch ADDRESS [LENGTH]", "stop when the current VM reads the range")
def run_rwatch(ctx: Context, args: list[str]) -> str:
    return _watch(ctx, args, "rwatch")


@command("awatch", "awatch ADDRESS [LENGTH]", "stop when the current VM reads or writes "
         "the range")
def run_awatch(ctx: Context, args: list[str]) -> str:
    return _watch(ctx, args, "awatch")


@command("delete", "delete [N...]", "delete breakpoints/watchpoints N (all without N)")
def run_delete(ctx: Context, args: list[str]) -> str:
    if any(d.running or d.hv.running for d in ctx.all):
        raise CommandError("a VM is running: 'interrupt' (or Ctrl-C) stops it first")
    nums = [_int(a, "N") for a in args] if args else list(ctx.points)
    missing = [n for n in nums if n not in ctx.points]
    if missing:
        raise CommandError(f"no breakpoint or watchpoint number {missing[0]}")
    for n in nums:
        _remove_point(ctx, ctx.points[n])
    return f"deleted {len(nums)}\n" if nums else "no breakpoints or watchpoints\n"


# registers 'info registers' shows without names: the general registers, SAR, the
# instruction address queues and the interruption registers (gdb numbers 0..41)
DEFAULT_REGISTERS = [r for r in registers.GDB_REGISTERS if (r.num or 0) <= 41 and r.num != 0] \
    + [registers.lookup("psw")]


def _info_registers(ctx: Context, names: list[str]) -> str:
    d = _paused(ctx)
    if names == ["all"]:
        regs = list(registers.REGISTERS)
    elif names:
        regs = []
        for n in names:
            try:
                regs.append(registers.lookup(n.lstrip("$")))
            except KeyError:
                raise CommandError(f"unknown register {n!r} ('info registers all' lists "
                                   f"them)") from None
    else:
        regs = DEFAULT_REGISTERS
    state = d.hv.core.state
    cells = []
    for r in regs:
        v = r.get(state)
        changed = d.before and d.before.get(r.name, v) != v
        text = f"{r.name:<8}{v:#010x}"
        cells.append(mark("changed", text) if changed else text)
    lines = ["   ".join(cells[i:i + 4]) for i in range(0, len(cells), 4)]
    return "".join(line + "\n" for line in lines)


def _info_points(ctx: Context) -> str:
    if not ctx.points:
        return "no breakpoints or watchpoints\n"
    lines = ["Num  Type        VM  Address     Len  Hits  What\n"]
    for p in ctx.points.values():
        sym = symbolize(ctx, p.addr)
        what = p.where if sym == f" <{p.where}>" else p.where + sym
        lines.append(f"{p.num:<4} {p.kind:<11} {p.pid:<3} {p.addr:#010x}  {p.length:<4} "
                     f"{p.hits:<5} {what}\n")
    return "".join(lines)


@command("info", "info registers [NAME...|all] | info breakpoints",
         "registers (changed ones marked since the VM last ran), breakpoints and "
         "watchpoints")
def run_info(ctx: Context, args: list[str]) -> str:
    what = args[0] if args else ""
    if what and "registers".startswith(what):
        return _info_registers(ctx, args[1:])
    if what and ("breakpoints".startswith(what) or "watchpoints".startswith(what)):
        return _info_points(ctx)
    raise CommandError("usage: info registers [NAME...|all] | info breakpoints")


_FMT = re.compile(r"^/(?P<count>\d*)(?P<letters>[xduotcsibhwg]*)$")
_UNITS = {"b": 1, "h": 2, "w": 4, "g": 8}


def _read(ctx: Context, addr: int, n: int, physical: bool) -> bytes:
    hv = ctx.current.hv
    try:
        if physical:
            return hv.core.read_phys(addr, n)
        return hv.read_memory(addr, n)
    except (CoreError, ValueError) as e:
        kind = "physical" if physical else "virtual"
        raise CommandError(f"cannot read {n} bytes at {kind} {addr:#010x}: {e}") from None


def _read_code(ctx: Context, addr: int, physical: bool) -> bytes:
    """An instruction word as the CPU fetches it: through the instruction TLB in the pc's
    space (a kernel maps its text there only), else as data."""
    if not physical:
        core = ctx.current.hv.core
        try:
            return core.read_phys(core.translate(int(core.state.iasq_f), addr, is_code=True), 4)
        except CoreError:
            pass                               # not mapped for execution: try as data
    return _read(ctx, addr, 4, physical)


def disas_lines(ctx: Context, addr: int, count: int, physical: bool = False) -> str:
    """``count`` instructions from ``addr``, the one at the pc marked ``=>``."""
    d = ctx.current
    pc = int(d.hv.core.state.iaoq_f) & ~3
    bps = {p.addr for p in ctx.points.values() if p.pid == d.pid and "break" in p.kind}
    out = []
    for i in range(count):
        a = addr + 4 * i
        if a > 0xFFFFFFFC:
            break
        try:
            word = int.from_bytes(_read_code(ctx, a, physical), "big")
            text = disassemble(word, a)
            raw = f"{word:08x}"
        except CommandError:
            text, raw = "(unreadable)", "????????"
        here = a == pc and not physical
        # the pc's line is all in the 'pc' style; marks do not nest
        arrow, st = ("=> ", "pc") if here else ("   ", "")
        bp = "b" if a in bps else " "
        out.append(f"{mark('pc', arrow) if here else arrow}{bp} "
                   f"{mark(st or 'addr', f'{a:#010x}')}{mark(st or 'sym', symbolize(ctx, a))}:"
                   f"  {raw}  {mark(st or 'insn', text)}\n")
    return "".join(out)


@command("x", "x/FMT [-p] ADDRESS", "examine memory: FMT = [COUNT][x|d|u|o|t|c|s|i][b|h|w|g], "
         "virtual addresses as the CPU translates them, physical with -p")
def run_x(ctx: Context, args: list[str]) -> str:
    usage = "usage: x/[COUNT][FORMAT][UNIT] [-p] ADDRESS, e.g. x/8xw $sp or x/s -p 0x4000"
    fmt = "/"
    if args and args[0].startswith("/"):
        fmt, args = args[0], args[1:]
    physical = "-p" in args
    args = [a for a in args if a != "-p"]
    if len(args) != 1:
        raise CommandError(usage)
    m = _FMT.match(fmt.replace(" ", ""))
    if m is None:
        raise CommandError(usage)
    count = int(m.group("count") or 1)
    letters = m.group("letters")
    form = next((c for c in letters if c in "xduotcsi"), "x")
    unit = _UNITS[next((c for c in letters if c in _UNITS), "b" if form == "c" else "w")]
    if count > 4096:
        raise CommandError("x: COUNT must be <= 4096")
    _paused(ctx)
    addr = address(ctx, args[0])
    if form == "i":
        return disas_lines(ctx, addr & ~3, count, physical)
    if form == "s":
        out = []
        for _ in range(count):
            data = b""
            while len(data) < 4096:
                chunk = _read(ctx, addr + len(data), 1, physical)
                if chunk == b"\0":
                    break
                data += chunk
            label = f"{addr:#010x}{symbolize(ctx, addr)}"
            out.append(f"{mark('addr', label)}:  {data.decode('latin-1')!r}\n")
            addr += len(data) + 1
        return "".join(out)
    data = _read(ctx, addr, count * unit, physical)
    per_line = {1: 8, 2: 8, 4: 4, 8: 2}[unit]
    out = []
    for i in range(0, count, per_line):
        vals = []
        for j in range(i, min(count, i + per_line)):
            v = int.from_bytes(data[j * unit:(j + 1) * unit], "big")
            bits = unit * 8
            if form == "d" and v >> (bits - 1):
                v -= 1 << bits
            vals.append({"x": f"{v:#0{2 + 2 * unit}x}", "d": str(v), "u": str(v),
                         "o": f"{v:#o}", "t": f"{v:0{bits}b}",
                         "c": repr(chr(v)) if v < 0x110000 else f"{v:#x}"}[form])
        a = addr + i * unit
        label = f"{a:#010x}{symbolize(ctx, a)}"
        out.append(f"{mark('addr', label)}:  " + "  ".join(vals) + "\n")
    return "".join(out)


@command("disas", "disas [ADDRESS [N]]", "disassemble N instructions (default 12) from "
         "ADDRESS (default the pc); a function's symbol alone: the whole function")
def run_disas(ctx: Context, args: list[str]) -> str:
    if len(args) > 2:
        raise CommandError("usage: disas [ADDRESS [N]]")
    _paused(ctx)
    count = _int(args[1], "N") if len(args) == 2 else 12
    if not 1 <= count <= 4096:
        raise CommandError("disas: N must be 1 .. 4096")
    if not args:
        return disas_lines(ctx, int(ctx.current.hv.core.state.iaoq_f) & ~3, count)
    addr = address(ctx, args[0])
    sym = ctx.symbols.lookup(args[0]) if ctx.symbols is not None else None
    if len(args) == 1 and sym is not None and sym.func and sym.size:
        count = min(sym.size // 4, 4096)
    return disas_lines(ctx, addr & ~3, count)


@command("status", "status", "each VM: run state, icount, epoch, pc; breakpoints set")
def run_status(ctx: Context, args: list[str]) -> str:
    _max_args(args, 0, "status")
    lines = []
    for d in ctx.all:
        hv = d.hv
        if d.running or hv.running:
            state = "running"
        elif d.exited or hv.ended:
            state = f"ended ({hv.last.reason.value})" if hv.last is not None else "ended"
        elif hv.last is not None:
            state = f"paused ({hv.last.reason.value})"
        else:
            state = "paused (not started)"
        icount = hv.core.icount
        epoch = f", epoch {icount // hv.epoch_len}" if hv.epoch_len else ""
        pc = int(hv.core.state.iaoq_f)
        mark_ = "*" if d is ctx.current else " "
        lines.append(f"{mark_} {d.label}: {state}; icount {icount}{epoch}; "
                     f"pc {pc & ~3:#010x}{symbolize(ctx, pc)}\n")
    n = len(ctx.points)
    lines.append(f"  {n} breakpoint{'s' if n != 1 else ''}/watchpoints; "
                 f"break-epoch {'on' if ctx.options['break-epoch'] else 'off'}\n")
    return "".join(lines)


@command("vm", "vm primary|backup|N", "make that VM the current one (commands act on it)")
def run_vm(ctx: Context, args: list[str]) -> str:
    if len(args) != 1:
        raise CommandError("usage: vm primary|backup|N")
    want = args[0]
    found = None
    for d in ctx.all:
        if want == str(d.pid) or want == d.hv.role.name:
            found = d
            break
    if found is None:
        names = ", ".join(f"{d.pid} ({d.hv.role.name})" for d in ctx.all)
        raise CommandError(f"no VM {want!r}; there are: {names}")
    return ctx.frontend.select(ctx, found)


@command("send", "send [-n] TEXT", "type TEXT and Enter (-n: no Enter) on the guest "
         "console; \\n, \\t, \\x03 escapes")
def run_send(ctx: Context, args: list[str]) -> str:
    enter = True
    if args[:1] == ["-n"]:
        enter, args = False, args[1:]
    if not args:
        raise CommandError("usage: send [-n] TEXT")
    owner = next((d for d in ctx.all if d.hv.role.owns_devices and not d.exited), None)
    if owner is None:
        raise CommandError("no VM here reads the console (a replay's input is the log's)")
    text = " ".join(args)
    try:
        data = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
    except (UnicodeError, ValueError) as e:
        raise CommandError(f"send: bad escape in {text!r}: {e}") from None
    data += b"\r" if enter else b""
    owner.hv.machine.env.push_input(data)
    return f"sent {len(data)} bytes to the console\n"


@command("quit", "quit", "end the session (the VMs are stopped; a recording gets its END)")
def run_quit(ctx: Context, args: list[str]) -> str:
    _max_args(args, 0, "quit")
    return ctx.frontend.quit(ctx)
