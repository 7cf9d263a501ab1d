"""pytest setup for the kiln Python package.

The package is imported from the build tree (KILN_PYTHON_DIR, default build/python, as scripts/test.sh builds it)
unless an installed kiln is asked for with KILN_PYTHON_DIR=installed. Cases marked `gpu` need a CUDA GPU: without
one they are skipped with a reason that -rs prints (scripts/test.sh shows it).
"""
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_package_dir = os.environ.get("KILN_PYTHON_DIR", os.path.join(ROOT, "build", "python"))
if _package_dir != "installed":
    if not os.path.isdir(os.path.join(_package_dir, "kiln")):
        raise pytest.UsageError(f"no built kiln package in {_package_dir}: build it first (cmake --build build "
                                "--target kiln_python) or set KILN_PYTHON_DIR")
    sys.path.insert(0, _package_dir)
PACKAGE_DIR = None if _package_dir == "installed" else _package_dir

import kiln  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402  (tests/python/models.py: ONNX models made with onnx.helper)

HAS_GPU = kiln.cuda.device_count() > 0
SEED_CNN = os.path.join(ROOT, "examples", "seed_cnn.onnx")


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (scripts/gpu-check.sh runs these on the GPU machine)")


def pytest_collection_modifyitems(config, items):
    if HAS_GPU:
        return
    reason = ("no CUDA GPU on this machine" if kiln.cuda.is_compiled() else "kiln was built without CUDA") + \
        ": GPU case, run on the GPU machine"
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def rng():
    return np.random.default_rng(20261202)


@pytest.fixture(scope="session")
def small_cnn_path(tmp_path_factory):
    """A small conv net with a dynamic batch: [N,3,9,7] -> [N,5] (Conv, Relu, MaxPool, Flatten, Gemm, Softmax)."""
    path = tmp_path_factory.mktemp("models") / "small_cnn.onnx"
    models.save(models.small_cnn(), path)
    return str(path)


@pytest.fixture(scope="session")
def two_input_path(tmp_path_factory):
    """Two inputs with dynamic batch and width, two outputs: y = relu(a @ w + b), s = sum(a * a, axis=1)."""
    path = tmp_path_factory.mktemp("models") / "two_inputs.onnx"
    models.save(models.two_inputs(), path)
    return str(path)


@pytest.fixture(scope="session")
def small_cnn_cpu(small_cnn_path):
    """The small CNN built for the CPU backend, profile batch 1 / 4 / 16."""
    return kiln.build(small_cnn_path, shapes={"input": ((1, 3, 9, 7), (4, 3, 9, 7), (16, 3, 9, 7))}, device="cpu",
                      tf32=False)

