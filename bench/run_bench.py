#!/usr/bin/env python3
"""kiln against PyTorch on one GPU: export -> build engines -> accuracy vs PyTorch FP32 -> speed table.

Every step is guarded: a failure prints one 'FAILED' line and the rest goes on. Exit status 1 when an accuracy
check failed or could not run, else 0 (speed-only problems, such as torch.compile skipped, are reported only).
See bench/README.md. `--selftest` checks the parts that need neither torch nor a GPU."""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import MODELS, export_onnx, make_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBLEMS = []  # (step, message) for every step that failed


def ints(text):
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"), help="kiln CLI (default build/kiln)")
    ap.add_argument("--device", default="cuda", help="kiln build --device (default cuda)")
    ap.add_argument("--models", default="resnet50,reid", help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--profile", default="1,256,512", help="engine batch profile min,opt,max")
    ap.add_argument("--acc-batches", default="1,7,256,512", help="batches of the accuracy check")
    ap.add_argument("--batches", default="1,8,32,128,256", help="batches of the speed table")
    ap.add_argument("--iterations", type=int, default=50, help="timed iterations for batch < --large-batch")
    ap.add_argument("--iterations-large", type=int, default=20, help="timed iterations for batch >= --large-batch")
    ap.add_argument("--large-batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=10, help="torch warm-up calls before the stability check")
    ap.add_argument("--kiln-warmup-ms", type=int, default=200, help="kiln bench --warmUp")
    ap.add_argument("--compile-budget", type=float, default=150.0,
                    help="seconds of torch.compile compilation allowed in the whole run; later compiles are skipped")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--build-timeout", type=float, default=300.0, help="seconds allowed per kiln build")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kiln-bench"),
                    help="scratch folder for .onnx, .kiln and .npy files (not $OUT: they are large)")
    ap.add_argument("--json", default=None, help="results as JSON (default $OUT/bench.json when $OUT is set)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: accuracy at 1,7; speed at 1,32; 20 iterations; no torch.compile")
    ap.add_argument("--selftest", action="store_true", help="check formatting and metrics with fake numbers")
    args = ap.parse_args(argv)
    if args.quick:
        args.acc_batches, args.batches, args.iterations, args.iterations_large = "1,7", "1,32", 20, 10
        args.no_compile = True
    args.models = [m for m in args.models.split(",") if m]
    for m in args.models:
        if m not in MODELS:
            ap.error(f"unknown model '{m}' (known: {', '.join(MODELS)})")
    args.profile, args.acc_batches, args.batches = ints(args.profile), ints(args.acc_batches), ints(args.batches)
    if len(args.profile) != 3 or not 1 <= args.profile[0] <= args.profile[1] <= args.profile[2]:
        ap.error("--profile needs min,opt,max with 1 <= min <= opt <= max")
    outside = [b for b in args.acc_batches + args.batches if not args.profile[0] <= b <= args.profile[2]]
    if outside:
        ap.error(f"batches {outside} are outside the engine profile {args.profile}")
    return args


def step(label, fn, *a, **kw):
    """Runs one step; on failure prints a clear line, records it and returns None."""
    t0 = time.perf_counter()
    try:
        result = fn(*a, **kw)
        print(f"[ok]     {label} ({time.perf_counter() - t0:.1f} s)", flush=True)
        return result
    except Exception as e:  # one broken step must not stop the others
        msg = str(e).strip().splitlines()
        msg = " | ".join(msg[-6:]) if msg else type(e).__name__
        print(f"[FAILED] {label}: {type(e).__name__}: {msg}", flush=True)
        PROBLEMS.append((label, f"{type(e).__name__}: {msg}"))
        return None


def kiln(args, *cli, timeout=180.0):
    cmd = [args.kiln, *cli]
    print("  $ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise RuntimeError(f"kiln exited with {done.returncode}: " + " | ".join(tail))
    return done.stdout


def shape_flag(b, chw):
    return "input:" + "x".join(str(d) for d in (b, *chw))


# ---------------------------------------------------------------- accuracy


def compare(got, ref, fp16):
    """Errors of `got` against the FP32 reference. rel_max: max|got-ref| / max|ref| (decides FP32 pass/fail);
    rel_elem: max of |got-ref| / max(|ref|, 1e-3 * max|ref|), elementwise with a floor so near-zero outputs do
    not dominate. FP32 passes at rel_max <= 1e-3, FP16 at cosine >= 0.999."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return {"pass": False, "note": f"shape {list(got.shape)} vs reference {list(ref.shape)}"}
    diff = np.abs(got - ref)
    scale = float(np.max(np.abs(ref))) or 1.0
    finite = bool(np.all(np.isfinite(got)))
    norms = float(np.linalg.norm(got) * np.linalg.norm(ref))
    r = {"max_abs": float(np.max(diff)), "rel_max": float(np.max(diff)) / scale,
         "rel_elem": float(np.max(diff / np.maximum(np.abs(ref), 1e-3 * scale))),
         "cosine": float(np.sum(got * ref) / norms) if norms > 0 else 0.0}
    r["pass"] = finite and (r["cosine"] >= 0.999 if fp16 else r["rel_max"] <= 1e-3)
    r["note"] = "" if finite else "non-finite values in kiln's output"
    return r


def accuracy(args, name, model32, engines, results):
    import torch
    chw = MODELS[name][0]
    for b in args.acc_batches:
        x = np.random.default_rng(args.seed + b).standard_normal((b, *chw), dtype=np.float32)
        xpath = os.path.join(args.work, f"{name}_x{b}.npy")
        np.save(xpath, x)
        with torch.inference_mode():
            ref = model32(torch.from_numpy(x).cuda()).float().cpu().numpy()
        for prec, engine in engines.items():
            row = {"model": name, "batch": b, "precision": prec}
            results["accuracy"].append(row)
            if engine is None:
                row.update({"pass": False, "note": f"no {prec} engine (build failed)"})
                continue

            def run_kiln():
                outdir = os.path.join(args.work, f"{name}_{prec}_out{b}")
                shutil.rmtree(outdir, ignore_errors=True)
                kiln(args, "run", engine, f"--shapes={shape_flag(b, chw)}", f"--loadInputs=input:{xpath}",
                     f"--saveOutputs={outdir}", "--printValues=0")
                return compare(np.load(os.path.join(outdir, "output.npy")), ref, prec == "fp16")
            r = step(f"{name} kiln {prec} accuracy at batch {b}", run_kiln)
            row.update(r if r else {"pass": False, "note": "kiln run failed"})
            print(f"  {format_accuracy_row(row)}", flush=True)
        os.remove(xpath)
    return True


def format_accuracy_row(r):
    if "cosine" not in r:
        return f"{r['model']:<9} {r['batch']:>5} {r['precision']:<5} FAIL  {r.get('note', '')}"
    return (f"{r['model']:<9} {r['batch']:>5} {r['precision']:<5} {'PASS' if r['pass'] else 'FAIL'}  "
            f"max abs {r['max_abs']:.3e}  rel(max) {r['rel_max']:.3e}  rel(elem) {r['rel_elem']:.3e}  "
            f"cosine {r['cosine']:.7f} {r.get('note', '')}").rstrip()


# ---------------------------------------------------------------- speed


def time_torch(fn, iterations, warmup):
    """Median ms per call by CUDA events, one call at a time (synchronized, like kiln bench), after `warmup`
    calls and then blocks of 10 until two consecutive block medians agree within 5% (at most 20 blocks)."""
    import torch

    def timed(n):
        out = []
        for _ in range(n):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end))
        return out
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    previous = None
    for _ in range(20):
        m = float(np.median(timed(10)))
        if previous is not None and abs(m - previous) <= 0.05 * previous:
            break
        previous = m
    return float(np.median(timed(iterations)))


def cuda_graph_of(model, x):
    import torch
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        graph.static_output = model(x)  # kept alive: replays write into it
    return graph


def speed(args, name, model16, compiled, engines, results, compile_state):
    import torch
    chw = MODELS[name][0]
    for b in args.batches:
        iters = args.iterations if b < args.large_batch else args.iterations_large

        def add(peer, ms, note=""):
            results["speed"].append({"model": name, "batch": b, "peer": peer, "ms": ms,
                                     "images_per_s": b * 1e3 / ms if ms else None,
                                     "note": note or ("" if ms else "failed: see the FAILED lines")})
        x = torch.randn(b, *chw, device="cuda").half().to(memory_format=torch.channels_last)
        with torch.inference_mode():
            add("torch eager fp16", step(f"{name} b{b} eager", time_torch, lambda: model16(x), iters, args.warmup))
            graph = step(f"{name} b{b} CUDA graph capture", cuda_graph_of, model16, x)
            add("torch eager fp16 + CUDA graph",
                graph and step(f"{name} b{b} CUDA graph", time_torch, graph.replay, iters, args.warmup),
                "" if graph else "capture failed")
            del graph
            add("torch.compile reduce-overhead fp16", *time_compiled(args, name, b, compiled, x, iters, compile_state))
        del x
        torch.cuda.empty_cache()  # leave the memory to the kiln processes
        for prec in ("fp16", "fp32"):
            peer = "kiln fp16" if prec == "fp16" else "kiln fp32 (no TF32)"
            if engines.get(prec) is None:
                add(peer, None, f"no {prec} engine")
                continue
            jpath = os.path.join(args.work, f"{name}_{prec}_bench{b}.json")
            ok = step(f"{name} b{b} kiln {prec} bench", kiln, args, "bench", engines[prec],
                      f"--shapes={shape_flag(b, chw)}", f"--iterations={iters}",
                      f"--warmUp={args.kiln_warmup_ms}", "--duration=0", f"--json={jpath}")
            if ok is None:
                add(peer, None, "kiln bench failed")
                continue
            with open(jpath) as f:
                report = json.load(f)
            add(peer, report["latency_ms"]["median"], "unstable timings" if report.get("unstable") else "")


def time_compiled(args, name, b, compiled, x, iters, state):
    """(ms, note) for torch.compile; compilation (the first calls) is timed apart and counts against the budget."""
    import torch
    if compiled is None or state.get("failed"):
        return None, state.get("failed") or state.get("reason", "skipped")
    if state["spent"] >= args.compile_budget:
        state["reason"] = f"skipped: compile budget of {args.compile_budget:.0f} s used up"
        return None, state["reason"]

    def call():
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(x)
    t0 = time.perf_counter()
    warm = step(f"{name} b{b} torch.compile compilation", lambda: all(call() is not None for _ in range(3)))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    state["spent"] += seconds
    if warm is None:  # do not pay for the same failing compilation at every batch
        state["failed"] = "skipped: " + PROBLEMS[-1][1][:120]
        return None, state["failed"]
    ms = step(f"{name} b{b} torch.compile", time_torch, call, iters, args.warmup)
    return ms, f"compiled in {seconds:.0f} s"


# ---------------------------------------------------------------- tables


def speed_table(rows):
    """Markdown table; 'kiln fp16 ×' and 'kiln fp32 ×' are peer ms / kiln ms at the same model and batch
    (above 1: kiln is faster)."""
    kiln_ms = {(r["model"], r["batch"], r["peer"]): r["ms"] for r in rows if r["peer"].startswith("kiln")}
    lines = ["| model | batch | peer | ms/batch (median) | images/s | kiln fp16 × | kiln fp32 × | note |",
             "|---|---:|---|---:|---:|---:|---:|---|"]
    for r in rows:
        ratios = []
        for peer in ("kiln fp16", "kiln fp32 (no TF32)"):
            k = kiln_ms.get((r["model"], r["batch"], peer))
            ratios.append(f"{r['ms'] / k:.2f}" if r["ms"] and k and not r["peer"].startswith("kiln") else "")
        ms = f"{r['ms']:.3f}" if r["ms"] else "—"
        ips = f"{r['images_per_s']:.0f}" if r["images_per_s"] else "—"
        lines.append(f"| {r['model']} | {r['batch']} | {r['peer']} | {ms} | {ips} | {ratios[0]} | {ratios[1]} "
                     f"| {r['note']} |")
    return "\n".join(lines)


def accuracy_table(rows):
    lines = ["| model | batch | kiln | max abs err | max rel err (÷max\\|ref\\|) | max rel err (elementwise) "
             "| cosine | check | note |", "|---|---:|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        nums = ([f"{r['max_abs']:.3e}", f"{r['rel_max']:.3e}", f"{r['rel_elem']:.3e}", f"{r['cosine']:.7f}"]
                if "cosine" in r else ["—"] * 4)
        lines.append(f"| {r['model']} | {r['batch']} | {r['precision']} | " + " | ".join(nums) +
                     f" | {'PASS' if r['pass'] else 'FAIL'} | {r.get('note', '')} |")
    return "\n".join(lines)


def accuracy_summary(rows):
    failed = [r for r in rows if not r["pass"]]
    worst32 = max((r["rel_max"] for r in rows if r["precision"] == "fp32" and "rel_max" in r), default=None)
    worst16 = min((r["cosine"] for r in rows if r["precision"] == "fp16" and "cosine" in r), default=None)
    text = (f"accuracy: {len(rows) - len(failed)} PASS, {len(failed)} FAIL or not run; worst FP32 max rel err "
            f"{'—' if worst32 is None else f'{worst32:.2e}'}, worst FP16 cosine "
            f"{'—' if worst16 is None else f'{worst16:.6f}'}")
    for r in failed[:4]:  # the full list is in the accuracy table
        text += f"\n  FAIL {r['model']} batch {r['batch']} {r['precision']}: {r.get('note') or 'beyond tolerance'}"
    return text + (f"\n  ... and {len(failed) - 4} more (see the accuracy table)" if len(failed) > 4 else "")


def write_reports(args, results, out):
    md = [f"# kiln benchmark, {results['date']}", "",
          f"- command: `{results['command']}`", f"- GPU: {results.get('gpu', '?')}; torch {results.get('torch', '?')}"
          f"; kiln {results.get('kiln_commit', '?')}",
          f"- engine profile (batch) min/opt/max: {'/'.join(map(str, args.profile))}; engine build seconds: "
          + ", ".join(f"{k} {v:.1f}" for k, v in results["build_s"].items()), "",
          "## Accuracy against PyTorch FP32 (TF32 off) on the GPU", "",
          "FP32 passes at max rel err (÷max|ref|) <= 1e-3; FP16 at cosine >= 0.999.", "",
          accuracy_table(results["accuracy"]), "",
          "## Speed (data on the device; median of synchronized single calls)", "", speed_table(results["speed"])]
    if results["problems"]:
        md += ["", "## Problems", ""] + [f"- {s}: {m}" for s, m in results["problems"]]
    text = "\n".join(md) + "\n"
    # Console: the speed table and a one-line accuracy summary come last (scripts/gpu-check.sh shows the tail).
    print("\n" + accuracy_table(results["accuracy"]) + "\n")
    for label, message in results["problems"]:
        print(f"FAILED step: {label}: {message[:200]}")
    print(f"\nGPU {results.get('gpu', '?')}, torch {results.get('torch', '?')}, kiln {results.get('kiln_commit', '?')}")
    print(speed_table(results["speed"]) + "\n")
    print(accuracy_summary(results["accuracy"]), flush=True)
    json_path = args.json or (os.path.join(out, "bench.json") if out else os.path.join(args.work, "bench.json"))
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results: {json_path}")
    if out:
        with open(os.path.join(out, "bench.md"), "w") as f:
            f.write(text)
        print(f"results: {os.path.join(out, 'bench.md')}")


def new_results(argv):
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(["python3", "bench/run_bench.py", *argv]),
            "build_s": {}, "accuracy": [], "speed": [], "problems": PROBLEMS}


# ---------------------------------------------------------------- main


def selftest(argv):
    args = parse_args(["--models=resnet50", "--work", tempfile.mkdtemp(prefix="kiln-bench-selftest-")])
    assert args.profile == [1, 256, 512] and args.batches == [1, 8, 32, 128, 256] and args.acc_batches == [1, 7, 256, 512]
    assert parse_args(["--quick"]).no_compile and parse_args(["--quick"]).batches == [1, 32]
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((7, 128)).astype(np.float32)
    assert compare(ref * (1 + 1e-6), ref, False)["pass"]
    assert not compare(ref + 0.01 * np.abs(ref).max(), ref, False)["pass"]
    assert compare(ref.astype(np.float16), ref, True)["pass"] and not compare(-ref, ref, True)["pass"]
    assert not compare(np.full_like(ref, np.nan), ref, True)["pass"]
    assert not compare(ref[:3], ref, False)["pass"]
    assert step("a step that fails on purpose", lambda: 1 / 0) is None and PROBLEMS.pop()
    results = new_results(argv)
    results.update(gpu="(fake)", torch="(none)", build_s={"resnet50 fp32": 12.3, "resnet50 fp16": 20.1})
    results["accuracy"] = [{"model": "resnet50", "batch": 7, "precision": "fp32", **compare(ref * 1.0001, ref, False)},
                           {"model": "resnet50", "batch": 7, "precision": "fp16", "pass": False,
                            "note": "no fp16 engine (build failed)"}]
    for peer, ms in [("torch eager fp16", 2.0), ("torch eager fp16 + CUDA graph", 1.5),
                     ("torch.compile reduce-overhead fp16", None), ("kiln fp16", 1.0), ("kiln fp32 (no TF32)", 4.0)]:
        results["speed"].append({"model": "resnet50", "batch": 32, "peer": peer, "ms": ms,
                                 "images_per_s": 32e3 / ms if ms else None, "note": "" if ms else "skipped: budget"})
    table = speed_table(results["speed"])
    assert "| resnet50 | 32 | torch eager fp16 | 2.000 | 16000 | 2.00 | 0.50 |" in table, table
    write_reports(args, results, None)
    print("selftest PASS")
    return 0


def main(argv):
    args = parse_args(argv)
    if args.selftest:
        return selftest(argv)
    started = time.perf_counter()
    os.makedirs(args.work, exist_ok=True)
    results = new_results(argv)
    try:
        import torch
    except ImportError as e:
        print(f"run_bench: cannot import torch ({e}); only --selftest works without it", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("run_bench: torch sees no CUDA device; this benchmark needs one", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False  # the FP32 reference must be true FP32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    results.update(gpu=torch.cuda.get_device_name(0), torch=torch.__version__)
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    results["kiln_commit"] = git.stdout.strip() or "?"
    if not os.access(args.kiln, os.X_OK):
        print(f"[FAILED] kiln CLI '{args.kiln}' is not an executable file: every kiln step will fail", flush=True)
    compile_state = {"spent": 0.0}
    lo, opt, hi = args.profile
    for name in args.models:
        chw = MODELS[name][0]
        onnx_path = os.path.join(args.work, f"{name}.onnx")
        model32 = make_model(name, args.seed)
        if step(f"{name} ONNX export", export_onnx, model32, name, onnx_path) is None:
            results["accuracy"].append({"model": name, "batch": "-", "precision": "-", "pass": False,
                                        "note": "not checked: ONNX export failed"})
            continue
        model32 = model32.cuda()
        engines = {}
        for prec, flag in (("fp32", "--noTF32"), ("fp16", "--fp16")):
            engine = os.path.join(args.work, f"{name}_{prec}.kiln")
            t0 = time.perf_counter()
            ok = step(f"{name} kiln build {prec}", kiln, args, "build", onnx_path, "-o", engine,
                      f"--device={args.device}", f"--minShapes={shape_flag(lo, chw)}",
                      f"--optShapes={shape_flag(opt, chw)}", f"--maxShapes={shape_flag(hi, chw)}", flag,
                      timeout=args.build_timeout)
            engines[prec] = engine if ok is not None else None
            if ok is not None:
                results["build_s"][f"{name} {prec}"] = time.perf_counter() - t0
        if step(f"{name} accuracy", accuracy, args, name, model32, engines, results) is None:
            results["accuracy"].append({"model": name, "batch": "-", "precision": "-", "pass": False,
                                        "note": "accuracy step stopped: " + PROBLEMS[-1][1][:120]})
        model16 = model32.half().to(memory_format=torch.channels_last)  # converts in place: FP32 work is done
        compiled = None
        if args.no_compile:
            compile_state["reason"] = "skipped: --no-compile"
        else:
            torch._dynamo.reset()
            compile_state.pop("failed", None)
            compiled = step(f"{name} torch.compile", torch.compile, model16, mode="reduce-overhead", dynamic=False)
            compile_state["reason"] = "skipped: torch.compile failed"
        step(f"{name} speed", speed, args, name, model16, compiled, engines, results, compile_state)
        del model32, model16, compiled
        torch.cuda.empty_cache()
    results["total_s"] = time.perf_counter() - started
    write_reports(args, results, os.environ.get("OUT"))
    failed = [r for r in results["accuracy"] if not r["pass"]]
    print(f"bench total {results['total_s']:.0f} s; {len(PROBLEMS)} step(s) failed; exit {1 if failed else 0}")
    return 1 if failed or not results["accuracy"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
