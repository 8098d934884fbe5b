"""A primary and a backup VM in one process, sharing one Environment (architecture
section 6), joined by an in-process link; failure injection, failover and the summary.

Threads: the primary and the backup each run their VM in a thread of their own (the
core releases the GIL), the link delivers in the sender's thread (no delay) or in a
delivery thread per direction (latency or bandwidth configured).
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hvdbg import __version__
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import StopReason
from hvdbg.machine.spec import GuestSpec
from hvdbg.replication.link import Channel, LinkConfig, LinkError, Receiver
from hvdbg.replication.roles import (
    FENCED,
    Backup,
    Divergence,
    Outcome,
    Primary,
    ReplicationConfig,
    RunEnd,
)
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import Header, LogWriter, RecordType, encode


@dataclass
class PairSummary:
    protocol: str
    epoch: int
    end: RunEnd | None = None
    error: str = ""                       # divergence or link failure
    epochs: int = 0
    messages: int = 0
    bytes: int = 0
    acks: int = 0
    ack_wait_s: float = 0.0
    seconds: float = 0.0
    died_at: int | None = None            # icount of the injected failure
    failover_s: float | None = None       # death -> backup live
    repeated_io: int = 0
    dropped_output: int = 0               # bytes held by the dead primary (output rule)
    verified: int = 0                     # epochs whose digests the backup checked
    fenced: bool = False                  # the primary was only slow: wrongly suspected
    ack_waits: int = 0                    # times the primary waited for acknowledgements
    log: str = ""

    def render(self) -> str:
        lines = [(f"hvdbg pair: protocol {self.protocol}, epoch {self.epoch}: "
                 f"{self.epochs} epochs in {self.seconds:.3f} s")]
        mbit = self.bytes * 8 / self.seconds / 1e6 if self.seconds else 0.0
        lines.append(f"  stream: {self.messages} messages, {self.bytes} bytes "
                     f"({mbit:.2f} Mbit/s), {self.acks} acks; waiting for acks "
                     f"{self.ack_wait_s * 1000:.1f} ms")
        lines.append(f"  digests: {self.verified} epochs verified by the backup")
        if self.died_at is not None:
            fo = "never" if self.failover_s is None else f"{self.failover_s * 1000:.1f} ms"
            if self.fenced:
                lines.append("  failover: the primary was suspected (no message within "
                             "--detect-ms) and fenced off; it had not failed")
            lines.append(f"  failover: primary died at icount {self.died_at} "
                         f"(epoch {self.died_at // self.epoch}); backup live after {fo}; "
                         f"{self.repeated_io} I/O operations repeated"
                         + (f"; {self.dropped_output} held output bytes dropped"
                            if self.dropped_output else ""))
        if self.log:
            lines.append(f"  recorded: {self.log}")
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        return "\n".join(lines)


def run_pair(spec: GuestSpec, cfg: ReplicationConfig, *,
             link: LinkConfig | None = None, fail_at: int | None = None,
             record: str | None = None, timeout: float | None = None,
             max_insns: int | None = None,
             sink: Callable[[bytes], None] | None = None, command: str = "",
             input_hook: Callable[[Callable[[bytes], None]], None] | None = None,
             ) -> PairSummary:
    """Run ``spec`` replicated until the guest stops; the console goes to ``sink``."""
    link = link or LinkConfig()
    sink = sink or _stdout
    env = Environment()
    mp = spec.boot(env)
    mb = spec.boot(env)
    if input_hook is not None:
        input_hook(env.push_input)
    recorder = None
    summary = PairSummary(cfg.protocol, cfg.epoch)
    if record:
        recorder = LogWriter(record, Header(
            __version__, "pair", cfg.protocol, cfg.epoch, spec.ram_mib, spec.clock, 1,
            spec.image_digests(), spec.append, command))
        summary.log = str(recorder.path)

    gate = ConsoleGate(sink, hold=cfg.protocol == "output-rule")
    backup = Backup(mb, cfg)
    out: StreamOut
    ack_seq = [0]

    def on_link_error(err: LinkError) -> None:
        backup.link_failed(err)
        out.link_failed(err)

    ack_rx = Receiver(lambda rec: out.on_ack(rec), "ack link")
    ack_rx.on_error = on_link_error
    ack_chan = Channel(link, ack_rx, "ack")
    fwd_rx = Receiver(backup.p3_receive, "link")
    fwd_rx.on_error = on_link_error
    fwd_chan = Channel(link, fwd_rx, "fwd")
    out = StreamOut(fwd_chan, recorder)
    out.on_acked = gate.release

    def send_ack(seq: int) -> None:
        frame = encode(RecordType.ACK, ack_seq[0], (seq,))
        ack_seq[0] += 1
        ack_chan.send(frame)

    backup.send_ack = send_ack
    primary = Primary(mp, cfg, out, gate)
    primary.ack_slack += 2 * link.latency_us / 1e6

    t0 = time.monotonic()
    deadline = None if timeout is None else t0 + timeout
    stop = threading.Event()
    died_at_wall: list[float] = []
    results: dict[str, RunEnd | BaseException] = {}
    backup_dead = threading.Event()

    def primary_main() -> None:
        try:
            results["primary"] = res = primary.run(max_insns=max_insns, fail_at=fail_at,
                                                   deadline=deadline, stop=stop)
            if res.outcome is Outcome.DIED:
                died_at_wall.append(time.monotonic())
        except BaseException as e:  # noqa: BLE001 (re-raised or reported by the caller)
            results["primary"] = e
            stop.set()

    def backup_main() -> None:
        try:
            res = backup.run()
            if res.outcome is Outcome.PROMOTE:
                res = promote()
            results["backup"] = res
        except BaseException as e:  # noqa: BLE001 (re-raised or reported by the caller)
            results["backup"] = e
        finally:
            backup_dead.set()

    def promote() -> RunEnd:
        """P7: the backup takes over as the primary."""
        primary.fence.requested = True         # a primary waiting for acks lets go
        with primary.fence.lock:               # from now on the old primary cannot act
            primary.fence.down = True
            take = backup.takeover()
        gate.release(take.next_seq - 1)              # the backup has all of that
        summary.dropped_output = gate.drop_rest()
        out2 = StreamOut(None, recorder, seq=take.next_seq)
        out2.on_acked = gate.release                # no backup left: output is released
        new = Primary(mb, cfg, out2, gate, takeover=take)
        new.repeat_of = primary.unreported_io
        out2.send(RecordType.PROMOTE, (new.current_epoch(), mb.core.icount))
        new.p8_uncertain_interrupts()
        if not died_at_wall:                       # wrongly suspected: fenced just now
            died_at_wall.append(time.monotonic())
        if died_at_wall:
            summary.failover_s = time.monotonic() - died_at_wall[0]
        res = new.run(max_insns=max_insns, deadline=deadline, stop=stop)
        summary.repeated_io = new.repeated_io
        summary.messages += out2.messages
        summary.bytes += out2.bytes
        summary.epochs = max(summary.epochs, new.epochs_done)
        return res

    tp = threading.Thread(target=primary_main, name="primary", daemon=True)
    tb = threading.Thread(target=backup_main, name="backup", daemon=True)
    tp.start()
    tb.start()
    t_end = t0
    try:
        while tp.is_alive() or tb.is_alive():
            tp.join(0.05)
            tb.join(0.05)
            if backup_dead.is_set() and tp.is_alive() and isinstance(results.get("backup"),
                                                                    BaseException):
                stop.set()
                out.link_failed(LinkError("the backup stopped"))
        t_end = time.monotonic()
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        fwd_chan.close()
        ack_chan.close()
        if recorder is not None:
            recorder.close()
        if not (tp.is_alive() or tb.is_alive()):   # free both VMs' memory now
            mp.core.close()
            mb.core.close()
    summary.seconds = (t_end if t_end > t0 else time.monotonic()) - t0
    summary.messages += out.messages
    summary.bytes += out.bytes
    summary.acks = ack_seq[0]
    summary.ack_wait_s = out.ack_wait_s
    summary.ack_waits = out.waits
    summary.verified = backup.verified
    summary.epochs = max(summary.epochs, primary.epochs_done)
    pres, bres = results.get("primary"), results.get("backup")
    for who, res in (("backup", bres), ("primary", pres)):
        if isinstance(res, Divergence | LinkError):
            summary.error = f"{who}: {res}"
        elif isinstance(res, BaseException):
            raise res
    if isinstance(pres, RunEnd) and pres.outcome is Outcome.DIED:
        summary.died_at = pres.icount
        summary.fenced = pres.message == FENCED
        summary.end = bres if isinstance(bres, RunEnd) else None
    else:
        summary.end = pres if isinstance(pres, RunEnd) else (
            bres if isinstance(bres, RunEnd) else None)
    return summary


def _stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def exit_status(summary: PairSummary) -> int:
    """0 powered off / halted; 1 divergence or link failure; 3 limit; 4 fault."""
    if summary.error or summary.end is None:
        return 1
    reason = summary.end.reason
    if reason in (StopReason.POWER_OFF, StopReason.HALT, StopReason.RESET):
        return 0
    if reason in (StopReason.LIMIT, StopReason.TIMEOUT):
        return 3
    return 4
