#!/usr/bin/env bash
# docs/img/repl.png: hvdbg debug in a real terminal (a private tmux server, 104x40), the
# commands typed with send-keys, the screen captured with its colours (capture-pane -e,
# -N keeps the styled trailing blanks of the title bars and the toolbar) and drawn by
# scripts/pane_png.py (Pillow: pip install -e '.[docs]').
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ELF=$(python3 -c "import sys; sys.path.insert(0, 'tests'); import guestbuild as gb; print(gb.build(gb.guest('crcsort')))")
S=hvdbg-screenshot-$$
T=(tmux -L "$S" -f /dev/null)
STATE=$(mktemp -d)
trap '"${T[@]}" kill-server 2>/dev/null || true; rm -rf "$STATE"' EXIT
"${T[@]}" new-session -d -s "$S" -x 104 -y 40 \
    "cd $ROOT && env PYTHONPATH=$ROOT XDG_STATE_HOME=$STATE TERM=xterm-256color python3 -m hvdbg debug --bios $ELF"
wait_for() {       # a bounded poll for text on the screen
    for _ in $(seq 400); do
        "${T[@]}" capture-pane -p -t "$S" | grep -qF -- "$1" && return 0
        sleep 0.05
    done
    echo "repl_screenshot: no '$1' on the screen" >&2
    exit 1
}
type_line() { "${T[@]}" send-keys -t "$S" "$1" Enter; wait_for "$2"; }
wait_for "1:solo* paused"
type_line "break main" "breakpoint 1 at"
type_line "continue" "breakpoint 1; icount"
type_line "watch data 8" "watchpoint 2:"
type_line "continue" "watchpoint 2 (write"
type_line "info registers r19 r20 r21 r22 ret0 sp pcoqh pcoqt" "pcoqt   0x"
type_line "disas \$pc 5" "<main+0x2e8>"
type_line "x/4xw data" "<data>:  0x"
"${T[@]}" send-keys -t "$S" "disas qu" Tab
wait_for "disas quicksort.constprop.0"
"${T[@]}" capture-pane -p -e -N -t "$S" > "$STATE/pane.txt"
python3 scripts/pane_png.py "$STATE/pane.txt" docs/img/repl.png
echo "docs/img/repl.png written"
