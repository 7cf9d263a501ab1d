#!/usr/bin/env python3
"""The seed workflow end to end: ONNX (dynamic batch) -> kiln engine (profile 1/16/64) -> run at several batches,
each compared with onnxruntime on the same random non-zero inputs, with kiln's median latency."""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd):
    print("$ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        sys.exit(f"demo: command failed with exit code {done.returncode}")
    return done.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", required=True)
    ap.add_argument("--batches", default="1,7,64")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    model = os.path.join(args.work, "seed_cnn.onnx")
    run([sys.executable, os.path.join(ROOT, "tests", "models", "make_seed_cnn.py"), model])
    engine = os.path.join(args.work, "seed_cnn.kiln")
    # FP32 with TF32 off, so that the check below can hold kiln to FP32 accuracy on the GPU as on the CPU.
    run([args.kiln, "build", model, "-o", engine, f"--device={args.device}", "--noTF32",
         "--minShapes=input:1x3x256x144", "--optShapes=input:16x3x256x144", "--maxShapes=input:64x3x256x144"])

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(2026)
    rows = []
    for batch in [int(b) for b in args.batches.split(",")]:
        shape = f"input:{batch}x3x256x144"
        x = rng.uniform(-1.0, 1.0, size=(batch, 3, 256, 144)).astype(np.float32)
        x[np.abs(x) < 1e-3] = 0.5
        xin = os.path.join(args.work, f"input_b{batch}.npy")
        np.save(xin, x)
        outdir = os.path.join(args.work, f"out_b{batch}")
        run([args.kiln, "run", engine, f"--shapes={shape}", f"--loadInputs=input:{xin}", f"--saveOutputs={outdir}"])
        got = np.load(os.path.join(outdir, "output.npy"))
        t0 = time.perf_counter()
        ref = session.run(None, {"input": x})[0]
        ort_ms = (time.perf_counter() - t0) * 1e3
        bench_json = os.path.join(args.work, f"bench_b{batch}.json")
        iterations = "20" if batch <= 16 or args.device == "cuda" else "5"
        run([args.kiln, "bench", engine, f"--shapes={shape}", f"--iterations={iterations}", "--warmUp=200",
             f"--json={bench_json}"])
        with open(bench_json) as f:
            median_ms = json.load(f)["latency_ms"]["median"]
        abs_err = float(np.max(np.abs(got - ref)))
        rel_err = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-6)))
        scale = float(np.max(np.abs(ref)))
        rows.append((batch, median_ms, ort_ms, abs_err, rel_err, abs_err <= 1e-4 * max(1.0, scale)))

    print()
    print(f"seed CNN [B,3,256,144] -> [B,128] on kiln ({args.device}) vs onnxruntime (CPU)")
    print(f"{'batch':>5} {'kiln median ms':>15} {'ort ms (1 run)':>15} {'max abs diff':>13} {'max rel diff':>13}  check")
    for batch, kms, oms, ae, re_, ok in rows:
        print(f"{batch:>5} {kms:>15.3f} {oms:>15.3f} {ae:>13.3e} {re_:>13.3e}  {'PASS' if ok else 'FAIL'}")
    print("check: max abs diff <= 1e-4 x max(1, max|reference|) (FP32)")
    if not all(r[-1] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
