#!/usr/bin/env python3
"""Binary-activation variant of a frost architecture JSON (bench/lowbit).

The sign/xnor/bireal input schemes refuse a conv/linear whose input comes straight from a
ReLU (sign of a non-negative value is always +1; docs/lowbit.md). Binary networks instead
run BN -> sign -> binary conv -> BN: every ReLU/ReLU6 here becomes an identity, so each
binary conv sees its producer's BN output (plus, in residual nets, the add), which can be
negative. The sign in the next conv is then the network's non-linearity. Layer names,
shapes and parameter counts stay those of the original model.

usage: binact_arch.py IN.json OUT.json NAME
"""
import json
import sys


def main():
    src, dst, name = sys.argv[1:4]
    with open(src) as f:
        arch = json.load(f)
    arch["name"] = name
    changed = 0
    for layer in arch["layers"]:
        if layer["op"] == "act" and layer.get("fn") in ("relu", "relu6"):
            layer["fn"] = "identity"
            changed += 1
    with open(dst, "w") as f:
        json.dump(arch, f, indent=1)
        f.write("\n")
    print(f"{dst}: {changed} ReLU layers -> identity")


if __name__ == "__main__":
    main()
