"""The MC146818 CMOS real-time clock QEMU 7.2's B160L puts on its ISA I/O window
(ports 0x70/0x71 at ``ISA_IO_BASE``; facts from hw/rtc/mc146818rtc.c, created with base
year 2000).  SeaBIOS-hppa reads its CMOS bytes while booting; Linux uses PDC_TOD (the
LASI RTC) instead.  The time registers come from the Environment's wall clock (host time
or the instruction count, see environment.py) in BCD, 24-hour mode; writes to them are
ignored, as are the periodic/alarm/update interrupts, which nothing on the B160L wires up.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

INDEX_PORT, DATA_PORT = 0, 1          # offsets from ISA_IO_BASE + 0x70
SECONDS, MINUTES, HOURS, WEEKDAY, MDAY, MONTH, YEAR = 0, 2, 4, 6, 7, 8, 9
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
CENTURY = 0x32
IBM_PS2_CENTURY = 0x37
BASE_YEAR = 2000
_TIME_REGS = (SECONDS, MINUTES, HOURS, WEEKDAY, MDAY, MONTH, YEAR, CENTURY)


def _bcd(v: int) -> int:
    return ((v // 10) << 4) | (v % 10)


class CmosRtc:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.time
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.ram = [0] * 128
        self.ram[REG_A], self.ram[REG_B], self.ram[REG_C], self.ram[REG_D] = 0x26, 0x02, 0, 0x80

    def snapshot(self) -> dict[str, Any]:
        return {"index": self.index, "ram": list(self.ram)}

    def restore(self, d: dict[str, Any]) -> None:
        self.index = d["index"]
        self.ram = list(d["ram"])

    def _time_reg(self, reg: int) -> int:
        tm = time.gmtime(int(self.clock()))
        year = tm.tm_year - BASE_YEAR
        return {SECONDS: _bcd(tm.tm_sec), MINUTES: _bcd(tm.tm_min), HOURS: _bcd(tm.tm_hour),
                WEEKDAY: _bcd((tm.tm_wday + 1) % 7 + 1), MDAY: _bcd(tm.tm_mday),
                MONTH: _bcd(tm.tm_mon), YEAR: _bcd(year % 100),
                CENTURY: _bcd(year // 100)}[reg]

    # ---- bus interface ----
    def decodes(self, offset: int, size: int) -> bool:
        return offset in (INDEX_PORT, DATA_PORT) and size == 1

    def read(self, offset: int, size: int) -> int:
        if offset == INDEX_PORT:
            return 0xFF
        reg = self.index
        if reg == IBM_PS2_CENTURY:
            reg = self.index = CENTURY
        if reg in _TIME_REGS:
            return self._time_reg(reg)
        val = self.ram[reg]
        if reg == REG_C:
            self.ram[REG_C] = 0
        return val

    def write(self, offset: int, size: int, value: int) -> None:
        value &= 0xFF
        if offset == INDEX_PORT:
            self.index = value & 0x7F
            return
        reg = self.index
        if reg in _TIME_REGS or reg in (REG_C, REG_D):
            return                     # time and status C/D: not settable here
        if reg == REG_A:
            value = value & 0x7F       # UIP is read-only
        self.ram[reg] = value
