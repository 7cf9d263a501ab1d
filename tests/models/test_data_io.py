"""Shared helpers for the test-data generators: ONNX backend-test layout, onnxruntime reference runs.

Layout written for every model (the one ONNX's backend tests use, read by tests/test_util/tensor_proto_io.h):
    <dir>/model.onnx
    <dir>/test_data_set_K/input_N.pb, output_N.pb   (TensorProto, named after the graph input/output)
"""
import os

import numpy as np
import onnx
from onnx import helper, numpy_helper


def model_with_ir_version(graph, opset_imports, producer="kiln-tests"):
    """A model whose IR version is the lowest that allows its opsets, so that onnxruntime accepts it."""
    ir_version = helper.find_min_ir_version_for(opset_imports, ignore_unknown=True)
    return helper.make_model(graph, opset_imports=opset_imports, producer_name=producer, ir_version=ir_version)


def ort_session(model, threads=1):
    """A CPU onnxruntime session without graph rewrites: the reference is the plain op semantics."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_reference(model, feeds, threads=1):
    """Runs `model` on onnxruntime's CPU EP; returns the outputs in graph-output order."""
    session = ort_session(model, threads)
    names = [o.name for o in model.graph.output]
    return session.run(names, feeds)


def write_tensor(path, array, name):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.asarray(array), name).SerializeToString())


def write_data_set(model_dir, index, input_names, inputs, output_names, outputs):
    """Writes test_data_set_<index>/input_N.pb and output_N.pb."""
    set_dir = os.path.join(model_dir, f"test_data_set_{index}")
    os.makedirs(set_dir, exist_ok=True)
    for n, (name, value) in enumerate(zip(input_names, inputs)):
        write_tensor(os.path.join(set_dir, f"input_{n}.pb"), value, name)
    for n, (name, value) in enumerate(zip(output_names, outputs)):
        write_tensor(os.path.join(set_dir, f"output_{n}.pb"), value, name)


def save_model(model, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    onnx.save_model(model, path)
