"""hvdbg's own commands — gdb's ``monitor ...`` and (later) the REPL share this one
registry; front ends differ only in how they print the text a command returns.

A command runs against a :class:`Debuggee` set: the session it is aimed at (the current
inferior) and the others (the pair's second VM)."""
from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hvdbg.machine.stop import StopReason, Until
from hvdbg.replication.roles import Backup, Primary

if TYPE_CHECKING:
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


@dataclass
class Context:
    current: Debuggee
    all: list[Debuggee]
    options: dict[str, bool] = field(default_factory=lambda: {"break-epoch": False})


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


def execute(ctx: Context, line: str) -> str:
    """Run one command line; CommandError for unknown commands and bad arguments."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise CommandError(f"cannot parse {line!r}: {e}") from None
    if not words:
        return run_help(ctx, [])
    cmd = COMMANDS.get(words[0])
    if cmd is None:
        raise CommandError(f"unknown command {words[0]!r}; 'help' lists them")
    return cmd.run(ctx, words[1:])


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
    n = _int(args[0], "N") if args else 1
    hv = ctx.current.hv
    if not hv.epoch_len:
        raise CommandError("this run has no epochs (record or replicate it)")
    stop = hv.resume(Until.epochs(max(1, n)))
    return f"{stop.describe()}\n"


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
    return f"allow-divergence {'on' if on else 'off'}\n"


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
