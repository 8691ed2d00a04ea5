#!/usr/bin/env python3
"""Accuracy vs model bytes of bench/lowbit's rows as an SVG (no plotting library needed).

usage: plot.py RUNS OUT.svg ARCH...
One point per (arch, method): the mean test accuracy over its seeds against its deployed
bytes (log scale); rows without a numeric accuracy or size are left out.
"""
import glob
import math
import os
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
W, H, L, R, T, B = 760, 460, 70, 20, 40, 50


def read_rows(runs, arch):
    rows = {}
    for path in sorted(glob.glob(os.path.join(runs, arch, "*.result"))):
        kv = dict(line.rstrip("\n").split("=", 1) for line in open(path) if "=" in line)
        try:
            acc, size = float(kv["acc"]), float(kv["bytes"])
        except (KeyError, ValueError):
            continue
        rows.setdefault(kv["method"], []).append((acc, size))
    return {m: (sum(a for a, _ in v) / len(v), sum(b for _, b in v) / len(v)) for m, v in rows.items()}


def main():
    runs, out, archs = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = {a: read_rows(runs, a) for a in archs}
    pts = [p for d in data.values() for p in d.values()]
    if not pts:
        return
    lo_b = math.log10(min(b for _, b in pts)) - 0.1
    hi_b = math.log10(max(b for _, b in pts)) + 0.1
    lo_a = max(0.0, math.floor(min(a for a, _ in pts) / 5) * 5)
    hi_a = min(100.0, math.ceil(max(a for a, _ in pts) / 5) * 5 + 1)

    def x(b):
        return L + (math.log10(b) - lo_b) / (hi_b - lo_b) * (W - L - R)

    def y(a):
        return H - B - (a - lo_a) / (hi_a - lo_a) * (H - T - B)

    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">Fashion-MNIST test accuracy vs deployed bytes (bench/lowbit)</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">model bytes (log scale)</text>',
         f'<text x="16" y="{H / 2}" transform="rotate(-90 16 {H / 2})" text-anchor="middle">test accuracy %</text>']
    for e in range(math.ceil(lo_b * 2), math.floor(hi_b * 2) + 1):
        b = 10 ** (e / 2)
        s.append(f'<line x1="{x(b):.1f}" y1="{H - B}" x2="{x(b):.1f}" y2="{H - B + 4}" stroke="black"/>')
        s.append(f'<text x="{x(b):.1f}" y="{H - B + 16}" text-anchor="middle">{b / 1000:.0f} kB</text>')
    a = lo_a
    while a <= hi_a:
        s.append(f'<line x1="{L - 4}" y1="{y(a):.1f}" x2="{L}" y2="{y(a):.1f}" stroke="black"/>')
        s.append(f'<text x="{L - 6}" y="{y(a) + 4:.1f}" text-anchor="end">{a:.0f}</text>')
        a += 5
    for i, (arch, d) in enumerate(data.items()):
        c = COLORS[i % len(COLORS)]
        s.append(f'<text x="{W - R - 150}" y="{T + 14 * i + 10}" fill="{c}">● {arch}</text>')
        for m, (acc, size) in sorted(d.items()):
            s.append(f'<circle cx="{x(size):.1f}" cy="{y(acc):.1f}" r="4" fill="{c}"/>')
            s.append(f'<text x="{x(size) + 6:.1f}" y="{y(acc) - 4:.1f}" fill="{c}">{m}</text>')
    s.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(s) + "\n")


if __name__ == "__main__":
    main()
