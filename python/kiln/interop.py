"""Arrays of NumPy, torch and any DLPack producer (CuPy, JAX, ...) seen without a copy, and CUDA stream handles of
torch, CuPy, pycuda, cuda-python or a plain int. torch is never imported here: a torch tensor is recognized only
when the caller has imported torch already.
"""
import sys

import numpy as np

from . import _kiln
from .dtypes import DataType, from_kiln, from_numpy, from_torch, nptype, to_torch


class ArrayRef:
    """What kiln needs to bind an array: its address, shape, dtype (None if kiln has no such type), device."""

    __slots__ = ("obj", "kind", "ptr", "shape", "dtype", "device", "device_id", "contiguous")

    def __init__(self, obj, kind, ptr, shape, dtype, device, device_id, contiguous):
        self.obj, self.kind, self.ptr, self.shape, self.dtype = obj, kind, ptr, shape, dtype
        self.device, self.device_id, self.contiguous = device, device_id, contiguous


_DLPACK_DEVICES = {"cpu": "cpu", "cuda_host": "cpu", "cuda": "cuda", "cuda_managed": "cuda"}


def describe(obj):
    """ArrayRef of a NumPy array, a torch tensor, a DLPack producer or a buffer; other objects (nested lists,
    scalars) become a NumPy array first."""
    if isinstance(obj, np.ndarray):
        return ArrayRef(obj, "numpy", obj.__array_interface__["data"][0], obj.shape, from_numpy(obj.dtype), "cpu",
                        0, obj.flags.c_contiguous)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        device = obj.device
        return ArrayRef(obj, "torch", obj.data_ptr(), tuple(obj.shape), from_torch(obj.dtype),
                        device.type if device.type in ("cpu", "cuda") else "other", device.index or 0,
                        obj.is_contiguous())
    if hasattr(obj, "__dlpack__"):
        try:
            info = _kiln.array_info(obj)
        except TypeError:  # a nanobind that imports DLPack capsules only, not producers: ask for the capsule
            info = _kiln.array_info(obj.__dlpack__())
        ptr, shape, dtype, device, device_id, contiguous = info
        return ArrayRef(obj, "dlpack", ptr, shape, None if dtype is None else from_kiln(dtype),
                        _DLPACK_DEVICES.get(device, device), device_id, contiguous)
    return describe(np.asarray(obj))


def host_array(ref):
    """A C-contiguous NumPy array with the contents of a host ArrayRef (no copy when it already is one)."""
    if ref.kind == "numpy":
        array = ref.obj
    elif ref.kind == "torch":
        array = ref.obj.detach().numpy()
    else:
        array = np.from_dlpack(ref.obj)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def empty_like_kind(ref, shape, dtype, device):
    """A new array of the same library as `ref` (torch -> torch, else NumPy on the host, kiln.cuda.DeviceArray on
    a GPU) to receive an output."""
    if ref.kind == "torch":
        import torch  # already imported by the caller

        return torch.empty(tuple(shape), dtype=to_torch(dtype), device=ref.obj.device)
    if device == "cuda":
        from .cuda import DeviceArray

        return DeviceArray(shape, dtype)
    return np.empty(shape, dtype=nptype(dtype) or np.uint16)  # bfloat16 comes back as its bits


def leading_view(array, shape):
    """The first volume(shape) elements of a flat array from empty_like_kind, as `shape`, without a copy."""
    from .cuda import DeviceArray

    if isinstance(array, DeviceArray):
        return array.view(shape)
    n = 1
    for d in shape:
        n *= int(d)
    return array[:n].reshape(tuple(shape))  # NumPy or torch


def as_torch(array, dtype):
    """A torch CPU tensor over a NumPy output (no copy)."""
    import torch

    tensor = torch.from_numpy(array)
    return tensor.view(torch.bfloat16) if dtype == DataType.BF16 else tensor


def stream_handle(stream):
    """The cudaStream_t in `stream` as an int: None -> 0 (the legacy default stream), an int, torch.cuda.Stream
    (.cuda_stream), CuPy (.ptr), pycuda (.handle), or anything int() accepts (cuda-python's cudaStream_t)."""
    if stream is None:
        return 0
    if isinstance(stream, int):
        return stream
    for attr in ("cuda_stream", "ptr", "handle"):
        value = getattr(stream, attr, None)
        if value is not None:
            return int(value)
    return int(stream)
