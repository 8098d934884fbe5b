"""gdb on the Linux kernel (issue 8 §3): a breakpoint on a kernel function init's
programs call is hit, ``bt`` shows at least two frames, ``finish`` returns to the
caller, and the guest then runs to power-off with the console of a run without gdb
(``--clock virtual``: the boot is the same instruction stream either way)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gdbmi import Gdb, need_gdb
from test_gdb import Hvdbg

from hvdbg.machine import images

APPEND = "console=ttyS0 panic=-1"


def test_kernel_breakpoint_bt_finish(guest_images: images.GuestImages,
                                     tmp_path: Path) -> None:
    need_gdb()
    img = guest_images
    flags = ["--kernel", str(img.vmlinux), "--initrd", str(img.initrd), "--append", APPEND,
             "--clock", "virtual"]
    hv = Hvdbg(tmp_path, "run", *flags, "--wait")
    g = Gdb(img.vmlinux)
    try:
        g.cmd(f"target extended-remote 127.0.0.1:{hv.port}")
        g.cmd("break vfs_write")
        stop = g.run("continue")
        assert stop.get("reason") == "breakpoint-hit", stop
        assert stop["frame"]["func"] == "vfs_write"
        bt = g.cmd("bt")
        frames = re.findall(r"^#(\d+)\s+(0x[0-9a-f]+) in (\w+)", bt, re.MULTILINE)
        assert len(frames) >= 2 and frames[1][2] == "ksys_write", bt
        done = g.run("finish")                 # back in the caller, where bt said
        assert done["frame"]["func"] == "ksys_write", done
        assert int(done["frame"]["addr"], 16) == int(frames[1][1], 16)
        g.cmd("delete")
        end = g.run("continue", timeout=600)
        assert end.get("reason") == "exited-normally", end
        code, err = hv.finish(g)
    finally:
        g.close()
        hv.kill()
    assert code == 0, err
    solo = subprocess.run([sys.executable, "-m", "hvdbg", "run", *flags], check=False,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=900)
    assert solo.returncode == 0
    assert hv.out.read_bytes() == solo.stdout
