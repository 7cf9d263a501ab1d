"""torch.compile(mode="max-autotune") FP16 as a benchmark peer, run in a child process so that its time budget is
a hard one: autotuning every convolution of a ResNet-50 can take minutes per batch, and one compilation cannot be
interrupted from inside the process. The parent (run_bench.py) calls `run`, which starts this file as a worker,
reads one line per finished (model, batch) and kills the worker's process group when the budget is spent.

Worker protocol: stdout lines 'MAXAUTOTUNE {json}' with event start / done / error / config; everything else
(Inductor's autotuning logs) goes to stderr, which the parent writes to a log file."""
import json
import os
import selectors
import signal
import subprocess
import sys
import time

PREFIX = "MAXAUTOTUNE "
HERE = os.path.dirname(os.path.abspath(__file__))


def bound_inductor(precompile_timeout_s):
    """Inductor settings that keep one compilation bounded, where this torch has them; returns what was set.
    The candidate set stays Inductor's default (not the exhaustive search space), so this is max-autotune as a
    PyTorch user gets it; precompilation of the candidates gets a timeout below Inductor's default of an hour."""
    import torch._inductor.config as cfg
    applied = []
    for key, value in (("max_autotune_gemm_search_space", "DEFAULT"),
                       ("precompilation_timeout_seconds", int(precompile_timeout_s))):
        if hasattr(cfg, key):
            setattr(cfg, key, value)
            applied.append(f"{key}={value}")
    return applied


def emit(event):
    print(PREFIX + json.dumps(event), flush=True)


def fake_worker(spec):
    """For run_bench.py --selftest, without torch: batch 1 finishes at once, any other batch 'compiles' for a
    minute, so the parent's budget has to kill it."""
    emit({"event": "config", "applied": ["fake"]})
    for name, b, _ in spec["jobs"]:
        emit({"event": "start", "model": name, "batch": b})
        if b != 1:
            time.sleep(60)
        emit({"event": "done", "model": name, "batch": b, "ms": 1.0, "compile_s": 0.0})


def worker(spec):
    if spec.get("fake"):
        return fake_worker(spec)
    import torch
    sys.path.insert(0, HERE)
    from models import MODELS, make_model
    from timing import compiled_call, time_torch
    torch.backends.cudnn.benchmark = True
    emit({"event": "config", "applied": bound_inductor(spec["precompile_timeout_s"])})
    compiled = {}
    for name, b, iters in spec["jobs"]:
        emit({"event": "start", "model": name, "batch": b})
        try:
            if name not in compiled:
                model16 = make_model(name, spec["seed"]).cuda().half().to(memory_format=torch.channels_last)
                compiled[name] = torch.compile(model16, mode="max-autotune", dynamic=False)
            x = torch.randn(b, *MODELS[name][0], device="cuda").half().to(memory_format=torch.channels_last)
            call = compiled_call(compiled[name], x)
            with torch.inference_mode():
                t0 = time.perf_counter()
                for _ in range(3):  # compilation, autotuning and CUDA-graph recording: timed apart
                    call()
                torch.cuda.synchronize()
                compile_s = time.perf_counter() - t0
                ms = time_torch(call, iters, spec["warmup"])
            emit({"event": "done", "model": name, "batch": b, "ms": ms, "compile_s": compile_s})
        except Exception as e:  # report and go on with the next batch
            lines = str(e).strip().splitlines()
            emit({"event": "error", "model": name, "batch": b,
                  "message": f"{type(e).__name__}: {lines[-1] if lines else ''}"[:160]})
        finally:
            x = call = None
            torch.cuda.empty_cache()


def _follow(proc, sel, end, results, applied):
    """Reads the worker's events until it exits or `end` (time.monotonic) passes; fills results and applied.
    Returns (killed: the budget ran out, the job in progress then, when it started)."""
    current, started, buffer = None, 0.0, b""
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return True, current, started
        if not sel.select(timeout=min(left, 5.0)):
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return False, current, started  # the worker finished (or died)
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            text = line.decode(errors="replace")
            if not text.startswith(PREFIX):
                continue
            ev = json.loads(text[len(PREFIX):])
            key = (ev.get("model"), ev.get("batch"))
            if ev["event"] == "config":
                applied[:] = ev["applied"]
            elif ev["event"] == "start":
                current, started = key, time.monotonic()
                print(f"  max-autotune: compiling {key[0]} batch {key[1]} ({left:.0f} s of budget left)", flush=True)
            elif ev["event"] == "done":
                results[key] = (ev["ms"], f"compiled in {ev['compile_s']:.0f} s (max-autotune)")
                current = None
            elif ev["event"] == "error":
                results[key] = (None, "max-autotune failed: " + ev["message"])
                current = None


def run(jobs, budget_s, seed, warmup, log_path, fake=False):
    """Runs the (model, batch, iterations) jobs in order within budget_s seconds (worker start-up included).
    Returns ({(model, batch): (ms or None, note)} for every job, [Inductor settings applied])."""
    results, applied = {}, []
    if budget_s <= 0:
        return {(m, b): (None, "max-autotune skipped: budget") for m, b, _ in jobs}, applied
    spec = {"jobs": jobs, "seed": seed, "warmup": warmup,
            "precompile_timeout_s": max(30, min(300, budget_s)), "fake": fake}
    end = time.monotonic() + budget_s
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), json.dumps(spec)], stdout=subprocess.PIPE,
                                stderr=log, start_new_session=True)  # its own group: killing it takes Inductor's workers
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        try:
            killed, current, started = _follow(proc, sel, end, results, applied)
        finally:  # also when the parent is stopped (SIGTERM from a timeout): no worker may outlive it
            try:  # the whole group, finished or not: Inductor's compile workers included
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            sel.close()
    with open(log_path, errors="replace") as log:
        last = ([line.strip() for line in log if line.strip()] or [""])[-1][:160]
    for m, b, _ in jobs:
        if (m, b) in results:
            continue
        if killed and current == (m, b):
            results[(m, b)] = (None, f"max-autotune skipped: budget of {budget_s:.0f} s spent "
                                     f"{time.monotonic() - started:.0f} s into this compilation")
        elif killed:
            results[(m, b)] = (None, "max-autotune skipped: budget")
        else:
            results[(m, b)] = (None, f"max-autotune failed: worker exited with {proc.returncode}: {last}")
    return results, applied


if __name__ == "__main__":
    worker(json.loads(sys.argv[1]))
