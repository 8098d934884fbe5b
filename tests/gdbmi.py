"""Drive Debian's gdb-multiarch through gdb/MI (pygdbmi), the way an IDE does, against
hvdbg's stub or QEMU's.  Waiting is event-driven: a command returns when gdb's result
record (and, for execution commands, the ``*stopped`` record) has arrived — never after
a fixed sleep."""
from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pygdbmi.gdbcontroller import GdbController

GDB = "gdb-multiarch"
TIMEOUT = 120.0          # a generous bound for a whole command on a loaded machine


class GdbError(AssertionError):
    pass


class Gdb:
    def __init__(self, elf: str | Path | None = None) -> None:
        self.mi = GdbController(command=[GDB, "--nx", "--quiet", "--interpreter=mi3"])
        self.console: list[str] = []
        # as IDEs do: gdb takes commands (an interrupt) while the target runs
        self.mi.write("-gdb-set mi-async on", read_response=False)
        self._wait(False, TIMEOUT)
        self.cmd("set architecture hppa1.0")
        self.cmd("set endian big")
        self.cmd("set pagination off")
        self.cmd("set confirm off")
        if elf is not None:
            self.cmd(f"file {elf}")

    def close(self) -> None:
        with contextlib.suppress(Exception):      # best effort at teardown
            self.mi.exit()

    # ---- the protocol ----
    def _wait(self, want_stop: bool, timeout: float) -> tuple[dict[str, Any], list[dict]]:
        deadline = time.monotonic() + timeout
        result: dict[str, Any] | None = None
        stopped: dict[str, Any] | None = None
        seen: list[dict] = []
        while time.monotonic() < deadline:
            for r in self.mi.get_gdb_response(timeout_sec=0.005, raise_error_on_timeout=False):
                seen.append(r)
                if r["type"] in ("console", "target", "log") and r["payload"]:
                    self.console.append(r["payload"])
                if r["type"] == "result" and result is None:
                    result = r
                if r["type"] == "notify" and r["message"] == "stopped":
                    stopped = r
            if result is not None and result["message"] == "error":
                raise GdbError(result["payload"].get("msg", str(result)))
            if result is not None and (not want_stop or stopped is not None):
                return stopped or result, seen
        raise GdbError(f"gdb did not answer within {timeout} s; last output: {seen[-5:]}")

    def cmd(self, line: str, timeout: float = TIMEOUT) -> str:
        """A CLI command; returns what it printed."""
        start = len(self.console)
        escaped = line.replace("\\", "\\\\").replace('"', '\\"')
        self.mi.write(f'-interpreter-exec console "{escaped}"', read_response=False)
        self._wait(False, timeout)
        return "".join(self.console[start:])

    def run(self, line: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """An execution command (continue, stepi, finish, ...): the ``*stopped`` record."""
        escaped = line.replace('"', '\\"')
        self.mi.write(f'-interpreter-exec console "{escaped}"', read_response=False)
        stopped, _ = self._wait(True, timeout)
        return stopped["payload"] if stopped.get("message") == "stopped" else {}

    def regs(self, names: list[str] | None = None) -> dict[str, int]:
        """Register values by gdb name (all 128 when ``names`` is None)."""
        text = self.cmd("info registers " + " ".join(names or []) if names else
                        "info registers")
        out = {}
        for m in re.finditer(r"^(\w+)\s+(0x[0-9a-f]+)", text, re.MULTILINE):
            out[m.group(1)] = int(m.group(2), 16)
        return out

    def pc(self) -> int:
        text = self.cmd("print/x $pc")
        return int(text.split("=")[1].strip(), 16)


def need_gdb() -> None:
    try:
        subprocess.run([GDB, "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"{GDB} is not installed")
