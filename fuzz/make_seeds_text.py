#!/usr/bin/env python3
"""Text seeds for fuzz/make_seeds.sh: quantization configs, cell JSON and genotypes taken
from real files (checkpoint metadata, search results) and the tests' C string literals."""
import glob
import json
import os
import re
import struct
import sys

out = sys.argv[1]


def write(target, name, text):
    with open(os.path.join(out, target, name), "w") as f:
        f.write(text)


def st_metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def c_literals(path):
    """Adjacent C string literals joined: the JSON the tests write inline."""
    src = open(path).read()
    for m in re.finditer(r'((?:"(?:[^"\\\n]|\\.)*"\s*)+)', src):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(1))
        yield bytes("".join(parts), "utf-8").decode("unicode_escape")


# quantization configs: what QAT checkpoints record, and the tests' configs
for key, value in st_metadata("tests/fixtures/compat/qat.safetensors").items():
    if value.lstrip().startswith("{") and "weights" in value:
        write("qconfig", "compat_%s.json" % key, value)
seen = set()
for path in sorted(glob.glob("tests/test_*.c")):
    for text in c_literals(path):
        if not text.startswith("{"):
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if not isinstance(doc, dict) or text in seen:
            continue
        seen.add(text)
        if "normal" in doc and "reduce" in doc:
            write("cell_json", "test_%d.json" % len(seen), text)
        elif "resolution" in doc and "stages" in doc:
            write("nas_genotype", "test_%d.json" % len(seen), text)
        elif ("weights" in doc or "activations" in doc) and "layers" not in doc or \
                (isinstance(doc.get("layers"), dict)):
            write("qconfig", "test_%d.json" % len(seen), text)
        elif "layers" in doc and "input" in doc:
            write("arch_json", "test_%d.json" % len(seen), text)

# genotypes: search results (JSON) and their string forms (the run folders' names)
for i, path in enumerate(sorted(glob.glob("bench/results/nas-runs/*/best.json"))):
    write("nas_genotype", "best_%d.json" % i, open(path).read())
names = sorted({os.path.basename(p)[:-5] for p in
                glob.glob("bench/results/nas-proxy-runs/full/s1/r*.json")})
for i, name in enumerate(names[:6]):
    write("nas_genotype", "string_%d.txt" % i, name)
write("nas_genotype", "cells.txt", "r28.c310n.m360n.c31+n.m360n.m360n.m360n.m360n")
