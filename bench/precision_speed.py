#!/usr/bin/env python3
"""Is every FP16 engine at least as fast as the same model's TF32 engine? (issue 10's speed rule)

For each zoo architecture (tests/zoo/zoo_models.py: random weights with realistic scales), export ONNX with a dynamic
batch (legacy exporter, opset 17), build two tuned kiln engines with the same profile, FP32 with TF32 (kiln's
default) and --fp16 (accuracy guard on, as users build), and time both with `kiln bench` (GPU compute median, CUDA
graphs on) at each batch. Prints one row per model and batch: TF32 ms, FP16 ms, TF32/FP16, layers the guard kept
in FP32. A benchmark, not a test; needs torch and a GPU.

  python3 bench/precision_speed.py --kiln BUILD/kiln [--models mobilenet_v2,efficientnet_b0] [--batches 1,16]
      [--deadline S] [--out DIR]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "zoo"))
import zoo_models  # noqa: E402

DEFAULT_MODELS = ("mobilenet_v2,mobilenet_v3_large,efficientnet_b0,regnet_y_400mf,shufflenet_v2_x1_0,densenet121,"
                  "convnext_tiny,resnext50_32x4d")


def export(name, path, torch):
    model = zoo_models.build(name, torch)
    zoo_models.realistic_weights(model, name, torch, "cpu")
    size = zoo_models.MODELS[name][2]
    x = torch.randn(2, 3, size, size)
    torch.onnx.export(model.eval(), (x,), path, input_names=["input"], output_names=["output"], opset_version=17,
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, dynamo=False)
    return size


def build(kiln, onnx, engine, size, profile, flags, cache):
    shape = lambda b: f"input:{b}x3x{size}x{size}"  # noqa: E731
    lo, opt, hi = profile
    cmd = [kiln, "build", onnx, "-o", engine, f"--minShapes={shape(lo)}", f"--optShapes={shape(opt)}",
           f"--maxShapes={shape(hi)}", f"--timingCache={cache}", *flags]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True)
    out = p.stdout + p.stderr
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out[-1500:]}")
    m = re.search(r"precision: (\d+) of (\d+) float layers", out)
    kept = f"{int(m.group(2)) - int(m.group(1))}/{m.group(2)}" if m else "-"
    return time.monotonic() - t0, kept


def bench(kiln, engine, size, batch, work):
    js = os.path.join(work, f"bench_{os.path.basename(engine)}_{batch}.json")
    p = subprocess.run([kiln, "bench", engine, f"--shapes=input:{batch}x3x{size}x{size}", "--iterations=50",
                        "--duration=1", "--warmUp=200", f"--json={js}"], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"kiln bench {engine} failed:\n{(p.stdout + p.stderr)[-1000:]}")
    return json.load(open(js))["gpu_compute_ms"]["median"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--profile", default="1,16,32", help="batch min,opt,max of both engines")
    ap.add_argument("--work", default="/tmp/kiln-precision-speed")
    ap.add_argument("--out", default=None, help="where precision_speed.md goes (default: --work)")
    ap.add_argument("--deadline", type=float, default=0, help="seconds after which no new model starts (0: none)")
    args = ap.parse_args()
    import torch
    os.makedirs(args.work, exist_ok=True)
    profile = [int(v) for v in args.profile.split(",")]
    batches = [int(v) for v in args.batches.split(",")]
    start = time.monotonic()
    rows, slower, measured, unmeasured = [], [], set(), []
    header = "| model | batch | TF32 ms | FP16 ms | TF32/FP16 | FP16 layers kept FP32 | build s TF32 / FP16 |"
    print(header + "\n|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for name in args.models.split(","):
        if args.deadline and time.monotonic() - start > args.deadline:
            rows.append(f"| {name} | - | - | - | - | - | not run: deadline |")
            unmeasured.append(name)
            print(rows[-1], flush=True)
            continue
        try:
            onnx = os.path.join(args.work, f"{name}.onnx")
            size = export(name, onnx, torch)
            engines = {}
            for label, flags in (("tf32", []), ("fp16", ["--fp16"])):
                engine = os.path.join(args.work, f"{name}_{label}.kiln")
                engines[label] = (engine, *build(args.kiln, onnx, engine, size, profile, flags,
                                                 os.path.join(args.work, f"{name}.cache")))
            for b in batches:
                tf32 = bench(args.kiln, engines["tf32"][0], size, b, args.work)
                fp16 = bench(args.kiln, engines["fp16"][0], size, b, args.work)
                measured.add(name)
                if fp16 > tf32:
                    slower.append(f"{name} b{b}")
                rows.append(f"| {name} | {b} | {tf32:.3f} | {fp16:.3f} | {tf32 / fp16:.2f} | {engines['fp16'][2]} | "
                            f"{engines['tf32'][1]:.0f} / {engines['fp16'][1]:.0f} |")
                print(rows[-1], flush=True)
        except Exception as e:  # one model's failure is a row, not the end of the table
            rows.append(f"| {name} | - | - | - | - | - | failed: {str(e).splitlines()[0][:120]} |")
            if name not in measured:
                unmeasured.append(name)
            print(rows[-1], flush=True)
    # The verdict names only what was measured: a model cut by the deadline or a failure proves nothing either way.
    verdict = (f"FP16 slower than TF32: {', '.join(slower)}" if slower else
               f"FP16 as fast as TF32 or faster on {len(measured)} of {len(measured) + len(unmeasured)} models")
    if unmeasured:
        verdict += f" (not measured: {', '.join(unmeasured)})"
    print(f"precision speed: {verdict} ({time.monotonic() - start:.0f} s)")
    with open(os.path.join(args.out or args.work, "precision_speed.md"), "w") as f:
        f.write(f"# FP16 against TF32, kiln only\n\n`{' '.join(sys.argv)}`\n\n{header}\n"
                "|---|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + f"\n\n{verdict}\n")
    return 1 if slower or unmeasured else 0


if __name__ == "__main__":
    sys.exit(main())
