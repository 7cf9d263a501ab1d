#!/usr/bin/env python3
"""Real torch exports with ONNX If, for tests/models/if_exports_test.cpp (passes/inline_control_flow.cpp end to end).

Writes, under --out (committed as tests/models/if_exports/):
  script_shape_check/  torch.jit.script of `if x.shape[1] > 3:` (then: x * w[:C] + 1, else: relu(x) - x), legacy
                       TorchScript exporter, opset 17, N and C dynamic: the If reads x, w and the Gather of C from
                       the outer graph.
  script_loop/         torch.jit.script of `for i in range(x.shape[1] - 1): acc = acc * w + x * i`, legacy exporter:
                       a Loop whose trip count comes from the static dim 4 and whose condition is an outer constant.
  dynamo_cond/         torch.cond(x.shape[0] > 4, linear+relu, x*2-1) with the dynamo exporter (opset 18+), batch dynamic.
and, per case and shape, x_<N>x<C>.npy (the input) and y_<N>x<C>.npy (PyTorch's float32 output).

Needs torch and onnx (not part of the regular test data generation, which has no torch):
  python tests/models/make_if_exports.py --out tests/models/if_exports
"""
import argparse
import os
import warnings

import numpy as np
import torch


class ShapeCheck(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-1.5, 2.0, 5))

    def forward(self, x):
        if x.shape[1] > 3:
            y = x * self.w[: x.shape[1]] + 1.0
        else:
            y = torch.relu(x) - x
        return y


class LoopOverColumns(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.linspace(-0.5, 0.75, 4))

    def forward(self, x):
        acc = x
        for i in range(x.shape[1] - 1):
            acc = acc * self.w + x * float(i)
        return acc


class CondOnBatch(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x):
        def then_fn(x):
            return self.lin(x).relu()

        def else_fn(x):
            return x * 2.0 - 1.0

        return torch.cond(x.shape[0] > 4, then_fn, else_fn, (x,))


def save_runs(module, folder, shapes, seed):
    rng = np.random.default_rng(seed)
    for n, c in shapes:
        x = rng.uniform(0.25, 2.0, size=(n, c)).astype(np.float32) * rng.choice([-1.0, 1.0], size=(n, c)).astype(np.float32)
        with torch.no_grad():
            y = module(torch.from_numpy(x)).numpy().astype(np.float32)
        np.save(os.path.join(folder, f"x_{n}x{c}.npy"), x)
        np.save(os.path.join(folder, f"y_{n}x{c}.npy"), y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.manual_seed(0)

    folder = os.path.join(a.out, "script_shape_check")
    os.makedirs(folder, exist_ok=True)
    m = ShapeCheck().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.jit.script(m), (torch.randn(2, 5),), os.path.join(folder, "model.onnx"), dynamo=False,
                          input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "N", 1: "C"}, "y": {0: "N", 1: "C"}})
    save_runs(m, folder, [(1, 5), (4, 5), (7, 5), (2, 3), (5, 3)], seed=1)

    folder = os.path.join(a.out, "script_loop")
    os.makedirs(folder, exist_ok=True)
    m = LoopOverColumns().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.jit.script(m), (torch.randn(2, 4),), os.path.join(folder, "model.onnx"), dynamo=False,
                          input_names=["x"], output_names=["y"], opset_version=17,
                          dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    save_runs(m, folder, [(1, 4), (3, 4), (8, 4)], seed=3)

    folder = os.path.join(a.out, "dynamo_cond")
    os.makedirs(folder, exist_ok=True)
    m = CondOnBatch().eval()
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.onnx.export(m, (torch.randn(6, 4),), dynamo=True, dynamic_shapes={"x": {0: batch}},
                                input_names=["x"], output_names=["y"])
    program.save(os.path.join(folder, "model.onnx"))
    save_runs(m, folder, [(6, 4), (3, 4)], seed=2)


if __name__ == "__main__":
    main()
