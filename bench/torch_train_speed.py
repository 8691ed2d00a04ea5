#!/usr/bin/python3
"""PyTorch side of bench/train_speed: training images/s of a frost architecture JSON.

One training step = forward + softmax cross-entropy + backward + SGD step (momentum 0.9,
Nesterov, weight decay per frost's groups: conv/linear weights, depthwise weights, 1-D
parameters). The input is one fixed synthetic batch (N(0,1) pixels, uniform random
labels), made once, so no data loading is timed. The model runs in channels_last memory
format, the fastest PyTorch training setting on this machine (see
bench/README.md#peer-engines-and-their-settings); --memory-format contiguous gives NCHW.

--qat trains PyTorch's own quantization-aware model instead: FX graph mode
prepare_qat_fx with the onednn backend's default QAT qconfig mapping (per-channel
symmetric int8 weights, per-tensor uint8 activations, moving-average observers fused
with the fake-quant). It fuses conv+BN(+ReLU) into ConvBn(ReLU)2d, which folds the BN
into the fake-quantized weights in training as frost's QAT does; ReLU6 is not fused in
this PyTorch, so MobileNetV2's ReLU6 get their own fake-quant.

Standalone:  torch_train_speed.py --arch A.json [--repeats R --steps S ...]
             prints images/s per repeat and the median.
Served:      torch_train_speed.py --arch A.json --serve
             warms up, prints "ready params=N", then for each stdin line "run S" runs
             one untimed step and S timed ones and prints "result IMAGES_PER_S SECONDS";
             "quit" or end of input stops. bench/train_speed drives frost's and this
             worker alternately this way, so machine noise hits both.
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_arch  # noqa: E402  (needs the path above)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch training throughput of a frost arch")
    ap.add_argument("--arch", required=True, help="frost architecture JSON")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps before measuring")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--wd", type=float, default=4e-5, help="weight decay, conv/linear weights")
    ap.add_argument("--wd-depthwise", type=float, default=0.0)
    ap.add_argument("--wd-1d", type=float, default=0.0, help="weight decay, biases and BN")
    ap.add_argument("--memory-format", choices=("channels_last", "contiguous"),
                    default="channels_last")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--qat", action="store_true",
                    help="train PyTorch's QAT model (prepare_qat_fx, onednn qconfig)")
    ap.add_argument("--serve", action="store_true", help="take 'run S' commands on stdin")
    args = ap.parse_args(argv)
    for name in ("batch", "threads", "repeats", "steps"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        ap.error("--warmup must be >= 0")
    return args


def _prepare_qat(model, example, groups):
    """PyTorch's QAT model of `model` (FX graph mode, onednn qconfig). The fused modules
    keep the float model's parameter tensors, so the weight decay groups still hold;
    checked, since a PyTorch that copied them would silently train without decay."""
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    torch.backends.quantized.engine = "onednn"
    qat = prepare_qat_fx(model, get_default_qat_qconfig_mapping("onednn"),
                         example_inputs=(example,))
    grouped = {id(p) for group in groups for p in group}
    trained = {id(p) for p in qat.parameters()}
    if grouped != trained:
        raise ValueError("prepare_qat_fx replaced parameters: the weight decay groups no "
                         "longer match the model's parameters")
    return qat


class Trainer:
    """The model, optimizer and the fixed synthetic batch; step() is one training step."""

    def __init__(self, args):
        torch.manual_seed(args.seed)
        self.model = torch_arch.from_json(args.arch)
        h, w, c = self.model.in_shape
        self.classes = self.model.classes
        self.params = self.model.param_count()
        fmt = (torch.channels_last if args.memory_format == "channels_last"
               else torch.contiguous_format)
        self.model.train()
        self.batch = args.batch
        self.x = torch.randn(args.batch, c, h, w).contiguous(memory_format=fmt)
        self.y = torch.randint(0, self.classes, (args.batch,))
        weights, depthwise, one_d = self.model.weight_decay_groups()
        if args.qat:
            self.model = _prepare_qat(self.model, self.x, (weights, depthwise, one_d))
        self.model = self.model.to(memory_format=fmt)
        groups = [{"params": p, "weight_decay": wd} for p, wd in
                  ((weights, args.wd), (depthwise, args.wd_depthwise), (one_d, args.wd_1d)) if p]
        self.opt = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=True)

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss

    def timed(self, steps):
        """Images/s over `steps` steps, after one untimed step (lets the threads wake up
        again after the other framework's turn)."""
        self.step()
        t0 = time.perf_counter()
        for _ in range(steps):
            loss = self.step()
        seconds = time.perf_counter() - t0
        if not torch.isfinite(loss):
            raise RuntimeError(f"loss is {loss.item()} (diverged): lower --lr")
        return steps * self.batch / seconds, seconds


def serve(trainer):
    print(f"ready params={trainer.params}", flush=True)
    for line in iter(sys.stdin.readline, ""):
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "run" and len(words) == 2 and words[1].isdigit() and int(words[1]) > 0:
            ips, seconds = trainer.timed(int(words[1]))
            print(f"result {ips:.3f} {seconds:.6f}", flush=True)
        else:
            print(f"error unknown command '{line.strip()}'", flush=True)
            return 1
    return 0


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        trainer = Trainer(args)
    except (torch_arch.ArchError, OSError, ValueError) as e:
        print(f"torch_train_speed: {args.arch}: {e}", file=sys.stderr)
        return 1
    for _ in range(args.warmup):
        trainer.step()
    if args.serve:
        return serve(trainer)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"{args.memory_format}{', QAT' if args.qat else ''}, params {trainer.params}")
    rates = []
    for r in range(args.repeats):
        ips, seconds = trainer.timed(args.steps)
        rates.append(ips)
        print(f"repeat {r + 1}: {ips:.1f} img/s ({seconds:.3f} s for {args.steps} steps)")
    print(f"median {statistics.median(rates):.1f} img/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
