#!/usr/bin/python3
"""Report for bench/nas: RUNS/<run>/log.csv (run: rl, evolution, random, ppo, random-sh,
rl-sh, ...), RUNS/ref-*.json and the optional RUNS/full.csv -> OUT/nas.md (tables) and
OUT/nas.svg (the full-budget candidates, the references, the front).

  nas_report.py RUNS TARGET_MS OUT_DIR

log.csv is read by column name: logs from before successive halving lack the rung,
train_images, eval_seconds and screened columns (every line is then a full-budget, trained
evaluation, timed by train_seconds), and later columns (e.g. fp32_acc) are ignored. Only
full-budget, trained lines (the ones pareto.csv is made of) count for rewards, accuracies,
the front and the plot: lower halving rungs trained on fewer images and screened lines
were never trained.
"""
import csv
import glob
import json
import os
import sys

CONTROLLERS = ["rl", "evolution", "random", "ppo", "random-sh", "rl-sh", "ppo-sh",
               "evolution-sh"]
COLORS = {"rl": "#1f77b4", "evolution": "#2ca02c", "random": "#999999", "ppo": "#9467bd",
          "random-sh": "#ff7f0e", "rl-sh": "#17becf", "ppo-sh": "#8c564b",
          "evolution-sh": "#bcbd22"}


def full_rung(run_dir):
    """The full-budget rung: search.json's halving_rungs with successive halving, else 0."""
    try:
        with open(os.path.join(run_dir, "search.json")) as f:
            return int(json.load(f).get("halving_rungs", 0))
    except (OSError, ValueError):
        return 0


def load_log(path, full):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f)]
    rows = [r for r in rows if None not in r.values()]  # a killed search's torn last line
    for r in rows:
        for k in ("int8_acc", "latency_ms", "reward", "train_seconds"):
            r[k] = float(r[k])
        r["cached"] = r["cached"] == "1"
        r["screened"] = r.get("screened") == "1"
        r["rung"] = int(r.get("rung") or 0)
        # a failed candidate (training or int8 conversion broke down) is logged with
        # latency 0: it has no result of its own
        r["failed"] = r["latency_ms"] == 0.0
        r["full"] = r["rung"] == full and not r["screened"] and not r["failed"]
        r["train_images"] = int(r.get("train_images") or 0)
        # eval_seconds (the whole evaluation's wall time, 0 when cached) is newer than
        # train_seconds (the training alone, also given for a cached line)
        es = r.get("eval_seconds")
        r["hours"] = 0.0 if r["cached"] else float(es if es else r["train_seconds"]) / 3600
    full_images = max((r["train_images"] for r in rows if r["full"]), default=0)
    for r in rows:
        # the training compute of the line in full-proxy candidates, whether this run
        # trained it or found it in the shared cache
        r["equivalents"] = (0.0 if r["screened"] else
                            r["train_images"] / full_images if full_images and r["train_images"]
                            else 1.0)
    return rows


def load_runs(runs):
    out = {}
    for c in CONTROLLERS:
        path = os.path.join(runs, c, "log.csv")
        if os.path.exists(path):
            out[c] = load_log(path, full_rung(os.path.join(runs, c)))
    return out


def load_full_training(runs):
    """RUNS/full.csv: genotype -> int8 accuracy after the full training recipe (the mean
    when a genotype has several rows, e.g. seeds); empty when there is no such file."""
    path = os.path.join(runs, "full.csv")
    if not os.path.exists(path):
        return {}
    accs = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            accs.setdefault(r["genotype"], []).append(float(r["int8_acc"]))
    return {g: sum(a) / len(a) for g, a in accs.items()}


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
    """runs: the full-budget, trained lines of each run."""
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


def run_row(c, rows, target, front_g, full_acc):
    """One line of the controller table. rows: the run's whole log."""
    full = [r for r in rows if r["full"]]
    trained = [r for r in rows if not r["cached"] and not r["screened"]]
    hours = sum(r["hours"] for r in rows)
    ok = [r for r in full if r["latency_ms"] <= target]
    best_ok = max((r["int8_acc"] for r in ok), default=None)
    best = max(full, key=lambda r: r["reward"], default=None)  # best.json's genotype
    at_full = full_acc.get(best["genotype"]) if best else None
    last = full[-10:]

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.2f}%"
    best_reward = "n/a" if best is None else f"{best['reward']:.4f}"
    per_hour = f"{len(trained) / hours:.1f}" if hours else "n/a"
    mean_last = f"{sum(r['reward'] for r in last) / len(last):.4f}" if last else "n/a"
    return (f"| {c} | {len(rows)} | {sum(r['equivalents'] for r in rows):.1f} | "
            f"{len(trained)} | {hours:.2f} | {per_hour} | {best_reward} | {pct(best_ok)} | "
            f"{'-' if at_full is None else pct(at_full)} | {mean_last} | "
            f"{len({r['genotype'] for r in full} & front_g)} |")


def main():
    runs_dir, target, out_dir = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    proxy_train = int(os.environ.get("PROXY_TRAIN", "4000"))
    proxy_epochs = int(os.environ.get("PROXY_EPOCHS", "2"))
    runs, refs = load_runs(runs_dir), load_refs(runs_dir)
    full_acc = load_full_training(runs_dir)
    full_runs = {c: [r for r in rows if r["full"]] for c, rows in runs.items()}
    allpts = [dict(r, controller=c) for c, rows in full_runs.items() for r in rows]
    uniq = {}
    for p in allpts:
        uniq.setdefault(p["genotype"], p)
    union_front = front(list(uniq.values()))
    lines = ["# Architecture search on Fashion-MNIST (bench/nas)", ""]
    lines.append(f"Made by `bench/nas` (the command is the script; resumable). Target latency "
                 f"T = {target} ms (soft reward ACC·(LAT/T)^-0.07), int8 latency batch 1 at 1 "
                 "thread on this machine, int8 accuracy on 2,000 images held out of the "
                 f"training split (never the test set), proxy: QAT from scratch on {proxy_train:,} "
                 f"training images, {proxy_epochs} epochs (1 StatAssist float epoch, then W8A8 with "
                 "GradBoost), network width 0.35. The controllers share a seed and a "
                 "result cache. Plot: `nas.svg` (full-budget candidates only).")
    lines += ["", "## Controllers on the same budget", "",
              "The budget is training compute: each run gets the same number of full-proxy "
              "equivalents (one equivalent = one training on all the proxy's images for its "
              "epochs; a successive-halving run (`-sh`) trains most of its proposals on a "
              "fraction of the images, so it gets more proposals for the same compute: "
              "9 per 3 equivalents at ETA 3, R 2). Equivalents count cache hits too (the "
              "shared cache makes them free for this run, not for the study); training hours "
              "are this run's own (`eval_seconds`, or `train_seconds`, the training alone, in "
              "logs from before it), so trained per hour = trained evaluations / hours. "
              "Lines: every log line (every rung, cache hits, screened); rewards, accuracies "
              "and the front use "
              "full-budget, trained lines only. Best reward: the run's `best.json`; "
              "\"best, at full training\": that genotype's int8 accuracy after the full "
              "training recipe (`full.csv` in the runs folder; `-` when not trained yet).",
              "",
              "| controller | lines | full-proxy equivalents | trained (not cached) | "
              "training hours | trained per hour | best reward | best int8 acc with LAT <= T "
              "| best, at full training | mean reward, last 10 | on the union front |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    front_g = {p["genotype"] for p in union_front}
    for c, rows in runs.items():
        lines.append(run_row(c, rows, target, front_g, full_acc))
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
    svg(os.path.join(out_dir, "nas.svg"), full_runs, refs, union_front)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
