#!/usr/bin/python3
"""Train a small mobile-style CNN on Fashion-MNIST in PyTorch and export it to ONNX.

    /usr/bin/python3 examples/pytorch/train_fmnist.py OUT.onnx [--epochs N] [--train-images N]

Reads the IDX files of Debian's dataset-fashion-mnist (no download), normalizes with the
usual torchvision values (mean 0.2860, std 0.3530: give frost import the same), trains with
fixed seeds, prints the test accuracy ("test accuracy: 88.12%") and exports ONNX opset 13 in
eval mode (BatchNorm kept: frost folds it). The model: conv-BN-ReLU stem, two
depthwise-separable blocks (the second with a residual add), a 1x1 expansion, global average
pool, linear classifier.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    """An IDX file (raw or .gz) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, prefix):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x[:, None, :, :].copy()), torch.from_numpy(labels.astype(np.int64))


def conv_bn_relu(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv-BN-ReLU, 1x1 pointwise conv-BN (+ the input when shapes agree)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = conv_bn_relu(cin, cin, 3, stride, groups=cin)
        self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.pw(self.dw(x))
        return x + y if self.residual else y


class SmallMobileNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = conv_bn_relu(1, 16, 3, 2)  # 14x14
        self.block1 = DepthwiseSeparable(16, 32, 2)  # 7x7
        self.block2 = DepthwiseSeparable(32, 32, 1)  # 7x7, residual add
        self.expand = conv_bn_relu(32, 64, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.expand(self.block2(self.block1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return 100.0 * correct / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the ONNX file to write")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--train-images", type=int, default=0, help="first N only (0: all 60000)")
    ap.add_argument("--data", default=DATA_DIR, help="folder with the Fashion-MNIST IDX files")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    xtr, ytr = load_split(args.data, "train")
    xte, yte = load_split(args.data, "t10k")
    if args.train_images > 0:
        xtr, ytr = xtr[: args.train_images], ytr[: args.train_images]

    model = SmallMobileNet()
    steps_per_epoch = (len(xtr) + 127) // 128
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.1, total_steps=args.epochs * steps_per_epoch
    )
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), 128):
            idx = order[i : i + 128]
            opt.zero_grad()
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(
            f"epoch {epoch + 1}/{args.epochs}: train loss {total / len(xtr):.4f}, "
            f"{time.time() - t0:.0f} s",
            flush=True,
        )

    model.eval()
    print(f"test accuracy: {accuracy(model, xte, yte):.2f}%")
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 28, 28),
        args.out,
        opset_version=13,
        input_names=["image"],
        output_names=["logits"],
        do_constant_folding=True,
        training=torch.onnx.TrainingMode.EVAL,
    )
    print(f"wrote {args.out} (ONNX opset 13, eval mode)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
