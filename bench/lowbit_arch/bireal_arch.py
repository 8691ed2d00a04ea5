#!/usr/bin/env python3
"""Bi-Real Net's real-valued start for a frost architecture JSON (bench/lowbit).

Bi-Real Net (Liu et al., 2018) trains its real-valued network with the binary network's
topology: every binary conv reads clip(x, -1, 1) of a real activation x, and a real
identity shortcut adds x back after the conv's BN. Fine-tuning that network into a binary
one changes only what the convs see (sign(x) instead of clip(x)), not the graph.

From a binary-activation variant (binact_arch.py, ReLU -> identity) this script:
- puts an act node "<conv>.clip" (fn hardtanh) in front of every conv that will be binary
  (all but the first conv, the classifier, convs whose names match --keep, e.g. ResNet's
  1x1 projection shortcuts, and depthwise convs), so the clip touches only the conv's input;
- adds "<conv>.shortcut" = unit output + x after every such conv+BN unit whose input and
  output shapes agree (stride 1, as many output as input channels). frost's quantizer
  recognises these names and adds no second shortcut (docs/lowbit.md, Bi-Real shortcuts);
- drops a residual block's own identity add where its convs now carry the shortcuts.

usage: bireal_arch.py IN.json OUT.json NAME [--keep REGEX]
"""
import argparse
import json
import re


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("name")
    ap.add_argument("--keep", default=r"\.proj\.conv$",
                    help="regex of conv names that stay 8-bit (no clip, no shortcut)")
    args = ap.parse_args()
    with open(args.src) as f:
        arch = json.load(f)
    arch["name"] = args.name
    layers = arch["layers"]
    by_name = {l["name"]: l for l in layers}
    convs = [l for l in layers if l["op"] == "conv"]
    first = convs[0]["name"]
    keep = re.compile(args.keep)

    def consumers(name):
        return [l for l in layers if name in l.get("in", [])]

    def binary(conv):
        return (conv["name"] != first and not keep.search(conv["name"])
                and conv.get("groups", 1) == 1)

    out = []
    clips = shortcuts = 0
    pending = {}  # unit end name -> (shortcut node, conv input name)
    for l in layers:
        if l["op"] == "conv" and binary(l):
            x = l["in"][0]
            clip = {"name": l["name"] + ".clip", "op": "act", "in": [x], "fn": "hardtanh"}
            out.append(clip)
            by_name[clip["name"]] = clip
            l["in"] = [clip["name"]]
            clips += 1
            # the conv+BN(+act) unit: conv -> its only consumer bn -> an act after it
            nxt = consumers(l["name"])
            if len(nxt) == 1 and nxt[0]["op"] == "bn":
                end = nxt[0]
                after = consumers(end["name"])
                if len(after) == 1 and after[0]["op"] == "act":
                    end = after[0]
                same = l.get("stride", 1) == 1 and l["out"] == channels(by_name, x, arch)
                if same:
                    pending[end["name"]] = l["name"] + ".shortcut", x
        out.append(l)
        if l["name"] in pending:
            name, x = pending.pop(l["name"])
            for c in consumers(l["name"]):
                c["in"] = [name if i == l["name"] else i for i in c["in"]]
            add = {"name": name, "op": "add", "in": [l["name"], x]}
            out.append(add)
            by_name[name] = add
            shortcuts += 1
    dropped = drop_identity_adds(out) if shortcuts else 0
    arch["layers"] = out
    with open(args.dst, "w") as f:
        json.dump(arch, f, indent=1)
        f.write("\n")
    print(f"{args.dst}: {clips} clipped conv inputs, {shortcuts} real shortcuts, "
          f"{dropped} block identity adds dropped")


def drop_identity_adds(layers):
    """Remove the residual blocks' own identity adds whose first input already carries the
    block input through the per-conv shortcuts: keeping them would add x twice per block
    and grow the real path block by block. Adds of a projection (a BN output) stay."""
    by_name = {l["name"]: l for l in layers}
    dropped = 0
    for l in list(layers):
        if l["op"] != "add" or l["name"].endswith(".shortcut") or len(l["in"]) != 2:
            continue
        a, b = (by_name[i] for i in l["in"])
        if b["op"] == "bn" or not a["name"].endswith(".shortcut"):
            continue
        for c in layers:
            c["in"] = [a["name"] if i == l["name"] else i for i in c.get("in", [])]
        layers.remove(l)
        dropped += 1
    return dropped


def channels(by_name, name, arch):
    """Output channels of node `name` (walks back through channel-preserving nodes)."""
    if name == "input":
        return arch["input"]["c"]
    l = by_name[name]
    if l["op"] in ("conv", "linear"):
        return l["out"]
    return channels(by_name, l["in"][0], arch)


if __name__ == "__main__":
    main()
