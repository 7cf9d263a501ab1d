"""A YOLO-style detector made with onnx.helper, without torch: conv -> box decode -> NonMaxSuppression -> GatherND,
with a dynamic batch, on kiln's CPU backend against onnxruntime (issue 15's end-to-end check in a CI-sized form;
tests/detection/run_detection.py does the same on torchvision models against PyTorch).

Agreement rules (stated, and checked to be meaningful):
- the dense outputs (decoded boxes and scores of every cell) match within FP32 tolerance;
- the selected (batch, class, box) triples are the same set, and within each (batch, class) kiln's order is by
  score, highest first, as ONNX's reference and onnxruntime order them (a swap is allowed only between scores
  within 1e-5 of each other, a near-tie the two engines may break differently);
- the gathered boxes and scores of each selected triple match within FP32 tolerance;
- the reference is not degenerate: every image keeps some boxes and NMS suppresses some, and no candidate score lies
  within 1e-4 of the score threshold (where a last-bit difference could change the count).
"""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln
from helpers import assert_close, onnxruntime_outputs

HEIGHT, WIDTH, STRIDE, CLASSES = 48, 80, 8, 3
CELLS = (HEIGHT // STRIDE) * (WIDTH // STRIDE)
SCORE_THRESHOLD, IOU_THRESHOLD, MAX_PER_CLASS = 0.25, 0.45, 20
TIE = 1e-5


def yolo_style_model(seed=15):
    """images [N,3,48,80] -> boxes [N,60,4] (x1,y1,x2,y2 pixels), scores [N,3,60], selected [M,3] (batch, class,
    cell), det_boxes [M,4], det_scores [M]. Two convs (stride 2, then 4) give 5 + 3 channels per 8x8 cell."""
    rng = np.random.default_rng(seed)
    per_cell = 5 + CLASSES
    w1 = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.6, (per_cell, 8, 3, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.3, per_cell).astype(np.float32)
    gy, gx = np.meshgrid(np.arange(HEIGHT // STRIDE), np.arange(WIDTH // STRIDE), indexing="ij")
    grid = np.stack([gx.ravel(), gy.ravel()], -1)[None].astype(np.float32)  # [1, cells, 2] as (x, y)
    consts = {
        "w1": w1, "b1": b1, "w2": w2, "b2": b2, "grid": grid,
        "anchor": np.array([[[20.0, 16.0]]], np.float32),
        "stride": np.array(STRIDE, np.float32), "two": np.array(2.0, np.float32), "half": np.array(0.5, np.float32),
        "head_shape": np.array([0, per_cell, -1], np.int64),
        "max_per_class": np.array([MAX_PER_CLASS], np.int64),
        "iou": np.array([IOU_THRESHOLD], np.float32), "score_threshold": np.array([SCORE_THRESHOLD], np.float32),
        "batch_and_box": np.array([0, 2], np.int64),
    }
    initializers = [numpy_helper.from_array(v, k) for k, v in consts.items()]

    def node(op, inputs, outputs, **attrs):
        return helper.make_node(op, inputs, outputs, name=f"/{outputs[0]}", **attrs)

    def slice_last(src, dst, start, end):
        consts_here = {f"{dst}_s": [start], f"{dst}_e": [end], f"{dst}_a": [-1]}
        initializers.extend(numpy_helper.from_array(np.array(v, np.int64), k) for k, v in consts_here.items())
        return node("Slice", [src, f"{dst}_s", f"{dst}_e", f"{dst}_a"], [dst])

    nodes = [
        node("Conv", ["images", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"]),
        node("Conv", ["r1", "w2", "b2"], ["head"], kernel_shape=[3, 3], strides=[4, 4], pads=[1, 1, 1, 1]),
        node("Reshape", ["head", "head_shape"], ["flat"]),
        node("Transpose", ["flat"], ["cells"], perm=[0, 2, 1]),
        node("Sigmoid", ["cells"], ["p"]),
        slice_last("p", "xy", 0, 2), slice_last("p", "wh", 2, 4), slice_last("p", "obj", 4, 5),
        slice_last("p", "cls", 5, 5 + CLASSES),
        # centre = (2 sigmoid - 0.5 + cell) * stride; size = (2 sigmoid)^2 * anchor (YOLOv5's decode)
        node("Mul", ["xy", "two"], ["xy2"]), node("Sub", ["xy2", "half"], ["xy3"]),
        node("Add", ["xy3", "grid"], ["xy4"]), node("Mul", ["xy4", "stride"], ["centre"]),
        node("Mul", ["wh", "two"], ["wh2"]), node("Mul", ["wh2", "wh2"], ["wh3"]),
        node("Mul", ["wh3", "anchor"], ["size"]), node("Mul", ["size", "half"], ["halfsize"]),
        node("Sub", ["centre", "halfsize"], ["top_left"]), node("Add", ["centre", "halfsize"], ["bottom_right"]),
        node("Concat", ["top_left", "bottom_right"], ["boxes"], axis=-1),
        node("Mul", ["obj", "cls"], ["cell_scores"]),
        node("Transpose", ["cell_scores"], ["scores"], perm=[0, 2, 1]),
        node("NonMaxSuppression", ["boxes", "scores", "max_per_class", "iou", "score_threshold"], ["selected"]),
        node("Gather", ["selected", "batch_and_box"], ["box_index"], axis=1),
        node("GatherND", ["boxes", "box_index"], ["det_boxes"]),
        node("GatherND", ["scores", "selected"], ["det_scores"]),
    ]
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, "yolo_style_nms", [helper.make_tensor_value_info("images", f, ["N", 3, HEIGHT, WIDTH])],
        [helper.make_tensor_value_info("boxes", f, ["N", CELLS, 4]),
         helper.make_tensor_value_info("scores", f, ["N", CLASSES, CELLS]),
         helper.make_tensor_value_info("selected", TensorProto.INT64, ["M", 3]),
         helper.make_tensor_value_info("det_boxes", f, ["M", 4]),
         helper.make_tensor_value_info("det_scores", f, ["M"])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln-tests")
    model.ir_version = 8  # what opset 17 needs; onnxruntime refuses the newest IR versions
    return model


def scene(rng, n):
    """n images in [0, 1]: a smooth gradient with a few bright rectangles, different in each image."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    out = np.empty((n, 3, HEIGHT, WIDTH), np.float32)
    for i in range(n):
        tint = rng.uniform(0.2, 0.8, 3)
        for c in range(3):
            out[i, c] = tint[c] * (0.5 + 0.5 * np.sin(x / rng.uniform(6, 20) + y / rng.uniform(6, 20) + c))
        for _ in range(4):
            y0, x0 = rng.integers(0, HEIGHT - 8), rng.integers(0, WIDTH - 8)
            out[i, :, y0:y0 + rng.integers(6, 20), x0:x0 + rng.integers(6, 30)] = rng.uniform(0, 1, (3, 1, 1))
    return out


def check_ordered_by_score(selected, scores, where):
    """Within each (batch, class) run of `selected`, scores do not increase (beyond a near-tie of TIE)."""
    for k in range(1, len(selected)):
        if tuple(selected[k, :2]) == tuple(selected[k - 1, :2]):
            assert scores[k] <= scores[k - 1] + TIE, f"{where}: detection {k} scores above the one before it"


def check_against_onnxruntime(got, want, images):
    assert_close(got["boxes"], want["boxes"])
    assert_close(got["scores"], want["scores"])
    ref_sel, ref_scores = want["selected"], want["det_scores"]
    # A meaningful reference: some boxes kept in every image, some suppressed, none at the threshold's edge.
    kept_per_image = np.bincount(ref_sel[:, 0], minlength=len(images))
    assert kept_per_image.min() >= 3, f"reference keeps too few boxes per image: {kept_per_image}"
    candidates = int((want["scores"] > SCORE_THRESHOLD).sum())
    assert candidates > len(ref_sel), "NMS suppressed nothing: the test would not see a wrong suppression"
    margin = float(np.min(np.abs(want["scores"] - SCORE_THRESHOLD)))
    assert margin > 1e-4, f"a score lies {margin:.2g} from the threshold: the count would depend on the last bit"

    sel = np.asarray(got["selected"])
    assert sel.dtype == np.int64 and sel.shape == ref_sel.shape, (sel.shape, ref_sel.shape)
    assert set(map(tuple, sel.tolist())) == set(map(tuple, ref_sel.tolist()))
    check_ordered_by_score(sel, np.asarray(got["det_scores"]), "kiln")
    order = {tuple(t): k for k, t in enumerate(sel.tolist())}
    perm = [order[tuple(t)] for t in ref_sel.tolist()]  # kiln's row for each reference row
    assert_close(np.asarray(got["det_boxes"])[perm], want["det_boxes"])
    assert_close(np.asarray(got["det_scores"])[perm], ref_scores)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    path = tmp_path_factory.mktemp("detection") / "yolo_style_nms.onnx"
    with open(path, "wb") as f:
        f.write(yolo_style_model().SerializeToString())
    engine = kiln.build(str(path), shapes={"images": ((1, 3, HEIGHT, WIDTH), (2, 3, HEIGHT, WIDTH),
                                                      (4, 3, HEIGHT, WIDTH))}, device="cpu", tf32=False)
    return str(path), engine


@pytest.mark.parametrize("batch", [1, 3, 2, 4])
def test_yolo_style_nms_matches_onnxruntime(detector, batch):
    path, engine = detector
    images = scene(np.random.default_rng(100 + batch), batch)
    want = onnxruntime_outputs(path, {"images": images})
    got = engine.create_execution_context().infer(images)
    assert list(got) == ["boxes", "scores", "selected", "det_boxes", "det_scores"]
    check_against_onnxruntime(got, want, images)


class _HostAllocator(kiln.IOutputAllocator):
    """Host memory for a CPU engine's outputs; keeps the last shape kiln reported."""

    def __init__(self):
        super().__init__()
        self.buffers, self.shapes = {}, {}

    def reallocate_output(self, tensor_name, memory, size, alignment):
        self.buffers[tensor_name] = np.empty(max(size, 1), np.uint8)
        return self.buffers[tensor_name].ctypes.data

    def notify_shape(self, tensor_name, shape):
        self.shapes[tensor_name] = tuple(shape)


def test_yolo_style_nms_through_an_output_allocator(detector):
    """The TensorRT-shaped path: execute_async_v3 with an IOutputAllocator on every output, one context for several
    runs whose box counts differ (the allocator's memory is reused or grown, the shapes come from notify_shape)."""
    path, engine = detector
    context = engine.create_execution_context()
    allocator = _HostAllocator()
    for name in engine.output_names:
        context.set_tensor_address(name, 0)
        context.set_output_allocator(name, allocator)
    counts = []
    for batch, seed in ((2, 7), (4, 11), (1, 9), (3, 10)):
        images = scene(np.random.default_rng(seed), batch)
        context.set_input_shape("images", images.shape)
        context.set_tensor_address("images", images.ctypes.data)
        assert context.execute_async_v3(0)
        got = {}
        for name in engine.output_names:
            dtype = np.int64 if name == "selected" else np.float32
            shape = allocator.shapes[name]
            got[name] = allocator.buffers[name].view(dtype)[: int(np.prod(shape))].reshape(shape)
        check_against_onnxruntime(got, onnxruntime_outputs(path, {"images": images}), images)
        counts.append(got["selected"].shape[0])
    assert len(set(counts)) > 1, f"every run kept the same number of boxes {counts}: the allocator was not exercised"


def capped_topk_model(cap):
    """x [10] -> y = top-k of x[x > 0.5] + a ConstantOfShape of its shape, k = min(count, cap): torchvision's
    per-class candidates (score[keep].topk(min(count, 300)), then full_like(score, label)) in miniature."""
    nodes = [
        helper.make_node("Greater", ["x", "half"], ["mask"], name="/Greater"),
        helper.make_node("NonZero", ["mask"], ["nz"], name="/NonZero"),
        helper.make_node("Transpose", ["nz"], ["where"], perm=[1, 0], name="/Transpose"),
        helper.make_node("GatherND", ["x", "where"], ["kept"], name="/GatherND"),
        helper.make_node("Shape", ["kept"], ["count"], name="/Shape"),
        helper.make_node("Concat", ["cap", "count"], ["caps"], axis=0, name="/Concat"),
        helper.make_node("ReduceMin", ["caps"], ["k"], keepdims=1, name="/ReduceMin"),
        helper.make_node("TopK", ["kept", "k"], ["top", "top_index"], name="/TopK"),
        helper.make_node("Shape", ["top"], ["top_shape"], name="/Shape_1"),
        helper.make_node("ConstantOfShape", ["top_shape"], ["label"], name="/ConstantOfShape",
                         value=helper.make_tensor("seven", TensorProto.FLOAT, [1], [7.0])),
        helper.make_node("Add", ["top", "label"], ["y"], name="/Add"),
    ]
    graph = helper.make_graph(nodes, "capped_topk", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["k"])],
                              [numpy_helper.from_array(np.array(0.5, np.float32), "half"),
                               numpy_helper.from_array(np.array([cap], np.int64), "cap")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="kiln-tests")
    model.ir_version = 8
    return model


@pytest.mark.parametrize("above", [7, 3, 0, 10])
def test_a_count_capped_below_its_bound_stays_dynamic(tmp_path, above):
    """With a fixed input shape, k = min(count, 8) equals 8 at the bound (10) and one below it (9); the builder must
    still treat k as data-dependent (it was folded to 8, and Add then saw 7 against 8 at run time)."""
    path = str(tmp_path / "capped_topk.onnx")
    with open(path, "wb") as f:
        f.write(capped_topk_model(8).SerializeToString())
    engine = kiln.build(path, device="cpu")
    x = np.linspace(0.05, 0.45, 10).astype(np.float32)
    x[np.random.default_rng(above).permutation(10)[:above]] += 0.5  # `above` values over 0.5
    want = onnxruntime_outputs(path, {"x": x})["y"]
    assert want.shape == (min(above, 8),)
    got = engine.create_execution_context().infer(x)["y"]
    np.testing.assert_array_equal(np.asarray(got), want)
