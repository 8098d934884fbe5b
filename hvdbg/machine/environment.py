"""The Environment: every device of the B160L minimum and the host inputs behind them
(architecture section 6).  One Environment may later be shared by a primary and a backup;
only the hypervisor that is currently primary touches it.

The Environment never touches a CPU directly: interrupts it raises accumulate in
:attr:`Environment.pending_eirr` and the owning hypervisor delivers them
(:meth:`take_eirr`) — at once for a plain emulator, at an epoch boundary for a primary.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from hvdbg.machine import memmap as mm
from hvdbg.machine.cmos import CmosRtc
from hvdbg.machine.dino import IRQ_RS232, Dino
from hvdbg.machine.fwcfg import FwCfg, b160l_items
from hvdbg.machine.lasi import CpuHpa, Lasi, LasiRtc
from hvdbg.machine.parallel import ParallelPort
from hvdbg.machine.uart import Uart16550

log = logging.getLogger("hvdbg.machine")

EIRR_TIMER = 0x80000000           # interval timer: EIRR bit 0
UART_TICK_NS = 2_000_000          # host interval behind the UART character timeout
LOGGED_ADDRESSES = 256            # unmodelled I/O addresses reported (once each) at most
INPUT_LIMIT = 1 << 20             # host console bytes waiting for the guest, at most


class Device(Protocol):
    def decodes(self, offset: int, size: int) -> bool: ...
    def read(self, offset: int, size: int) -> int: ...
    def write(self, offset: int, size: int, value: int) -> None: ...
    def reset(self) -> None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def restore(self, d: dict[str, Any]) -> None: ...


class MemoryPort(Protocol):
    ram_size: int

    def read_phys(self, pa: int, length: int) -> bytes: ...
    def write_phys(self, pa: int, data: bytes) -> None: ...


class HostIntervalTimer:
    """CR16 from host time (``HV_CLOCK_HOST``): 250 MHz, i.e. monotonic ns / 4.  A
    compare value written with ``mtctl cr16`` fires once when the counter reaches it;
    a value at most 1 µs ahead means the next 2^32 round, as QEMU does."""

    def __init__(self, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        self.clock_ns = clock_ns
        self.base = clock_ns()
        self.deadline: int | None = None          # host ns, relative to base

    def now(self) -> int:
        return self.clock_ns() - self.base

    def read(self) -> int:
        return (self.now() >> 2) & 0xFFFFFFFF

    def write_compare(self, value: int) -> None:
        now = self.now()
        deadline = (now & ~((1 << 34) - 1)) | ((value & 0xFFFFFFFF) << 2)
        if deadline < now + 1000:
            deadline += 1 << 34
        self.deadline = deadline

    def remaining_ns(self) -> int:
        """Host ns until the armed compare value is reached (0 if due, large if idle)."""
        if self.deadline is None:
            return 1 << 62
        return max(0, self.deadline - self.now())

    def expired(self) -> bool:
        """True once when the compare value has been passed."""
        if self.deadline is not None and self.now() >= self.deadline:
            self.deadline = None
            return True
        return False


class Environment:
    """Devices by physical address, console sink, host input, interrupt buffer.

    Wall-clock time (the LASI RTC behind PDC_TOD, the CMOS RTC) comes from
    :meth:`wall_seconds`: host time (``rtc_clock``, default :func:`time.time`) until the
    machine calls :meth:`use_virtual_clock`, after which it is a pure function of the
    instruction count the machine's callable returns."""

    def __init__(self, console: Callable[[bytes], None] | None = None,
                 rtc_clock: Callable[[], float] | None = None) -> None:
        self.console = console or (lambda data: None)
        self.host_clock: Callable[[], float] = rtc_clock or time.time
        self._icount: Callable[[], int] | None = None
        self._ticks_per_insn = 1
        self._tx = bytearray()
        self._input: collections.deque[bytes] = collections.deque()
        self._input_lock = threading.Lock()
        self._held_input = b""                 # host bytes the UART could not take yet
        self._queued = 0                       # bytes in _input
        self._input_dropped = False
        self._last_tick = time.monotonic_ns()
        self.pending_eirr = 0
        self.power_off_requested = False
        self.memory: MemoryPort | None = None  # where stores to RAM addresses go
        self.read_cpu_eirr: Callable[[], int] = lambda: self.pending_eirr
        self.timer = HostIntervalTimer()
        self._logged: set[tuple[str, int]] = set()   # membership only: order never used
        self._logged_full = False
        self._busy: set[str] = set()                 # devices inside an access now
        self._reentry_warned = False
        self._power_button = threading.Event()

        self.cpu_hpa = CpuHpa(raise_eirr=self._raise_eirr, read_eirr=lambda: self.read_cpu_eirr())
        self.lasi = Lasi(bus_write=self.bus_write, power_off=self._power_off)
        self.uart = Uart16550(tx=self._tx.append,
                              irq=lambda level: self.lasi.set_irq(mm.LASI_IRQ_UART, level))
        self.rtc = LasiRtc(self.wall_seconds)
        self.parallel = ParallelPort(
            irq=lambda level: self.lasi.set_irq(mm.LASI_IRQ_PARALLEL, level))
        self.dino = Dino(bus_write=self.bus_write)
        # QEMU's second serial port: with -nodefaults it has no back end
        self.dino_uart = Uart16550(irq=lambda level: self.dino.set_irq(IRQ_RS232, level))
        self.fw_cfg = FwCfg(*b160l_items(mm.DEFAULT_RAM_MIB * mm.MIB))
        self.cmos = CmosRtc(self.wall_seconds)
        # first match wins: the UART and RTC sit inside LASI's 1 MiB window
        self.regions: list[tuple[int, int, str, Device]] = [
            (mm.LASI_UART, mm.LASI_UART_SIZE, "uart", self.uart),
            (mm.LASI_RTC, 4, "rtc", self.rtc),
            (mm.LASI_PARALLEL, 8, "parallel", self.parallel),
            (mm.LASI_HPA, mm.LASI_SIZE, "lasi", self.lasi),
            (mm.CPU_HPA, 4, "cpu_hpa", self.cpu_hpa),
            (mm.DINO_UART, 8, "dino_uart", self.dino_uart),
            (mm.DINO_HPA, mm.DINO_SIZE, "dino", self.dino),
            (mm.FW_CFG_IO_BASE, 8, "fw_cfg", self.fw_cfg),
            (mm.CMOS_RTC, 2, "cmos", self.cmos),
        ]

    # ---- configuration ----
    def configure(self, ram_size: int, cpus: int = 1,
                  boot_device: int = mm.BOOT_ORDER_DISK) -> None:
        """What fw_cfg tells the firmware about the machine (set before reset)."""
        self.fw_cfg.configure(*b160l_items(ram_size, cpus, boot_device))

    def use_virtual_clock(self, icount: Callable[[], int], ticks_per_insn: int = 1) -> None:
        """Wall time from the instruction count: deterministic, for ``--clock virtual``."""
        self._icount = icount
        self._ticks_per_insn = ticks_per_insn

    def use_host_clock(self) -> None:
        self._icount = None

    def wall_seconds(self) -> float:
        """Seconds since 1970 as the guest's real-time clocks see them."""
        if self._icount is None:
            return self.host_clock()
        ticks = self._icount() * self._ticks_per_insn
        return mm.VIRTUAL_EPOCH + ticks // mm.CPU_CLOCK_HZ

    # ---- lifetime / state ----
    def reset(self) -> None:
        for _, _, _, dev in self.regions:
            dev.reset()
        self.pending_eirr = 0
        self.power_off_requested = False
        self.timer.deadline = None

    def snapshot(self) -> dict[str, Any]:
        d: dict[str, Any] = {name: dev.snapshot() for _, _, name, dev in self.regions}
        d["pending_eirr"] = self.pending_eirr
        d["power_off_requested"] = self.power_off_requested
        return d

    def restore(self, d: dict[str, Any]) -> None:
        for _, _, name, dev in self.regions:
            dev.restore(d[name])
        self.pending_eirr = d["pending_eirr"]
        self.power_off_requested = d["power_off_requested"]

    def uncertain_completion(self) -> None:
        """P8: every device with an operation that may be outstanding raises its
        completion interrupt again (UART: transmit-empty), so the guest's driver repeats
        or continues it."""
        for _, _, _, dev in self.regions:
            uncertain = getattr(dev, "uncertain_completion", None)
            if uncertain is not None:
                uncertain()

    # ---- interrupts / power ----
    def _raise_eirr(self, bits: int) -> None:
        self.pending_eirr |= bits

    def take_eirr(self) -> int:
        """EIRR bits raised since the last call (for the hypervisor to deliver)."""
        bits, self.pending_eirr = self.pending_eirr, 0
        return bits

    def _power_off(self) -> None:
        self.power_off_requested = True

    def press_power_button(self) -> None:
        """Thread-safe: the soft power button (QEMU's ``system_powerdown``), applied by
        :meth:`service`: while the firmware word at ``POWER_BUTTON`` says the button is
        under hardware control (bits 8 and up zero) the machine powers off at once;
        otherwise bit 0 is cleared, which the guest (Linux's power driver) polls."""
        self._power_button.set()

    def _apply_power_button(self) -> None:
        self._power_button.clear()
        mem = self.memory
        if mem is None:
            self.power_off_requested = True
            return
        word = int.from_bytes(mem.read_phys(mm.POWER_BUTTON, 4), "big")
        if word >> 8 == 0:
            self.power_off_requested = True
        else:
            mem.write_phys(mm.POWER_BUTTON, (word & ~1).to_bytes(4, "big"))

    # ---- physical I/O space ----
    def _find(self, pa: int) -> tuple[str, Device, int] | None:
        for base, size, name, dev in self.regions:
            if base <= pa < base + size:
                return name, dev, pa - base
        return None

    def _unassigned(self, kind: str, pa: int, size: int) -> None:
        # as QEMU's unassigned memory: reads 0, writes ignored; tell the log once per
        # address, for the first LOGGED_ADDRESSES addresses only (a guest sweeping I/O
        # space must not grow host memory without bound)
        key = (kind, pa)
        if key in self._logged:
            return
        if len(self._logged) < LOGGED_ADDRESSES:
            self._logged.add(key)
            log.warning("unmodelled I/O %s at %#010x (size %d): %s", kind, pa, size,
                        "reads as 0" if kind == "read" else "ignored")
        elif not self._logged_full:
            self._logged_full = True
            log.warning("unmodelled I/O at more than %d addresses; no more are reported",
                        LOGGED_ADDRESSES)

    def _reentered(self, name: str, kind: str, pa: int) -> None:
        # QEMU's memory re-entrancy guard: a device whose handler is running does not
        # accept a second access (a device-initiated store into itself, possibly through
        # other devices); reads give 0, writes are dropped, the warning comes once
        if not self._reentry_warned:
            self._reentry_warned = True
            log.warning("blocked re-entrant I/O %s at %#010x: device %s is still handling "
                        "an access (as QEMU's \"Blocked re-entrant IO\")", kind, pa, name)

    def io_read(self, pa: int, size: int) -> int:
        hit = self._find(pa)
        if hit is not None:
            name, dev, off = hit
            if dev.decodes(off, size):
                busy = self._busy
                if name in busy:
                    self._reentered(name, "read", pa)
                    return 0
                busy.add(name)
                try:
                    return dev.read(off, size)
                finally:
                    busy.discard(name)
        self._unassigned("read", pa, size)
        return 0

    def io_write(self, pa: int, size: int, value: int) -> None:
        hit = self._find(pa)
        if hit is not None:
            name, dev, off = hit
            if dev.decodes(off, size):
                busy = self._busy
                if name in busy:
                    self._reentered(name, "write", pa)
                    return
                busy.add(name)
                try:
                    dev.write(off, size, value)
                finally:
                    busy.discard(name)
                return
        self._unassigned("write", pa, size)

    def bus_write(self, pa: int, size: int, value: int) -> None:
        """A device-initiated store (LASI's interrupt message): I/O space or memory."""
        mem = self.memory
        if mem is not None and (pa + size <= mem.ram_size or mm.in_firmware(pa, size)):
            mem.write_phys(pa, value.to_bytes(size, "big"))
        else:
            self.io_write(pa, size, value)

    # ---- host side: console and input ----
    def flush_console(self) -> None:
        if self._tx:
            data = bytes(self._tx)
            self._tx.clear()
            self.console(data)

    @property
    def console_pending(self) -> int:
        return len(self._tx)

    def push_input(self, data: bytes) -> None:
        """Thread-safe: host bytes for the console UART (delivered by :meth:`service`).
        At most INPUT_LIMIT bytes wait for a guest that does not read its console; more
        are dropped (with one warning) instead of growing host memory without bound."""
        with self._input_lock:
            room = INPUT_LIMIT - self._queued - len(self._held_input)
            if len(data) > room:
                data = data[:max(room, 0)]
                if not self._input_dropped:
                    self._input_dropped = True
                    log.warning("console input: the guest is not reading; more than %d "
                                "bytes waiting, the rest is dropped", INPUT_LIMIT)
            if data:
                self._input.append(bytes(data))
                self._queued += len(data)

    def service(self) -> None:
        """Host-time housekeeping between guest slices: UART character timeout and
        moving host input into the UART as fast as it accepts it."""
        if self._power_button.is_set():
            self._apply_power_button()
        now = time.monotonic_ns()
        if now - self._last_tick >= UART_TICK_NS:
            self._last_tick = now
            self.uart.tick()
        if self._input:
            with self._input_lock:
                self._held_input += b"".join(self._input)
                self._input.clear()
                self._queued = 0
        if self._held_input:
            n = self.uart.can_receive()
            if n:
                chunk, self._held_input = self._held_input[:n], self._held_input[n:]
                self.uart.receive(chunk)
