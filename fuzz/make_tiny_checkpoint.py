#!/usr/bin/env python3
"""A 1 KB float checkpoint (4x4x1 input, conv-BN-ReLU, pooling, linear, 10 classes) for
fuzz/make_seeds.sh: small inputs mutate and run faster than the 28 KB fixtures, and frost
quantize / convert / export turn it into equally small .int8 and ONNX seeds."""
import json
import math
import struct
import sys

arch = {"format": "frost-arch", "version": 1, "name": "tiny", "input": {"h": 4, "w": 4, "c": 1},
        "classes": 10, "layers": [
            {"name": "c", "op": "conv", "out": 2, "k": 3, "stride": 1, "pad": 1},
            {"name": "b", "op": "bn"}, {"name": "a", "op": "act", "fn": "relu"},
            {"name": "g", "op": "gap"}, {"name": "fc", "op": "linear", "out": 10}]}
tensors = [("c.weight", [2, 3, 3, 1]), ("b.weight", [2]), ("b.bias", [2]), ("fc.weight", [10, 2]),
           ("fc.bias", [10]), ("b.running_mean", [2]), ("b.running_var", [2])]
header = {"__metadata__": {"format": "frost-checkpoint", "frost.version": "0.1.0",
                           "frost.arch": json.dumps(arch, separators=(",", ":"))}}
data = b""
for name, shape in tensors:
    n = math.prod(shape)
    ones = "var" in name or name == "b.weight"
    values = [1.0 if ones else 0.1 * (i % 5 - 2) for i in range(n)]
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
    data += struct.pack("<%df" % n, *values)
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
