#!/usr/bin/env python3
"""The library's layers (docs/design.md, "Layers"): a folder of src/ may use only
folders of lower layers (and itself). Folders on one layer are independent.

Checks two things:
 1. every #include "<folder>/..." and "frost/<header>.h" in src/ (public headers
    belong to the layer that implements them);
 2. with a build folder: every symbol an object file of src/<folder>/ needs from
    another object of the library (nm), so a function declared low and defined
    high (a hidden cycle) is caught too.

usage: layers.py [BUILD_DIR]
"""
import os
import re
import subprocess
import sys

LAYERS = [
    ["core"],
    ["ops", "data", "binary"],
    ["models"],
    ["quant", "optim"],
    ["io"],
    ["train"],
    ["infer", "int8"],
    ["nas"],
]
PUBLIC = {  # include/frost/<header> -> the folder that implements it
    "status.h": "core", "tensor.h": "core", "file.h": "core", "version.h": "core", "cpu.h": "core",
    "data.h": "data", "model.h": "models", "quant.h": "quant", "qat.h": "quant",
    "optim.h": "optim", "io.h": "io", "train.h": "train", "infer.h": "infer",
    "int8.h": "int8", "nas.h": "nas", "cell.h": "nas", "huffman.h": "core", "compress.h": "quant",
    "comm.h": "core",
    "frost.h": None,  # the umbrella header: for users, never included by the library
}
RANK = {f: i for i, layer in enumerate(LAYERS) for f in layer}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def allowed(src, dst):
    return src == dst or RANK[dst] < RANK[src]


def check_includes(root):
    bad = []
    src_root = os.path.join(root, "src")
    for dirpath, _, files in os.walk(src_root):
        for name in files:
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            folder = rel.split(os.sep)[1]
            if folder not in RANK:
                bad.append(f"{rel}: folder '{folder}' is on no layer (add it to LAYERS)")
                continue
            with open(path) as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    inc = m.group(1)
                    head, _, tail = inc.partition("/")
                    if head == "frost":
                        if tail not in PUBLIC:
                            bad.append(f"{rel}:{lineno}: {inc} is not in the header map")
                            continue
                        dst = PUBLIC[tail]
                        if dst is None:
                            bad.append(f"{rel}:{lineno}: includes the umbrella header {inc}")
                            continue
                    elif head in RANK:
                        dst = head
                    else:
                        continue  # a header next to the file
                    if not allowed(folder, dst):
                        bad.append(f"{rel}:{lineno}: {folder} (layer {RANK[folder]}) includes "
                                   f"{inc} ({dst}, layer {RANK[dst]})")
    return bad


def nm(path):
    out = subprocess.run(["nm", path], capture_output=True, text=True, check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBRC":
            defined.add(parts[2])
    return defined, undefined


def check_symbols(root, build):
    objdir = os.path.join(build, "CMakeFiles", "frostlib.dir", "src")
    if not os.path.isdir(objdir):
        return [f"{objdir}: no library objects (build first)"]
    defs, needs = {}, []
    for dirpath, _, files in os.walk(objdir):
        for name in files:
            if name.endswith(".o"):
                path = os.path.join(dirpath, name)
                folder = os.path.relpath(path, objdir).split(os.sep)[0]
                d, u = nm(path)
                for s in d:
                    defs[s] = (folder, os.path.relpath(path, objdir))
                needs.append((folder, os.path.relpath(path, objdir), u))
    bad = []
    for folder, obj, undefined in needs:
        for s in sorted(undefined):
            if s in defs and folder in RANK and defs[s][0] in RANK:
                dst, dobj = defs[s]
                if not allowed(folder, dst):
                    bad.append(f"{obj} ({folder}) calls {s} from {dobj} ({dst})")
    return bad


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    bad = check_includes(root)
    if len(sys.argv) > 1:
        bad += check_symbols(root, sys.argv[1])
    for b in bad:
        print("FAIL", b)
    print("layers:", " < ".join("/".join(layer) for layer in LAYERS))
    print("layer check: OK" if not bad else f"layer check: {len(bad)} violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
