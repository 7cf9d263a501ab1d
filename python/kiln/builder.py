"""``Builder``, ``BuilderConfig``, ``OptimizationProfile`` and ``TimingCache`` as in TensorRT, over kiln's builder.

Where kiln differs:
- build_serialized_network returns ``bytes`` (TensorRT: IHostMemory, also a buffer) and raises kiln's error on a
  failed build instead of returning None.
- The engine's device: TensorRT always builds for the GPU; kiln builds for CUDA when a GPU is visible, else for its
  CPU backend. ``config.device = "cpu"`` or ``"cuda"`` chooses.
- MemoryPoolType.WORKSPACE limits each kernel's scratch memory (kiln's workspaceLimitBytes), not one shared pool.
- A timing cache is a kiln text file: create_timing_cache(bytes) keeps it in a temporary file that builds read and
  update, serialize() returns its bytes. ``config.timing_cache_path = "file"`` uses a file of your own.
- INT8 and FP8 flags are accepted. INT8 calibrates on ``config.int8_calibrator`` (an IInt8EntropyCalibrator2,
  IInt8MinMaxCalibrator... subclass, kiln/calibrator.py) or ``config.calibration_data = {"input": "folder of .npy
  batches"}`` (kiln's --calib): without either the build raises kiln.InvalidArgumentError saying so. INT8 is
  simulated with Q/DQ in float for now. FP8 raises UnsupportedError.
"""
import enum
import os
import tempfile
import weakref

from . import _kiln
from .calibrator import CalibrationSession
from .dtypes import DataType
from .logger import Severity, severity_of
from .network import NetworkDefinition


class BuilderFlag(enum.IntEnum):
    FP16 = 0
    INT8 = 1
    TF32 = 7
    OBEY_PRECISION_CONSTRAINTS = 10
    PREFER_PRECISION_CONSTRAINTS = 11
    FP8 = 16
    BF16 = 18
    DISABLE_TIMING_CACHE = 6


class MemoryPoolType(enum.IntEnum):
    WORKSPACE = 0


_PRECISION_OF_FLAG = {
    BuilderFlag.FP16: _kiln.Precision.FP16, BuilderFlag.BF16: _kiln.Precision.BF16,
    BuilderFlag.TF32: _kiln.Precision.TF32, BuilderFlag.INT8: _kiln.Precision.INT8,
    BuilderFlag.FP8: _kiln.Precision.FP8,
}
_PRECISION_OF_TYPE = {
    DataType.FLOAT: _kiln.Precision.FP32, DataType.HALF: _kiln.Precision.FP16, DataType.BF16: _kiln.Precision.BF16,
}


def default_device():
    """"cuda" when kiln has CUDA compiled in and sees a GPU, else "cpu" (as the CLI's default --device)."""
    return "cuda" if _kiln.default_device() == _kiln.DeviceKind.cuda else "cpu"


class OptimizationProfile:
    """min <= opt <= max shapes per input (TensorRT's IOptimizationProfile)."""

    def __init__(self):
        self._shapes = {}

    def set_shape(self, input, min, opt, max):  # noqa: A002 (TensorRT's argument names)
        shapes = [list(int(d) for d in s) for s in (min, opt, max)]
        if not (len(shapes[0]) == len(shapes[1]) == len(shapes[2])):
            raise _kiln.InvalidArgumentError(
                f"input '{input}': min/opt/max shapes {shapes[0]}, {shapes[1]}, {shapes[2]} differ in rank")
        for i, (lo, mid, hi) in enumerate(zip(*shapes)):
            if not lo <= mid <= hi:
                raise _kiln.InvalidArgumentError(
                    f"input '{input}' dimension {i}: need min <= opt <= max, got {lo}, {mid}, {hi}")
        self._shapes[input] = shapes

    def get_shape(self, input):  # noqa: A002
        """[min, opt, max] of an input, or [] when it has none (TensorRT returns empty dims)."""
        return [list(s) for s in self._shapes.get(input, [])]

    def __bool__(self):
        return bool(self._shapes)

    def _to_kiln(self):
        return _kiln.OptimizationProfile([_kiln.InputShapeRange(n, *s) for n, s in self._shapes.items()])


class TimingCache:
    """Tactic choices remembered across builds. Backed by a file: a temporary one (removed with the object) when
    made by create_timing_cache, or the caller's."""

    def __init__(self, serialized=b"", path=None):
        if path is None:
            fd, path = tempfile.mkstemp(prefix="kiln-timing-", suffix=".cache")
            with os.fdopen(fd, "wb") as f:
                f.write(bytes(serialized))
            weakref.finalize(self, _remove_quietly, path)
        self.path = os.fspath(path)

    def serialize(self):
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def combine(self, other, ignore_mismatch=False):
        """Adds the other cache's entries (its lines win where both have a key)."""
        merged = self.serialize()
        if merged and not merged.endswith(b"\n"):
            merged += b"\n"
        with open(self.path, "wb") as f:
            f.write(merged + other.serialize())
        return True

    def reset(self):
        with open(self.path, "wb"):
            pass
        return True


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


class BuilderConfig:
    """Precisions, profiles, workspace, timing cache (TensorRT's IBuilderConfig). kiln's own settings are
    properties: device, builder_optimization_level, accuracy_guard, run_agreement_check, calibration_data,
    keep_nchw."""

    def __init__(self):
        self._flags = {BuilderFlag.TF32}  # TensorRT and kiln both allow TF32 unless told otherwise
        self._profiles = []
        self._workspace = 0
        self._timing_cache = None
        self._layer_precisions = []
        self.timing_cache_path = ""
        self.device = None  # "cuda", "cpu" or None: CUDA when a GPU is visible
        # None keeps kiln's default (level 3: time tactics; the accuracy guard on for FP16/BF16 builds).
        self.builder_optimization_level = None
        self.accuracy_guard = None
        self.run_agreement_check = True  # CUDA: fence layers whose runs race (False keeps them, for diagnosis)
        self.calibration_data = {}
        self.keep_nchw = False
        self.int8_calibrator = None  # an IInt8Calibrator (kiln/calibrator.py) for INT8 builds
        self._calibration_profile = None

    # --- INT8 calibration
    def set_calibration_profile(self, profile):
        """The shapes of the calibrator's batches (its opt shape, batch = get_batch_size()); default: profile 0."""
        self._calibration_profile = profile
        return True

    def get_calibration_profile(self):
        return self._calibration_profile

    # --- flags
    def set_flag(self, flag):
        self._flags.add(BuilderFlag(flag))

    def clear_flag(self, flag):
        self._flags.discard(BuilderFlag(flag))

    def get_flag(self, flag):
        return BuilderFlag(flag) in self._flags

    @property
    def flags(self):
        return sum(1 << int(f) for f in self._flags)

    @flags.setter
    def flags(self, mask):
        self._flags = {f for f in BuilderFlag if mask & (1 << int(f))}

    # --- memory
    def set_memory_pool_limit(self, pool, pool_size):
        if int(pool) != MemoryPoolType.WORKSPACE:
            raise _kiln.UnsupportedError(f"memory pool {pool!r}: kiln has only WORKSPACE (a per-kernel scratch limit)")
        self._workspace = int(pool_size)

    def get_memory_pool_limit(self, pool):
        return self._workspace if int(pool) == MemoryPoolType.WORKSPACE else 0

    # --- profiles
    def add_optimization_profile(self, profile):
        if not profile:
            raise _kiln.InvalidArgumentError("the optimization profile has no shapes: call set_shape first")
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self):
        return len(self._profiles)

    # --- timing cache
    def create_timing_cache(self, serialized=b""):
        return TimingCache(serialized)

    def set_timing_cache(self, cache, ignore_mismatch=False):
        self._timing_cache = cache
        return True

    def get_timing_cache(self):
        return self._timing_cache

    # --- per-layer precision (trtexec's --layerPrecisions; TensorRT sets ILayer.precision instead)
    def set_layer_precision(self, pattern, dtype):
        """Layers whose name (or the name of an ONNX node fused into them) matches `pattern` ('*', '?') run in
        `dtype` (DataType.FLOAT, HALF or BF16). Later calls win over earlier ones."""
        precision = _PRECISION_OF_TYPE.get(DataType(dtype))
        if precision is None:
            raise _kiln.InvalidArgumentError(f"layer precision for '{pattern}' must be FLOAT, HALF or BF16")
        self._layer_precisions.append((pattern, precision))

    def _to_kiln(self, logger=None):
        config = _kiln.BuilderConfig()
        for flag, precision in _PRECISION_OF_FLAG.items():
            (config.allow if flag in self._flags else config.disallow)(precision)
        config.profiles = [p._to_kiln() for p in self._profiles]
        device = self.device or default_device()
        if device not in ("cpu", "cuda"):
            raise _kiln.InvalidArgumentError(f"device must be 'cpu' or 'cuda', got {device!r}")
        config.device = _kiln.DeviceKind.cuda if device == "cuda" else _kiln.DeviceKind.cpu
        config.workspace_limit_bytes = self._workspace
        if BuilderFlag.DISABLE_TIMING_CACHE not in self._flags:
            config.timing_cache_path = self._timing_cache.path if self._timing_cache else self.timing_cache_path
        config.keep_nchw = self.keep_nchw
        config.layer_precisions = [_kiln.LayerPrecision(p, prec) for p, prec in self._layer_precisions]
        if BuilderFlag.OBEY_PRECISION_CONSTRAINTS in self._flags:
            config.precision_constraints = _kiln.PrecisionConstraints.OBEY
        if self.accuracy_guard is not None:
            config.accuracy_guard = bool(self.accuracy_guard)
        config.run_agreement_check = bool(self.run_agreement_check)
        config.calibration_data = {k: os.fspath(v) for k, v in self.calibration_data.items()}
        if self.builder_optimization_level is not None:
            config.builder_optimization_level = int(self.builder_optimization_level)
        severity = severity_of(logger)
        config.verbose = severity >= Severity.VERBOSE
        config.show_progress = severity >= Severity.INFO
        return config


class Builder:
    """Makes networks, configs and profiles, and builds engines (TensorRT's IBuilder)."""

    def __init__(self, logger=None):
        self.logger = logger

    def create_network(self, flags=0):
        return NetworkDefinition(flags)

    def create_builder_config(self):
        return BuilderConfig()

    def create_optimization_profile(self):
        return OptimizationProfile()

    def build_serialized_network(self, network, config):
        """The engine file's bytes. Raises kiln's error (naming node, input or dimension) when the build fails."""
        kiln_config = config._to_kiln(self.logger)
        session = None
        if BuilderFlag.INT8 in config._flags and config.int8_calibrator is not None:
            profile = config._calibration_profile or (config._profiles[0] if config._profiles else None)
            session = CalibrationSession(config.int8_calibrator, network._inputs, profile,
                                         "cuda" if kiln_config.device == _kiln.DeviceKind.cuda else "cpu", kiln_config)
        try:
            return _kiln.build_engine(network._take_for_build(), kiln_config)
        finally:
            if session is not None:
                session.finish()

    def build_engine(self, network, config):
        """TensorRT 8's build_engine: builds and loads in one step."""
        from .runtime import Engine

        return Engine._from_bytes(self.build_serialized_network(network, config))

    @property
    def platform_has_fast_fp16(self):
        return default_device() == "cuda"

    @property
    def platform_has_tf32(self):
        return default_device() == "cuda"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
