"""Primary, backup and devices as separate processes (architecture section 6): the same
roles and rules as :mod:`hvdbg.replication.pair`, with the in-process link replaced by
an authenticated TCP connection (:mod:`hvdbg.replication.tcp`) and the shared
Environment by the device host (:mod:`hvdbg.replication.devices`).

- ``run_devices``: the Environment; prints the console, reads the keyboard.
- ``run_backup``: listens for its primary, follows the stream; when the primary's
  connection closes (its process died: the kernel closes its sockets, so ``kill -9`` is
  seen at once) or nothing arrives within the detection timeout (a partition), it
  takes over the devices with a newer generation (P7; the old primary is fenced there)
  and goes on as the primary (P8 first).
- ``run_primary``: connects to its backup and claims the devices, then runs.
- ``run_pair_processes``: the three, started locally, behaving like ``hvdbg pair``.

Each of primary and backup can write a JSON summary (what it alone knows) that the
local pair merges into the one :class:`~hvdbg.replication.pair.PairSummary`.
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hvdbg import __version__
from hvdbg.machine.spec import GuestSpec
from hvdbg.machine.stop import Stop, StopReason, Until
from hvdbg.replication import tcp
from hvdbg.replication.devices import (
    CLAIM_START,
    CLAIM_TAKEOVER,
    FENCED_MSG,
    DeviceError,
    DeviceHost,
    RemoteEnvironment,
    claim,
)
from hvdbg.replication.link import LinkError, Receiver
from hvdbg.replication.pair import PairSummary, run_to_end
from hvdbg.replication.roles import (
    END_REASONS,
    Backup,
    Primary,
    ReplicationConfig,
)
from hvdbg.replication.session import Hypervisor, RoleEnd
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import Header, LogWriter, RecordType, encode

FIRST_FRAME_S = 30.0          # a backup waits this long for its primary's first record
DEFAULT_DETECT_MS = 500.0     # processes share a loaded host: a longer default than pair's


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def guest_header(spec: GuestSpec, cfg: ReplicationConfig) -> bytes:
    """What primary, backup and devices must agree on (tcp.guest_header)."""
    return tcp.guest_header(Header(__version__, "pair", cfg.protocol, cfg.epoch,
                                   spec.ram_mib, spec.clock, 1, spec.image_digests(),
                                   spec.append, ""))


def _write_port(path: str | None, srv: Any) -> None:
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(str(srv.getsockname()[1]))
        tmp.replace(path)             # whole or absent, for a reader polling it


def _write_summary(path: str | None, data: dict[str, Any]) -> None:
    if path:
        tmp = Path(path + ".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)


def _stop_json(stop: Stop | None) -> dict[str, Any] | None:
    if stop is None:
        return None
    return {"reason": stop.reason.name, "icount": stop.icount, "message": stop.message}


def _no_console(data: bytes) -> None:
    """Console output is printed by the device host; the roles only record it."""


# =====================================================================================
# devices
# =====================================================================================

def run_devices(key: bytes, listen: tuple[str, int], console: Callable[[bytes], None],
                stopping: threading.Event, port_file: str | None = None,
                trace_file: str | None = None,
                ready: Callable[[DeviceHost], None] | None = None) -> int:
    """Serve until the run ends (a primary says END) or ``stopping``.  0 when the run
    ended, 1 otherwise."""
    host = DeviceHost(key, console)
    if trace_file:
        host.trace = []
    try:
        srv = tcp.listen(listen)
    except OSError as e:
        _say(f"hvdbg devices: error: cannot listen on {listen[0]}:{listen[1]}: "
             f"{e.strerror or e}")
        return 2
    _write_port(port_file, srv)
    _say(f"hvdbg devices: listening on {listen[0]}:{srv.getsockname()[1]}")
    if ready is not None:
        ready(host)
    try:
        host.serve(srv, stopping.is_set)
    finally:
        srv.close()
        if trace_file and host.trace is not None:
            Path(trace_file).write_text(json.dumps(host.trace))
    return 0 if host.ended is not None else 1


# =====================================================================================
# primary
# =====================================================================================

def run_primary(spec: GuestSpec, cfg: ReplicationConfig, key: bytes,
                backup: tuple[str, int], devices: tuple[str, int], *,
                fail_at: int | None = None, max_insns: int | None = None,
                timeout: float | None = None, stopping: threading.Event | None = None,
                summary_file: str | None = None, connect_s: float = 30.0) -> int:
    """Connect to the backup (the handshake compares the guests), claim the devices,
    run.  Exit status: 0 the guest ended; 1 link failure or fenced; 2 refused or
    unusable; 3 limit; 4 fault.  At ``fail_at`` the process kills itself (SIGKILL)."""
    stopping = stopping or threading.Event()
    header = guest_header(spec, cfg)
    try:
        conn = tcp.connect(backup, key, tcp.PURPOSE_STREAM, header, connect_s)
    except tcp.AuthError as e:
        _say(f"hvdbg primary: error: backup {backup[0]}:{backup[1]}: {e}")
        return 2
    machine = spec.boot()
    try:
        env = claim(devices, key, header, CLAIM_START, lambda: machine.core.icount,
                    connect_s)
    except DeviceError as e:
        conn.close()
        _say(f"hvdbg primary: error: devices {devices[0]}:{devices[1]}: {e}")
        return 2
    machine.env = env                                 # type: ignore[assignment]
    out = StreamOut(tcp.TcpChannel(conn, "stream"), None)
    acks = Receiver(lambda rec, frame: out.on_ack(rec), "ack link")
    acks.on_error = lambda err: (out.link_failed(err), conn.close())  # type: ignore[func-returns-value]
    tcp.pump(conn, acks, lambda why: out.link_failed(LinkError(why)), lambda: False,
             "primary-acks")
    primary = Primary(machine, cfg, out, ConsoleGate(_no_console, hold=False))
    primary.fail_at = fail_at
    hv = Hypervisor(machine, primary)
    until = Until.forever() if max_insns is None else Until.icount(max_insns)
    deadline = None if timeout is None else time.monotonic() + timeout
    stop: Stop | None = None
    t_run = time.monotonic()
    try:
        out.send(RecordType.HEARTBEAT, (0,))          # the backup starts listening
        stop = run_to_end(hv, until, deadline, stopping)
    except LinkError as e:
        _say(f"hvdbg primary: link failed: {e}")
    summary = {"role": "primary", "stop": _stop_json(stop), "messages": out.messages,
               "bytes": out.bytes, "acks": out.acked + 1, "ack_wait_s": out.ack_wait_s,
               "ack_waits": out.waits, "epochs": primary.epochs_done,
               "run_s": time.monotonic() - t_run,
               "died_at": primary.died_at, "unreported_io": primary.unreported_io,
               "device_round_trips": env.round_trips,
               "device_rtt_s": env.rtt_s}
    _write_summary(summary_file, summary)
    if stop is not None and stop.reason is StopReason.DIED and primary.died_at is not None:
        # fail-stop for real: the backup learns it as from any crash (its socket closes)
        os.kill(os.getpid(), signal.SIGKILL)
    if stop is None:
        conn.close()
        return 1
    if stop.reason is StopReason.DIED:
        _say(f"hvdbg primary: stopped: {stop.message}")
    elif stop.reason is StopReason.LINK_FAILED:
        _say(f"hvdbg primary: stopped: link failed: {stop.message}")
    elif stop.reason in END_REASONS:
        env.end(int(END_REASONS[stop.reason]))
    conn.close()
    return _status(stop)


def _status(stop: Stop | None) -> int:
    return 1 if stop is None else stop.reason.exit_status


# =====================================================================================
# backup
# =====================================================================================

def run_backup(spec: GuestSpec, cfg: ReplicationConfig, key: bytes,
               listen: tuple[str, int], devices: tuple[str, int], *,
               record: str | None = None, force: bool = False, command: str = "",
               max_insns: int | None = None, timeout: float | None = None,
               stopping: threading.Event | None = None, port_file: str | None = None,
               summary_file: str | None = None, accept_s: float | None = None) -> int:
    """Wait for the primary (refusing peers without the key or with another guest),
    follow it, take over when it is gone.  Exit status as :func:`run_primary`."""
    stopping = stopping or threading.Event()
    header = guest_header(spec, cfg)
    try:
        srv = tcp.listen(listen)
    except OSError as e:
        _say(f"hvdbg backup: error: cannot listen on {listen[0]}:{listen[1]}: "
             f"{e.strerror or e}")
        return 2
    _write_port(port_file, srv)
    _say(f"hvdbg backup: listening on {listen[0]}:{srv.getsockname()[1]}")
    deadline_accept = None if accept_s is None else time.monotonic() + accept_s

    def check(theirs: bytes) -> str:
        problem = tcp.header_problem(header, theirs)
        return f"this backup runs another guest: {problem}" if problem else ""

    conn = tcp.accept(srv, key, tcp.PURPOSE_STREAM, header, check, stopping.is_set,
                      lambda m: _say(f"hvdbg backup: {m}"), deadline_accept)
    srv.close()                                     # one primary per backup
    if conn is None:
        _say("hvdbg backup: no primary connected")
        return 1
    machine = spec.boot()
    backup = Backup(machine, cfg)
    recorder = None
    if record is not None:
        recorder = LogWriter(record, Header(
            __version__, "pair", cfg.protocol, cfg.epoch, spec.ram_mib, spec.clock, 1,
            spec.image_digests(), spec.append, command), force=force)
        backup.recorder = recorder
    ack_chan = tcp.TcpChannel(conn, "ack")
    ack_seq = [0]

    def send_ack(seq: int) -> None:
        try:
            ack_chan.send(encode(RecordType.ACK, ack_seq[0], (seq,)))
            ack_seq[0] += 1
        except LinkError:
            pass                                 # the reader sees the end too

    backup.send_ack = send_ack
    lost_at: list[float] = []
    last_type: list[RecordType | None] = [None]

    def receive(rec: Any, frame: bytes) -> None:
        last_type[0] = rec.type
        backup.p3_receive(rec, frame)

    def lost(why: str) -> None:
        if last_type[0] is RecordType.END:
            return                               # the primary finished and hung up
        if not lost_at:
            lost_at.append(time.monotonic())
            if not backup.closed and not stopping.is_set():
                _say(f"hvdbg backup: primary lost: {why}")
        backup.peer_lost()

    rx = Receiver(receive, "link")
    rx.on_error = lambda err: (conn.close(), lost(str(err)))  # type: ignore[func-returns-value]
    tcp.pump(conn, rx, lost, lambda: False, "backup-stream")
    t_first = time.monotonic() + FIRST_FRAME_S
    while backup.received == 0 and not backup.lost and time.monotonic() < t_first \
            and not stopping.is_set():
        time.sleep(0.01)
    backup.last_rx = time.monotonic()
    hv = Hypervisor(machine, backup)
    summary: dict[str, Any] = {"role": "backup"}
    stop = run_to_end(hv, Until.forever(), None, stopping)
    promoted: Primary | None = None
    env: RemoteEnvironment | None = None
    if stop.reason is StopReason.PROMOTE and not stopping.is_set():
        detected = time.monotonic()
        conn.close()                             # nothing more from the old primary
        take = backup.takeover()
        try:
            env = claim(devices, key, header, CLAIM_TAKEOVER, lambda: machine.core.icount)
        except DeviceError as e:
            _say(f"hvdbg backup: error: cannot take over the devices: {e}")
            _finish_backup(summary, summary_file, backup, None, stop, recorder)
            return 1
        machine.env = env                             # type: ignore[assignment]
        out2 = StreamOut(None, recorder, seq=take.next_seq)
        promoted = Primary(machine, cfg, out2, ConsoleGate(_no_console, hold=False),
                           takeover=take)
        hv.change_role(promoted)
        try:
            out2.send(RecordType.PROMOTE, (promoted.current_epoch(), machine.core.icount))
            promoted.p8_uncertain_interrupts()
        except (LinkError, RoleEnd) as e:
            _say(f"hvdbg backup: takeover failed: {e}")
            _finish_backup(summary, summary_file, backup, promoted, stop, recorder)
            return 1
        summary["takeover_icount"] = machine.core.icount
        live = time.monotonic()
        # from the moment the primary was known lost (its connection closed) or, when
        # only silence told, from the last frame heard (the detection timeout included)
        since = lost_at[0] if lost_at else min(backup.last_rx, detected)
        summary["failover_s"] = live - since
        how = "its connection closed" if lost_at else "heard nothing since"
        _say(f"hvdbg backup: promoted to primary at icount {machine.core.icount} "
             f"(generation {env.generation}), {1000 * (live - since):.1f} ms after "
             f"{'the primary was lost: ' if lost_at else ''}{how}")
        until = Until.forever() if max_insns is None else Until.icount(max_insns)
        deadline = None if timeout is None else time.monotonic() + timeout
        stop = run_to_end(hv, until, deadline, stopping)
        summary["first_io"] = env.first_access    # the dead primary's unreported one?
        if stop.reason in END_REASONS:
            env.end(int(END_REASONS[stop.reason]))
        elif stop.reason is StopReason.DIED and stop.message == FENCED_MSG:
            _say(f"hvdbg backup: stopped: {stop.message}")
    elif stop.reason in (StopReason.DIVERGED, StopReason.LINK_FAILED):
        _say(f"hvdbg backup: {stop.reason.value}: {stop.message}")
    _finish_backup(summary, summary_file, backup, promoted, stop, recorder)
    conn.close()
    return _status(stop)


def _finish_backup(summary: dict[str, Any], path: str | None, backup: Backup,
                   promoted: Primary | None, stop: Stop | None,
                   recorder: LogWriter | None) -> None:
    if recorder is not None:
        recorder.close()
    summary.update({"stop": _stop_json(stop), "verified": backup.verified,
                    "epochs": max(backup.epochs_done,
                                  promoted.epochs_done if promoted else 0),
                    "promoted": promoted is not None,
                    "messages": promoted.out.messages if promoted else 0,
                    "bytes": promoted.out.bytes if promoted else 0,
                    "log": str(recorder.path) if recorder is not None else ""})
    _write_summary(path, summary)


# =====================================================================================
# all three, locally
# =====================================================================================

def _wait_file(path: Path, proc: subprocess.Popen[bytes], what: str,
               timeout: float = 60.0) -> str:
    t_end = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the {what} process exited ({proc.returncode}) before "
                               f"it listened")
        if time.monotonic() > t_end:
            raise RuntimeError(f"the {what} process did not listen within {timeout:g} s")
        time.sleep(0.02)
    return path.read_text()


def guest_flags(spec: GuestSpec) -> list[str]:
    flags = ["--bios", spec.bios, "-m", str(spec.ram_mib), "--clock", spec.clock]
    if spec.kernel:
        flags += ["--kernel", spec.kernel]
    if spec.initrd:
        flags += ["--initrd", spec.initrd]
    if spec.append:
        flags += ["--append", spec.append]
    return flags


def run_pair_processes(spec: GuestSpec, cfg: ReplicationConfig, *,
                       key_file: str | None = None, fail_at: int | None = None,
                       record: str | None = None, force: bool = False,
                       timeout: float | None = None, max_insns: int | None = None,
                       sink: Callable[[bytes], None] | None = None,
                       stopping: threading.Event | None = None,
                       trace_file: str | None = None,
                       on_started: Callable[[dict[str, subprocess.Popen[bytes]]], None]
                       | None = None) -> PairSummary:
    """``hvdbg pair --processes``: devices, backup and primary as three local processes
    on loopback.  The console comes from the device process: to this process's stdout
    (inherited) or, with ``sink``, through a pipe.  ``on_started`` sees the processes
    (a test kills the primary)."""
    stopping = stopping or threading.Event()
    summary = PairSummary(cfg.protocol, cfg.epoch)
    work = Path(tempfile.mkdtemp(prefix="hvdbg-pair-"))
    if key_file is None:
        key_file = str(tcp.keygen(work / "key"))
    base = [sys.executable, "-m", "hvdbg"]
    common = ["--key-file", key_file]
    repl = ["--epoch", str(cfg.epoch), "--protocol", cfg.protocol,
            "--detect-ms", repr(cfg.detect_s * 1000)]
    limits: list[str] = []
    if timeout is not None:
        limits += ["--timeout", repr(timeout)]
    if max_insns is not None:
        limits += ["--max-insns", str(max_insns)]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    pump_thread: threading.Thread | None = None
    user_stop = stopping.is_set()
    t0 = time.monotonic()
    try:
        dev_cmd = base + ["devices", "--listen", "127.0.0.1:0", "--port-file",
                          str(work / "devices.port")] + common
        if trace_file:
            dev_cmd += ["--trace-ops", trace_file]
        procs["devices"] = devices = subprocess.Popen(
            dev_cmd, stdout=subprocess.PIPE if sink is not None else None,
            stdin=subprocess.DEVNULL if sink is not None else None)
        if sink is not None:
            assert devices.stdout is not None
            stream = devices.stdout

            def relay() -> None:
                while True:
                    data = stream.read1(65536)
                    if not data:
                        return
                    sink(data)

            pump_thread = threading.Thread(target=relay, daemon=True, name="console")
            pump_thread.start()
        dport = _wait_file(work / "devices.port", devices, "devices")
        bcmd = base + ["backup", "--listen", "127.0.0.1:0", "--port-file",
                       str(work / "backup.port"), "--devices", f"127.0.0.1:{dport}",
                       "--summary-json", str(work / "backup.json"),
                       "--accept-timeout", "60"] + common + repl \
            + limits + guest_flags(spec)
        if record is not None:
            bcmd += ["--record", record] + (["--force"] if force else [])
        # primary and backup in sessions of their own: a Ctrl-C at the terminal reaches
        # this process, which stops them in order (they read no terminal; the device
        # host, which does, stays in the foreground and stops on its own)
        procs["backup"] = bproc = subprocess.Popen(bcmd, stdin=subprocess.DEVNULL,
                                                   start_new_session=True)
        bport = _wait_file(work / "backup.port", bproc, "backup")
        pcmd = base + ["primary", "--backup", f"127.0.0.1:{bport}", "--devices",
                       f"127.0.0.1:{dport}", "--summary-json",
                       str(work / "primary.json")] + common + repl + limits \
            + guest_flags(spec)
        if fail_at is not None:
            pcmd += ["--fail-primary-at", f"0:{fail_at}"]
        procs["primary"] = subprocess.Popen(pcmd, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        if on_started is not None:
            on_started(procs)
        bound = None if timeout is None else timeout + 60.0
        for name in ("primary", "backup"):
            p = procs[name]
            while p.poll() is None:
                if stopping.is_set():
                    user_stop = True
                    for q in (procs["primary"], procs["backup"]):
                        if q.poll() is None:
                            q.send_signal(signal.SIGTERM)   # (no traceback if it is still starting)
                    stopping.clear()
                if bound is not None and time.monotonic() - t0 > bound:
                    p.kill()
                time.sleep(0.02)
        # the devices end when a primary says END; if none could, end them here
        try:
            devices.wait(2.0)
        except subprocess.TimeoutExpired:
            devices.terminate()
            devices.wait(10.0)
        if pump_thread is not None:
            pump_thread.join(5.0)
    except RuntimeError as e:
        if stopping.is_set():
            user_stop = True
        else:
            summary.error = str(e)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    summary.seconds = time.monotonic() - t0
    _merge(summary, work, procs, fail_at)
    if summary.end is None and user_stop:        # stopped before any VM could say so
        summary.end = Stop(StopReason.STOPPED, 0, 0, 0, None)
        summary.error = ""
    return summary


def _merge(summary: PairSummary, work: Path, procs: dict[str, subprocess.Popen[bytes]],
           fail_at: int | None) -> None:
    def load(name: str) -> dict[str, Any]:
        try:
            return dict(json.loads((work / f"{name}.json").read_text()))
        except (OSError, ValueError):
            return {}

    p, b = load("primary"), load("backup")
    summary.messages = p.get("messages", 0) + b.get("messages", 0)
    summary.bytes = p.get("bytes", 0) + b.get("bytes", 0)
    summary.acks = p.get("acks", 0)
    summary.ack_wait_s = p.get("ack_wait_s", 0.0)
    summary.ack_waits = p.get("ack_waits", 0)
    summary.verified = b.get("verified", 0)
    summary.epochs = max(p.get("epochs", 0), b.get("epochs", 0))
    summary.log = b.get("log", "")
    if p.get("run_s") and not b.get("promoted"):
        summary.seconds = p["run_s"]        # the guest's run, as hvdbg pair reports it
    if p.get("device_round_trips"):
        n = p["device_round_trips"]
        summary.note = (f"{n} device round trips, "
                        f"{1e6 * p.get('device_rtt_s', 0.0) / n:.0f} us each on average")
    pstop, bstop = p.get("stop"), b.get("stop")
    if b.get("promoted"):
        summary.died_at = p.get("died_at")
        if summary.died_at is None:
            if pstop:
                summary.died_at = pstop["icount"]
            else:                           # killed from outside: it could not tell us
                summary.died_at = b.get("takeover_icount", 0)
                summary.note = ("the primary's process was killed from outside: the "
                                "failure point shown is where the backup took over")
        summary.fenced = bool(pstop) and pstop.get("message") == FENCED_MSG
        summary.failover_s = b.get("failover_s")
        unreported = p.get("unreported_io")
        if unreported is not None and unreported == b.get("first_io"):
            summary.repeated_io = 1             # the backup did it again (protocol.md)
        final = bstop
    else:
        final = pstop
    if final is not None:
        summary.end = Stop(StopReason[final["reason"]], final["icount"], 0, 0, None,
                           message=final["message"])
    for who, st in (("backup", bstop), ("primary", pstop)):
        if st and st["reason"] in ("DIVERGED", "LINK_FAILED") and not summary.error \
                and not (who == "primary" and b.get("promoted")):
            summary.error = f"{who}: {st['message']}"
    if final is None and not summary.error:
        codes = {n: q.returncode for n, q in procs.items()}
        summary.error = f"no process reported how the run ended (exit statuses {codes})"
    if fail_at is not None and summary.died_at is None and not summary.error:
        summary.note = (f"the primary never reached --fail-primary-at (icount {fail_at}): "
                        f"no failure was injected")


def command_line(argv: list[str]) -> str:
    return shlex.join(["hvdbg", *argv])
