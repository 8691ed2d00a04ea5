#!/usr/bin/env bash
# From PyTorch to int8: train a small mobile CNN on Fashion-MNIST in PyTorch, export ONNX,
# import it into frost, check its FP32 accuracy against PyTorch's, quantize it (PTQ on real
# training images), convert it to an int8 model with the int8-vs-FP32 report (top-1
# agreement, per-layer SQNR), benchmark both, fine-tune the imported model with QAT and
# convert that too, then export the int8 model (ONNX QDQ, C for a microcontroller).
#   examples/pytorch/run.sh [OUTDIR] [--epochs N] [--train-images N] [--qat-limit N]
#                           [--calib N] [--sqnr-images N] [--threads N] [--frost PATH]
#                           [--reuse-onnx]
# OUTDIR: where the files go (default runs/pytorch). Needs Debian's PyTorch in
# /usr/bin/python3 and a built frost (scripts/build). Defaults: 3 PyTorch epochs on all
# 60,000 training images, calibration on 2048, QAT on 20,000, SQNR on 256 test images.
# --threads N: frost's threads for eval, quantize and train (default 1: on a shared, loaded
# machine a 2-thread team waits at every barrier for a descheduled thread, 100x slower).
# --reuse-onnx: skip step 1 and take OUTDIR/fmnist.onnx and OUTDIR/pytorch.log (the output
# of an earlier step 1, which holds PyTorch's test accuracy).
# Exits 1 when a step fails or frost's FP32 accuracy differs from PyTorch's by more than
# 0.05 points.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=runs/pytorch epochs=3 train_images=0 qat_limit=20000 calib=2048 sqnr_images=256
frost=$root/build/frost reuse=0 threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    --train-images) train_images=$2; shift 2 ;;
    --qat-limit) qat_limit=$2; shift 2 ;;
    --calib) calib=$2; shift 2 ;;
    --sqnr-images) sqnr_images=$2; shift 2 ;;
    --frost) frost=$2; shift 2 ;;
    --reuse-onnx) reuse=1; shift ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
mkdir -p "$out"
step() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

onnx=$out/fmnist.onnx ckpt=$out/fmnist.safetensors
if [ "$reuse" = 1 ]; then
  step "1. (reused) PyTorch training and ONNX export from an earlier run: $onnx"
  cat "$out/pytorch.log"
else
  step "1. train in PyTorch ($epochs epochs) and export ONNX opset 13"
  show /usr/bin/python3 "$here/train_fmnist.py" "$onnx" --epochs "$epochs" \
    --train-images "$train_images" | tee "$out/pytorch.log"
fi
torch_acc=$(sed -n 's/^test accuracy: \([0-9.]*\)%$/\1/p' "$out/pytorch.log")

step "2. import into frost (the model's preprocessing: torchvision's Fashion-MNIST mean/std)"
show "$frost" import "$onnx" -o "$ckpt" --mean 0.2860 --std 0.3530

step "3. FP32 accuracy in frost vs PyTorch (10,000 test images)"
show "$frost" eval "$ckpt" --threads "$threads" | tee "$out/eval.log"
frost_acc=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' "$out/eval.log")
diff=$(awk -v a="$frost_acc" -v b="$torch_acc" 'BEGIN { d = a - b; printf "%+.2f", d }')
echo "FP32 test accuracy: PyTorch $torch_acc%, frost $frost_acc% (difference $diff points)"
if ! awk -v a="$frost_acc" -v b="$torch_acc" 'BEGIN { d = a - b; exit !(d <= 0.05 && d >= -0.05) }'
then
  echo "run.sh: frost's FP32 accuracy differs from PyTorch's by more than 0.05 points" >&2
  exit 1
fi

ptq=$out/fmnist.ptq.safetensors i8=$out/fmnist.int8
step "4. post-training quantization: calibration on $calib training images (seeded subset)"
show "$frost" quantize "$ckpt" --calib "$calib" --seed 1 -o "$ptq" --threads "$threads"

step "5. int8 conversion, with int8 vs fake-quant and int8 vs FP32 (agreement, per-layer SQNR)"
show "$frost" convert "$ptq" -o "$i8" --compare --fp32 "$ckpt" --sqnr-images "$sqnr_images"
show "$frost" run "$i8"

step "6. batch-1 latency: FP32 engine and int8 engine (1 thread)"
show "$frost" bench "$ckpt" --reps 200
show "$frost" bench "$i8" --reps 200

qat=$out/fmnist.qat.safetensors qi8=$out/fmnist.qat.int8
step "7. QAT fine-tune of the imported model (1 epoch on $qat_limit training images; as in
   PyTorch: no label smoothing, no random crops; then int8 vs the original FP32 model)"
rm -f "$qat" "$qat.csv"
show "$frost" train --from "$ckpt" --qat --epochs 1 --lr 0.005 --warmup 0 --val 0 \
  --smoothing 0 --crop-pad 0 \
  --limit "$qat_limit" --test-every 0 --seed 1 -o "$qat" --threads "$threads" --quiet
show "$frost" convert "$qat" -o "$qi8" --compare --fp32 "$ckpt" --sqnr-images "$sqnr_images"
show "$frost" run "$qi8"

step "8. export the int8 model: ONNX (QDQ, for ONNX Runtime) and C (for a Cortex-M)"
# for ONNX, biases on the int32 grid ONNX takes: the file then carries the model exactly
show "$frost" convert "$ptq" -o "$out/fmnist.onnx-grid.int8" --bias-grid onnx
show "$frost" export "$out/fmnist.onnx-grid.int8" --onnx "$out/fmnist.qdq.onnx"
show "$frost" export "$i8" --c "$out/c" --name fmnist
echo
echo "done: files in $out"
