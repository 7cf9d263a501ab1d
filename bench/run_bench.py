#!/usr/bin/env python3
"""kiln against PyTorch on one GPU: export -> build engines -> accuracy vs PyTorch FP32 -> speed table.

Every step is guarded: a failure prints one 'FAILED' line and the rest goes on. Exit status 1 when an accuracy
check failed or could not run, else 0 (speed-only problems, such as torch.compile skipped, are reported only).
The run keeps to --deadline: the optional parts (torch.compile, FP32 peers, max-autotune) are skipped, with a note
in the table, when the time left is short. See bench/README.md. `--selftest` checks the parts that need neither
torch nor a GPU."""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import max_autotune  # noqa: E402
import report  # noqa: E402
from models import MODELS, export_onnx, make_model  # noqa: E402
from timing import compiled_call, cuda_graph_of, tf32, time_torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBLEMS = []  # (step, message) for every step that failed
SEED_MODEL = "reid"  # the seed document's model: its speed batches are --reid-batches


def ints(text):
    return [int(v) for v in text.split(",") if v.strip()]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"), help="kiln CLI (default build/kiln)")
    ap.add_argument("--device", default="cuda", help="kiln build --device (default cuda)")
    ap.add_argument("--models", default="resnet50,reid", help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--profile", default="1,256,512", help="engine batch profile min,opt,max")
    ap.add_argument("--acc-batches", default="1,7,256,512", help="batches of the accuracy check (FP32, FP16)")
    ap.add_argument("--tf32-acc-batches", default="7", help="batches of the accuracy check of the TF32 engine")
    ap.add_argument("--batches", default="1,8,32,128,256", help="batches of the speed table")
    ap.add_argument("--reid-batches", default="1,8,32,128,256,512",
                    help="batches of the speed table for reid, the seed's model")
    ap.add_argument("--fp32-batches", default="1,32,256",
                    help="batches (of those above) at which the FP32 peers and kiln's FP32 engine are timed")
    ap.add_argument("--no-fp32-peers", action="store_true", help="time FP16 only (no TF32 engine either)")
    ap.add_argument("--iterations", type=int, default=50, help="timed iterations for batch < --large-batch")
    ap.add_argument("--iterations-large", type=int, default=20, help="timed iterations for batch >= --large-batch")
    ap.add_argument("--large-batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=10, help="torch warm-up calls before the stability check")
    ap.add_argument("--kiln-warmup-ms", type=int, default=200, help="kiln bench --warmUp")
    ap.add_argument("--compile-budget", type=float, default=150.0,
                    help="seconds of torch.compile reduce-overhead compilation (FP16 and FP32) in the whole run")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (both modes)")
    ap.add_argument("--max-autotune-budget", type=float, default=240.0,
                    help="seconds for torch.compile max-autotune, all models and batches together (worker start "
                         "included); 0 skips it")
    ap.add_argument("--max-autotune-batches", default="32,256,1,8,128,512",
                    help="order in which max-autotune compiles (each batch for every model that times it)")
    ap.add_argument("--deadline", type=float, default=400.0,
                    help="seconds the whole run should take: optional parts are skipped when the time left is short")
    ap.add_argument("--build-timeout", type=float, default=300.0, help="seconds allowed per kiln build")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "kiln-bench"),
                    help="scratch folder for .onnx, .kiln, .npy, timing caches and logs (not $OUT: they are large)")
    ap.add_argument("--json", default=None, help="results as JSON (default $OUT/bench.json when $OUT is set)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: accuracy at 1,7; speed at 1,32 (FP32 at 1); 20 iterations; no torch.compile")
    ap.add_argument("--selftest", action="store_true", help="check formatting and metrics with fake numbers")
    args = ap.parse_args(argv)
    if args.quick:
        args.acc_batches, args.batches, args.reid_batches, args.fp32_batches = "1,7", "1,32", "1,32", "1"
        args.iterations, args.iterations_large = 20, 10
        args.no_compile = True
    if args.no_compile:
        args.max_autotune_budget = 0.0
    args.models = [m for m in args.models.split(",") if m]
    for m in args.models:
        if m not in MODELS:
            ap.error(f"unknown model '{m}' (known: {', '.join(MODELS)})")
    for key in ("profile", "acc_batches", "tf32_acc_batches", "batches", "reid_batches", "fp32_batches",
                "max_autotune_batches"):
        setattr(args, key, ints(getattr(args, key)))
    if len(args.profile) != 3 or not 1 <= args.profile[0] <= args.profile[1] <= args.profile[2]:
        ap.error("--profile needs min,opt,max with 1 <= min <= opt <= max")
    every = args.acc_batches + args.tf32_acc_batches + args.batches + args.reid_batches + args.fp32_batches
    outside = sorted({b for b in every if not args.profile[0] <= b <= args.profile[2]})
    if outside:
        ap.error(f"batches {outside} are outside the engine profile {args.profile}")
    if args.max_autotune_budget < 0 or args.compile_budget < 0 or args.deadline <= 0:
        ap.error("budgets must be >= 0 and --deadline > 0")
    args.started = time.perf_counter()
    return args


def speed_batches(args, name):
    return args.reid_batches if name == SEED_MODEL else args.batches


def fp32_batches(args, name):
    return [] if args.no_fp32_peers else [b for b in speed_batches(args, name) if b in args.fp32_batches]


def time_left(args):
    return args.deadline - (time.perf_counter() - args.started)


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
    """Runs the kiln CLI; returns its stdout and stderr together."""
    cmd = [args.kiln, *cli]
    print("  $ " + " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise RuntimeError(f"kiln exited with {done.returncode}: " + " | ".join(tail))
    return done.stdout + done.stderr


def shape_flag(b, chw):
    return "input:" + "x".join(str(d) for d in (b, *chw))


# ---------------------------------------------------------------- engines


def build_engines(args, name, onnx_path, results):
    """Strict FP32 (--noTF32, for the accuracy check), FP32 with TF32 (kiln's default, for speed) and FP16 twice
    with a timing cache: cold (empty cache), then warm. Returns {kind: engine path or None}."""
    chw = MODELS[name][0]
    lo, opt, hi = args.profile
    shapes = [f"--device={args.device}", f"--minShapes={shape_flag(lo, chw)}", f"--optShapes={shape_flag(opt, chw)}",
              f"--maxShapes={shape_flag(hi, chw)}"]
    cache = os.path.join(args.work, f"{name}_fp16.timing-cache")
    if os.path.exists(cache):
        os.remove(cache)
    plan = [("fp32", "fp32 strict (--noTF32)", "none", ["--noTF32"]),
            ("fp16", "fp16", "cold", ["--fp16", f"--timingCache={cache}", "--verbose"]),
            ("fp16", "fp16", "warm", ["--fp16", f"--timingCache={cache}", "--verbose"])]
    if not args.no_fp32_peers:
        plan.insert(1, ("tf32", "fp32 (TF32)", "none", []))
    engines = {}
    for kind, label, cache_state, flags in plan:
        engine = os.path.join(args.work, f"{name}_{kind}.kiln")
        if cache_state == "warm" and engines.get(kind) is None:
            continue  # the cold build failed: nothing to compare with
        t0 = time.perf_counter()
        out = step(f"{name} kiln build {label} ({cache_state} cache)", kiln, args, "build", onnx_path, "-o", engine,
                   *shapes, *flags, timeout=args.build_timeout)
        engines[kind] = engine if out is not None else None
        if out is None:
            continue
        m = re.search(r"tactics: (\d+) timed, (\d+) from the timing cache", out)
        results["builds"].append({"model": name, "precision": label, "cache": cache_state,
                                  "seconds": time.perf_counter() - t0,
                                  "tactics": f"{m.group(1)} timed, {m.group(2)} cached" if m else ""})
    return engines


# ---------------------------------------------------------------- accuracy


def compare(got, ref, fp16):
    """Errors of `got` against the FP32 reference, judged by the reference's scale and by cosine, never by an
    absolute tolerance. rel_max: max|got-ref| / max|ref|; rel_elem: max of |got-ref| / max(|ref|, 1e-3 * max|ref|),
    elementwise with a floor so near-zero outputs do not dominate (reported only). FP32 passes at rel_max <= 1e-3 and
    cosine >= 0.9999; FP16 (and TF32) at cosine >= 0.999 and rel_max <= 2e-2. A reference that is all zero, constant
    or non-finite is DEGENERATE: not a pass, whatever kiln returned."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return {"pass": False, "verdict": "FAIL", "note": f"shape {list(got.shape)} vs reference {list(ref.shape)}"}
    scale = float(np.max(np.abs(ref))) if ref.size and np.all(np.isfinite(ref)) else float("nan")
    if not scale > 0 or (ref.size > 1 and float(np.ptp(ref)) <= 1e-6 * scale):
        why = ("non-finite" if ref.size and not np.all(np.isfinite(ref)) else "all zero" if scale == 0 else
               "empty" if not ref.size else "constant")
        return {"pass": False, "verdict": "DEGENERATE", "note": f"DEGENERATE reference ({why}): proves nothing"}
    diff = np.abs(got - ref)
    finite = bool(np.all(np.isfinite(got)))
    norms = float(np.linalg.norm(got) * np.linalg.norm(ref))
    r = {"max_abs": float(np.max(diff)), "rel_max": float(np.max(diff)) / scale,
         "rel_elem": float(np.max(diff / np.maximum(np.abs(ref), 1e-3 * scale))),
         "cosine": float(np.sum(got * ref) / norms) if finite and norms > 0 else 0.0}
    bound, min_cos = (2e-2, 0.999) if fp16 else (1e-3, 0.9999)
    r["pass"] = finite and r["rel_max"] <= bound and r["cosine"] >= min_cos
    r["verdict"] = "PASS" if r["pass"] else "FAIL"
    r["note"] = "" if finite else "non-finite values in kiln's output"
    return r


def accuracy(args, name, model32, engines, results):
    import torch
    chw = MODELS[name][0]
    checks = {"fp32": args.acc_batches, "fp16": args.acc_batches}
    if "tf32" in engines:
        checks["tf32"] = args.tf32_acc_batches
    for b in sorted(set(args.acc_batches + (args.tf32_acc_batches if "tf32" in engines else []))):
        x = np.random.default_rng(args.seed + b).standard_normal((b, *chw), dtype=np.float32)
        xpath = os.path.join(args.work, f"{name}_x{b}.npy")
        np.save(xpath, x)
        with torch.inference_mode(), tf32(False):
            ref = model32(torch.from_numpy(x).cuda()).float().cpu().numpy()
        for prec, batches in checks.items():
            if b not in batches:
                continue
            engine = engines.get(prec)
            row = {"model": name, "batch": b, "precision": prec, "pass": False, "note": "not run (stopped)"}
            results["accuracy"].append(row)
            if engine is None:
                row.update({"pass": False, "note": f"no {prec} engine (build failed)"})
                continue

            def run_kiln():
                outdir = os.path.join(args.work, f"{name}_{prec}_out{b}")
                shutil.rmtree(outdir, ignore_errors=True)
                kiln(args, "run", engine, f"--shapes={shape_flag(b, chw)}", f"--loadInputs=input:{xpath}",
                     f"--saveOutputs={outdir}", "--printValues=0")
                return compare(np.load(os.path.join(outdir, "output.npy")), ref, prec != "fp32")
            r = step(f"{name} kiln {prec} accuracy at batch {b}", run_kiln)
            row.update(r if r else {"pass": False, "note": "kiln run failed"})
            print(f"  {report.format_accuracy_row(row)}", flush=True)
        os.remove(xpath)
    return True


# ---------------------------------------------------------------- speed


def add_row(results, name, b, peer, precision, ms, note=""):
    results["speed"].append({"model": name, "batch": b, "peer": peer, "precision": precision, "ms": ms,
                             "images_per_s": b * 1e3 / ms if ms else None,
                             "note": note or ("" if ms else "failed: see the FAILED lines")})


def iterations(args, b):
    return args.iterations if b < args.large_batch else args.iterations_large


def new_compiled(args, model, label, budget):
    """torch.compile(mode="reduce-overhead") of `model`, as a dict the timing fills in: fn (None when not
    compiled) and why. Checks the run's deadline and the compile budget first."""
    import torch
    if args.no_compile:
        return {"fn": None, "why": "skipped: --no-compile"}
    if budget["spent"] >= args.compile_budget:
        return {"fn": None, "why": f"skipped: compile budget of {args.compile_budget:.0f} s used up"}
    torch._dynamo.reset()
    fn = step(label, torch.compile, model, mode="reduce-overhead", dynamic=False)
    # `is None`, not truthiness: bool() of a compiled ResNet asks the wrapped module for len(), which it lacks.
    return {"fn": fn, "why": "" if fn is not None else "skipped: torch.compile failed"}


def time_compiled(args, label, entry, x, iters, budget):
    """(ms, note) for a reduce-overhead compiled model; compilation (the first calls) is timed apart and counts
    against --compile-budget; a compilation is not started with less than 60 s left before --deadline."""
    import torch
    if entry["fn"] is None:
        return None, entry["why"]
    if budget["spent"] >= args.compile_budget:
        return None, f"skipped: compile budget of {args.compile_budget:.0f} s used up"
    if time_left(args) < 60:
        return None, "skipped: run deadline near"
    call = compiled_call(entry["fn"], x)
    t0 = time.perf_counter()
    warm = step(f"{label} compilation", lambda: all(call() is not None for _ in range(3)))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    budget["spent"] += seconds
    if warm is None:  # do not pay for the same failing compilation at every batch
        entry["fn"], entry["why"] = None, "skipped: " + PROBLEMS[-1][1][:120]
        return None, entry["why"]
    ms = step(label, time_torch, call, iters, args.warmup)
    return ms, f"compiled in {seconds:.0f} s"


def speed_fp32_torch(args, name, model32, results, budget):
    """PyTorch FP32 peers as a PyTorch user runs FP32: TF32 on, channels_last, cuDNN benchmark."""
    import torch
    batches = fp32_batches(args, name)
    if not batches:
        return
    if time_left(args) < 150:  # the FP16 peers of this model, which matter more, still need their time
        for b in batches:
            for peer in report.PEERS_FP32[:2]:
                add_row(results, name, b, peer, "fp32", None, "skipped: run deadline near")
        return
    model = model32.to(memory_format=torch.channels_last)
    with tf32(True):
        compiled = new_compiled(args, model, f"{name} torch.compile fp32", budget)
        for b in batches:
            x = torch.randn(b, *MODELS[name][0], device="cuda").to(memory_format=torch.channels_last)
            with torch.inference_mode():
                add_row(results, name, b, report.PEERS_FP32[0], "fp32",
                        step(f"{name} b{b} eager fp32", time_torch, lambda: model(x), iterations(args, b), args.warmup))
                add_row(results, name, b, report.PEERS_FP32[1], "fp32",
                        *time_compiled(args, f"{name} b{b} torch.compile fp32", compiled, x, iterations(args, b),
                                       budget))
            del x
    del compiled
    torch._dynamo.reset()  # frees the compiled graphs' memory pools before the FP16 peers
    torch.cuda.empty_cache()


def speed_fp16_and_kiln(args, name, model16, engines, results, budget):
    import torch
    chw = MODELS[name][0]
    compiled = new_compiled(args, model16, f"{name} torch.compile fp16", budget)
    for b in speed_batches(args, name):
        iters = iterations(args, b)
        x = torch.randn(b, *chw, device="cuda").half().to(memory_format=torch.channels_last)
        with torch.inference_mode():
            add_row(results, name, b, "torch eager fp16", "fp16",
                    step(f"{name} b{b} eager", time_torch, lambda: model16(x), iters, args.warmup))
            graph = step(f"{name} b{b} CUDA graph capture", cuda_graph_of, model16, x)
            add_row(results, name, b, "torch eager fp16 + CUDA graph", "fp16",
                    graph and step(f"{name} b{b} CUDA graph", time_torch, graph.replay, iters, args.warmup),
                    "" if graph else "capture failed")
            del graph
            add_row(results, name, b, "torch.compile reduce-overhead fp16", "fp16",
                    *time_compiled(args, f"{name} b{b} torch.compile fp16", compiled, x, iters, budget))
        del x
        torch.cuda.empty_cache()  # leave the memory to the kiln processes
        kinds = [("fp16", "kiln fp16", "fp16")]
        if b in fp32_batches(args, name):
            kinds.append(("tf32", "kiln fp32 (TF32)", "fp32"))
        for kind, peer, precision in kinds:
            if engines.get(kind) is None:
                add_row(results, name, b, peer, precision, None, f"no {peer} engine")
                continue
            jpath = os.path.join(args.work, f"{name}_{kind}_bench{b}.json")
            ok = step(f"{name} b{b} {peer} bench", kiln, args, "bench", engines[kind],
                      f"--shapes={shape_flag(b, chw)}", f"--iterations={iters}",
                      f"--warmUp={args.kiln_warmup_ms}", "--duration=0", f"--json={jpath}")
            if ok is None:
                add_row(results, name, b, peer, precision, None, "kiln bench failed")
                continue
            with open(jpath) as f:
                bench = json.load(f)
            add_row(results, name, b, peer, precision, bench["latency_ms"]["median"],
                    "unstable timings" if bench.get("unstable") else "")
    del compiled
    torch._dynamo.reset()


def max_autotune_jobs(args):
    """(model, batch, iterations) in the order of --max-autotune-batches, every model at a batch before the next."""
    order = args.max_autotune_batches + [b for m in args.models for b in speed_batches(args, m)]
    jobs = []
    for b in dict.fromkeys(order):
        jobs += [[m, b, iterations(args, b)] for m in args.models if b in speed_batches(args, m)]
    return jobs


def speed_max_autotune(args, results):
    """torch.compile max-autotune FP16 for all models, last, in a worker that is killed when its budget (the smaller
    of --max-autotune-budget and the time left before --deadline, less 20 s for the reports) is spent."""
    jobs = max_autotune_jobs(args)
    budget = min(args.max_autotune_budget, time_left(args) - 20)
    if args.max_autotune_budget <= 0:
        outcome, applied = {(m, b): (None, "max-autotune skipped: --no-compile or budget 0") for m, b, _ in jobs}, []
    elif budget < 30:
        outcome, applied = {(m, b): (None, "max-autotune skipped: run deadline") for m, b, _ in jobs}, []
    else:
        log = os.path.join(args.work, "max-autotune.log")
        outcome, applied = max_autotune.run(jobs, budget, args.seed, args.warmup, log)
        done = sum(1 for ms, _ in outcome.values() if ms)
        results["notes"].append(f"max-autotune: {done} of {len(jobs)} (model, batch) compiled and timed within "
                                f"{budget:.0f} s (order: batches {','.join(map(str, dict.fromkeys(b for _, b, _ in jobs)))})"
                                f"; Inductor settings: {', '.join(applied) or 'defaults'}; log {log}")
    for m, b, _ in jobs:
        add_row(results, m, b, "torch.compile max-autotune fp16", "fp16", *outcome[(m, b)])


# ---------------------------------------------------------------- reports


def write_reports(args, results, out):
    report.print_console(results)
    json_path = args.json or (os.path.join(out, "bench.json") if out else os.path.join(args.work, "bench.json"))
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"results: {json_path}")
    if out:
        with open(os.path.join(out, "bench.md"), "w") as f:
            f.write(report.markdown(args, results))
        print(f"results: {os.path.join(out, 'bench.md')}")


def new_results(argv):
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(["python3", "bench/run_bench.py", *argv]),
            "builds": [], "accuracy": [], "speed": [], "notes": [], "problems": PROBLEMS}


def run_notes(args, results, compile_budget):
    notes = results["notes"]
    if not args.no_fp32_peers:
        notes.append(f"FP32 peers (torch eager and torch.compile reduce-overhead with TF32 on, kiln's TF32 engine) "
                     f"at batches {','.join(map(str, args.fp32_batches))} only, to save time")
    notes.append(f"torch.compile reduce-overhead: {compile_budget['spent']:.0f} s of compilation "
                 f"(budget {args.compile_budget:.0f} s)")
    notes.append(f"bench total {time.perf_counter() - args.started:.0f} s (deadline {args.deadline:.0f} s)")


# ---------------------------------------------------------------- main


def selftest(argv):
    from selftest import run_selftest
    return run_selftest(sys.modules[__name__], argv)


class Stopped(BaseException):
    """SIGTERM (gpu-check.sh's timeout): not an Exception, so no step swallows it; the reports are still written."""


def on_sigterm(signum, frame):
    raise Stopped()


def main(argv):
    args = parse_args(argv)
    if args.selftest:
        return selftest(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
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
    torch.backends.cuda.matmul.allow_tf32 = False  # the FP32 reference must be true FP32 (tf32() switches it)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    results.update(gpu=torch.cuda.get_device_name(0), torch=torch.__version__)
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    # KILN_COMMIT: the copy of the tree on the GPU machine may carry a stale .git; the caller knows the commit.
    results["kiln_commit"] = os.environ.get("KILN_COMMIT") or git.stdout.strip() or "?"
    if not os.access(args.kiln, os.X_OK):
        print(f"[FAILED] kiln CLI '{args.kiln}' is not an executable file: every kiln step will fail", flush=True)
    compile_budget = {"spent": 0.0}
    stopped = False
    try:
        measure(args, results, compile_budget)
    except Stopped:
        stopped = True
        PROBLEMS.append(("run", "stopped by SIGTERM (a timeout?): the tables hold what was measured until then"))
    run_notes(args, results, compile_budget)
    results["total_s"] = time.perf_counter() - args.started
    write_reports(args, results, os.environ.get("OUT"))
    failed = [r for r in results["accuracy"] if not r["pass"]] or stopped or not results["accuracy"]
    print(f"bench total {results['total_s']:.0f} s; {len(PROBLEMS)} step(s) failed; exit {1 if failed else 0}")
    return 1 if failed else 0


def measure(args, results, compile_budget):
    import torch
    for name in args.models:
        onnx_path = os.path.join(args.work, f"{name}.onnx")
        model32 = make_model(name, args.seed)
        if step(f"{name} ONNX export", export_onnx, model32, name, onnx_path) is None:
            results["accuracy"].append({"model": name, "batch": "-", "precision": "-", "pass": False,
                                        "note": "not checked: ONNX export failed"})
            continue
        model32 = model32.cuda()
        engines = build_engines(args, name, onnx_path, results)
        if step(f"{name} accuracy", accuracy, args, name, model32, engines, results) is None:
            results["accuracy"].append({"model": name, "batch": "-", "precision": "-", "pass": False,
                                        "note": "accuracy step stopped: " + PROBLEMS[-1][1][:120]})
        step(f"{name} speed fp32 (torch)", speed_fp32_torch, args, name, model32, results, compile_budget)
        model16 = model32.half().to(memory_format=torch.channels_last)  # converts in place: FP32 work is done
        step(f"{name} speed fp16 and kiln", speed_fp16_and_kiln, args, name, model16, engines, results,
             compile_budget)
        del model32, model16
        torch.cuda.empty_cache()
    step("max-autotune", speed_max_autotune, args, results)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
