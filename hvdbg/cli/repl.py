"""The REPL of ``hvdbg debug``: the command registry of :mod:`hvdbg.gdbstub.commands`
(gdb's ``monitor`` runs the same commands) with a front end that runs VMs in worker
threads, so the prompt stays usable while a guest runs and Ctrl-C stops the guest,
not hvdbg.

:class:`Debugger` is the front end proper (runs, stops, heartbeats, quitting) and knows
nothing of screens; :class:`ReplApp` is the full-screen prompt_toolkit interface (guest
console on top, transcript, prompt, toolbar); :func:`line_mode` serves a pipe or a file:
one command a line, the console prefixed and interleaved.
"""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from hvdbg.cpu import registers
from hvdbg.gdbstub.commands import (
    ALIASES,
    COMMANDS,
    CommandError,
    Context,
    Debuggee,
    Frontend,
    after_stop,
    execute,
    split,
    strip_marks,
    styled,
    symbolize,
)
from hvdbg.machine.elf import SymbolTable
from hvdbg.machine.stop import Stop, StopReason, Until
from hvdbg.replication.roles import Primary

KEEP_ALIVE_S = 0.005      # as the gdb stub: well inside the backup's detection timeout
CONSOLE_LINES = 2000      # guest console lines kept on screen
TRANSCRIPT_LINES = 5000
HELP_BAR = " hvdbg  (help: commands; Tab completes; Ctrl-C stops the guest; Ctrl-D quits) "

log = logging.getLogger("hvdbg.repl")


class Debugger(Frontend):
    """The REPL's front end.  ``say`` receives every stop report (style-marked text)
    from the collector thread; with ``wait`` a command that runs a VM returns only
    once the VMs it started stopped (line mode: one command after another)."""

    name = "repl"
    can_continue = True

    def __init__(self, debuggees: list[Debuggee], symbols: SymbolTable | None,
                 say: Callable[[str], None], wait: bool = False) -> None:
        self.ctx = Context(debuggees[0], debuggees, symbols=symbols, frontend=self)
        self.say = say
        self.wait = wait
        self.stops: queue.Queue[tuple[Debuggee, Stop | BaseException]] = queue.Queue()
        self.group: set[int] = set()          # pids of the current all-stop group
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.quitting = False
        self._note = ""
        self.closed = threading.Event()
        self.on_change: Callable[[], None] = lambda: None
        threading.Thread(target=self._collect, name="repl-stops", daemon=True).start()
        threading.Thread(target=self._keep_alive, name="repl-heartbeat",
                         daemon=True).start()

    # ---- the registry's Frontend interface ----
    def resume(self, ctx: Context, targets: list[Debuggee], until: Until) -> str:
        with self.lock:
            busy = [d for d in targets if d.running]
            if busy:
                raise CommandError(f"{busy[0].label} is running already")
            for d in targets:
                d.running = True
                self.group.add(d.pid)
        for d in targets:
            threading.Thread(target=self._worker, args=(d, until), daemon=True,
                             name=f"vm{d.pid}").start()
        self.on_change()
        if self.wait:
            note, self._note = self._note, ""
            if note:
                self.say(note)
            self.wait_idle()
            return ""
        names = " and ".join(d.label for d in targets)
        return f"{names} running; Ctrl-C or 'interrupt' stops it\n"

    def announce(self, ctx: Context, text: str) -> str:
        if self.wait:                 # the command returns only when the VMs stopped:
            self._note += text        # said once they run (so a Ctrl-C after it stops them)
            return ""
        return text

    def select(self, ctx: Context, d: Debuggee) -> str:
        ctx.current = d
        self.on_change()
        return f"current VM: {d.label}\n"

    def interrupt(self, ctx: Context | None = None) -> str:
        running = [d for d in self.ctx.all if d.running]
        for d in running:
            d.hv.request_stop()
        return "stopping " + ", ".join(d.label for d in running) + "\n" if running \
            else "nothing is running\n"

    def quit(self, ctx: Context) -> str:
        self.shutdown()
        return "bye\n"

    # ---- running ----
    def _worker(self, d: Debuggee, until: Until) -> None:
        try:
            self.stops.put((d, d.resume(until)))
        except BaseException as e:  # noqa: BLE001 (reported, never kills the REPL)
            self.stops.put((d, e))

    def _collect(self) -> None:
        while not self.closed.is_set():
            try:
                d, res = self.stops.get(timeout=0.1)
            except queue.Empty:
                continue
            with self.lock:
                first = d.pid in self.group and len(self.group) > 0
                self.group.discard(d.pid)
                others = [x for x in self.ctx.all if x.pid in self.group]
            if first:
                for x in others:                     # all-stop: the first stop pauses all
                    x.hv.request_stop()
            if isinstance(res, Stop):
                text = after_stop(self.ctx, d, res)
            else:
                d.exited = True
                text = f"{d.label} failed: {type(res).__name__}: {res}\n"
            with self.lock:
                d.running = False
                self.idle.notify_all()
            self.say(text)
            self.on_change()

    def _keep_alive(self) -> None:
        """A primary the user holds stopped still sends heartbeats, so its backup never
        takes it for a dead one (as the gdb stub does)."""
        while not self.closed.wait(KEEP_ALIVE_S):
            for d in self.ctx.all:
                role = d.hv.role
                if isinstance(role, Primary) and not d.running and not d.exited:
                    try:
                        role.heartbeat_while_paused()
                    except Exception:            # a broken link: the backup says so
                        log.exception("heartbeat of %s", d.label)

    def running(self) -> list[Debuggee]:
        return [d for d in self.ctx.all if d.running]

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self.lock:
            return self.idle.wait_for(lambda: not any(d.running for d in self.ctx.all),
                                      timeout)

    def shutdown(self) -> None:
        """Stop every VM, end each run (a recording gets its END), stop the threads."""
        if self.quitting:
            return
        self.quitting = True
        self.interrupt()
        self.wait_idle(10.0)
        for d in self.ctx.all:
            if not d.exited and not d.hv.ended and not d.running:
                try:
                    d.hv.finish(StopReason.STOPPED)
                except Exception:              # leaving anyway; the log says why
                    log.exception("ending %s", d.label)
        self.closed.set()

    # ---- one command line ----
    def run_line(self, line: str) -> tuple[str, bool]:
        """(marked text, is_error) for one command line; bad input is one line of
        text, never an exception."""
        try:
            text = execute(self.ctx, line, markup=True)
        except CommandError as e:
            return f"{e}\n", True
        except Exception as e:  # noqa: BLE001 (a bug must not end the session)
            return f"internal error: {type(e).__name__}: {e}\n", True
        cur = self.ctx.current
        if cur.exited and cur.pair is not None and cur.pair.promoted is not None:
            new = next((d for d in self.ctx.all if d.hv.role is cur.pair.promoted), None)
            if new is not None and new is not cur:
                self.ctx.current = new
                text += f"current VM: {new.label}\n"
        return text, False

    # ---- what the toolbar shows ----
    def toolbar(self) -> list[tuple[str, str]]:
        try:
            return self._toolbar()
        except Exception as e:  # noqa: BLE001 (a screen that fails to draw stops the REPL)
            return [("class:toolbar.ended", f" toolbar: {type(e).__name__}: {e} ")]

    def _toolbar(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for d in self.ctx.all:
            hv = d.hv
            if d.running:
                state, style = "running", "class:toolbar.running"
            elif d.exited or hv.ended:
                state, style = "ended", "class:toolbar.ended"
            else:
                last = hv.last
                state = "paused" if last is None else f"paused: {last.reason.value}"
                style = "class:toolbar.paused"
            cur = "*" if d is self.ctx.current else ""
            icount = hv.core.icount
            epoch = f" epoch {icount // hv.epoch_len}" if hv.epoch_len else ""
            pc = int(hv.core.state.iaoq_f)
            if out:
                out.append(("class:toolbar", " | "))
            out.append((style, f" {d.pid}:{hv.role.name}{cur} {state} "))
            out.append(("class:toolbar",
                        f"{epoch} icount {icount} pc {pc & ~3:#010x}{symbolize(self.ctx, pc)}"))
        return out


# =====================================================================================
# completion
# =====================================================================================

_SYMBOL_ARGS = {"break", "tbreak", "disas", "x", "watch", "rwatch", "awatch", "b", "br",
                "disassemble"}


def completions(ctx: Context, text: str) -> tuple[int, list[str]]:
    """(start of the word being completed, candidates) for the input ``text``."""
    try:
        words = split(text) if text.strip() else []
    except CommandError:
        return len(text), []
    if text and not text[-1].isspace() and words:
        word, before = words[-1], words[:-1]
    else:
        word, before = "", words
    start = len(text) - len(word)
    if not before:
        names = sorted(set(COMMANDS) | set(ALIASES))
        return start, [n for n in names if n.startswith(word)]
    cmd = ALIASES.get(before[0], before[0])
    if word.startswith("$") or (cmd == "info" and len(before) >= 2):
        prefix = word.lstrip("$").lower()
        dollar = "$" if word.startswith("$") else ""
        names = sorted(registers.names())
        return start, [dollar + n for n in names if n.startswith(prefix)]
    if cmd == "info" and len(before) == 1:
        return start, [w for w in ("registers", "breakpoints") if w.startswith(word)]
    if cmd == "help" and len(before) == 1:
        return start, [n for n in sorted(COMMANDS) if n.startswith(word)]
    if cmd == "vm" and len(before) == 1:
        opts = [d.hv.role.name for d in ctx.all] + [str(d.pid) for d in ctx.all]
        return start, [o for o in opts if o.startswith(word)]
    if cmd in ("continue",) and len(before) == 1:
        return start, ["all"] if "all".startswith(word) else []
    if cmd in ("break-epoch", "allow-divergence") and len(before) == 1:
        return start, [w for w in ("on", "off") if w.startswith(word)]
    if cmd in _SYMBOL_ARGS and ctx.symbols is not None and word:
        # a vmlinux has ~50000 names: only prefixes, and a bounded list
        found = [n for n in ctx.symbols.names() if n.startswith(word)]
        return start, sorted(found)[:200]
    return start, []


# =====================================================================================
# the full-screen interface
# =====================================================================================

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


class ConsoleText:
    """The guest's console output as lines (control sequences dropped); thread-safe."""

    def __init__(self, limit: int = CONSOLE_LINES) -> None:
        self.lines: list[str] = [""]
        self.limit = limit
        self.lock = threading.Lock()
        self.total = 0
        # told of each feed (the screen redraws) and of the lines it completed (line mode)
        self.on_feed: Callable[[], None] = lambda: None
        self.on_lines: Callable[[list[str]], None] = lambda done: None

    def __call__(self, data: bytes) -> None:
        """The guest console's sink (any thread)."""
        done = self.feed(data)
        if done:
            self.on_lines(done)
        self.on_feed()

    def feed(self, data: bytes) -> list[str]:
        """Add ``data``; returns the lines it completed."""
        # CR dropped: guests end lines with CR LF, often split across two writes
        text = _CONTROL.sub("", data.decode("utf-8", "replace").replace("\r", ""))
        done: list[str] = []
        with self.lock:
            self.total += len(data)
            parts = text.split("\n")
            self.lines[-1] += parts[0]
            for part in parts[1:]:
                done.append(self.lines[-1])
                self.lines.append(part)
            del self.lines[:-self.limit]
        return done

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.lines)


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hvdbg"


class ReplApp:
    """``hvdbg debug`` on a terminal: the guest console on top, the transcript of
    commands and stop reports below, the prompt, and a toolbar with each VM's role,
    run state, epoch, icount and pc.  ``input``/``output`` are prompt_toolkit's (tests
    pass a pipe input and a DummyOutput)."""

    def __init__(self, debuggees: list[Debuggee], symbols: SymbolTable | None,
                 console: ConsoleText, input: Any = None, output: Any = None,
                 history: Path | None = None) -> None:
        from prompt_toolkit.application import Application
        from prompt_toolkit.buffer import Buffer
        from prompt_toolkit.completion import Completer, Completion
        from prompt_toolkit.data_structures import Point
        from prompt_toolkit.history import FileHistory, History, InMemoryHistory
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.layout import Float, FloatContainer, HSplit, Layout, Window
        from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
        from prompt_toolkit.layout.dimension import Dimension
        from prompt_toolkit.layout.menus import CompletionsMenu
        from prompt_toolkit.layout.processors import BeforeInput
        from prompt_toolkit.styles import Style

        self.console = console
        console.on_feed = self.invalidate
        self.transcript: list[list[tuple[str, str]]] = [[]]   # lines of fragments
        self.tlock = threading.Lock()
        self.dbg = Debugger(debuggees, symbols, self.say)
        self.dbg.on_change = self.invalidate
        ctx = self.dbg.ctx

        class _Completer(Completer):
            def get_completions(self, document: Any, event: Any) -> Iterable[Completion]:
                start, cands = completions(ctx, document.text_before_cursor)
                for c in cands:
                    yield Completion(c, start_position=start - len(document.text_before_cursor))

        hist: History = InMemoryHistory()
        path = history if history is not None else state_dir() / "history"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            hist = FileHistory(str(path))
        except OSError:
            pass                                   # no state directory: history in memory
        self.buffer = Buffer(multiline=False, completer=_Completer(), history=hist,
                             accept_handler=self._accept, complete_while_typing=False)

        # The cursor (the last line: the windows scroll to it) must be counted from the
        # same snapshot as the text, or a line added between the two breaks the render.
        rows = {"console": 0, "transcript": 0}

        def console_text() -> list[tuple[str, str]]:
            text = console.text()
            rows["console"] = text.count("\n")
            return [("class:console", text)]

        def transcript_text() -> list[tuple[str, str]]:
            frags = self._transcript_fragments()
            rows["transcript"] = sum(t.count("\n") for _, t in frags)
            return frags

        console_win = Window(FormattedTextControl(
            console_text, get_cursor_position=lambda: Point(0, rows["console"])),
            wrap_lines=True, height=Dimension(weight=2, min=3), style="class:console")
        transcript_win = Window(FormattedTextControl(
            transcript_text, get_cursor_position=lambda: Point(0, rows["transcript"])),
            wrap_lines=True, height=Dimension(weight=3, min=3))
        prompt = Window(BufferControl(self.buffer, input_processors=[
            BeforeInput("(hvdbg) ", style="class:prompt")]), height=1)
        toolbar = Window(FormattedTextControl(self.dbg.toolbar), height=1,
                         style="class:toolbar")
        body = HSplit([
            Window(FormattedTextControl([("class:title", " guest console ")]), height=1,
                   style="class:title"),
            console_win,
            Window(FormattedTextControl([("class:title", HELP_BAR)]), height=1,
                   style="class:title"),
            transcript_win, prompt, toolbar])
        root = FloatContainer(body, floats=[Float(xcursor=True, ycursor=True,
                                                  content=CompletionsMenu(max_height=10))])
        kb = KeyBindings()

        @kb.add("c-c")
        def _(event: Any) -> None:
            if self.dbg.running():
                self.say(self.dbg.interrupt())
            else:
                self.buffer.reset()

        @kb.add("c-d")
        def _(event: Any) -> None:
            if self.buffer.text:
                self.buffer.delete()
                return
            self._run("quit")

        style = Style.from_dict({
            "title": "reverse", "console": "", "prompt": "bold #5fafff",
            "toolbar": "bg:#262640 #d0d0d0", "toolbar.running": "bg:#2e7d32 #ffffff bold",
            "toolbar.paused": "bg:#b26a00 #ffffff bold", "toolbar.ended": "bg:#8b1a1a #ffffff bold",
            "pc": "bold #ffaf00", "changed": "bold #ff5f5f", "sym": "#5fd7ff",
            "addr": "#87afaf", "insn": "#d7d787", "stop": "bold #ff87ff",
            "error": "#ff5f5f", "echo": "bold",
        })
        self.app: Application[None] = Application(
            layout=Layout(root, focused_element=prompt), key_bindings=kb, style=style,
            full_screen=True, input=input, output=output, refresh_interval=0.5,
            mouse_support=False)

    # ---- output ----
    def invalidate(self) -> None:
        # a redraw request before the app runs or after it ended is simply not needed
        with contextlib.suppress(RuntimeError, AttributeError):
            self.app.invalidate()

    def say(self, text: str, style: str = "") -> None:
        """Append marked ``text`` to the transcript (any thread)."""
        with self.tlock:
            for frag_style, frag in styled(text):
                cls = " ".join(f"class:{s}" for s in (style, frag_style) if s)
                parts = frag.split("\n")
                for i, part in enumerate(parts):
                    if i:
                        self.transcript.append([])
                    if part:
                        self.transcript[-1].append((cls, part))
            del self.transcript[:-TRANSCRIPT_LINES]
        self.invalidate()

    def _transcript_fragments(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        with self.tlock:
            for i, line in enumerate(self.transcript):
                if i:
                    out.append(("", "\n"))
                out.extend(line)
        return out

    def transcript_text(self) -> str:
        """What the transcript holds, without styles (tests)."""
        with self.tlock:
            return "\n".join("".join(t for _, t in line) for line in self.transcript)

    # ---- input ----
    def _accept(self, buf: Any) -> bool:
        self._run(buf.text)
        return False

    def _run(self, line: str) -> None:
        self.say(f"(hvdbg) {line}\n", "echo")
        if not line.strip():
            return
        text, error = self.dbg.run_line(line)
        self.say(text, "error" if error else "")
        if self.dbg.quitting:
            self.app.exit()

    def run(self) -> None:
        # the terminal is raw, so Ctrl-C is a key (bound above); a SIGINT from elsewhere
        # (kill -INT) stops the VMs the same way instead of ending hvdbg
        old = None
        if threading.current_thread() is threading.main_thread():
            old = signal.signal(signal.SIGINT, lambda *_: self.say(self.dbg.interrupt()))
        try:
            self.app.run(handle_sigint=False)
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
            self.dbg.shutdown()


# =====================================================================================
# line mode: stdin is not a terminal
# =====================================================================================

CONSOLE_PREFIX = "guest| "


def line_mode(debuggees: list[Debuggee], symbols: SymbolTable | None, console: ConsoleText,
              lines: TextIO, out: TextIO, echo: bool = True) -> Debugger:
    """Commands from ``lines`` one after another (a command that runs a VM returns when
    it stopped); the console's complete lines go to ``out`` prefixed ``guest| ``,
    interleaved with the transcript.  SIGINT stops the running VMs, not hvdbg."""
    lock = threading.Lock()

    def write(text: str) -> None:
        with lock:
            out.write(text)
            out.flush()

    dbg = Debugger(debuggees, symbols, lambda t: write(strip_marks(t)), wait=True)
    console.on_lines = lambda done: write("".join(CONSOLE_PREFIX + x + "\n" for x in done))
    old = None
    if threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGINT, lambda *_: dbg.interrupt())
    try:
        for line in lines:
            line = line.rstrip("\n")
            if echo:
                write(f"(hvdbg) {line}\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            text, error = dbg.run_line(line)
            write(("error: " if error else "") + strip_marks(text))
            if dbg.quitting:
                break
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        dbg.shutdown()
        partial = console.lines[-1]
        if partial:
            write(CONSOLE_PREFIX + partial + "\n")
    return dbg


def is_tty() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
