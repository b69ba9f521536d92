#!/usr/bin/env python3
"""Turns a `tmux capture-pane -e -p` dump (ANSI SGR colours) into one HTML page that draws the
terminal cell for cell, for headless Chromium to screenshot. Usage: ansi2html.py < dump > page"""
import html
import re
import sys

# xterm's 16 base colours, then the 6x6x6 cube and the grey ramp of the 256-colour palette.
BASE = ["#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
        "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]
FG, BG = "#d4d4d4", "#1e1e1e"


def palette(n):
    if n < 16:
        return BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    g = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (g, g, g)


def apply(codes, st):
    codes = codes or [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            st.clear()
        elif c == 1:
            st["bold"] = True
        elif c == 2:
            st["dim"] = True
        elif c == 3:
            st["italic"] = True
        elif c == 4:
            st["underline"] = True
        elif c == 7:
            st["reverse"] = True
        elif c == 22:
            st.pop("bold", None)
            st.pop("dim", None)
        elif c == 23:
            st.pop("italic", None)
        elif c == 24:
            st.pop("underline", None)
        elif c == 27:
            st.pop("reverse", None)
        elif 30 <= c <= 37:
            st["fg"] = BASE[c - 30]
        elif 90 <= c <= 97:
            st["fg"] = BASE[c - 90 + 8]
        elif 40 <= c <= 47:
            st["bg"] = BASE[c - 40]
        elif 100 <= c <= 107:
            st["bg"] = BASE[c - 100 + 8]
        elif c == 39:
            st.pop("fg", None)
        elif c == 49:
            st.pop("bg", None)
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                st[key] = palette(codes[i + 2])
                i += 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                st[key] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                i += 4
        i += 1


def style(st):
    fg, bg = st.get("fg", FG), st.get("bg", BG)
    if st.get("reverse"):
        fg, bg = bg, fg
    css = []
    if fg != FG:
        css.append("color:" + fg)
    if bg != BG:
        css.append("background:" + bg)
    if st.get("bold"):
        css.append("font-weight:bold")
    if st.get("dim"):
        css.append("opacity:.6")
    if st.get("italic"):
        css.append("font-style:italic")
    if st.get("underline"):
        css.append("text-decoration:underline")
    return ";".join(css)


def main():
    dump = sys.stdin.read()
    out, st = [], {}
    for line in dump.rstrip("\n").split("\n"):
        row = []
        for part in re.split(r"(\x1b\[[0-9;:]*m)", line):
            if part.startswith("\x1b["):
                apply([int(x) for x in re.split("[;:]", part[2:-1]) if x.isdigit()], st)
            elif part:
                text = html.escape(part.replace("\x1b", ""))
                s = style(st)
                row.append('<span style="%s">%s</span>' % (s, text) if s else text)
        out.append("".join(row))
    print("<!doctype html><html><head><meta charset=\"utf-8\"><style>"
          "html,body{margin:0;background:%s}"
          "pre{margin:0;padding:8px;color:%s;font:14px/17px 'DejaVu Sans Mono',monospace}"
          "</style></head><body><pre>%s</pre></body></html>" % (BG, FG, "\n".join(out)))


main()
