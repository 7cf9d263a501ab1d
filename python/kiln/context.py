"""The execution context (TensorRT's IExecutionContext) and ``IOutputAllocator``, plus ``infer``.

TensorRT's names, kiln's behaviour where they differ:
- set_input_shape / set_tensor_address / execute_async_v3 return True, and raise kiln's error (a shape outside the
  profile names the input, the dimension and the range) instead of returning False.
- get_tensor_shape of an output needs every input's shape first (kiln raises; TensorRT returns -1 dims).
- set_optimization_profile_async makes a new kiln context for that profile (kiln contexts are bound to one):
  addresses carry over, input shapes must be set again (as in TensorRT); the stream is synchronized first.
- set_output_allocator: for an output whose size follows from the input shapes, the allocator's
  reallocate_output(_async) is asked for its memory before each execute_async_v3 (size in bytes, alignment 256) and
  the address is bound, so kiln writes it in place; notify_shape follows the enqueue. For an output whose size
  depends on the data (NonZero, NonMaxSuppression...), kiln's C++ OutputAllocator calls the same methods at the end
  of the run, once the size is known, only when the output needs more memory than the allocator last gave (as
  TensorRT does); execute_async_v3 then synchronizes the stream. An exception raised by the allocator comes out of
  execute_async_v3.
"""
import collections
import weakref

from . import _kiln
from .dtypes import volume
from .interop import as_torch, describe, empty_like_kind, host_array, leading_view, stream_handle
from .runtime import TensorIOMode

OUTPUT_ALIGNMENT = 256  # bytes; what reallocate_output is asked to honour


class IOutputAllocator:
    """Subclass and override reallocate_output (or reallocate_output_async) and notify_shape."""

    def __init__(self):
        pass

    def reallocate_output(self, tensor_name, memory, size, alignment):
        """Return the address of at least `size` bytes for output `tensor_name` (`memory` is the current one)."""
        raise NotImplementedError("IOutputAllocator subclasses implement reallocate_output")

    def reallocate_output_async(self, tensor_name, memory, size, alignment, stream):
        return self.reallocate_output(tensor_name, memory, size, alignment)

    def notify_shape(self, tensor_name, shape):
        """Called with the output's shape after each run."""


class ExecutionContext:
    """Shapes, bindings and activation memory for one profile. Not thread-safe: one context per thread/stream."""

    def __init__(self, engine, profile_index=0):
        self.engine = engine
        self._ctx = engine._engine.create_context(profile_index)
        self._profile = profile_index
        self._bound = {}       # name -> the address kiln has, so rebinding the same address changes nothing
        self._allocators = {}  # output name -> IOutputAllocator
        self._bridges = {}     # data-dependent output name -> kiln OutputAllocatorBridge over its allocator
        self._run = {"stream": 0, "errors": []}  # what the bridges' callbacks need during one enqueue

    # --- TensorRT's names
    def set_input_shape(self, name, shape):
        self._ctx.set_input_shape(name, [int(d) for d in shape])
        return True

    def get_tensor_shape(self, name):
        return self._ctx.tensor_shape(name)

    def set_tensor_address(self, name, memory):
        memory = int(memory)
        if self._bound.get(name, 0) != memory:
            self._ctx.set_tensor_address(name, memory)
            if memory:
                self._bound[name] = memory
            else:
                del self._bound[name]
        return True

    def get_tensor_address(self, name):
        return self._bound.get(name, 0)

    def execute_async_v3(self, stream_handle=0):
        """Enqueues the engine on the stream (an int cudaStream_t or any stream object; ignored on the CPU)."""
        if not isinstance(stream_handle, int):
            stream_handle = _stream_handle(stream_handle)
        if self._allocators:
            return self._execute_with_allocators(stream_handle)
        self._ctx.enqueue(stream_handle)
        return True

    def execute_v2(self, bindings):
        """Synchronous run with one address per I/O tensor in engine order (inputs, then outputs)."""
        names = self.engine._names
        if len(bindings) != len(names):
            raise _kiln.InvalidArgumentError(f"execute_v2 needs {len(names)} addresses ({', '.join(names)}), "
                                             f"got {len(bindings)}")
        for name, address in zip(names, bindings):
            self.set_tensor_address(name, address)
        self._ctx.enqueue(0)
        if self.engine.device == "cuda":
            _kiln.cuda.stream_synchronize(0)
        return True

    def set_optimization_profile_async(self, profile_index, stream_handle=0):
        if profile_index == self._profile:
            return True
        if self.engine.device == "cuda":
            _kiln.cuda.stream_synchronize(_stream_handle(stream_handle))
        bound = self._bound
        self._ctx = self.engine._engine.create_context(profile_index)
        self._profile, self._bound = profile_index, {}
        for name, address in bound.items():
            self.set_tensor_address(name, address)
        return True

    @property
    def active_optimization_profile(self):
        return self._profile

    def set_output_allocator(self, tensor_name, output_allocator):
        if self.engine.get_tensor_mode(tensor_name) != TensorIOMode.OUTPUT:
            raise _kiln.InvalidArgumentError(f"'{tensor_name}' is an input: output allocators are for outputs")
        if output_allocator is None:
            self._allocators.pop(tensor_name, None)
            if self._bridges.pop(tensor_name, None) is not None:
                self._ctx.set_output_allocator(tensor_name, None)
        else:
            self._allocators[tensor_name] = output_allocator
        return True

    def get_output_allocator(self, tensor_name):
        return self._allocators.get(tensor_name)

    def _bridge_for(self):
        """The C++ OutputAllocator for a data-dependent output: calls this context's allocator for it during the
        run, keeping what it raises for execute_async_v3 (an exception must not cross kiln's C++ frames). It holds
        the context weakly: the bridge is C++, so a cycle through it could never be collected."""
        context = weakref.ref(self)

        def reallocate(tensor_name, memory, size, alignment):
            me = context()
            if me is None:
                return 0
            try:
                return int(me._allocators[tensor_name].reallocate_output_async(tensor_name, memory, size, alignment,
                                                                               me._run["stream"]) or 0)
            except BaseException as e:  # noqa: B036 -- re-raised by execute_async_v3
                me._run["errors"].append(e)
                return 0

        def notify(tensor_name, shape):
            me = context()
            if me is None:
                return
            try:
                me._allocators[tensor_name].notify_shape(tensor_name, tuple(shape))
            except BaseException as e:  # noqa: B036
                me._run["errors"].append(e)

        return _kiln.OutputAllocatorBridge(reallocate, notify)

    def _execute_with_allocators(self, stream):
        shapes = {}
        for name, allocator in self._allocators.items():
            if self._ctx.is_shape_data_dependent(name):
                bridge = self._bridges.get(name)
                if bridge is None or bridge[0] is not allocator:  # a new allocator starts with no memory
                    bridge = self._bridges[name] = (allocator, self._bridge_for())
                    self._ctx.set_output_allocator(name, bridge[1])
                continue
            shape = self._ctx.tensor_shape(name)
            size = volume(shape) * self.engine._io[name][0].dtype.itemsize
            memory = allocator.reallocate_output_async(name, self._bound.get(name, 0), size, OUTPUT_ALIGNMENT, stream)
            memory = int(memory or 0)
            if memory == 0 and size > 0:
                raise _kiln.OutOfMemoryError(f"the output allocator of '{name}' returned no memory for {size} bytes")
            self.set_tensor_address(name, memory)
            shapes[name] = shape
        self._run["stream"], self._run["errors"] = stream, []
        try:
            self._ctx.enqueue(stream)
        except _kiln.KilnError as e:
            errors, self._run["errors"] = self._run["errors"], []
            if errors:
                raise errors[0] from e
            raise
        errors, self._run["errors"] = self._run["errors"], []
        if errors:
            raise errors[0]
        for name, shape in shapes.items():
            self._allocators[name].notify_shape(name, shape)
        return True

    # --- kiln's additions
    def set_cuda_graphs_enabled(self, enabled):
        """CUDA graphs are on: the first enqueue for a new shape runs plainly, the second captures, later ones replay."""
        self._ctx.set_cuda_graphs_enabled(bool(enabled))

    def profile_layers(self, stream=0, iterations=10):
        """Median time of each layer, slowest first (for diagnosis, not throughput)."""
        timings = self._ctx.profile_layers(_stream_handle(stream), iterations)
        return sorted(timings, key=lambda t: -t.milliseconds)

    def infer(self, inputs, outputs=None, stream=None):
        """Runs once; returns an OrderedDict of outputs in engine order.

        `inputs`: one array (single-input engines), a list/tuple with one array per input in engine order, or a
        dict by name. Arrays are NumPy arrays, torch tensors or DLPack producers (CuPy, JAX...):
        - on the engine's device (host for a CPU engine, CUDA for a CUDA engine) they are bound without a copy, and
          the outputs are new arrays of the same library (torch -> torch, DLPack on CUDA -> kiln.cuda.DeviceArray)
          unless `outputs` (a dict by name) gives arrays to write into. On CUDA the run is enqueued on `stream`
          (any stream object or int; default: torch's current stream for torch tensors, else the legacy default
          stream, which is then synchronized); with torch tensors it is not synchronized, as torch is not.
        - an output whose size depends on the data (NonZero...) is allocated at its bound and returned cut to the
          run's size (it cannot be given in `outputs`); the run then synchronizes the stream.
        - host arrays for a CUDA engine take kiln's copy path: copied in through page-locked memory on the
          context's own stream, run, copied out, synchronized (`stream` is not used); outputs are NumPy arrays
          (torch CPU tensors for torch inputs).
        """
        refs = self._name_inputs(inputs)
        device = self.engine.device
        if device == "cuda" and all(r.device == "cpu" for r in refs.values()):
            if outputs is not None:
                raise _kiln.InvalidArgumentError(
                    "outputs= needs the inputs on the engine's device (cuda): host inputs take kiln's copy path, "
                    "which returns new host arrays")
            return self._infer_copying(refs)
        for name, ref in refs.items():
            if ref.device != device:
                raise _kiln.InvalidArgumentError(
                    f"input '{name}' is on {ref.device} but this engine runs on {device}: give every input on "
                    f"{device}" + (", or every input on the host" if device == "cuda" else ""))
        return self._infer_bound(refs, outputs or {}, stream)

    def _name_inputs(self, inputs):
        names = self.engine.input_names
        if isinstance(inputs, dict):
            unknown = [k for k in inputs if k not in self.engine._io or self.engine._io[k][1] != TensorIOMode.INPUT]
            if unknown:
                raise _kiln.InvalidArgumentError(
                    f"'{unknown[0]}' is not an input of this engine (inputs: {', '.join(names)})")
            items = inputs
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) != len(names):
                raise _kiln.InvalidArgumentError(
                    f"the engine has {len(names)} input(s) ({', '.join(names)}), got a list of {len(inputs)}")
            items = dict(zip(names, inputs))
        else:
            if len(names) != 1:
                raise _kiln.InvalidArgumentError(
                    f"the engine has {len(names)} inputs ({', '.join(names)}): pass a list or a dict")
            items = {names[0]: inputs}
        missing = [n for n in names if n not in items]
        if missing:
            raise _kiln.InvalidArgumentError(f"input '{missing[0]}' was not given")
        return {n: describe(items[n]) for n in names}

    def _restore_bindings(self, saved):
        """Gives every tensor back the address it had before infer(): the arrays infer() bound belong to the caller
        and may be gone by the next run (work already enqueued keeps the addresses it was given)."""
        for name in list(self._bound):
            if name not in saved:
                self.set_tensor_address(name, 0)
        for name, address in saved.items():
            self.set_tensor_address(name, address)

    def _infer_copying(self, refs):
        saved = dict(self._bound)
        for name in saved:  # kiln's copy path uses its own memory for every tensor
            self.set_tensor_address(name, 0)
        try:
            results = self._ctx.infer({name: host_array(ref) for name, ref in refs.items()})
        finally:
            self._restore_bindings(saved)
        torch_out = next(iter(refs.values())).kind == "torch"
        out = collections.OrderedDict()
        for t in self.engine.outputs:
            out[t.name] = as_torch(results[t.name], t.dtype) if torch_out else results[t.name]
        return out

    def _infer_bound(self, refs, outputs, stream):
        saved = dict(self._bound)
        try:
            return self._run_bound(refs, outputs, stream)
        finally:
            self._restore_bindings(saved)

    def _run_bound(self, refs, outputs, stream):
        for name, ref in refs.items():
            want = self.engine._io[name][0].dtype
            if ref.dtype != want:
                got = ref.dtype.kiln_name if ref.dtype is not None else "a type kiln does not have"
                raise _kiln.InvalidArgumentError(f"input '{name}' must be {want.kiln_name}, got {got}")
            if not ref.contiguous:
                if ref.kind == "dlpack":
                    raise _kiln.InvalidArgumentError(f"input '{name}' is not C-contiguous")
                ref = describe(ref.obj.contiguous() if ref.kind == "torch" else host_array(ref))
                refs[name] = ref  # the contiguous copy must live until the run is done
            self._ctx.set_input_shape(name, list(ref.shape))
            self.set_tensor_address(name, ref.ptr)
        first = next(iter(refs.values()))
        device = self.engine.device
        result = collections.OrderedDict()
        counted = {}  # data-dependent outputs: flat buffers at the bound, cut to the run's shape afterwards
        for t in self.engine.outputs:
            if self._ctx.is_shape_data_dependent(t.name):
                if t.name in outputs:
                    raise _kiln.InvalidArgumentError(
                        f"output '{t.name}' has a size that depends on the data: infer() allocates it (or use "
                        f"set_output_allocator with execute_async_v3)")
                elements = self._ctx.max_output_size(t.name) // t.dtype.itemsize
                counted[t.name] = empty_like_kind(first, [elements], t.dtype, device)
                self.set_tensor_address(t.name, describe(counted[t.name]).ptr)
                continue
            shape = self._ctx.tensor_shape(t.name)
            given = outputs.get(t.name)
            array = empty_like_kind(first, shape, t.dtype, device) if given is None else given
            ref = describe(array)
            if given is not None:
                _check_output(t, ref, shape, device)
            self.set_tensor_address(t.name, ref.ptr)
            result[t.name] = array
        if stream is None and device == "cuda" and first.kind == "torch":
            import torch

            handle = torch.cuda.current_stream(first.obj.device).cuda_stream
        else:
            handle = _stream_handle(stream)
        self._ctx.enqueue(handle)  # synchronizes `handle` when an output's size depends on the data
        if stream is None and device == "cuda" and first.kind != "torch":
            _kiln.cuda.stream_synchronize(0)
        for name, flat in counted.items():
            result[name] = leading_view(flat, self._ctx.tensor_shape(name))
        if counted:  # in engine order
            result = collections.OrderedDict((t.name, result[t.name]) for t in self.engine.outputs)
        return result

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_stream_handle = stream_handle


def _check_output(tensor, ref, shape, device):
    name = tensor.name
    if ref.device != device:
        raise _kiln.InvalidArgumentError(f"output '{name}' is on {ref.device} but this engine runs on {device}")
    if ref.dtype != tensor.dtype:
        got = ref.dtype.kiln_name if ref.dtype is not None else "a type kiln does not have"
        raise _kiln.InvalidArgumentError(f"output '{name}' must be {tensor.dtype.kiln_name}, got {got}")
    if list(ref.shape) != list(shape):
        raise _kiln.InvalidArgumentError(
            f"output '{name}' has shape {list(ref.shape)}; these inputs give it {list(shape)}")
    if not ref.contiguous:
        raise _kiln.InvalidArgumentError(f"output '{name}' is not C-contiguous")
    if ref.kind == "numpy" and not ref.obj.flags.writeable:
        raise _kiln.InvalidArgumentError(f"output '{name}' is read-only")
