"""Zero-copy NumPy, DLPack and torch arrays on the CPU backend (the CUDA cases are in test_gpu.py)."""
import numpy as np
import pytest

import kiln
from helpers import assert_close, onnxruntime_outputs, random_input, record_bindings


class DlpackOnly:
    """A foreign array that offers nothing but the DLPack protocol (as CuPy or JAX arrays do)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, *args, **kwargs):
        return self._array.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_numpy_inputs_and_outputs_are_bound_in_place(small_cnn_cpu, small_cnn_path, rng):
    context = small_cnn_cpu.create_execution_context()
    bindings = record_bindings(context)
    x = random_input(rng, (3, 3, 9, 7))
    y = np.zeros((3, 5), dtype=np.float32)
    out = context.infer(x, outputs={"logits": y})
    assert out["logits"] is y
    assert ("input", x.ctypes.data) in bindings and ("logits", y.ctypes.data) in bindings  # read and written in place
    assert_close(y, onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])
    # infer() leaves the bindings as they were (none): the caller's arrays are not used by later runs.
    assert context.get_tensor_address("input") == 0 and context.get_tensor_address("logits") == 0


def test_infer_keeps_the_callers_bindings(small_cnn_cpu, small_cnn_path, rng):
    context = small_cnn_cpu.create_execution_context()
    x, y = random_input(rng, (2, 3, 9, 7)), np.zeros((2, 5), dtype=np.float32)
    context.set_input_shape("input", x.shape)
    context.set_tensor_address("input", x.ctypes.data)
    context.set_tensor_address("logits", y.ctypes.data)
    other = random_input(rng, (4, 3, 9, 7))
    assert_close(context.infer(other)["logits"], onnxruntime_outputs(small_cnn_path, {"input": other})["logits"])
    assert context.get_tensor_address("input") == x.ctypes.data
    context.set_input_shape("input", x.shape)
    context.execute_async_v3(0)  # runs on the caller's buffers again
    assert_close(y, onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_dlpack_producer_input(small_cnn_cpu, small_cnn_path, rng):
    x = random_input(rng, (5, 3, 9, 7))
    context = small_cnn_cpu.create_execution_context()
    bindings = record_bindings(context)
    out = context.infer(DlpackOnly(x))
    assert isinstance(out["logits"], np.ndarray)
    assert ("input", x.ctypes.data) in bindings
    assert_close(out["logits"], onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_dlpack_wrong_dtype_is_refused(small_cnn_cpu, rng):
    x = random_input(rng, (5, 3, 9, 7)).astype(np.float16)
    with pytest.raises(kiln.InvalidArgumentError, match="input 'input' must be float32, got float16"):
        small_cnn_cpu.create_execution_context().infer(DlpackOnly(x))


def test_array_info_sees_without_copying(rng):
    x = random_input(rng, (4, 6))
    ptr, shape, dtype, device, device_id, contiguous = kiln._kiln.array_info(x)
    assert (ptr, shape, device, device_id, contiguous) == (x.ctypes.data, (4, 6), "cpu", 0, True)
    assert dtype == kiln._kiln.DataType.float32
    t = x.T
    assert kiln._kiln.array_info(t)[0] == x.ctypes.data and kiln._kiln.array_info(t)[5] is False
    readonly = x.copy()
    readonly.flags.writeable = False
    assert kiln._kiln.array_info(readonly)[0] == readonly.ctypes.data
    with pytest.raises(TypeError):
        kiln._kiln.writable_array_info(readonly)
    assert kiln._kiln.array_info(np.zeros(3, dtype=np.complex64))[2] is None  # no such kiln type
    assert kiln._kiln.array_info(np.zeros(2, dtype=bool))[2] == kiln._kiln.DataType.bool


def test_copy_path_outputs_share_kiln_memory(small_cnn_cpu, rng):
    # The C++ convenience path (ExecutionContext::infer) hands back NumPy arrays over kiln's own tensors.
    raw = small_cnn_cpu._engine.create_context(0)
    x = random_input(rng, (2, 3, 9, 7))
    first = raw.infer({"input": x})["logits"]
    second = raw.infer({"input": x})["logits"]
    assert first.ctypes.data != second.ctypes.data  # each result owns its memory
    np.testing.assert_array_equal(first, second)
    del raw  # the arrays keep their tensors alive after the context is gone
    assert np.isfinite(first).all() and first.shape == (2, 5)


def test_torch_cpu_tensors(small_cnn_cpu, small_cnn_path, rng):
    torch = pytest.importorskip("torch", reason="torch is not installed (CI does not need it)")
    x = torch.from_numpy(random_input(rng, (6, 3, 9, 7))).requires_grad_(True)
    context = small_cnn_cpu.create_execution_context()
    bindings = record_bindings(context)
    out = context.infer({"input": x})
    assert isinstance(out["logits"], torch.Tensor) and out["logits"].dtype == torch.float32
    assert ("input", x.data_ptr()) in bindings and ("logits", out["logits"].data_ptr()) in bindings
    assert_close(out["logits"].numpy(), onnxruntime_outputs(small_cnn_path, {"input": x.detach().numpy()})["logits"])
    given = torch.empty(6, 5)
    assert context.infer(x, outputs={"logits": given})["logits"] is given
    assert_close(given.numpy(), out["logits"].numpy())
    with pytest.raises(kiln.InvalidArgumentError, match="input 'input' must be float32, got float64"):
        context.infer(x.double())


def test_stream_handles():
    from kiln.interop import stream_handle

    class TorchLike:
        cuda_stream = 0x1234

    class CupyLike:
        ptr = 0x5678

    class PycudaLike:
        handle = 0x9ABC

    class CudaPythonLike:
        def __int__(self):
            return 0xDEF0

    assert [stream_handle(s) for s in (None, 7, TorchLike(), CupyLike(), PycudaLike(), CudaPythonLike())] == \
        [0, 7, 0x1234, 0x5678, 0x9ABC, 0xDEF0]


def test_device_array_exports_its_memory_through_dlpack():
    # A DeviceArray's DLPack view is how torch.from_dlpack and kiln's own binding see it. Its memory is not touched
    # here (no GPU needed): an address that no allocation backs, described only. This failed on the GPU machine
    # when the view came back as a bare DLPack capsule and __dlpack__ asked the capsule for __dlpack__.
    class Owner:
        pass

    array = object.__new__(kiln.cuda.DeviceArray)
    array._allocation, array.ptr, array.shape, array.dtype = Owner(), 0x10000, (2, 3, 5), kiln.DataType.HALF
    capsule = array.__dlpack__(max_version=(1, 0), stream=None)
    assert type(capsule).__name__ == "PyCapsule"
    ref = kiln.interop.describe(array)
    assert (ref.ptr, tuple(ref.shape), ref.device) == (0x10000, (2, 3, 5), "cuda")
    assert ref.dtype == kiln.DataType.HALF
