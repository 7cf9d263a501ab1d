#!/usr/bin/env python3
"""Seed 000, "TensorRT using Dynamic Batch Size", written for kiln (TensorRT's names: `import kiln as trt`).

1. export the PyTorch model with a dynamic batch axis to ONNX (opset 17);
2. build an engine with one optimization profile, min 1 / opt 256 / max 512 of [B,3,256,144], in FP32 and in FP16,
   and save each;
3. load each back and infer at batch 1, 256 and 512;
4. print the time per batch and the max difference against PyTorch.

GPU machine (torch):  python3 examples/python/dynamic_batch.py
Without torch:        python3 examples/python/dynamic_batch.py --model examples/seed_cnn.onnx --reference onnxruntime \
                          --device cpu --precisions fp32 --profile 1 4 8 --batches 1 3 8 --steps 2
(the second form is what tests/python/test_examples.py runs in CI, on the CPU backend, against onnxruntime).
"""
import argparse
import os
import sys
import time

import numpy as np

try:
    import kiln as trt
except ImportError:  # running from a checkout: use the package that the build put in build/python
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "build", "python"))
    import kiln as trt

TRT_LOGGER = trt.Logger(trt.Logger.WARNING)
EXPLICIT_BATCH = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
MAX_WORKSPACE_SIZE = 1 << 30
INPUT_SHAPE = [1, 3, 256, 144]


def build_engine(onnx_file_path, engine_file_path, fp16_mode, profile_batches, device):
    """Seed 000 step 2, line by line (kiln raises instead of returning None on a failed build)."""
    with trt.Builder(TRT_LOGGER) as builder, builder.create_network(EXPLICIT_BATCH) as network, \
            trt.OnnxParser(network, TRT_LOGGER) as parser:
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, MAX_WORKSPACE_SIZE)
        if fp16_mode:
            config.set_flag(trt.BuilderFlag.FP16)
        config.device = device  # kiln: "cuda", "cpu", or None for CUDA when a GPU is visible

        with open(onnx_file_path, "rb") as model:
            if not parser.parse(model.read(), path=onnx_file_path):
                for error in range(parser.num_errors):
                    print(parser.get_error(error))
                raise SystemExit("Failed to parse the ONNX file.")

        inputs = [network.get_input(i) for i in range(network.num_inputs)]
        profile = builder.create_optimization_profile()
        lo, opt, hi = profile_batches
        for inp in inputs:
            profile.set_shape(inp.name, [lo] + INPUT_SHAPE[1:], [opt] + INPUT_SHAPE[1:], [hi] + INPUT_SHAPE[1:])
        config.add_optimization_profile(profile)

        start = time.perf_counter()
        engine_bytes = builder.build_serialized_network(network, config)
        with open(engine_file_path, "wb") as f:
            f.write(engine_bytes)
        return time.perf_counter() - start


class KilnInference:
    """Seed 000's TRTInference: load the engine file, one execution context, infer(ndarray) -> ndarray.
    context.infer does what the seed's HostDeviceMem code does by hand: set_input_shape, copies in, run, copies out."""

    def __init__(self, engine_path):
        runtime = trt.Runtime(TRT_LOGGER)
        with open(engine_path, "rb") as plan:
            self.engine = runtime.deserialize_cuda_engine(plan.read())
        self.context = self.engine.create_execution_context()

    def infer(self, input_data):
        return self.context.infer(input_data)["output"]


class OnnxruntimeReference:
    def __init__(self, onnx_path):
        import onnxruntime as ort

        self.session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])

    def __call__(self, x):
        return self.session.run(None, {"input": x})[0]


class TorchReference:
    def __init__(self, model, device):
        self.model, self.device = model, device

    def __call__(self, x):
        import torch

        with torch.no_grad():
            out = self.model(torch.from_numpy(x).to(self.device))
            return out.cpu().numpy()  # .cpu() waits for the GPU, so the time is the whole call


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="an ONNX model with input 'input' [B,3,256,144] (default: export TorchModel)")
    parser.add_argument("--reference", choices=["torch", "onnxruntime"], default="torch")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when a GPU is visible")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "fp16"], default=["fp32", "fp16"])
    parser.add_argument("--profile", nargs=3, type=int, default=[1, 256, 512], metavar=("MIN", "OPT", "MAX"))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 256, 512])
    parser.add_argument("--steps", type=int, default=50, help="inferences per batch size (seed: STEP = 50)")
    parser.add_argument("--workdir", default=".", help="where the ONNX model and engines are written")
    parser.add_argument("--fail-above", type=float, default=None,
                        help="exit 1 when an FP32 engine's max |diff| exceeds this fraction of max |reference|")
    args = parser.parse_args()
    device = args.device or ("cuda" if trt.cuda.is_available() else "cpu")
    os.makedirs(args.workdir, exist_ok=True)

    torch_model = None
    if args.reference == "torch" or args.model is None:
        import torch
        from seed_model import export_onnx, make_model

        torch_device = "cuda:0" if torch.cuda.is_available() else "cpu"
        torch_model = make_model(torch_device)
    onnx_path = args.model
    if onnx_path is None:
        onnx_path = export_onnx(torch_model, os.path.join(args.workdir, "TEST.onnx"), torch_device)
        print(f"Convert Torch to Onnx {onnx_path}")
    reference = TorchReference(torch_model, torch_device) if args.reference == "torch" else \
        OnnxruntimeReference(onnx_path)

    rows, worst = [], 0.0
    rng = np.random.default_rng(0)
    for precision in args.precisions:
        engine_path = os.path.join(args.workdir, f"test_{precision}.kiln")
        seconds = build_engine(onnx_path, engine_path, precision == "fp16", args.profile, device)
        print(f"built {engine_path} ({precision}, {device}) in {seconds:.1f} s")
        model = KilnInference(engine_path)
        for batch in args.batches:
            diffs, ref_time, kiln_time = [], 0.0, 0.0
            for _ in range(args.steps):
                input_data = rng.random((batch, *INPUT_SHAPE[1:]), dtype=np.float32)
                start = time.perf_counter()
                ref_out = reference(input_data)
                ref_time += time.perf_counter() - start
                start = time.perf_counter()
                kiln_out = model.infer(input_data)
                kiln_time += time.perf_counter() - start
                diff = float(np.max(np.abs(kiln_out - ref_out)))
                diffs.append(diff)
                if precision == "fp32":
                    worst = max(worst, diff / float(np.max(np.abs(ref_out))))
            rows.append((precision, batch, ref_time / args.steps, kiln_time / args.steps, max(diffs)))
            print(f"BATCH {batch} | {precision} | {args.reference}: {ref_time / args.steps:.5f} sec | "
                  f"kiln: {kiln_time / args.steps:.5f} sec | Max Diff: {max(diffs):.3g}")

    print(f"\n| precision | batch | {args.reference} ms | kiln ms | speedup | max abs diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for precision, batch, ref_s, kiln_s, diff in rows:
        print(f"| {precision} | {batch} | {ref_s * 1e3:.3f} | {kiln_s * 1e3:.3f} | {ref_s / kiln_s:.2f}x | {diff:.3g} |")
    print(f"(kiln {trt.__version__} on {device}; times per call, host arrays in and out, mean of {args.steps})")
    if args.fail_above is not None and worst > args.fail_above:
        print(f"FP32 max |diff| is {worst:.3g} of max |reference|, above {args.fail_above}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
