#!/usr/bin/python3
"""Build a PyTorch module from a frost architecture JSON (docs/architecture-json.md).

Used by the benchmarks (bench/torch_train_speed.py) and by parity tests, so it maps
every op of the format exactly, including the details that differ from PyTorch's
habits:

  * frost tensors are NHWC; the module works in NCHW (and runs fine on channels_last
    tensors). Layers whose output frost calls 1x1xC (gap, linear, flatten) are kept as
    [N, C, 1, 1] here so every op sees a 4-D tensor.
  * `linear` and `flatten` flatten in frost's H,W,C order (permute to NHWC first), so
    frost's [out, in] linear weights load unchanged.
  * conv weights are OHWI in frost and OIHW in PyTorch: load_frost_tensors() and
    frost_tensors() transpose them.
  * avgpool excludes padding from the count (count_include_pad=False).

Command line:
  torch_arch.py ARCH.json [--expect-params N] [--expect-macs M]
      prints the parameter count and MACs per image of the built module; exits 1 if
      an expectation does not hold.
  torch_arch.py --self-test
      checks every op against hand-computed values.
"""

import argparse
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

OPS = ("conv", "bn", "act", "maxpool", "avgpool", "gap", "linear", "add", "concat",
       "dropout", "flatten")

# Fields each op accepts (besides name/op/in), so a typo is refused, as frost does.
FIELDS = {
    "conv": {"out", "k", "stride", "pad", "groups", "bias"},
    "bn": {"eps", "momentum"},
    "act": {"fn"},
    "maxpool": {"k", "stride", "pad"},
    "avgpool": {"k", "stride", "pad"},
    "gap": set(),
    "linear": {"out", "bias"},
    "add": set(),
    "concat": set(),
    "dropout": {"p"},
    "flatten": set(),
}


class ArchError(ValueError):
    """An architecture the format does not allow; the message names the layer."""


def _module_key(name):
    # nn.Module children may not contain dots; frost layer names do ("stem.conv").
    return name.replace(".", "__")


def _act_module(fn, inplace, where):
    if fn == "relu":
        return nn.ReLU(inplace=inplace)
    if fn == "relu6":
        return nn.ReLU6(inplace=inplace)
    if fn == "hswish":
        return nn.Hardswish(inplace=inplace)   # x * relu6(x + 3) / 6
    if fn == "hsigmoid":
        return nn.Hardsigmoid(inplace=inplace)  # relu6(x + 3) / 6
    if fn == "identity":
        return nn.Identity()
    raise ArchError(f"{where}: unknown activation fn '{fn}'")


def _int_field(layer, key, default, where):
    v = layer.get(key, default)
    if v is None:
        raise ArchError(f"{where}: missing field '{key}'")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ArchError(f"{where}: field '{key}' must be an integer")
    return int(v)


def _float_field(layer, key, default, where):
    v = layer.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ArchError(f"{where}: field '{key}' must be a number")
    return float(v)


def _bool_field(layer, key, default, where):
    v = layer.get(key, default)
    if not isinstance(v, bool):
        raise ArchError(f"{where}: field '{key}' must be true or false")
    return v


def _pool_out(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


class FrostArchNet(nn.Module):
    """A frost architecture as an nn.Module. forward(x: [N, C, H, W]) -> logits [N, classes].

    self.nodes lists, in order, dicts with the layer's name, op, input names, output
    shape (h, w, c), MACs per image (frost's count: conv OH*OW*Cout*k*k*Cin/groups,
    linear in*out) and the key of its module (None for add/concat/flatten).
    """

    def __init__(self, arch, inplace_act=True):
        super().__init__()
        if arch.get("format", "frost-arch") != "frost-arch":
            raise ArchError("architecture: 'format' must be 'frost-arch'")
        inp = arch.get("input")
        if not isinstance(inp, dict):
            raise ArchError("architecture: missing 'input' {h, w, c}")
        self.arch_name = arch.get("name", "")
        self.in_shape = (_int_field(inp, "h", None, "input"), _int_field(inp, "w", None, "input"),
                         _int_field(inp, "c", None, "input"))
        self.classes = _int_field(arch, "classes", None, "architecture")
        layers = arch.get("layers")
        if not isinstance(layers, list) or not layers:
            raise ArchError("architecture: 'layers' must be a non-empty list")

        self.layers = nn.ModuleDict()
        self.nodes = []
        self._want_inplace = {}  # act layer name -> its input, decided after all layers
        shapes = {"input": self.in_shape}
        prev = "input"
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise ArchError(f"layer {i}: not an object")
            name = layer.get("name")
            if not isinstance(name, str) or not name:
                raise ArchError(f"layer {i}: missing 'name'")
            if name in shapes:
                raise ArchError(f"layer '{name}': duplicate name")
            op = layer.get("op")
            if op not in OPS:
                raise ArchError(f"layer '{name}': unknown op '{op}'")
            extra = set(layer) - FIELDS[op] - {"name", "op", "in"}
            if extra:
                raise ArchError(f"layer '{name}': unknown field(s) {sorted(extra)} for op {op}")
            ins = layer.get("in", [prev])
            if isinstance(ins, str):
                ins = [ins]
            if not isinstance(ins, list) or not ins:
                raise ArchError(f"layer '{name}': 'in' must be a list of layer names")
            for src in ins:
                if src not in shapes:
                    raise ArchError(f"layer '{name}': input '{src}' is not an earlier layer")
            node = self._build(name, op, layer, ins, [shapes[s] for s in ins], inplace_act)
            shapes[name] = node["shape"]
            self.nodes.append(node)
            prev = name

        last = self.nodes[-1]["shape"]
        if last != (1, 1, self.classes):
            raise ArchError(f"layer '{prev}': the output is {last[0]}x{last[1]}x{last[2]}, "
                            f"the model needs 1x1x{self.classes} (classes)")
        self._mark_inplace_safety()

    # -- building -------------------------------------------------------------------------
    def _build(self, name, op, layer, ins, in_shapes, inplace_act):
        where = f"layer '{name}'"
        if op == "add" and len(ins) != 2:
            raise ArchError(f"{where}: add takes exactly 2 inputs")
        if op == "concat" and len(ins) < 2:
            raise ArchError(f"{where}: concat takes at least 2 inputs")
        if op not in ("add", "concat") and len(ins) != 1:
            raise ArchError(f"{where}: {op} takes one input")
        h, w, c = in_shapes[0]
        key = _module_key(name)
        module = None
        macs = 0
        if op == "conv":
            out = _int_field(layer, "out", None, where)
            k = _int_field(layer, "k", None, where)
            stride = _int_field(layer, "stride", 1, where)
            pad = _int_field(layer, "pad", k // 2, where)
            groups = _int_field(layer, "groups", 1, where)
            bias = _bool_field(layer, "bias", False, where)
            if out < 1 or k < 1 or stride < 1 or pad < 0 or groups < 1:
                raise ArchError(f"{where}: out, k, stride, groups must be >= 1 and pad >= 0")
            if c % groups or out % groups:
                raise ArchError(f"{where}: groups {groups} must divide in {c} and out {out}")
            oh, ow = _pool_out(h, k, stride, pad), _pool_out(w, k, stride, pad)
            if oh < 1 or ow < 1:
                raise ArchError(f"{where}: a {k}x{k} kernel does not fit a {h}x{w} input")
            module = nn.Conv2d(c, out, k, stride=stride, padding=pad, groups=groups, bias=bias)
            shape = (oh, ow, out)
            macs = oh * ow * out * k * k * (c // groups)
        elif op == "bn":
            eps = _float_field(layer, "eps", 1e-5, where)
            momentum = _float_field(layer, "momentum", 0.1, where)
            module = nn.BatchNorm2d(c, eps=eps, momentum=momentum)
            shape = (h, w, c)
        elif op == "act":
            fn = layer.get("fn")
            module = _act_module(fn, False, where)
            shape = (h, w, c)
            if inplace_act and fn != "identity":
                self._want_inplace[name] = ins[0]
        elif op in ("maxpool", "avgpool"):
            k = _int_field(layer, "k", None, where)
            stride = _int_field(layer, "stride", k, where)
            pad = _int_field(layer, "pad", 0, where)
            if k < 1 or stride < 1 or pad < 0:
                raise ArchError(f"{where}: k, stride must be >= 1 and pad >= 0")
            if 2 * pad > k:
                # PyTorch refuses pad > k/2, and such a window could be all padding.
                raise ArchError(f"{where}: pad {pad} is more than half the kernel {k}")
            oh, ow = _pool_out(h, k, stride, pad), _pool_out(w, k, stride, pad)
            if oh < 1 or ow < 1:
                raise ArchError(f"{where}: a {k}x{k} window does not fit a {h}x{w} input")
            if op == "maxpool":
                module = nn.MaxPool2d(k, stride=stride, padding=pad)
            else:
                module = nn.AvgPool2d(k, stride=stride, padding=pad, count_include_pad=False)
            shape = (oh, ow, c)
        elif op == "gap":
            module = nn.AdaptiveAvgPool2d(1)
            shape = (1, 1, c)
        elif op == "linear":
            out = _int_field(layer, "out", None, where)
            bias = _bool_field(layer, "bias", True, where)
            if out < 1:
                raise ArchError(f"{where}: out must be >= 1")
            module = nn.Linear(h * w * c, out, bias=bias)
            shape = (1, 1, out)
            macs = h * w * c * out
        elif op == "add":
            if in_shapes[0] != in_shapes[1]:
                raise ArchError(f"{where}: add inputs differ in shape {in_shapes[0]} vs "
                                f"{in_shapes[1]}")
            shape = (h, w, c)
        elif op == "concat":
            for s in in_shapes[1:]:
                if s[:2] != (h, w):
                    raise ArchError(f"{where}: concat inputs differ in size {in_shapes[0][:2]} "
                                    f"vs {s[:2]}")
            shape = (h, w, sum(s[2] for s in in_shapes))
        elif op == "dropout":
            p = _float_field(layer, "p", 0.5, where)
            if not 0.0 <= p < 1.0:
                raise ArchError(f"{where}: p must be in [0, 1)")
            module = nn.Dropout(p)
            shape = (h, w, c)
        else:  # flatten
            shape = (1, 1, h * w * c)
        if module is not None:
            self.layers[key] = module
        return {"name": name, "op": op, "in": list(ins), "shape": shape, "macs": macs,
                "key": key if module is not None else None}

    def _mark_inplace_safety(self):
        """Lets an activation overwrite its input when nothing else reads that input.

        In-place activations are what torchvision uses and save memory traffic, so the
        speed benchmark gets PyTorch's fast path. The model input and tensors with
        several consumers are never overwritten; autograd's version counters would
        catch any remaining unsafe case at backward time.
        """
        consumers = {}
        for node in self.nodes:
            for src in node["in"]:
                consumers[src] = consumers.get(src, 0) + 1
        for name, src in self._want_inplace.items():
            if src != "input" and consumers.get(src, 0) == 1:
                self.layers[_module_key(name)].inplace = True

    # -- running --------------------------------------------------------------------------
    def forward(self, x):
        n = x.shape[0]
        values = {"input": x}
        remaining = {}
        for node in self.nodes:
            for src in node["in"]:
                remaining[src] = remaining.get(src, 0) + 1
        for node in self.nodes:
            op = node["op"]
            args = [values[s] for s in node["in"]]
            if op == "add":
                y = args[0] + args[1]
            elif op == "concat":
                y = torch.cat(args, dim=1)
            elif op == "flatten":
                y = _flatten_hwc(args[0]).reshape(n, -1, 1, 1)
            elif op == "linear":
                y = self.layers[node["key"]](_flatten_hwc(args[0])).reshape(n, -1, 1, 1)
            else:
                y = self.layers[node["key"]](args[0])
            # Drop references to tensors no later layer reads (autograd keeps what it needs).
            for src in node["in"]:
                remaining[src] -= 1
                if remaining[src] == 0 and src != "input":
                    del values[src]
            values[node["name"]] = y
        return values[self.nodes[-1]["name"]].reshape(n, self.classes)

    # -- bookkeeping ----------------------------------------------------------------------
    def param_count(self):
        """Trainable parameters (BN running statistics are buffers, not counted)."""
        return sum(p.numel() for p in self.parameters())

    def macs(self):
        return sum(node["macs"] for node in self.nodes)

    def weight_decay_groups(self):
        """Parameters split as frost's optimizer does: conv/linear weights, depthwise conv
        weights (groups == in == out channels > 1), and 1-D parameters (biases, BN)."""
        weights, depthwise, one_d = [], [], []
        for node in self.nodes:
            if node["key"] is None:
                continue
            mod = self.layers[node["key"]]
            for pname, p in mod.named_parameters(recurse=False):
                if p.dim() == 1:
                    one_d.append(p)
                elif isinstance(mod, nn.Conv2d) and _is_depthwise(mod):
                    depthwise.append(p)
                else:
                    weights.append(p)
        return weights, depthwise, one_d

    def frost_tensors(self):
        """Parameters and BN statistics under frost's names and layouts (numpy arrays)."""
        out = {}
        for node in self.nodes:
            if node["key"] is None:
                continue
            mod = self.layers[node["key"]]
            for pname, t in list(mod.named_parameters(recurse=False)) + \
                    list(mod.named_buffers(recurse=False)):
                if pname == "num_batches_tracked":
                    continue
                t = t.detach()
                if isinstance(mod, nn.Conv2d) and pname == "weight":
                    t = t.permute(0, 2, 3, 1)  # OIHW -> OHWI
                out[f"{node['name']}.{pname}"] = t.contiguous().cpu().numpy()
        return out

    def load_frost_tensors(self, tensors, strict=True):
        """Copies frost-named tensors (numpy arrays or tensors, frost layouts) in."""
        seen = set()
        with torch.no_grad():
            for node in self.nodes:
                if node["key"] is None:
                    continue
                mod = self.layers[node["key"]]
                for pname, t in list(mod.named_parameters(recurse=False)) + \
                        list(mod.named_buffers(recurse=False)):
                    if pname == "num_batches_tracked":
                        continue
                    fname = f"{node['name']}.{pname}"
                    if fname not in tensors:
                        if strict:
                            raise KeyError(f"tensor '{fname}' missing")
                        continue
                    src = torch.as_tensor(tensors[fname], dtype=t.dtype)
                    if isinstance(mod, nn.Conv2d) and pname == "weight":
                        src = src.permute(0, 3, 1, 2)  # OHWI -> OIHW
                    if tuple(src.shape) != tuple(t.shape):
                        raise ValueError(f"tensor '{fname}': shape {tuple(src.shape)}, "
                                         f"the model needs {tuple(t.shape)}")
                    t.copy_(src)
                    seen.add(fname)
        if strict:
            unknown = set(tensors) - seen
            if unknown:
                raise KeyError(f"tensors not in the model: {sorted(unknown)[:5]}")


def _is_depthwise(conv):
    return conv.groups > 1 and conv.groups == conv.in_channels == conv.out_channels


def _flatten_hwc(x):
    # frost flattens NHWC rows in H, W, C order; a permute gives the same order from NCHW.
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)


def from_json(arch, inplace_act=True):
    """arch: a dict, a JSON string, or a path to a JSON file."""
    if isinstance(arch, str):
        if arch.lstrip().startswith("{"):
            arch = json.loads(arch)
        else:
            with open(arch, encoding="utf-8") as f:
                arch = json.load(f)
    return FrostArchNet(arch, inplace_act=inplace_act)


# -- self test ------------------------------------------------------------------------------
def _close(a, b, tol=1e-5):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float32),
                          torch.as_tensor(b, dtype=torch.float32), atol=tol, rtol=tol)


def _self_test():
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    # 1. The docs/architecture-json.md example: shapes, params, MACs by hand.
    tiny = {
        "format": "frost-arch", "version": 1, "name": "tiny",
        "input": {"h": 28, "w": 28, "c": 1}, "classes": 10,
        "layers": [
            {"name": "stem.conv", "op": "conv", "in": ["input"], "out": 16, "k": 3, "stride": 1,
             "pad": 1, "groups": 1, "bias": False},
            {"name": "stem.bn", "op": "bn", "in": ["stem.conv"], "eps": 1e-5, "momentum": 0.1},
            {"name": "stem.act", "op": "act", "in": ["stem.bn"], "fn": "relu"},
            {"name": "b1.dw.conv", "op": "conv", "in": ["stem.act"], "out": 16, "k": 3,
             "stride": 1, "pad": 1, "groups": 16, "bias": False},
            {"name": "b1.add", "op": "add", "in": ["b1.dw.conv", "stem.act"]},
            {"name": "b1.cat", "op": "concat", "in": ["b1.add", "stem.act"]},
            {"name": "pool", "op": "gap", "in": ["b1.cat"]},
            {"name": "drop", "op": "dropout", "in": ["pool"], "p": 0.2},
            {"name": "fc", "op": "linear", "in": ["drop"], "out": 10, "bias": True},
        ],
    }
    net = from_json(tiny)
    # conv 16*9*1 + bn 32 + dw 16*9 + fc 32*10+10
    check(net.param_count() == 144 + 32 + 144 + 330, f"tiny params {net.param_count()} == 650")
    check(net.macs() == 28 * 28 * 16 * 9 + 28 * 28 * 16 * 9 + 320,
          f"tiny MACs {net.macs()} == 226112")
    check(net.layers["stem__act"].inplace, "relu on a BN output read once is in-place")
    shared = from_json({"input": {"h": 2, "w": 2, "c": 2}, "classes": 2, "layers": [
        {"name": "c", "op": "conv", "out": 2, "k": 1},
        {"name": "a", "op": "act", "fn": "relu6"},
        {"name": "s", "op": "add", "in": ["a", "c"]},
        {"name": "g", "op": "gap"}]})
    check(not shared.layers["a"].inplace, "relu6 on a tensor read twice is not in-place")
    xs = torch.randn(2, 2, 2, 2)
    shared.load_frost_tensors({"c.weight": torch.eye(2).reshape(2, 1, 1, 2).numpy()})
    check(_close(shared(xs), (xs.clamp(0, 6) + xs).mean((2, 3))), "add of relu6 and its input")
    y = net(torch.randn(4, 1, 28, 28))
    check(tuple(y.shape) == (4, 10), "tiny logits shape [4, 10]")
    y.sum().backward()  # no autograd version error
    net_cl = from_json(tiny).to(memory_format=torch.channels_last)
    net_cl.load_state_dict(net.state_dict())
    net.eval(), net_cl.eval()
    x = torch.randn(3, 1, 28, 28)
    check(_close(net(x), net_cl(x.contiguous(memory_format=torch.channels_last)), 1e-4),
          "channels_last gives the same logits")

    # 2. Linear flattens in H,W,C order: input 1x2x2 channels... use a 2x1x2 (h,w,c) map.
    lin = from_json({"input": {"h": 2, "w": 1, "c": 2}, "classes": 4, "layers": [
        {"name": "fc", "op": "linear", "out": 4, "bias": False}]})
    # frost row order for x[h][w][c]: (h0,c0), (h0,c1), (h1,c0), (h1,c1)
    lin.load_frost_tensors({"fc.weight": torch.eye(4).numpy()})
    x = torch.tensor([[[[1.0], [2.0]], [[10.0], [20.0]]]])  # NCHW: c0=[1,2], c1=[10,20]
    check(_close(lin(x), [[1.0, 10.0, 2.0, 20.0]]), "linear flattens in H,W,C order")
    flat = from_json({"input": {"h": 2, "w": 1, "c": 2}, "classes": 4, "layers": [
        {"name": "f", "op": "flatten"}]})
    check(_close(flat(x), [[1.0, 10.0, 2.0, 20.0]]), "flatten in H,W,C order")

    # 3. Conv weights: OHWI in, same numbers as a hand-computed correlation.
    conv = from_json({"input": {"h": 2, "w": 2, "c": 2}, "classes": 1, "layers": [
        {"name": "c", "op": "conv", "out": 1, "k": 2, "pad": 0, "bias": True}]})
    w_ohwi = torch.arange(8, dtype=torch.float32).reshape(1, 2, 2, 2)  # w[0][kh][kw][ci]
    conv.load_frost_tensors({"c.weight": w_ohwi.numpy(), "c.bias": [0.5]})
    xin = torch.arange(8, dtype=torch.float32).reshape(1, 2, 2, 2)  # NCHW
    want = sum(float(w_ohwi[0, i, j, ci]) * float(xin[0, ci, i, j])
               for i in range(2) for j in range(2) for ci in range(2)) + 0.5
    check(_close(conv(xin), [[want]]), f"conv OHWI weights load (want {want})")
    back = conv.frost_tensors()
    check(_close(back["c.weight"], w_ohwi), "frost_tensors gives OHWI back")

    # 4. Grouped conv with stride and padding: shape and param count.
    g = from_json({"input": {"h": 7, "w": 7, "c": 4}, "classes": 6, "layers": [
        {"name": "c", "op": "conv", "out": 6, "k": 3, "stride": 2, "pad": 1, "groups": 2},
        {"name": "p", "op": "gap"}]})
    check(g.nodes[0]["shape"] == (4, 4, 6), "grouped conv 7x7 s2 p1 -> 4x4")
    check(g.param_count() == 6 * 3 * 3 * 2, "grouped conv params 108")
    check(g.nodes[0]["macs"] == 4 * 4 * 6 * 9 * 2, "grouped conv MACs")

    # 5. Average pool excludes padding: 2x2 input of ones-ish, k3 s1 p1.
    ap = from_json({"input": {"h": 2, "w": 2, "c": 1}, "classes": 4, "layers": [
        {"name": "a", "op": "avgpool", "k": 3, "stride": 1, "pad": 1},
        {"name": "f", "op": "flatten"}]})
    xa = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    check(_close(ap(xa), [[2.5, 2.5, 2.5, 2.5]]), "avgpool count_include_pad=False")
    mp = from_json({"input": {"h": 2, "w": 2, "c": 1}, "classes": 1, "layers": [
        {"name": "m", "op": "maxpool", "k": 2}]})
    check(_close(mp(-xa), [[-1.0]]), "maxpool k2 (stride defaults to k)")

    # 6. Activations, by hand at sample points.
    pts = torch.tensor([-4.0, -1.0, 0.5, 2.0, 7.0]).reshape(1, 5, 1, 1)
    want = {
        "relu": [0, 0, 0.5, 2, 7],
        "relu6": [0, 0, 0.5, 2, 6],
        "hswish": [0, -1 * 2 / 6, 0.5 * 3.5 / 6, 2 * 5 / 6, 7],
        "hsigmoid": [0, 2 / 6, 3.5 / 6, 5 / 6, 1],
        "identity": [-4, -1, 0.5, 2, 7],
    }
    for fn, vals in want.items():
        a = from_json({"input": {"h": 1, "w": 1, "c": 5}, "classes": 5, "layers": [
            {"name": "a", "op": "act", "fn": fn}]})
        check(_close(a(pts.clone()), [vals]), f"act {fn}")

    # 7. BN: eps and momentum reach the module; training uses batch stats.
    bn = from_json({"input": {"h": 1, "w": 1, "c": 1}, "classes": 1, "layers": [
        {"name": "b", "op": "bn", "eps": 1e-3, "momentum": 0.25}]})
    m = bn.layers["b"]
    check(m.eps == 1e-3 and m.momentum == 0.25, "bn eps/momentum")
    bn.train()
    out = bn(torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1)).flatten()
    s = (1.0 + 1e-3) ** -0.5
    check(_close(out, [-s, s]), "bn batch statistics")
    # running_var uses the unbiased variance (2): 0.75*1 + 0.25*2
    check(_close(m.running_var, [1.25]) and _close(m.running_mean, [0.5]),
          "bn running stats (momentum 0.25)")

    # 8. Dropout: train scales kept values by 1/(1-p); eval is identity.
    d = from_json({"input": {"h": 1, "w": 1, "c": 1000}, "classes": 1000, "layers": [
        {"name": "d", "op": "dropout", "p": 0.5}]})
    d.train()
    yd = d(torch.ones(1, 1000, 1, 1))
    vals = set(yd.unique().tolist())
    check(vals <= {0.0, 2.0} and 300 < int((yd > 0).sum()) < 700, "dropout p=0.5 train")
    d.eval()
    check(_close(d(torch.ones(1, 1000, 1, 1)), torch.ones(1, 1000)), "dropout eval identity")

    # 9. Concat order and the weight-decay groups.
    cat = from_json({"input": {"h": 1, "w": 1, "c": 2}, "classes": 5, "layers": [
        {"name": "c1", "op": "conv", "out": 3, "k": 1},
        {"name": "cat", "op": "concat", "in": ["c1", "input"]}]})
    cat.load_frost_tensors({"c1.weight": torch.ones(3, 1, 1, 2).numpy()})
    check(_close(cat(torch.tensor([[[[1.0]], [[2.0]]]])), [[3, 3, 3, 1, 2]]),
          "concat takes inputs in order")
    groups = from_json({"input": {"h": 4, "w": 4, "c": 8}, "classes": 3, "layers": [
        {"name": "dw", "op": "conv", "out": 8, "k": 3, "groups": 8},
        {"name": "bn", "op": "bn"},
        {"name": "pw", "op": "conv", "out": 8, "k": 1},
        {"name": "gap", "op": "gap"},
        {"name": "fc", "op": "linear", "out": 3}]}).weight_decay_groups()
    check([len(x) for x in groups] == [2, 1, 3], "weight-decay groups: 2 weights, 1 dw, 3 1-D")

    # 10. Bad architectures are refused, naming the layer.
    bad = [
        ({"op": "conv", "name": "c", "out": 4, "k": 3, "groups": 3}, "'c'"),
        ({"op": "warp", "name": "w"}, "'w'"),
        ({"op": "act", "name": "a", "fn": "gelu"}, "'a'"),
        ({"op": "add", "name": "s", "in": ["input", "nope"]}, "'s'"),
        ({"op": "bn", "name": "b", "epsilon": 1}, "'b'"),
    ]
    for layer, needle in bad:
        try:
            from_json({"input": {"h": 4, "w": 4, "c": 2}, "classes": 2, "layers": [layer]})
            check(False, f"refuses {layer}")
        except ArchError as e:
            check(needle in str(e), f"refuses {layer['op']}: {e}")

    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
    return 1 if failures else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("arch", nargs="?", help="architecture JSON file")
    ap.add_argument("--expect-params", type=int, help="fail unless the param count equals N")
    ap.add_argument("--expect-macs", type=int, help="fail unless MACs/image equal M")
    ap.add_argument("--self-test", action="store_true", help="check every op by hand")
    args = ap.parse_args(argv)
    if args.self_test:
        return _self_test()
    if not args.arch:
        ap.error("an architecture JSON file (or --self-test) is required")
    try:
        net = from_json(args.arch)
    except (ArchError, OSError, json.JSONDecodeError) as e:
        print(f"torch_arch: {args.arch}: {e}", file=sys.stderr)
        return 1
    params, macs = net.param_count(), net.macs()
    print(f"{net.arch_name or args.arch}: params {params} macs {macs}")
    status = 0
    if args.expect_params is not None and params != args.expect_params:
        print(f"torch_arch: param count {params} != expected {args.expect_params}",
              file=sys.stderr)
        status = 1
    if args.expect_macs is not None and macs != args.expect_macs:
        print(f"torch_arch: MACs {macs} != expected {args.expect_macs}", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
