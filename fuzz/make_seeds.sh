#!/usr/bin/env bash
# Writes the seed inputs of every harness into DIR/<target>/ (default fuzz/seeds, not
# committed) from real files: the repository's fixtures and architectures, and files the
# frost CLI (FROST, default build/frost) writes from them. scripts/fuzz --reseed merges
# them into the committed corpus (fuzz/corpus) with -merge=1, which keeps only inputs that
# add coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-fuzz/seeds}
frost=${FROST:-build/frost}
rm -rf "$out"
for t in arch_json checkpoint safetensors int8 onnx image idx qconfig cell_json nas_genotype; do
  mkdir -p "$out/$t"
done
fx=tests/fixtures/compat
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# architecture JSON: the fixture, the low-bit architectures, NAS results, and the zoo
cp $fx/arch.json "$out/arch_json/compat.json"
for f in bench/lowbit_arch/*.json; do cp "$f" "$out/arch_json/lowbit_$(basename "$f")"; done
cp bench/results/nas-runs/evolution/best.arch.json "$out/arch_json/nas_best.json"
for m in frostnet_s frostnet_b mobilenetv2 mnasnet_b1 resnet; do
  "$frost" info --model "$m" --input 28 --in-channels 1 --classes 10 --width 0.35 \
    --dump-arch "$out/arch_json/zoo_$m.json" > /dev/null
done

# checkpoints and safetensors: float, QAT and a k-means compressed one
cp $fx/float.safetensors $fx/qat.safetensors "$out/checkpoint/"
"$frost" compress $fx/float.safetensors --bits 2 --max-iter 5 -o "$out/checkpoint/kmeans.safetensors" > /dev/null
# and a 1 KB one with its fake-quant, int8 and ONNX forms (small seeds fuzz fastest)
python3 fuzz/make_tiny_checkpoint.py "$out/checkpoint/tiny.safetensors"
export OMP_NUM_THREADS=1
"$frost" quantize "$out/checkpoint/tiny.safetensors" --calib 16 -o "$out/checkpoint/tiny.ptq.safetensors" > /dev/null
"$frost" convert "$out/checkpoint/tiny.ptq.safetensors" -o "$out/int8/tiny.int8" > /dev/null
"$frost" export "$out/int8/tiny.int8" --onnx "$out/onnx/tiny_qdq.onnx" > /dev/null
"$frost" export "$out/checkpoint/tiny.safetensors" --onnx "$out/onnx/tiny.onnx" > /dev/null
cp "$out"/checkpoint/*.safetensors "$out/safetensors/"

# int8 models (both requantizations); ONNX: float fixtures and a QDQ export
cp $fx/qat_fixed.int8 $fx/qat_float.int8 "$out/int8/"
for d in tests/fixtures/onnx/*/; do cp "$d/model.onnx" "$out/onnx/$(basename "$d").onnx"; done
"$frost" export $fx/qat_fixed.int8 --onnx "$out/onnx/qdq.onnx" > /dev/null

# JSON configs and genotypes quoted in tests and docs (python pulls them out of the
# metadata and C string literals)
python3 fuzz/make_seeds_text.py "$out"

# images (Netpbm, PNG, JPEG) and IDX (raw and gzip'd), written by python / ImageMagick
python3 fuzz/make_seeds_binary.py "$out"
