#!/usr/bin/env python3
"""One BERT-style transformer encoder layer, written node by node the way torch.onnx.export emits BERT (opset 17).

inputs: "hidden" [batch,seq,64] float32, "attention_mask" [batch,seq] int64 (1 = attend, 0 = padding)
output: "output" [batch,seq,64] float32; batch and seq are dynamic.
  mask: Unsqueeze(1,2) -> Cast(float) -> Sub(1 - mask) -> Mul(-10000)
  q/k/v: MatMul + Add, Reshape to [batch,seq,heads,dh] (target shape from Shape/Gather/Unsqueeze/Concat),
  Transpose; scores = MatMul(q, k^T) / sqrt(dh) + mask -> Softmax -> MatMul(v) -> Transpose -> Reshape;
  output projection, residual Add, LayerNormalization; FFN with erf-GELU (Div sqrt2, Erf, Add 1, Mul, Mul 0.5),
  residual Add, LayerNormalization.

Usage: make_transformer_block.py OUT.onnx [--seed N]
"""
import argparse
import math
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_data_io import model_with_ir_version, save_model  # noqa: E402

OPSET = 17
HIDDEN, HEADS, FFN = 64, 4, 256
HEAD_DIM = HIDDEN // HEADS


class Builder:
    def __init__(self, rng):
        self.rng = rng
        self.nodes, self.initializers = [], []
        self.count = {}

    def _name(self, scope, op):
        key = f"{scope}/{op}"
        n = self.count.get(key, 0)
        self.count[key] = n + 1
        return key if n == 0 else f"{key}_{n}"

    def op(self, scope, op_type, inputs, **attrs):
        name = self._name(scope, op_type)
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    def const(self, scope, array):
        name = self._name(scope, "Constant")
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node("Constant", [], [out], name=name,
                                           value=numpy_helper.from_array(np.asarray(array))))
        return out

    def weight(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def linear(self, scope, x, prefix, fan_in, fan_out):
        """torch nn.Linear as exported: MatMul with the transposed weight as an initializer, then Add bias."""
        bound = 1.0 / math.sqrt(fan_in)
        w = self.weight(f"onnx::MatMul_{prefix}", self.rng.uniform(-bound, bound, (fan_in, fan_out)))
        b = self.weight(f"{prefix}.bias", self.rng.uniform(-bound, bound, fan_out))
        return self.op(scope, "Add", [b, self.op(scope, "MatMul", [x, w])])

    def dim(self, scope, shape, index):
        """Unsqueeze(Gather(shape, index)): one dim as a 1-element int64 tensor."""
        d = self.op(scope, "Gather", [shape, self.const(scope, np.array(index, dtype=np.int64))], axis=0)
        return self.op(scope, "Unsqueeze", [d, self.const(scope, np.array([0], dtype=np.int64))])

    def layer_norm(self, scope, x, prefix):
        scale = self.weight(f"{prefix}.weight", self.rng.uniform(0.7, 1.3, HIDDEN))
        bias = self.weight(f"{prefix}.bias", self.rng.normal(0.0, 0.1, HIDDEN))
        return self.op(scope, "LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-12)


def build_transformer_block(seed=0):
    b = Builder(np.random.default_rng(seed))
    s = "/attention"
    # extended attention mask: (1 - mask[:, None, None, :]) * -10000
    m = b.op("/mask", "Unsqueeze", ["attention_mask", b.const("/mask", np.array([1], dtype=np.int64))])
    m = b.op("/mask", "Unsqueeze", [m, b.const("/mask", np.array([2], dtype=np.int64))])
    m = b.op("/mask", "Cast", [m], to=TensorProto.FLOAT)
    m = b.op("/mask", "Sub", [b.const("/mask", np.array(1.0, dtype=np.float32)), m])
    mask = b.op("/mask", "Mul", [m, b.const("/mask", np.array(-10000.0, dtype=np.float32))])

    shape = b.op(s, "Shape", ["hidden"])
    batch, seq = b.dim(s, shape, 0), b.dim(s, shape, 1)
    heads_shape = b.op(s, "Concat", [batch, seq, b.const(s, np.array([HEADS], dtype=np.int64)),
                                     b.const(s, np.array([HEAD_DIM], dtype=np.int64))], axis=0)

    def split_heads(name, perm):
        x = b.linear(f"{s}/{name}", "hidden", f"attention.self.{name}", HIDDEN, HIDDEN)
        x = b.op(f"{s}/{name}", "Reshape", [x, heads_shape], allowzero=0)
        return b.op(f"{s}/{name}", "Transpose", [x], perm=perm)

    q = split_heads("query", [0, 2, 1, 3])  # [b, h, s, dh]
    k = split_heads("key", [0, 2, 3, 1])  # [b, h, dh, s]
    v = split_heads("value", [0, 2, 1, 3])
    scores = b.op(s, "MatMul", [q, k])
    scores = b.op(s, "Div", [scores, b.const(s, np.array(math.sqrt(HEAD_DIM), dtype=np.float32))])
    scores = b.op(s, "Add", [scores, mask])
    probs = b.op(s, "Softmax", [scores], axis=-1)
    ctx = b.op(s, "MatMul", [probs, v])
    ctx = b.op(s, "Transpose", [ctx], perm=[0, 2, 1, 3])
    merged_shape = b.op(s, "Concat", [batch, seq, b.const(s, np.array([HIDDEN], dtype=np.int64))], axis=0)
    ctx = b.op(s, "Reshape", [ctx, merged_shape], allowzero=0)
    attn = b.linear(f"{s}/output/dense", ctx, "attention.output.dense", HIDDEN, HIDDEN)
    attn = b.op(f"{s}/output", "Add", [attn, "hidden"])
    attn = b.layer_norm(f"{s}/output/LayerNorm", attn, "attention.output.LayerNorm")

    f = "/intermediate"
    h = b.linear(f"{f}/dense", attn, "intermediate.dense", HIDDEN, FFN)
    # erf GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2)))
    g = b.op(f, "Div", [h, b.const(f, np.array(math.sqrt(2.0), dtype=np.float32))])
    g = b.op(f, "Erf", [g])
    g = b.op(f, "Add", [g, b.const(f, np.array(1.0, dtype=np.float32))])
    g = b.op(f, "Mul", [h, g])
    g = b.op(f, "Mul", [g, b.const(f, np.array(0.5, dtype=np.float32))])
    o = b.linear("/output/dense", g, "output.dense", FFN, HIDDEN)
    o = b.op("/output", "Add", [o, attn])
    b.layer_norm("/output/LayerNorm", o, "output.LayerNorm")
    b.nodes[-1].output[0] = "output"  # the graph output is the last LayerNormalization's result

    graph = helper.make_graph(
        b.nodes, "transformer_block",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", HIDDEN]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "seq", HIDDEN])],
        b.initializers)
    return model_with_ir_version(graph, [helper.make_opsetid("", OPSET)], producer="kiln-tests/make_transformer")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = build_transformer_block(args.seed)
    save_model(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(model.graph.node)} nodes)")


if __name__ == "__main__":
    main()
