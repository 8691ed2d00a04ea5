#!/usr/bin/env python3
"""The "add an op" checklist, enforced by the compiler (docs/design.md).

Compiles every library source with FROST_CHECKLIST_DUMMY defined, which adds a dummy
graph op (FROST_OP_DUMMY) and a dummy activation (FROST_ACT_DUMMY) to the op and
activation lists, and collects the places gcc refuses (-Wswitch is an error: a switch
over the closed enum with no `default:` that does not handle the new value).

Passes when the refused places are exactly the stages listed below: each stage that
must handle a new op or activation is proven to notice it, and a new switch that
would also need it is caught here and has to be added to the list (and to the
checklist in docs/design.md).

usage: op_checklist.py BUILD_DIR   (a CMake build with compile_commands.json)
"""
import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

# file -> functions whose switch must name a new op (FROST_OP_DUMMY)
OP_STAGES = {
    "src/models/op_table.c": {"frost_op_infer"},          # checks, shape, MACs
    "src/models/graph.c": {"add_node_params", "set_node_attrs", "frost_node_attrs"},
    "src/train/run.c": {"layout_arena", "forward_node", "backward_node"},
    "src/infer/fp32.c": {"compile_node"},
    "src/int8/convert.c": {"emit_for_fq"},
    "src/io/onnx_export.c": {"emit_layer"},
}
# file -> functions whose switch must name a new activation (FROST_ACT_DUMMY)
ACT_STAGES = {
    "src/ops/act_def.h": {"frost_act_value", "frost_act_grad", "frost_act_clamp",
                          "frost_act_fixed_qrange"},
    "src/ops/x86/elementwise_avx2.c": {"act_v", "frost_act_forward_avx2", "act_grad_v",
                                       "frost_act_backward_avx2"},
    "src/ops/x86/pgemm_avx2.c": {"activate"},
    "src/ops/x86/act_avx512.h": {"frost_activate_zmm"},
    "src/ops/bn_act.c": {"keep_ref", "frost_bn_act_apply_ref", "frost_bn_act_sums_ref",
                         "frost_bn_act_dx_ref"},
    "src/ops/x86/bn_act_avx2.c": {"act_v", "keep_v", "frost_bn_act_apply_avx2",
                                  "frost_bn_act_sums_avx2", "frost_bn_act_dx_avx2"},
    "src/ops/x86/bn_act_avx512.c": {"keep8", "frost_bn_act_sums_avx512"},
    "src/io/onnx_export.c": {"emit_act"},
}

SWITCH_ERR = re.compile(r"^(\S+?):\d+:\d+: error: enumeration value '(FROST_(?:OP|ACT)_DUMMY)' "
                        r"not handled in switch")
IN_FUNC = re.compile(r"^(\S+?): In function '([^']+)'")
ANY_ERR = re.compile(r"^(\S+?):\d+:\d+: error: (.*)$")


def syntax_check(entry, root):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out, skip = [], False
    for a in args:  # drop the output file; check syntax only
        if skip:
            skip = False
            continue
        if a == "-o":
            skip = True
            continue
        out.append(a)
    out += ["-fsyntax-only", "-DFROST_CHECKLIST_DUMMY"]
    env = dict(os.environ, LC_ALL="C")  # plain quotes in the messages
    r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True, env=env)
    return r.stderr


def rel(path, root):
    return os.path.relpath(os.path.normpath(path), root)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = [e for e in json.load(f) if rel(e["file"], root).startswith("src/")]
    if not entries:
        sys.exit("no library sources in compile_commands.json")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        logs = list(pool.map(lambda e: syntax_check(e, root), entries))

    found = {"FROST_OP_DUMMY": {}, "FROST_ACT_DUMMY": {}}
    other = []
    for log in logs:
        func = None
        for line in log.splitlines():
            m = IN_FUNC.match(line)
            if m:
                func = m.group(2)
                continue
            m = SWITCH_ERR.match(line)
            if m:
                found[m.group(2)].setdefault(rel(m.group(1), root), set()).add(func)
                continue
            m = ANY_ERR.match(line)
            if m:
                other.append(f"{rel(m.group(1), root)}: {m.group(2)}")

    ok = True
    for value, want in (("FROST_OP_DUMMY", OP_STAGES), ("FROST_ACT_DUMMY", ACT_STAGES)):
        got = found[value]
        for f, funcs in sorted(want.items()):
            missing = funcs - got.get(f, set())
            for fn in sorted(missing):
                ok = False
                print(f"FAIL {value}: {f} {fn}() compiled without handling it "
                      "(a default: case, or the switch moved)")
        for f, funcs in sorted(got.items()):
            extra = funcs - want.get(f, set())
            for fn in sorted(extra):
                ok = False
                print(f"FAIL {value}: {f} {fn}() must handle it but is not on the checklist "
                      "(add it here and to docs/design.md)")
        n = sum(len(v) for v in got.values())
        print(f"{value}: {n} places refuse to compile, in {len(got)} files")
    for o in sorted(set(other)):
        if "DUMMY" not in o and "-Werror" not in o:
            ok = False
            print(f"FAIL unexpected error: {o}")
    print("op checklist: OK" if ok else "op checklist: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
