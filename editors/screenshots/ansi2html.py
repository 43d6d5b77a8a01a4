#!/usr/bin/env python3
"""ANSI (tmux capture-pane -e -p) to a standalone HTML page: SGR colours (16, 256 and 24-bit),
bold, italic, underline and reverse. Usage: ansi2html.py TITLE < pane.ansi > pane.html"""
import html
import re
import sys

BASE16 = ["#1e1e1e", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
          "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]
FG, BG = "#d4d4d4", "#1e1e1e"


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        levels = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (levels[n // 36], levels[(n // 6) % 6], levels[n % 6])
    v = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (v, v, v)


def apply(codes, st):
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            st.clear()
        elif c in (1, 3, 4, 7):
            st[c] = True
        elif c in (22, 23, 24, 27):
            st.pop({22: 1, 23: 3, 24: 4, 27: 7}[c], None)
        elif 30 <= c <= 37 or 90 <= c <= 97:
            st["fg"] = BASE16[c - 30 if c < 90 else c - 82]
        elif 40 <= c <= 47 or 100 <= c <= 107:
            st["bg"] = BASE16[c - 40 if c < 100 else c - 92]
        elif c == 39:
            st.pop("fg", None)
        elif c == 49:
            st.pop("bg", None)
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                st[key] = xterm256(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                st[key] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                i += 4
        i += 1


def style(st):
    fg, bg = st.get("fg", FG), st.get("bg", BG)
    if st.get(7):
        fg, bg = bg, fg
    css = [f"color:{fg}", f"background:{bg}"]
    if st.get(1):
        css.append("font-weight:bold")
    if st.get(3):
        css.append("font-style:italic")
    if st.get(4):
        css.append("text-decoration:underline")
    return ";".join(css)


def convert(text):
    out, st = [], {}
    for line in text.rstrip("\n").split("\n"):
        parts = re.split(r"\x1b\[([0-9;:]*)m", line)
        spans = []
        for k, part in enumerate(parts):
            if k % 2:
                apply([int(x) if x else 0 for x in re.split(r"[;:]", part)], st)
            elif part:
                spans.append(f'<span style="{style(st)}">{html.escape(part)}</span>')
        out.append("".join(spans))
    return "\n".join(out)


def main():
    title = sys.argv[1] if len(sys.argv) > 1 else "tl"
    body = convert(sys.stdin.read())
    print(f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>html,body{{margin:0;background:{BG}}}
pre{{margin:0;padding:6px;font:14px/17px 'DejaVu Sans Mono',monospace;color:{FG};white-space:pre}}</style>
<pre>{body}</pre>""")


if __name__ == "__main__":
    main()
