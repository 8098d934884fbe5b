"""Log files at the edges (issue 14): forged but CRC-valid headers and records are
refused when the log is read (read_log), with one StreamError line; an existing recording is not
overwritten without --force; a log cut short is never taken for a complete one."""
from __future__ import annotations

from pathlib import Path

import guestbuild as gb
import pytest
from test_cli_args import SPIN, hvdbg, one_line_error
from test_machine import make_elf

from hvdbg.trace import log as L

# ---------------------------------------------------------------- log files (9, 7)

def header(**kw: object) -> L.Header:
    h = L.Header("0", "solo", "refined", 16384, 256, "virtual", 1,
                 [("bios", "/nonexistent", bytes(32))])
    for k, v in kw.items():
        setattr(h, k, v)
    return h


@pytest.mark.parametrize("field,value,words", [
    ("epoch", 0, "epoch length 0"), ("epoch", 1 << 31, "epoch length"),
    ("ram_mib", 0, "RAM size 0"), ("ram_mib", 1 << 20, "RAM size"),
    ("clock", "sundial", "clock 'sundial'"), ("ticks_per_insn", 0, "ticks"),
    ("images", [], "no firmware"),
    ("images", [("bios", "a", bytes(32)), ("bios", "b", bytes(32))], "at most once"),
    ("images", [("bios", "a", bytes(32)), ("rom", "b", bytes(32))], "at most once"),
    ("images", [("bios", "a", bytes(32)), ("initrd", "b", bytes(32))], "without a kernel"),
])
def test_forged_headers_are_refused_at_read_time(tmp_path: Path, field: str, value: object,
                                                 words: str) -> None:
    """CRC-valid headers describing no machine: one StreamError when the log is opened,
    and ``replay`` says so on one line."""
    p = tmp_path / "stream.hvlog"
    p.write_bytes(header(**{field: value}).build())
    with pytest.raises(L.StreamError, match=words):
        L.read_log(p)
    assert words in one_line_error(hvdbg("replay", str(p)))


def _log(tmp_path: Path, *frames: bytes, ram_mib: int = 256) -> Path:
    p = tmp_path / "stream.hvlog"
    p.write_bytes(header(ram_mib=ram_mib).build() + b"".join(frames))
    return p


def test_end_with_unknown_reason_is_refused(tmp_path: Path) -> None:
    frame = L.encode(L.RecordType.END, 0, (5, 99, 0))
    _, recs = L.read_log(_log(tmp_path, frame))
    with pytest.raises(L.StreamError, match=r"unknown reason 99 \(record 0, offset"):
        list(recs)
    # every known reason is read
    for r in L.EndReason:
        _, recs = L.read_log(_log(tmp_path, L.encode(L.RecordType.END, 0, (5, r, 0))))
        assert [x.reason for x in recs] == [r]


@pytest.mark.parametrize("pa,n", [(1 << 20, 4), ((1 << 20) - 2, 4), (0x80000000, 1),
                                  (0xF07FFFFE, 4)])
def test_dma_beyond_ram_is_refused_at_read_time(tmp_path: Path, pa: int, n: int) -> None:
    """A DMA record the recorded machine could not have made (its RAM is 1 MiB here)."""
    frame = L.encode(L.RecordType.DMA, 0, (0, pa), bytes(n))
    _, recs = L.read_log(_log(tmp_path, frame, ram_mib=1))
    with pytest.raises(L.StreamError, match="beyond the recorded machine's RAM"):
        list(recs)
    # inside RAM and inside the firmware region are fine
    ok = [L.encode(L.RecordType.DMA, 0, (0, (1 << 20) - 4), bytes(4)),
          L.encode(L.RecordType.DMA, 1, (0, 0xF07FFFF0), bytes(16))]
    _, recs = L.read_log(_log(tmp_path, *ok, ram_mib=1))
    assert len(list(recs)) == 2


def test_second_recording_into_the_same_directory_is_refused(tmp_path: Path) -> None:
    spin_elf = tmp_path / "spin.elf"
    spin_elf.write_bytes(make_elf(SPIN.to_bytes(4, "big") + bytes(4), paddr=0xF0000200))
    rec = tmp_path / "rec"
    r = hvdbg("run", "--bios", str(spin_elf), "--max-insns", "5000", "--record", str(rec))
    assert r.returncode == 3, r.stderr
    before = (rec / L.LOG_NAME).read_bytes()
    r = hvdbg("run", "--bios", str(spin_elf), "--max-insns", "7000", "--record", str(rec))
    line = one_line_error(r)
    assert "already holds a recording" in line and "--force" in line
    assert (rec / L.LOG_NAME).read_bytes() == before       # untouched
    r = hvdbg("pair", "--bios", str(spin_elf), "--max-insns", "7000", "--record", str(rec))
    assert "already holds a recording" in one_line_error(r)
    assert (rec / L.LOG_NAME).read_bytes() == before
    assert hvdbg("replay", str(rec)).returncode == 0


def test_log_writer_force_overwrites(tmp_path: Path) -> None:
    w = L.LogWriter(tmp_path, header())
    w.close()
    with pytest.raises(L.LogExistsError) as e:
        L.LogWriter(tmp_path, header(epoch=4096))
    assert isinstance(e.value, OSError) and "--force" in str(e.value)
    w = L.LogWriter(tmp_path, header(epoch=4096), force=True)
    w.close()
    h, _ = L.read_log(tmp_path)
    assert h.epoch == 4096


def test_header_only_log_from_max_insns_0_replays(tmp_path: Path) -> None:
    """``--max-insns 0`` records a header and an END: a complete log that replays; the
    same log cut after its header is reported as truncated, not taken as complete."""
    elf = gb.build(gb.guest("hello"))
    rec = tmp_path / "rec"
    r = hvdbg("run", "--bios", str(elf), "--max-insns", "0", "--record", str(rec))
    assert r.returncode == 3, r.stderr
    _, recs = L.read_log(rec)
    assert [x.type for x in recs] == [L.RecordType.END]
    r = hvdbg("replay", str(rec))
    assert r.returncode == 0, r.stderr
    p = rec / L.LOG_NAME
    _, size = L.Header.parse_stream(p.open("rb"))
    p.write_bytes(p.read_bytes()[:size])
    r = hvdbg("replay", str(rec))
    assert r.returncode == 2 and b"without an END record" in r.stderr, r.stderr


@pytest.mark.parametrize("forgery", ["dma", "end"])
def test_replay_of_forged_records_is_a_one_line_error(tmp_path: Path, forgery: str) -> None:
    """A real recording with one CRC-valid forged record: a DMA write beyond RAM put
    first, or its END record given an unknown reason; ``replay`` names it on one line."""
    elf = gb.build(gb.guest("hello"))
    rec = tmp_path / "rec"
    r = hvdbg("run", "--bios", str(elf), "--record", str(rec), "-m", "16")
    assert r.returncode == 0, r.stderr
    p = rec / L.LOG_NAME
    with p.open("rb") as f:
        _, size = L.Header.parse_stream(f)
    _, recs = L.read_log(rec)
    records = list(recs)
    if forgery == "dma":
        records.insert(0, L.Record(L.RecordType.DMA, 0, (0, 16 << 20), bytes(4)))
        words = "beyond the recorded machine's RAM"
    else:
        end = records[-1]
        assert end.type is L.RecordType.END
        records[-1] = L.Record(end.type, end.seq, (end.fields[0], 77, end.fields[2]))
        words = "unknown reason 77"
    frames = b"".join(L.encode(x.type, i, x.fields, x.data) for i, x in enumerate(records))
    p.write_bytes(p.read_bytes()[:size] + frames)
    assert words in one_line_error(hvdbg("replay", str(rec)))


def test_force_flag_overwrites_a_recording(tmp_path: Path) -> None:
    spin_elf = tmp_path / "spin.elf"
    spin_elf.write_bytes(make_elf(SPIN.to_bytes(4, "big") + bytes(4), paddr=0xF0000200))
    rec = tmp_path / "rec"
    for command, n in (("run", "5000"), ("run", "7000"), ("pair", "9000")):
        r = hvdbg(command, "--bios", str(spin_elf), "--max-insns", n, "--record", str(rec),
                  "--force")
        assert r.returncode == 3, r.stderr
        _, recs = L.read_log(rec)
        assert list(recs)[-1].icount == int(n)
