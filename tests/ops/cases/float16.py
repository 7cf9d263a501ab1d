"""float16 tensors through the ops that run between convolutions and GEMMs: reductions and global pools, Resize,
the normalizations, Softmax, pools, activations, Where and Cast, against onnxruntime's float16 kernels. kiln's CPU
computes these in float32 (backends/cpu/float32_staging.h) and CUDA in float32 registers; outputs are rounded to
float16 once.

Tolerances: rtol 2e-3 / atol 1e-3 unless stated (a float16 ulp is 2^-10 ~ 1e-3 relative, and onnxruntime's float16
kernels round intermediate values at places kiln does not, so one ulp of disagreement either way is expected);
integer outputs exact."""
import numpy as np

from op_case import Case, absent, const, inp

CASES = []
H = "float16"
R, A = 2e-3, 1e-3  # one float16 ulp either way, see above
NOTE = "float16 output: one half-precision ulp is ~1e-3 relative"


def i64(values):
    return np.asarray(values, dtype=np.int64)


def f16(values):
    return np.asarray(values, dtype=np.float16)


def case(name, op, inputs, attrs=None, opset=18, rtol=R, atol=A, outputs=1, note=NOTE):
    CASES.append(Case(f"f16_{name}", op, inputs, attrs or {}, outputs=outputs, opset=opset, rtol=rtol, atol=atol,
                      note=note))


# Reductions (float32 accumulation: 112x112 sums of 1..4 would lose their small addends in a float16 sum).
for op in ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceLogSumExp"]:
    case(f"{op.lower()}_axis1", op, [inp("X", (3, 37, 5), H), const("axes", i64([1]))])
    case(f"{op.lower()}_axes23", op, [inp("X", (2, 3, 7, 11), H), const("axes", i64([2, 3]))], {"keepdims": 0})
case("reducemean_56x56_of_1_4", "ReduceMean", [inp("X", (1, 4, 56, 56), H, 1.0, 4.0), const("axes", i64([2, 3]))])
case("argmax_axis1", "ArgMax", [inp("X", (4, 33, 3), H)], {"axis": 1}, opset=13)
case("globalaveragepool_56x56", "GlobalAveragePool", [inp("X", (2, 3, 56, 56), H, 1.0, 4.0)], opset=13)
case("globalmaxpool", "GlobalMaxPool", [inp("X", (2, 5, 9, 7), H)], opset=13)

# Normalizations and Softmax (float32 statistics).
case("softmax_last", "Softmax", [inp("X", (4, 1000), H, -6.0, 6.0)], opset=13)
case("softmax_axis1", "Softmax", [inp("X", (2, 5, 3), H)], {"axis": 1}, opset=13)
case("logsoftmax_last", "LogSoftmax", [inp("X", (3, 37), H, -6.0, 6.0)], opset=13)
rng = np.random.default_rng(7)


def affine(n):
    """Constant scale and bias of n channels, as float16."""
    return const("scale", f16(rng.uniform(0.5, 1.5, n))), const("bias", f16(rng.uniform(-1, 1, n)))


case("layernorm_last", "LayerNormalization", [inp("X", (2, 5, 64), H), *affine(64)], opset=17)
case("layernorm_mean300", "LayerNormalization",
     [inp("X", (4, 128), H, values=f16(rng.uniform(298.0, 302.0, (4, 128)))), *affine(128)], opset=17)
case("instancenorm", "InstanceNormalization", [inp("X", (2, 3, 5, 7), H), *affine(3)], opset=13)
case("groupnorm", "GroupNormalization", [inp("X", (2, 8, 5, 7), H), *affine(8)], {"num_groups": 4}, opset=21)
case("batchnorm", "BatchNormalization",
     [inp("X", (2, 4, 3, 5), H), *affine(4), const("mean", f16(rng.uniform(-1, 1, 4))),
      const("var", f16(rng.uniform(0.5, 2, 4)))], opset=15)

# Resize (float32 weights and sums).
SCALES = const("scales", np.asarray([1, 1, 2, 2], dtype=np.float32))
case("resize_nearest_x2", "Resize", [inp("X", (1, 3, 5, 7), H), absent(), SCALES], opset=13)
for ctm in ["half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"]:
    case(f"resize_linear_{ctm}", "Resize", [inp("X", (1, 3, 5, 7), H), absent(), SCALES],
         {"mode": "linear", "coordinate_transformation_mode": ctm}, opset=13)
case("resize_linear_sizes", "Resize",
     [inp("X", (2, 3, 9, 11), H), absent(), absent(), const("sizes", i64([2, 3, 17, 5]))], {"mode": "linear"}, opset=13)
case("resize_cubic", "Resize", [inp("X", (1, 2, 6, 7), H), absent(), SCALES], {"mode": "cubic"}, opset=13)

# Pools.
case("maxpool_3x3_s2", "MaxPool", [inp("X", (2, 3, 13, 11), H)],
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, opset=13)
case("averagepool_3x3_s2", "AveragePool", [inp("X", (2, 3, 13, 11), H)],
     {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, opset=19)

# Activations, Where, Pow, Cast.
for op, lo, hi in [("HardSwish", -5.0, 5.0), ("HardSigmoid", -4.0, 4.0), ("Erf", -2.0, 2.0), ("Tanh", -3.0, 3.0),
                   ("Relu", -2.0, 2.0), ("LeakyRelu", -2.0, 2.0), ("Softplus", -4.0, 4.0), ("Exp", -3.0, 3.0)]:
    case(op.lower(), op, [inp("X", (3, 37), H, lo, hi)], opset=14)
case("gelu", "Gelu", [inp("X", (3, 37), H, -4.0, 4.0)], opset=20)
case("gelu_tanh", "Gelu", [inp("X", (3, 37), H, -4.0, 4.0)], {"approximate": "tanh"}, opset=20)
case("where", "Where", [inp("C", (3, 1, 8), "bool"), inp("X", (4, 8), H), inp("Y", (3, 4, 1), H)], opset=16)
case("pow", "Pow", [inp("X", (3, 5), H, 0.5, 2.0), inp("Y", (5,), H, -2.0, 2.0)], opset=15)
case("div_broadcast", "Div", [inp("X", (2, 16, 7, 7), H), inp("Y", (1, 16, 1, 1), H, 0.5, 2.0)], opset=14)
WIDE = rng.uniform(-100.0, 100.0, (5, 13))
case("cast_to_float16", "Cast", [inp("X", (5, 13), "float32", values=WIDE.astype(np.float32))], {"to": 10}, opset=13,
     rtol=0, atol=0, note="round to nearest even, exactly as onnxruntime")
case("cast_from_float16", "Cast", [inp("X", (5, 13), H, values=f16(WIDE))], {"to": 1}, opset=13, rtol=0, atol=0,
     note="exact widening")
