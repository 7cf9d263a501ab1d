"""``Runtime`` and the engine (TensorRT's ICudaEngine) with TensorRT's method names, plus ``save``.

Where kiln differs: deserialize_cuda_engine raises kiln's error (truncated file, other GPU...) instead of returning
None; a kiln engine may run on the CPU backend (``engine.device == "cpu"``), where tensor addresses are host
pointers; get_tensor_profile_shape works for inputs only (outputs have no profile in kiln either).
"""
import enum
import os

from . import _kiln
from .network import TensorInfo


class TensorIOMode(enum.IntEnum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class Runtime:
    def __init__(self, logger=None):
        self.logger = logger

    def deserialize_cuda_engine(self, serialized_engine):
        """Verifies and loads engine bytes (any bytes-like object)."""
        return Engine._from_bytes(serialized_engine)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class Engine:
    """A loaded, verified engine. Immutable: threads may share it, each with its own execution context."""

    def __init__(self, engine, serialized):
        self._engine = engine
        self._serialized = serialized
        self.inputs = [TensorInfo(d) for d in engine.inputs]
        self.outputs = [TensorInfo(d) for d in engine.outputs]
        self._io = {t.name: (t, TensorIOMode.INPUT) for t in self.inputs}
        self._io.update({t.name: (t, TensorIOMode.OUTPUT) for t in self.outputs})
        self._names = [t.name for t in self.inputs] + [t.name for t in self.outputs]
        self.device = "cuda" if engine.device == _kiln.DeviceKind.cuda else "cpu"

    @classmethod
    def _from_bytes(cls, data):
        data = bytes(data)
        return cls(_kiln.Engine.load_from_memory(data), data)

    # --- TensorRT's names
    @property
    def num_io_tensors(self):
        return len(self._names)

    def get_tensor_name(self, index):
        return self._names[index]

    def _info(self, name):
        found = self._io.get(name)
        if found is None:
            raise _kiln.InvalidArgumentError(
                f"'{name}' is not an input or output of this engine (tensors: {', '.join(self._names)})")
        return found

    def get_tensor_mode(self, name):
        return self._info(name)[1]

    def get_tensor_shape(self, name):
        """The declared shape, -1 for dynamic dims (a list: scripts assign shape[0] = batch)."""
        return list(self._info(name)[0].shape)

    def get_tensor_dtype(self, name):
        return self._info(name)[0].dtype

    def get_tensor_profile_shape(self, name, profile_index):
        """[min, opt, max] of an input in a profile; an input with only fixed dims gets its shape three times."""
        info, mode = self._info(name)
        if mode != TensorIOMode.INPUT:
            raise _kiln.InvalidArgumentError(f"'{name}' is an output: only inputs have profile shapes")
        for r in self._engine.profile(profile_index).inputs:
            if r.name == name:
                return [list(r.min), list(r.opt), list(r.max)]
        return [list(info.shape) for _ in range(3)]

    @property
    def num_optimization_profiles(self):
        return self._engine.profile_count

    def create_execution_context(self, profile_index=0):
        """A context for one profile (TensorRT: profile 0, switched with set_optimization_profile_async)."""
        from .context import ExecutionContext

        return ExecutionContext(self, profile_index)

    def serialize(self):
        """The engine file's bytes (those it was loaded from)."""
        return self._serialized

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    # --- kiln's additions
    def save(self, path):
        """Writes the engine file; kiln.load(path) reads it back."""
        _kiln.write_file(os.fspath(path), self._serialized)

    @property
    def input_names(self):
        return [t.name for t in self.inputs]

    @property
    def output_names(self):
        return [t.name for t in self.outputs]

    @property
    def layer_descriptions(self):
        """One line per layer the engine runs (after fusion), with the tactic each uses."""
        return self._engine.layer_descriptions

    @property
    def metadata(self):
        """What the build recorded: kiln version, device name, precisions, options."""
        return dict(self._engine.metadata)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        ins = ", ".join(f"{t.name}{list(t.shape)}" for t in self.inputs)
        outs = ", ".join(f"{t.name}{list(t.shape)}" for t in self.outputs)
        return f"<kiln.Engine on {self.device}: ({ins}) -> ({outs})>"
