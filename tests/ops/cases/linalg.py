"""Linalg ops: Conv (1-D/2-D/3-D, groups, depthwise, dilations, strides, pads, every auto_pad), ConvTranspose
(groups, strides, pads, output_padding, dilations, output_shape, auto_pad), Gemm, MatMul and the pools."""
import numpy as np

from op_case import Case, absent, const, inp

CASES = []


def add(name, op, inputs, attrs=None, opset=17, note=""):
    CASES.append(Case(f"la_{name}", op, inputs, attrs=dict(attrs or {}), opset=opset, note=note))


def weights(shape, seed):
    """Conv weights as an initializer (as exporters write them), random non-zero."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1.0, 1.0, size=shape)
    w = np.where(np.abs(w) < 1e-3, 0.5, w)
    return const("W", w.astype(np.float32))


# --- Conv: (X shape, W shape, attrs, bias?)
CONV = [
    ("2d_basic", (1, 3, 7, 9), (5, 3, 3, 3), {}, True),
    ("2d_pads_strides", (2, 4, 13, 11), (6, 4, 3, 2), {"strides": [2, 2], "pads": [1, 1, 1, 1]}, False),
    ("2d_asym_pads_dil", (1, 6, 10, 10), (4, 3, 3, 3),
     {"group": 2, "strides": [1, 2], "dilations": [2, 1], "pads": [2, 0, 1, 3]}, True),
    ("2d_depthwise", (2, 8, 9, 7), (8, 1, 3, 3), {"group": 8, "pads": [1, 1, 1, 1]}, True),
    ("2d_depthwise_mult2", (1, 4, 12, 11), (8, 1, 5, 3),
     {"group": 4, "strides": [2, 3], "dilations": [2, 1], "pads": [2, 1, 0, 2]}, True),
    ("2d_pointwise", (2, 16, 7, 5), (9, 16, 1, 1), {}, True),
    ("2d_pointwise_stride", (1, 16, 9, 9), (12, 16, 1, 1), {"strides": [2, 2]}, False),
    ("2d_kernel_shape_attr", (1, 3, 8, 8), (2, 3, 3, 3), {"kernel_shape": [3, 3], "strides": [3, 3]}, True),
    ("2d_same_upper", (1, 3, 7, 10), (4, 3, 3, 4), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, True),
    ("2d_same_lower", (1, 3, 7, 10), (4, 3, 3, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, True),
    ("2d_same_upper_even_k", (1, 3, 7, 10), (2, 3, 1, 4), {"auto_pad": "SAME_UPPER"}, False),
    ("2d_same_lower_even_k", (1, 3, 7, 10), (2, 3, 1, 4), {"auto_pad": "SAME_LOWER"}, False),
    ("2d_valid", (1, 3, 7, 10), (4, 3, 3, 4), {"auto_pad": "VALID", "strides": [2, 2]}, True),
    ("2d_resnet_stem", (1, 3, 64, 64), (16, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3]}, True),
    ("2d_groups4", (1, 16, 9, 9), (32, 4, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}, True),
    ("1d", (2, 3, 17), (4, 3, 5), {"strides": [2], "dilations": [2], "pads": [1, 3]}, True),
    ("1d_depthwise", (1, 4, 15), (4, 1, 3), {"group": 4, "pads": [1, 1]}, True),
    ("3d", (1, 2, 5, 6, 7), (3, 2, 2, 3, 3),
     {"strides": [1, 2, 1], "dilations": [1, 1, 2], "pads": [1, 0, 1, 0, 1, 2]}, True),
]
for i, (name, xs, ws, attrs, bias) in enumerate(CONV):
    inputs = [inp("X", xs), weights(ws, 100 + i)]
    if bias:
        inputs.append(inp("B", (ws[0],)))
    add(f"conv_{name}", "Conv", inputs, attrs)
add("conv_bias_omitted_name", "Conv", [inp("X", (1, 2, 5, 5)), weights((3, 2, 3, 3), 99), absent()], {})

# --- ConvTranspose: (X, W [C, M/group, k...], attrs)
CONV_T = [
    ("basic", (1, 3, 5, 7), (3, 4, 3, 3), {}),
    ("group_strides_pads_outpad", (2, 4, 5, 6), (4, 2, 3, 4),
     {"group": 2, "strides": [2, 3], "pads": [1, 0, 2, 1], "output_padding": [1, 2]}),
    ("dilations", (1, 2, 4, 5), (2, 3, 3, 2), {"strides": [2, 2], "dilations": [2, 3]}),
    ("output_shape", (1, 3, 5, 5), (3, 2, 3, 3), {"strides": [2, 2], "output_shape": [10, 11]}),
    ("same_upper", (1, 3, 5, 6), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ("same_lower", (1, 3, 5, 6), (3, 2, 3, 3), {"strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ("depthwise_up2", (1, 4, 7, 7), (4, 1, 4, 4), {"group": 4, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("1d", (2, 3, 9), (3, 5, 4), {"strides": [3], "pads": [1, 2]}),
]
for i, (name, xs, ws, attrs) in enumerate(CONV_T):
    out_channels = ws[1] * attrs.get("group", 1)
    add(f"convtranspose_{name}", "ConvTranspose", [inp("X", xs), weights(ws, 200 + i), inp("B", (out_channels,))],
        attrs)

# --- Gemm
for name, (m, n, k), attrs, c in [
    ("plain", (7, 5, 13), {}, (7, 5)),
    ("transA_alpha_beta_row", (7, 5, 13), {"transA": 1, "alpha": 0.5, "beta": 2.0}, (5,)),
    ("transB_col", (7, 5, 13), {"transB": 1, "alpha": 1.5, "beta": -1.0}, (7, 1)),
    ("both_scalar_c", (3, 9, 4), {"transA": 1, "transB": 1, "beta": 0.25}, ()),
    ("fc_like", (2, 1000, 512), {"transB": 1}, (1000,)),
    ("no_c", (6, 4, 3), {"alpha": 2.0}, None),
]:
    a = (k, m) if attrs.get("transA") else (m, k)
    b = (n, k) if attrs.get("transB") else (k, n)
    inputs = [inp("A", a), inp("B", b)] + ([inp("C", c)] if c is not None else [])
    add(f"gemm_{name}", "Gemm", inputs, attrs, opset=13)

# --- MatMul (numpy semantics)
for name, (a, b) in {
    "2d": ((7, 13), (13, 5)), "vec_mat": ((13,), (13, 5)), "mat_vec": ((7, 13), (13,)), "vec_vec": ((13,), (13,)),
    "batched_shared_b": ((3, 7, 13), (13, 5)), "batch_bcast": ((2, 3, 7, 13), (3, 13, 5)),
    "batch_bcast_both": ((2, 1, 7, 4), (1, 3, 4, 6)), "a_shared": ((4, 5), (2, 5, 3)),
    "ones": ((1, 1, 1), (5, 1, 2)), "batched_vec": ((6,), (2, 3, 6, 2)),
}.items():
    add(f"matmul_{name}", "MatMul", [inp("A", a), inp("B", b)], opset=13)

# --- MaxPool / AveragePool: (X, attrs); every case runs for both ops, AveragePool also with count_include_pad.
POOLS = [
    ("basic", (1, 3, 7, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("asym", (2, 2, 13, 11), {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [0, 1, 1, 1]}),
    ("ceil", (1, 2, 5, 5), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    ("ceil_pads", (1, 2, 6, 6), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ("1d_ceil", (2, 3, 11), {"kernel_shape": [3], "strides": [2], "pads": [1, 1], "ceil_mode": 1}),
    ("3d", (1, 2, 4, 5, 6), {"kernel_shape": [2, 2, 3], "strides": [2, 1, 2], "pads": [0, 1, 1, 1, 0, 1]}),
    ("same_upper", (1, 3, 7, 10), {"kernel_shape": [2, 2], "strides": [2, 3], "auto_pad": "SAME_UPPER"}),
    ("same_lower", (1, 3, 7, 10), {"kernel_shape": [2, 2], "strides": [2, 3], "auto_pad": "SAME_LOWER"}),
    ("valid", (1, 3, 7, 10), {"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "VALID"}),
    ("resnet_stem", (1, 8, 56, 56), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
]
for name, xs, attrs in POOLS:
    add(f"maxpool_{name}", "MaxPool", [inp("X", xs)], attrs, opset=13)
    add(f"averagepool_{name}", "AveragePool", [inp("X", xs)], attrs, opset=13)
    add(f"averagepool_{name}_include_pad", "AveragePool", [inp("X", xs)], {**attrs, "count_include_pad": 1}, opset=13)
add("maxpool_dilations", "MaxPool", [inp("X", (1, 2, 9, 8))],
    {"kernel_shape": [2, 2], "strides": [1, 2], "dilations": [2, 3], "pads": [1, 0, 0, 1]}, opset=13)
add("maxpool_opset21", "MaxPool", [inp("X", (1, 2, 7, 7))], {"kernel_shape": [3, 3], "strides": [2, 2]}, opset=21)
add("averagepool_opset19_dilations", "AveragePool", [inp("X", (1, 2, 9, 8))],
    {"kernel_shape": [2, 2], "strides": [1, 2], "dilations": [2, 3], "pads": [1, 0, 0, 1]}, opset=19)

# --- Global pools
for xs in [(2, 3, 7, 9), (1, 5, 13), (1, 2, 3, 4, 5), (1, 64, 7, 7)]:
    tag = "x".join(map(str, xs))
    add(f"globalaveragepool_{tag}", "GlobalAveragePool", [inp("X", xs)])
    add(f"globalmaxpool_{tag}", "GlobalMaxPool", [inp("X", xs)])
