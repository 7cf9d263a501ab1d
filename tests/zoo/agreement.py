"""How the zoo judges an output against PyTorch FP32: by the error relative to the reference's scale and by cosine
similarity, never by an absolute tolerance, and never against a reference that cannot tell right from wrong.

Tolerances (issue 10): FP32 (TF32 off) max|got - ref| <= 1e-3 x max|ref| and cosine >= 0.9999; FP16 and BF16
cosine >= 0.999 and max|got - ref| <= 2e-2 x max|ref|. Needs numpy only.
"""
import numpy as np

TOLERANCES = {  # precision -> (max error / max|ref|, min cosine)
    "fp32": (1e-3, 0.9999),
    "tf32": (2e-2, 0.999),
    "fp16": (2e-2, 0.999),
    "bf16": (2e-2, 0.999),
}

# Spread within this fraction of the scale is float rounding around one value: a constant.
CONSTANT_SPREAD = 1e-6


def degenerate_reason(ref):
    """Why `ref` proves nothing, or "" when it can judge: empty, NaN/Inf, all zero, constant, or (batch >= 2) the
    same for every batch row, i.e. the network ignores its input."""
    ref = np.asarray(ref, np.float64)
    if ref.size == 0:
        return "reference is empty"
    bad = int(np.size(ref) - np.count_nonzero(np.isfinite(ref)))
    if bad:
        return f"reference holds {bad} NaN/Inf value(s)"
    scale = float(np.max(np.abs(ref)))
    if scale == 0:
        return "reference is all zero"
    if ref.size > 1 and float(np.ptp(ref)) <= CONSTANT_SPREAD * scale:
        return f"reference is constant ({float(ref.flat[0]):.6g})"
    if ref.ndim >= 2 and ref.shape[0] >= 2 and float(np.max(np.abs(ref - ref[:1]))) <= CONSTANT_SPREAD * scale:
        return "every batch row of the reference is the same: the output ignores the input"
    return ""


def compare(got, ref, precision):
    """{'verdict': PASS|FAIL|DEGENERATE, 'max_abs', 'scale', 'rel' (max abs err / max|ref|), 'cosine', 'note'}."""
    max_rel, min_cos = TOLERANCES[precision]
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    r = {"verdict": "FAIL", "max_abs": None, "scale": None, "rel": None, "cosine": None, "note": "",
         "bound": f"err <= {max_rel:g} x max|ref|, cosine >= {min_cos:g}"}
    why = degenerate_reason(ref)
    if why:
        r.update(verdict="DEGENERATE", note=why)
        return r
    if got.shape != ref.shape:
        r["note"] = f"shape {list(got.shape)}, reference {list(ref.shape)}"
        return r
    scale = float(np.max(np.abs(ref)))
    bad = int(got.size - np.count_nonzero(np.isfinite(got)))
    finite = np.isfinite(got)
    diff = np.abs(np.where(finite, got, 0.0) - ref)
    norms = float(np.linalg.norm(np.where(finite, got, 0.0)) * np.linalg.norm(ref))
    r.update(scale=scale, max_abs=float(diff.max()), rel=float(diff.max()) / scale,
             cosine=float(np.sum(np.where(finite, got, 0.0) * ref) / norms) if norms > 0 else 0.0)
    if bad:
        r["note"] = f"{bad} NaN/Inf value(s) in the output"
    elif r["rel"] > max_rel or r["cosine"] < min_cos:
        r["note"] = "beyond " + r["bound"]
    else:
        r["verdict"] = "PASS"
    return r


def worst(results):
    """The verdict and numbers of several batches' comparisons together: worst verdict, largest error, lowest cosine."""
    order = {"DEGENERATE": 0, "FAIL": 1, "PASS": 2}
    results = list(results)
    if not results:
        return {"verdict": "FAIL", "rel": None, "cosine": None, "note": "nothing compared"}
    w = min(results, key=lambda r: order[r["verdict"]])
    rels = [r["rel"] for r in results if r.get("rel") is not None]
    coss = [r["cosine"] for r in results if r.get("cosine") is not None]
    return {"verdict": w["verdict"], "rel": max(rels) if rels else None, "cosine": min(coss) if coss else None,
            "note": w.get("note", "")}
