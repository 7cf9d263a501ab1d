"""Elementwise ops: broadcasting binaries, comparisons, logic, unary maps, Clip, Cast, Identity, Where."""
import numpy as np

from op_case import Case, absent, const, inp

CASES = []

# Shape pairs covering same-shape, scalar, row, channel, two-sided and rank-padding broadcasts, odd sizes.
BINARY_SHAPES = [
    ((7, 13), (7, 13)),
    ((2, 3, 5, 7), (3, 1, 7)),
    ((1,), (5, 1, 3)),
    ((), (4, 5)),
    ((2, 1, 5), (1, 4, 1)),
    ((2, 16, 9, 7), (1, 16, 1, 1)),
    ((6, 13), (13,)),
]


# Integer and bool variants use fewer shapes: the broadcasting itself is dtype-independent.
SHORT_SHAPES = [BINARY_SHAPES[1], BINARY_SHAPES[2], BINARY_SHAPES[5]]


def binary(op, dtype="float32", a_range=(-2.0, 2.0), b_range=(-2.0, 2.0), attrs=None, opset=17, tag=""):
    shapes = BINARY_SHAPES if dtype == "float32" else SHORT_SHAPES
    for i, (sa, sb) in enumerate(shapes):
        CASES.append(Case(f"ew_{op.lower()}{tag}_{dtype}_{i}", op,
                          [inp("A", sa, dtype, *a_range), inp("B", sb, dtype, *b_range)],
                          attrs=dict(attrs or {}), opset=opset))


for op in ["Add", "Sub", "Mul", "Max", "Min"]:
    binary(op)
    binary(op, "int64", (-50, 50), (-50, 50))
    binary(op, "int32", (-50, 50), (-50, 50))
binary("Div", b_range=(0.5, 2.0))
binary("Div", "int64", (-50, 50), (-9, 9))  # truncation toward zero on negative quotients
binary("Div", "int32", (-50, 50), (-9, 9))
binary("Pow", a_range=(0.1, 3.0))
binary("Mod", a_range=(-5.0, 5.0), b_range=(0.5, 2.0), attrs={"fmod": 1}, tag="_fmod1")
binary("Mod", "int64", (-50, 50), (-9, 9), attrs={"fmod": 0}, tag="_fmod0")  # sign of the divisor
binary("Mod", "int64", (-50, 50), (-9, 9), attrs={"fmod": 1}, tag="_fmod1")  # sign of the dividend
binary("Mod", "int32", (-50, 50), (-9, 9), attrs={"fmod": 0}, tag="_fmod0")
for op in ["Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"]:
    binary(op)
    binary(op, "int64", (-3, 3), (-3, 3))  # small range: many ties
    binary(op, "int32", (-3, 3), (-3, 3))
binary("Equal", "bool")
for op in ["And", "Or", "Xor"]:
    binary(op, "bool")

CASES += [
    Case("ew_pow_scalar2", "Pow", [inp("X", (3, 7, 5)), const("Y", 2.0, "float32")]),
    Case("ew_pow_scalar_half", "Pow", [inp("X", (3, 7, 5), low=0.1, high=4.0), const("Y", 0.5, "float32")]),
    Case("ew_pow_int64_exponent", "Pow", [inp("X", (4, 7)), inp("Y", (7,), "int64", -3, 3)]),
    Case("ew_pow_int32_exponent", "Pow", [inp("X", (4, 7)), inp("Y", (4, 1), "int32", -3, 3)]),
    Case("ew_max_three", "Max", [inp("A", (4, 1, 5)), inp("B", (3, 1)), inp("C", (5,))]),
    Case("ew_min_three", "Min", [inp("A", (4, 1, 5)), inp("B", (3, 1)), inp("C", (5,))]),
    Case("ew_max_one", "Max", [inp("A", (3, 7))]),
    Case("ew_min_three_int64", "Min", [inp("A", (2, 7), "int64", -9, 9), inp("B", (7,), "int64", -9, 9),
                                       inp("C", (1, 1), "int64", -9, 9)]),
    Case("ew_prelu_channel", "PRelu", [inp("X", (2, 5, 3, 7)), inp("slope", (5, 1, 1), low=0.05, high=0.5)]),
    Case("ew_prelu_scalar", "PRelu", [inp("X", (3, 13)), inp("slope", (1,), low=0.05, high=0.5)]),
    Case("ew_prelu_full", "PRelu", [inp("X", (3, 13)), inp("slope", (3, 13), low=0.05, high=0.5)]),
    Case("ew_prelu_last", "PRelu", [inp("X", (2, 3, 13)), inp("slope", (13,), low=0.05, high=0.5)]),
]

# Unary float ops: (op, low, high, attrs, opset)
UNARY = [
    ("Relu", -2, 2, {}, 14), ("Sigmoid", -8, 8, {}, 13), ("Tanh", -3, 3, {}, 13), ("Erf", -3, 3, {}, 13),
    ("Exp", -3, 3, {}, 13), ("Log", 0.01, 5, {}, 13), ("Sqrt", 0.01, 5, {}, 13), ("Reciprocal", -2, 2, {}, 13),
    ("Abs", -2, 2, {}, 13), ("Neg", -2, 2, {}, 13), ("HardSigmoid", -4, 4, {}, 6),
    ("HardSigmoid", -4, 4, {"alpha": 0.3, "beta": 0.4}, 6), ("HardSwish", -5, 5, {}, 14),
    ("LeakyRelu", -2, 2, {}, 16), ("LeakyRelu", -2, 2, {"alpha": 0.2}, 16),
    ("Gelu", -3, 3, {}, 20), ("Gelu", -3, 3, {"approximate": "tanh"}, 20),
    ("Elu", -3, 3, {}, 6), ("Elu", -3, 3, {"alpha": 0.7}, 6), ("Selu", -3, 3, {}, 6),
    ("Selu", -3, 3, {"alpha": 1.5, "gamma": 1.1}, 6), ("Celu", -3, 3, {}, 12), ("Celu", -3, 3, {"alpha": 2.0}, 12),
    ("Softplus", -10, 10, {}, 1), ("Softsign", -3, 3, {}, 1), ("Mish", -6, 6, {}, 18),
    ("ThresholdedRelu", -3, 3, {}, 10), ("ThresholdedRelu", -3, 3, {"alpha": 0.5}, 10),
    ("Ceil", -3, 3, {}, 13), ("Floor", -3, 3, {}, 13), ("Round", -5, 5, {}, 11), ("Sign", -2, 2, {}, 13),
    ("Sin", -3, 3, {}, 7), ("Cos", -3, 3, {}, 7), ("Tan", -1.2, 1.2, {}, 7), ("Asin", -0.99, 0.99, {}, 7),
    ("Acos", -0.99, 0.99, {}, 7), ("Atan", -3, 3, {}, 7), ("Sinh", -3, 3, {}, 9), ("Cosh", -3, 3, {}, 9),
    ("Asinh", -3, 3, {}, 9), ("Acosh", 1.01, 5, {}, 9), ("Atanh", -0.95, 0.95, {}, 9),
    ("Identity", -2, 2, {}, 16),
]
for op, lo, hi, attrs, opset in UNARY:
    tag = "_" + "_".join(f"{k}{v}" for k, v in attrs.items()).replace(".", "p") if attrs else ""
    for i, shape in enumerate([(7, 13), (2, 3, 1, 5), ()]):
        CASES.append(Case(f"ew_{op.lower()}{tag}_{i}", op, [inp("X", shape, low=lo, high=hi)], attrs=dict(attrs),
                          opset=max(opset, 13)))  # kiln imports opsets 13+; these ops did not change since
for op in ["Abs", "Neg", "Sign", "Identity"]:
    for dtype in ["int64", "int32"]:
        CASES.append(Case(f"ew_{op.lower()}_{dtype}", op, [inp("X", (3, 11), dtype, -50, 50)]))
CASES += [
    Case("ew_not", "Not", [inp("X", (5, 7), "bool")]),
    Case("ew_identity_bool", "Identity", [inp("X", (5, 7), "bool")]),
    Case("ew_isnan", "IsNaN", [const("X", [[1.0, float("nan"), -2.0], [float("inf"), 0.5, float("nan")]],
                                     "float32")], opset=13),
    Case("ew_round_ties", "Round", [const("X", [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6], "float32")]),
]
for neg in (0, 1):
    for pos in (0, 1):
        CASES.append(Case(f"ew_isinf_n{neg}p{pos}", "IsInf",
                          [const("X", [1.0, float("inf"), -float("inf"), float("nan"), -2.0], "float32")],
                          attrs={"detect_negative": neg, "detect_positive": pos}, opset=13))

# Clip: min/max optional inputs (opset 13); int types too.
CASES += [
    Case("ew_clip_both", "Clip", [inp("X", (3, 11)), const("min", -1.0, "float32"), const("max", 1.5, "float32")],
         opset=13),
    Case("ew_clip_min_only", "Clip", [inp("X", (3, 11)), const("min", -0.5, "float32")], opset=13),
    Case("ew_clip_max_only", "Clip", [inp("X", (3, 11)), absent(), const("max", 0.25, "float32")], opset=13),
    Case("ew_clip_none", "Clip", [inp("X", (3, 11))], opset=13),
    Case("ew_clip_graph_inputs", "Clip", [inp("X", (2, 7, 5)), inp("min", (), low=-1.0, high=-0.5),
                                         inp("max", (), low=0.5, high=1.0)], opset=17),
    Case("ew_clip_int64", "Clip", [inp("X", (3, 11), "int64", -100, 100), const("min", -20, "int64"),
                                   const("max", 30, "int64")], opset=13),
    Case("ew_clip_int32_max", "Clip", [inp("X", (3, 11), "int32", -100, 100), absent(), const("max", 5, "int32")],
         opset=13),
    Case("ew_clip_uint8", "Clip", [inp("X", (3, 11), "uint8", 1, 250), const("min", 20, "uint8"),
                                   const("max", 200, "uint8")], opset=13),
]

# Cast: float -> integer truncates toward zero; ranges stay inside each target type (op_case.random_input needs
# float ranges within +-19).
CAST = [
    ("float32", "int64", -19, 19), ("float32", "int32", -19, 19), ("float32", "int8", -19, 19),
    ("float32", "uint8", 0, 19), ("float32", "bool", -2, 2),
    ("float32", "float64", -19, 19), ("float64", "float32", -19, 19),
    ("int64", "float32", -1000, 1000), ("int64", "int32", -1000, 1000), ("int32", "int64", -1000, 1000),
    ("int64", "bool", -3, 3), ("bool", "float32", 0, 1), ("bool", "int64", 0, 1), ("uint8", "float32", 1, 255),
    ("int8", "int64", -100, 100), ("int32", "float32", -1000, 1000),
]
# float16 casts: float16.py.
TYPE_NUMBERS = {"float32": 1, "uint8": 2, "int8": 3, "int32": 6, "int64": 7, "bool": 9, "float16": 10,
                "float64": 11}
for src, dst, lo, hi in CAST:
    CASES.append(Case(f"ew_cast_{src}_to_{dst}", "Cast", [inp("X", (5, 13), src, lo, hi)],
                      attrs={"to": TYPE_NUMBERS[dst]}, opset=13))

# Where: bool condition, three-way broadcast, several dtypes.
for i, (sc, sx, sy) in enumerate([((3, 1, 5), (4, 1), (5,)), ((7, 13), (7, 13), (7, 13)), ((1,), (2, 3), ()),
                                  ((2, 1), (1, 9), (2, 9))]):
    CASES.append(Case(f"ew_where_float32_{i}", "Where", [inp("C", sc, "bool"), inp("X", sx), inp("Y", sy)]))
CASES += [
    Case("ew_where_int64", "Where", [inp("C", (3, 1, 5), "bool"), inp("X", (4, 1), "int64", -9, 9),
                                     inp("Y", (5,), "int64", -9, 9)]),
    Case("ew_where_int32", "Where", [inp("C", (6, 5), "bool"), inp("X", (5,), "int32", -9, 9),
                                     inp("Y", (6, 1), "int32", -9, 9)]),
]

# --- Wider dtypes (float64, float16, 8/16/32/64-bit integers), CastLike, Sum/Mean, bitwise ops, Shrink, Swish ---
for dt in ["float64", "float16", "int8", "int16", "uint8", "uint16", "uint32", "uint64"]:
    lo, hi = (1, 9) if dt.startswith("u") else (-9, 9)
    if dt.startswith("float"):
        lo, hi = -3.0, 3.0
    for op in ["Add", "Sub", "Mul", "Max", "Min", "Greater", "LessOrEqual", "Equal"]:
        if op in ("Max", "Min") and dt in ("int16", "uint16"):
            continue  # onnxruntime (the reference) has no kernel for these; ONNX's conformance tests cover them
        CASES.append(Case(f"ew_{op.lower()}_{dt}", op, [inp("A", (3, 1, 7), dt, lo, hi), inp("B", (5, 1), dt, lo, hi)],
                          opset=14))
    # Divisors stay non-zero (positive for the unsigned types).
    CASES.append(Case(f"ew_div_{dt}", "Div", [inp("A", (4, 7), dt, lo, hi), inp("B", (7,), dt, 1, 5)], opset=14))
CASES += [
    Case("ew_pow_int64_int64", "Pow", [inp("A", (9,), "int64", -4, 4), inp("B", (9,), "int64", 0, 3)], opset=15),
    Case("ew_pow_float64_float64", "Pow", [inp("A", (3, 5), "float64", 0.5, 2), inp("B", (5,), "float64", -2, 2)],
         opset=15),
    Case("ew_exp_float64", "Exp", [inp("X", (4, 13), "float64")], opset=13),
    Case("ew_sigmoid_float16", "Sigmoid", [inp("X", (3, 11), "float16")], opset=13, rtol=2e-3, atol=1e-3,
         note="float16 output: one half-precision ulp is ~1e-3 relative"),
    Case("ew_clip_float16", "Clip", [inp("X", (5, 13), "float16"), const("min", -0.75, "float16"),
                                     const("max", 1.25, "float16")], opset=13),
    Case("ew_clip_float16_max_only", "Clip", [inp("X", (2, 3, 7), "float16"), absent(), const("max", 0.5, "float16")],
         opset=13),
]
for name, a_shape, b_shape in [("sum", (3, 1, 7), (5, 1)), ("mean", (13,), (4, 13))]:
    op = name.capitalize()
    CASES.append(Case(f"ew_{name}_3", op, [inp("A", a_shape), inp("B", b_shape), inp("C", (1,))], opset=13))
    CASES.append(Case(f"ew_{name}_1", op, [inp("A", (2, 9))], opset=13))
    if op == "Sum":  # onnxruntime has no float64 Mean
        CASES.append(Case(f"ew_{name}_float64", op, [inp("A", a_shape, "float64"), inp("B", b_shape, "float64")], opset=13))
for dt in ["float32", "float64", "int64", "uint8", "float16"]:
    CASES.append(Case(f"ew_castlike_float32_to_{dt}", "CastLike", [inp("X", (5, 7), "float32", -9, 9),
                                                                      const("like", np.zeros(1, dtype=dt))], opset=15))
for dt in ["uint8", "uint32", "uint64"]:  # onnxruntime has no uint16 BitShift
    for direction in ["LEFT", "RIGHT"]:
        CASES.append(Case(f"ew_bitshift_{direction.lower()}_{dt}", "BitShift",
                          [inp("X", (4, 9), dt, 0, 100), inp("Y", (9,), dt, 0, 5)], attrs={"direction": direction},
                          opset=13))
for dt in ["int32", "uint8", "int64"]:
    for op in ["BitwiseAnd", "BitwiseOr", "BitwiseXor"]:
        CASES.append(Case(f"ew_{op.lower()}_{dt}", op, [inp("A", (3, 7), dt, 0, 120), inp("B", (7,), dt, 0, 120)],
                          opset=18))
    CASES.append(Case(f"ew_bitwisenot_{dt}", "BitwiseNot", [inp("A", (3, 7), dt, 0, 120)], opset=18))
CASES += [
    Case("ew_shrink", "Shrink", [inp("X", (5, 13))], attrs={"lambd": 0.7, "bias": 0.2}, opset=13),
    Case("ew_shrink_default", "Shrink", [inp("X", (17,))], opset=13),
]
