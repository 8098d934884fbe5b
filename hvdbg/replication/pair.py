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
from hvdbg.machine.spec import GuestSpec
from hvdbg.machine.stop import DEADLINE, Stop, StopReason, Until
from hvdbg.replication.link import Channel, LinkConfig, LinkError, Receiver
from hvdbg.replication.roles import FENCED, Backup, Primary, ReplicationConfig
from hvdbg.replication.session import Hypervisor
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace.log import Header, LogWriter, RecordType, encode

ACK_DRAIN_S = 2.0           # the longest the end of a run waits for acks on the link


@dataclass
class PairSummary:
    protocol: str
    epoch: int
    end: Stop | None = None
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
    note: str = ""                        # something the user should know (not an error)

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
        if self.note:
            lines.append(f"  note: {self.note}")
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        return "\n".join(lines)


class Pair:
    """A primary and a backup session over one Environment and an in-process link.

    Recording: the log holds what the backup received (its history), then what the
    promoted backup sends — so frames a fenced primary still had in flight never
    collide with the new primary's numbering, and the log replays whatever happened.
    """

    def __init__(self, spec: GuestSpec, cfg: ReplicationConfig, *,
                 link: LinkConfig | None = None, record: str | None = None,
                 sink: Callable[[bytes], None] | None = None, command: str = "",
                 force: bool = False) -> None:
        self.spec, self.cfg = spec, cfg
        self.link = link = link or LinkConfig()
        self.env = Environment()
        mp = spec.boot(self.env)
        mb = spec.boot(self.env)
        self.recorder: LogWriter | None = None
        self.summary = PairSummary(cfg.protocol, cfg.epoch)
        if record is not None:
            self.recorder = LogWriter(record, Header(
                __version__, "pair", cfg.protocol, cfg.epoch, spec.ram_mib, spec.clock, 1,
                spec.image_digests(), spec.append, command), force=force)
            self.summary.log = str(self.recorder.path)
        self.gate = ConsoleGate(sink or _stdout, hold=cfg.protocol == "output-rule")
        self.backup = backup = Backup(mb, cfg)
        self.ack_seq = 0

        def on_link_error(err: LinkError) -> None:
            backup.link_failed(err)
            self.out.link_failed(err)

        ack_rx = Receiver(lambda rec, frame: self.out.on_ack(rec), "ack link")
        ack_rx.on_error = on_link_error
        self.ack_chan = Channel(link, ack_rx, "ack")
        fwd_rx = Receiver(backup.p3_receive, "link")
        fwd_rx.on_error = on_link_error
        self.fwd_chan = Channel(link, fwd_rx, "fwd")
        self.out = StreamOut(self.fwd_chan, None)
        self.out.on_acked = self.gate.release
        backup.send_ack = self._send_ack
        backup.recorder = self.recorder
        backup.link_busy_until = self._next_frame_due
        self.primary = Primary(mp, cfg, self.out, self.gate)
        self.primary.ack_slack += 2 * link.latency_us / 1e6
        self.sessions = [Hypervisor(mp, self.primary), Hypervisor(mb, backup)]
        self.promoted: Primary | None = None
        self.died_wall: float | None = None

    def _next_frame_due(self) -> float:
        """The earliest (time.monotonic) the backup can expect to hear more from a live
        primary: after what is queued towards it, and — as a primary waiting for an
        acknowledgement sends nothing meanwhile — after the last ack reached the primary
        and the answer came back.  Silence before then is the link's, not a failure."""
        due = self.fwd_chan.busy_until()
        ack = self.ack_chan.busy_until()
        if ack:
            due = max(due, ack + self.link.latency_us / 1e6)
        return due

    def _send_ack(self, seq: int) -> None:
        frame = encode(RecordType.ACK, self.ack_seq, (seq,))
        self.ack_seq += 1
        self.ack_chan.send(frame)

    def promote(self) -> Primary:
        """P7: the backup takes over as the primary — from its failure detector, or a
        debugger's ``failover``.  The old primary is fenced off first (it may only be
        slow), so at most one primary ever acts."""
        primary, backup, gate = self.primary, self.backup, self.gate
        primary.fence.requested = True         # a primary waiting for acks lets go
        with primary.fence.lock:               # from now on the old primary cannot act
            primary.fence.down = True
            take = backup.takeover()
        gate.release(take.next_seq - 1)        # the backup has all of that
        self.summary.dropped_output = gate.drop_rest()
        out2 = StreamOut(None, self.recorder, seq=take.next_seq)
        out2.on_acked = gate.release           # no backup left: output is released
        new = Primary(backup.machine, self.cfg, out2, gate, takeover=take)
        new.repeat_of = primary.unreported_io
        out2.send(RecordType.PROMOTE, (new.current_epoch(), backup.core.icount))
        new.p8_uncertain_interrupts()
        if self.died_wall is None:             # wrongly suspected: fenced just now
            self.died_wall = time.monotonic()
        self.summary.failover_s = time.monotonic() - self.died_wall
        self.sessions[1].change_role(new)
        self.promoted = new
        return new

    def close(self) -> None:
        self.fwd_chan.close()
        self.ack_chan.close()
        if self.recorder is not None:
            self.recorder.close()


def run_to_end(hv: Hypervisor, until: Until, deadline: float | None,
               stopping: threading.Event) -> Stop:
    """Run a session to a final stop for a front end without a debugger: a run limit,
    the deadline or a stop request end the run (END written)."""
    stop = hv.resume(until, deadline)
    while not stop.final:
        if stop.reason is StopReason.STEPPED:
            stop = hv.finish(StopReason.LIMIT)
        elif stop.reason is StopReason.INTERRUPTED:
            stop = hv.finish(StopReason.TIMEOUT if stop.message == DEADLINE
                             else StopReason.STOPPED)
        else:                                   # breakpoints belong to a debugger
            stop = hv.resume(until, deadline)
    return stop


def run_pair(spec: GuestSpec, cfg: ReplicationConfig, *,
             link: LinkConfig | None = None, fail_at: int | None = None,
             record: str | None = None, timeout: float | None = None,
             max_insns: int | None = None,
             sink: Callable[[bytes], None] | None = None, command: str = "",
             input_hook: Callable[[Callable[[bytes], None]], None] | None = None,
             force: bool = False, stopping: threading.Event | None = None,
             ) -> PairSummary:
    """Run ``spec`` replicated until the guest stops; the console goes to ``sink``.
    Setting ``stopping`` (from a signal handler's thread) ends the run cleanly."""
    pair = Pair(spec, cfg, link=link, record=record, sink=sink, command=command,
                force=force)
    summary = pair.summary
    if input_hook is not None:
        input_hook(pair.env.push_input)
    pair.primary.fail_at = fail_at
    stopping = stopping or threading.Event()
    until = Until.forever() if max_insns is None else Until.icount(max_insns)
    t0 = time.monotonic()
    deadline = None if timeout is None else t0 + timeout
    results: dict[str, Stop | BaseException] = {}
    hp, hb = pair.sessions

    def primary_main() -> None:
        try:
            results["primary"] = res = run_to_end(hp, until, deadline, stopping)
            if res.reason is StopReason.DIED:
                pair.died_wall = time.monotonic()
        except BaseException as e:  # noqa: BLE001 (re-raised by the caller)
            results["primary"] = e

    def backup_main() -> None:
        try:
            # the backup follows the primary's END; limits apply once it is primary
            res = run_to_end(hb, Until.forever(), None, stopping)
            if res.reason is StopReason.PROMOTE and not stopping.is_set():
                pair.promote()
                res = run_to_end(hb, until, deadline, stopping)
            results["backup"] = res
        except BaseException as e:  # noqa: BLE001 (re-raised by the caller)
            results["backup"] = e

    threads = [threading.Thread(target=primary_main, name="primary", daemon=True),
               threading.Thread(target=backup_main, name="backup", daemon=True)]
    pair.backup.start_detection()
    for t in threads:
        t.start()
    t_end = t0
    try:
        stopped = False
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.05)
            if stopping.is_set() and not stopped:
                stopped = True
                for hv in pair.sessions:
                    hv.request_stop()
            bres = results.get("backup")
            if isinstance(bres, Stop) and bres.reason in (StopReason.DIVERGED,
                                                          StopReason.LINK_FAILED) \
                    and threads[0].is_alive():
                pair.out.link_failed(LinkError("the backup stopped"))
                hp.request_stop()
        _end_after_a_stop_in_failover(pair, results)
        # acknowledgements already on their way release the output they cover (the
        # primary may have stopped waiting for them: a link error behind its END)
        pair.ack_chan.drain(min(ACK_DRAIN_S, max(0.0, pair.ack_chan.busy_until()
                                                  - time.monotonic()) + 0.05))
        t_end = time.monotonic()
    finally:
        pair.close()
        if not any(t.is_alive() for t in threads):   # free both VMs' memory now
            for hv in pair.sessions:
                hv.core.close()
    summary.seconds = (t_end if t_end > t0 else time.monotonic()) - t0
    out = pair.out
    summary.messages += out.messages
    summary.bytes += out.bytes
    summary.acks = pair.ack_seq
    summary.ack_wait_s = out.ack_wait_s
    summary.ack_waits = out.waits
    summary.verified = pair.backup.verified
    summary.epochs = max(pair.primary.epochs_done, pair.backup.epochs_done)
    if pair.promoted is not None:
        new = pair.promoted
        summary.repeated_io = new.repeated_io
        summary.messages += new.out.messages
        summary.bytes += new.out.bytes
        summary.epochs = max(summary.epochs, new.epochs_done)
    pres, bres = results.get("primary"), results.get("backup")
    for res in (bres, pres):
        if isinstance(res, BaseException):
            raise res
    assert isinstance(pres, Stop) and isinstance(bres, Stop)
    for who, res in (("backup", bres), ("primary", pres)):
        if res.reason in (StopReason.DIVERGED, StopReason.LINK_FAILED) and not summary.error:
            summary.error = f"{who}: {res.message}"
    if pres.reason is StopReason.DIED:
        summary.died_at = pair.primary.died_at if pair.primary.died_at is not None \
            else pres.icount
        summary.fenced = pres.message == FENCED
        summary.end = bres
    else:
        summary.end = pres
    held = pair.gate.held_bytes()
    if held and not summary.error:
        summary.error = (f"{held} bytes of console output were never acknowledged by the "
                         f"backup and were not released")
    if fail_at is not None and summary.died_at is None and not summary.error:
        summary.note = (f"the primary never reached --fail-primary-at (icount {fail_at}): "
                        f"no failure was injected")
    return summary


def _end_after_a_stop_in_failover(pair: Pair, results: dict[str, Stop | BaseException]
                                   ) -> None:
    """A stop request that arrives while the primary is dead and the backup has not
    taken over yet: the dead primary wrote no END, so the stream (and the recording)
    would end without one.  The backup takes over just to end it (STOPPED), after
    re-executing what it received."""
    pres, bres = results.get("primary"), results.get("backup")
    if not (isinstance(pres, Stop) and pres.reason is StopReason.DIED
            and isinstance(bres, Stop)
            and bres.reason in (StopReason.PROMOTE, StopReason.STOPPED)
            and pair.promoted is None):
        return
    try:
        new, hv = pair.promote(), pair.sessions[1]
        # the END goes after the history the backup received: the world may have seen
        # its output (the output rule releases what the backup acknowledged)
        target = hv.core.icount
        if new.history_end >= 0:
            target = max(target, new.epoch_end_icount(new.history_end))
        if new.catchup:
            target = max(target, max(r.icount for r in new.catchup) + 1)
        for _ in range(2):            # (a stop request still pending returns at once)
            if hv.core.icount >= target:
                break
            stop = hv.resume(Until.icount(target))
            if stop.final:
                results["backup"] = stop
                return
        results["backup"] = hv.finish(StopReason.STOPPED)
    except BaseException as e:  # noqa: BLE001 (re-raised by the caller)
        results["backup"] = e


def _stdout(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def exit_status(summary: PairSummary) -> int:
    """0 powered off / halted; 1 divergence or link failure; 3 limit; 4 fault."""
    if summary.error or summary.end is None:
        return 1
    return summary.end.reason.exit_status
