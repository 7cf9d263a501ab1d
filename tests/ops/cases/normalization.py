"""Normalization ops: BatchNormalization (inference), LayerNormalization (axes, broadcast Scale, optional B),
InstanceNormalization, GroupNormalization (opset 18 per-group and opset 21 per-channel parameters), Softmax and
LogSoftmax (opset 13: one axis, large logits to check the max subtraction)."""
from op_case import Case, absent, const, inp

CASES = []


def add(name, op, inputs, attrs=None, opset=17, note=""):
    CASES.append(Case(f"norm_{name}", op, inputs, attrs=dict(attrs or {}), opset=opset, note=note))


# --- BatchNormalization: X, scale, B, mean, var (variance kept positive)
for xs in [(2, 3, 7, 9), (1, 5), (3, 4, 13), (1, 2, 3, 4, 5)]:
    c = xs[1]
    tag = "x".join(map(str, xs))
    add(f"batchnorm_{tag}", "BatchNormalization",
        [inp("X", xs), inp("scale", (c,)), inp("B", (c,)), inp("mean", (c,)), inp("var", (c,), low=0.1, high=3.0)],
        {"epsilon": 1e-3}, opset=15)
add("batchnorm_opset14", "BatchNormalization",
    [inp("X", (2, 3, 5, 5)), inp("scale", (3,)), inp("B", (3,)), inp("mean", (3,)), inp("var", (3,), low=0.1)],
    opset=14)

# --- LayerNormalization (opset 17)
for name, xs, axis, scale, bias in [
    ("last", (2, 7, 13), -1, (13,), (13,)),
    ("axis1", (3, 5, 6), 1, (5, 6), (6,)),
    ("no_bias", (4, 9), -1, (9,), None),
    ("axis_m2_bcast_scale", (2, 3, 4, 5), -2, (1, 5), (4, 5)),
    ("hidden768", (6, 768), -1, (768,), (768,)),
    ("axis0", (5, 3), 0, (5, 3), (1,)),
]:
    inputs = [inp("X", xs), inp("Scale", scale)] + ([inp("B", bias)] if bias else [])
    add(f"layernorm_{name}", "LayerNormalization", inputs, {"axis": axis, "epsilon": 1e-5})
add("layernorm_offset_mean", "LayerNormalization", [inp("X", (4, 33), low=15.0, high=19.0), inp("Scale", (33,))], {})

# --- InstanceNormalization
for xs in [(2, 3, 7, 9), (1, 5, 13), (2, 2, 3, 4, 5)]:
    c = xs[1]
    add("instancenorm_" + "x".join(map(str, xs)), "InstanceNormalization",
        [inp("X", xs), inp("scale", (c,)), inp("B", (c,))], {"epsilon": 1e-4})

# --- GroupNormalization: opset 21 per-channel scale/bias, opset 18 per-group
for name, xs, groups in [("g3", (2, 6, 5, 7), 3), ("g2_1d", (1, 8, 9), 2), ("g8", (1, 32, 8, 8), 8),
                         ("g1", (2, 6, 5), 1)]:
    c = xs[1]
    add(f"groupnorm21_{name}", "GroupNormalization", [inp("X", xs), inp("scale", (c,)), inp("bias", (c,))],
        {"num_groups": groups, "epsilon": 1e-5}, opset=21)
    add(f"groupnorm18_{name}", "GroupNormalization", [inp("X", xs), inp("scale", (groups,)), inp("bias", (groups,))],
        {"num_groups": groups, "epsilon": 1e-5}, opset=18)

# --- Softmax / LogSoftmax (opset 13): every axis of a few shapes, logits up to +-19 (op_case draws need max(|low|,|high|) <= 20)
for op in ["Softmax", "LogSoftmax"]:
    for xs in [(2, 7, 13), (13,), (3, 1, 5, 4), (4, 1000)]:
        for axis in range(-len(xs), len(xs)):
            tag = "x".join(map(str, xs)) + f"_axis{axis}".replace("-", "m")
            add(f"{op.lower()}_{tag}", op, [inp("X", xs, low=-19.0, high=19.0)], {"axis": axis}, opset=13)
    add(f"{op.lower()}_default_axis", op, [inp("X", (3, 5, 7))], {}, opset=13)
