"""The replication hypervisor on bare-metal guests: a primary and a backup agree at every
epoch, failover at seeded points leaves the console output intact but for the
repeated-output window, each protocol rule matters, link faults are detected, and
recorded runs replay exactly."""
from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import guestbuild as gb
import pytest

from hvdbg.machine.spec import GuestSpec
from hvdbg.replication import roles
from hvdbg.replication.link import LinkConfig
from hvdbg.replication.pair import PairSummary, exit_status, run_pair
from hvdbg.replication.roles import Primary, ReplicationConfig
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace import log as L

EPOCH = 4096
DETECT = 0.2


@pytest.fixture(scope="module")
def crcsort() -> str:
    return str(gb.build(gb.guest("crcsort")))


@pytest.fixture(scope="module")
def irqguest() -> str:
    return str(gb.build(gb.guest("irq_timer_uart")))


def pair(elf: str, protocol: str = "refined", epoch: int = EPOCH, detect: float | None = None,
         **kw: object) -> tuple[bytes, PairSummary]:
    """A pair run.  Without an injected failure the detection timeout is long: a busy
    test machine must not make the backup suspect a live primary."""
    out = bytearray()
    if detect is None:
        detect = DETECT if kw.get("fail_at") is not None else 5.0
    s = run_pair(GuestSpec(elf), ReplicationConfig(epoch, protocol, detect),
                 sink=out.extend, timeout=60, **kw)  # type: ignore[arg-type]
    return bytes(out), s


def solo_output(elf: str) -> bytes:
    return gb.run_hvdbg(Path(elf)).stdout


def outputs_by_epoch(logdir: Path, epoch: int = EPOCH) -> dict[int, int]:
    """Console bytes emitted per epoch, from a recorded run's OUTPUT records."""
    _, recs = L.read_log(logdir)
    per: dict[int, int] = {}
    for r in recs:
        if r.type in (L.RecordType.OUTPUT, L.RecordType.IO):
            per[r.icount // epoch] = per.get(r.icount // epoch, 0) + len(r.data)
    return per


def assert_within_repeat_window(solo: bytes, got: bytes, max_repeat: int) -> None:
    """``got`` is ``solo`` with at most one piece of at most ``max_repeat`` bytes
    repeated once, right after itself (protocol.md's repeated-output window)."""
    if got == solo:
        return
    extra = len(got) - len(solo)
    assert 0 < extra <= max_repeat, f"{extra} bytes more than the solo run (max {max_repeat})"
    k = next(i for i in range(len(solo)) if got[i] != solo[i]) if got[:len(solo)] != solo \
        else len(solo)
    for start in range(max(0, k - extra), k + 1):      # the repeat may end anywhere here
        if got[:start + extra] == solo[:start + extra] and \
                got[start + extra:] == solo[start:] and \
                got[start:start + extra] == solo[start:start + extra]:
            return
    pytest.fail(f"output is not the solo output with one repeated piece:\n{got!r}")


# ---------------------------------------------------------------- lockstep

@pytest.mark.parametrize("protocol", roles.PROTOCOLS)
def test_backup_agrees_at_every_epoch(crcsort: str, protocol: str) -> None:
    out, s = pair(crcsort, protocol)
    assert s.error == "" and exit_status(s) == 0
    assert out == solo_output(crcsort)
    assert s.epochs > 500 and s.verified == s.epochs        # every digest compared


def test_epoch_lengths_accepted_range(crcsort: str) -> None:
    for bad in (1023, 1_000_001):
        with pytest.raises(ValueError):
            ReplicationConfig(bad)
    out, s = pair(crcsort, epoch=1_000_000)
    assert s.verified == s.epochs and out == solo_output(crcsort)


# ---------------------------------------------------------------- rules

def test_p0_interrupts_only_at_epoch_ends(irqguest: str, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    seen: list[int] = []
    real = Primary.p2_end_epoch

    def spy(self: Primary) -> None:
        core = self.core
        orig = core.set_eirr
        core.set_eirr = lambda bits: (seen.append(core.icount), orig(bits))  # type: ignore
        try:
            real(self)
        finally:
            core.set_eirr = orig  # type: ignore[method-assign]
    monkeypatch.setattr(Primary, "p2_end_epoch", spy)
    out, s = pair(irqguest)
    assert s.error == "" and b"uart: done 1" in out
    assert seen and all(ic % EPOCH == 0 for ic in seen)


def test_p2_original_waits_at_every_epoch_refined_before_io(crcsort: str, tmp_path: Path
                                                            ) -> None:
    link = LinkConfig(latency_us=300)
    _, orig = pair(crcsort, "original", link=link)
    _, ref = pair(crcsort, "refined", link=link, record=str(tmp_path / "r"))
    assert orig.error == ref.error == ""
    # original: a round trip (2 x 300 us) at every epoch end
    assert orig.ack_waits >= orig.epochs and orig.ack_wait_s >= orig.epochs * 600e-6
    # refined: only before I/O (this guest polls the UART: many waits, none per epoch)
    io = sum(1 for r in L.read_log(tmp_path / "r")[1] if r.type is L.RecordType.IO)
    # (+1: a finishing primary waits for its END to be acknowledged, so held output is
    # released, not dropped)
    assert 0 < ref.ack_waits <= io + 1


def test_p4_p6_backup_never_touches_devices(crcsort: str, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    from hvdbg.machine.environment import Environment
    who: set[str] = set()
    for name in ("io_read", "io_write", "take_eirr"):
        real = getattr(Environment, name)

        def spy(self: Environment, *a: object, _real=real) -> object:
            who.add(threading.current_thread().name)
            return _real(self, *a)
        monkeypatch.setattr(Environment, name, spy)
    out, s = pair(crcsort)
    assert s.error == "" and out
    assert who == {"primary"}


# ---------------------------------------------------------------- failover

def test_failover_campaign_bare_metal(crcsort: str, tmp_path: Path) -> None:
    _, ref = pair(crcsort, record=str(tmp_path / "ref"))
    per_epoch = outputs_by_epoch(tmp_path / "ref")
    solo = solo_output(crcsort)
    total = ref.end.icount if ref.end else 0
    rng = random.Random(1995)
    points = sorted(rng.randrange(1, total) for _ in range(50))
    for fail_at in points:
        out, s = pair(crcsort, fail_at=fail_at)
        assert s.error == "" and exit_status(s) == 0, (fail_at, s.render())
        # (a loaded machine may make the backup suspect the primary earlier: it is then
        # fenced off, which is a failover at another point — also correct)
        assert (s.died_at == fail_at or s.fenced) and s.failover_s is not None
        assert_within_repeat_window(solo, out, per_epoch.get(fail_at // EPOCH, 0))


def test_failover_repeats_the_unreported_io(crcsort: str, tmp_path: Path) -> None:
    """Dying at an output access: the device saw it, the backup never heard of it, so
    the promoted backup repeats it — one byte of output twice (refined), none under the
    output rule (the world never saw the first)."""
    _, _ref = pair(crcsort, record=str(tmp_path / "ref"))
    _, recs = L.read_log(tmp_path / "ref")
    writes = [r.icount for r in recs if r.type is L.RecordType.IO and r.kind == L.IO_WRITE
              and r.pa == 0xFFD05800]
    at = writes[len(writes) // 2]
    solo = solo_output(crcsort)
    # (a long detection timeout: a false suspicion would move the failure point)
    out, s = pair(crcsort, fail_at=at, detect=1.0)
    assert s.repeated_io == 1 and len(out) == len(solo) + 1
    assert_within_repeat_window(solo, out, 1)
    out, s = pair(crcsort, "output-rule", fail_at=at, detect=1.0)
    assert s.repeated_io == 1 and out == solo


def test_p8_interrupt_driven_output_survives_failover(irqguest: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _, ref = pair(irqguest)
    total = ref.end.icount if ref.end else 0
    solo = solo_output(irqguest)
    points = range(total // 3, total, total // 40)
    for fail_at in points:
        out, s = pair(irqguest, fail_at=fail_at)
        assert s.error == "", s.render()
        assert_within_repeat_window(solo, out, 64)
    # without P8 some failover point loses the transmit-empty interrupt for good
    monkeypatch.setattr(Primary, "p8_uncertain_interrupts", lambda self: 0)
    broken = [pair(irqguest, fail_at=f)[0] for f in points]
    assert any(b"uart: done 0" in o for o in broken)


def test_host_clock_values_come_from_the_primary(tmp_path: Path) -> None:
    """With --clock host the backup sees the primary's CR16 values (ENV records): its
    digests match although its own host clock differs."""
    elf = str(gb.build(gb.guest("irq_timer_uart")))
    out = bytearray()
    s = run_pair(GuestSpec(elf, clock="host"), ReplicationConfig(EPOCH, "refined", 5.0),
                 sink=out.extend, timeout=60, record=str(tmp_path / "h"))
    assert s.error == "" and s.verified == s.epochs
    _, recs = L.read_log(tmp_path / "h")
    assert any(r.type is L.RecordType.ENV for r in recs)


# ---------------------------------------------------------------- the link

# a lost message is noticed by the gap behind it or, when the primary is waiting for
# its acknowledgement (refined: before every I/O), by the missing acknowledgement
LOST = ("gap", "not acknowledged")


@pytest.mark.parametrize("kind,words", [("drop", LOST), ("duplicate", ("duplicated",)),
                                        ("reorder", LOST), ("corrupt", ("CRC",))])
@pytest.mark.parametrize("protocol", ["refined", "output-rule"])
def test_link_faults_are_detected(crcsort: str, kind: str, words: tuple[str, ...],
                                  protocol: str) -> None:
    _, s = pair(crcsort, protocol, link=LinkConfig(faults={20: kind}))
    assert any(w in s.error for w in words), s.render()
    assert exit_status(s) == 1


# ---------------------------------------------------------------- record and replay

def hvdbg(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "hvdbg", *args], capture_output=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)


def test_record_and_replay_cli(crcsort: str, tmp_path: Path) -> None:
    rec = tmp_path / "run"
    r = hvdbg("pair", "--bios", crcsort, "--epoch", "4096", "--record", str(rec),
              "--fail-primary-at", "300:17", "--detect-ms", "1000")  # no false suspicion
    assert r.returncode == 0, r.stderr
    assert b"failover: primary died at icount 1228817" in r.stderr
    p = hvdbg("replay", str(rec))
    assert p.returncode == 0, p.stderr
    assert p.stdout == r.stdout
    assert b"verified: " in p.stderr and b", 0 mismatches" in p.stderr


def test_replay_names_the_first_mismatch(crcsort: str, tmp_path: Path) -> None:
    pair(crcsort, record=str(tmp_path / "a"))
    header, recs = L.read_log(tmp_path / "a")
    frames, changed = [], False
    for r in recs:
        fields = r.fields
        if not changed and r.type is L.RecordType.EPOCHS and r.fields[0] >= 100:
            data = bytearray(r.data)
            data[0] ^= 1                               # the primary's digest of one epoch
            frames.append(L.encode(r.type, r.seq, fields, bytes(data)))
            changed, bad = True, r.fields[0]
            continue
        frames.append(L.encode(r.type, r.seq, fields, r.data))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / L.LOG_NAME).write_bytes(header.build() + b"".join(frames))
    p = hvdbg("replay", str(tmp_path / "b"))
    assert p.returncode == 1
    assert f"end of epoch {bad}".encode() in p.stderr


def test_replay_rejects_bad_logs(crcsort: str, tmp_path: Path) -> None:
    pair(crcsort, record=str(tmp_path / "a"))
    good = (tmp_path / "a" / L.LOG_NAME).read_bytes()
    cases = {"truncated": good[:len(good) // 2],
             "corrupt": good[:3000] + bytes([good[3000] ^ 0x10]) + good[3001:],
             "foreign": b"\x7fELF" + good[4:],
             "no-end": good[:-L.FRAME_OVERHEAD - 17]}
    for name, data in cases.items():
        f = tmp_path / f"{name}.hvlog"
        f.write_bytes(data)
        p = hvdbg("replay", str(f))
        assert p.returncode == 2, (name, p.stderr)
        err = p.stderr.decode()
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        if name in ("truncated", "corrupt"):
            assert "record " in err and "offset " in err, err


def test_codec_matches_construct_schema() -> None:
    rng = random.Random(7)
    for t, st in L.PAYLOADS.items():
        names = L._CODECS[t][1]
        tail = L._CODECS[t][2]
        for _ in range(20):
            fields = {}
            for sub in st.subcons:
                if sub.name in names:
                    fields[sub.name] = rng.randrange(1 << (8 * sub.subcon.sizeof()))
            data = rng.randbytes(rng.randrange(0, 4) * 8) if tail else b""
            if tail:
                fields["data"] = data
            seq = rng.randrange(1 << 40)
            fast = L.encode(t, seq, tuple(fields[n] for n in names), data)
            payload = st.build(fields)
            slow = L.FRAME.build({"head": {"value": {"type": int(t), "length": len(payload),
                                                     "seq": seq, "payload": payload}}})
            assert fast == slow
            assert L.decode(fast).fields == tuple(fields[n] for n in names)


def test_stream_out_without_link_needs_no_acks() -> None:
    out = StreamOut(None, None)
    out.send(L.RecordType.HEARTBEAT, (1,))
    out.wait_acked()                                   # returns at once
    gate = ConsoleGate(lambda d: None, hold=True)
    gate.emit(0, b"x")
    assert gate.drop_rest() == 1


@pytest.mark.parametrize("clock", ["virtual", "host"])
def test_run_record_then_replay(irqguest: str, tmp_path: Path, clock: str) -> None:
    """rr's workflow: record a solo run, replay it exactly (host clock values included)."""
    r = hvdbg("run", "--bios", irqguest, "--clock", clock, "--record", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    p = hvdbg("replay", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr
    assert p.stdout == r.stdout and b"uart: done 1" in p.stdout
    if clock == "host":
        _, recs = L.read_log(tmp_path / "r")
        assert any(rec.type is L.RecordType.ENV for rec in recs)


def test_device_memory_writes_between_instructions_are_replicated(
        crcsort: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A device writing guest memory at a slice boundary (as the soft power button
    does): the backup and the replayer apply the bytes at the same instruction count."""
    from hvdbg.machine.environment import Environment
    real = Environment.service
    done: list[int] = []

    def service(self: Environment) -> None:
        real(self)
        mem = self.memory
        if not done and mem is not None and getattr(mem, "primary", None) is not None:
            icount = mem.primary.core.icount
            if icount > 500_000:
                done.append(icount)
                mem.write_phys(0x00E00000, b"device was here")
    monkeypatch.setattr(Environment, "service", service)
    out, s = pair(crcsort, record=str(tmp_path / "d"))
    assert done and s.error == "" and s.verified == s.epochs
    assert out == solo_output(crcsort)
    _, recs = L.read_log(tmp_path / "d")
    assert [r.icount for r in recs if r.type is L.RecordType.DMA] == done
    monkeypatch.setattr(Environment, "service", real)
    p = hvdbg("replay", str(tmp_path / "d"))
    assert p.returncode == 0, p.stderr


def test_p8_reraises_a_timer_interrupt_lost_with_the_primary(
        irqguest: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """--clock host: the interval timer fires into the primary's P0 buffer and the
    primary dies before the epoch end that would deliver it.  P8 raises the timer again
    on promotion; without that the guest never sees its tick."""
    from hvdbg.machine.environment import EIRR_TIMER
    real_p0 = Primary.p0_buffer_interrupts

    def p0_then_die(self: Primary) -> None:
        real_p0(self)
        if self.pending_irq & EIRR_TIMER and self.repeat_of is None and \
                not getattr(self, "_promoted", False):
            self.fence.down = True                      # dies holding the interrupt
    real_p8 = Primary.p8_uncertain_interrupts

    def p8(self: Primary) -> int:
        self._promoted = True  # type: ignore[attr-defined]
        return real_p8(self)
    monkeypatch.setattr(Primary, "p0_buffer_interrupts", p0_then_die)
    monkeypatch.setattr(Primary, "p8_uncertain_interrupts", p8)
    out = bytearray()
    s = run_pair(GuestSpec(irqguest, clock="host"), ReplicationConfig(EPOCH, "refined", 0.05),
                 sink=out.extend, timeout=60)
    assert s.died_at is not None and s.error == ""
    assert b"timer interrupt taken: yes" in out


def test_replay_refuses_changed_images(crcsort: str, tmp_path: Path) -> None:
    pair(crcsort, record=str(tmp_path / "a"))
    raw = (tmp_path / "a" / L.LOG_NAME).read_bytes()
    with open(tmp_path / "a" / L.LOG_NAME, "rb") as f:
        header, size = L.Header.parse_stream(f)
    name, path, _ = header.images[0]
    header.images[0] = (name, path, bytes(32))          # not this file's SHA-256
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / L.LOG_NAME).write_bytes(header.build() + raw[size:])
    p = hvdbg("replay", str(tmp_path / "b"))
    assert p.returncode == 2 and b"is not the one recorded" in p.stderr
    assert b"Traceback" not in p.stderr


def test_all_roles_share_run_and_end_alike(crcsort: str, tmp_path: Path) -> None:
    """Solo, Primary (recording), Backup (in a pair) and Replayer all run the guest to
    the same end: power off at the same instruction count."""
    from hvdbg.replication.roles import Solo
    from hvdbg.replication.session import Hypervisor
    from hvdbg.trace.log import Header, LogWriter
    from hvdbg.trace.replay import replay
    spec = GuestSpec(crcsort)
    m = spec.boot()
    solo = Hypervisor(m, Solo(m)).resume()
    writer = LogWriter(tmp_path / "r", Header("t", "solo", "refined", 16384, spec.ram_mib,
                                              spec.clock, 1, spec.image_digests()))
    out = bytearray()
    m = spec.boot()
    primary = Hypervisor(m, Primary(m, ReplicationConfig(), StreamOut(None, writer),
                                    ConsoleGate(out.extend, hold=False))).resume()
    writer.close()
    _, s = pair(crcsort)
    replayed = replay(tmp_path / "r", lambda d: None).end
    ends = {(e.reason, e.icount) for e in (solo, primary, s.end, replayed) if e is not None}
    assert len(ends) == 1 and next(iter(ends))[0].value == "power off"


@pytest.mark.parametrize("guest", ["crcsort", "irq_timer_uart"])
def test_false_suspicion_while_the_primary_keeps_sending(
        guest: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backup suspects a live primary (a slow host); until the fence is down the
    primary goes on and its records keep arriving.  The promoted backup must re-execute
    all of that history exactly (the old primary's interrupts only, its digests checked)
    before its own interrupts (P8's included) reach the guest."""
    from hvdbg.replication.roles import Backup
    elf = str(gb.build(gb.guest(guest)))
    solo = solo_output(elf)
    real_io = Primary.p1_io

    def slow_io(self: Primary, e: object) -> bool:
        time.sleep(0.0002)                    # a slow primary: the backup catches up
        return real_io(self, e)
    monkeypatch.setattr(Primary, "p1_io", slow_io)
    fenced = 0
    for nth in (1, 2, 3, 6):                  # suspect at the nth time the backup waits
        calls = {"n": 0}

        def p7(self: Backup, _nth: int = nth, _calls: dict[str, int] = calls) -> bool:
            _calls["n"] += 1
            if _calls["n"] < _nth:
                return False
            if _calls["n"] == _nth:
                time.sleep(0.002)             # the primary keeps running meanwhile
            return True
        monkeypatch.setattr(Backup, "p7_detect_failure", p7)
        out, s = pair(elf)
        assert s.error == "", s.render()
        assert exit_status(s) == 0
        assert_within_repeat_window(solo, out, 64)
        fenced += s.fenced                    # (a short guest may not wait n times)
    assert fenced >= 2
