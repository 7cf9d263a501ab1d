"""run_bench.py --selftest: arguments, metrics, tables and the max-autotune worker's budget, with fake numbers;
needs neither torch nor a GPU."""
import contextlib
import io
import os
import tempfile
import time

import numpy as np

import max_autotune
import report


def refuses(rb, argv):
    """True when parse_args rejects argv (argparse exits with status 2)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            rb.parse_args(argv)
    except SystemExit as e:
        return e.code == 2
    return False


def check_arguments(rb):
    args = rb.parse_args(["--work", tempfile.mkdtemp(prefix="kiln-bench-selftest-")])
    assert args.profile == [1, 256, 512] and args.acc_batches == [1, 7, 256, 512], args
    assert args.batches == [1, 8, 32, 128, 256] and args.reid_batches == [1, 8, 32, 128, 256, 512]
    assert rb.speed_batches(args, "resnet50") == [1, 8, 32, 128, 256]
    assert rb.speed_batches(args, "reid")[-1] == 512
    assert rb.fp32_batches(args, "reid") == [1, 32, 256] and args.max_autotune_budget == 240
    assert rb.fp32_batches(rb.parse_args(["--no-fp32-peers"]), "reid") == []
    quick = rb.parse_args(["--quick"])
    assert quick.no_compile and quick.max_autotune_budget == 0 and quick.batches == [1, 32] and quick.fp32_batches == [1]
    assert rb.parse_args(["--no-compile"]).max_autotune_budget == 0
    assert refuses(rb, ["--reid-batches=1,1024"]) and refuses(rb, ["--models=vgg"])
    assert refuses(rb, ["--profile=8,4,16"]) and refuses(rb, ["--max-autotune-budget=-1"])
    # max-autotune order: each batch of --max-autotune-batches for every model that times it, then the rest.
    jobs = rb.max_autotune_jobs(args)
    assert [j[:2] for j in jobs[:4]] == [["resnet50", 32], ["reid", 32], ["resnet50", 256], ["reid", 256]], jobs
    assert ["reid", 512] in [j[:2] for j in jobs] and ["resnet50", 512] not in [j[:2] for j in jobs]
    assert len(jobs) == 11 and jobs[0][2] == 50 and jobs[2][2] == 20
    return args


def check_metrics(rb):
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((7, 128)).astype(np.float32)
    assert rb.compare(ref * (1 + 1e-6), ref, False)["pass"]
    assert not rb.compare(ref + 0.01 * np.abs(ref).max(), ref, False)["pass"]
    assert rb.compare(ref.astype(np.float16), ref, True)["pass"] and not rb.compare(-ref, ref, True)["pass"]
    assert not rb.compare(np.full_like(ref, np.nan), ref, True)["pass"]
    assert not rb.compare(ref[:3], ref, False)["pass"]
    # Scale-relative: agreeing outputs of scale 1e-9 pass, zeros against them fail; FP16 also bounds the error.
    assert rb.compare(ref * 1e-9, ref * 1e-9, False)["pass"] and not rb.compare(0 * ref, ref * 1e-9, True)["pass"]
    assert not rb.compare(ref * 1.04, ref, True)["pass"]  # cosine 1, but 4% of the scale off
    for degenerate in (np.zeros_like(ref), np.full_like(ref, 0.5), np.where(ref > 2, np.inf, ref)):
        assert rb.compare(degenerate, degenerate, True)["verdict"] == "DEGENERATE"
    assert rb.step("a step that fails on purpose", lambda: 1 / 0) is None and rb.PROBLEMS.pop()
    return ref


def check_tables(rb, results):
    for peer, prec, ms in [("torch eager fp32 (TF32)", "fp32", 6.0), ("torch.compile reduce-overhead fp32 (TF32)",
                                                                       "fp32", None),
                           ("kiln fp32 (TF32)", "fp32", 3.0), ("torch eager fp16", "fp16", 2.0),
                           ("torch eager fp16 + CUDA graph", "fp16", 1.5),
                           ("torch.compile reduce-overhead fp16", "fp16", 1.2), ("kiln fp16", "fp16", 1.0)]:
        rb.add_row(results, "resnet50", 32, peer, prec, ms, "" if ms else "skipped: compile budget of 150 s used up")
    rb.add_row(results, "resnet50", 32, "torch.compile max-autotune fp16", "fp16", None, "max-autotune skipped: budget")
    rb.add_row(results, "reid", 512, "kiln fp16", "fp16", 10.0)
    rb.add_row(results, "reid", 512, "torch eager fp16", "fp16", 25.0)
    rb.add_row(results, "resnet50", 1, "kiln fp16", "fp16", 0.5)  # added last, shown first for resnet50
    table = rb.report.speed_table(results["speed"])
    lines = table.splitlines()
    assert "| resnet50 | 32 | torch eager fp16 | 2.000 | 16000 | 2.00 |  |" in table, table
    assert "| resnet50 | 32 | torch eager fp32 (TF32) | 6.000 | 5333 |  | 2.00 |" in table, table
    assert "| resnet50 | 32 | kiln fp32 (TF32) | 3.000 | 10667 |  |  |" in table, table
    assert "| reid | 512 | torch eager fp16 | 25.000 | 20480 | 2.50 |  |" in table, table
    assert "max-autotune skipped: budget" in table and "compile budget of 150 s used up" in table
    assert lines[2].startswith("| resnet50 | 1 | kiln fp16") and lines[3].startswith("| resnet50 | 32 | torch eager fp32")
    assert lines[-1].startswith("| reid | 512 | kiln fp16"), lines[-1]  # kiln closes its group
    summary = report.summary_table(results["speed"])
    assert "| resnet50 | 32 | 1.000 | 1.50 | 1.20 | — | 3.000 | 2.00 | — |" in summary, summary
    assert "| reid | 512 | 10.000 |  |  |  |  |  |  |" in summary, summary
    results["builds"] = [
        {"model": "resnet50", "precision": "fp16", "cache": "cold", "seconds": 61.0, "tactics": "62 timed, 0 cached"},
        {"model": "resnet50", "precision": "fp16", "cache": "warm", "seconds": 1.5, "tactics": "0 timed, 62 cached"},
        {"model": "resnet50", "precision": "fp32 (TF32)", "cache": "none", "seconds": 3.0, "tactics": ""}]
    built = report.build_lines(results["builds"])
    assert built[0].endswith("issue 4 bound <= 60 s: EXCEEDED") and built[1].endswith("<= 10 s: ok"), built
    assert "bound" not in built[2] and built[0].startswith("build resnet50 fp16: 61.0 s (timing cache cold"), built


def check_max_autotune_budget(work):
    """The worker is killed when its budget is spent; what it finished before stays."""
    jobs = [["resnet50", 1, 10], ["resnet50", 32, 10], ["reid", 32, 10]]
    t0 = time.monotonic()
    out, applied = max_autotune.run(jobs, 2.0, 0, 1, os.path.join(work, "fake-max-autotune.log"), fake=True)
    assert time.monotonic() - t0 < 10, "the budget did not stop the worker"
    assert applied == ["fake"] and out[("resnet50", 1)] == (1.0, "compiled in 0 s (max-autotune)"), out
    assert out[("resnet50", 32)][0] is None and "spent" in out[("resnet50", 32)][1], out
    assert out[("reid", 32)] == (None, "max-autotune skipped: budget"), out
    out, _ = max_autotune.run(jobs, 0, 0, 1, os.path.join(work, "unused.log"))
    assert all(v == (None, "max-autotune skipped: budget") for v in out.values())


def run_selftest(rb, argv):
    args = check_arguments(rb)
    ref = check_metrics(rb)
    results = rb.new_results(argv)
    results.update(gpu="(fake)", torch="(none)", total_s=1.0)
    results["accuracy"] = [{"model": "resnet50", "batch": 7, "precision": "fp32",
                            **rb.compare(ref * 1.0001, ref, False)},
                           {"model": "resnet50", "batch": 7, "precision": "tf32",
                            **rb.compare(ref * 1.001, ref, True)},
                           {"model": "resnet50", "batch": 7, "precision": "fp16", "pass": False,
                            "note": "no fp16 engine (build failed)"}]
    assert "worst TF32 cosine 1.000000" in report.accuracy_summary(results["accuracy"])
    check_tables(rb, results)
    check_max_autotune_budget(args.work)
    results["notes"].append("a note")
    rb.write_reports(args, results, args.work)
    with open(os.path.join(args.work, "bench.md")) as f:
        md = f.read()
    assert "## Speed summary" in md and "- build resnet50 fp16: 61.0 s" in md and "- a note" in md, md
    print("selftest PASS")
    return 0
