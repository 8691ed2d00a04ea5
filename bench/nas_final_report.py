#!/usr/bin/env python3
"""bench/nas_final_report.py RUNS MODELS OUTDIR: the report (markdown) and plot (SVG) of
bench/nas_final's runs (per-seed JSON, latency.tsv) into OUTDIR."""
import glob
import json
import os
import statistics
import sys

COLORS = {"frostnet_s": "#1f77b4", "mobilenetv2": "#2ca02c", "mnasnet_b1": "#9467bd",
          "searched": "#d62728"}


def models(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p or p[0].startswith("#"):
                continue
            if p[0] == "ref":
                out.append({"key": f"{p[1]}-w{p[2]}", "family": p[1], "width": float(p[2]),
                            "label": f"{p[1]} w{p[2]}"})
            else:
                w = p[2] if len(p) > 2 else "0.35"
                out.append({"key": f"nas-{p[1]}-w{w}", "family": "searched", "width": float(w),
                            "label": p[1]})
    return out


def load(runs, ms):
    for m in ms:
        accs = []
        for path in sorted(glob.glob(os.path.join(runs, m["key"] + "-s*.json"))):
            with open(path) as f:
                accs.append(json.load(f)["int8_test_acc"])
        m["accs"] = accs
        m["mean"] = statistics.mean(accs) if accs else None
        m["std"] = statistics.stdev(accs) if len(accs) > 1 else None
    lat, head = {}, []
    tsv = os.path.join(runs, "latency.tsv")
    if os.path.exists(tsv):
        with open(tsv) as f:
            for line in f:
                if line.startswith("#"):
                    head.append(line[1:].strip())
                    continue
                _, key, ms_ = line.rstrip("\n").split("\t")
                if ms_:
                    lat.setdefault(key, []).append(float(ms_))
    for m in ms:
        v = lat.get(m["key"])
        m["latency"] = statistics.median(v) if v else None
        m["rounds"] = len(v) if v else 0
    return head


def front(points):
    """The references' front: no other reference is both faster and more accurate."""
    pts = sorted(points, key=lambda p: (p["latency"], -p["mean"]))
    best, out = -1.0, []
    for p in pts:
        if p["mean"] > best:
            out.append(p)
            best = p["mean"]
    return out


def line_at(f, lat):
    """(accuracy, std) of the front at latency lat: piecewise linear between its points,
    flat past its ends."""
    if lat <= f[0]["latency"]:
        return f[0]["mean"], f[0]["std"] or 0.0
    for a, b in zip(f, f[1:]):
        if lat <= b["latency"]:
            t = (lat - a["latency"]) / (b["latency"] - a["latency"])
            return (a["mean"] + t * (b["mean"] - a["mean"]),
                    (1 - t) * (a["std"] or 0.0) + t * (b["std"] or 0.0))
    return f[-1]["mean"], f[-1]["std"] or 0.0


def svg(path, ms, f):
    pts = [m for m in ms if m["mean"] is not None and m["latency"] is not None]
    if not pts:
        return
    xs = [m["latency"] for m in pts]
    ys = [m["mean"] + (m["std"] or 0) for m in pts] + [m["mean"] - (m["std"] or 0) for m in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 0.5
    x0, x1, y0, y1 = x0 - .08 * dx, x1 + .08 * dx, y0 - .08 * dy, y1 + .08 * dy
    W, H, L, R, T, B = 760, 500, 70, 170, 30, 60

    def px(v):
        return L + (v - x0) / (x1 - x0) * (W - L - R)

    def py(v):
        return H - B - (v - y0) / (y1 - y0) * (H - T - B)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{L}" y="18">int8 test accuracy (mean, bars: ±1 std over seeds) vs measured int8 latency</text>']
    for i in range(5):
        xv, yv = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        o.append(f'<text x="{px(xv):.1f}" y="{H - B + 16}" text-anchor="middle">{xv:.3f}</text>')
        o.append(f'<text x="{L - 6}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.2f}%</text>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">int8 latency, ms '
             '(batch 1, 1 thread, median of alternating rounds)</text>')
    fams = sorted({m["family"] for m in pts} - {"searched"})
    for fam in fams:
        fp = sorted([m for m in pts if m["family"] == fam], key=lambda m: m["latency"])
        o.append(f'<polyline fill="none" stroke="{COLORS.get(fam, "gray")}" points="' +
                 " ".join(f'{px(m["latency"]):.1f},{py(m["mean"]):.1f}' for m in fp) + '"/>')
    if f:
        o.append('<polyline fill="none" stroke="black" stroke-dasharray="4,3" points="' +
                 " ".join(f'{px(m["latency"]):.1f},{py(m["mean"]):.1f}' for m in f) + '"/>')
    for m in pts:
        c = COLORS.get(m["family"], "gray")
        x, y, s = px(m["latency"]), py(m["mean"]), m["std"] or 0.0
        o.append(f'<line x1="{x:.1f}" y1="{py(m["mean"] - s):.1f}" x2="{x:.1f}" '
                 f'y2="{py(m["mean"] + s):.1f}" stroke="{c}"/>')
        if m["family"] == "searched":
            o.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{c}"/>')
        else:
            o.append(f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{c}"/>'
                     f'<text x="{x + 6:.1f}" y="{y + 12:.1f}" font-size="10">w{m["width"]:g}</text>')
    ly = T + 10
    for fam in fams + ["searched"]:
        o.append(f'<rect x="{W - R + 12}" y="{ly - 4}" width="8" height="8" fill="{COLORS.get(fam, "gray")}"/>'
                 f'<text x="{W - R + 25}" y="{ly + 4}">{fam}</text>')
        ly += 18
    o.append(f'<line x1="{W - R + 8}" y1="{ly}" x2="{W - R + 22}" y2="{ly}" stroke="black" '
             f'stroke-dasharray="4,3"/><text x="{W - R + 25}" y="{ly + 4}">references\' front</text>')
    o.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(o) + "\n")


def fmt(m):
    if m["mean"] is None:
        return "", ""
    s = f"{m['mean']:.2f}" + (f" ± {m['std']:.2f}" if m["std"] is not None else "")
    return s, str(len(m["accs"]))


def main():
    runs, model_file, outdir = sys.argv[1:4]
    ms = models(model_file)
    head = load(runs, ms)
    refs = [m for m in ms if m["family"] != "searched" and m["mean"] is not None and m["latency"]]
    f = front(refs) if refs else []
    lines = ["# Searched networks against the references at full training (bench/nas_final)", ""]
    lines += [
        "Made by `bench/nas_final train`, `bench/nas_final latency`, `bench/nas_final report`.",
        "Recipe, the same for every network: `frost train --qat --gradboost --epochs 7 --val 0",
        "--limit 55000 --test-every 0 --seed S` (quantization-aware from scratch: one",
        "StatAssist float epoch, then W8A8 per-channel fake-quant with GradBoost; SGD Nesterov",
        "lr 0.1 cosine, batch 64, 55,000 training images), `frost convert` (integer-only,",
        "fixed-point requantization), `frost run` on the 10,000 test images (used for this",
        "table only). Latency: `frost bench` of the seed-1 int8 model, batch 1, 1 thread, every",
        "model once per round in alternating rounds, the median over rounds.",
        "",
    ]
    done = sum(len(m["accs"]) for m in ms)
    lines += [f"Status: {done} of {3 * len(ms)} (network, seed) runs finished"
              f"{'' if head else '; no latency run yet'}.", ""]
    lines += [f"Latency run: {h}" for h in head] + ([""] if head else [])
    lines += ["| network | width | seeds | int8 test acc % (mean ± std) | int8 latency ms | "
              "front at that latency | margin | 2 std |", "|---|---|---|---|---|---|---|---|"]
    for m in ms:
        acc, n = fmt(m)
        lat = f"{m['latency']:.4f}" if m["latency"] else ""
        ref, margin, two = "", "", ""
        if m["family"] == "searched" and f and m["mean"] is not None and m["latency"]:
            a, s = line_at(f, m["latency"])
            sd = ((m["std"] or 0.0) ** 2 + s ** 2) ** 0.5
            ref, margin, two = f"{a:.2f}", f"{m['mean'] - a:+.2f}", f"{2 * sd:.2f}"
        name = f"`{m['label']}`" if m["family"] == "searched" else m["family"]
        lines.append(f"| {name} | {m['width']:g} | {n} | {acc} | {lat} | {ref} | {margin} | {two} |")
    lines += ["", "Margin: the network's mean minus the references' front (the best reference",
              "accuracy, linear between the front's points and flat past its ends) at the",
              "network's latency; 2 std: twice the standard deviation of that difference",
              "(the network's seed std and the front's, interpolated, combined). A searched",
              "network beats the references when its margin exceeds 2 std.", ""]
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "nas_final.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    svg(os.path.join(outdir, "nas_final.svg"), ms, f)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
