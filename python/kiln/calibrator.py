"""INT8 calibrators (TensorRT's IInt8EntropyCalibrator2, IInt8MinMaxCalibrator...): the user's data for an INT8 build.

Subclass one, set ``config.int8_calibrator = calibrator`` with BuilderFlag.INT8, and build. As in TensorRT:
- read_calibration_cache() returns the bytes a previous build wrote (or None): with them, no batch is read;
- else get_batch(names) is called until it returns None (or an empty list); each call returns one buffer per input
  of `names`, holding get_batch_size() rows of the calibration profile's opt shape (the first profile unless
  config.set_calibration_profile chose one): device pointers for a CUDA build, host pointers for a CPU build, or
  (kiln's addition) NumPy arrays / torch tensors, whose own shapes are used;
- write_calibration_cache(cache) receives the new cache's bytes (kiln's text format, docs/calibration-cache.md).

kiln's differences: the batches are copied to .npy files in a temporary folder and calibrated there by the C++
builder (the same path as `kiln build --int8 --calib`); IInt8LegacyCalibrator's quantile is kiln's percentile
method (get_quantile() x 100), and get_regression_cutoff is not used.
"""
import ctypes
import enum
import os
import shutil
import sys
import tempfile

import numpy as np

from . import _kiln
from .dtypes import nptype


class CalibrationAlgoType(enum.IntEnum):
    LEGACY_CALIBRATION = 0
    ENTROPY_CALIBRATION = 1
    ENTROPY_CALIBRATION_2 = 2
    MINMAX_CALIBRATION = 3


class IInt8Calibrator:
    """Override get_batch_size, get_batch, read_calibration_cache and write_calibration_cache."""

    def __init__(self):
        pass

    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION_2

    def get_batch_size(self):
        return 1

    def get_batch(self, names):
        return None

    def read_calibration_cache(self):
        return None

    def write_calibration_cache(self, cache):
        pass


class IInt8EntropyCalibrator2(IInt8Calibrator):
    pass


class IInt8EntropyCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.ENTROPY_CALIBRATION


class IInt8MinMaxCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.MINMAX_CALIBRATION


class IInt8LegacyCalibrator(IInt8Calibrator):
    def get_algorithm(self):
        return CalibrationAlgoType.LEGACY_CALIBRATION

    def get_quantile(self):
        return 0.9999


_METHODS = {CalibrationAlgoType.LEGACY_CALIBRATION: _kiln.CalibrationMethod.PERCENTILE,
            CalibrationAlgoType.ENTROPY_CALIBRATION: _kiln.CalibrationMethod.ENTROPY,
            CalibrationAlgoType.ENTROPY_CALIBRATION_2: _kiln.CalibrationMethod.ENTROPY,
            CalibrationAlgoType.MINMAX_CALIBRATION: _kiln.CalibrationMethod.MINMAX}


def _host_array(buffer, name, shape, dtype, device):
    """One input's batch as a NumPy array: arrays and tensors as they are, addresses read at `shape`."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(buffer, torch.Tensor):
        return buffer.detach().cpu().numpy()
    if isinstance(buffer, np.ndarray):
        return buffer
    address = int(buffer)
    out = np.empty(shape, dtype=nptype(dtype))
    if address == 0:
        raise _kiln.InvalidArgumentError(f"int8 calibrator: get_batch gave a null pointer for input '{name}'")
    if device == "cuda":
        _kiln.cuda.copy_to_host(out, address, 0)
        _kiln.cuda.stream_synchronize(0)
    else:
        ctypes.memmove(out.ctypes.data, address, out.nbytes)
    return out


class CalibrationSession:
    """What one INT8 build needs from a calibrator: a cache file or a folder of batches, set on the kiln config
    before the build, and the cache handed back to the calibrator after it."""

    def __init__(self, calibrator, inputs, profile, device, kiln_config):
        self.calibrator = calibrator
        self.folder = tempfile.mkdtemp(prefix="kiln-calib-")
        self.cache_path = os.path.join(self.folder, "calibration.cache")
        algorithm = CalibrationAlgoType(calibrator.get_algorithm())
        kiln_config.calibration_method = _METHODS[algorithm]
        if algorithm == CalibrationAlgoType.LEGACY_CALIBRATION:
            kiln_config.calibration_percentile = 100.0 * float(calibrator.get_quantile())
        kiln_config.calibration_cache_path = self.cache_path
        cached = calibrator.read_calibration_cache()
        self.from_cache = bool(cached)
        if self.from_cache:
            with open(self.cache_path, "wb") as f:
                f.write(bytes(cached))
            return
        names = [t.name for t in inputs]
        batch = int(calibrator.get_batch_size())
        folders = {n: os.path.join(self.folder, f"input{i}") for i, n in enumerate(names)}
        for path in folders.values():
            os.makedirs(path)
        count = 0
        while True:
            buffers = calibrator.get_batch(names)
            if not buffers:
                break
            if len(buffers) != len(names):
                raise _kiln.InvalidArgumentError(f"int8 calibrator: get_batch({names}) returned {len(buffers)} "
                                                 f"buffers, expected one per input")
            for info, buffer in zip(inputs, buffers):
                ranges = profile.get_shape(info.name) if profile is not None else []
                shape = [batch] + list(ranges[1][1:] if ranges else info.shape[1:])  # the opt shape's rows
                if any(d < 0 for d in shape):
                    raise _kiln.InvalidArgumentError(
                        f"int8 calibrator: input '{info.name}' has no shape for its batches (give it one in the "
                        f"calibration profile, or return arrays from get_batch)")
                array = _host_array(buffer, info.name, shape, info.dtype, device)
                np.save(os.path.join(folders[info.name], f"batch{count:05d}.npy"), np.ascontiguousarray(array))
            count += 1
        if count == 0:
            raise _kiln.InvalidArgumentError("int8 calibrator: get_batch returned no batch and "
                                             "read_calibration_cache no cache")
        kiln_config.calibration_data = dict(kiln_config.calibration_data, **folders)

    def finish(self):
        """Hands the cache the build wrote to write_calibration_cache (a cache it was given is not written back)."""
        try:
            if not self.from_cache and os.path.exists(self.cache_path):
                with open(self.cache_path, "rb") as f:
                    self.calibrator.write_calibration_cache(f.read())
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
