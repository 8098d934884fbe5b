"""The one set of command-line value checks: typed argparse converters shared by
``run``, ``pair`` and the guest flags (:func:`hvdbg.machine.spec.add_guest_arguments`).

Each converter takes the flag's text and returns the value or raises
``argparse.ArgumentTypeError``, so argparse prints ``hvdbg run: error: argument
--timeout: ...`` and exits with status 2.  Numbers must be finite (no ``nan``, ``inf``)
and within a bound a run can use: a huge value would otherwise overflow a host timer or
a deadline deep inside a run instead of being refused here.
"""
from __future__ import annotations

import argparse
import math

MAX_INSNS = (1 << 63) - 1            # fits the core's 64-bit instruction counters
MAX_SECONDS = 30 * 24 * 3600.0       # --timeout: 30 days
MAX_DETECT_MS = 3_600_000.0          # --detect-ms: one hour
MAX_LATENCY_US = 10_000_000.0        # --link-latency-us: ten seconds one way
MIN_MBPS = 0.001                     # --link-mbps: 1 kbit/s .. 1 Tbit/s, or 0 = unlimited
MAX_MBPS = 1_000_000.0               # (a frame's delay stays far from sleep()'s limit)


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
    return v


def int_range(lo: int, hi: int) -> type:
    """An integer lo .. hi (decimal, 0x.., 0o.., 0b..)."""
    def convert(text: str) -> int:
        v = _int(text)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be {lo} .. {hi}: {text}")
        return v
    convert.__name__ = "integer"
    return convert  # type: ignore[return-value]


def float_range(lo: float, hi: float, *, lo_open: bool = False) -> type:
    """A finite number in [lo, hi] (or (lo, hi] with ``lo_open``)."""
    def convert(text: str) -> float:
        v = _float(text)
        if (v <= lo if lo_open else v < lo) or v > hi:
            lower = f"> {lo:.15g}" if lo_open else f">= {lo:.15g}"
            raise argparse.ArgumentTypeError(f"must be {lower} and <= {hi:.15g}: {text}")
        return v
    convert.__name__ = "number"
    return convert  # type: ignore[return-value]


def nonempty(text: str) -> str:
    """A file or directory name: the empty string is not one (``Path('')`` is ``.``)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def fail_at(text: str) -> tuple[int, int]:
    """``EPOCH[:INSN]``, both >= 0."""
    epoch, _, insn = text.partition(":")
    try:
        e, i = int(epoch, 0), int(insn, 0) if insn else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected EPOCH[:INSN], got {text!r}") from None
    if not (0 <= e <= MAX_INSNS and 0 <= i <= MAX_INSNS):
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return e, i


max_insns = int_range(0, MAX_INSNS)
positive_int = int_range(1, MAX_INSNS)
timeout = float_range(0.0, MAX_SECONDS, lo_open=True)
detect_ms = float_range(0.0, MAX_DETECT_MS, lo_open=True)
latency_us = float_range(0.0, MAX_LATENCY_US)


def mbps(text: str) -> float:
    """Link bandwidth in Mbit/s: 0 (unlimited) or MIN_MBPS .. MAX_MBPS."""
    v = _float(text)
    if v != 0 and not MIN_MBPS <= v <= MAX_MBPS:
        raise argparse.ArgumentTypeError(
            f"must be 0 (unlimited) or {MIN_MBPS:.15g} .. {MAX_MBPS:.15g}: {text}")
    return v


def add_run_limits(p: argparse.ArgumentParser) -> None:
    """``--max-insns`` and ``--timeout``, as ``run`` and ``pair`` both take them."""
    p.add_argument("--max-insns", type=max_insns, metavar="N",
                   help="stop after N retired instructions (exit status 3)")
    p.add_argument("--timeout", type=timeout, metavar="S",
                   help="stop after S seconds of host time (exit status 3)")


def add_record_arguments(p: argparse.ArgumentParser, help: str) -> None:
    """``--record DIR`` and ``--force``."""
    p.add_argument("--record", type=nonempty, metavar="DIR", help=help)
    p.add_argument("--force", action="store_true",
                   help="with --record: overwrite a recording already in DIR")
