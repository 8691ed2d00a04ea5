#!/usr/bin/python3
"""Builds a QDQ int8 ONNX model from a frost .int8 file, for ONNX Runtime in
bench/int8_latency: the same network with the same integers (int8 per-channel weights,
int32 biases, uint8 activations with frost's scales and zero points), written as
QuantizeLinear / DequantizeLinear pairs around float ops, which ONNX Runtime's graph
optimizer turns into its integer kernels (QLinearConv, QLinearAdd, QLinearConcat, QGemm,
QLinearGlobalAveragePool). Fused clamps become Relu / Clip before the QuantizeLinear.

  peers_onnx_qdq.py MODEL.int8 OUT.onnx
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers_torch import read_safetensors  # noqa: E402


def build(path):
    tensors, meta = read_safetensors(path)
    g = json.loads(meta["frost.int8"])
    nodes, inits = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def qdq(src, i, scale, zp):
        s = const(f"s{i}", np.float32(scale))
        z = const(f"z{i}", np.uint8(zp))
        nodes.append(helper.make_node("QuantizeLinear", [src, s, z], [f"t{i}_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [f"t{i}_q", s, z], [f"t{i}"]))

    gn = g["nodes"]
    h, w, c = g["input"]
    out_name = None
    for i, n in enumerate(gn):
        op, name = n["op"], n["name"]
        ins = [f"t{j}" for j in n["in"]]
        if op == "quantize":
            qdq("input", i, n["scale"], n["zp"])
            continue
        if op in ("conv", "linear", "logits"):
            wq = tensors[name + ".weight"]
            ws = tensors[name + ".wscale"].astype(np.float32)
            x_scale = np.float32(gn[n["in"][0]]["scale"])
            cout = wq.shape[0]
            if op == "conv":
                cin_g = wq.shape[1] // (n["k"] * n["k"])
                wq = wq.reshape(cout, n["k"], n["k"], cin_g).transpose(0, 3, 1, 2)
            wn = const(f"w{i}_q", wq.astype(np.int8))
            nodes.append(helper.make_node(
                "DequantizeLinear", [wn, const(f"ws{i}", ws), const(f"wz{i}", np.zeros(cout, np.int8))],
                [f"w{i}"], axis=0))
            if op == "logits":
                b = const(f"b{i}", tensors[name + ".out_bias"].astype(np.float32))
            else:
                bq = const(f"b{i}_q", tensors[name + ".bias"].astype(np.int32))
                nodes.append(helper.make_node(
                    "DequantizeLinear", [bq, const(f"bs{i}", (x_scale * ws).astype(np.float32)),
                                         const(f"bz{i}", np.zeros(cout, np.int32))], [f"b{i}"], axis=0))
                b = f"b{i}"
            if op == "conv":
                k, p = n["k"], n["pad"]
                nodes.append(helper.make_node("Conv", [ins[0], f"w{i}", b], [f"c{i}"],
                                              kernel_shape=[k, k], strides=[n["stride"]] * 2,
                                              pads=[p] * 4, group=n["groups"]))
            else:
                nodes.append(helper.make_node("Flatten", [ins[0]], [f"f{i}"], axis=1))
                target = "logits" if op == "logits" else f"c{i}"
                nodes.append(helper.make_node("Gemm", [f"f{i}", f"w{i}", b], [target], transB=1))
                if op == "logits":
                    out_name = "logits"
                    continue
                nodes.append(helper.make_node("Reshape", [f"c{i}", const(f"r{i}", np.array([1, -1, 1, 1], np.int64))], [f"c{i}r"]))
                nodes.append(helper.make_node("Identity", [f"c{i}r"], [f"c{i}x"]))
            src = f"c{i}" if op == "conv" else f"c{i}x"
            zp, s = n["zp"], n["scale"]
            if n["lo"] > 0 or n["hi"] < 255:  # a fused clamp: ReLU, or ReLU6 when it cuts at 6
                lo = max(0.0, (n["lo"] - zp) * s)
                if n["hi"] < 255:
                    nodes.append(helper.make_node("Clip", [src, const(f"cl{i}", np.float32(lo)),
                                                           const(f"ch{i}", np.float32((n["hi"] - zp) * s))], [f"a{i}"]))
                else:
                    nodes.append(helper.make_node("Relu", [src], [f"a{i}"]))
                src = f"a{i}"
            qdq(src, i, s, zp)
        elif op == "add":
            nodes.append(helper.make_node("Add", ins, [f"c{i}"]))
            qdq(f"c{i}", i, n["scale"], n["zp"])
        elif op == "concat":
            nodes.append(helper.make_node("Concat", ins, [f"c{i}"], axis=1))
            qdq(f"c{i}", i, n["scale"], n["zp"])
        elif op == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", ins, [f"c{i}"]))
            qdq(f"c{i}", i, n["scale"], n["zp"])
        elif op in ("maxpool", "avgpool"):
            kw = dict(kernel_shape=[n["k"]] * 2, strides=[n["stride"]] * 2, pads=[n["pad"]] * 4)
            if op == "avgpool":
                kw["count_include_pad"] = 0
            nodes.append(helper.make_node("MaxPool" if op == "maxpool" else "AveragePool", ins,
                                          [f"c{i}"], **kw))
            qdq(f"c{i}", i, n["scale"], n["zp"])
        else:
            raise SystemExit(f"peers_onnx_qdq: op {op} ({name}) has no QDQ form here")
    if out_name is None:
        last = len(gn) - 1
        nodes.append(helper.make_node("Flatten", [f"t{last}"], ["logits"], axis=1))
    graph = helper.make_graph(
        nodes, g["name"], [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, g["classes"]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    onnx.save(build(sys.argv[1]), sys.argv[2])
