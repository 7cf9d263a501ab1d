"""An ONNX If decided by a data-dependent count (passes/select_empty_branch.cpp), as torchvision's batched_nms
exports: `if boxes.numel() == 0: return empty` around the coordinate trick and NonMaxSuppression, where `boxes` come
out of a NonZero. The condition is known only after the run reads the NonZero's count back.

Models made with onnx.helper, run on kiln's CPU backend (and CUDA: marker gpu) against onnxruntime, in one
context over runs whose counts differ: no box above the threshold (the empty branch is taken), some, and all of
them. Rules: the kept indices are equal (int64; NMS orders by score, and the random scores have no ties closer than
1e-6), the kept boxes and scores within FP32 tolerance (they are gathered copies, so in practice exact), shapes
equal, the empty case included.
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln
from helpers import assert_close, onnxruntime_outputs

THRESHOLD, IOU, MAX_N = 0.5, 0.4, 40


def batched_nms_model(empty_in_then=True, empty_rank2=True):
    """boxes [N,4], scores [N] -> keep [K] (indices into the boxes above THRESHOLD), kept_boxes [K,4], kept_scores [K].
    Inside the If: torchvision's batched_nms (offset per label = index mod 3, by max coordinate + 1, one NMS).
    empty_in_then: the empty branch is then_branch under `numel == 0` (torchvision's form); otherwise else_branch
    under `numel > 0`. empty_rank2: the If also yields the kept boxes ([0,4] empty constant: Slice + Reshape)."""
    consts = {
        "threshold": np.array(THRESHOLD, np.float32), "zero": np.array(0, np.int64), "axis0": np.array([0], np.int64),
        "three": np.array(3, np.int64), "one_f": np.array(1.0, np.float32), "column2": np.array(2, np.int64),
        "max_out": np.array([MAX_N], np.int64), "iou": np.array([IOU], np.float32),
        "axes1": np.array([1], np.int64),
    }
    init = [numpy_helper.from_array(v, k) for k, v in consts.items()]
    n = helper.make_node
    work_nodes = [
        n("ReduceMax", ["boxes"], ["max_coord"], name="max_coord", keepdims=0),
        n("Add", ["max_coord", "one_f"], ["span"], name="span"),
        n("Mod", ["idx", "three"], ["label"], name="label"),
        n("Cast", ["label"], ["label_f"], name="label_f", to=TensorProto.FLOAT),
        n("Mul", ["label_f", "span"], ["offsets"], name="offsets"),
        n("Unsqueeze", ["offsets", "axes1"], ["offsets_col"], name="offsets_col"),
        n("Add", ["boxes", "offsets_col"], ["boxes_for_nms"], name="boxes_for_nms"),
        n("Unsqueeze", ["boxes_for_nms", "axis0"], ["nms_boxes"], name="nms_boxes"),
        n("Unsqueeze", ["scores", "axis0"], ["scores_b"], name="scores_b"),
        n("Unsqueeze", ["scores_b", "axis0"], ["nms_scores"], name="nms_scores"),
        n("NonMaxSuppression", ["nms_boxes", "nms_scores", "max_out", "iou"], ["selected"], name="nms"),
        n("Gather", ["selected", "column2"], ["keep_work"], name="keep_column", axis=1),
    ]
    work_outputs = [helper.make_tensor_value_info("keep_work", TensorProto.INT64, None)]
    empty_nodes = [n("Constant", [], ["keep_empty"], name="keep_empty",
                     value=numpy_helper.from_array(np.zeros((0,), np.int64)))]
    empty_outputs = [helper.make_tensor_value_info("keep_empty", TensorProto.INT64, None)]
    if empty_rank2:
        work_nodes.append(n("Gather", ["boxes", "keep_work"], ["kept_boxes_work"], name="kept_boxes_work", axis=0))
        work_outputs.append(helper.make_tensor_value_info("kept_boxes_work", TensorProto.FLOAT, None))
        empty_nodes.append(n("Constant", [], ["boxes_empty"], name="boxes_empty",
                             value=numpy_helper.from_array(np.zeros((0, 4), np.float32))))
        empty_outputs.append(helper.make_tensor_value_info("boxes_empty", TensorProto.FLOAT, None))
    work = helper.make_graph(work_nodes, "work", [], work_outputs)
    empty = helper.make_graph(empty_nodes, "empty", [], empty_outputs)
    if_outputs = ["keep"] + (["kept_boxes"] if empty_rank2 else [])
    nodes = [
        n("Greater", ["scores_in", "threshold"], ["mask"], name="mask"),
        n("NonZero", ["mask"], ["nz"], name="nonzero"),
        n("Squeeze", ["nz", "axis0"], ["idx"], name="idx"),
        n("Gather", ["boxes_in", "idx"], ["boxes"], name="boxes", axis=0),
        n("Gather", ["scores_in", "idx"], ["scores"], name="scores", axis=0),
        n("Shape", ["boxes"], ["boxes_shape"], name="boxes_shape"),
        n("ReduceProd", ["boxes_shape"], ["numel"], name="numel", keepdims=0),
        n("Equal" if empty_in_then else "Greater", ["numel", "zero"], ["cond_i"], name="cond_i"),
        n("Cast", ["cond_i"], ["cond"], name="cond", to=TensorProto.BOOL),
        n("If", ["cond"], if_outputs, name="batched_nms_if",
          then_branch=empty if empty_in_then else work, else_branch=work if empty_in_then else empty),
        n("Gather", ["scores", "keep"], ["kept_scores"], name="kept_scores", axis=0),
    ]
    outputs = [helper.make_tensor_value_info("keep", TensorProto.INT64, ["K"]),
               helper.make_tensor_value_info("kept_scores", TensorProto.FLOAT, ["K"])]
    if empty_rank2:
        outputs.insert(1, helper.make_tensor_value_info("kept_boxes", TensorProto.FLOAT, ["K", 4]))
    graph = helper.make_graph(nodes, "batched_nms_if", [
        helper.make_tensor_value_info("boxes_in", TensorProto.FLOAT, ["N", 4]),
        helper.make_tensor_value_info("scores_in", TensorProto.FLOAT, ["N"])], outputs, init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def boxes_and_scores(rng, count, above):
    """`count` boxes (x1, y1, x2, y2 in a 64x64 image, overlapping often) and scores with `above` of them over
    THRESHOLD, none within 1e-3 of it, all distinct by more than 1e-6."""
    xy = rng.uniform(0, 48, (count, 2))
    wh = rng.uniform(4, 20, (count, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = np.concatenate([rng.uniform(THRESHOLD + 1e-3, 1.0, above),
                             rng.uniform(0.0, THRESHOLD - 1e-3, count - above)])
    rng.shuffle(scores)
    scores = scores.astype(np.float32)
    assert np.min(np.diff(np.sort(scores))) > 1e-6 if count > 1 else True
    return boxes, scores


VARIANTS = {"empty-then-rank2": (True, True), "empty-else-rank2": (False, True), "empty-then-rank1": (True, False)}


@pytest.fixture(scope="module", params=[
    pytest.param((v, d), id=f"{v}-{d}", marks=[pytest.mark.gpu] if d == "cuda" else [])
    for d in ("cpu", "cuda") for v in VARIANTS])
def model(request, tmp_path_factory):
    variant, device = request.param
    path = str(tmp_path_factory.mktemp("if_data_dependent") / "model.onnx")
    with open(path, "wb") as f:
        f.write(batched_nms_model(*VARIANTS[variant]).SerializeToString())
    engine = kiln.build(path, shapes={"boxes_in": ((1, 4), (16, 4), (64, 4)), "scores_in": ((1,), (16,), (64,))},
                        device=device, tf32=False)
    return path, engine


# (boxes, above the threshold): none (the empty branch), one, some, all; odd sizes and the profile's ends.
RUNS = [(7, 0), (33, 12), (1, 0), (64, 64), (1, 1), (17, 0), (50, 31)]


def test_matches_onnxruntime_as_the_counts_change(model):
    path, engine = model
    context = engine.create_execution_context()  # one context: the runs' counts differ, the empty case between
    rng = np.random.default_rng(15)
    suppressed = False
    for count, above in RUNS:
        boxes, scores = boxes_and_scores(rng, count, above)
        want = onnxruntime_outputs(path, {"boxes_in": boxes, "scores_in": scores})
        got = context.infer({"boxes_in": boxes, "scores_in": scores})
        assert list(got) == list(want)
        where = f"{count} boxes, {above} above the threshold"
        assert got["keep"].dtype == np.int64 and want["keep"].shape[0] <= above, where
        if above == 0:
            assert want["keep"].shape == (0,), where  # the reference takes the empty branch
        else:
            assert want["keep"].shape[0] > 0, where
        suppressed = suppressed or want["keep"].shape[0] < above
        np.testing.assert_array_equal(got["keep"], want["keep"], err_msg=where)
        for name in want:
            if name != "keep":
                assert got[name].shape == want[name].shape, (where, name)
                if want[name].size:
                    assert_close(got[name], want[name])
    assert suppressed, "NMS suppressed no box in any run: the reference does not exercise it"


def test_an_if_decided_by_a_count_without_an_empty_branch_is_refused(tmp_path):
    """The same If with a then_branch that yields one index (not empty): kiln cannot select it on the host and says
    so, naming the node."""
    m = batched_nms_model(True, False)
    if_node = next(node for node in m.graph.node if node.op_type == "If")
    then = next(a for a in if_node.attribute if a.name == "then_branch").g
    then.node[0].attribute[0].t.CopyFrom(numpy_helper.from_array(np.zeros((1,), np.int64)))
    path = str(tmp_path / "refused.onnx")
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    with pytest.raises(Exception, match=r"node 'batched_nms_if' \(If\).*only empty constants"):
        kiln.build(path, shapes={"boxes_in": ((1, 4), (16, 4), (64, 4)), "scores_in": ((1,), (16,), (64,))},
                   device="cpu", tf32=False)
