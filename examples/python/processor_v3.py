#!/usr/bin/env python3
"""Seed 002, the "TensorRT pitfalls tutorial", written for kiln: build_engine with a dynamic-shape profile and a
precision, save_engine / load_engine, an IOutputAllocator subclass, and ProcessorV3: infer(ndarray | list | dict)
-> OrderedDict through set_input_shape, set_tensor_address, set_output_allocator and execute_async_v3 on a stream,
timed with CUDA events.

The seed allocates with pycuda; here kiln.cuda (DeviceArray, Stream, Event) does the same without pycuda or torch.
On a CPU engine (no GPU) the same class runs with host memory and a host clock instead.

GPU machine:    python3 examples/python/processor_v3.py                    (torch reference; exports TorchModel)
Without torch:  python3 examples/python/processor_v3.py --model examples/seed_cnn.onnx --reference onnxruntime \
                    --device cpu --precisions fp32 --batches 1 5 --max-batch 8
"""
import argparse
import collections
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Union

import numpy as np

try:
    import kiln as trt
except ImportError:  # running from a checkout
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "build", "python"))
    import kiln as trt

TRT_LOGGER = trt.Logger(trt.Logger.WARNING)


def GiB(val):
    return val * 1 << 30


def build_engine(onnx_file_path, precision="fp32", dynamic_shapes=None, device=None):
    """Seed 002's build_engine (device is kiln's: "cuda", "cpu" or None for CUDA when a GPU is visible)."""
    EXPLICIT_BATCH_FLAG = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(EXPLICIT_BATCH_FLAG)
    config = builder.create_builder_config()
    config.device = device
    parser = trt.OnnxParser(network, TRT_LOGGER)
    with open(onnx_file_path, "rb") as model:
        if not parser.parse(model.read(), path=onnx_file_path):
            for error in range(parser.num_errors):
                TRT_LOGGER.log(TRT_LOGGER.ERROR, parser.get_error(error))
            raise ValueError("Failed to parse the ONNX file.")
    if dynamic_shapes is not None:
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            profile.set_shape(network.get_input(i).name, dynamic_shapes["min_shape"], dynamic_shapes["opt_shape"],
                              dynamic_shapes["max_shape"])
        config.add_optimization_profile(profile)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, GiB(1))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # kiln raises UnsupportedError at build: not implemented yet
    elif precision != "fp32":
        raise ValueError("precision must be one of fp32, fp16, or int8")
    return builder.build_serialized_network(network, config)


def save_engine(engine, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(engine)


def load_engine(path):
    runtime = trt.Runtime(TRT_LOGGER)
    with open(path, "rb") as f:
        return runtime.deserialize_cuda_engine(f.read())


class OutputAllocator(trt.IOutputAllocator):
    """Seed 002's allocator: new memory on every call (simple, not fast). Device memory on a CUDA engine, host
    memory on a CPU engine (whose addresses are host pointers)."""

    def __init__(self, on_device):
        super().__init__()
        self.on_device = on_device
        self.buffers = {}
        self.shapes = {}

    def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
        if tensor_name in self.buffers:
            del self.buffers[tensor_name]
        buffer = trt.cuda.DeviceArray((size,), trt.uint8) if self.on_device else np.empty(size, np.uint8)
        self.buffers[tensor_name] = buffer
        return buffer.ptr if self.on_device else buffer.ctypes.data

    def notify_shape(self, tensor_name: str, shape):
        self.shapes[tensor_name] = tuple(shape)


def get_input_tensor_names(engine) -> List[str]:
    return [b for b in engine if engine.get_tensor_mode(b) == trt.TensorIOMode.INPUT]


def get_output_tensor_names(engine) -> List[str]:
    return [b for b in engine if engine.get_tensor_mode(b) == trt.TensorIOMode.OUTPUT]


class ProcessorV3:
    def __init__(self, engine):
        self.engine = engine
        self.on_device = engine.device == "cuda"
        self.output_allocator = OutputAllocator(self.on_device)
        self.context = engine.create_execution_context()
        self.input_tensor_names = get_input_tensor_names(engine)
        self.output_tensor_names = get_output_tensor_names(engine)
        if self.on_device:
            self.stream = trt.cuda.Stream()
            self.start_event, self.end_event = trt.cuda.Event(), trt.cuda.Event()
        self.last_ms = 0.0

    def get_last_inference_time(self):
        """Milliseconds between the events around execute_async_v3 (a host clock on a CPU engine)."""
        return self.start_event.time_till(self.end_event) if self.on_device else self.last_ms

    def infer(self, inputs: Union[Dict[str, np.ndarray], List[np.ndarray], np.ndarray]) -> "collections.OrderedDict":
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.input_tensor_names]
        for name, arr in zip(self.input_tensor_names, inputs):
            self.context.set_input_shape(name, arr.shape)

        buffers = []  # kept alive until the run is done
        for name, arr in zip(self.input_tensor_names, inputs):
            arr = np.ascontiguousarray(arr, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))
            if self.on_device:
                device = trt.cuda.DeviceArray(arr.shape, self.engine.get_tensor_dtype(name))
                device.copy_from_host(arr, self.stream)
                buffers.append((arr, device))
                self.context.set_tensor_address(name, device.ptr)
            else:
                buffers.append(arr)
                self.context.set_tensor_address(name, arr.ctypes.data)
        for name in self.output_tensor_names:
            self.context.set_tensor_address(name, 0)
            self.context.set_output_allocator(name, self.output_allocator)

        if self.on_device:
            self.start_event.record(self.stream)
            self.context.execute_async_v3(stream_handle=self.stream.handle)
            self.end_event.record(self.stream)
        else:
            start = time.perf_counter()
            self.context.execute_async_v3(stream_handle=0)
            self.last_ms = (time.perf_counter() - start) * 1e3

        output_buffers = collections.OrderedDict()
        for name in self.output_tensor_names:
            dtype = trt.nptype(self.engine.get_tensor_dtype(name))
            shape = self.output_allocator.shapes[name]
            buffer = self.output_allocator.buffers[name]
            if self.on_device:
                host = buffer.to_host(self.stream)  # synchronizes the stream
            else:
                host = buffer
            output_buffers[name] = host.view(dtype)[: trt.volume(shape)].reshape(shape).copy()
        return output_buffers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="ONNX model with input 'input' [B,3,256,144] (default: export TorchModel)")
    parser.add_argument("--reference", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None)
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "fp16", "int8"], default=["fp32", "fp16"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 7, 64, 256])
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--workdir", default=".")
    parser.add_argument("--fail-above", type=float, default=None,
                        help="exit 1 when an FP32 engine's max |diff| exceeds this fraction of max |reference|")
    parser.add_argument("--fp16-fail-above", type=float, default=None,
                        help="the same bound for FP16 engines (the mixed-precision issue's is 2e-2)")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    torch_model = None
    if args.reference == "torch" or args.model is None:
        import torch
        from seed_model import export_onnx, make_model

        torch_device = "cuda:0" if torch.cuda.is_available() else "cpu"
        torch_model = make_model(torch_device)
    onnx_path = args.model or export_onnx(torch_model, os.path.join(args.workdir, "model.onnx"), torch_device)
    if args.reference == "torch":
        def reference(x):
            with torch.no_grad():
                return torch_model(torch.from_numpy(x).to(torch_device)).cpu().numpy()
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])

        def reference(x):
            return session.run(None, {"input": x})[0]

    shape = [3, 256, 144]
    dynamic_shapes = {"min_shape": [1] + shape, "opt_shape": [max(1, args.max_batch // 2)] + shape,
                      "max_shape": [args.max_batch] + shape}
    rng = np.random.default_rng(0)
    worst = {"fp32": 0.0, "fp16": 0.0}
    print("| precision | device | batch | kiln event ms | max abs diff | of max abs reference |")
    print("|---|---|---:|---:|---:|---:|")
    for precision in args.precisions:
        path = os.path.join(args.workdir, f"model_{precision}.kiln")
        try:
            save_engine(build_engine(onnx_path, precision, dynamic_shapes, args.device), path)
        except trt.UnsupportedError as e:  # INT8: "is another big story" in kiln too, for now
            print(f"| {precision} | - | - | not built: {e} | - |")
            continue
        processor = ProcessorV3(load_engine(path))
        for batch in args.batches:
            x = rng.random((batch, *shape), dtype=np.float32)
            processor.infer({"input": x})  # warm-up: the first run for a shape plans it, the second captures a graph
            outputs = processor.infer({"input": x})
            ref = reference(x)
            diff = float(np.max(np.abs(outputs["output"] - ref)))
            relative = diff / float(np.max(np.abs(ref)))
            if precision in worst:
                worst[precision] = max(worst[precision], relative)
            print(f"| {precision} | {processor.engine.device} | {batch} | {processor.get_last_inference_time():.3f} "
                  f"| {diff:.3g} | {relative:.3g} |")
    failed = False
    for precision, bound in (("fp32", args.fail_above), ("fp16", args.fp16_fail_above)):
        if bound is not None and worst[precision] > bound:
            print(f"{precision.upper()} max |diff| is {worst[precision]:.3g} of max |reference|, above {bound}",
                  file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
