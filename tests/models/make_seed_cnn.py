#!/usr/bin/env python3
"""The "seed" CNN: a small ResNet-style embedding network shaped like the models the issues describe.

input "input" [batch_size,3,256,144] float32 -> output "output" [batch_size,128] float32, opset 17.
  stem: Conv 3x3/s2 -> BatchNormalization -> Relu -> MaxPool 3x3/s2
  layer1: basic block 16->16; layer2: basic block 16->32, stride 2 (1x1/s2 conv + BN downsample);
  layer3: basic block 32->64, stride 2 (downsample)
  GlobalAveragePool, then the flatten torch.onnx.export writes at opset 17 for x.view(x.size(0), -1)
  (Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape), then Gemm to a 128-wide embedding.
BatchNormalization nodes are kept (kiln folds them); weights are He-initialized and the BN statistics are
non-trivial so that a wrong fold shows. Deterministic for a given seed.

Usage: make_seed_cnn.py OUT.onnx [--seed N]
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
EMBEDDING = 128


class GraphBuilder:
    """Collects nodes and initializers with torch-export-like names ("/layer1/layer1.0/conv1/Conv")."""

    def __init__(self, rng):
        self.rng = rng
        self.nodes, self.initializers = [], []

    def weight(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
        return name

    def constant(self, name, array):
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node("Constant", [], [out], name=name,
                                           value=numpy_helper.from_array(np.asarray(array))))
        return out

    def node(self, op, inputs, name, **attrs):
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv_bn(self, x, prefix, bn_prefix, cin, cout, kernel, stride):
        fan_in = cin * kernel * kernel
        w = self.rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(cout, cin, kernel, kernel))
        pad = kernel // 2
        y = self.node("Conv", [x, self.weight(f"{prefix}.weight", w)], f"/{prefix.replace('.', '/')}/Conv",
                      dilations=[1, 1], group=1, kernel_shape=[kernel, kernel], pads=[pad] * 4,
                      strides=[stride, stride])
        params = [
            self.weight(f"{bn_prefix}.weight", self.rng.uniform(0.5, 1.5, cout)),
            self.weight(f"{bn_prefix}.bias", self.rng.normal(0.0, 0.1, cout)),
            self.weight(f"{bn_prefix}.running_mean", self.rng.normal(0.0, 0.2, cout)),
            self.weight(f"{bn_prefix}.running_var", self.rng.uniform(0.5, 2.0, cout)),
        ]
        return self.node("BatchNormalization", [y] + params, f"/{bn_prefix.replace('.', '/')}/BatchNormalization",
                         epsilon=1e-5, momentum=0.9)

    def basic_block(self, x, prefix, cin, cout, stride):
        y = self.conv_bn(x, f"{prefix}.conv1", f"{prefix}.bn1", cin, cout, 3, stride)
        y = self.node("Relu", [y], f"/{prefix.replace('.', '/')}/relu/Relu")
        y = self.conv_bn(y, f"{prefix}.conv2", f"{prefix}.bn2", cout, cout, 3, 1)
        skip = x
        if stride != 1 or cin != cout:
            skip = self.conv_bn(x, f"{prefix}.downsample.0", f"{prefix}.downsample.1", cin, cout, 1, stride)
        y = self.node("Add", [y, skip], f"/{prefix.replace('.', '/')}/Add")
        return self.node("Relu", [y], f"/{prefix.replace('.', '/')}/relu_1/Relu")


def build_seed_cnn(seed=0):
    g = GraphBuilder(np.random.default_rng(seed))
    x = g.conv_bn("input", "conv1", "bn1", 3, 16, 3, 2)
    x = g.node("Relu", [x], "/relu/Relu")
    x = g.node("MaxPool", [x], "/maxpool/MaxPool", ceil_mode=0, dilations=[1, 1], kernel_shape=[3, 3],
               pads=[1, 1, 1, 1], strides=[2, 2])
    x = g.basic_block(x, "layer1.0", 16, 16, 1)
    x = g.basic_block(x, "layer2.0", 16, 32, 2)
    x = g.basic_block(x, "layer3.0", 32, 64, 2)
    x = g.node("GlobalAveragePool", [x], "/avgpool/GlobalAveragePool")
    # x.view(x.size(0), -1) as torch.onnx.export writes it at opset 17
    shape = g.node("Shape", [x], "/Shape")
    batch = g.node("Gather", [shape, g.constant("/Constant", np.array(0, dtype=np.int64))], "/Gather", axis=0)
    batch = g.node("Unsqueeze", [batch, g.constant("/Constant_1", np.array([0], dtype=np.int64))], "/Unsqueeze")
    new_shape = g.node("Concat", [batch, g.constant("/Constant_2", np.array([-1], dtype=np.int64))], "/Concat",
                       axis=0)
    x = g.node("Reshape", [x, new_shape], "/Reshape", allowzero=0)
    bound = 1.0 / math.sqrt(64)
    fc_w = g.weight("fc.weight", g.rng.uniform(-bound, bound, (EMBEDDING, 64)))
    fc_b = g.weight("fc.bias", g.rng.uniform(-bound, bound, EMBEDDING))
    g.nodes.append(helper.make_node("Gemm", [x, fc_w, fc_b], ["output"], name="/fc/Gemm", alpha=1.0, beta=1.0,
                                    transB=1))
    graph = helper.make_graph(
        g.nodes, "seed_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 3, 256, 144])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", EMBEDDING])],
        g.initializers)
    return model_with_ir_version(graph, [helper.make_opsetid("", OPSET)], producer="kiln-tests/make_seed_cnn")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="path of the .onnx file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = build_seed_cnn(args.seed)
    save_model(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(model.graph.node)} nodes)")


if __name__ == "__main__":
    main()
