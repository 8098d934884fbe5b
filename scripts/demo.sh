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

# replication: the same guest on a primary and a backup; the primary dies half-way
# (fail-stop), the backup takes over; then the recorded run is replayed and verified
total=$(grep -o '[0-9]* instructions retired' "$tmp/hvdbg.err" | grep -o '^[0-9]*' || echo 0)
epoch=4096
fail=$(( total / 2 / epoch ))
echo
echo "== hvdbg pair --bios $elf --epoch $epoch --fail-primary-at $fail:17 --record $tmp/rec"
"$PY" -m hvdbg pair --bios "$elf" --epoch "$epoch" --fail-primary-at "$fail:17" \
    --record "$tmp/rec" </dev/null >"$tmp/pair.out" 2>"$tmp/pair.err"
cat "$tmp/pair.err"
if cmp -s "$tmp/pair.out" "$tmp/hvdbg.out"; then
    echo "console output after failover: identical to the unreplicated run"
else
    echo "console output after failover: differs (repeated-output window, docs/replication.md)"
fi
echo "== hvdbg replay $tmp/rec"
"$PY" -m hvdbg replay "$tmp/rec" </dev/null >"$tmp/replay.out"
cmp -s "$tmp/replay.out" "$tmp/pair.out" && echo "replayed console output: identical to the recorded run"

# gdb on both VMs of a pair: a breakpoint after heapsort() in the primary and then in
# the backup (same instruction count, same registers), a register written on the
# primary reaching the backup as a logged input, then a failover from gdb
ret=$(hppa-linux-gnu-objdump -d "$elf" | awk '/b,l .*<heapsort/ {print $1; exit}' | tr -d ':')
if [ -n "$ret" ] && command -v gdb-multiarch >/dev/null; then
    stop=$(printf '%x' $(( 0x$ret + 8 )))
    echo
    echo "== hvdbg pair --bios $elf --gdb 127.0.0.1:0 --wait --record $tmp/grec   (+ gdb-multiarch)"
    "$PY" -m hvdbg pair --bios "$elf" --gdb 127.0.0.1:0 --wait --record "$tmp/grec" \
        </dev/null >"$tmp/gpair.out" 2>"$tmp/gpair.err" &
    pid=$!
    port=""
    for _ in $(seq 100); do
        port=$(grep -o 'gdb stub on [0-9.]*:[0-9]*' "$tmp/gpair.err" 2>/dev/null | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && break
        sleep 0.1
    done
    cat >"$tmp/demo.gdb" <<GDB
set architecture hppa1.0
set endian big
file $elf
target extended-remote 127.0.0.1:$port
add-inferior
inferior 2
attach 2
file $elf
break *0x$stop
inferior 1
break *0x$stop
set schedule-multiple on
continue
monitor epoch
set \$r1 = 0x1234567
continue
info registers r1 sp
monitor role
monitor failover
monitor role
delete
continue
GDB
    gdb-multiarch -q -batch -x "$tmp/demo.gdb" 2>&1 | grep -v "^warning\|determining executable\|^\[Switching\|^#0" || true
    wait "$pid" || true
    echo "== hvdbg replay $tmp/grec   (the gdb write is in the log)"
    "$PY" -m hvdbg replay "$tmp/grec" </dev/null >/dev/null
fi
