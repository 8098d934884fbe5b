"""The device host (architecture section 6): the Environment in a process of its own,
which the current primary drives over an authenticated connection, so that killing the
primary's process loses neither the console nor the devices' state.

The device protocol is one request, one reply, on the primary's VM thread:

=========  =================================================  =========================
request    what the devices do                                the reply carries
=========  =================================================  =========================
CLAIM      ``start`` (the first primary) or ``takeover`` (a   the generation granted,
           promoted backup): a new generation; the previous   the devices' clock (so
           one is fenced                                      CR16 goes on seamlessly)
IO_READ    ``io_read(pa, size)``                              the value
IO_WRITE   ``io_write(pa, size, value)``                      --
POLL       nothing but the common part                        --
UNCERTAIN  P8: every device's uncertain completion            --
END        the run is over (the guest's or a front end's)     --
=========  =================================================  =========================

Every request carries the sender's generation, its VM's instruction count (the virtual
clock of the RTCs) and its EIRR (the CPU HPA register reads it); before the operation
the devices take host input (keystrokes, the UART's character timeout); every reply
carries what the operation caused: the interrupt bits raised (``take_eirr``), the
console bytes emitted (the device host prints them on its own stdout; the primary
records them in the stream, as the in-process primary does), the device writes to guest
memory (DMA, applied by the primary before it uses the value, as the in-process
``_DmaTap`` does), power-off and the power button.

Cost: one round trip per I/O exit of the primary (~50-100 µs on loopback), plus a
POLL at most every POLL_S while the guest computes, instead of a function call.  The
interval timer (``mfctl cr16``) does not cross: the primary reads the host clock on the
devices' time base, learned at CLAIM, so it costs nothing and stays continuous across a
failover (on one host exactly; across hosts to within the claim's round trip).

Split-brain guard: the devices serve one generation at a time.  A CLAIM ``takeover``
(a backup promoting itself, P7) increments it; a request from an older generation — a
primary that was only partitioned away, or slow — gets FENCED, and that primary stops
(:class:`RemoteEnvironment` raises the role's fenced stop).  So at most one primary ever
writes to the devices, whatever the failure detector believed.
"""
from __future__ import annotations

import io
import logging
import struct
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from hvdbg.machine import memmap as mm
from hvdbg.machine.environment import Environment, HostIntervalTimer
from hvdbg.machine.stop import StopReason
from hvdbg.replication.link import LinkError
from hvdbg.replication.session import RoleEnd
from hvdbg.replication.tcp import PURPOSE_DEVICES, AuthError, Conn, accept, connect, header_problem
from hvdbg.trace.log import Header, StreamError, frame_bytes, unframe

log = logging.getLogger("hvdbg.devices")

OP_CLAIM, OP_IO_READ, OP_IO_WRITE, OP_POLL, OP_UNCERTAIN, OP_END = 64, 65, 66, 67, 68, 69
OPS = {OP_CLAIM: "claim", OP_IO_READ: "io_read", OP_IO_WRITE: "io_write", OP_POLL: "poll",
       OP_UNCERTAIN: "uncertain", OP_END: "end"}
REPLY = 80
CLAIM_START, CLAIM_TAKEOVER = 0, 1
OK, FENCED_, REFUSED = 0, 1, 2
FLAG_POWER_OFF, FLAG_BUTTON = 1, 2

_REQ = struct.Struct(">IQIIBQ")       # generation, icount, cpu eirr, pa, size, value
_REP = struct.Struct(">BIQIBIH")      # status, generation, value, eirr, flags, console, n dma
_DMA = struct.Struct(">II")           # pa, length (then the bytes)
POLL_S = 0.002                         # a computing primary looks at the devices this often
REPLY_TIMEOUT_S = 10.0                 # devices silent this long: gone
FENCED_MSG = "fenced: the devices serve a newer primary (the backup took over)"


class DeviceError(Exception):
    """The device host refused a claim (one line, for the user)."""


# =====================================================================================
# the device host
# =====================================================================================

class _DmaCollector:
    """The device host's memory port: device writes to guest memory are collected and
    returned with the reply (the primary applies and logs them)."""

    def __init__(self, ram_size: int) -> None:
        self.ram_size = ram_size
        self.writes: list[tuple[int, bytes]] = []

    def read_phys(self, pa: int, length: int) -> bytes:
        # no device model of the B160L minimum reads guest memory from the device side
        # (the power button's read happens at the primary): say so if one ever does
        raise RuntimeError(f"device read of guest memory {pa:#x}+{length} is not remoted")

    def write_phys(self, pa: int, data: bytes) -> None:
        self.writes.append((pa, bytes(data)))


class DeviceHost:
    """The Environment behind a listening socket.  ``console`` receives what the guest
    prints; :attr:`trace` (if set to a list) gets (generation, op, icount) of every
    operation applied — for tests of the split-brain guard."""

    def __init__(self, key: bytes, console: Callable[[bytes], None],
                 on_message: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
                 ) -> None:
        self.key = key
        self.env = Environment()
        self.console_sink = console
        self.say = on_message
        self.header: bytes | None = None      # the guest the first primary described
        self.generation = 0
        self.ended: int | None = None          # END reason, once the run is over
        self.done = threading.Event()
        self.lock = threading.Lock()           # one operation at a time
        self.icount = 0
        self.cpu_eirr = 0
        self.button = False
        self._out = bytearray()
        self._dma = _DmaCollector(mm.DEFAULT_RAM_MIB * mm.MIB)
        self.timer = HostIntervalTimer()       # the time base the primaries share
        self.trace: list[tuple[int, str, int]] | None = None   # (generation, op, icount)
        env = self.env
        env.console = self._console
        env.memory = self._dma
        env.read_cpu_eirr = lambda: self.cpu_eirr

    def _console(self, data: bytes) -> None:
        self.console_sink(data)                 # the world sees it now
        self._out += data                       # and the primary records it

    def press_power_button(self) -> None:
        """Thread-safe: the primary applies it (it reads guest memory) at its next poll."""
        self.button = True

    # ---- serving ----
    def check_header(self, theirs: bytes) -> str:
        if self.header is None:
            return ""
        problem = header_problem(self.header, theirs)
        return f"another guest than the devices serve: {problem}" if problem else ""

    def serve(self, srv: Any, stop: Callable[[], bool]) -> None:
        """Accept primaries until ``stop()``; each connection is served by a thread."""
        while not stop() and not self.done.is_set():
            conn = accept(srv, self.key, PURPOSE_DEVICES, b"", self.check_header,
                          lambda: stop() or self.done.is_set(), self.say)
            if conn is None:
                return
            threading.Thread(target=self._serve_conn, args=(conn,), daemon=True,
                             name="devices-conn").start()

    def _serve_conn(self, conn: Conn) -> None:
        gen = 0
        expect = 0
        try:
            while not self.done.is_set():
                frame = conn.recv(self.done.is_set)
                if frame is None:
                    return
                try:
                    op, seq, payload = unframe(frame)
                except StreamError as e:
                    raise AuthError(f"{conn.peer}: damaged request: {e}") from None
                if seq != expect:
                    raise AuthError(f"{conn.peer}: request seq {seq}, expected {expect} "
                                    f"(replayed or lost): refused")
                if op not in OPS or len(payload) != _REQ.size:
                    raise AuthError(f"{conn.peer}: malformed request (type {op})")
                expect += 1
                fields = _REQ.unpack(payload)
                if op == OP_CLAIM:
                    reply, gen = self._claim(conn, fields)
                else:
                    reply = self._apply(op, gen, fields)
                conn.send(frame_bytes(REPLY, seq, reply))
                if reply[0] == FENCED_:
                    return
        except AuthError as e:
            self.say(f"hvdbg devices: {e}")
        except OSError:
            pass
        except Exception as e:  # noqa: BLE001 (bad input never crashes the devices)
            self.say(f"hvdbg devices: {conn.peer}: dropped: {e}")
        finally:
            conn.close()

    def _claim(self, conn: Conn, fields: tuple[int, ...]) -> tuple[bytes, int]:
        kind = fields[5]
        with self.lock:
            problem = ""
            if kind == CLAIM_START and self.generation != 0:
                problem = (f"the devices already serve a primary (generation "
                           f"{self.generation}); only its backup may take over")
            elif kind == CLAIM_TAKEOVER and self.generation == 0:
                problem = "no primary has started on these devices: nothing to take over"
            elif kind not in (CLAIM_START, CLAIM_TAKEOVER):
                problem = f"unknown claim {kind}"
            if not problem and kind == CLAIM_START:
                problem = self._configure(conn.peer_header)
            if problem:
                self.say(f"hvdbg devices: {conn.peer}: claim refused: {problem}")
                msg = problem.encode()[:1000]
                return _REP.pack(REFUSED, self.generation, 0, 0, 0, len(msg), 0) + msg, 0
            self.generation += 1
            gen = self.generation
            if kind == CLAIM_TAKEOVER:
                self.say(f"hvdbg devices: generation {gen} ({conn.peer}) took over; "
                         f"generation {gen - 1} is fenced off")
            return _REP.pack(OK, gen, self.timer.now(), 0, 0, 0, 0), gen

    def _configure(self, header_bytes: bytes) -> str:
        """The first primary describes the guest: the devices are set up as its machine
        would set up its own Environment (Machine.boot)."""
        try:
            header, _ = Header.parse_stream(io.BytesIO(header_bytes))
        except StreamError as e:
            return f"unreadable guest description: {e}"
        env = self.env
        self._dma.ram_size = header.ram_size
        env.configure(header.ram_size)
        env.reset()
        if header.clock == "virtual":
            env.use_virtual_clock(lambda: self.icount, header.ticks_per_insn)
        else:
            env.use_host_clock()
        self.header = header_bytes
        return ""

    def _apply(self, op: int, gen: int, fields: tuple[int, ...]) -> bytes:
        rgen, icount, cpu_eirr, pa, size, value = fields
        with self.lock:
            if gen == 0 or rgen != gen or gen != self.generation:
                return _REP.pack(FENCED_, self.generation, 0, 0, 0, 0, 0)
            if self.trace is not None:
                self.trace.append((gen, OPS[op], icount))
            env = self.env
            self.icount, self.cpu_eirr = icount, cpu_eirr
            result = 0
            try:
                env.service()
                if op == OP_IO_READ or op == OP_IO_WRITE:
                    if size not in (1, 2, 4, 8):
                        raise ValueError(f"access size {size}")
                    if op == OP_IO_READ:
                        result = env.io_read(pa, size)
                    else:
                        env.io_write(pa, size, value)
                elif op == OP_UNCERTAIN:
                    env.uncertain_completion()
                elif op == OP_END:
                    self.ended = value
                env.flush_console()
            except Exception as e:  # noqa: BLE001 (a request never crashes the devices)
                self.say(f"hvdbg devices: request {OPS[op]} {pa:#x} failed: {e}")
            flags = (FLAG_POWER_OFF if env.power_off_requested else 0) | \
                (FLAG_BUTTON if self.button else 0)
            self.button = False
            out, self._out = bytes(self._out), bytearray()
            dma, self._dma.writes = self._dma.writes, []
            parts = [_REP.pack(OK, gen, result & (1 << 64) - 1, env.take_eirr(), flags,
                               len(out), len(dma)), out]
            for dpa, data in dma:
                parts += [_DMA.pack(dpa, len(data)), data]
            if op == OP_END:
                self.done.set()
            return b"".join(parts)


# =====================================================================================
# the primary's side
# =====================================================================================

class RemoteEnvironment:
    """What a primary role uses of :class:`~hvdbg.machine.environment.Environment`,
    performed by the device host.  Owned by one VM thread (round trips are synchronous).
    """

    def __init__(self, conn: Conn, generation: int, devices_now: int,
                 icount: Callable[[], int]) -> None:
        self.conn, self.generation = conn, generation
        self.icount = icount
        self.console: Callable[[bytes], None] = lambda data: None
        self.memory: Any = None
        self.read_cpu_eirr: Callable[[], int] = lambda: 0
        self.pending_eirr = 0
        self.power_off_requested = False
        self._power_button = threading.Event()      # Environment._apply_power_button
        self._tx = bytearray()
        self._seq = 0
        self._last = time.monotonic()
        self.round_trips = 0
        self.rtt_s = 0.0
        self.first_access: tuple[int, int] | None = None   # (icount, pa) of the first I/O
        offset = devices_now - time.monotonic_ns()   # CR16 on the devices' time base
        self.timer = HostIntervalTimer(lambda: time.monotonic_ns() + offset)
        self.timer.base = 0

    # ---- what Machine sets up (the device host did it at CLAIM) ----
    def configure(self, ram_size: int, cpus: int = 1, boot_device: int = 0) -> None:
        pass

    def reset(self) -> None:
        pass

    def use_virtual_clock(self, icount: Callable[[], int], ticks_per_insn: int = 1) -> None:
        pass

    def use_host_clock(self) -> None:
        pass

    # ---- the Environment interface ----
    def io_read(self, pa: int, size: int) -> int:
        return self._call(OP_IO_READ, pa, size, 0)

    def io_write(self, pa: int, size: int, value: int) -> None:
        self._call(OP_IO_WRITE, pa, size, value)

    def take_eirr(self) -> int:
        bits, self.pending_eirr = self.pending_eirr, 0
        return bits

    def service(self) -> None:
        if time.monotonic() - self._last >= POLL_S:
            self._call(OP_POLL, 0, 0, 0)
        if self._power_button.is_set():
            Environment._apply_power_button(self)  # type: ignore[arg-type]

    def uncertain_completion(self) -> None:
        self._call(OP_UNCERTAIN, 0, 0, 0)

    def end(self, reason: int) -> None:
        """The run is over: the device host may exit (best effort)."""
        try:
            self._call(OP_END, 0, 0, reason)
        except (LinkError, RoleEnd):
            pass

    def flush_console(self) -> None:
        if self._tx:
            data = bytes(self._tx)
            self._tx.clear()
            self.console(data)

    @property
    def console_pending(self) -> int:
        return len(self._tx)

    def push_input(self, data: bytes) -> None:
        pass                                  # the device host reads its own stdin

    def press_power_button(self) -> None:
        self._power_button.set()

    # ---- the round trip ----
    def _call(self, op: int, pa: int, size: int, value: int) -> int:
        t0 = time.monotonic()
        if self.first_access is None and (op == OP_IO_READ or op == OP_IO_WRITE):
            self.first_access = (self.icount(), pa)
        req = _REQ.pack(self.generation, self.icount(), self.read_cpu_eirr() & 0xFFFFFFFF,
                        pa & 0xFFFFFFFF, size, value & (1 << 64) - 1)
        seq = self._seq
        self._seq += 1
        try:
            self.conn.send(frame_bytes(op, seq, req))
            frame = self.conn.recv(timeout=REPLY_TIMEOUT_S)
        except OSError as e:
            raise LinkError(f"the device host is gone ({e.strerror or e})") from None
        except AuthError as e:
            self.conn.close()
            raise LinkError(str(e)) from None
        if frame is None:
            raise LinkError("the device host closed the connection (or stopped answering)")
        self._last = t0
        self.round_trips += 1
        rep = parse_reply(frame, seq)
        status, _gen, result, eirr, flags, out, dma = rep
        if status == FENCED_:
            self.conn.close()
            raise RoleEnd(StopReason.DIED, FENCED_MSG)
        if status != OK:
            raise LinkError(f"the device host refused {OPS.get(op, op)}")
        ram = getattr(self.memory, "ram_size", 0)
        for dpa, data in dma:
            if not (dpa + len(data) <= ram or mm.in_firmware(dpa, len(data))):
                raise LinkError(f"the device host sent a DMA write to {dpa:#x} outside "
                                f"RAM and firmware")
        for dpa, data in dma:                     # before the value is used (_DmaTap)
            self.memory.write_phys(dpa, data)
        self.pending_eirr |= eirr
        self.power_off_requested = self.power_off_requested or bool(flags & FLAG_POWER_OFF)
        if flags & FLAG_BUTTON:
            self._power_button.set()
        if out:
            self._tx += out
        self.rtt_s += time.monotonic() - t0
        return result


def parse_reply(frame: bytes, seq: int) -> tuple[int, int, int, int, int, bytes,
                                                 list[tuple[int, bytes]]]:
    """A reply checked for shape (LinkError otherwise): status, generation, value, eirr,
    flags, console bytes, DMA writes."""
    try:
        rtype, rseq, payload = unframe(frame)
        if rtype != REPLY or rseq != seq:
            raise ValueError(f"reply type {rtype} seq {rseq}, expected seq {seq}")
        status, gen, result, eirr, flags, nout, ndma = _REP.unpack_from(payload)
        pos = _REP.size
        out = payload[pos:pos + nout]
        if len(out) != nout:
            raise ValueError("truncated console bytes")
        pos += nout
        dma = []
        for _ in range(ndma):
            dpa, n = _DMA.unpack_from(payload, pos)
            pos += _DMA.size
            data = payload[pos:pos + n]
            if len(data) != n:
                raise ValueError("truncated DMA data")
            pos += n
            dma.append((dpa, data))
        if pos != len(payload):
            raise ValueError("trailing bytes")
    except (StreamError, ValueError, struct.error) as e:
        raise LinkError(f"malformed reply from the device host: {e}") from None
    return status, gen, result, eirr, flags, out, dma


def claim(address: tuple[str, int], key: bytes, header: bytes, kind: int,
          icount: Callable[[], int], timeout: float = 10.0) -> RemoteEnvironment:
    """Connect to the device host and become its primary (``CLAIM_START``) or take over
    from the current one (``CLAIM_TAKEOVER``, P7).  DeviceError when refused."""
    try:
        conn = connect(address, key, PURPOSE_DEVICES, header, timeout)
    except AuthError as e:
        raise DeviceError(str(e)) from None
    req = _REQ.pack(0, 0, 0, 0, 0, kind)
    try:
        conn.send(frame_bytes(OP_CLAIM, 0, req))
        frame = conn.recv(timeout=REPLY_TIMEOUT_S)
    except (OSError, AuthError) as e:
        conn.close()
        raise DeviceError(f"device host {conn.peer}: {e}") from None
    if frame is None:
        conn.close()
        raise DeviceError(f"device host {conn.peer} closed the connection")
    try:
        status, gen, now, _, _, msg, _ = parse_reply(frame, 0)
    except LinkError as e:
        conn.close()
        raise DeviceError(str(e)) from None
    if status != OK:
        conn.close()
        raise DeviceError(f"device host {conn.peer} refused: "
                          f"{msg.decode(errors='replace')}")
    env = RemoteEnvironment(conn, gen, now, icount)
    env._seq = 1
    return env
