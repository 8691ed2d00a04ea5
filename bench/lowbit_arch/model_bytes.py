#!/usr/bin/env python3
"""Deployed model bytes of a frost checkpoint for bench/lowbit.

Counts what an inference engine stores, the same way for every row:
  - each conv/linear weight tensor at its packed width: FP32 32 bits, affine B bits
    (int4 as 4 bits), binary 1 bit, ternary 2 bits per weight;
  - per output channel of a quantized layer one FP32 scale (TTQ: plus its two int8 levels,
    the weights of a +1 and a -1 code, as frost's int8 file stores them);
  - per output channel of every conv/linear one FP32 bias (BN folded into it).
Activation quantization parameters (a few bytes per layer) are left out.
The first and the last conv/linear layer (layer-list order) are 8-bit under the binary and
ternary schemes (docs/lowbit.md); `--edge-bits` changes that. `--dw-bits` gives the
depthwise convs (groups > 1) their own width (bench/lowbit keeps them 8-bit in the binary
rows of FrostNet-S through a quant config).

k-means (`--kmeans-bits TOTAL`): the weights cost TOTAL bits (the index + gap + codebook
total of `frost compress`'s size report, Huffman-coded or plain), plus the FP32 biases.

`--eight REGEX` makes the layers whose names match 8-bit (ResNet-20's 1x1 projection
shortcuts in the Bi-Real-start rows).

usage: model_bytes.py CKPT --bits B [--edge-bits E] [--dw-bits D] [--eight RE] [--ttq] | CKPT --kmeans-bits TOTAL
Prints: bytes  lowbit-layers  weights-in-lowbit-layers  total-weights
"""
import argparse
import json
import re
import struct


def read_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def weight_layers(header):
    """(name, weights, out channels, depthwise) of every conv/linear, in layer order."""
    arch = json.loads(header["__metadata__"]["frost.arch"])
    out = []
    for layer in arch["layers"]:
        if layer["op"] not in ("conv", "linear"):
            continue
        name = layer["name"]
        t = header.get(name + ".weight") or header.get(name + ".weight.kmeans_idx")
        n = 1
        for d in t["shape"]:
            n *= d
        out.append((name, n, layer["out"], layer.get("groups", 1) > 1))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--edge-bits", type=int, default=None)
    ap.add_argument("--dw-bits", type=int, default=None)
    ap.add_argument("--ttq", action="store_true")
    ap.add_argument("--eight", default=None,
                    help="regex: layers whose names match are 8-bit (e.g. kept projections)")
    ap.add_argument("--kmeans-bits", type=float, default=None)
    a = ap.parse_args()
    layers = weight_layers(read_header(a.ckpt))
    total_w = sum(n for _, n, _, _ in layers)
    bias_bits = sum(32 * c for _, _, c, _ in layers)
    if a.kmeans_bits is not None:
        print(int(round((a.kmeans_bits + bias_bits) / 8)), len(layers), total_w, total_w)
        return
    bits = 0
    low, low_w = 0, 0
    for i, (name, n, c, dw) in enumerate(layers):
        edge = i == 0 or i == len(layers) - 1
        b = a.edge_bits if (edge and a.edge_bits is not None) else a.bits
        if dw and not edge and a.dw_bits is not None:
            b = a.dw_bits
        if a.eight and re.search(a.eight, name):
            b = 8
        bits += n * b
        if b < 32:
            bits += c * (32 + (16 if (a.ttq and b < 8) else 0))
        if b < 8:
            low += 1
            low_w += n
    print(int(round((bits + bias_bits) / 8)), low, low_w, total_w)


if __name__ == "__main__":
    main()
