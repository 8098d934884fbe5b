"""Python face of the C core (``csrc/``, bound with cffi in API mode).

cffi releases the GIL for the duration of every ``lib`` call, so other threads (gdb,
transport, stdin) keep running while :meth:`Core.run` executes guest code.  Nothing here
registers a callback into C: per-instruction work never reaches Python.
"""
from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Self

from hvdbg.cpu import registers
from hvdbg.cpu._core import ffi, lib

MAX_RAM = 0xC0000000     # 3 GiB, as QEMU's B160L


class ExitReason(enum.IntEnum):
    BUDGET = lib.HV_EXIT_BUDGET
    IO_READ = lib.HV_EXIT_IO_READ
    IO_WRITE = lib.HV_EXIT_IO_WRITE
    ENV_READ = lib.HV_EXIT_ENV_READ
    ENV_WRITE = lib.HV_EXIT_ENV_WRITE
    BREAKPOINT = lib.HV_EXIT_BREAKPOINT
    WATCHPOINT = lib.HV_EXIT_WATCHPOINT
    STOP = lib.HV_EXIT_STOP
    FAULT = lib.HV_EXIT_FAULT
    HALT = lib.HV_EXIT_HALT
    EPOCH = lib.HV_EXIT_EPOCH


_REASONS = {int(r): r for r in ExitReason}


class ClockMode(enum.IntEnum):
    HOST = lib.HV_CLOCK_HOST        # cr16 reads / compare writes exit to the hypervisor
    VIRTUAL = lib.HV_CLOCK_VIRTUAL  # cr16 = icount * ticks_per_insn, computed by the core


ENV_CR16 = lib.HV_ENV_CR16
WATCH_READ = lib.HV_WATCH_READ
WATCH_WRITE = lib.HV_WATCH_WRITE
EPOCH_DIGEST = lib.HV_EPOCH_DIGEST
EPOCH_EXIT_EACH = lib.HV_EPOCH_EXIT_EACH
EPOCH_BUF = 1024             # the core's record buffer (csrc/internal.h EPOCH_BUF)


class CoreError(Exception):
    """The core refused an operation."""


class MemoryAccessError(CoreError):
    """A physical range is not (entirely) RAM or the firmware region."""


class TranslationError(CoreError):
    def __init__(self, space: int, offset: int, interruption: int) -> None:
        super().__init__(f"no translation for {space:#x}:{offset:#010x} "
                         f"(interruption {interruption})")
        self.interruption = interruption


@dataclass(frozen=True)
class Exit:
    """A copy of ``hv_exit_t``: why :meth:`Core.run` returned."""

    reason: ExitReason
    addr: int       # I/O: physical address; ENV: HV_ENV_*; BREAKPOINT/FAULT: pc; WATCHPOINT: data
    size: int       # I/O: access size; WATCHPOINT: kind that hit
    value: int      # IO_WRITE / ENV_WRITE: value stored (low 32 bits)
    value_hi: int
    pc_space: int
    pc: int         # IAOQ front (low 2 bits: privilege level)
    insn: int       # instruction word at pc, 0 when it could not be fetched
    icount: int
    msg: str = ""

    @property
    def value64(self) -> int:
        return self.value_hi << 32 | self.value


def _check_u32(name: str, v: int) -> int:
    if not 0 <= v <= 0xFFFFFFFF:
        raise ValueError(f"{name} {v:#x} is not a 32-bit value")
    return v


class RegisterView:
    """``core.regs["sp"]``, ``core.regs[30] = 5``: registers by any name or gdb number."""

    __slots__ = ("_core",)

    def __init__(self, core: Core) -> None:
        self._core = core          # not just the state: keeps the VM alive

    def __getitem__(self, key: str | int) -> int:
        return registers.read_reg(self._core.state, key)

    def __setitem__(self, key: str | int, value: int) -> None:
        registers.write_reg(self._core.state, key, value)
        self._core.state_changed()

    def __iter__(self) -> Iterator[str]:
        return (r.name for r in registers.REGISTERS)

    def gdb(self) -> list[int]:
        """The 128 gdb registers in order."""
        return registers.all_regs(self._core.state)


class Core:
    """One PA-RISC CPU with its RAM and firmware region.

    Memory is freed when the object is garbage-collected, or at once by :meth:`close`.
    """

    def __init__(self, ram_bytes: int) -> None:
        if not 0 < ram_bytes <= MAX_RAM:
            raise ValueError(f"RAM size {ram_bytes:#x} must be in 1 byte .. 3 GiB")
        vm = lib.hv_vm_new(ram_bytes)
        if vm == ffi.NULL:
            raise MemoryError(f"cannot allocate a VM with {ram_bytes:#x} bytes of RAM")
        self._vm = ffi.gc(vm, lib.hv_vm_free)
        self._exit = ffi.new("hv_exit_t *")
        # the live hv_cpu_state_t: valid while this Core is (keep the Core, not just this)
        self.state = lib.hv_state(self._vm)
        self.regs = RegisterView(self)
        self.ram_size: int = lib.hv_ram_size(self._vm)
        self._pages = ffi.new("uint32_t[]", lib.hv_page_count(self._vm))
        self._epochs = ffi.new("hv_epoch_rec_t[]", EPOCH_BUF)

    def close(self) -> None:
        """Free the VM now (the object is unusable afterwards)."""
        if self._vm is not None:
            ffi.release(self._vm)
            self._vm = None
            self.state = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- lifetime / state ----
    def reset(self) -> None:
        """CPU and TLB to power-on state (all zero); memory untouched."""
        lib.hv_reset(self._vm)

    @property
    def icount(self) -> int:
        return int(self.state.icount)

    @property
    def pc(self) -> int:
        return int(self.state.iaoq_f)

    def set_pc(self, pc: int, space: int = 0) -> None:
        """Point the instruction address queue at ``space:pc`` (back = pc + 4)."""
        s = self.state
        s.iaoq_f = pc & 0xFFFFFFFF
        s.iaoq_b = (pc + 4) & 0xFFFFFFFF
        s.iasq_f = s.iasq_b = space & 0xFFFFFFFF
        self.state_changed()

    def state_changed(self) -> None:
        """Tell the core that ``state`` was written directly (drops host-side caches)."""
        lib.hv_state_changed(self._vm)

    # ---- execution ----
    def run(self, budget: int, skip_bp: bool = False) -> Exit:
        """Execute until ``budget`` more instructions retired or an exit; GIL released."""
        if budget < 0:
            raise ValueError("budget must be >= 0")
        e = self.run_raw(budget, skip_bp)
        return self.exit_info(e)

    def run_raw(self, budget: int, skip_bp: bool = False) -> Any:
        """:meth:`run` without the copy: returns the core's own ``hv_exit_t`` cdata, valid
        until the next run (for the hypervisor's hot loop: no per-exit allocation)."""
        e = self._exit
        lib.hv_run(self._vm, budget, lib.HV_RUN_SKIP_BP if skip_bp else 0, e)
        return e

    @staticmethod
    def exit_info(e: Any) -> Exit:
        """An immutable copy of an ``hv_exit_t``."""
        msg = ffi.string(e.msg).decode("utf-8", "replace") if e.msg[0] else ""
        reason = _REASONS.get(e.reason)
        if reason is None:                       # never expected; do not crash on it
            reason, msg = ExitReason.FAULT, f"unknown exit reason {e.reason}"
        return Exit(reason, e.addr, e.size, e.value, e.value_hi, e.pc_space,
                    e.pc, e.insn, e.icount, msg)

    def io_complete(self, value: int = 0) -> None:
        """Answer the pending IO/ENV exit (the value of a read; 0 for a write)."""
        lib.hv_io_complete(self._vm, value & 0xFFFFFFFF)

    def request_stop(self) -> None:
        """Thread-safe: make a running :meth:`run` return ``STOP`` soon."""
        vm = self._vm
        if vm is not None:
            lib.hv_request_stop(vm)

    def set_eirr(self, bits: int) -> None:
        """OR ``bits`` into EIRR (bit 0 = MSB, the architecture's numbering)."""
        lib.hv_set_eirr(self._vm, bits & 0xFFFFFFFF)

    def set_clock(self, mode: ClockMode | str, ticks_per_insn: int = 1) -> None:
        if isinstance(mode, str):
            mode = ClockMode[mode.upper()]
        lib.hv_set_clock(self._vm, int(mode), _check_u32("ticks_per_insn", ticks_per_insn))

    # ---- epochs and digests (architecture sections 2 and 5) ----
    def epoch_config(self, length: int, flags: int = EPOCH_DIGEST) -> None:
        """Epochs of ``length`` instructions (0 = none), numbered from icount 0: epoch e
        ends when e+1 times ``length`` instructions have retired."""
        lib.hv_epoch_config(self._vm, _check_u32("epoch length", length), flags)

    def epoch_exit_next(self) -> None:
        """Make the core exit (``EPOCH``) at the next epoch end."""
        lib.hv_epoch_exit_next(self._vm)

    def epoch_take(self) -> list[tuple[int, int]]:
        """``(epoch, digest)`` of the epochs that ended since the last call, oldest first."""
        n = lib.hv_epoch_take(self._vm, self._epochs, EPOCH_BUF)
        return [(int(r.epoch), int(r.digest)) for r in self._epochs[0:n]]

    def digest(self) -> int:
        """64-bit digest of registers, TLB, core internals and all memory."""
        return int(lib.hv_digest(self._vm))

    # ---- memory ----
    def read_phys(self, pa: int, length: int) -> bytes:
        _check_u32("physical address", pa)
        if length < 0:
            raise ValueError("length must be >= 0")
        if length == 0:
            return b""
        buf = ffi.new("uint8_t[]", length)
        if length > 0x100000000 - pa or lib.hv_phys_read(self._vm, pa, buf, length) != 0:
            raise MemoryAccessError(
                f"physical range {pa:#010x}+{length:#x} is not all RAM or firmware")
        return bytes(ffi.buffer(buf))

    def write_phys(self, pa: int, data: bytes | bytearray | memoryview) -> None:
        """Write guest memory (all or nothing) and mark the pages dirty."""
        _check_u32("physical address", pa)
        n = len(data)
        if n == 0:
            return
        if n > 0x100000000 - pa or lib.hv_phys_write(
                self._vm, pa, ffi.from_buffer("uint8_t[]", data), n) != 0:
            raise MemoryAccessError(
                f"physical range {pa:#010x}+{n:#x} is not all RAM or firmware")

    def read_u32(self, pa: int) -> int:
        return int.from_bytes(self.read_phys(pa, 4), "big")

    def write_u32(self, pa: int, value: int) -> None:
        self.write_phys(pa, (value & 0xFFFFFFFF).to_bytes(4, "big"))

    def translate(self, space: int, offset: int, is_code: bool = False) -> int:
        """Physical address of ``space:offset`` as the CPU would see it now."""
        out = ffi.new("uint32_t *")
        r = lib.hv_translate(self._vm, _check_u32("space", space),
                             _check_u32("offset", offset), int(is_code), out)
        if r != 0:
            raise TranslationError(space, offset, r)
        return int(out[0])

    # ---- debugger sets (host-side; never written into guest memory) ----
    def add_breakpoint(self, offset: int) -> None:
        if lib.hv_bp_add(self._vm, _check_u32("offset", offset)) != 0:
            raise CoreError("breakpoint table full")

    def remove_breakpoint(self, offset: int) -> None:
        if lib.hv_bp_remove(self._vm, _check_u32("offset", offset)) != 0:
            raise KeyError(f"no breakpoint at {offset:#010x}")

    def clear_breakpoints(self) -> None:
        lib.hv_bp_clear(self._vm)

    def add_watchpoint(self, offset: int, length: int, kinds: int = WATCH_WRITE) -> None:
        if lib.hv_wp_add(self._vm, _check_u32("offset", offset),
                         _check_u32("length", length), kinds) != 0:
            raise CoreError("watchpoint rejected (table full, empty range or no kind)")

    def remove_watchpoint(self, offset: int, length: int, kinds: int = WATCH_WRITE) -> None:
        if lib.hv_wp_remove(self._vm, _check_u32("offset", offset),
                            _check_u32("length", length), kinds) != 0:
            raise KeyError(f"no watchpoint at {offset:#010x}+{length:#x}")

    def clear_watchpoints(self) -> None:
        lib.hv_wp_clear(self._vm)

    # ---- dirty pages and snapshots ----
    @property
    def page_count(self) -> int:
        """Pages tracked for dirtiness: RAM pages, then the firmware region's 2048."""
        return len(self._pages)

    def dirty_take(self) -> list[int]:
        """Indices of pages written since the last call (and clear them)."""
        n = lib.hv_dirty_take(self._vm, self._pages, len(self._pages))
        return list(self._pages[0:n])

    def snapshot(self) -> bytes:
        """Core state (registers, TLB, clock); memory is not included."""
        buf = ffi.new("uint8_t[]", lib.hv_core_snapshot_size())
        lib.hv_core_save(self._vm, buf)
        return bytes(ffi.buffer(buf))

    def restore(self, snap: bytes) -> None:
        if len(snap) != lib.hv_core_snapshot_size():
            raise ValueError(f"core snapshot has {len(snap)} bytes, expected "
                             f"{lib.hv_core_snapshot_size()}")
        if lib.hv_core_restore(self._vm, ffi.from_buffer("uint8_t[]", snap)) != 0:
            raise ValueError("not a core snapshot of this hvdbg version")
