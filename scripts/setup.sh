#!/usr/bin/env bash
# Install everything hvdbg needs on Debian bookworm, as root: the hppa cross
# compiler (test guests), QEMU 7.2 (the oracle), gdb-multiarch, a host C compiler
# (the core is a C extension), the Debian packages the Linux guest images are built
# from (hvdbg guest build: kernel source and its build tools), then hvdbg itself in
# editable mode with its test extras.  Safe to run again: apt and pip skip what is
# already there.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
APT_PACKAGES=(
    gcc-hppa-linux-gnu binutils-hppa-linux-gnu libc6-dev-hppa-cross   # guests, later userland
    qemu-system-misc qemu-system-data                                # qemu-system-hppa + firmware
    gdb-multiarch
    tmux                                                             # the REPL's terminal test
    gcc libc6-dev                                                    # builds the C core
    linux-source-6.1 make bc bison flex libssl-dev libelf-dev        # Linux guest images:
    xz-utils dpkg-dev                                                #   hvdbg guest build
)

PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null; then
    APT_PACKAGES+=(python3 python3-dev python3-pip python3-venv)
elif ! "$PY" -m pip --version >/dev/null 2>&1 || ! "$PY" - <<'EOF' 2>/dev/null
import os, sysconfig, sys
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
EOF
then
    APT_PACKAGES+=(python3-dev python3-pip python3-venv)             # Debian's own Python
fi

apt-get update -q
apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
PY=${PYTHON:-python3}

# Debian's Python refuses system-wide pip installs (PEP 668); this machine is ours.
export PIP_BREAK_SYSTEM_PACKAGES=1
"$PY" -m pip install -q -e '.[test]'

for tool in hppa-linux-gnu-gcc qemu-system-hppa gdb-multiarch; do
    command -v "$tool" >/dev/null || { echo "setup: $tool missing after install" >&2; exit 1; }
done
"$PY" -c 'import hvdbg.cpu._core' || { echo "setup: the C core did not build" >&2; exit 1; }
echo "setup: ok ($("$PY" --version), $(qemu-system-hppa --version | head -1))"
