"""Device memory, copies, streams and events without PyTorch (over kiln._kiln.cuda, the CUDA runtime).

For code that has no torch/CuPy/pycuda at hand: the seeds' HostDeviceMem, cuda.Stream and cuda.Event jobs.
Without CUDA compiled in, is_available() is False and the rest raises kiln.UnsupportedError.
"""
import numpy as np

from . import _kiln
from .dtypes import DataType, from_numpy, nptype, to_kiln, volume

_cuda = _kiln.cuda


def device_count():
    return _cuda.device_count()


def is_available():
    return _cuda.device_count() > 0


def is_compiled():
    """Whether this kiln was built with its CUDA backend."""
    return _cuda.is_compiled()


class DeviceArray:
    """A C-contiguous array in device memory. ``ptr`` is its address (for set_tensor_address); it is a DLPack
    producer, so ``torch.from_dlpack(a)`` / ``cupy.from_dlpack(a)`` view it without a copy."""

    def __init__(self, shape, dtype=DataType.FLOAT):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = DataType(dtype)
        self.nbytes = volume(self.shape) * self.dtype.itemsize
        self._allocation = _cuda.DeviceAllocation(self.nbytes)
        self.ptr = self._allocation.ptr

    def view(self, shape):
        """The first volume(shape) elements as an array of `shape`, sharing this memory (no copy)."""
        shape = tuple(int(d) for d in shape)
        if volume(shape) * self.dtype.itemsize > self.nbytes:
            raise _kiln.InvalidArgumentError(f"a view of shape {shape} does not fit {self.nbytes} bytes")
        out = object.__new__(DeviceArray)
        out.shape, out.dtype, out.nbytes = shape, self.dtype, volume(shape) * self.dtype.itemsize
        out._allocation, out.ptr = self._allocation, self.ptr
        return out

    @classmethod
    def from_host(cls, array, stream=0):
        """A device copy of a host array (asynchronous on `stream`)."""
        array = np.ascontiguousarray(array)
        out = cls(array.shape, from_numpy(array.dtype))
        out.copy_from_host(array, stream)
        return out

    def copy_from_host(self, array, stream=0):
        """Asynchronous on `stream`; keep `array` alive and unchanged until the stream has passed the copy."""
        array = np.ascontiguousarray(array)
        if array.nbytes != self.nbytes:
            raise _kiln.InvalidArgumentError(f"copy of {array.nbytes} bytes into a device array of {self.nbytes}")
        _cuda.copy_to_device(self.ptr, array, _handle(stream))

    def to_host(self, stream=0):
        """A NumPy copy (bfloat16 as its uint16 bits); synchronizes `stream`."""
        out = np.empty(self.shape, dtype=nptype(self.dtype) or np.uint16)
        _cuda.copy_to_host(out, self.ptr, _handle(stream))
        _cuda.stream_synchronize(_handle(stream))
        return out

    numpy = to_host

    def __dlpack__(self, **kwargs):
        # The memory is ready once the stream that wrote it has passed: synchronizing is the caller's part, as for
        # any device array (`stream` is accepted and not used).
        view = _cuda.device_array(self._allocation, self.ptr, list(self.shape), to_kiln(self.dtype))
        if not hasattr(view, "__dlpack__"):  # an older nanobind returns the DLPack capsule itself
            return view
        try:
            return view.__dlpack__(**kwargs)
        except TypeError:  # a nanobind whose __dlpack__ takes no keywords
            return view.__dlpack__()

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0

    def __int__(self):
        return self.ptr

    def __repr__(self):
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype.name}, ptr={self.ptr:#x})"


def _handle(stream):
    from .interop import stream_handle

    return stream_handle(stream)


class Stream:
    """A non-blocking CUDA stream; ``handle`` is the cudaStream_t as an int."""

    def __init__(self):
        self.handle = _cuda.stream_create()

    def synchronize(self):
        _cuda.stream_synchronize(self.handle)

    def __del__(self):
        handle, self.handle = getattr(self, "handle", 0), 0
        if handle:
            try:
                _cuda.stream_destroy(handle)
            except Exception:  # noqa: BLE001 (the interpreter may be shutting down)
                pass


class Event:
    """A CUDA event for timing, like pycuda's: ``start.record(stream)``, ``start.time_till(end)`` in ms."""

    def __init__(self):
        self.handle = _cuda.event_create()

    def record(self, stream=0):
        _cuda.event_record(self.handle, _handle(stream))

    def time_till(self, end):
        return _cuda.event_elapsed_ms(self.handle, end.handle)

    elapsed_time = time_till

    def __del__(self):
        handle, self.handle = getattr(self, "handle", 0), 0
        if handle:
            try:
                _cuda.event_destroy(handle)
            except Exception:  # noqa: BLE001
                pass
