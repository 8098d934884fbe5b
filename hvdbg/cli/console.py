"""The host side of the guest console: raw bytes to stdout, keystrokes from stdin."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Self


class StdoutSink:
    """Writes console bytes straight to file descriptor 1 (no Python buffering)."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdout.fileno() if fd is None else fd
        self.broken = False

    def __call__(self, data: bytes) -> None:
        if self.broken:
            return
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except BrokenPipeError:
            self.broken = True        # the reader went away; keep the guest running
        except OSError as e:          # /dev/full, a closed descriptor: say so once
            self.broken = True
            print(f"hvdbg: console output lost: cannot write to stdout "
                  f"({e.strerror or e}); the guest keeps running", file=sys.stderr)


ESCAPE = 0x01                     # Ctrl-A, as QEMU's -nographic console multiplexer
ESCAPE_HELP = (b"\r\nC-a x    exit hvdbg\r\nC-a p    press the soft power button\r\n"
               b"C-a C-a  send C-a to the guest\r\nC-a h    this help\r\n")


class EscapeFilter:
    """QEMU-style console escapes on an interactive terminal: Ctrl-A x quits, Ctrl-A
    Ctrl-A sends one Ctrl-A, Ctrl-A h prints help; everything else goes to the guest.
    hvdbg adds Ctrl-A p: the soft power button (QEMU's monitor ``system_powerdown``)."""

    def __init__(self, quit: Callable[[], None], echo: Callable[[bytes], None],
                 power: Callable[[], None] | None = None) -> None:
        self.quit = quit
        self.echo = echo
        self.power = power or (lambda: None)
        self.pending = False

    def __call__(self, data: bytes) -> bytes:
        out = bytearray()
        for b in data:
            if self.pending:
                self.pending = False
                if b in (ord("x"), ord("X")):
                    self.quit()
                    break
                if b == ESCAPE:
                    out.append(ESCAPE)
                elif b in (ord("p"), ord("P")):
                    self.power()
                elif b in (ord("h"), ord("?")):
                    self.echo(ESCAPE_HELP)
                # any other key after Ctrl-A is dropped, as QEMU does
            elif b == ESCAPE:
                self.pending = True
            else:
                out.append(b)
        return bytes(out)


def start_stdin_reader(push: Callable[[bytes], None], fd: int | None = None,
                       filter: Callable[[bytes], bytes] | None = None
                       ) -> threading.Thread | None:
    """A daemon thread that forwards stdin bytes (through ``filter``) to ``push`` until
    EOF."""
    try:
        fd = sys.stdin.fileno() if fd is None else fd
    except (AttributeError, ValueError, OSError):
        return None

    def reader() -> None:
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            if filter is not None:
                data = filter(data)
            if data:
                push(data)

    t = threading.Thread(target=reader, name="hvdbg-stdin", daemon=True)
    t.start()
    return t


def is_terminal(fd: int | None = None) -> bool:
    try:
        return os.isatty(sys.stdin.fileno() if fd is None else fd)
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def raw_terminal(fd: int | None = None) -> Iterator[None]:
    """Raw input as QEMU's -nographic console: character at a time, no echo (the guest
    echoes), Enter sends CR, Ctrl-C/Ctrl-Z go to the guest (leave with Ctrl-A x, see
    :class:`EscapeFilter`).  No-op when not a terminal."""
    try:
        import termios
        fd = sys.stdin.fileno() if fd is None else fd
        if not os.isatty(fd):
            raise OSError
        old = termios.tcgetattr(fd)
    except (ImportError, AttributeError, ValueError, OSError):
        yield
        return
    new = list(old)
    new[0] &= ~(termios.ICRNL | termios.INLCR | termios.IXON | termios.ISTRIP)
    new[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
    new[6] = list(new[6])
    new[6][termios.VMIN] = 1
    new[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, new)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


class StopSignals:
    """SIGINT and SIGTERM end a run cleanly instead of killing it mid-exit: the handler
    only records the signal and calls ``on_stop`` (a session's request_stop), so the run
    loop ends at an instruction boundary, writes its END record and closes the log.
    ``exit_status`` is 128 + the signal's number, as a shell reports a killed process."""

    def __init__(self, on_stop: Callable[[], None]) -> None:
        self.on_stop = on_stop
        self.signum: int | None = None
        self.event = threading.Event()
        self._old: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:
        self.signum = signum
        self.event.set()
        self.on_stop()

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)  # type: ignore[arg-type]

    @property
    def exit_status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)
