#!/usr/bin/env python3
"""Binary-activation variant of a frost architecture JSON (bench/lowbit).

The sign/xnor/bireal input schemes refuse a conv/linear whose input comes straight from a
ReLU (sign of a non-negative value is always +1; docs/lowbit.md). Binary networks instead
run BN -> sign -> binary conv -> BN: every ReLU/ReLU6 here becomes another activation
(--act), so each binary conv sees its producer's BN output (plus, in residual nets, the
add), which can be negative. The sign in the next conv is then the network's
non-linearity. Layer names, shapes and parameter counts stay those of the original model.

--act identity (default): no activation at all. In FP32 (no sign) such a network is
linear, a weak starting point for fine-tuning into a binary one.
--act hardtanh: clip(x, -1, 1), Bi-Real Net's real-valued pre-training activation. In FP32
it is a non-linearity; after binarization sign(hardtanh(x)) = sign(x), so the binary
forward is that of the identity variant, and the FP32 start is a real network.

usage: binact_arch.py IN.json OUT.json NAME [--act identity|hardtanh]
"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("name")
    ap.add_argument("--act", choices=("identity", "hardtanh"), default="identity")
    args = ap.parse_args()
    with open(args.src) as f:
        arch = json.load(f)
    arch["name"] = args.name
    changed = 0
    for layer in arch["layers"]:
        if layer["op"] == "act" and layer.get("fn") in ("relu", "relu6"):
            layer["fn"] = args.act
            changed += 1
    with open(args.dst, "w") as f:
        json.dump(arch, f, indent=1)
        f.write("\n")
    print(f"{args.dst}: {changed} ReLU layers -> {args.act}")


if __name__ == "__main__":
    main()
