"""Reductions: ReduceX over axis sets (axes input, keepdims, noop_with_empty_axes), ArgMax/ArgMin, CumSum."""
import numpy as np

from op_case import Case, absent, const, inp

CASES = []


def i64(values):
    return np.asarray(values, dtype=np.int64)


REDUCE_OPS = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
              "ReduceSumSquare", "ReduceLogSumExp"]
# (shape, axes or None); None reduces every axis.
AXES_SETS = [
    ((3, 5, 7), [1]),
    ((2, 3, 5, 7), [2, 3]),
    ((2, 3, 5, 7), [0, 2]),
    ((2, 3, 5, 7), [-1]),
    ((13, 17), None),
    ((4, 1, 9), [0]),
    ((3, 40, 300), [1]),  # long inner run: several accumulation blocks
]

for op in REDUCE_OPS:
    short = op[len("Reduce"):].lower()
    # ReduceProd and ReduceLogSumExp stay near 1 / within exp range with inputs of modest size.
    low, high = (0.5, 1.5) if op == "ReduceProd" else (-2.0, 2.0)
    for i, (shape, axes) in enumerate(AXES_SETS):
        if op == "ReduceProd" and np.prod(shape) > 2000:
            continue  # a product of thousands of factors says nothing more
        for keep in [1, 0]:
            ins = [inp("data", shape, "float32", low, high), const("axes", i64(axes)) if axes else absent()]
            CASES.append(Case(f"red_{short}_{i}_k{keep}", op, ins, attrs={"keepdims": keep}, opset=18))
    # The older attribute form (opset 13; ReduceSum had the input form from 13).
    if op != "ReduceSum":
        CASES.append(Case(f"red_{short}_attr_axes", op, [inp("data", (3, 5, 7), "float32", low, high)],
                          attrs={"axes": [0, -1], "keepdims": 0}, opset=13))
    CASES.append(Case(f"red_{short}_noop", op, [inp("data", (3, 5), "float32", low, high), const("axes", i64([]))],
                      attrs={"noop_with_empty_axes": 1}, opset=18))
    CASES.append(Case(f"red_{short}_empty_axes_all", op,
                      [inp("data", (3, 5), "float32", low, high), const("axes", i64([]))], opset=18))

CASES.append(Case("red_sum_opset13_axes_input", "ReduceSum", [inp("data", (4, 6, 5)), const("axes", i64([1]))],
                  opset=13))
for op in ["ReduceSum", "ReduceMax", "ReduceMin"]:
    short = op[len("Reduce"):].lower()
    for i, (shape, axes) in enumerate([((3, 5, 7), [1]), ((2, 3, 5), None), ((6, 4), [-1])]):
        ins = [inp("data", shape, "int64", -1000, 1000), const("axes", i64(axes)) if axes else absent()]
        CASES.append(Case(f"red_{short}_int64_{i}", op, ins, attrs={"keepdims": i % 2}, opset=18))
LARGE = np.random.default_rng(7).uniform(80.0, 100.0, size=(3, 7)).astype(np.float32)
CASES.append(Case("red_logsumexp_large", "ReduceLogSumExp", [inp("data", (3, 7), values=LARGE),
                                                             const("axes", i64([1]))], opset=18,
                  note="values whose exp overflows float32"))

for op in ["ArgMax", "ArgMin"]:
    short = op.lower()
    for i, (shape, axis) in enumerate([((3, 5, 7), 1), ((13, 17), -1), ((2, 3, 5, 7), 0), ((9,), 0)]):
        for keep in [1, 0]:
            CASES.append(Case(f"red_{short}_{i}_k{keep}", op, [inp("data", shape)],
                              attrs={"axis": axis, "keepdims": keep}))
    # Many ties: select_last_index decides.
    for last in [0, 1]:
        CASES.append(Case(f"red_{short}_ties_last{last}", op, [inp("data", (4, 9), "int64", -2, 2)],
                          attrs={"axis": 1, "select_last_index": last}))
        CASES.append(Case(f"red_{short}_ties_float_last{last}", op,
                          [inp("data", (5, 6), values=np.tile(np.array([1, 3, 3, -1, 3, 0], np.float32), (5, 1)))],
                          attrs={"axis": 1, "select_last_index": last, "keepdims": 0}))
    CASES.append(Case(f"red_{short}_int32", op, [inp("data", (4, 7), "int32", -100, 100)], attrs={"axis": 0}))

for dtype in ["float32", "int64", "int32"]:
    for i, (shape, axis) in enumerate([((5, 7), 0), ((3, 5, 7), -1), ((2, 9, 4), 1)]):
        for exclusive in [0, 1]:
            for reverse in [0, 1]:
                ins = [inp("x", shape, dtype, -50 if dtype != "float32" else -2.0, 50 if dtype != "float32" else 2.0),
                       const("axis", np.array(axis, np.int64 if i != 2 else np.int32))]
                CASES.append(Case(f"red_cumsum_{dtype}_{i}_e{exclusive}_r{reverse}", "CumSum", ins,
                                  attrs={"exclusive": exclusive, "reverse": reverse}, opset=14))

# ReduceLogSum (positive data).
for i, (shape, axes) in enumerate([((3, 5, 7), [1]), ((2, 3, 5), [0, 2]), ((13, 4), None)]):
    for keep in [1, 0]:
        ins = [inp("data", shape, "float32", 0.5, 2.0), const("axes", i64(axes)) if axes else absent()]
        CASES.append(Case(f"red_logsum_{i}_k{keep}", "ReduceLogSum", ins, attrs={"keepdims": keep}, opset=18))
# CumProd (opset 26) is newer than the onnxruntime that makes these references: ONNX's conformance tests cover it.
