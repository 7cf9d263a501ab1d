"""Generators: Shape (start/end), Size, ConstantOfShape, Range."""
import numpy as np
from onnx import numpy_helper

from op_case import Case, const, inp

CASES = []

for i, (start, end) in enumerate([(None, None), (1, None), (None, -1), (-3, -1), (-10, 2), (1, 100), (3, 1)]):
    attrs = {}
    if start is not None:
        attrs["start"] = start
    if end is not None:
        attrs["end"] = end
    CASES.append(Case(f"gen_shape_{i}", "Shape", [inp("X", (2, 3, 5, 7))], attrs=attrs, opset=15))
CASES += [
    Case("gen_shape_opset13", "Shape", [inp("X", (4, 1, 9))], opset=13),
    Case("gen_shape_scalar", "Shape", [inp("X", ())], opset=15),
    Case("gen_size", "Size", [inp("X", (2, 3, 5, 7))], opset=13),
    Case("gen_size_scalar", "Size", [inp("X", ())], opset=13),
    Case("gen_constantofshape_default", "ConstantOfShape", [const("shape", [2, 7, 3], "int64")]),
    Case("gen_constantofshape_float", "ConstantOfShape", [const("shape", [3, 13], "int64")],
         attrs={"value": numpy_helper.from_array(np.array([1.25], dtype=np.float32))}),
    Case("gen_constantofshape_int64", "ConstantOfShape", [const("shape", [5, 1, 3], "int64")],
         attrs={"value": numpy_helper.from_array(np.array([-9], dtype=np.int64))}),
    Case("gen_constantofshape_int32", "ConstantOfShape", [const("shape", [4], "int64")],
         attrs={"value": numpy_helper.from_array(np.array([7], dtype=np.int32))}),
    Case("gen_constantofshape_bool", "ConstantOfShape", [const("shape", [2, 3], "int64")],
         attrs={"value": numpy_helper.from_array(np.array([True]))}),
    Case("gen_constantofshape_scalar", "ConstantOfShape", [const("shape", np.zeros((0,), np.int64), "int64")],
         attrs={"value": numpy_helper.from_array(np.array([3.5], dtype=np.float32))}),
]

RANGES = [
    ("float32", 1.0, 3.2, 0.3), ("float32", 5.0, -2.0, -1.5), ("float32", 0.0, 10.0, 1.0),
    ("int64", -3, 10, 4), ("int64", 0, 12, 4), ("int64", 5, 1, 2), ("int64", 0, 97, 1),
    ("int32", 10, 0, -3), ("int32", -7, 13, 2),
]
for i, (dtype, start, limit, delta) in enumerate(RANGES):
    CASES.append(Case(f"gen_range_{dtype}_{i}", "Range",
                      [const("start", start, dtype), const("limit", limit, dtype), const("delta", delta, dtype)],
                      opset=13))

# EyeLike: same dtype, another dtype, off-diagonal k.
CASES += [
    Case("gen_eyelike_float", "EyeLike", [inp("x", (5, 7))], opset=13),
    Case("gen_eyelike_k2_int64", "EyeLike", [inp("x", (6, 4))], attrs={"k": -2, "dtype": 7}, opset=13),
    Case("gen_eyelike_k3", "EyeLike", [inp("x", (4, 9), "int32", 1, 5)], attrs={"k": 3}, opset=13),
]
