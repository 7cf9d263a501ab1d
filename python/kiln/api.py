"""The Pythonic layer: ``kiln.build(model, shapes=..., fp16=True)`` -> engine, ``engine.save(path)`` /
``kiln.load(path)``, and ``engine.create_execution_context().infer(x)``."""
import os

from . import _kiln
from .builder import Builder, BuilderConfig, BuilderFlag, OptimizationProfile
from .logger import Logger, Severity
from .network import NetworkDefinition, _parse
from .runtime import Engine


def _profile_of(shapes):
    profile = OptimizationProfile()
    for name, spec in shapes.items():
        spec = list(spec)
        if len(spec) == 3 and all(isinstance(s, (list, tuple)) for s in spec):
            profile.set_shape(name, *spec)
        else:
            profile.set_shape(name, spec, spec, spec)
    return profile


def build(model, shapes=None, *, profiles=None, fp16=False, bf16=False, tf32=True, int8=False, device=None,
          workspace=0, timing_cache=None, builder_optimization_level=None, layer_precisions=None,
          obey_precision_constraints=False, accuracy_guard=None, calibration_data=None, verbose=False,
          progress=False):
    """Builds an engine from an ONNX file (path) or ONNX bytes and returns it loaded.

    shapes: {"input": (min, opt, max)} or {"input": shape} (fixed) for one profile; `profiles` takes a list of such
    dicts for several. Inputs with only fixed dims need none.
    fp16 / bf16 / tf32 / int8: precisions the builder may use (FP32 always; TF32 on unless tf32=False; int8
    calibrates on `calibration_data`, and is simulated with Q/DQ in float for now).
    device: "cuda" or "cpu"; default CUDA when a GPU is visible, else kiln's CPU backend.
    workspace: per-kernel scratch limit in bytes (0 = none). timing_cache: a file read and updated by the build.
    builder_optimization_level: 0 = no tactic timing (fast builds), 1-5 time tactics (kiln's default 3).
    layer_precisions: {"pattern*": "fp32" | "fp16" | "bf16"}; obey_precision_constraints keeps such pins strictly.
    accuracy_guard: the FP16/BF16 build check against FP32. calibration_data: {input: folder of .npy batches}, the
    inputs of INT8 calibration and of the guard (random ones without it).
    verbose: every pass and tuned layer to stderr; progress: tuning progress to stderr.
    """
    severity = Severity.VERBOSE if verbose else Severity.INFO if progress else Severity.WARNING
    builder = Builder(Logger(severity))
    network = NetworkDefinition()
    source = (bytes(model), "") if isinstance(model, (bytes, bytearray, memoryview)) else (os.fspath(model),)
    network._set(_parse(*source), source)  # raises kiln's error, every bad node listed

    config = BuilderConfig()
    for flag, wanted in ((BuilderFlag.FP16, fp16), (BuilderFlag.BF16, bf16), (BuilderFlag.TF32, tf32),
                         (BuilderFlag.INT8, int8)):
        (config.set_flag if wanted else config.clear_flag)(flag)
    if obey_precision_constraints:
        config.set_flag(BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    for spec in ([shapes] if shapes else []) + list(profiles or []):
        config.add_optimization_profile(_profile_of(spec))
    config.device = device
    config.set_memory_pool_limit(0, workspace)
    if timing_cache is not None:
        config.timing_cache_path = os.fspath(timing_cache)
    config.builder_optimization_level = builder_optimization_level
    config.accuracy_guard = accuracy_guard
    config.calibration_data = dict(calibration_data or {})
    names = {"fp32": 1, "float32": 1, "fp16": 10, "float16": 10, "bf16": 16, "bfloat16": 16}
    for pattern, precision in (layer_precisions or {}).items():
        key = str(precision).lower()
        if key not in names:
            raise _kiln.InvalidArgumentError(f"layer precision for '{pattern}' must be fp32, fp16 or bf16, "
                                             f"got {precision!r}")
        config.set_layer_precision(pattern, names[key])
    return Engine._from_bytes(builder.build_serialized_network(network, config))


def load(path):
    """Reads and verifies an engine file written by engine.save (or `kiln build`)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        return Engine._from_bytes(data)
    except _kiln.KilnError as e:
        raise type(e)(f"'{path}': {e}") from None
