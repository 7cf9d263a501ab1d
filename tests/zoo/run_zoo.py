#!/usr/bin/env python3
"""The model-zoo accuracy suite (issue 10): each architecture, exported with the legacy TorchScript exporter (opset 17)
and the dynamo one (opset 18), built by the kiln CLI in FP32 (--noTF32), FP16 and BF16 with a dynamic batch, run at
batch 1 and an odd batch, and compared with PyTorch FP32 (TF32 off) on the same random but realistic weights.

One line per model x exporter x precision, a summary line 'zoo: N pass / M total', and WORK's results in OUT/zoo.json
and OUT/zoo.md. Exports run in worker processes, one per model (a crash or hang stays there; per-step timeouts), and
engines build while later models still export.

    python3 tests/zoo/run_zoo.py --kiln build/kiln                      # GPU machine: everything (~5 min on an H200)
    python3 tests/zoo/run_zoo.py --models=resnet50,bert_base --precisions=fp16
    python3 tests/zoo/run_zoo.py --device=cpu --models=mobilenet_v2 --precisions=fp32   # no GPU: CPU backend
    python3 tests/zoo/run_zoo.py --selftest                              # no torch needed
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import agreement  # noqa: E402
import zoo_models  # noqa: E402
import zoo_report  # noqa: E402

PRECISION_FLAGS = {"fp32": ["--noTF32"], "fp16": ["--fp16"], "bf16": ["--bf16"]}
EXPORTERS = ("legacy", "dynamo")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--models", default="all", help=f"comma list or 'all' ({', '.join(zoo_models.MODELS)})")
    ap.add_argument("--exporters", default="legacy,dynamo", help="legacy (TorchScript, opset 17), dynamo (opset 18)")
    ap.add_argument("--precisions", default=None, help="fp32,fp16,bf16 (default; fp32 alone with --device=cpu)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="kiln's backend and PyTorch's device")
    ap.add_argument("--kiln", default=os.environ.get("KILN", os.path.join(ROOT, "build", "kiln")), help="kiln CLI")
    ap.add_argument("--jobs", type=int, default=8, help="export worker processes at once")
    ap.add_argument("--build-jobs", type=int, default=None, help="kiln builds/runs at once (default: --jobs)")
    ap.add_argument("--batches", default="1,7", help="batches checked (the profile must contain them)")
    ap.add_argument("--profile", default="1,8,16", help="engine batch profile min,opt,max")
    ap.add_argument("--work", default="/tmp/kiln-zoo", help="models, references and engines (emptied first)")
    ap.add_argument("--out", default=None, help="where zoo.json and zoo.md go (default: WORK)")
    ap.add_argument("--export-timeout", type=float, default=300, help="seconds for one model's worker")
    ap.add_argument("--build-timeout", type=float, default=240, help="seconds for one kiln build")
    ap.add_argument("--run-timeout", type=float, default=90, help="seconds for one kiln run")
    ap.add_argument("--deadline", type=float, default=0, help="seconds after which no new step starts (0: none)")
    ap.add_argument("--keep", action="store_true", help="keep engines and outputs (deleted after use by default)")
    ap.add_argument("--selftest", action="store_true", help="check the comparison and tables on fake data (no torch)")
    args = ap.parse_args(argv)
    args.models = list(zoo_models.MODELS) if args.models == "all" else [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in zoo_models.MODELS]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)} (known: {', '.join(zoo_models.MODELS)})")
    args.exporters = [e for e in args.exporters.split(",") if e]
    if not args.exporters or any(e not in EXPORTERS for e in args.exporters):
        ap.error(f"--exporters takes {', '.join(EXPORTERS)}")
    args.precisions = [p for p in (args.precisions or ("fp32" if args.device == "cpu" else "fp32,fp16,bf16"))
                       .split(",") if p]
    if not args.precisions or any(p not in PRECISION_FLAGS for p in args.precisions):
        ap.error(f"--precisions takes {', '.join(PRECISION_FLAGS)}")
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
        args.profile = [int(b) for b in args.profile.split(",")]
    except ValueError:
        ap.error("--batches and --profile take comma-separated integers")
    lo, opt, hi = args.profile if len(args.profile) == 3 else (0, 0, -1)
    if not 1 <= lo <= opt <= hi or any(not lo <= b <= hi for b in args.batches):
        ap.error("--profile needs min,opt,max with 1 <= min <= opt <= max, and every --batches inside it")
    if args.device == "cpu" and set(args.precisions) - {"fp32"}:
        print("run_zoo: the CPU backend computes in FP32; FP16/BF16 engines there check FP32 again", file=sys.stderr)
    args.build_jobs = args.build_jobs or args.jobs
    if args.jobs < 1 or args.build_jobs < 1:
        ap.error("--jobs and --build-jobs must be >= 1")
    args.out = args.out or args.work
    return args


class Suite:
    def __init__(self, args):
        self.args = args
        self.start = time.monotonic()
        self.lock = threading.Lock()
        self.results = []
        self.engine_pool = ThreadPoolExecutor(args.build_jobs)
        self.engine_futures = []
        self.build_flags = self.detect_build_flags()
        per_job = max(1, (os.cpu_count() or 2) // max(args.jobs, args.build_jobs))
        self.env = dict(os.environ, OMP_NUM_THREADS=str(per_job), MKL_NUM_THREADS=str(per_job))
        self.threads = per_job

    def detect_build_flags(self):
        """--builderOptimizationLevel=0 (no tactic timing) where this kiln has it; --device always."""
        flags = [f"--device={self.args.device}"]
        helptext = subprocess.run([self.args.kiln, "build", "--help"], capture_output=True, text=True).stdout
        if "--builderOptimizationLevel" in helptext:
            flags.append("--builderOptimizationLevel=0")
        return flags

    def late(self):
        return self.args.deadline > 0 and time.monotonic() - self.start > self.args.deadline

    def run_cmd(self, cmd, timeout, log_path):
        """(exit code or 'timeout', stdout+stderr); the whole output also goes to log_path. A command past its
        timeout is killed with its process group (it was started in a session of its own)."""
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
                             start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            rc = "timeout"
        with open(log_path, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{out}\n[exit {rc} after {time.monotonic() - t0:.1f} s]\n")
        return rc, out or ""

    def record(self, r):
        with self.lock:
            self.results.append(r)
            print(zoo_report.line(r), flush=True)

    def base(self, model, exporter, precision, status):
        return {"model": model, "exporter": exporter, "precision": precision, "status": status, "build_s": None,
                "batches": {}, "worst": {"verdict": "-", "rel": None, "cosine": None, "note": ""}, "kept_fp32": []}

    # ---------------------------------------------------------------- export (one worker process per model)

    def export_model(self, model):
        a = self.args
        work = os.path.join(a.work, model)
        os.makedirs(work, exist_ok=True)
        if self.late():
            return self.fail_all(model, a.exporters, "not run: deadline passed")
        cmd = [sys.executable, os.path.join(HERE, "export_worker.py"), "--model", model, "--work", work,
               "--device", a.device, "--exporters", ",".join(a.exporters), "--batches",
               ",".join(map(str, a.batches)), "--max-batch", str(a.profile[2]), "--threads", str(self.threads)]
        rc, out = self.run_cmd(cmd, a.export_timeout, os.path.join(work, "export.log"))
        manifest_path = os.path.join(work, "manifest.json")
        if rc != 0 or not os.path.exists(manifest_path):
            tail = " | ".join(ln for ln in out.strip().splitlines()[-3:])
            why = f"worker timed out after {a.export_timeout:.0f} s" if rc == "timeout" else f"worker exit {rc}: {tail}"
            return self.fail_all(model, a.exporters, f"export failed: {why}"[:300])
        with open(manifest_path) as f:
            manifest = json.load(f)
        for exporter in a.exporters:
            rec = manifest["exports"].get(exporter, {"error": "not exported"})
            if "error" in rec:
                self.fail_all(model, [exporter], f"export failed: {rec['error']}")
                continue
            for precision in a.precisions:
                fut = self.engine_pool.submit(self.guarded, self.check_engine, manifest, exporter, precision)
                with self.lock:
                    self.engine_futures.append(fut)

    def fail_all(self, model, exporters, status):
        for exporter in exporters:
            for precision in self.args.precisions:
                self.record(self.base(model, exporter, precision, status))

    def guarded(self, fn, *args):
        """Runs one step; a bug in it is recorded as that step's result and does not stop the suite."""
        try:
            fn(*args)
        except Exception as e:
            why = f"zoo internal error: {type(e).__name__}: {e}"[:240]
            if fn == self.check_engine:
                manifest, exporter, precision = args
                self.record(self.base(manifest["model"], exporter, precision, f"run failed: {why}"))
            else:
                self.fail_all(args[0], self.args.exporters, f"export failed: {why}")

    # ---------------------------------------------------------------- build, run, compare

    def shape_flags(self, manifest):
        """Dynamic batch over the profile; images and sequences keep their export size."""
        s = manifest["size"]

        def shape(b):
            return f"input:{b}x3x{s}x{s}" if manifest["kind"] == "image" else \
                f"input_ids:{b}x{s},attention_mask:{b}x{s}"
        lo, opt, hi = self.args.profile
        return [f"--minShapes={shape(lo)}", f"--optShapes={shape(opt)}", f"--maxShapes={shape(hi)}"]

    def check_engine(self, manifest, exporter, precision):
        a, model = self.args, manifest["model"]
        work = os.path.join(a.work, model)
        r = self.base(model, exporter, precision, "ok")
        low = manifest.get("torch_low_precision", {}).get(precision)
        if low:  # PyTorch's own FP16/BF16 on the same weights: how hard the model is in that type
            r["torch_same_precision"] = agreement.worst(low.values())
        r["noise_gain"] = manifest.get("noise_gain")  # how much the weights magnify input noise (zoo_models)
        r["onnxruntime"] = manifest["exports"][exporter].get("onnxruntime")  # the export itself, on onnxruntime
        if self.late():
            r["status"] = "not run: deadline passed"
            return self.record(r)
        engine = os.path.join(work, f"{exporter}_{precision}.kiln")
        log = os.path.join(work, f"{exporter}_{precision}.log")
        t0 = time.monotonic()
        rc, out = self.run_cmd([a.kiln, "build", manifest["exports"][exporter]["path"], "-o", engine,
                                *self.shape_flags(manifest), *PRECISION_FLAGS[precision], *self.build_flags],
                               a.build_timeout, log)
        r["build_s"] = time.monotonic() - t0
        r["kept_fp32"] = zoo_report.kept_in_fp32(out)
        if rc != 0:
            r["status"] = "build failed: " + (f"timed out after {a.build_timeout:.0f} s" if rc == "timeout"
                                              else last_error(out))
            return self.record(r)
        for b, entry in manifest["batches"].items():
            outdir = os.path.join(work, f"out_{exporter}_{precision}_b{b}")
            shutil.rmtree(outdir, ignore_errors=True)
            loads = ",".join(f"{n}:{p}" for n, p in entry["inputs"].items())
            rc, out = self.run_cmd([a.kiln, "run", engine, f"--loadInputs={loads}", f"--saveOutputs={outdir}",
                                    "--printValues=0"], a.run_timeout, log)
            got_path = os.path.join(outdir, "output.npy")
            if rc != 0 or not os.path.exists(got_path):
                note = f"run failed at batch {b}: " + ("timeout" if rc == "timeout" else last_error(out))
                r["batches"][b] = {"verdict": "FAIL", "rel": None, "cosine": None, "note": note}
                r["status"] = note
                continue
            r["batches"][b] = agreement.compare(np.load(got_path), np.load(entry["ref"]), precision)
            if not a.keep:
                shutil.rmtree(outdir, ignore_errors=True)
        r["worst"] = agreement.worst(r["batches"].values())
        if not a.keep and os.path.exists(engine):
            os.remove(engine)
        self.record(r)

    # ---------------------------------------------------------------- whole suite

    def run(self):
        a = self.args
        print(f"[zoo] {len(a.models)} models x {len(a.exporters)} exporters x {len(a.precisions)} precisions on "
              f"{a.device}; kiln {a.kiln} {' '.join(self.build_flags)}; {a.jobs} export workers, {a.build_jobs} "
              f"builds at once", flush=True)
        # The slowest exports (transformers under the dynamo exporter) start first, so that they do not finish last.
        slow = {m: i for i, m in enumerate(zoo_models.SLOW_EXPORTS_FIRST)}
        queue = sorted(a.models, key=lambda m: slow.get(m, len(slow)))
        with ThreadPoolExecutor(a.jobs) as pool:
            list(pool.map(lambda m: self.guarded(self.export_model, m), queue))
        while True:  # engine tasks were added while exports ran
            with self.lock:
                pending = [f for f in self.engine_futures if not f.done()]
            if not pending:
                break
            pending[0].result()
        self.engine_pool.shutdown(wait=True)
        order = {m: i for i, m in enumerate(a.models)}
        self.results.sort(key=lambda r: (order[r["model"]], a.exporters.index(r["exporter"]),
                                         a.precisions.index(r["precision"])))
        return self.results


def last_error(out):
    lines = [ln.strip() for ln in out.strip().splitlines() if ln.strip()]
    err = [ln for ln in lines if ln.startswith("kiln: error") or "error" in ln.lower()]
    return (err[-1] if err else lines[-1] if lines else "no output")[:240]


def keep_logs_of_problems(args, results):
    """OUT/logs/: the export log of each model with a problem and the build/run log of each engine that did not
    pass (WORK may be on another machine's /tmp; OUT comes back)."""
    dest = os.path.join(args.out, "logs")
    for r in results:
        if r["worst"]["verdict"] == "PASS":
            continue
        work = os.path.join(args.work, r["model"])
        names = [f"{r['exporter']}_{r['precision']}.log", "export.log", f"{r['exporter']}_export_error.txt"]
        for name in names:
            src = os.path.join(work, name)
            if os.path.exists(src):
                os.makedirs(dest, exist_ok=True)
                shutil.copy(src, os.path.join(dest, f"{r['model']}_{name}"))


def environment_facts(args, suite):
    facts = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(sys.argv),
             "build_flags": " ".join(suite.build_flags), "device": args.device}
    try:
        facts["kiln_commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                              capture_output=True, text=True).stdout.strip()
        if args.device == "cuda":
            facts["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                          capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return facts


def main(argv):
    args = parse_args(argv)
    if args.selftest:
        import zoo_selftest
        return zoo_selftest.run()
    if not os.access(args.kiln, os.X_OK):
        print(f"run_zoo: no kiln CLI at {args.kiln} (build the kiln_cli target or pass --kiln)", file=sys.stderr)
        return 2
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    suite = Suite(args)
    results = suite.run()
    meta = environment_facts(args, suite)
    meta["seconds"] = time.monotonic() - suite.start
    for m in args.models:  # torch version as the workers saw it
        path = os.path.join(args.work, m, "manifest.json")
        if os.path.exists(path):
            with open(path) as f:
                meta["torch"] = json.load(f).get("torch")
            break
    keep_logs_of_problems(args, results)
    with open(os.path.join(args.out, "zoo.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    with open(os.path.join(args.out, "zoo.md"), "w") as f:
        f.write(zoo_report.markdown(results, meta))
    with open(os.path.join(args.out, "zoo.txt"), "w") as f:
        f.write("\n".join(zoo_report.line(r) for r in results) + "\n")
    print("\n=== zoo table ===")
    for r in results:
        print(zoo_report.line(r))
    print(zoo_report.summary(results, meta["seconds"]))
    print(f"details: {os.path.join(args.out, 'zoo.md')}, {os.path.join(args.out, 'zoo.json')}")
    c = zoo_report.counts(results)
    return 0 if c["PASS"] + c["export failed"] == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
