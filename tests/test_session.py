"""The session driver's promises (issue 8 part 1): pauses leave every role resumable —
a recording goes on after a breakpoint, a replay does not diverge because it was
stopped — and a single step at an epoch boundary with an interrupt due lands on the
interruption vector with IIAOQ pointing back."""
from __future__ import annotations

from pathlib import Path

import guestbuild as gb

from hvdbg.machine.spec import GuestSpec
from hvdbg.machine.stop import StopReason, Until
from hvdbg.replication.roles import Primary, ReplicationConfig
from hvdbg.replication.session import Hypervisor
from hvdbg.replication.stream import ConsoleGate, StreamOut
from hvdbg.trace import log as L
from hvdbg.trace.replay import open_replay

EPOCH = 4096


def _recorded(elf: str, d: Path) -> tuple[Hypervisor, L.LogWriter, bytearray]:
    spec = GuestSpec(elf)
    out = bytearray()
    w = L.LogWriter(d, L.Header("t", "solo", "refined", EPOCH, spec.ram_mib, spec.clock, 1,
                                spec.image_digests()))
    m = spec.boot()
    return Hypervisor(m, Primary(m, ReplicationConfig(EPOCH), StreamOut(None, w),
                                 ConsoleGate(out.extend, hold=False))), w, out


def test_recording_goes_on_after_breakpoints_and_replay_survives_stops(
        tmp_path: Path) -> None:
    elf = str(gb.build(gb.guest("crcsort")))
    hv, w, out = _recorded(elf, tmp_path / "r")
    main = 0xF0000EA4
    hv.core.add_breakpoint(main)
    hits = 0
    while (stop := hv.resume()).reason is StopReason.BREAKPOINT:
        hits += 1
    w.close()
    assert hits >= 1 and stop.reason is StopReason.POWER_OFF
    # a replay stopped at many points (steps, epochs, a stop request) still verifies
    replayed = bytearray()
    rp = open_replay(tmp_path / "r", replayed.extend)
    for until in (Until.insns(1), Until.insns(1000), Until.epochs(3), Until.icount(200_000)):
        s = rp.resume(until)
        assert not s.final and s.reason in (StopReason.STEPPED, StopReason.EPOCH), s
    rp.request_stop()
    assert rp.resume().reason is StopReason.INTERRUPTED
    end = rp.resume()
    assert end.reason is StopReason.POWER_OFF and end.icount == stop.icount
    assert out and replayed == out           # the console, re-executed, is the recorded one


def test_stepi_with_an_interrupt_due_lands_on_the_vector(tmp_path: Path) -> None:
    elf = str(gb.build(gb.guest("irq_timer_uart")))
    hv, w, _ = _recorded(elf, tmp_path / "r")
    s = hv.core.state
    for _ in range(5000):                       # epoch boundaries until one delivers
        stop = hv.resume(Until.epochs(1))
        assert stop.reason is StopReason.EPOCH and stop.icount % EPOCH == 0
        if (s.psw & 1) and int(s.cr[23]) & int(s.cr[15]):
            break
    else:
        raise AssertionError("no interrupt was due at any epoch boundary")
    pc, icount = int(s.iaoq_f), hv.core.icount
    step = hv.resume(Until.insns(1))
    assert step.reason is StopReason.STEPPED
    assert int(s.iaoq_f) == int(s.cr[14]) + 32 * 4       # IVA + external interrupt
    assert int(s.cr[18]) == pc and hv.core.icount == icount   # IIAOQ points back
    nxt = hv.resume(Until.insns(1))              # the next step runs the vector's first
    assert nxt.icount == icount + 1 and nxt.pc != step.pc
    w.close()
