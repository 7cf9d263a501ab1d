#!/usr/bin/env python3
"""What the Python layer costs per call: execute_async_v3 and infer() against the same C++ calls, on one engine.

Issue 11's targets: <= 5 us per execute_async_v3 and <= 30 us per infer() with host arrays above the C++ call.
A benchmark, not a test: run it on the GPU machine (it also runs on the CPU backend, where enqueue is the CPU run).

  PYTHONPATH=build/python python3 bench/python_overhead.py [--device cuda|cpu] [--batch 8] [--width 256]

The model is tiny (Relu then Add on [batch, width]), so that a run is mostly call overhead. Rows:
  C++            ExecutionContext::enqueue / ::infer in a C++ loop (kiln._kiln._bench, same context)
  nanobind       the bound C++ method called from Python (kiln._kiln.ExecutionContext.enqueue / .infer)
  kiln (TRT)     context.execute_async_v3(int handle) / context.infer(ndarray), the package's layer
Enqueue times are host time inside the calls, `calls` back to back per round, the stream synchronized between
rounds outside the timing (so the launch queue never fills); medians over `repeats` measurements.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
from onnx import TensorProto, helper, numpy_helper

try:
    import kiln
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "build", "python"))
    import kiln


def tiny_model(width):
    bias = numpy_helper.from_array(np.linspace(-1, 1, width, dtype=np.float32), "bias")
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "bias"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])], [bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def timed_rounds(call, stream_sync, calls, rounds):
    total = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        total += time.perf_counter() - start
        stream_sync()
    return total / (calls * rounds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--calls", type=int, default=100, help="enqueues per round")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--infer-calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = args.device or ("cuda" if kiln.cuda.is_available() else "cpu")
    shape = (args.batch, args.width)
    engine = kiln.build(tiny_model(args.width), shapes={"x": ((1, args.width), shape, shape)}, device=device)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)

    # execute_async_v3: bound buffers on the engine's device, one stream.
    context = engine.create_execution_context()
    if device == "cuda":
        stream = kiln.cuda.Stream()
        handle = stream.handle
        dx, dy = kiln.cuda.DeviceArray.from_host(x, handle), kiln.cuda.DeviceArray(shape)
        x_ptr, y_ptr = dx.ptr, dy.ptr
        sync = stream.synchronize
    else:
        stream, handle = None, 0
        y = np.empty(shape, np.float32)
        x_ptr, y_ptr = x.ctypes.data, y.ctypes.data
        sync = lambda: None  # noqa: E731
    context.set_input_shape("x", shape)
    context.set_tensor_address("x", x_ptr)
    context.set_tensor_address("y", y_ptr)
    for _ in range(20):  # first run plans, second captures the CUDA graph, the rest replay
        context.execute_async_v3(handle)
    sync()
    raw = context._ctx

    def median(f):
        return statistics.median(f() for _ in range(args.repeats)) * 1e6

    enqueue = {
        "C++": median(lambda: kiln._kiln._bench.enqueue_seconds(raw, handle, args.calls, args.rounds,
                                                                      device == "cuda")
                      / (args.calls * args.rounds)),
        "nanobind": median(lambda: timed_rounds(lambda: raw.enqueue(handle), sync, args.calls, args.rounds)),
        "kiln (TRT)": median(lambda: timed_rounds(lambda: context.execute_async_v3(handle), sync, args.calls,
                                                  args.rounds)),
    }
    if stream is not None:
        enqueue["kiln (TRT), Stream object"] = median(
            lambda: timed_rounds(lambda: context.execute_async_v3(stream), sync, args.calls, args.rounds))

    # infer(): host arrays in, host arrays out, synchronized (kiln's copy path on CUDA, zero-copy on the CPU).
    infer_context = engine.create_execution_context()
    raw_infer = infer_context._ctx
    infer_context.infer(x)
    raw_infer.infer({"x": x})
    n = args.infer_calls
    infer = {
        "C++": median(lambda: kiln._kiln._bench.infer_seconds(raw_infer, {"x": x}, n) / n),
        "nanobind": median(lambda: _loop(lambda: raw_infer.infer({"x": x}), n)),
        "kiln": median(lambda: _loop(lambda: infer_context.infer(x), n)),
    }

    print(f"kiln {kiln.__version__} on {device}; model Relu+Add on {list(shape)} float32; "
          f"median of {args.repeats}; Python {sys.version.split()[0]}")
    print("\n| call | layer | us per call | above C++ (us) | target |")
    print("|---|---|---:|---:|---|")
    for name, value in enqueue.items():
        above = value - enqueue["C++"]
        target = "" if name == "C++" else ("<= 5 us: " + ("met" if above <= 5 else "NOT met"))
        print(f"| execute_async_v3 | {name} | {value:.2f} | {above:+.2f} | {target} |")
    for name, value in infer.items():
        above = value - infer["C++"]
        target = "" if name == "C++" else ("<= 30 us: " + ("met" if above <= 30 else "NOT met"))
        print(f"| infer (host arrays) | {name} | {value:.2f} | {above:+.2f} | {target} |")


def _loop(call, n):
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n


if __name__ == "__main__":
    main()
