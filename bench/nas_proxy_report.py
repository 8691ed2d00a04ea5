#!/usr/bin/env python3
"""bench/nas_proxy_report.py RUNS ARCHS OUT: how each proxy fidelity ranks the
architectures of ARCHS against full training (Kendall tau-b, Spearman, bootstrap spread),
from the eval-candidate JSON files bench/nas_proxy wrote under RUNS/FIDELITY/sSEED/."""
import glob
import json
import math
import os
import random
import subprocess
import sys

ORDER = ["p0", "p0-committed", "p-epochs", "p-data", "p-both"]
# The committed search's own results (same proxy settings and seed as p0, measured on the
# CPU of that session): how far the same proxy moves between machines.
COMMITTED_CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "nas-runs",
                               "cache.csv")


def archs(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def load(runs, names):
    """{fidelity: {seed: {arch: result}}}"""
    out = {}
    for fdir in sorted(glob.glob(os.path.join(runs, "*"))):
        fid = os.path.basename(fdir)
        for sdir in sorted(glob.glob(os.path.join(fdir, "s*"))):
            seed = int(os.path.basename(sdir)[1:])
            for a in names:
                p = os.path.join(sdir, a.replace(":", "-") + ".json")
                if os.path.exists(p) and os.path.getsize(p) > 0:
                    with open(p) as f:
                        out.setdefault(fid, {}).setdefault(seed, {})[a] = json.load(f)
    return out


def load_committed(names):
    import csv
    out = {}
    if os.path.exists(COMMITTED_CACHE):
        with open(COMMITTED_CACHE) as f:
            for r in csv.DictReader(f):
                if r["genotype"] in names and r["eval"].endswith("-n4000-v2000"):
                    out[r["genotype"]] = {"int8_acc": float(r["int8_acc"]),
                                          "train_seconds": float(r["train_seconds"])}
    return {1: out} if out else {}


def kendall_tau_b(x, y):
    n, conc, disc, tx, ty = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    den = math.sqrt((conc + disc + tx) * (conc + disc + ty))
    return (conc - disc) / den if den else float("nan")


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(x, y):
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx and sy else float("nan")


def bootstrap_tau(x, y, reps=2000, seed=1):
    rng = random.Random(seed)
    n, taus = len(x), []
    for _ in range(reps):
        idx = [rng.randrange(n) for _ in range(n)]
        t = kendall_tau_b([x[i] for i in idx], [y[i] for i in idx])
        if not math.isnan(t):
            taus.append(t)
    taus.sort()
    return taus[int(0.05 * len(taus))], taus[int(0.95 * len(taus)) - 1]


def mean_acc(per_seed, a):
    v = [per_seed[s][a]["int8_acc"] for s in per_seed if a in per_seed[s]]
    return sum(v) / len(v) if v else None


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except Exception:
        return "unknown"


def main():
    runs, arch_file, out_path = sys.argv[1:4]
    names = archs(arch_file)
    data = load(runs, names)
    committed = load_committed(names)
    if committed:
        data["p0-committed"] = committed
    full = data.get("full", {}).get(1, {})
    done = [a for a in names if a in full]
    lines = ["# Does the search's proxy rank architectures like full training? (bench/nas_proxy)", ""]
    lines += [
        f"Made by `bench/nas_proxy run FIDELITY [SEEDS]` then `bench/nas_proxy report` on {cpu_model()}.",
        "Every number is the int8 accuracy of `frost eval-candidate` (QAT from scratch: one",
        "StatAssist float epoch, then W8A8 per-channel fake-quant with GradBoost; SGD Nesterov",
        "lr 0.1 cosine, batch 64; width 0.35; fixed-point int8 conversion) on images held out of",
        "the training split (never the test set). The architectures (bench/nas_proxy.archs) were",
        "fixed before any full training: 15 candidates of the committed search spread evenly",
        "over its proxy ranking, the searched network whose proxy win did not hold, and",
        "FrostNet-S and MobileNetV2 at width 0.35.",
        "",
        "Fidelities (settings of `frost eval-candidate`):",
        "",
    ]
    settings = {
        "full": "55,000 training images, 5,000 held out, 6 epochs (the full recipe)",
        "p0": "4,000 images, 2,000 held out, 2 epochs: the committed proxy of bench/nas",
        "p0-committed": "p0's results in the committed search (bench/results/nas-runs, same "
                        "settings and seed, another CPU: AVX-512; seconds at 2 threads)",
        "p-epochs": "4,000 images, 2,000 held out, 5 epochs",
        "p-data": "12,000 images, 2,000 held out, 2 epochs",
        "p-both": "10,000 images, 2,000 held out, 4 epochs",
    }
    for f, s in settings.items():
        lines.append(f"- `{f}`: {s}")
    lines += ["", f"Full training finished for {len(done)} of {len(names)} architectures.", ""]
    if len(done) < 3:
        lines.append("Not enough full-training results for a ranking yet.")
    else:
        y = [full[a]["int8_acc"] for a in done]
        full_secs = sum(full[a]["train_seconds"] for a in done) / len(done)
        lines += [
            "## Ranking agreement with full training",
            "",
            "Kendall tau-b over the architectures with both results (90% bootstrap interval over",
            "architectures, 2,000 resamples); Spearman rho; top-5: how many of full training's five",
            "best the proxy also puts in its five best (from 10 architectures on); cost: mean",
            "training seconds per architecture at 1 thread on a shared 2-core machine (load 2-10:",
            "indicative) and its share of full training's.",
            "",
            "| proxy | seeds | n | Kendall tau | 90% interval | Spearman | top-5 | seconds | share of full |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        variants = []
        for fid in ORDER:
            if fid not in data:
                continue
            seeds = sorted(data[fid])
            for seed in seeds:  # each seed alone: a search trains every candidate once
                variants.append((fid, [seed]))
            if len(seeds) > 1:
                variants.append((fid, seeds))
        for fid, seeds in variants:
            per = {s: data[fid][s] for s in seeds}
            common = [a for a in done if all(a in per[s] for s in seeds)]
            if len(common) < 3:
                continue
            x = [mean_acc(per, a) for a in common]
            yy = [full[a]["int8_acc"] for a in common]
            t = kendall_tau_b(x, yy)
            lo, hi = bootstrap_tau(x, yy)
            top_full = set(sorted(common, key=lambda a: -full[a]["int8_acc"])[:5])
            top_prox = set(sorted(common, key=lambda a: -mean_acc(per, a))[:5])
            top5 = f"{len(top_full & top_prox)}/5" if len(common) >= 10 else "-"
            secs = sum(per[s][a]["train_seconds"] for s in seeds for a in common) / len(common)
            lines.append(
                f"| `{fid}` | {','.join(map(str, seeds))} | {len(common)} | {t:.3f} | "
                f"[{lo:.2f}, {hi:.2f}] | {spearman(x, yy):.3f} | {top5} | "
                f"{secs:.0f} | {secs / full_secs:.3f} |"
            )
        lines += ["", "## Per architecture", ""]
        cols = [(fid, s) for fid in ORDER if fid in data for s in sorted(data[fid])]
        lines.append("| architecture | full | " + " | ".join(f"{f} s{s}" for f, s in cols) + " | full s |")
        lines.append("|---|---|" + "---|" * len(cols) + "---|")
        for a in sorted(done, key=lambda a: -full[a]["int8_acc"]):
            cells = []
            for f, s in cols:
                r = data[f][s].get(a)
                cells.append(f"{100 * r['int8_acc']:.2f}" if r else "")
            lines.append(
                f"| `{a}` | {100 * full[a]['int8_acc']:.2f} | " + " | ".join(cells) +
                f" | {full[a]['train_seconds']:.0f} |"
            )
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
