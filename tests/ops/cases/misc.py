"""Misc family: Hardmax, TopK (constant K), Einsum, Det, LRN, LpNormalization, MeanVarianceNormalization,
RMSNormalization, NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss."""
import numpy as np

from op_case import Case, absent, const, inp

CASES = []


def i64(values):
    return np.asarray(values, dtype=np.int64)


for axis in [-1, 0, 1]:
    CASES.append(Case(f"misc_hardmax_axis{axis}", "Hardmax", [inp("x", (3, 5, 7))], attrs={"axis": axis}, opset=13))
for i, (shape, k, axis, largest) in enumerate([((3, 13), 4, -1, 1), ((7, 5, 3), 2, 0, 0), ((9,), 9, 0, 1)]):
    CASES.append(Case(f"misc_topk_{i}", "TopK", [inp("x", shape), const("k", i64([k]))],
                      attrs={"axis": axis, "largest": largest}, outputs=2, opset=13))
for i, (eq, shapes) in enumerate([("ij,jk->ik", [(3, 5), (5, 7)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                                  ("ii->i", [(5, 5)]), ("ij->", [(4, 7)]), ("...ij->...ji", [(2, 3, 4, 5)]),
                                  ("i,i", [(9,), (9,)])]):
    CASES.append(Case(f"misc_einsum_{i}", "Einsum", [inp(f"x{j}", s) for j, s in enumerate(shapes)],
                      attrs={"equation": eq}, opset=13))
CASES += [
    Case("misc_det_2d", "Det", [inp("x", (5, 5))], opset=13),
    Case("misc_det_batch", "Det", [inp("x", (3, 2, 3, 3))], opset=13),
    Case("misc_lrn", "LRN", [inp("x", (2, 7, 5, 3))], attrs={"size": 3, "alpha": 2e-3, "beta": 0.6, "bias": 1.5},
         opset=13),
    Case("misc_lrn_default", "LRN", [inp("x", (1, 6, 4, 3))], attrs={"size": 5}, opset=13),
    Case("misc_lpnorm_l2", "LpNormalization", [inp("x", (3, 7, 5))], attrs={"axis": 1, "p": 2}, opset=13),
    Case("misc_lpnorm_l1", "LpNormalization", [inp("x", (4, 9))], attrs={"axis": -1, "p": 1}, opset=13),
    Case("misc_mvn_default", "MeanVarianceNormalization", [inp("x", (3, 5, 4, 2))], opset=13),
    Case("misc_mvn_axes", "MeanVarianceNormalization", [inp("x", (3, 5, 7))], attrs={"axes": [1, 2]}, opset=13),
]
for i, (shape, target_shape, reduction, weight, ignore) in enumerate([
        ((5, 4), (5,), "mean", False, None), ((3, 5, 7), (3, 7), "none", True, None),
        ((2, 3, 4, 5), (2, 4, 5), "sum", True, 1), ((4, 6, 3), (4, 3), "mean", True, 2)]):
    c = shape[1]
    ins = [inp("x", shape), inp("t", target_shape, "int64", 0, c - 1), inp("w", (c,), "float32", 0.2, 1.5) if weight
           else absent()]
    attrs = {"reduction": reduction}
    if ignore is not None:
        attrs["ignore_index"] = ignore
    CASES.append(Case(f"misc_nll_{i}", "NegativeLogLikelihoodLoss", ins, attrs=attrs, opset=13))
    CASES.append(Case(f"misc_sce_{i}", "SoftmaxCrossEntropyLoss", ins, attrs=attrs, outputs=2, opset=13))
