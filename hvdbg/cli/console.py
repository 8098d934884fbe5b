"""The host side of the guest console: raw bytes to stdout, keystrokes from stdin."""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator


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


def start_stdin_reader(push: Callable[[bytes], None], fd: int | None = None
                       ) -> threading.Thread | None:
    """A daemon thread that forwards stdin bytes to ``push`` until EOF."""
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
            push(data)

    t = threading.Thread(target=reader, name="hvdbg-stdin", daemon=True)
    t.start()
    return t


@contextlib.contextmanager
def raw_terminal(fd: int | None = None) -> Iterator[None]:
    """Character-at-a-time input without echo (the guest echoes), Enter sends CR as a
    serial terminal does; Ctrl-C still interrupts hvdbg.  No-op when not a terminal."""
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
    new[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN)
    new[6] = list(new[6])
    new[6][termios.VMIN] = 1
    new[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, new)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
