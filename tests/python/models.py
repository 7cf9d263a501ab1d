"""Small ONNX models for the Python tests, made with onnx.helper (deterministic weights, dynamic dims)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _model(nodes, inputs, outputs, initializers, name):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="kiln-tests")
    model.ir_version = 8  # what every onnxruntime of the last years reads
    onnx.checker.check_model(model)
    return model


def save(model, path):
    onnx.save(model, str(path))


def small_cnn(seed=1):
    """[N,3,9,7] -> logits [N,5]: Conv 3x3 (pad 1) + bias, Relu, MaxPool 2x2/2, Flatten, Gemm + bias."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "conv.weight")
    b = numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "conv.bias")
    fw = numpy_helper.from_array(rng.normal(0, 0.2, (5, 48)).astype(np.float32), "fc.weight")
    fb = numpy_helper.from_array(rng.normal(0, 0.1, 5).astype(np.float32), "fc.bias")
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["c"], name="/conv/Conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="/relu/Relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="/Flatten", axis=1),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1),
    ]
    return _model(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 9, 7])],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])], [w, b, fw, fb], "small_cnn")


def two_inputs(seed=2):
    """a [N,8], c [N,6] -> y = relu(a @ w + b) * c [N,6], s = sum(a * a, axis 1) [N]."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.4, (8, 6)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, 6).astype(np.float32), "b")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("MatMul", ["a", "w"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "b"], ["mb"], name="add"),
        helper.make_node("Relu", ["mb"], ["r"], name="relu"),
        helper.make_node("Mul", ["r", "c"], ["y"], name="mul"),
        helper.make_node("Mul", ["a", "a"], ["sq"], name="square"),
        helper.make_node("ReduceSum", ["sq", "axes"], ["s"], name="sum", keepdims=0),
    ]
    return _model(nodes,
                  [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 8]),
                   helper.make_tensor_value_info("c", TensorProto.FLOAT, ["N", 6])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6]),
                   helper.make_tensor_value_info("s", TensorProto.FLOAT, ["N"])],
                  [w, b, axes], "two_inputs")


def unsupported_ops():
    """Two nodes kiln does not know between a Relu: the importer must report both, with names and op types."""
    nodes = [
        helper.make_node("FooBar", ["x"], ["y"], name="first_unknown", domain="kiln.test"),
        helper.make_node("Relu", ["y"], ["z"], name="relu"),
        helper.make_node("Frobnicate", ["z"], ["w"], name="second_unknown", domain="kiln.test"),
    ]
    graph = helper.make_graph(nodes, "unsupported", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("kiln.test", 1)])
    model.ir_version = 8
    return model


def wide_matmul(seed=3, k=2048, n=4096):
    """x [N,k] -> x @ w [N,n] with a 32 MiB weight: a build that takes long enough to watch (threads test)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.uniform(-1, 1, (k, n)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", n])], [w], "wide_matmul")


def nonzero_positions():
    """x [N] -> positions [1, count] int64 of x > 0.5 (NonZero: a size only the data decides) and y = 2x [N]."""
    half = numpy_helper.from_array(np.array([0.5], np.float32), "half")
    two = numpy_helper.from_array(np.array([2.0], np.float32), "two")
    nodes = [
        helper.make_node("Greater", ["x", "half"], ["mask"], name="/Greater"),
        helper.make_node("NonZero", ["mask"], ["positions"], name="/NonZero"),
        helper.make_node("Mul", ["x", "two"], ["y"], name="/Mul"),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"])],
                  [helper.make_tensor_value_info("positions", TensorProto.INT64, [1, "count"]),
                   helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])], [half, two], "nonzero_positions")
