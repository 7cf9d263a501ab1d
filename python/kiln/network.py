"""``INetworkDefinition`` and ``OnnxParser`` as in TensorRT.

kiln networks come only from ONNX and are always explicit-batch: ``Builder.create_network()`` takes the
EXPLICIT_BATCH flag (or nothing) and returns an empty network that ``OnnxParser`` fills. There is no layer-building
API (add_convolution...). kiln's builder optimizes a network in place, so a network built once is parsed again
from its source before a second build (seed 1 builds FP32 and FP16 from one network).
"""
import enum
import os
import re

from . import _kiln
from .dtypes import from_kiln
from .logger import Severity


class NetworkDefinitionCreationFlag(enum.IntEnum):
    """Flags of Builder.create_network. kiln networks are always explicit-batch, so EXPLICIT_BATCH changes nothing."""

    EXPLICIT_BATCH = 0
    STRONGLY_TYPED = 1


class TensorInfo:
    """A network or engine input/output (TensorRT's ITensor, read-only): name, shape (-1 = dynamic), dtype."""

    __slots__ = ("name", "shape", "dtype", "dim_names")

    def __init__(self, desc):
        self.name = desc.name
        self.shape = tuple(desc.dims)
        self.dtype = from_kiln(desc.dtype)
        self.dim_names = tuple(desc.dim_names)

    def __repr__(self):
        return f"TensorInfo(name={self.name!r}, shape={self.shape}, dtype={self.dtype.name})"


class NetworkDefinition:
    """What OnnxParser fills; built by Builder.build_serialized_network."""

    def __init__(self, flags=0):
        unknown = int(flags) & ~(1 << NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        if unknown:
            raise _kiln.UnsupportedError(
                f"network creation flags {unknown:#x} are not supported: kiln networks are always explicit-batch "
                "and typed from the ONNX model (pass EXPLICIT_BATCH or nothing)")
        self._network = None  # the parsed kiln._kiln.Network, until a build consumes it
        self._source = None   # (bytes, base_dir) or (path,) to parse again for the next build
        self._inputs = []
        self._outputs = []
        self._node_count = 0
        self.name = ""

    def _set(self, network, source):
        self._network = network
        self._source = source
        self._inputs = [TensorInfo(d) for d in network.inputs]
        self._outputs = [TensorInfo(d) for d in network.outputs]
        self._node_count = network.node_count

    def _take_for_build(self):
        """The parsed network for one build (kiln optimizes it in place), parsing again after the first."""
        if self._source is None:
            raise _kiln.InvalidArgumentError("the network is empty: parse an ONNX model into it with OnnxParser first")
        network, self._network = self._network, None
        if network is None:
            network = _parse(*self._source)
        return network

    @property
    def num_inputs(self):
        return len(self._inputs)

    @property
    def num_outputs(self):
        return len(self._outputs)

    @property
    def num_layers(self):
        """Operator nodes of the ONNX graph (before kiln's fusions)."""
        return self._node_count

    def get_input(self, index):
        return self._inputs[index]

    def get_output(self, index):
        return self._outputs[index]

    def to_text(self):
        network = self._network if self._network is not None else _parse(*self._source)
        return network.to_text()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _parse(data_or_path, base_dir=None):
    if base_dir is None:
        return _kiln.parse_onnx_file(os.fspath(data_or_path))
    return _kiln.parse_onnx_bytes(data_or_path, base_dir)


class ParserError:
    """One problem the ONNX importer found (TensorRT's IParserError)."""

    def __init__(self, code, desc, node_name="", node_operator=""):
        self._code, self._desc, self._node_name, self._node_operator = code, desc, node_name, node_operator

    def code(self):
        """kiln's status code name: "Unsupported" or "InvalidModel" (or "IoError" for an unreadable file)."""
        return self._code

    def desc(self):
        return self._desc

    def node_name(self):
        return self._node_name

    def node_operator(self):
        """The node's op type ("Conv", or "domain::Op" outside the default domain)."""
        return self._node_operator

    op_type = node_operator

    def node(self):
        """TensorRT gives the node's index; kiln reports names, so this is -1."""
        return -1

    def __str__(self):
        if self._node_name or self._node_operator:
            return f"node '{self._node_name}' ({self._node_operator}): {self._desc}"
        return self._desc

    __repr__ = __str__


_NODE_LINE = re.compile(r"^node '(?P<name>.*)' \((?P<op>[^()]*)\): (?P<desc>.*)$")


def split_import_errors(error):
    """kiln lists every problem of a model in one message ("...cannot be imported (N problems):" then one line per
    node); this splits it into ParserErrors with node name and op type."""
    message = str(error)
    code = getattr(error, "code", "InvalidModel")
    lines = message.split("\n  ")
    if len(lines) == 1:
        return [ParserError(code, message)]
    errors = []
    for line in lines[1:]:
        m = _NODE_LINE.match(line)
        errors.append(ParserError(code, m["desc"], m["name"], m["op"]) if m else ParserError(code, line))
    return errors


class OnnxParser:
    """Parses an ONNX model into a NetworkDefinition. As in TensorRT, parse() returns False on failure and the
    errors are read with num_errors / get_error(i), each with the node's name and op type."""

    def __init__(self, network, logger=None):
        if not isinstance(network, NetworkDefinition):
            raise TypeError("OnnxParser needs the NetworkDefinition from Builder.create_network()")
        self._network = network
        self._logger = logger
        self._errors = []

    def parse(self, model, path=None):
        """Parses serialized ONNX bytes. `path` (the model's file) lets external data files beside it load."""
        data = bytes(model) if not isinstance(model, (bytes, bytearray, memoryview)) else model
        base_dir = os.path.dirname(os.path.abspath(os.fspath(path))) if path is not None else ""
        return self._run((data, base_dir))

    def parse_from_file(self, model):
        """Parses an ONNX file (external data beside it is found)."""
        return self._run((os.fspath(model),))

    def _run(self, source):
        self._errors = []
        try:
            network = _parse(*source)
        except _kiln.KilnError as e:
            self._errors = split_import_errors(e)
            if self._logger is not None:
                for err in self._errors:
                    self._logger.log(Severity.ERROR, str(err))
            return False
        self._network._set(network, source)
        return True

    @property
    def num_errors(self):
        return len(self._errors)

    def get_error(self, index):
        return self._errors[index]

    def clear_errors(self):
        self._errors = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
