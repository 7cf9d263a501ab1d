"""Declarative single-operator test cases, checked against onnxruntime.

Each file tests/ops/cases/<family>.py defines CASES, a list of Case. tests/models/generate_all.py turns every case
into tests data in ONNX's backend-test layout (model.onnx, test_data_set_0/input_N.pb, output_N.pb) with outputs
computed by onnxruntime, and tests/ops/op_cases_test.cpp runs each one through kiln on every backend.
"""
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class Input:
    name: str
    shape: tuple
    dtype: str = "float32"
    low: float = -2.0
    high: float = 2.0
    values: Optional[np.ndarray] = None  # fixed contents (indices, axes, shapes); random otherwise
    constant: bool = False  # an initializer of the model rather than a graph input


def inp(name, shape, dtype="float32", low=-2.0, high=2.0, values=None):
    """A graph input filled with random non-zero values in [low, high] (or `values`)."""
    return Input(name, tuple(shape), dtype, low, high, None if values is None else np.asarray(values))


def const(name, values, dtype=None):
    """An initializer with fixed contents."""
    arr = np.asarray(values, dtype=dtype) if dtype else np.asarray(values)
    return Input(name, arr.shape, str(arr.dtype), values=arr, constant=True)


def absent():
    """An omitted optional input (empty name in the node)."""
    return None


@dataclass
class Case:
    name: str  # unique over all families; becomes the directory name
    op: str  # ONNX op_type
    inputs: list  # of Input or None (omitted optional input)
    attrs: dict = field(default_factory=dict)
    outputs: int = 1  # number of node outputs, all compared
    opset: int = 17
    rtol: float = 1e-4  # kiln FP32 vs onnxruntime; write the reason next to any wider value
    atol: float = 1e-5
    note: str = ""


def random_input(spec: Input, rng: np.random.Generator) -> np.ndarray:
    if spec.values is not None:
        return spec.values.astype(spec.dtype)
    if spec.dtype == "bool":
        return rng.random(spec.shape) > 0.5
    if spec.dtype.startswith("int") or spec.dtype.startswith("uint"):
        lo, hi = int(spec.low), int(spec.high)
        x = rng.integers(lo, hi + 1, size=spec.shape)
        x[x == 0] = hi if hi != 0 else 1  # non-zero, so that Div/Mod and unwritten outputs show
        return x.astype(spec.dtype)
    mag = rng.uniform(max(abs(spec.low), abs(spec.high)) * 0.05, 1.0, size=spec.shape)
    x = rng.uniform(spec.low, spec.high, size=spec.shape)
    x = np.where(np.abs(x) < 1e-3, mag, x)  # keep away from zero
    return x.astype(spec.dtype)
