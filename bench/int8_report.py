#!/usr/bin/python3
"""Table for bench/int8_latency: RUNS/raw.tsv (round, model, engine, threads, ms),
RUNS/peak.tsv and RUNS/<model>.layers.tsv -> markdown on stdout.

  int8_report.py RUNS "MODELS" "THREADS"
"""
import collections
import statistics
import sys

ENGINES = ["frost FP32", "frost INT8", "frost INT8 float-rq", "torch FP32", "torch INT8 onednn", "torch INT8 qnnpack",
           "ORT FP32", "ORT INT8 QDQ", "XNNPACK FP32", "XNNPACK INT8 qc8"]
PEER_INT8 = ["torch INT8 onednn", "torch INT8 qnnpack", "ORT INT8 QDQ", "XNNPACK INT8 qc8"]
PEER_FP32 = ["torch FP32", "ORT FP32", "XNNPACK FP32"]


def main():
    runs, models, threads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
    vals = collections.defaultdict(list)
    rounds = set()
    with open(f"{runs}/raw.tsv") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 5 and p[4] and p[4] != "n/a":
                rounds.add(p[0])
                vals[(p[1], p[2], p[3])].append(float(p[4]))
    peak = {}
    with open(f"{runs}/peak.tsv") as f:
        for line in f:
            p = line.split("\t")
            peak[p[1]] = float(p[3])
    med = {k: statistics.median(v) for k, v in vals.items()}
    out = print
    out("# INT8 / FP32 inference latency, batch 1, 224x224 (bench/int8_latency)\n")
    out(f"Median ms over {len(rounds)} round(s), each the median of repeated runs; engines "
        "alternate within a round. Per-core peaks measured here: FP32 FMA "
        f"{peak.get('FP32 FMA', 0):.1f} GMAC/s, int8 vpmaddubsw {peak.get('INT8 maddubs', 0):.1f} "
        "GMAC/s; the floor is MACs / (peak x threads). Speed-ups are peer ms / frost ms (> 1: "
        "frost is faster). Models: random weights (latency does "
        "not depend on them), BN folded; the peers' INT8 graphs use frost's int8 weights, "
        "scales and zero points (ORT QDQ) or their own PTQ (PyTorch). frost INT8 requantizes "
        "in fixed point (TFLite, integer-only, the default); frost INT8 float-rq is the same "
        "model with float requantization (`--requant float`), the scheme ORT, XNNPACK and "
        "oneDNN use.\n")
    macs = {}
    for m in models:
        try:
            with open(f"{runs}/{m}.layers.tsv") as f:
                macs[m] = sum(int(l.split("\t")[2]) for l in f) / 1e6
        except OSError:
            macs[m] = 0.0
    for t in threads:
        n = int(t)
        out(f"\n## {t} thread{'s' if n > 1 else ''}\n")
        out("| model | MMAC | floor INT8 | floor FP32 | " + " | ".join(ENGINES) +
            " | frost INT8 speed-up vs best peer INT8 | float-rq vs best peer INT8 | frost INT8 "
            "(faster mode) vs best peer FP32 | frost FP32 vs best peer FP32 |")
        out("|---|" + "---|" * (3 + len(ENGINES) + 4))
        for m in models:
            row = [m, f"{macs[m]:.0f}", f"{macs[m] / (peak.get('INT8 maddubs', 1) * n) :.2f}",
                   f"{macs[m] / (peak.get('FP32 FMA', 1) * n):.2f}"]
            for e in ENGINES:
                v = med.get((m, e, t))
                row.append(f"{v:.2f}" if v else "n/a")
            def best(names):
                xs = [med[(m, e, t)] for e in names if (m, e, t) in med]
                return min(xs) if xs else None
            fi, ff = med.get((m, "frost INT8", t)), med.get((m, "frost FP32", t))
            fq = med.get((m, "frost INT8 float-rq", t))
            fbest = min(v for v in (fi, fq) if v) if (fi or fq) else None
            bi = best(PEER_INT8)
            bf = best(PEER_FP32)
            def who(names, v):
                return next(e for e in names if med.get((m, e, t)) == v).replace(" INT8", "")
            row.append(f"{bi / fi:.2f}x ({who(PEER_INT8, bi)})" if fi and bi else "n/a")
            row.append(f"{bi / fq:.2f}x" if fq and bi else "n/a")
            row.append(f"{bf / fbest:.2f}x ({who(PEER_FP32, bf)})" if fbest and bf else "n/a")
            row.append(f"{bf / ff:.2f}x" if ff and bf else "n/a")
            out("| " + " | ".join(row) + " |")
    for m in models[:1]:
        try:
            lines = [l.rstrip("\n").split("\t") for l in open(f"{runs}/{m}.layers.tsv")]
        except OSError:
            continue
        out(f"\n## Where the time goes: frost INT8 {m}, 1 thread, per layer "
            "(fixed-point requantization; float-rq alongside)\n")
        lines = [l + [l[3]] if len(l) == 4 else l for l in lines]  # older files: fixed only
        total = sum(float(l[3]) for l in lines)
        groups = collections.defaultdict(lambda: [0.0, 0, 0.0])
        for name, op, mac, ms, msf in lines:
            kind = "depthwise" if ".dw." in name else ("stem" if name.startswith("stem") else op)
            if op == "conv" and kind == "conv":
                kind = "pointwise / k x k conv"
            groups[kind][0] += float(ms)
            groups[kind][1] += int(mac)
            groups[kind][2] += float(msf)
        out("| kind | ms | share | MMAC | GMAC/s | float-rq ms | float-rq GMAC/s |\n"
            "|---|---|---|---|---|---|---|")
        for k, (ms, mac, msf) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
            out(f"| {k} | {ms:.3f} | {100 * ms / total:.0f}% | {mac / 1e6:.1f} | "
                f"{(mac / 1e6 / ms) if ms else 0:.1f} | {msf:.3f} | "
                f"{(mac / 1e6 / msf) if msf else 0:.1f} |")
        out("\n| layer | op | MMAC | ms | GMAC/s | float-rq ms | float-rq GMAC/s |\n"
            "|---|---|---|---|---|---|---|")
        for name, op, mac, ms, msf in lines:
            g = int(mac) / 1e6 / float(ms) if float(ms) > 0 else 0
            gf = int(mac) / 1e6 / float(msf) if float(msf) > 0 else 0
            out(f"| {name} | {op} | {int(mac) / 1e6:.2f} | {float(ms):.4f} | {g:.1f} | "
                f"{float(msf):.4f} | {gf:.1f} |")


if __name__ == "__main__":
    main()
