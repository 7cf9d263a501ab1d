"""Turns every Case of tests/ops/cases/*.py into a one-node model with onnxruntime reference outputs.

Writes <out>/<case>/model.onnx, test_data_set_0/{input,output}_N.pb and case.json. A case file that fails to
import, a malformed case, or a case onnxruntime rejects is reported and skipped; the rest are still written.
"""
import importlib.util
import json
import os
import shutil
import sys
import traceback
import zlib

import numpy as np
from onnx import helper, numpy_helper

from test_data_io import model_with_ir_version, run_reference, save_model, write_data_set

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPS_DIR = os.path.join(REPO, "tests", "ops")
CASES_DIR = os.environ.get("KILN_OP_CASES_DIR", os.path.join(OPS_DIR, "cases"))  # override: generator tests


def case_files():
    if not os.path.isdir(CASES_DIR):
        return []
    return sorted(os.path.join(CASES_DIR, f) for f in os.listdir(CASES_DIR)
                  if f.endswith(".py") and not f.startswith("_"))


def load_cases(path):
    """Imports one case file; returns its CASES list (raises on any problem, the caller reports it)."""
    for p in (OPS_DIR, CASES_DIR):
        if p not in sys.path:
            sys.path.insert(0, p)
    family = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f"kiln_op_cases_{family}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, (list, tuple)):
        raise ValueError("defines no CASES list")
    return list(cases)


def tensor_type(dtype):
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def build_model(case):
    """The one-node model for `case` (graph outputs untyped until the reference run tells their types)."""
    node_inputs, graph_inputs, initializers, seen = [], [], [], set()
    for spec in case.inputs:
        if spec is None:
            node_inputs.append("")
            continue
        node_inputs.append(spec.name)
        if spec.name in seen:
            continue
        seen.add(spec.name)
        if spec.constant:
            initializers.append(numpy_helper.from_array(np.asarray(spec.values).astype(spec.dtype), spec.name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(spec.name, tensor_type(spec.dtype), list(spec.shape)))
    while node_inputs and node_inputs[-1] == "":
        node_inputs.pop()  # trailing omitted inputs are simply left out
    output_names = [f"output_{i}" for i in range(case.outputs)]
    node = helper.make_node(case.op, node_inputs, output_names, name=case.name, **case.attrs)
    graph = helper.make_graph([node], case.name, graph_inputs,
                              [helper.make_empty_tensor_value_info(n) for n in output_names], initializers)
    return model_with_ir_version(graph, [helper.make_opsetid("", case.opset)])


def make_feeds(case, random_input):
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))  # per case: adding cases changes no other data
    feeds = {}
    for spec in case.inputs:
        if spec is not None and not spec.constant and spec.name not in feeds:
            feeds[spec.name] = random_input(spec, rng)
    return feeds


def write_case(case, family, out_dir, random_input):
    model = build_model(case)
    feeds = make_feeds(case, random_input)
    outputs = run_reference(model, feeds)
    for value_info, value in zip(model.graph.output, outputs):
        value = np.asarray(value)
        value_info.CopyFrom(helper.make_tensor_value_info(value_info.name, tensor_type(value.dtype), list(value.shape)))
    case_dir = os.path.join(out_dir, case.name)
    save_model(model, os.path.join(case_dir, "model.onnx"))
    input_names = list(feeds.keys())
    write_data_set(case_dir, 0, input_names, [feeds[n] for n in input_names],
                   [o.name for o in model.graph.output], outputs)
    meta = {"name": case.name, "family": family, "op": case.op, "opset": case.opset, "rtol": case.rtol,
            "atol": case.atol, "note": case.note}
    with open(os.path.join(case_dir, "case.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)


def generate(out_dir):
    """Writes every case into out_dir; returns (written count, list of problem lines)."""
    os.makedirs(out_dir, exist_ok=True)
    sys.path.insert(0, OPS_DIR)
    from op_case import random_input

    problems, names, written = [], set(), 0
    for path in case_files():
        family = os.path.splitext(os.path.basename(path))[0]
        try:
            cases = load_cases(path)
        except BaseException as e:  # a broken file (even one calling sys.exit) must not stop the others
            tail = traceback.format_exception_only(type(e), e)[-1].strip()
            problems.append(f"file {family}.py: cannot import: {tail}")
            continue
        for case in cases:
            label = getattr(case, "name", repr(case))
            started = False
            try:
                if not isinstance(label, str) or not label or "/" in label or label.startswith("."):
                    raise ValueError(f"bad case name {label!r}")
                if label in names:
                    raise ValueError("duplicate case name (names must be unique over all families)")
                names.add(label)
                started = True
                write_case(case, family, out_dir, random_input)
                written += 1
            except Exception as e:  # onnxruntime refusal or malformed case: report, skip, go on
                if started:  # leave no half-written case directory behind
                    shutil.rmtree(os.path.join(out_dir, label), ignore_errors=True)
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                problems.append(f"case {label} ({family}.py): skipped: {type(e).__name__}: {msg[:300]}")
    return written, problems
