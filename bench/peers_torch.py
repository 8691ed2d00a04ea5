#!/usr/bin/python3
"""PyTorch side of bench/int8_latency: batch-1 latency of the models bench_int8_latency
prepared in DIR (<model>.json, BN already folded, and <model>.safetensors).

Engines, each in its fastest setting here (bench/README.md#peer-engines-and-their-settings):
  torch FP32            TorchScript trace + freeze + optimize_for_inference (oneDNN)
  torch INT8 onednn     FX post-training quantization (per-channel weights), onednn
                        engine, TorchScript trace + freeze
  torch INT8 qnnpack    the same with the qnnpack engine (per-tensor weights)
Calibration uses a few random images (the ranges do not change the kernels' speed).
Prints "model<TAB>engine<TAB>threads<TAB>median ms" per model, engine and thread count.
With --export-onnx it also writes DIR/<model>.onnx (FP32, opset 13) for ONNX Runtime.

  peers_torch.py DIR [--models "mobilenetv2 ..."] [--threads "1 2"] [--reps N]
                     [--engines fp32,qnnpack,onednn] [--export-onnx]
"""

import argparse
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_arch  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    dtypes = {"F32": np.float32, "I32": np.int32, "I8": np.int8, "U8": np.uint8}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[base + b:base + end], dtype=dtypes[e["dtype"]]).reshape(e["shape"])
    return out, header.get("__metadata__", {})


def load_model(d, name):
    m = torch_arch.from_json(os.path.join(d, name + ".json"), inplace_act=False)
    tensors, _ = read_safetensors(os.path.join(d, name + ".safetensors"))
    m.load_frost_tensors(tensors, strict=False)
    return m.eval()


def median_ms(fn, x, reps):
    with torch.no_grad():
        for _ in range(3):
            fn(x)
        t = []
        for _ in range(reps):
            s = time.perf_counter()
            fn(x)
            t.append((time.perf_counter() - s) * 1e3)
    return statistics.median(t)


def fp32_module(m, x):
    with torch.no_grad():
        s = torch.jit.freeze(torch.jit.trace(m, x))
        return torch.jit.optimize_for_inference(s)


def int8_module(m, x, engine):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = engine
    mapping = get_default_qconfig_mapping(engine)
    p = prepare_fx(m, mapping, example_inputs=(x,))
    with torch.no_grad():
        for _ in range(2):
            p(torch.randn_like(x))
    q = convert_fx(p)
    with torch.no_grad():
        return torch.jit.freeze(torch.jit.trace(q, x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--models", default="mobilenetv2 frostnet_s frostnet_b frostnet_l")
    ap.add_argument("--threads", default="1 2")
    ap.add_argument("--reps", type=int, default=30)
    # onednn last: creating a qnnpack model after an onednn one breaks the onednn one
    ap.add_argument("--engines", default="fp32,qnnpack,onednn")
    ap.add_argument("--export-onnx", action="store_true")
    a = ap.parse_args()
    for name in a.models.split():
        x = torch.randn(1, 3, 224, 224)
        m = load_model(a.dir, name)
        if a.export_onnx:
            torch.onnx.export(m, x, os.path.join(a.dir, name + ".onnx"), opset_version=13,
                              input_names=["input"], output_names=["logits"])
        mods = {}
        for e in [e for e in a.engines.split(",") if e]:
            mods[e] = fp32_module(load_model(a.dir, name), x) if e == "fp32" else \
                int8_module(load_model(a.dir, name), x, e)
        # engine by engine: switching the quantized engine back and forth breaks onednn
        for e, mod in mods.items():
            if e != "fp32":
                torch.backends.quantized.engine = e
            for t in a.threads.split():
                torch.set_num_threads(int(t))
                label = "torch FP32" if e == "fp32" else f"torch INT8 {e}"
                print(f"{name}\t{label}\t{t}\t{median_ms(mod, x, a.reps):.3f}", flush=True)


if __name__ == "__main__":
    main()
