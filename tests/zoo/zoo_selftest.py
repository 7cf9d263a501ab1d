"""run_zoo.py --selftest: the comparison, the degenerate-reference rules, the kept-in-FP32 parsing and the tables,
on made-up data. Needs numpy only (no torch, no GPU, no kiln)."""
import numpy as np

import agreement
import run_zoo
import zoo_report


def check_agreement():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((7, 1000)).astype(np.float32)
    scale = float(np.abs(ref).max())
    assert agreement.compare(ref * (1 + 1e-6), ref, "fp32")["verdict"] == "PASS"
    # FP32: 1e-3 of the scale is the bound, whatever the cosine.
    off = ref + 2e-3 * scale * np.sign(ref)
    r = agreement.compare(off, ref, "fp32")
    assert r["verdict"] == "FAIL" and abs(r["rel"] - 2e-3) < 1e-5 and r["cosine"] > 0.9999, r
    # FP16: float16 rounding passes; a 4% scale error fails on the error bound alone (cosine stays 1).
    assert agreement.compare(ref.astype(np.float16), ref, "fp16")["verdict"] == "PASS"
    r = agreement.compare(ref * 1.04, ref, "fp16")
    assert r["verdict"] == "FAIL" and r["cosine"] > 0.99999, r
    # Noise of 5% of each value: max error within 2e-2 of scale is not enough if the cosine drops.
    noisy = ref + 0.02 * scale * rng.uniform(-1, 1, ref.shape)
    assert agreement.compare(noisy, ref, "bf16")["verdict"] == "FAIL"
    assert agreement.compare(-ref, ref, "fp16")["verdict"] == "FAIL"
    nan = ref.copy()
    nan[3, 5] = np.nan
    r = agreement.compare(nan, ref, "fp16")
    assert r["verdict"] == "FAIL" and "1 NaN/Inf" in r["note"], r
    assert agreement.compare(ref[:3], ref, "fp32")["verdict"] == "FAIL"
    # Scale-relative, no absolute floor: tiny outputs that agree pass; zeros against them fail.
    assert agreement.compare(ref * 1e-9, ref * 1e-9, "fp32")["verdict"] == "PASS"
    r = agreement.compare(np.zeros_like(ref), ref * 1e-9, "fp16")
    assert r["verdict"] == "FAIL" and r["cosine"] == 0.0 and r["rel"] == 1.0, r
    # Degenerate references are never a pass, even when the output equals them.
    for bad, why in [(np.zeros_like(ref), "all zero"), (np.full_like(ref, 0.25), "constant"),
                     (nan, "NaN/Inf"), (np.tile(ref[:1], (7, 1)), "ignores the input"),
                     (np.zeros((0, 4), np.float32), "empty")]:
        r = agreement.compare(bad, bad, "fp32")
        assert r["verdict"] == "DEGENERATE" and why in r["note"], (why, r)
    assert agreement.degenerate_reason(ref[:1]) == ""  # one row: nothing to say about input dependence
    w = agreement.worst([agreement.compare(ref, ref, "fp16"), agreement.compare(ref * 1.04, ref, "fp16")])
    assert w["verdict"] == "FAIL" and abs(w["rel"] - 0.04) < 1e-4 and w["cosine"] > 0.9999, w


def check_report():
    log = ("[kiln] tuning 12/40 layers\n"
           "[kiln] kept in FP32: /features/features.2/conv/conv.0/Conv (Conv): activations reach 9.1e4, beyond "
           "FP16's range\n"
           "[kiln] kept in FP32: ln (LayerNormalization): error 3e-2 of the scale after this layer\n"
           "[kiln] kept in FP32: something else\n")
    kept = zoo_report.kept_in_fp32(log)
    assert len(kept) == 3, kept
    assert kept[0] == {"layer": "/features/features.2/conv/conv.0/Conv", "op": "Conv",
                       "reason": "activations reach 9.1e4, beyond FP16's range"}, kept[0]
    assert kept[1]["op"] == "LayerNormalization" and kept[2]["reason"] == "something else"
    ok = {"model": "mobilenet_v2", "exporter": "dynamo", "precision": "fp16", "status": "ok", "build_s": 3.2,
          "batches": {"1": {"verdict": "PASS", "rel": 1e-3, "cosine": 0.9999}},
          "worst": {"verdict": "PASS", "rel": 1e-3, "cosine": 0.9999, "note": ""}, "kept_fp32": kept,
          "torch_same_precision": {"verdict": "PASS", "rel": 2e-3, "cosine": 0.99999},
          "onnxruntime": {"verdict": "PASS", "rel": 3e-6, "cosine": 1.0}}
    bad = dict(ok, precision="bf16", worst={"verdict": "DEGENERATE", "rel": None, "cosine": None,
                                              "note": "reference is all zero"}, kept_fp32=[])
    nobuild = dict(ok, precision="fp32", status="build failed: kiln: error: node 'x'", batches={}, kept_fp32=[])
    noexport = dict(ok, exporter="legacy", status="export failed: UnsupportedOperatorError: aten::foo",
                    batches={}, kept_fp32=[])
    rows = [ok, bad, nobuild, noexport]
    text = zoo_report.line(ok)
    assert "PASS" in text and "fp32-kept 3" in text and "activations reach" in text and "ok 3.2s" in text, text
    assert "DEGENERATE" in zoo_report.line(bad) and "all zero" in zoo_report.line(bad)
    assert "build failed" in zoo_report.line(nobuild) and "export failed" in zoo_report.line(noexport)
    s = zoo_report.summary(rows, 12)
    assert s.startswith("zoo: 1 pass / 4 total (") and "1 DEGENERATE" in s and "1 build failed" in s and \
        "1 export failed" in s, s
    md = zoo_report.markdown(rows, {"date": "today", "command": "x", "seconds": 12})
    assert md.count("\n| mobilenet_v2 |") == 4 and "2.00e-03 / 0.999990" in md and "3.0e-06 PASS" in md, md


def check_arguments():
    a = run_zoo.parse_args(["--models=resnet50,bert_base", "--precisions=fp16", "--jobs=3"])
    assert a.models == ["resnet50", "bert_base"] and a.precisions == ["fp16"] and a.build_jobs == 3
    assert run_zoo.parse_args(["--device=cpu"]).precisions == ["fp32"]
    assert len(run_zoo.parse_args([]).models) >= 15
    for bad in (["--models=vgg"], ["--exporters=jit"], ["--precisions=int4"], ["--profile=8,4,16"],
                ["--batches=1,32"], ["--jobs=0"]):
        try:
            run_zoo.parse_args(bad)
        except SystemExit:
            continue
        raise AssertionError(f"{bad} was accepted")


def run():
    import contextlib
    import io
    check_agreement()
    check_report()
    with contextlib.redirect_stderr(io.StringIO()):
        check_arguments()
    print("zoo selftest PASS")
    return 0
