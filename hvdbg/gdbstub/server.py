"""The gdb stub: applies parsed requests (:mod:`hvdbg.gdbstub.packets`) to sessions.

One connection at a time, all-stop.  Each VM is a gdb *process* (``multiprocess+``,
one thread each): process 1 is the solo VM, the replay, or a pair's primary; process 2
a pair's backup (``attach 2``).  Resuming runs the chosen sessions in worker threads;
the first stop pauses the others and is reported.  While gdb holds a primary stopped,
its backup keeps hearing heartbeats, so a paused primary is never taken for a dead one.
"""
from __future__ import annotations

import logging
import queue
import socket
import sys
import threading

from hvdbg.cpu.core import WATCH_READ, WATCH_WRITE, CoreError
from hvdbg.gdbstub import packets as P
from hvdbg.gdbstub import rsp, target
from hvdbg.gdbstub.commands import CommandError, Context, Debuggee, execute
from hvdbg.machine.stop import Stop, StopReason, Until
from hvdbg.replication.roles import Backup, Primary
from hvdbg.replication.session import WriteRefused

log = logging.getLogger("hvdbg.gdbstub")

PACKET_SIZE = 0x4000
_WATCH_KINDS = {P.BreakpointType.WRITE_WATCH: WATCH_WRITE,
                P.BreakpointType.READ_WATCH: WATCH_READ,
                P.BreakpointType.ACCESS_WATCH: WATCH_READ | WATCH_WRITE}


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` (loopback unless a host is given)."""
    host, _, port = text.rpartition(":")
    try:
        n = int(port)
    except ValueError:
        raise ValueError(f"--gdb {text!r}: expected [HOST:]PORT") from None
    if not 0 <= n <= 65535:
        raise ValueError(f"--gdb {text!r}: port must be 0 .. 65535")
    return host or default_host, n


class GdbServer:
    def __init__(self, debuggees: list[Debuggee], host: str = "127.0.0.1",
                 port: int = 1234) -> None:
        self.debuggees = debuggees
        self.ctx = Context(debuggees[0], debuggees)
        self.sock = socket.create_server((host, port))
        self.address = self.sock.getsockname()[:2]
        self.stops: queue.Queue[tuple[Debuggee, Stop | BaseException]] = queue.Queue()
        self.running: set[int] = set()
        # (pid, addr) -> type, for every VM (gdb inserts a location once for the pair);
        # the registry's break/delete (monitor) see it too, as the core keeps one
        # uncounted entry per address for both
        self.breaks: dict[tuple[int, int], P.BreakpointType] = self.ctx.gdb_breaks
        self.watches: dict[tuple[int, int], P.BreakpointType] = {}   # (addr, len) -> type
        self.last_stop: dict[int, Stop] = {}
        self.killed = False
        self.conn: rsp.Connection | None = None

    # ---- serving ----
    def serve(self, wait: bool = True) -> None:
        """Accept gdb connections until one kills the VMs, or all of them ended and no
        gdb is attached.  Without ``wait`` the VMs run until gdb attaches (and again
        after it detaches), as QEMU's ``-s`` without ``-S``."""
        self.sock.settimeout(0.1)
        free = not wait
        while not self.killed:
            if free and not self.running:
                self._run_free()
            try:
                sock, _ = self.sock.accept()
            except TimeoutError:
                self._collect(block=False)
                if all(d.exited or d.hv.ended for d in self.debuggees):
                    break
                continue
            self._pause_all()
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn = rsp.Connection(sock)
            try:
                self._session()
            except rsp.ConnectionClosed:
                pass
            except (rsp.RspError, OSError) as e:   # a peer that breaks the protocol:
                log.warning("gdb: dropped the connection: %s", e)   # the next may connect
            finally:
                self.conn.close()
                self.conn = None
            if all(d.exited or d.hv.ended for d in self.debuggees):
                break
            free = True                       # gdb went away: the VMs run on
            for d in self.debuggees:
                d.attached = d.pid == 1
        self._pause_all()
        self.sock.close()

    def _run_free(self) -> None:
        for d in self.debuggees:
            if not d.exited and not d.hv.ended:
                self.running.add(d.pid)
                threading.Thread(target=self._worker, args=(d, Until.forever()),
                                 daemon=True, name=f"vm{d.pid}").start()

    def _collect(self, block: bool) -> None:
        while self.running:
            try:
                d, res = self.stops.get(timeout=0.05 if block else 0)
            except queue.Empty:
                if not block:
                    return
                self._keep_alive()
                continue
            self.running.discard(d.pid)
            if isinstance(res, Stop):
                self.last_stop[d.pid] = res
                d.exited = d.exited or res.final
            else:
                d.exited = True

    def _pause_all(self) -> None:
        for pid in list(self.running):
            d = self._d(pid)
            assert d is not None
            d.hv.request_stop()
        self._collect(block=True)

    def _session(self) -> None:
        conn = self.conn
        assert conn is not None
        while not self.killed:
            ev = conn.recv(timeout=None)
            if isinstance(ev, rsp.Interrupt) or ev is None:
                continue                                 # nothing runs: nothing to stop
            if isinstance(ev, rsp.FrameError):
                if ev.intact:
                    conn.send(P.error(1))
                continue
            try:
                req = P.parse(ev.payload)
            except P.ParseError as e:
                log.info("gdb: %s", e)
                conn.send(P.error(1))
                continue
            try:
                reply = self._apply(req)
            except (rsp.RspError, OSError):
                raise
            except Exception as e:
                log.exception("gdb: %r", req)
                reply = self._refuse(RuntimeError(f"internal error on this request: {e}"))
            if reply is not None:
                conn.send(reply)
                if isinstance(req, P.StartNoAckMode):
                    conn.ack_mode = False
            if isinstance(req, P.Kill):
                return

    def _d(self, pid: int | None) -> Debuggee | None:
        for d in self.debuggees:
            if pid in (None, -1, 0) or d.pid == pid:
                return d
        return None

    @property
    def cur(self) -> Debuggee:
        return self.ctx.current

    # ---- requests ----
    def _apply(self, req: P.Request) -> bytes | None:
        d = self.cur
        hv = d.hv
        match req:
            case P.QSupported():
                feats = ["QStartNoAckMode+", "swbreak+", "hwbreak+", "vContSupported+",
                         "multiprocess+", "qXfer:features:read+"]
                return P.supported(PACKET_SIZE, feats)
            case P.StartNoAckMode() | P.ExtendedMode():
                return P.OK
            case P.XferRead(object="features"):
                data = target.read_feature(req.annex, req.offset, req.length)
                return P.error(0) if data is None else data
            case P.QueryHaltReason():
                return self._stop_reply(d, self.last_stop.get(d.pid))
            case P.ThreadInfoFirst():
                live = [P.ThreadId(x.pid, 1) for x in self.debuggees
                        if x.attached and not x.exited]
                return P.thread_list(live) if live else P.END_OF_LIST
            case P.ThreadInfoNext():
                return P.END_OF_LIST
            case P.CurrentThread():
                return P.current_thread(P.ThreadId(d.pid, 1))
            case P.Attached():
                return b"1"
            case P.SetThread():
                new = self._d(req.thread.pid)
                if new is None:
                    return P.error(2)
                if req.thread.pid not in (None, -1, 0):
                    self.ctx.current = new
                return P.OK
            case P.ThreadAlive():
                t = self._d(req.thread.pid)
                return P.OK if t is not None and t.attached and not t.exited else P.error(1)
            case P.VAttach():
                t = self._d(req.pid)
                if t is None or req.pid in (0, -1):
                    return P.error(1)
                t.attached = True
                self.ctx.current = t
                return P.stop_reply(P.SIGTRAP, thread=P.ThreadId(t.pid, 1))
            case P.ReadRegisters():
                return b"".join(b"%08x" % v for v in hv.read_registers())
            case P.ReadRegister():
                if not 0 <= req.regno < 128:
                    return P.error(1)
                return b"%08x" % hv.read_registers()[req.regno]
            case P.WriteRegisters():
                if len(req.data) != 512:
                    return P.error(1)
                old = hv.read_registers()
                return self._writes(d, [(i, int.from_bytes(req.data[4 * i:4 * i + 4], "big"))
                                        for i in range(128)
                                        if int.from_bytes(req.data[4 * i:4 * i + 4], "big")
                                        != old[i]])
            case P.WriteRegister():
                if not 0 <= req.regno < 128 or len(req.value) != 4:
                    return P.error(1)
                return self._writes(d, [(req.regno, int.from_bytes(req.value, "big"))])
            case P.ReadMemory():
                try:
                    return P.hex_encode(hv.read_memory(req.addr, min(req.length, 0x2000)))
                except (CoreError, ValueError):
                    return P.error(14)
            case P.WriteMemory():
                try:
                    note = hv.write_memory(req.addr, req.data)
                except WriteRefused as e:
                    return self._refuse(e)
                except (CoreError, ValueError):
                    return P.error(14)
                self._note(note)
                return P.OK
            case P.Breakpoint():
                return self._breakpoint(d, req)
            case P.VContQuery():
                return P.vcont_actions()
            case P.VCont():
                return self._resume_vcont(req)
            case P.Step() | P.Continue():
                if req.addr is not None:
                    return P.error(1)
                step = isinstance(req, P.Step)
                return self._resume({d.pid: self._until(step)})
            case P.MonitorCommand():
                try:
                    text = execute(self.ctx, req.command.decode("utf-8", "replace"))
                except (CommandError, WriteRefused, CoreError) as e:
                    text = f"error: {e}\n"
                self._say(text)
                for x in self.debuggees:               # a command may have run a VM
                    if x.hv.last is not None:
                        self.last_stop[x.pid] = x.hv.last
                        if x.hv.ended:
                            x.exited = True
                return P.OK
            case P.Detach():
                t = self._d(req.pid)
                if t is not None:
                    t.attached = False
                if all(not x.attached for x in self.debuggees):
                    raise rsp.ConnectionClosed("gdb detached")
                return P.OK
            case P.Kill() | P.VKill():
                self.killed = isinstance(req, P.Kill)
                for x in self.debuggees:
                    if isinstance(req, P.Kill) or x.pid == req.pid:
                        x.hv.finish(StopReason.STOPPED)
                        x.exited = True
                return None if isinstance(req, P.Kill) else P.OK
            case P.Offsets():
                return b"Text=0;Data=0;Bss=0"
            case P.Symbol():
                return P.OK
            case P.ReverseStep() | P.ReverseContinue():
                return P.error(1)
        return P.EMPTY

    def _say(self, text: str) -> None:
        assert self.conn is not None
        for pkt in P.console_output(text, PACKET_SIZE):
            self.conn.send(pkt)

    def _refuse(self, e: Exception) -> bytes:
        """An error gdb prints ("E.text"); no O packet: outside a run or a monitor
        command gdb would take it for the reply."""
        return b"E." + f"hvdbg: {e}".encode("ascii", "replace")

    def _note(self, text: str) -> None:
        """Said on hvdbg's stderr: gdb takes no O packets in reply to a write."""
        if text:
            print(f"hvdbg: {text}", file=sys.stderr, flush=True)

    def _writes(self, d: Debuggee, regs: list[tuple[int, int]]) -> bytes:
        notes = []
        try:
            for num, value in regs:
                notes.append(d.hv.write_register(num, value))
        except WriteRefused as e:
            return self._refuse(e)
        except KeyError:
            return P.error(1)
        self._note(next((n for n in notes if n), ""))
        return P.OK

    def _breakpoint(self, d: Debuggee, req: P.Breakpoint) -> bytes:
        """Breakpoints and watchpoints are the debugger's, kept host-side (never written
        into guest memory: digests must not change), and set in every VM of the session:
        gdb sees the pair's VMs as one address space and inserts each location once."""
        t = req.type
        cores = [x.hv.core for x in self.debuggees]
        try:
            if t in (P.BreakpointType.SOFTWARE, P.BreakpointType.HARDWARE):
                pc = req.addr & ~3
                for x in self.debuggees:
                    mine = any(p.pid == x.pid and "break" in p.kind and p.addr == pc
                               for p in self.ctx.points.values())
                    key = (x.pid, req.addr)
                    if req.insert:
                        if key not in self.breaks and not mine:
                            x.hv.core.add_breakpoint(pc)
                        self.breaks[key] = t
                    elif self.breaks.pop(key, None) is not None and not mine:
                        x.hv.core.remove_breakpoint(pc)
                return P.OK
            kinds = _WATCH_KINDS[t]
            length = max(1, req.kind)
            key = (req.addr, length)
            for core in cores:
                if req.insert:
                    core.add_watchpoint(req.addr, length, kinds)
                else:
                    core.remove_watchpoint(req.addr, length, kinds)
            if req.insert:
                self.watches[key] = t
            else:
                self.watches.pop(key, None)
            return P.OK
        except (CoreError, KeyError, ValueError):
            return P.error(1)

    # ---- running ----
    def _until(self, step: bool) -> Until:
        if step:
            return Until.insns(1)
        if self.ctx.options["break-epoch"]:
            return Until.epochs(1)
        return Until.forever()

    def _resume_vcont(self, req: P.VCont) -> bytes | None:
        plan: dict[int, Until] = {}
        for x in self.debuggees:
            if not x.attached or x.exited:
                continue
            for a in req.actions:
                th = a.thread
                if th is None or th.pid in (None, -1, 0) or th.pid == x.pid:
                    if a.op in ("c", "C", "s", "S"):
                        plan[x.pid] = self._until(a.op in ("s", "S"))
                    break
        if not plan:
            return P.error(1)
        return self._resume(plan)

    def _resume(self, plan: dict[int, Until]) -> bytes:
        conn = self.conn
        assert conn is not None
        if len(plan) == 1:
            pid, until = next(iter(plan.items()))
            d = self._d(pid)
            assert d is not None
            if until.kind == "insns" and until.n <= 16 and not isinstance(d.hv.role, Backup):
                # a step of a VM that never waits for a peer: answered in this thread
                # (a worker thread per step would cost more than the step)
                self.ctx.current = d
                return self._stop_reply(d, d.hv.resume(until))
        for pid, until in plan.items():
            d = self._d(pid)
            assert d is not None
            self.running.add(pid)
            threading.Thread(target=self._worker, args=(d, until), daemon=True,
                             name=f"vm{pid}").start()
        first: tuple[Debuggee, Stop | BaseException] | None = None
        while self.running:
            try:
                item = self.stops.get(timeout=0.005)
            except queue.Empty:
                self._keep_alive()
                ev = conn.recv(timeout=0)
                if isinstance(ev, rsp.Interrupt):
                    for pid in list(self.running):
                        d = self._d(pid)
                        assert d is not None
                        d.hv.request_stop()
                continue
            self.running.discard(item[0].pid)
            if first is None:
                first = item
                for pid in list(self.running):        # all-stop: pause the others
                    d = self._d(pid)
                    assert d is not None
                    d.hv.request_stop()
        assert first is not None
        d, res = first
        if isinstance(res, BaseException):
            self._say(f"hvdbg: process {d.pid} failed: {res}\n")
            d.exited = True
            return P.exited(1, d.pid)
        self.ctx.current = d
        return self._stop_reply(d, res)

    def _worker(self, d: Debuggee, until: Until) -> None:
        try:
            self.stops.put((d, d.resume(until)))
        except BaseException as e:
            log.exception("gdb: process %d", d.pid)
            self.stops.put((d, e))

    def _keep_alive(self) -> None:
        """A primary gdb holds stopped still sends heartbeats (it is paused, not dead)."""
        for x in self.debuggees:
            role = x.hv.role
            if isinstance(role, Primary) and x.pid not in self.running and not x.exited:
                role.heartbeat_while_paused()

    def _stop_reply(self, d: Debuggee, stop: Stop | None) -> bytes:
        thread = P.ThreadId(d.pid, 1)
        if stop is None:
            return P.stop_reply(P.SIGTRAP, thread=thread)
        self.last_stop[d.pid] = stop
        r = stop.reason
        if r is StopReason.BREAKPOINT:
            hw = self.breaks.get((d.pid, stop.pc & ~3)) is P.BreakpointType.HARDWARE
            return P.stop_reply(P.SIGTRAP, thread=thread, swbreak=not hw, hwbreak=hw)
        if r is StopReason.WATCHPOINT:
            addr = stop.watch_addr or 0
            t = next((t for (a, n), t in self.watches.items() if a <= addr < a + n), None)
            if t is None:
                t = P.BreakpointType.READ_WATCH if stop.watch_kind == WATCH_READ \
                    else P.BreakpointType.WRITE_WATCH
            return P.stop_reply(P.SIGTRAP, thread=thread, watch=P.watch_kind(t),
                                watch_addr=addr)
        if r is StopReason.INTERRUPTED:
            return P.stop_reply(P.SIGINT, thread=thread)
        if not stop.final:
            return P.stop_reply(P.SIGTRAP, thread=thread)
        d.exited = True
        self._say(f"hvdbg: process {d.pid} ({d.hv.role.name}) ended: {stop.describe()}\n")
        if r is StopReason.DIED:
            return P.terminated(9, d.pid)
        return P.exited(0 if r.guest_ended else 1, d.pid)


def load_symbols_later(ctx: Context, path: str) -> None:
    """``monitor break main`` and friends: the ELF's symbols, read in the background (a
    vmlinux takes a second or two; gdb need not wait for them)."""
    from hvdbg.machine.elf import GuestImageError, read_symbols

    def load() -> None:
        try:
            ctx.symbols = read_symbols(path)
        except GuestImageError as e:
            log.info("no symbols for monitor commands: %s", e)

    threading.Thread(target=load, name="symbols", daemon=True).start()


def serve_gdb(debuggees: list[Debuggee], address: str, wait: bool,
              file_hint: str | None = None) -> dict[int, Stop]:
    """For ``--gdb [HOST:]PORT``: listen (loopback unless a host is given), say how to
    attach, serve until the VMs ended or gdb killed them; the last stop of each VM."""
    host, port = parse_address(address)
    server = GdbServer(debuggees, host, port)
    if file_hint is not None:
        load_symbols_later(server.ctx, file_hint)
    h, p = server.address
    attach = f"hvdbg gdb --host {h} --port {p}" + (f" --file {file_hint}" if file_hint
                                                     else "")
    state = "stopped before the first instruction" if wait else "running"
    print(f"hvdbg: gdb stub on {h}:{p} ({state}); attach with: {attach}",
          file=sys.stderr, flush=True)
    server.serve(wait)
    return {d.pid: d.hv.last for d in debuggees if d.hv.last is not None}
