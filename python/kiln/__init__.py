"""kiln: ONNX model -> engine tuned for one GPU -> runtime, from Python.

Two layers over kiln's C++ API (the extension kiln._kiln):

- TensorRT's names, so that TensorRT scripts port line by line (``import kiln as trt`` works for the seeds):
  Logger, Builder, NetworkDefinition, OnnxParser, BuilderConfig, BuilderFlag, MemoryPoolType, OptimizationProfile,
  Runtime, Engine (ICudaEngine), ExecutionContext (IExecutionContext), IOutputAllocator, TensorIOMode, DataType,
  nptype, volume. Each module's docstring lists where kiln differs.
- A Pythonic one: ``engine = kiln.build("model.onnx", shapes={"input": (min, opt, max)}, fp16=True)``,
  ``engine.save(path)`` / ``kiln.load(path)``, ``engine.create_execution_context().infer(x)`` -> OrderedDict,
  with zero-copy NumPy, torch and DLPack arrays (CUDA ones included).

Errors are exceptions carrying kiln's message: kiln.KilnError and its subclasses (InvalidArgumentError is also a
ValueError, UnsupportedError a NotImplementedError, OutOfMemoryError a MemoryError).
"""
from . import _kiln
from ._kiln import (DeviceError, InternalError, InvalidArgumentError, InvalidEngineError, InvalidModelError, IoError,
                    KilnError, OutOfMemoryError, UnsupportedError)
from . import cuda
from .api import build, load
from .builder import Builder, BuilderConfig, BuilderFlag, MemoryPoolType, OptimizationProfile, TimingCache
from .calibrator import (CalibrationAlgoType, IInt8Calibrator, IInt8EntropyCalibrator, IInt8EntropyCalibrator2,
                         IInt8LegacyCalibrator, IInt8MinMaxCalibrator)
from .context import ExecutionContext, IOutputAllocator
from .dtypes import DataType, bfloat16, float16, float32, int8, int32, int64, nptype, uint8, volume
from .dtypes import bool  # noqa: A004 (trt.bool)
from .logger import ILogger, Logger
from .network import NetworkDefinition, NetworkDefinitionCreationFlag, OnnxParser, ParserError, TensorInfo
from .runtime import Engine, Runtime, TensorIOMode

__version__ = _kiln.__version__

# TensorRT's interface names for the same classes.
ICudaEngine = Engine
IExecutionContext = ExecutionContext
IBuilderConfig = BuilderConfig
INetworkDefinition = NetworkDefinition
IOptimizationProfile = OptimizationProfile
ITimingCache = TimingCache
ITensor = TensorInfo
IParserError = ParserError

__all__ = [
    "build", "load", "Builder", "BuilderConfig", "BuilderFlag", "MemoryPoolType", "OptimizationProfile",
    "TimingCache", "ExecutionContext", "IOutputAllocator", "CalibrationAlgoType", "IInt8Calibrator",
    "IInt8EntropyCalibrator", "IInt8EntropyCalibrator2", "IInt8LegacyCalibrator", "IInt8MinMaxCalibrator", "DataType", "nptype", "volume", "ILogger", "Logger",
    "NetworkDefinition", "NetworkDefinitionCreationFlag", "OnnxParser", "ParserError", "TensorInfo", "Engine",
    "Runtime", "TensorIOMode", "KilnError", "InvalidArgumentError", "InvalidModelError", "UnsupportedError",
    "InvalidEngineError", "IoError", "OutOfMemoryError", "DeviceError", "InternalError", "cuda",
    "float32", "float16", "bfloat16", "int8", "int32", "int64", "uint8",  # not `bool`: it would shadow the built-in
]
