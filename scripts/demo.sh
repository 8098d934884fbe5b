#!/usr/bin/env bash
# Build a bare-metal demo guest (default: crcsort) and run it on hvdbg and on QEMU,
# side by side: both consoles, hvdbg's --stats, and whether the outputs are identical.
#   bash scripts/demo.sh [GUEST]      GUEST = a name from tests/guests/src (e.g. recursion)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
name=${1:-crcsort}
elf=$("$PY" -c "import sys; sys.path.insert(0, 'tests'); import guestbuild as gb
print(gb.build(gb.guest(sys.argv[1])))" "$name")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== guest $name: $elf"
echo "== hvdbg run --bios $elf --stats"
"$PY" -m hvdbg run --bios "$elf" --stats </dev/null >"$tmp/hvdbg.out" 2>"$tmp/hvdbg.err" || true
echo "== qemu-system-hppa -bios $elf -nographic"
start=$(date +%s.%N)
qemu-system-hppa -bios "$elf" -nographic -nodefaults -serial stdio -monitor none -no-reboot \
    -m 256 </dev/null >"$tmp/qemu.out"
end=$(date +%s.%N)

tr -d '\r' <"$tmp/hvdbg.out" >"$tmp/hvdbg.txt"
tr -d '\r' <"$tmp/qemu.out" >"$tmp/qemu.txt"
width=$(( $(tput cols 2>/dev/null || echo 160) / 2 - 2 ))
echo
# the first 40 lines of each console; '*' marks lines that differ
"$PY" - "$tmp/hvdbg.txt" "$tmp/qemu.txt" "$width" <<'PYEOF'
import itertools, sys
a, b = (open(p, errors="replace").read().splitlines()[:40] for p in sys.argv[1:3])
w = int(sys.argv[3])
print(f"{'hvdbg':<{w}} | QEMU 7.2")
for x, y in itertools.zip_longest(a, b, fillvalue=""):
    print(f"{x[:w]:<{w}} {'|' if x == y else '*'} {y[:w]}")
PYEOF
echo
cat "$tmp/hvdbg.err"
"$PY" -c "print(f'qemu: {$end - $start:.2f} s wall clock (start-up included)')"
if cmp -s "$tmp/hvdbg.out" "$tmp/qemu.out"; then
    echo "console output: identical ($(wc -c <"$tmp/qemu.out") bytes)"
else
    echo "console output: DIFFERENT (first difference below)"
    diff "$tmp/hvdbg.txt" "$tmp/qemu.txt" | head -5
    exit 1
fi
