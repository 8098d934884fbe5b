"""``hvdbg guest``: build the Linux guest images (vmlinux, initrd.gz) from Debian
packages, or print where they are.  See docs/guests.md.

  hvdbg guest build     build (or reuse from the cache) and print the two paths
  hvdbg guest path      print the directory holding vmlinux and initrd.gz (building
                        them first if needed)

Exit status: 0 ok; 1 a build step failed (its log is named); 2 prerequisites missing
(Debian packages or a deb-src entry that cannot be installed without root).
"""
from __future__ import annotations

import argparse
import sys

from hvdbg.machine import images

EXIT_OK, EXIT_FAILED, EXIT_UNAVAILABLE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("guest", help="build the Linux guest images (vmlinux, initrd.gz)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    gsub = p.add_subparsers(dest="guest_command", metavar="ACTION", required=True)
    b = gsub.add_parser("build", help="build (or reuse) the images and print their paths")
    b.add_argument("--force", action="store_true",
                   help="rebuild everything (kernel and busybox too) even when cached")
    b.add_argument("--keep-build", action="store_true",
                   help="keep the build tree (kernel and busybox objects) next to the cache")
    b.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="parallel make jobs (default: the number of CPUs)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    b.set_defaults(func=cmd_build)
    pa = gsub.add_parser("path", help="print the directory holding vmlinux and initrd.gz "
                                      "(builds them first if needed)")
    pa.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    pa.set_defaults(func=cmd_path)


def _build(args: argparse.Namespace, **kw: object) -> images.GuestImages | None:
    try:
        return images.build(progress=images.Progress(quiet=args.quiet), **kw)  # type: ignore[arg-type]
    except images.GuestBuildUnavailable as e:
        print(f"hvdbg: guest: {e}", file=sys.stderr)
        args.exit_status = EXIT_UNAVAILABLE
    except images.GuestBuildError as e:
        print(f"hvdbg: guest: {e}", file=sys.stderr)
        args.exit_status = EXIT_FAILED
    return None


def cmd_build(args: argparse.Namespace) -> int:
    def on_cached(img: images.GuestImages) -> None:
        if not args.quiet:
            print(f"guest: cached images for these inputs ({img.directory.name})",
                  file=sys.stderr)

    img = _build(args, force=args.force, keep_build=args.keep_build, jobs=args.jobs,
                 on_cached=on_cached)
    if img is None:
        return int(args.exit_status)
    print(f"vmlinux   {img.vmlinux}")
    print(f"initrd.gz {img.initrd}")
    return EXIT_OK


def cmd_path(args: argparse.Namespace) -> int:
    img = _build(args)
    if img is None:
        return int(args.exit_status)
    print(img.directory)
    return EXIT_OK
