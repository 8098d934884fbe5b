"""What a guest is made of (firmware, kernel, initrd, command line, RAM, clock): the one
place the guest flags of ``hvdbg run``, ``pair`` and ``replay`` are defined, defaulted
and turned into a booted :class:`~hvdbg.machine.machine.Machine`."""
from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass

from hvdbg.cli import args as checks
from hvdbg.machine import memmap
from hvdbg.machine.elf import GuestImageError, read_image
from hvdbg.machine.environment import Environment
from hvdbg.machine.machine import Machine

DEFAULT_FIRMWARE = "/usr/share/qemu/hppa-firmware.img"
LINUX_RAM_MIB = 1024


def add_guest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bios", type=checks.nonempty, metavar="PROG.elf",
                   help="firmware or bare-metal PA-RISC ELF, loaded into the firmware region "
                        f"(default {DEFAULT_FIRMWARE}, SeaBIOS-hppa)")
    p.add_argument("--kernel", type=checks.nonempty, metavar="VMLINUX",
                   help="Linux kernel ELF, started by the firmware (as qemu -kernel)")
    p.add_argument("--initrd", type=checks.nonempty, metavar="FILE", help="initial ram disk (needs --kernel)")
    p.add_argument("--append", metavar="CMDLINE", default="",
                   help="kernel command line, e.g. \"console=ttyS0 panic=-1\"")
    p.add_argument("-m", "--memory", type=checks.positive_int, metavar="MiB",
                   help=f"RAM size in MiB (default {memmap.DEFAULT_RAM_MIB}; "
                        f"{LINUX_RAM_MIB} with --kernel)")
    p.add_argument("--clock", choices=("virtual", "host"),
                   help="CR16 and the real-time clocks: host = host time, CR16 at 250 MHz "
                        "(default with --kernel); virtual = from the instruction count, "
                        "deterministic (default otherwise)")


class SpecError(ValueError):
    """Guest flags that do not make a guest."""


@dataclass(frozen=True)
class GuestSpec:
    bios: str
    kernel: str | None = None
    initrd: str | None = None
    append: str = ""
    ram_mib: int = memmap.DEFAULT_RAM_MIB
    clock: str = "virtual"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GuestSpec:
        if args.initrd and not args.kernel:
            raise SpecError("--initrd needs --kernel")
        ram = args.memory or (LINUX_RAM_MIB if args.kernel else memmap.DEFAULT_RAM_MIB)
        if ram * memmap.MIB > memmap.MAX_RAM:
            raise SpecError(f"-m {ram}: at most {memmap.MAX_RAM // memmap.MIB} MiB")
        clock = args.clock or ("host" if args.kernel else "virtual")
        bios = DEFAULT_FIRMWARE if args.bios is None else args.bios   # '' is no default
        return cls(bios, args.kernel, args.initrd, args.append, ram, clock)

    def files(self) -> list[tuple[str, str]]:
        out = [("bios", self.bios)]
        if self.kernel:
            out.append(("kernel", self.kernel))
        if self.initrd:
            out.append(("initrd", self.initrd))
        return out

    def image_digests(self) -> list[tuple[str, str, bytes]]:
        """(name, path, sha256) of every image: what a log pins."""
        out = []
        for name, path in self.files():
            try:
                out.append((name, path, hashlib.sha256(read_image(path, name)).digest()))
            except GuestImageError as e:
                raise SpecError(str(e)) from None
        return out

    def boot(self, env: Environment | None = None) -> Machine:
        """A machine powered on with this guest (raises GuestImageError, MemoryError)."""
        m = Machine(self.ram_mib, clock=self.clock, env=env)
        if self.kernel:
            m.load_linux(self.bios, self.kernel, self.initrd, self.append)
        else:
            m.load_bios(self.bios)
        return m
