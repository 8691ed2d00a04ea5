#!/usr/bin/env python3
"""bench/cells_report.py RUNS OUT: writes the report of bench/cells (searched cells, the mixing
weights the searches ended with, and every cell trained float / W4A4 / W8A8 per-tensor with
int8 test accuracy, mean +- std over training seeds)."""
import csv
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys

VARIANTS = [("fp32", "float"), ("w4a4", "W4A4 int8"), ("w8pt", "W8A8 per-tensor int8")]
HAND_TEXT = {
    "mbconv": "every edge mbconv_3",
    "sc": "every edge sc_3 (Frost bottleneck, SC module)",
    "se_swish": "every edge se_swish_3 (MBConv + SE, SiLU)",
    "se_hswish": "every edge se_hswish_3 (MBConv + SE, h-swish)",
    "maxpool": "sep_conv_3 + max_pool_3 on every node",
    "avgpool": "sep_conv_3 + avg_pool_3 on every node",
}


def mean_std(xs):
    if not xs:
        return None, None
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)


def fmt(m, s, n):
    if m is None:
        return "-"
    return f"{m:.2f} ± {s:.2f} ({n})" if s is not None else f"{m:.2f} ({n})"


def cell_text(path):
    with open(path) as f:
        pair = json.load(f)
    out = []
    for kind in ("normal", "reduce"):
        edges = pair[kind]["edges"]
        out.append(" ".join(f"{j}←{i}:{op}" for j, i, op in edges))
    return out


def searches(runs):
    rows = []
    for d in sorted(glob.glob(os.path.join(runs, "search-*-s*"))):
        if not os.path.isdir(d) or not os.path.exists(os.path.join(d, "cell.json")):
            continue
        name = os.path.basename(d)
        normal, reduce = cell_text(os.path.join(d, "cell.json"))
        last = None
        with open(os.path.join(d, "log.csv")) as f:
            for r in csv.DictReader(f):
                last = r
        weights = {}
        top = {"normal": {}, "reduce": {}}  # cell -> edge -> its largest final weight
        with open(os.path.join(d, "alpha.csv")) as f:
            rows_a = list(csv.DictReader(f))
        if rows_a:
            final = (rows_a[-1]["stage"], rows_a[-1]["epoch"])
            for r in rows_a:
                if (r["stage"], r["epoch"]) != final:
                    continue
                w = float(r["weight"])
                edges = top[r["cell"]]
                edges[r["edge"]] = max(edges.get(r["edge"], 0.0), w)
                if r["cell"] == "normal":
                    weights.setdefault(r["op"], []).append(w)
        rows.append({"name": name, "normal": normal, "reduce": reduce, "last": last,
                     "weights": {k: statistics.mean(v) for k, v in weights.items()},
                     "top": {c: sorted(e.values()) for c, e in top.items()},
                     "ops": len(weights)})
    return rows


def trainings(runs):
    res = {}
    for p in glob.glob(os.path.join(runs, "train", "*.json")):
        with open(p) as f:
            r = json.load(f)
        res.setdefault(r["cell"], {}).setdefault(r["variant"], []).append(r)
    return res


def failures(runs):
    """Runs that ended without a result: (cell, variant, seed, the error line)."""
    out = []
    for log in sorted(glob.glob(os.path.join(runs, "train", "*.train.log"))):
        base = log[: -len(".train.log")]
        if os.path.exists(base + ".json") or os.path.isdir(base + ".lock"):
            continue  # finished, or running now
        reason = "no error message"
        for part in ("train", "convert", "run"):
            path = f"{base}.{part}.log"
            if not os.path.exists(path):
                continue
            with open(path) as f:
                errors = [l.strip() for l in f if "error:" in l]
            if errors:
                reason = errors[-1].split("error:", 1)[1].strip()
                break
        cell, var, seed = os.path.basename(base).rsplit("-", 2)
        out.append((cell, var, seed.lstrip("s"), reason))
    return out


def cpu():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines()
                    if l.startswith("Model name"))
    except Exception:
        return "unknown CPU"


def diff_line(res, a, b, var):
    xa = [r["test_acc"] for r in res.get(a, {}).get(var, []) if r["test_acc"] is not None]
    xb = [r["test_acc"] for r in res.get(b, {}).get(var, []) if r["test_acc"] is not None]
    if len(xa) < 2 or len(xb) < 2:
        return f"- {a} vs {b} ({var}): not enough seeds yet"
    ma, sa = mean_std(xa)
    mb, sb = mean_std(xb)
    se = math.sqrt(sa ** 2 / len(xa) + sb ** 2 / len(xb))
    d = ma - mb
    verdict = "beyond 2 standard errors" if se > 0 and abs(d) > 2 * se else "within noise"
    return (f"- {a} − {b}, {var}: {d:+.2f} points (standard error {se:.2f}; {verdict}; "
            f"{len(xa)} and {len(xb)} seeds)")


def main():
    runs, out = sys.argv[1], sys.argv[2]
    settings = ""
    sp = os.path.join(runs, "settings.txt")
    if os.path.exists(sp):
        with open(sp) as f:
            settings = f.read().strip()
    s = searches(runs)
    res = trainings(runs)
    L = ["# Cells that hold up in int8 (bench/cells)", "",
         f"Made by `bench/cells search`, `bench/cells train`, `bench/cells report` on {cpu()}.",
         "Every accuracy is on the 10,000 Fashion-MNIST test images (never used for a choice):",
         "float (`fp32`), or the int8 model converted from quantization-aware training and run",
         "by frost's integer engine (`w4a4`: 4-bit weights and activations; `w8pt`: 8-bit with",
         "one weight scale per layer). Mean ± standard deviation over training seeds (count in",
         "parentheses).", ""]
    if settings:
        L += ["Settings:", "", "```", settings, "```", ""]
    n_runs = sum(len(v) for c in res.values() for v in c.values())
    L += [f"Status: {len(s)} cell search(es) and {n_runs} training run(s) finished.", ""]
    L += ["## Searched cells", ""]
    if not s:
        L += ["No search has finished yet.", ""]
    else:
        L += ["| search | normal cell | reduction cell | held-out acc. (supernet) | seconds |",
              "|---|---|---|---|---|"]
        for r in s:
            last = r["last"] or {}
            acc = float(last.get("val_acc", -1))
            L.append(f"| `{r['name']}` | {r['normal']} | {r['reduce']} | "
                     f"{100 * acc:.2f}% | {float(last.get('seconds', 0)):.0f} |")
        L += ["", "Mean final mixing weight per operation over the normal cell's edges (a larger",
              "weight: the search preferred the operation):", ""]
        ops = sorted({o for r in s for o in r["weights"]})
        L += ["| search | " + " | ".join(ops) + " |", "|---|" + "---|" * len(ops)]
        for r in s:
            L.append(f"| `{r['name']}` | " +
                     " | ".join(f"{r['weights'].get(o, 0):.3f}" for o in ops) + " |")
        L += ["", "Did alpha move? The largest final mixing weight of each edge, lowest and",
              "highest over the cell's edges (uniform would be 1 / operations; a cell whose",
              "edges all sit near it was derived from noise):", "",
              "| search | uniform | normal cell: edges' largest weight | reduction cell |",
              "|---|---|---|---|"]
        for r in s:
            span = lambda v: f"{v[0]:.3f} – {v[-1]:.3f}" if v else "-"
            uniform = f"{1 / r['ops']:.3f}" if r["ops"] else "-"
            L.append(f"| `{r['name']}` | {uniform} | {span(r['top']['normal'])} | "
                     f"{span(r['top']['reduce'])} |")
        L.append("")
    L += ["## Every cell trained the same way", "",
          "| cell | " + " | ".join(v[1] for v in VARIANTS) +
          " | drop W4A4 | drop W8 per-tensor | params | MACs |",
          "|---|" + "---|" * (len(VARIANTS) + 4)]
    names = sorted(res, key=lambda c: (c.startswith("search"), c))
    for c in names:
        cols, means = [], {}
        for v, _ in VARIANTS:
            xs = [r["test_acc"] for r in res[c].get(v, []) if r["test_acc"] is not None]
            m, sd = mean_std(xs)
            means[v] = m
            cols.append(fmt(m, sd, len(xs)))
        d4 = f"{means['fp32'] - means['w4a4']:+.2f}" if None not in (means["fp32"], means["w4a4"]) else "-"
        d8 = f"{means['fp32'] - means['w8pt']:+.2f}" if None not in (means["fp32"], means["w8pt"]) else "-"
        any_r = next(iter(next(iter(res[c].values()))), {})
        label = f"`{c}`" + (f" ({HAND_TEXT[c]})" if c in HAND_TEXT else "")
        L.append(f"| {label} | " + " | ".join(cols) + f" | {d4} | {d8} | "
                 f"{any_r.get('params', '-')} | {any_r.get('macs', '-')} |")
    failed = failures(runs)
    L += ["", "## Runs that failed", ""]
    if not failed:
        L += ["None."]
    else:
        L += ["Not in the table above (a run that fails with one seed and not with others is",
              "itself a result about the cell):", "",
              "| cell | variant | seed | error |", "|---|---|---|---|"]
        for cell, var, seed, why in failed:
            why = re.sub(r"\S*/(runs|work)/\S*", "(checkpoint)", why)
            L.append(f"| `{cell}` | {var} | {seed} | {why} |")
    L += ["", "## FrostNet's claims, measured", ""]
    for var in ("w4a4", "w8pt", "fp32"):
        L.append(diff_line(res, "sc", "se_swish", var))
        L.append(diff_line(res, "sc", "se_hswish", var))
        L.append(diff_line(res, "sc", "mbconv", var))
        L.append(diff_line(res, "maxpool", "avgpool", var))
    L.append("")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(L) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
