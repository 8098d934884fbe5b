"""Linux guest images for hvdbg, built from Debian packages only.

``build()`` produces, in ``~/.cache/hvdbg/guest/<digest>/``:

- ``vmlinux``: Linux 6.1 from ``linux-source-6.1``, ``generic-32bit_defconfig`` unchanged,
  cross-built with ``gcc-hppa-linux-gnu`` (build user/host/timestamp fixed);
- ``initrd.gz``: a gzip'd cpio (newc) initramfs holding a static busybox (Debian's
  ``busybox`` source package, defconfig + ``CONFIG_STATIC=y``), its applet symlinks, the
  ``/init`` script and hvdbg's test program ``/bin/hvtest`` (both from
  ``hvdbg/machine/guest/``), written by this module with sorted names, mtime 0 and
  uid/gid 0, so the same inputs give the same bytes;
- ``manifest.json`` (inputs, sha256 of each output, build times), ``kernel.config``,
  ``busybox`` (and its applet list ``busybox.links``), ``hvtest`` and the build logs in
  ``logs/``.

``<digest>`` is a sha256 over the inputs: the Debian versions of ``linux-source-6.1``,
the ``busybox`` source package, ``gcc-hppa-linux-gnu``, ``binutils-hppa-linux-gnu`` and
``libc6-dev-hppa-cross``, the files in ``hvdbg/machine/guest/`` and ``RECIPE_VERSION``
(bump it when the recipe below changes).  The kernel and busybox are also cached on
their own, in ``kernel-<digest>/`` and ``busybox-<digest>/`` keyed by only their own
inputs, so a change to the test program or /init rebuilds just the initramfs.  Missing Debian packages are installed with apt (root only); a ``deb-src``
entry is added under ``/etc/apt/sources.list.d/`` when ``apt-get source`` needs one.
See docs/guests.md.
"""
from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

RECIPE_VERSION = 1

GUEST_SRC = Path(__file__).resolve().parent / "guest"
CROSS = "hppa-linux-gnu-"
KERNEL_SOURCE_PKG = "linux-source-6.1"
KERNEL_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
KERNEL_DEFCONFIG = "generic-32bit_defconfig"
BUSYBOX_SRC_PKG = "busybox"
# Debian packages the build needs (binary package names).
BUILD_PACKAGES = (
    KERNEL_SOURCE_PKG, "gcc-hppa-linux-gnu", "binutils-hppa-linux-gnu", "libc6-dev-hppa-cross",
    "gcc", "libc6-dev", "make", "bc", "bison", "flex", "libssl-dev", "libelf-dev", "xz-utils",
    "dpkg-dev",
)
# Reproducible-build settings for the kernel and busybox.
FIXED_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 1970",
    "KBUILD_BUILD_USER": "hvdbg",
    "KBUILD_BUILD_HOST": "hvdbg",
    "KBUILD_BUILD_VERSION": "1",
    "SOURCE_DATE_EPOCH": "0",
    "TZ": "UTC",
    "LC_ALL": "C",
}
HVTEST_CFLAGS = ["-O2", "-static", "-Wall", "-Wextra"]
DEB_SRC_FILE = Path("/etc/apt/sources.list.d/hvdbg-deb-src.sources")
DEB_SRC_ENTRY = """\
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


class GuestBuildError(RuntimeError):
    """A build step failed (the message names the step and its log)."""


class GuestBuildUnavailable(GuestBuildError):
    """The build's prerequisites are missing and cannot be installed here."""


def cache_root() -> Path:
    base = os.environ.get("HVDBG_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "hvdbg"
    return root / "guest"


def _usable_cache_root() -> Path:
    """cache_root(), created if needed; GuestBuildUnavailable (one line) if it cannot
    be, e.g. HVDBG_CACHE names a file."""
    root = cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        where = f"HVDBG_CACHE={os.environ['HVDBG_CACHE']}" if os.environ.get("HVDBG_CACHE") \
            else "~/.cache/hvdbg"
        raise GuestBuildUnavailable(
            f"cannot use the image cache {root} ({e.strerror or e}); {where} must be a "
            "writable directory") from None
    return root


@dataclass
class GuestImages:
    directory: Path

    @property
    def vmlinux(self) -> Path:
        return self.directory / "vmlinux"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.gz"

    @property
    def manifest(self) -> dict:
        return json.loads((self.directory / "manifest.json").read_text())


# --------------------------------------------------------------------------- progress


@dataclass
class Progress:
    """Stage display: a rich spinner with elapsed time on a terminal, plain lines
    otherwise (logs, pytest).  ``quiet`` prints nothing."""

    quiet: bool = False
    times: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        if self.quiet:
            yield
        elif sys.stderr.isatty():
            from rich.console import Console
            console = Console(stderr=True)
            with console.status(f"[bold]guest:[/bold] {name}", spinner="dots") as status:
                stop = False

                def tick() -> None:
                    while not stop:
                        status.update(f"[bold]guest:[/bold] {name} "
                                      f"({time.monotonic() - t0:.0f} s)")
                        time.sleep(1)

                import threading
                th = threading.Thread(target=tick, daemon=True)
                th.start()
                try:
                    yield
                finally:
                    stop = True
            console.print(f"[bold]guest:[/bold] {name}: done in {time.monotonic() - t0:.1f} s")
        else:
            print(f"guest: {name} ...", file=sys.stderr, flush=True)
            yield
            print(f"guest: {name}: done in {time.monotonic() - t0:.1f} s", file=sys.stderr,
                  flush=True)
        self.times[name] = round(time.monotonic() - t0, 1)


# --------------------------------------------------------------------------- Debian


def _dpkg_version(pkg: str) -> str | None:
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", pkg],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0 or not r.stdout.startswith("ii"):
        return None
    return r.stdout[3:].strip() or None


def _source_version(pkg: str) -> str | None:
    """Version of the source package ``apt-get source`` would fetch (the newest known)."""
    r = subprocess.run(["apt-cache", "showsrc", "--only-source", pkg], capture_output=True,
                       text=True, check=False)
    versions = [line.split(":", 1)[1].strip() for line in r.stdout.splitlines()
                if line.startswith("Version:")]
    if not versions:
        return None
    best = versions[0]
    for v in versions[1:]:
        if subprocess.run(["dpkg", "--compare-versions", v, "gt", best],
                          check=False).returncode == 0:
            best = v
    return best


def _apt(*args: str, log: Path | None = None) -> None:
    if os.geteuid() != 0:
        raise GuestBuildUnavailable(
            f"apt-get {' '.join(args)} needed (missing Debian packages or deb-src entry), "
            "but not running as root; run it by hand, or see docs/guests.md")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", *args],
                       capture_output=True, text=True, env=env, check=False)
    if log:
        with log.open("a") as f:
            f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        raise GuestBuildError(f"apt-get {' '.join(args)} failed:\n{r.stderr[-3000:]}")


def ensure_prerequisites(progress: Progress) -> None:
    """Install missing build packages; make sure ``apt-get source busybox`` can work."""
    missing = [p for p in BUILD_PACKAGES if _dpkg_version(p) is None]
    have_src = _source_version(BUSYBOX_SRC_PKG) is not None
    if not missing and have_src:
        return
    with progress.stage("installing build prerequisites with apt"):
        if not have_src and os.geteuid() == 0 and not DEB_SRC_FILE.exists():
            DEB_SRC_FILE.write_text(DEB_SRC_ENTRY)
        _apt("update")
        if missing:
            _apt("install", "-y", "--no-install-recommends", *missing)
    still = [p for p in BUILD_PACKAGES if _dpkg_version(p) is None]
    if still:
        raise GuestBuildUnavailable(f"Debian packages still missing: {' '.join(still)}")
    if _source_version(BUSYBOX_SRC_PKG) is None:
        raise GuestBuildUnavailable("apt knows no busybox source package (deb-src entry?)")


# --------------------------------------------------------------------------- inputs


def guest_sources() -> list[Path]:
    return sorted(p for p in GUEST_SRC.iterdir() if p.is_file() and not p.name.startswith("."))


def inputs() -> dict[str, object]:
    """Everything the images depend on (the cache key).  Versions are None when a
    package is not installed / not known to apt."""
    return {
        "recipe": RECIPE_VERSION,
        "linux-source-6.1": _dpkg_version(KERNEL_SOURCE_PKG),
        "busybox (source)": _source_version(BUSYBOX_SRC_PKG),
        "gcc-hppa-linux-gnu": _dpkg_version("gcc-hppa-linux-gnu"),
        "binutils-hppa-linux-gnu": _dpkg_version("binutils-hppa-linux-gnu"),
        "libc6-dev-hppa-cross": _dpkg_version("libc6-dev-hppa-cross"),
        "guest sources": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                          for p in guest_sources()},
    }


# Which inputs each separately cached part depends on: changing the test program does
# not rebuild the kernel.
PART_INPUTS = {
    "kernel": ("linux-source-6.1", "gcc-hppa-linux-gnu", "binutils-hppa-linux-gnu"),
    "busybox": ("busybox (source)", "gcc-hppa-linux-gnu", "binutils-hppa-linux-gnu",
                "libc6-dev-hppa-cross"),
}


def digest(inp: dict[str, object], part: str | None = None) -> str:
    """Digest of all inputs, or of the inputs of one part ("kernel", "busybox")."""
    if part is not None:
        inp = {"part": part, "recipe": inp["recipe"],
               **{k: inp[k] for k in PART_INPUTS[part]}}
    return hashlib.sha256(json.dumps(inp, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- steps


def _run(cmd: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None,
         what: str = "") -> None:
    full_env = dict(os.environ, **FIXED_ENV, **(env or {}))
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        r = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, check=False)
    if r.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise GuestBuildError(f"{what or cmd[0]} failed (exit {r.returncode}); log {log}:\n"
                              f"{tail}")


def build_kernel(work: Path, logs: Path, jobs: int) -> tuple[Path, Path]:
    """Unpack linux-source-6.1, configure generic-32bit_defconfig, build vmlinux.
    Returns (vmlinux, .config)."""
    log = logs / "kernel.log"
    _run(["tar", "-xf", str(KERNEL_TARBALL)], log, work, what="unpacking the kernel source")
    src = next(p for p in work.iterdir() if p.is_dir() and p.name.startswith("linux-source"))
    make = ["make", "ARCH=parisc", f"CROSS_COMPILE={CROSS}"]
    _run([*make, KERNEL_DEFCONFIG], log, src, what="kernel defconfig")
    _run([*make, f"-j{jobs}", "vmlinux"], log, src, what="kernel build")
    return src / "vmlinux", src / ".config"


def build_busybox(work: Path, logs: Path, jobs: int) -> tuple[Path, list[str]]:
    """apt-get source busybox; defconfig + static + cross prefix; build.
    Returns (busybox binary, applet paths such as '/bin/ls')."""
    log = logs / "busybox.log"
    bbdir = work / "busybox-src"
    bbdir.mkdir()
    _run(["apt-get", "source", "--only-source", BUSYBOX_SRC_PKG], log, bbdir,
         what="apt-get source busybox")
    src = next(p for p in bbdir.iterdir() if p.is_dir() and p.name.startswith("busybox-"))
    _run(["make", "defconfig"], log, src, what="busybox defconfig")
    cfg = src / ".config"
    text = cfg.read_text()
    text = text.replace("# CONFIG_STATIC is not set", "CONFIG_STATIC=y")
    text = text.replace('CONFIG_CROSS_COMPILER_PREFIX=""', f'CONFIG_CROSS_COMPILER_PREFIX="{CROSS}"')
    cfg.write_text(text)
    _run(["make", "oldconfig"], log, src, what="busybox oldconfig")
    final = cfg.read_text()
    if "CONFIG_STATIC=y" not in final or f'PREFIX="{CROSS}"' not in final:
        raise GuestBuildError(f"busybox .config lost CONFIG_STATIC / cross prefix; log {log}")
    _run(["make", f"-j{jobs}", "busybox", "busybox.links"], log, src, what="busybox build")
    links = [line.strip() for line in (src / "busybox.links").read_text().splitlines()
             if line.strip()]
    return src / "busybox", links


def build_hvtest(out: Path, logs: Path) -> Path:
    """Compile hvdbg/machine/guest/hvtest.c, static and stripped (so the checkout's
    path is not in the binary)."""
    log = logs / "hvtest.log"
    cmd = [f"{CROSS}gcc", *HVTEST_CFLAGS, "-o", str(out), "hvtest.c",
           "-lpthread", "-lm"]
    _run(cmd, log, GUEST_SRC, what="hvtest build")
    _run([f"{CROSS}strip", str(out)], log, GUEST_SRC, what="hvtest strip")
    return out


# --------------------------------------------------------------------------- initramfs


@dataclass(frozen=True)
class CpioEntry:
    name: str                  # without a leading '/'
    mode: int                  # including the file type bits
    data: bytes = b""          # file contents or symlink target
    rdev: tuple[int, int] = (0, 0)


def cpio_newc(entries: list[CpioEntry]) -> bytes:
    """A cpio archive in the "newc" format the kernel unpacks: entries sorted by name,
    inode numbers in that order, mtime 0, uid/gid 0."""
    out = bytearray()

    def pad4() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    def header(ino: int, e: CpioEntry) -> None:
        name = e.name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(e.mode) else 1
        fields = (ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, e.rdev[0], e.rdev[1],
                  len(name), 0)
        out.extend(b"070701" + b"".join(b"%08X" % v for v in fields))
        out.extend(name)
        pad4()
        out.extend(e.data)
        pad4()

    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError("duplicate names in initramfs")
    for ino, e in enumerate(sorted(entries, key=lambda e: e.name), start=1):
        header(ino, e)
    header(0, CpioEntry("TRAILER!!!", 0))
    # the kernel is happy without it, but cpio(1) pads archives to 512 bytes
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def initramfs_entries(busybox: Path, applets: list[str], hvtest: Path,
                      init: Path) -> list[CpioEntry]:
    d, f, x, lnk = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o644, stat.S_IFREG | 0o755, \
        stat.S_IFLNK | 0o777
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root",
            "etc"}
    entries = {n: CpioEntry(n, d) for n in dirs}
    entries["tmp"] = CpioEntry("tmp", stat.S_IFDIR | 0o1777)
    entries["dev/console"] = CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    entries["dev/null"] = CpioEntry("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
    entries["bin/busybox"] = CpioEntry("bin/busybox", x, busybox.read_bytes())
    entries["bin/hvtest"] = CpioEntry("bin/hvtest", x, hvtest.read_bytes())
    entries["init"] = CpioEntry("init", x, init.read_bytes())
    entries["etc/hostname"] = CpioEntry("etc/hostname", f, b"hvdbg\n")
    for path in applets:
        name = path.lstrip("/")
        parent = name.rsplit("/", 1)[0] if "/" in name else ""
        if name in entries or (parent and parent not in dirs):
            continue
        entries[name] = CpioEntry(name, lnk, b"/bin/busybox")
    return list(entries.values())


def write_initrd(out: Path, entries: list[CpioEntry]) -> str:
    """Write the gzip'd cpio (fixed gzip header: no name, mtime 0); return its sha256."""
    data = gzip.compress(cpio_newc(entries), compresslevel=9, mtime=0)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(out)
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- build


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached(inp: dict[str, object] | None = None) -> GuestImages | None:
    """The cached images for the current inputs, or None."""
    inp = inp if inp is not None else inputs()
    img = GuestImages(cache_root() / digest(inp))
    if (img.directory / "manifest.json").exists():
        return img
    return None


def build(force: bool = False, keep_build: bool = False, jobs: int | None = None,
          progress: Progress | None = None,
          on_cached: Callable[[GuestImages], None] | None = None) -> GuestImages:
    """Build (or find in the cache) vmlinux and initrd.gz; return where they are."""
    progress = progress or Progress()
    _usable_cache_root()
    inp = inputs()
    if not force and (img := cached(inp)) is not None:
        if on_cached:
            on_cached(img)
        return img
    # One build at a time (pytest -n 2 workers, two shells), apt included.
    with _locked(cache_root() / ".lock"):
        ensure_prerequisites(progress)
        inp = inputs()
        key = digest(inp)
        final = cache_root() / key
        if not force and (final / "manifest.json").exists():
            img = GuestImages(final)
            if on_cached:
                on_cached(img)
            return img
        return _build_locked(inp, key, final, keep_build,
                             jobs or os.cpu_count() or 1, progress, force)


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _cached_part(out: Path, marker: str, label: str, fill: Callable[[Path, Path, Path], None],
                 keep_build: bool, progress: Progress, force: bool) -> Path:
    """A cache entry ``out`` built by ``fill(work, staging, logs)`` unless its ``marker``
    file exists.  The build tree's path is fixed per entry, so anything that leaks a path
    into an output is the same for the same inputs; ``fill`` writes ``marker`` last (its
    presence marks completion) and the staging directory replaces ``out`` at once."""
    if not force and (out / marker).exists():
        return out
    work = _fresh(cache_root() / f"{out.name}.build")
    staging = _fresh(cache_root() / f"{out.name}.new")
    logs = _fresh(staging / "logs")
    with progress.stage(label):
        fill(work, staging, logs)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    if not keep_build:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _kernel_part(inp: dict[str, object], keep_build: bool, jobs: int, progress: Progress,
                 force: bool = False) -> Path:
    """``kernel-<digest>/``: vmlinux, kernel.config, logs/ (built if missing)."""
    def fill(work: Path, staging: Path, logs: Path) -> None:
        vmlinux, config = build_kernel(work, logs, jobs)
        shutil.copy2(config, staging / "kernel.config")
        shutil.copy2(vmlinux, staging / "vmlinux")

    return _cached_part(cache_root() / f"kernel-{digest(inp, 'kernel')}", "vmlinux",
                        f"kernel: {KERNEL_SOURCE_PKG} {KERNEL_DEFCONFIG} vmlinux (-j{jobs}), "
                        "a few minutes", fill, keep_build, progress, force)


def _busybox_part(inp: dict[str, object], keep_build: bool, jobs: int, progress: Progress,
                  force: bool = False) -> Path:
    """``busybox-<digest>/``: busybox, busybox.links, busybox.config, logs/."""
    def fill(work: Path, staging: Path, logs: Path) -> None:
        busybox, applets = build_busybox(work, logs, jobs)
        (staging / "busybox.links").write_text("".join(f"{a}\n" for a in applets))
        shutil.copy2(busybox.parent / ".config", staging / "busybox.config")
        shutil.copy2(busybox, staging / "busybox")

    return _cached_part(cache_root() / f"busybox-{digest(inp, 'busybox')}", "busybox",
                        f"busybox: apt-get source, static cross build (-j{jobs})", fill,
                        keep_build, progress, force)


def _build_locked(inp: dict[str, object], key: str, final: Path, keep_build: bool, jobs: int,
                  progress: Progress, force: bool) -> GuestImages:
    t_start = time.monotonic()
    staging = _fresh(cache_root() / f"{key}.new")
    logs = _fresh(staging / "logs")
    with progress.stage("test program (hvtest)"):
        hvtest = build_hvtest(staging / "hvtest", logs)
    bb = _busybox_part(inp, keep_build, jobs, progress, force)
    for name in ("busybox", "busybox.links"):
        shutil.copy2(bb / name, staging / name)
    applets = [a for a in (bb / "busybox.links").read_text().splitlines() if a]
    with progress.stage("initramfs (initrd.gz)"):
        entries = initramfs_entries(staging / "busybox", applets, hvtest, GUEST_SRC / "init")
        initrd_sha = write_initrd(staging / "initrd.gz", entries)
    kern = _kernel_part(inp, keep_build, jobs, progress, force)
    for name in ("vmlinux", "kernel.config"):
        shutil.copy2(kern / name, staging / name)
    manifest = {
        "inputs": inp,
        "digest": key,
        "parts": {"kernel": kern.name, "busybox": bb.name},
        "sha256": {"vmlinux": sha256_file(staging / "vmlinux"), "initrd.gz": initrd_sha,
                   "busybox": sha256_file(staging / "busybox"),
                   "hvtest": sha256_file(staging / "hvtest")},
        "applets": len([e for e in entries if stat.S_ISLNK(e.mode)]),
        "build seconds": {**progress.times, "total": round(time.monotonic() - t_start, 1)},
        "jobs": jobs,
        "environment": FIXED_ENV,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    return GuestImages(final)
