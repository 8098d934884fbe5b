"""``hvdbg log``: printing, filters, JSON, statistics, the Chrome trace and the plot of
recorded logs, checked against what :func:`read_log` says independently; bad logs and a
closed stdout give one line, never a traceback; plain printing streams."""
from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import threading
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import guestbuild as gb
import pytest

from hvdbg.trace import log as L
from hvdbg.trace.inspect import Progress
from hvdbg.trace.log import RecordType as R

ROOT = Path(__file__).resolve().parent.parent
HZ = 250_000_000                    # CR16 rate of the B160L model (docs/guests.md)
PAIR_EPOCH = 16384
FAIL_EPOCH = 100


def hvdbg(*args: str, env: dict[str, str] | None = None, timeout: float = 120
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hvdbg", *args], check=False,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


def records(logdir: Path) -> tuple[L.Header, list[L.Record]]:
    h, it = L.read_log(logdir)
    return h, list(it)


def assert_one_line_error(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


# ---- logs made by the real commands ----------------------------------------------

@pytest.fixture(scope="module")
def crcsort() -> str:
    return str(gb.build(gb.guest("crcsort")))


@pytest.fixture(scope="module")
def solo_log(tmp_path_factory: pytest.TempPathFactory, crcsort: str) -> Path:
    d = tmp_path_factory.mktemp("solo") / "rec"
    r = hvdbg("run", "--bios", crcsort, "--record", str(d))
    assert r.returncode == 0, r.stderr
    return d


@pytest.fixture(scope="module")
def pair_log(tmp_path_factory: pytest.TempPathFactory, crcsort: str) -> tuple[Path, int]:
    """A pair run whose primary dies in epoch 100; returns the log and the icount at
    which the pair summary says it died."""
    d = tmp_path_factory.mktemp("pair") / "rec"
    # a detection timeout long enough that a loaded test machine cannot make the backup
    # suspect the primary before it dies (it costs this much once, after the death)
    r = hvdbg("pair", "--bios", crcsort, "--record", str(d), "--epoch", str(PAIR_EPOCH),
              "--fail-primary-at", str(FAIL_EPOCH), "--detect-ms", "1000")
    assert r.returncode == 0, r.stderr
    m = re.search(r"primary died at icount (\d+)", r.stderr)
    assert m and "fenced" not in r.stderr, r.stderr
    (d / "summary.txt").write_text(r.stderr)
    return d, int(m.group(1))


@pytest.fixture(scope="module")
def host_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Interrupts (IRQ) and, with the host clock, CR16 values (ENV)."""
    elf = str(gb.build(gb.guest("irq_timer_uart")))
    d = tmp_path_factory.mktemp("host") / "rec"
    r = hvdbg("run", "--bios", elf, "--clock", "host", "--record", str(d),
              "--max-insns", "20000000")
    assert r.returncode == 0, r.stderr
    return d


# ---- a synthetic log with every kind of record ---------------------------------------

EPOCH = 1024          # the smallest epoch a header may name


def synthetic(path: Path, epochs: int = 6) -> list[bytes]:
    """Frames of every kind in a plausible order; written to ``path``; returned."""
    frames: list[bytes] = []

    def add(t: R, fields: tuple[int, ...], data: bytes = b"") -> None:
        frames.append(L.encode(t, len(frames), fields, data))

    for e in range(epochs):
        base = e * EPOCH
        add(R.IO, (base + 10, L.IO_READ, 1, 0xFFD05805, 0x60))
        add(R.IO, (base + 20, L.IO_WRITE, 1, 0xFFD05800, 0x41), b"A")
        add(R.ENV, (base + 30, 16, 123456 + e))
        if e % 2:
            add(R.IRQ, (e, 0x4000000))
        if e == 2:
            add(R.DMA, (base + 40, 0x1000), bytes(range(20)))
            add(R.OUTPUT, (base + 50,), b"hello\n")
            add(R.HEARTBEAT, (base + 60,))
        add(R.EPOCHS, (e,), (0x1111 * (e + 1)).to_bytes(8, "big"))
        if e == 3:
            add(R.PROMOTE, (4, 4 * EPOCH))
            add(R.UNCERTAIN, (4, 0x4000000))
    add(R.END, (epochs * EPOCH + 500, L.EndReason.POWER_OFF, 0xABCDEF))
    header = L.Header("test", "pair", "refined", EPOCH, 16, "virtual", 1,
                      [("bios", "/x.elf", bytes(32))], "", "hvdbg test")
    path.mkdir(parents=True, exist_ok=True)
    (path / L.LOG_NAME).write_bytes(header.build() + b"".join(frames))
    return frames


@pytest.fixture
def synth(tmp_path: Path) -> Path:
    synthetic(tmp_path / "s")
    return tmp_path / "s"


# ---- printing and filters ------------------------------------------------------------

def test_print_every_record_as_read_log_describes_it(pair_log: tuple[Path, int]) -> None:
    logdir, _ = pair_log
    h, recs = records(logdir)
    r = hvdbg("log", str(logdir))
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    body = [ln for ln in lines if ln.startswith("#")]
    assert len(body) == len(recs)
    for ln, rec in zip(body, recs, strict=True):
        assert ln.startswith(rec.describe())
    head = lines[:len(lines) - len(body)]
    assert any(f"epoch {h.epoch} instructions" in ln for ln in head)
    assert any(h.command in ln for ln in head)


def test_kind_filter_counts_match_read_log(pair_log: tuple[Path, int]) -> None:
    logdir, _ = pair_log
    _, recs = records(logdir)
    want = Counter(rec.type for rec in recs)
    assert want[R.IO] > 100 and want[R.EPOCHS] > 10
    r = hvdbg("log", str(logdir), "--kind", "io", "--no-header")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == want[R.IO]
    assert all(" IO " in ln for ln in r.stdout.splitlines())
    r = hvdbg("log", str(logdir), "--kind", "promote,uncertain,END", "--no-header")
    assert [ln.split()[1] for ln in r.stdout.splitlines()] == ["PROMOTE", "UNCERTAIN", "END"]


def test_epoch_and_icount_ranges(pair_log: tuple[Path, int]) -> None:
    logdir, _ = pair_log
    h, recs = records(logdir)
    L_ = h.epoch
    lo, hi = 3, 12
    want = [x.seq for x in recs if x.type is R.IO and lo * L_ <= x.icount < hi * L_]
    assert want
    r = hvdbg("log", str(logdir), "--kind", "io", "--epochs", f"{lo}:{hi}", "--no-header",
              "--json")
    assert [json.loads(ln)["seq"] for ln in r.stdout.splitlines()] == want
    ios = [x for x in recs if x.type is R.IO]
    a, b = ios[10].icount, ios[20].icount           # half-open: ios[20] is left out
    want = [x.seq for x in recs if x.type is R.IO and a <= x.icount < b]
    r = hvdbg("log", str(logdir), "--kind", "io", "--icount", f"{a}:{hex(b)}", "--no-header")
    assert [int(ln.split()[0][1:]) for ln in r.stdout.splitlines()] == want
    # an EPOCHS record is selected when any epoch it covers is in the range
    e = 80
    want = [x.seq for x in recs if x.type is R.EPOCHS
            and any(ep == e for ep, _ in x.epochs())]
    assert len(want) == 1
    r = hvdbg("log", str(logdir), "--kind", "epochs", "--epochs", str(e), "--no-header")
    assert [int(ln.split()[0][1:]) for ln in r.stdout.splitlines()] == want


@pytest.mark.parametrize("args,words", [
    (["--kind", "io,bogus"], ["bogus", "kinds:"]),
    (["--epochs", "9:3"], ["9:3"]),
    (["--icount", "x"], ["'x'"]),
])
def test_bad_arguments(synth: Path, args: list[str], words: list[str]) -> None:
    r = hvdbg("log", str(synth), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert all(w in r.stderr for w in words), r.stderr


def test_every_kind_printed(synth: Path) -> None:
    r = hvdbg("log", str(synth), "--no-header")
    lines = r.stdout.splitlines()
    kinds = Counter(ln.split()[1] for ln in lines)
    assert kinds == Counter({"IO": 12, "ENV": 6, "EPOCHS": 6, "IRQ": 3, "DMA": 1, "OUTPUT": 1,
                             "HEARTBEAT": 1, "PROMOTE": 1, "UNCERTAIN": 1, "END": 1})
    text = "\n".join(lines)
    assert "write 'A'" in text and "'hello\\n'" in text
    assert "000102030405060708090a0b0c0d0e0f..." in text        # DMA: first 16 bytes
    assert "(power_off)" in text and "(epochs 3..3)" in text


# ---- JSON ----------------------------------------------------------------------------

def test_json_lines_fields_and_offsets(solo_log: Path) -> None:
    h, recs = records(solo_log)
    r = hvdbg("log", str(solo_log), "--json")
    assert r.returncode == 0
    objs = [json.loads(ln) for ln in r.stdout.splitlines()]
    head, body = objs[0], objs[1:]
    assert head["type"] == "HEADER" and head["epoch"] == h.epoch
    assert head["clock"] == h.clock and head["ticks_per_insn"] == h.ticks_per_insn
    assert head["images"][0]["sha256"] == h.images[0][2].hex()
    assert len(body) == len(recs)
    raw = (solo_log / L.LOG_NAME).read_bytes()
    assert body[0]["offset"] == head["header_bytes"]
    for o, rec in zip(body, recs, strict=True):
        assert o["type"] == rec.type.name and o["seq"] == rec.seq
        assert list(o["fields"].values()) == list(rec.fields)
        assert bytes.fromhex(o["data"]) == rec.data
        # the frame really is there: its CRC-covered bytes decode to the same record
        assert L.decode(raw[o["offset"]:o["offset"] + o["bytes"]]) == rec
        if "icount" in o["fields"]:
            assert o["icount"] == rec.icount and o["epoch"] == rec.icount // h.epoch
            assert o["time_us"] == pytest.approx(rec.icount * h.ticks_per_insn / HZ * 1e6)
    assert body[-1]["offset"] + body[-1]["bytes"] == len(raw)


# ---- statistics ------------------------------------------------------------------------

def test_stats_match_read_log(pair_log: tuple[Path, int]) -> None:
    logdir, _ = pair_log
    h, recs = records(logdir)
    size = (logdir / L.LOG_NAME).stat().st_size
    r = hvdbg("log", str(logdir), "--stats", "--json")
    assert r.returncode == 0
    s = json.loads(r.stdout)
    count = Counter(rec.type.name for rec in recs)
    assert {k: v["records"] for k, v in s["kinds"].items()} == dict(count)
    # frame bytes add up to the file less its header
    assert s["bytes"] + s["header_bytes"] == size == s["file_bytes"]
    io_bytes = sum(L.FRAME_OVERHEAD + 22 + len(rec.data) for rec in recs if rec.type is R.IO)
    assert s["kinds"]["IO"]["bytes"] == io_bytes
    end = recs[-1]
    assert end.type is R.END
    secs = end.icount * h.ticks_per_insn / HZ
    assert s["instructions"] == end.icount
    assert s["guest_seconds"] == pytest.approx(secs)
    assert s["bytes_per_guest_second"] == pytest.approx(s["bytes"] / secs)
    assert s["epochs"] == sum(len(x.epochs()) for x in recs if x.type is R.EPOCHS)
    promote = next(x for x in recs if x.type is R.PROMOTE)
    assert s["promotions"] == [{"epoch": promote.epoch, "icount": promote.icount}]
    text = hvdbg("log", str(logdir), "--stats").stdout
    assert re.search(rf"^IO\s+{count['IO']}\s+{io_bytes}\s", text, re.MULTILINE), text
    assert f"= {end.icount} instructions" in text and "4 ns per instruction" in text


def test_stats_of_a_range(synth: Path) -> None:
    r = hvdbg("log", str(synth), "--stats", "--json", "--epochs", "2:4")
    s = json.loads(r.stdout)
    assert s["icount_first"] == 2 * EPOCH and s["icount_end"] == 4 * EPOCH
    assert s["kinds"]["IO"]["records"] == 4 and s["kinds"]["EPOCHS"]["records"] == 2
    assert s["kinds"]["IRQ"]["records"] == 1          # epoch 3's; epoch 1's and 5's outside
    assert s["epochs"] == 2


def test_host_clock_stats_say_nominal(host_log: Path) -> None:
    r = hvdbg("log", str(host_log), "--stats")
    assert r.returncode == 0 and "nominal" in r.stdout and "clock host" in r.stdout


# ---- bad logs, closed pipes ------------------------------------------------------------

def test_missing_and_foreign_logs(tmp_path: Path) -> None:
    assert_one_line_error(hvdbg("log", str(tmp_path / "nothing")), "cannot open")
    (tmp_path / "junk").write_bytes(b"this is not a log at all")
    assert_one_line_error(hvdbg("log", str(tmp_path / "junk")), "bad magic")
    (tmp_path / "empty").write_bytes(b"")
    assert_one_line_error(hvdbg("log", str(tmp_path / "empty"), "--stats"), "bad magic")


def test_truncated_and_corrupt_logs(tmp_path: Path) -> None:
    frames = synthetic(tmp_path / "ok")
    good = (tmp_path / "ok" / L.LOG_NAME).read_bytes()
    (tmp_path / "cut").write_bytes(good[:-7])
    r = hvdbg("log", str(tmp_path / "cut"), "--no-header")
    assert_one_line_error(r, "truncated frame", f"record {len(frames) - 1}")
    assert len(r.stdout.splitlines()) == len(frames) - 1      # all before the damage
    bad = bytearray(good)
    pos = len(good) - sum(map(len, frames[5:]))                 # inside frame 5
    bad[pos + 15] ^= 0x40
    (tmp_path / "crc").write_bytes(bytes(bad))
    out = tmp_path / "t.json"
    r = hvdbg("log", str(tmp_path / "crc"), "--chrome-trace", str(out))
    assert_one_line_error(r, "CRC mismatch", "record 5", f"offset {pos}")
    assert not out.exists() and list(tmp_path.glob(".t.json*")) == []   # no half trace
    hdr = bytearray(good)
    hdr[20] ^= 1
    (tmp_path / "hdr").write_bytes(bytes(hdr))
    assert_one_line_error(hvdbg("log", str(tmp_path / "hdr"), "--json"), "header")


def test_header_with_impossible_values(tmp_path: Path) -> None:
    h = L.Header("test", "solo", "refined", 0, 16, "virtual", 1, [])
    (tmp_path / "z").write_bytes(h.build())
    assert_one_line_error(hvdbg("log", str(tmp_path / "z")), "epoch length 0")
    # no CR16 rate: reading the log refuses the header (no machine has it)
    h = L.Header("test", "solo", "refined", EPOCH, 16, "virtual", 0, [])
    (tmp_path / "t").write_bytes(h.build() + L.encode(R.HEARTBEAT, 0, (5,)))
    assert_one_line_error(hvdbg("log", str(tmp_path / "t"), "--stats"),
                          "ticks per instruction 0")


def test_frame_size_is_the_encoded_length(tmp_path: Path) -> None:
    for frame in synthetic(tmp_path / "s"):
        assert L.decode(frame).frame_size == len(frame)


def test_unwritable_trace_output(synth: Path, tmp_path: Path) -> None:
    r = hvdbg("log", str(synth), "--chrome-trace", str(tmp_path / "no" / "such" / "t.json"))
    assert_one_line_error(r, "cannot write")


@pytest.mark.parametrize("fmt", [[], ["--json"]])
def test_closed_stdout_is_quiet(pair_log: tuple[Path, int], fmt: list[str]) -> None:
    logdir, _ = pair_log
    p = subprocess.Popen([sys.executable, "-m", "hvdbg", "log", str(logdir), *fmt],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    assert p.stdout is not None and p.stderr is not None
    first = p.stdout.readline()
    assert first
    p.stdout.close()                              # what `| head -1` does
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141
    assert err == b""


def test_printing_streams(tmp_path: Path) -> None:
    """Records are printed while the log is still being written: a FIFO holds the first
    half of a log, and its lines must appear before the second half exists."""
    fifo = tmp_path / "live.hvlog"
    os.mkfifo(fifo)
    frames = synthetic(tmp_path / "src", epochs=40)
    header = (tmp_path / "src" / L.LOG_NAME).read_bytes()[:-sum(map(len, frames))]
    half = len(frames) // 2
    # unbuffered: a pipe would otherwise hold the first lines in the child's buffer
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen([sys.executable, "-m", "hvdbg", "log", str(fifo), "--no-header"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, env=env)
    assert p.stdout is not None
    got: list[str] = []
    try:
        with open(fifo, "wb") as w:
            w.write(header + b"".join(frames[:half]))
            w.flush()
            done = threading.Event()

            def read_half() -> None:
                while len(got) < half:
                    line = p.stdout.readline()      # type: ignore[union-attr]
                    if not line:
                        break
                    got.append(line)
                done.set()

            threading.Thread(target=read_half, daemon=True).start()
            assert done.wait(30), f"only {len(got)} of {half} lines while the log is open"
            assert len(got) == half
            w.write(b"".join(frames[half:]))
        rest = p.stdout.read()
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert len(got) + len(rest.splitlines()) == len(frames)


def test_progress_only_on_a_terminal_and_long_passes() -> None:
    class Stream:
        def __init__(self, tty: bool) -> None:
            self.tty, self.text = tty, ""

        def isatty(self) -> bool:
            return self.tty

        def write(self, s: str) -> None:
            self.text += s

        def flush(self) -> None:
            pass

    size = 100 << 20
    for tty, elapsed, shown in ((False, 5.0, False), (True, 0.5, False), (True, 5.0, True)):
        s = Stream(tty)
        times = iter([100.0, 100.0 + elapsed])            # at the start, at the update
        p = Progress(size, "stats", s, now=times.__next__)    # type: ignore[arg-type]
        p(size // 2)
        p.done()
        assert ("stats 50% (50 of 100 MiB)" in s.text) is shown, (tty, elapsed, s.text)
        assert s.text.endswith("\x1b[K") is shown          # the line is cleared at the end


# ---- the Chrome trace ------------------------------------------------------------------

def check_trace_format(doc: Any) -> list[dict[str, Any]]:
    """The rules of the Trace Event Format (JSON object form) this writer relies on."""
    assert isinstance(doc, dict) and isinstance(doc["traceEvents"], list)
    assert doc["displayTimeUnit"] in ("ms", "ns")
    evs = doc["traceEvents"]
    last_x: dict[tuple[int, int], float] = {}
    stacks: dict[tuple[int, int], list[str]] = {}
    named_threads = set()
    for ev in evs:
        for k in ("name", "ph", "ts", "pid", "tid"):
            assert k in ev, (k, ev)
        assert isinstance(ev["ts"], int | float) and ev["ts"] >= 0
        key = (ev["pid"], ev["tid"])
        ph = ev["ph"]
        assert ph in ("M", "X", "i", "B", "E"), ev
        if ph == "M":
            assert ev["name"] in ("process_name", "thread_name", "thread_sort_index")
            if ev["name"] == "thread_name":
                named_threads.add(key)
        elif ph == "X":
            assert ev["dur"] >= 0, ev
            assert ev["ts"] >= last_x.get(key, 0), ("X not monotone", ev)
            last_x[key] = ev["ts"]
        elif ph == "i":
            assert ev["s"] in ("g", "p", "t"), ev
        elif ph == "B":
            stacks.setdefault(key, []).append(ev["name"])
        else:
            assert stacks.get(key), ("E without B", ev)
            stacks[key].pop()
    assert all(not s for s in stacks.values()), "unbalanced B/E"
    assert any(ev["ph"] == "M" and ev["name"] == "process_name" for ev in evs)
    used = {(ev["pid"], ev["tid"]) for ev in evs if ev["ph"] != "M"}
    assert used <= named_threads, used - named_threads
    return evs


def us(icount: int) -> float:
    return icount * 1e6 / HZ                  # ticks_per_insn is 1 in every log here


def test_chrome_trace_of_a_failover(pair_log: tuple[Path, int], tmp_path: Path) -> None:
    logdir, died_at = pair_log
    h, recs = records(logdir)
    assert h.ticks_per_insn == 1
    out = tmp_path / "trace.json"
    r = hvdbg("log", str(logdir), "--chrome-trace", str(out))
    assert r.returncode == 0 and r.stdout == ""
    evs = check_trace_format(json.loads(out.read_text()))
    epochs = [ep for x in recs if x.type is R.EPOCHS for ep, _ in x.epochs()]
    end = recs[-1]
    xs = [ev for ev in evs if ev["ph"] == "X"]
    # every whole epoch, then the last one up to END
    assert [ev["args"]["epoch"] for ev in xs] == [*epochs, epochs[-1] + 1]
    assert all(ev["dur"] == pytest.approx(us(h.epoch)) for ev in xs[:-1])
    assert xs[-1]["args"]["partial"]
    assert xs[-1]["ts"] + xs[-1]["dur"] == pytest.approx(us(end.icount))
    ios = [ev for ev in evs if ev["ph"] == "i" and ev["name"].startswith("IO ")]
    assert len(ios) == sum(1 for x in recs if x.type is R.IO)
    # failover: the PROMOTE record's own icount, as a global instant
    promote = next(x for x in recs if x.type is R.PROMOTE)
    (fo,) = [ev for ev in evs if ev["name"].startswith("failover")]
    assert fo["s"] == "g" and fo["ts"] == pytest.approx(us(promote.icount))
    assert fo["args"]["icount"] == promote.icount
    # the backup takes over at the first epoch whose end it never heard of, no later
    # than the epoch in which the pair summary says the primary died
    last_heard = max(ep for x in recs[:promote.seq] if x.type is R.EPOCHS for ep, _ in x.epochs())
    why = f"{promote.describe()}, last epoch end heard {last_heard}, summary:\n" + \
        (logdir / "summary.txt").read_text()
    assert died_at // PAIR_EPOCH == FAIL_EPOCH, why
    assert promote.epoch == last_heard + 1, why
    assert promote.epoch <= FAIL_EPOCH, why
    assert promote.icount == promote.epoch * PAIR_EPOCH, why
    by = {ev["args"]["epoch"]: ev["args"]["by"] for ev in xs}
    assert by[promote.epoch - 1] == "primary" and by[promote.epoch] == "promoted backup"
    r = hvdbg("log", str(logdir), "--kind", "promote", "--no-header")
    assert r.stdout.strip() == promote.describe()


def test_chrome_trace_interrupts_and_environment(host_log: Path, tmp_path: Path) -> None:
    _, recs = records(host_log)
    out = tmp_path / "t.json"
    assert hvdbg("log", str(host_log), "--chrome-trace", str(out)).returncode == 0
    evs = check_trace_format(json.loads(out.read_text()))
    irqs = [x for x in recs if x.type is R.IRQ]
    envs = [x for x in recs if x.type is R.ENV]
    assert len(irqs) > 40 and envs
    got = [ev for ev in evs if ev["name"].startswith("IRQ")]
    # delivered at the end of the epoch the record names
    assert [ev["ts"] for ev in got] == [pytest.approx(us((x.epoch + 1) * 16384)) for x in irqs]
    got = [ev for ev in evs if ev["name"] == "ENV cr16"]
    assert [(ev["ts"], ev["args"]["value"]) for ev in got] == \
        [(pytest.approx(us(x.icount)), x.value) for x in envs]


def test_chrome_trace_every_kind_and_filters(synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    assert hvdbg("log", str(synth), "--chrome-trace", str(out)).returncode == 0
    evs = check_trace_format(json.loads(out.read_text()))
    names = Counter(ev["name"].split()[0] for ev in evs if ev["ph"] != "M")
    assert names == Counter({"epoch": 7, "IO": 12, "ENV": 6, "IRQ": 3, "DMA": 1, "output": 1,
                             "heartbeat": 1, "failover:": 1, "UNCERTAIN": 1, "END": 1})
    threads = {ev["tid"]: ev["args"]["name"] for ev in evs if ev["name"] == "thread_name"}
    for ev in evs:
        if ev["ph"] != "M":
            want = {"epoch": "epochs", "IO": "I/O", "IRQ": "interrupts", "ENV": "environment",
                    "DMA": "DMA", "output": "output"}.get(ev["name"].split()[0], "replication")
            assert want in threads[ev["tid"]], ev
    r = hvdbg("log", str(synth), "--chrome-trace", str(out), "--kind", "epochs,io",
              "--epochs", "2:4")
    assert r.returncode == 0
    evs = check_trace_format(json.loads(out.read_text()))
    assert [ev["name"] for ev in evs if ev["ph"] == "X"] == ["epoch 2", "epoch 3"]
    assert sorted(ev["args"]["icount"] for ev in evs if ev["name"].startswith("IO")) == \
        [2 * EPOCH + 10, 2 * EPOCH + 20, 3 * EPOCH + 10, 3 * EPOCH + 20]
    # an instruction range clips the epochs too; the last, partial epoch comes with END
    # (at 6500), so only when END is in the range
    for window, want in (("2500:3500", ["epoch 2", "epoch 3"]), ("6200:", ["epoch 6"]),
                         ("5999:6001", ["epoch 5"]), ("5999:", ["epoch 5", "epoch 6"])):
        r = hvdbg("log", str(synth), "--chrome-trace", str(out), "--kind", "epochs,end",
                  "--icount", window)
        assert r.returncode == 0
        evs = check_trace_format(json.loads(out.read_text()))
        assert [ev["name"] for ev in evs if ev["ph"] == "X"] == want, window


# ---- the plot ------------------------------------------------------------------------

def test_plot_without_matplotlib_says_how_to_get_it(synth: Path, tmp_path: Path) -> None:
    block = tmp_path / "block"
    block.mkdir()
    (block / "matplotlib.py").write_text("raise ImportError('blocked for a test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(block), str(ROOT)]))
    out = tmp_path / "p.png"
    r = hvdbg("log", str(synth), "--plot", str(out), env=env)
    assert_one_line_error(r, "pip install 'hvdbg[bench]'")
    assert not out.exists()


def test_plot_is_a_png(pair_log: tuple[Path, int], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    logdir, _ = pair_log
    out = tmp_path / "p.png"
    r = hvdbg("log", str(logdir), "--plot", str(out))
    assert r.returncode == 0, r.stderr
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, tag, width, height = struct.unpack(">I4sII", png[8:24])
    assert tag == b"IHDR" and (width, height) == (1000, 650)
    assert zlib.crc32(png[12:16 + length]) == struct.unpack(">I", png[16 + length:20 + length])[0]
    assert png.endswith(b"IEND\xaeB`\x82")
    assert 10_000 < len(png) < 2_000_000
