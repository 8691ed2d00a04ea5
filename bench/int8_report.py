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


# peak.tsv files written before the peaks named their register width
OLD_PEAK_NAMES = {"FP32 FMA": "FP32 FMA ymm", "INT8 maddubs": "INT8 maddubs ymm"}


def read_peaks(path):
    """bench_int8_latency peak (bench/peaks.h) plus the driver's lscpu line:
    cpu (key -> value), measured peaks (name -> GMAC/s), skipped peaks (name -> why) and
    floors (INT8 / FP32 / TRAIN -> the peak name frost's kernels run at, or "none")."""
    cpu, peak, skipped, floor = {}, {}, {}, {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if p[0] == "cpu" and len(p) == 3:
                cpu[p[1]] = p[2]
            elif p[0] == "peak" and len(p) == 4:
                name = OLD_PEAK_NAMES.get(p[1], p[1])
                try:
                    peak[name] = float(p[3])
                except ValueError:
                    skipped[name] = p[3]
            elif p[0] == "floor" and len(p) == 3:
                floor[p[1]] = p[2]
    if not floor:  # an older file: frost's AVX2 kernels were the only SIMD path measured
        floor = {"INT8": "INT8 maddubs ymm", "FP32": "FP32 FMA ymm"}
    return cpu, peak, skipped, floor


def read_round_cpus(path):
    """RUNS/cpu.tsv: round, model, frost_cpu_text of the process that timed them."""
    seen = collections.defaultdict(list)
    try:
        with open(path) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                if len(p) == 3:
                    seen[p[2]].append(f"round {p[0]} {p[1]}")
    except OSError:
        pass
    return seen


def short(name):
    return name.replace("FP32 ", "").replace("INT8 ", "") if name != "none" else "n/a"


def floor_ms(mmac, gmacs, threads):
    return f"{mmac / (gmacs * threads):.2f}" if gmacs else "n/a"


def machine_text(cpu, peak, skipped, floor_i8, floor_f32, round_cpus):
    lines = [f"Machine: {cpu.get('lscpu', 'unknown (lscpu model name not recorded)')}"]
    if "text" in cpu:
        lines.append(f"CPU as frost sees it (family {cpu.get('family', '?')}, model "
                     f"{cpu.get('model_id', '?')}): {cpu['text']}")
        lines.append(f"ISA: {cpu.get('isa', '?')}; kernel paths: int8 {cpu.get('int8', '?')}, "
                     f"fp32 {cpu.get('fp32', '?')}, training gemm {cpu.get('train_gemm', '?')}")
    else:
        lines.append("CPU as frost sees it: not recorded (peak.tsv from before the records)")
    measured = ", ".join(f"{k} {v:.1f}" for k, v in peak.items())
    lines.append(f"Per-core peaks measured here (GMAC/s): {measured or 'none'}"
                 + "".join(f"; {k} {v}" for k, v in skipped.items()))
    lines.append(f"Floor columns: INT8 from {floor_i8} (frost's int8 path here: "
                 f"{cpu.get('int8', 'not recorded')}), FP32 from {floor_f32} (frost's fp32 path here: "
                 f"{cpu.get('fp32', 'not recorded')}); n/a: reference kernels, no instruction peak")
    texts = set(round_cpus)
    if len(texts) > 1 or (texts and "text" in cpu and cpu["text"] not in texts):
        lines.append("**Warning: the rounds ran on different CPUs or kernel paths; "
                     "numbers from different machines are not comparable:** "
                     + "; ".join(f"{t} ({', '.join(w)})" for t, w in round_cpus.items()))
    return "\n".join(f"- {l}" for l in lines)


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
    cpu, peak, skipped, floor = read_peaks(f"{runs}/peak.tsv")
    round_cpus = read_round_cpus(f"{runs}/cpu.tsv")
    med = {k: statistics.median(v) for k, v in vals.items()}
    out = print
    out("# INT8 / FP32 inference latency, batch 1, 224x224 (bench/int8_latency)\n")
    floor_i8, floor_f32 = floor.get("INT8", "none"), floor.get("FP32", "none")
    out(machine_text(cpu, peak, skipped, floor_i8, floor_f32, round_cpus) + "\n")
    out(f"Median ms over {len(rounds)} round(s), each the median of repeated runs; engines "
        "alternate within a round. The floor is MACs / (peak x threads), with the per-core "
        "peak of the instructions frost's own kernels use on this CPU (above). Speed-ups are "
        "peer ms / frost ms (> 1: "
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
        out(f"| model | MMAC | floor INT8 ({short(floor_i8)}) | floor FP32 ({short(floor_f32)}) | "
            + " | ".join(ENGINES) +
            " | frost INT8 speed-up vs best peer INT8 | float-rq vs best peer INT8 | frost INT8 "
            "(faster mode) vs best peer FP32 | frost FP32 vs best peer FP32 |")
        out("|---|" + "---|" * (3 + len(ENGINES) + 4))
        for m in models:
            row = [m, f"{macs[m]:.0f}", floor_ms(macs[m], peak.get(floor_i8), n),
                   floor_ms(macs[m], peak.get(floor_f32), n)]
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
