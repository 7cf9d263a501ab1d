"""Shared test helpers: random non-zero inputs, onnxruntime references, FP32 comparison."""
import numpy as np
import onnxruntime as ort


def random_input(rng, shape, dtype=np.float32):
    """Uniform in [-1, -0.1] U [0.1, 1]: non-zero, so that a dropped term shows."""
    x = rng.uniform(0.1, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    return x.astype(dtype)


_sessions = {}


def onnxruntime_outputs(model_path, feeds):
    """{output name: array} from onnxruntime (CPU), the independent reference."""
    session = _sessions.get(model_path)
    if session is None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = _sessions[model_path] = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def assert_close(actual, expected, rtol=1e-4, atol_fraction=1e-5):
    """FP32 agreement (DESIGN.md: max relative error <= 1e-4): |a - e| <= rtol*|e| + atol_fraction*max|e|."""
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    assert scale > 0, "the reference is all zeros: the test could not see a wrong result"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol_fraction * scale)


class _BindingRecorder:
    def __init__(self, inner, log):
        self._inner, self._log = inner, log

    def set_tensor_address(self, name, address):
        self._log.append((name, address))
        return self._inner.set_tensor_address(name, address)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def record_bindings(context):
    """Every (name, address) the context hands to kiln from now on: shows which memory kiln was told to use."""
    log = []
    context._ctx = _BindingRecorder(context._ctx, log)
    return log
