#!/usr/bin/python3
"""FP32 ONNX export (frost export CKPT --onnx F) against ONNX Runtime 1.30.

For every model of tests/export_models.c (the zoo at width 0.25 on 32x32x3, a
squeeze-excite model, the every-op model; random weights, BN statistics and biases):
  1. tests/ort/fp32_dump writes the checkpoint, a batch of random inputs and frost's FP32
     logits for them;
  2. `frost export CKPT --onnx F` writes the file (its one-line report is checked);
  3. the file passes onnx.checker (full check, with shape inference);
  4. ONNX Runtime (graphOptimizationLevel 'all', one thread) gives logits equal to frost's
     within 1e-4 of their scale (the largest |logit| of the batch).

Skips (exit 77) when node / npm, onnxruntime-node (installed with npm into --peers when
missing) or python3-onnx are not available. The ONNX Runtime plumbing (installing it,
tests/ort/run_ort.js) is check_qdq_ort.py's.

  check_onnx_export_ort.py --frost BIN --dump FP32_DUMP --work DIR --peers DIR [--models a,b]
"""

import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_qdq_ort as qdq  # noqa: E402  (ort_module, Ort)

SKIP = 77
MODELS = ["frostnet_s", "frostnet_b", "frostnet_l", "mobilenetv2", "mnasnet_b1", "resnet",
          "se", "mixed"]
IMAGES = 64
RTOL = 1e-4


def skip(why):
    print(f"check_onnx_export_ort: SKIPPED: {why}")
    sys.exit(SKIP)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"check_onnx_export_ort: {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return r.stdout


def check_model(args, ort, name):
    import numpy as np
    import onnx

    work = args.work
    c, h, w, classes = map(int, run([args.dump, name, work, str(IMAGES)]).split())
    ckpt, path = os.path.join(work, f"{name}.safetensors"), os.path.join(work, f"{name}.onnx")
    line = run([args.frost, "export", ckpt, "--onnx", path]).strip()
    want = f"input float32 [N, {c}, {h}, {w}] NCHW, output float32 [N, {classes}]"
    if "FP32 ONNX (opset 13)" not in line or want not in line:
        raise SystemExit(f"check_onnx_export_ort: {name}: unexpected report: {line}")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    out = os.path.join(work, f"{name}.ort.f32")
    ort.run([{"model": path,
              "inputs": {"input": {"file": os.path.join(work, f"{name}.input.f32"),
                                   "dtype": "float32", "shape": [IMAGES, c, h, w]}},
              "outputs": {"logits": out}}])
    got = np.fromfile(out, dtype=np.float32).reshape(IMAGES, classes)
    ref = np.fromfile(os.path.join(work, f"{name}.logits.f32"),
                      dtype=np.float32).reshape(IMAGES, classes)
    scale = float(np.abs(ref).max())
    err = float(np.abs(got.astype(np.float64) - ref).max()) / max(scale, 1e-30)
    ops = sorted({n.op_type for n in model.graph.node})
    agree = float((got.argmax(1) == ref.argmax(1)).mean()) * 100
    print(f"{name:12s} {len(model.graph.node):4d} ONNX nodes, max |ORT - frost| = "
          f"{err:.2e} of the output scale {scale:.3g}, top-1 agreement {agree:.1f}% "
          f"({', '.join(ops)})", flush=True)
    if not err <= RTOL:
        raise SystemExit(f"check_onnx_export_ort: {name}: ONNX Runtime differs from frost by "
                         f"{err:.2e} of the output scale (limit {RTOL:g})")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frost", required=True)
    p.add_argument("--dump", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--peers", required=True)
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args()
    args.work, args.peers = os.path.abspath(args.work), os.path.abspath(args.peers)
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as e:
        skip(f"python3-onnx / numpy missing ({e})")
    if not shutil.which("node") or not shutil.which("npm"):
        skip("node / npm not on PATH (ONNX Runtime is onnxruntime-node from npm)")
    module = qdq.ort_module(args.peers)
    os.makedirs(args.work, exist_ok=True)
    ort = qdq.Ort(module, args.work)
    for name in args.models.split(","):
        check_model(args, ort, name)
    print("check_onnx_export_ort: all models passed")


if __name__ == "__main__":
    main()
