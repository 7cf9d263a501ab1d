"""ONNX's backend node tests, written in the backend-test layout for tests/conformance/conformance_test.cpp.

The installed onnx package carries the generators (onnx.backend.test.case.node), not the data files, so we run
them: <out>/node/<test_name>/model.onnx + test_data_set_K/{input,output}_N.pb. Expected outputs are ONNX's own
(numpy reference implementations), not onnxruntime's. numpy's global generator is seeded first because the case
generators draw from it: the files are then the same on every run.
"""
import os
import warnings

import numpy as np
from onnx import TensorProto, numpy_helper


def _serialize(value, value_info):
    """The proto for one input or output value, by the kind of type the graph declares for it."""
    kind = value_info.type.WhichOneof("value")
    if kind == "map_type":
        return numpy_helper.from_dict(value, value_info.name)
    if kind == "sequence_type":
        return numpy_helper.from_list(value, value_info.name)
    if kind == "optional_type":
        return numpy_helper.from_optional(value, value_info.name)
    if isinstance(value, TensorProto):
        return value
    return numpy_helper.from_array(np.asarray(value), value_info.name)


def generate(out_dir):
    """Writes every node test; returns (written count, problem lines)."""
    import onnx.backend.test.case.node as node_cases

    np.random.seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators' own overflow/divide warnings are expected
        cases = node_cases.collect_testcases()
    problems, written = [], 0
    for case in cases:
        case_dir = os.path.join(out_dir, "node", case.name)
        try:
            os.makedirs(case_dir, exist_ok=True)
            with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
                f.write(case.model.SerializeToString())
            graph = case.model.graph
            for k, (inputs, outputs) in enumerate(case.data_sets):
                set_dir = os.path.join(case_dir, f"test_data_set_{k}")
                os.makedirs(set_dir, exist_ok=True)
                for n, value in enumerate(inputs):
                    with open(os.path.join(set_dir, f"input_{n}.pb"), "wb") as f:
                        f.write(_serialize(value, graph.input[n]).SerializeToString())
                for n, value in enumerate(outputs):
                    with open(os.path.join(set_dir, f"output_{n}.pb"), "wb") as f:
                        f.write(_serialize(value, graph.output[n]).SerializeToString())
            written += 1
        except Exception as e:  # one odd case must not stop the rest
            problems.append(f"conformance {case.name}: skipped: {type(e).__name__}: {str(e)[:200]}")
    return written, problems
