"""Element types with TensorRT's names, and the helpers TensorRT scripts use (``nptype``, ``volume``).

The numbers are kiln's (ONNX TensorProto's), not TensorRT's: compare members, never raw integers.
"""
import enum
import math

import numpy as np

from . import _kiln


class DataType(enum.IntEnum):
    """The type of an engine input or output. TensorRT's names where TensorRT has the type."""

    FLOAT = 1
    HALF = 10
    BF16 = 16
    INT8 = 3
    INT32 = 6
    INT64 = 7
    BOOL = 9
    UINT8 = 2
    # Types TensorRT has no name for (kiln runs them; ONNX names them).
    DOUBLE = 11
    INT16 = 5
    UINT16 = 4
    UINT32 = 12
    UINT64 = 13

    @property
    def itemsize(self):
        """Bytes per element."""
        return _kiln.data_type_size(_kiln.DataType(int(self)))

    @property
    def kiln_name(self):
        """kiln's name of the type ("float32", "float16", ...), as in its messages."""
        return _kiln.data_type_name(_kiln.DataType(int(self)))


# trt.float32 and friends.
float32 = DataType.FLOAT
float16 = DataType.HALF
bfloat16 = DataType.BF16
int8 = DataType.INT8
int32 = DataType.INT32
int64 = DataType.INT64
uint8 = DataType.UINT8
bool = DataType.BOOL  # noqa: A001 (TensorRT's name)

_TO_NUMPY = {
    DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.DOUBLE: np.float64,
    DataType.INT8: np.int8, DataType.INT16: np.int16, DataType.INT32: np.int32, DataType.INT64: np.int64,
    DataType.UINT8: np.uint8, DataType.UINT16: np.uint16, DataType.UINT32: np.uint32, DataType.UINT64: np.uint64,
    DataType.BOOL: np.bool_,
}
_FROM_NUMPY = {np.dtype(v): k for k, v in _TO_NUMPY.items()}
_TORCH_NAMES = {
    DataType.FLOAT: "float32", DataType.HALF: "float16", DataType.BF16: "bfloat16", DataType.DOUBLE: "float64",
    DataType.INT8: "int8", DataType.INT16: "int16", DataType.INT32: "int32", DataType.INT64: "int64",
    DataType.UINT8: "uint8", DataType.UINT16: "uint16", DataType.UINT32: "uint32", DataType.UINT64: "uint64",
    DataType.BOOL: "bool",
}
_from_torch_cache = {}


def nptype(dtype):
    """The NumPy scalar type of a DataType (trt.nptype). None for BF16, which NumPy lacks (TensorRT raises here)."""
    return _TO_NUMPY.get(DataType(dtype))


def volume(shape):
    """Number of elements of a shape (trt.volume)."""
    return math.prod(int(d) for d in shape)


def from_kiln(dtype):
    """DataType of a kiln._kiln.DataType."""
    return DataType(int(dtype))


def to_kiln(dtype):
    """kiln._kiln.DataType of a DataType."""
    return _kiln.DataType(int(dtype))


def from_numpy(dtype):
    """DataType of a NumPy dtype, or None."""
    return _FROM_NUMPY.get(np.dtype(dtype))


def to_torch(dtype):
    """The torch dtype of a DataType (imports torch: call only when the caller already uses it)."""
    import torch

    return getattr(torch, _TORCH_NAMES[DataType(dtype)])


def from_torch(torch_dtype):
    """DataType of a torch dtype, or None."""
    found = _from_torch_cache.get(torch_dtype)
    if found is None:
        name = str(torch_dtype).replace("torch.", "")
        found = next((k for k, v in _TORCH_NAMES.items() if v == name), None)
        _from_torch_cache[torch_dtype] = found
    return found
