#!/usr/bin/python3
"""Report for bench/nas: RUNS/{rl,evolution,random}/log.csv and RUNS/ref-*.json ->
OUT/nas.md (tables) and OUT/nas.svg (every candidate, the references, the front).

  nas_report.py RUNS TARGET_MS OUT_DIR
"""
import csv
import glob
import json
import os
import sys

CONTROLLERS = ["rl", "evolution", "random"]
COLORS = {"rl": "#1f77b4", "evolution": "#2ca02c", "random": "#999999"}


def load_runs(runs):
    out = {}
    for c in CONTROLLERS:
        path = os.path.join(runs, c, "log.csv")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            rows = [r for r in csv.DictReader(f)]
        for r in rows:
            for k in ("int8_acc", "latency_ms", "reward", "train_seconds"):
                r[k] = float(r[k])
            r["cached"] = r["cached"] == "1"
        out[c] = rows
    return out


def load_refs(runs):
    refs = []
    for p in sorted(glob.glob(os.path.join(runs, "ref-*.json"))):
        with open(p) as f:
            refs.append(json.loads(f.read()))
    return refs


def front(points):
    """Non-dominated (max accuracy, min latency) points, by latency."""
    pts = sorted(points, key=lambda p: (p["latency_ms"], -p["int8_acc"]))
    best, out = -1.0, []
    for p in pts:
        if p["int8_acc"] > best:
            out.append(p)
            best = p["int8_acc"]
    return out


def ref_line(refs, lat):
    """Accuracy of the references' own front at latency lat (piecewise linear, flat past
    the ends: a candidate beats the line where it is more accurate at that latency)."""
    f = front(refs)
    if not f:
        return None
    if lat <= f[0]["latency_ms"]:
        return f[0]["int8_acc"]
    for a, b in zip(f, f[1:]):
        if lat <= b["latency_ms"]:
            t = (lat - a["latency_ms"]) / (b["latency_ms"] - a["latency_ms"])
            return a["int8_acc"] + t * (b["int8_acc"] - a["int8_acc"])
    return f[-1]["int8_acc"]


def svg(path, runs, refs, union_front):
    pts = [r for rows in runs.values() for r in rows] + refs
    if not pts:
        return
    xs = [p["latency_ms"] for p in pts]
    ys = [p["int8_acc"] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 0.01
    x0, x1, y0, y1 = x0 - .05 * dx, x1 + .05 * dx, y0 - .05 * dy, y1 + .05 * dy
    W, H, L, R, T, B = 720, 480, 70, 150, 30, 60

    def px(v):
        return L + (v - x0) / (x1 - x0) * (W - L - R)

    def py(v):
        return H - B - (v - y0) / (y1 - y0) * (H - T - B)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{L}" y="18">int8 accuracy (held out) vs int8 latency: searched candidates, '
         'references, front</text>']
    for i in range(5):
        xv, yv = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        o.append(f'<text x="{px(xv):.1f}" y="{H - B + 16}" text-anchor="middle">{xv:.3f}</text>')
        o.append(f'<text x="{L - 6}" y="{py(yv) + 4:.1f}" text-anchor="end">{100 * yv:.1f}%</text>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">int8 latency, ms '
             '(batch 1, 1 thread)</text>')
    for c, rows in runs.items():
        for r in rows:
            o.append(f'<circle cx="{px(r["latency_ms"]):.1f}" cy="{py(r["int8_acc"]):.1f}" r="3" '
                     f'fill="{COLORS[c]}" fill-opacity="0.7"/>')
    o.append('<polyline fill="none" stroke="#d22" stroke-width="1.5" points="' +
             " ".join(f'{px(p["latency_ms"]):.1f},{py(p["int8_acc"]):.1f}' for p in union_front) + '"/>')
    rf = front(refs)
    o.append('<polyline fill="none" stroke="black" stroke-dasharray="4,3" points="' +
             " ".join(f'{px(p["latency_ms"]):.1f},{py(p["int8_acc"]):.1f}' for p in rf) + '"/>')
    for p in refs:
        o.append(f'<rect x="{px(p["latency_ms"]) - 4:.1f}" y="{py(p["int8_acc"]) - 4:.1f}" '
                 'width="8" height="8" fill="black"/>')
        o.append(f'<text x="{px(p["latency_ms"]) + 6:.1f}" y="{py(p["int8_acc"]) + 4:.1f}">'
                 f'{p["model"]} w{p["width"]}</text>')
    ly = T + 10
    for c in runs:
        o.append(f'<circle cx="{W - R + 15}" cy="{ly}" r="4" fill="{COLORS[c]}"/>'
                 f'<text x="{W - R + 25}" y="{ly + 4}">{c}</text>')
        ly += 18
    o.append(f'<line x1="{W - R + 8}" y1="{ly}" x2="{W - R + 22}" y2="{ly}" stroke="#d22"/>'
             f'<text x="{W - R + 25}" y="{ly + 4}">front</text>')
    o.append(f'<rect x="{W - R + 11}" y="{ly + 14}" width="8" height="8" fill="black"/>'
             f'<text x="{W - R + 25}" y="{ly + 22}">references</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    runs_dir, target, out_dir = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    runs, refs = load_runs(runs_dir), load_refs(runs_dir)
    allpts = [dict(r, controller=c) for c, rows in runs.items() for r in rows]
    uniq = {}
    for p in allpts:
        uniq.setdefault(p["genotype"], p)
    union_front = front(list(uniq.values()))
    lines = ["# Architecture search on Fashion-MNIST (bench/nas)", ""]
    lines.append(f"Made by `bench/nas` (the command is the script; resumable). Target latency "
                 f"T = {target} ms (soft reward ACC·(LAT/T)^-0.07), int8 latency batch 1 at 1 "
                 "thread on this machine, int8 accuracy on 2,000 images held out of the "
                 "training split (never the test set), proxy: QAT from scratch on 4,000 "
                 "training images, 2 epochs (1 StatAssist float epoch, 1 W8A8 epoch with "
                 "GradBoost), network width 0.35. The three controllers share a seed and a "
                 "result cache. Plot: `nas.svg`.")
    lines += ["", "## Controllers on the same budget", "",
              "| controller | candidates | trained (not cached) | best reward | best int8 acc "
              "with LAT <= T | mean reward, last 10 | on the union front |",
              "|---|---|---|---|---|---|---|"]
    front_g = {p["genotype"] for p in union_front}
    for c, rows in runs.items():
        ok = [r for r in rows if r["latency_ms"] <= target]
        best_ok = max((r["int8_acc"] for r in ok), default=None)
        last = rows[-10:]
        lines.append(f"| {c} | {len(rows)} | {sum(not r['cached'] for r in rows)} | "
                     f"{max(r['reward'] for r in rows):.4f} | "
                     f"{'n/a' if best_ok is None else f'{100 * best_ok:.2f}%'} | "
                     f"{sum(r['reward'] for r in last) / len(last):.4f} | "
                     f"{len({r['genotype'] for r in rows} & front_g)} |")
    lines += ["", "## Hand-designed references (same proxy)", "",
              "| model | width | int8 acc | latency ms | MMAC |", "|---|---|---|---|---|"]
    for r in refs:
        lines.append(f"| {r['model']} | {r['width']} | {100 * r['int8_acc']:.2f}% | "
                     f"{r['latency_ms']:.4f} | {r['macs'] / 1e6:.2f} |")
    above = []
    for p in uniq.values():
        line = ref_line(refs, p["latency_ms"])
        if line is not None and p["int8_acc"] > line:
            above.append((p["int8_acc"] - line, p))
    above.sort(key=lambda t: -t[0])
    lines += ["", f"Searched candidates above the references' line (more accurate than the "
              f"references' front at the same latency): **{len(above)}** of {len(uniq)}.", ""]
    if above:
        lines += ["| genotype | controller | int8 acc | latency ms | above the line by |",
                  "|---|---|---|---|---|"]
        for d, p in above[:10]:
            lines.append(f"| `{p['genotype']}` | {p['controller']} | {100 * p['int8_acc']:.2f}% | "
                         f"{p['latency_ms']:.4f} | {100 * d:.2f} points |")
    lines += ["", "## Pareto front of all searched candidates", "",
              "| genotype | found by | int8 acc | latency ms |", "|---|---|---|---|"]
    for p in union_front:
        lines.append(f"| `{p['genotype']}` | {p['controller']} | {100 * p['int8_acc']:.2f}% | "
                     f"{p['latency_ms']:.4f} |")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "nas.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    svg(os.path.join(out_dir, "nas.svg"), runs, refs, union_front)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
