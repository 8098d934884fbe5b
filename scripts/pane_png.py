#!/usr/bin/env python3
"""Render a terminal screen captured with ``tmux capture-pane -p -e`` (text with SGR
colour escapes) as a PNG, drawing each cell with Pillow in DejaVu Sans Mono — the
screenshot of docs/debugging.md.  Dev-only: ``pip install -e '.[docs]'``.

    tmux capture-pane -p -e -t SESSION > pane.txt
    python3 scripts/pane_png.py pane.txt docs/img/repl.png
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 15
FG, BG = (220, 220, 220), (24, 24, 28)
# xterm's 16 colours
BASE16 = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200),
          (188, 63, 188), (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76),
          (35, 209, 139), (245, 245, 67), (59, 142, 234), (214, 112, 214), (41, 184, 219),
          (255, 255, 255)]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def xterm256(n: int) -> tuple[int, int, int]:
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return steps[n // 36], steps[n // 6 % 6], steps[n % 6]
    v = 8 + 10 * (n - 232)
    return v, v, v


def apply(codes: list[int], st: dict) -> None:  # type: ignore[type-arg]
    """One SGR sequence's effect on the cell style ``st``."""
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            st.update(fg=None, bg=None, bold=False, reverse=False)
        elif c == 1:
            st["bold"] = True
        elif c == 22:
            st["bold"] = False
        elif c == 7:
            st["reverse"] = True
        elif c == 27:
            st["reverse"] = False
        elif 30 <= c <= 37 or 90 <= c <= 97:
            st["fg"] = BASE16[c - 30 if c < 90 else c - 82]
        elif 40 <= c <= 47 or 100 <= c <= 107:
            st["bg"] = BASE16[c - 40 if c < 100 else c - 92]
        elif c == 39:
            st["fg"] = None
        elif c == 49:
            st["bg"] = None
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                st[key] = xterm256(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                st[key] = tuple(codes[i + 2:i + 5])
                i += 4
        i += 1


def render(text: str) -> Image.Image:
    font = ImageFont.truetype(FONT, SIZE)
    bold = ImageFont.truetype(FONT_BOLD, SIZE)
    cw = round(font.getlength("M"))
    ch = SIZE + 4
    lines = text.rstrip("\n").split("\n")
    width = max(len(SGR.sub("", line)) for line in lines)
    img = Image.new("RGB", (cw * width + 16, ch * len(lines) + 16), BG)
    draw = ImageDraw.Draw(img)
    st: dict = {"fg": None, "bg": None, "bold": False, "reverse": False}  # type: ignore[type-arg]
    for row, line in enumerate(lines):
        col, pos = 0, 0
        for m in [*SGR.finditer(line), None]:
            chunk = line[pos:m.start()] if m else line[pos:]
            for c in chunk:
                fg, bg = st["fg"] or FG, st["bg"] or BG
                if st["reverse"]:
                    fg, bg = bg, fg
                x, y = 8 + col * cw, 8 + row * ch
                if bg != BG:
                    draw.rectangle([x, y, x + cw - 1, y + ch - 1], fill=bg)
                draw.text((x, y + 1), c, font=bold if st["bold"] else font, fill=fg)
                col += 1
            if m is None:
                break
            apply([int(x) for x in m.group(1).split(";") if x] or [0], st)
            pos = m.end()
    return img


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    render(Path(sys.argv[1]).read_text()).save(sys.argv[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
