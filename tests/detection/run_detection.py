#!/usr/bin/env python3
"""Detection models end to end (issue 15): torchvision detectors and a YOLO-style model with NMS inside the graph,
exported to ONNX, built by kiln, and compared with PyTorch on the same images (boxes, scores, labels).

Models (random weights, no downloads, made to behave like trained ones: see README.md):
  ssdlite   torchvision ssdlite320_mobilenet_v3_large, 91 classes; ONNX at batch 1 and at batch 2 (one file each:
            the detector's transform and post-processing loop over the images in Python, which tracing unrolls)
  retinanet torchvision retinanet_resnet50_fpn at 320x320 (min_size=max_size=320); batch 1 and 2 as above
  yolo      conv backbone + YOLOv5-style decode + torchvision.ops.batched_nms (exported as NonMaxSuppression inside
            the If that torchvision's scripted batched_nms becomes); one ONNX with a dynamic batch, run at batches
            1, 2 and 3, through context.infer and through an IOutputAllocator with execute_async_v3
  yolo-nms  the same with YOLOv5's own NMS: boxes offset per (image, class), one torchvision.ops.nms

Each ONNX file runs on onnxruntime (a check of the export) and on kiln (FP32, TF32 off), and both are compared with
PyTorch eager FP32 on the CPU. Rules, per image:
  - the same number of detections (a degenerate reference, < MIN_DETECTIONS boxes, fails);
  - detections matched one to one: reference detections taken by score, highest first, each matched to an unmatched
    detection with the same label whose box corners are within BOX_TOL x max(H, W) and whose score is within
    SCORE_TOL; among several, the one with the highest IoU;
  - ordering: the candidate's scores are non-increasing (within SCORE_TOL), and where the matching reorders two
    detections their reference scores are within SCORE_TOL (a near-tie, which two engines may break differently).
Exit status 0 only when every model x exporter x engine matches.

  python3 tests/detection/run_detection.py                       # auto device: cuda when kiln sees a GPU, else cpu
  python3 tests/detection/run_detection.py --device cpu --models yolo,ssdlite
"""
import argparse
import os
import sys
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

BOX_TOL = 1e-4     # box corners, as a fraction of max(image H, W)
SCORE_TOL = 1e-4   # scores (probabilities in [0, 1]), absolute
MIN_DETECTIONS = 5  # per image: fewer and the reference says too little to be a test
IMAGE_SEEDS = {1: [[11], [12]], 2: [[21, 22]], 3: [[31, 32, 33]]}  # two contents at batch 1, more at 2 and 3
EXPORT_SEEDS = {1: [11], 2: [21, 22]}


# ----------------------------------------------------------------------------------------------------------------
# Images: synthetic scenes (smooth background, coloured rectangles and ellipses, mild noise), different per seed.

def scene(seed, height, width):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((3, height, width), np.float32)
    base = rng.uniform(0.2, 0.8, 3)
    for c in range(3):
        img[c] = base[c] * (0.6 + 0.4 * np.sin(x / rng.uniform(15, 60) + y / rng.uniform(15, 60) + 2 * c))
    for _ in range(rng.integers(12, 20)):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.04, 0.2) * height, rng.uniform(0.04, 0.2) * width
        inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1 if rng.random() < 0.5 else \
            (np.abs(y - cy) <= ry) & (np.abs(x - cx) <= rx)
        img[:, inside] = rng.uniform(0, 1, (3, 1))
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def batch_of(seeds, height, width):
    return np.stack([scene(s, height, width) for s in seeds])


# ----------------------------------------------------------------------------------------------------------------
# Models

def like_trained(torch, model, calibration_batches, forward=None):
    """Random init made to behave like a trained net: BatchNorm affine parameters away from (1, 0), zero conv biases
    re-initialized, then BatchNorm running statistics recomputed (train-mode BN, cumulative average) on images.
    `forward` (default: the model) is what runs on each calibration batch."""
    gen = torch.Generator().manual_seed(1234)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None and not m.bias.abs().max() > 0:
                m.bias.normal_(0, 0.02, generator=gen)
        for m in norms:
            m.weight.uniform_(0.7, 1.3, generator=gen)
            m.bias.normal_(0, 0.1, generator=gen)
            m.reset_running_stats()
            m.momentum = None
    model.eval()
    for m in norms:
        m.train()
    with torch.no_grad():
        for images in calibration_batches:
            (forward or model)(images)
    model.eval()
    return model


class Spec:
    """One model: the torch module (images [B,3,H,W] -> flat tuple of tensors), its I/O names, how to read the
    detections out of the flat outputs, and the batches it runs at (one ONNX file per entry of `exports`)."""

    def __init__(self, name, module, height, width, output_names, read, exports, dynamic_batch, note,
                 uses_batched_nms=True):
        self.name, self.module, self.height, self.width = name, module, height, width
        self.uses_batched_nms = uses_batched_nms
        self.output_names, self.read, self.exports, self.dynamic_batch, self.note = \
            output_names, read, exports, dynamic_batch, note


def torchvision_spec(torch, name, height, width):
    import torchvision
    from torchvision.models import detection

    torch.manual_seed(0)
    if name == "ssdlite":
        det = detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, score_thresh=0.35)
        with torch.no_grad():  # a trained SSD is confident: logits std ~0.5 at random init, ~1 after this
            for seq in det.head.classification_head.module_list:
                seq[1].weight.mul_(2.0)
        note = "cls head final convs' weights x2, score_thresh 0.35"
    else:
        det = detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None, min_size=height, max_size=width,
                                               score_thresh=0.35)
        with torch.no_grad():  # logits std ~0.02 at random init, and the prior bias (p=0.01) keeps all under 0.05
            det.head.classification_head.cls_logits.weight.mul_(20.0)
            det.head.classification_head.cls_logits.bias.fill_(-3.0)
        note = "cls_logits weights x20, bias -3 (prior 0.047), score_thresh 0.35"

    class Flat(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, images):
            flat = []
            for out in self.inner(list(images.unbind(0))):
                flat += [out["boxes"], out["scores"], out["labels"]]
            return tuple(flat)

    def features(images):  # backbone and head only: the post-processing does not touch BatchNorm
        batch, _ = det.transform(images)
        features = det.backbone(batch.tensors)
        return det.head(list(features.values()) if isinstance(features, dict) else [features])

    calibration = [[torch.from_numpy(scene(900 + 4 * k + i, height, width)) for i in range(4)] for k in range(3)]
    like_trained(torch, det, calibration, features)
    module = Flat(det).eval()

    def names(batch):
        return [f"{kind}_{i}" for i in range(batch) for kind in ("boxes", "scores", "labels")]

    def read(outputs, batch):
        return [(np.asarray(outputs[3 * i]), np.asarray(outputs[3 * i + 1]), np.asarray(outputs[3 * i + 2]))
                for i in range(batch)]

    del torchvision
    return Spec(name, module, height, width, names, read, exports=[1, 2], dynamic_batch=False, note=note)


def yolo_spec(torch, nms="batched", height=256, width=320, classes=8):
    """nms="batched": torchvision.ops.batched_nms (the legacy exporter scripts it: NonMaxSuppression inside an If);
    nms="offset": YOLOv5's own trick, boxes shifted apart per (image, class) and one torchvision.ops.nms call."""
    import torchvision

    anchors = torch.tensor([[40.0, 40.0], [72.0, 48.0], [48.0, 88.0]])
    stride, iou_threshold, score_threshold = 16, 0.45, 0.5

    def block(cin, cout, s):
        return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, s, 1, bias=False), torch.nn.BatchNorm2d(cout),
                                   torch.nn.SiLU())

    class TinyYolo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1),
                                                block(32, 64, 2), block(64, 64, 1), block(64, 96, 2))
            self.head = torch.nn.Conv2d(96, len(anchors) * (5 + classes), 1)
            gy, gx = torch.meshgrid(torch.arange(height // stride), torch.arange(width // stride), indexing="ij")
            self.register_buffer("grid", torch.stack([gx, gy], -1).reshape(1, 1, -1, 2).float())
            self.register_buffer("anchors", anchors.reshape(1, -1, 1, 2))

        def forward(self, images):
            b = images.shape[0]
            p = self.head(self.backbone(images)).sigmoid()
            p = p.reshape(b, len(anchors), 5 + classes, -1).permute(0, 1, 3, 2)  # [B, A, cells, 5+C]
            centre = (p[..., 0:2] * 2 - 0.5 + self.grid) * stride
            size = (p[..., 2:4] * 2) ** 2 * self.anchors
            boxes = torch.cat([centre - size / 2, centre + size / 2], -1).reshape(b, -1, 4)
            boxes = torch.stack([boxes[..., 0].clamp(0, width), boxes[..., 1].clamp(0, height),
                                 boxes[..., 2].clamp(0, width), boxes[..., 3].clamp(0, height)], -1)
            scores, labels = (p[..., 4:5] * p[..., 5:]).reshape(b, -1, classes).max(-1)
            image = torch.arange(b, device=images.device)[:, None].expand(b, scores.shape[1])
            boxes, scores, labels, image = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1), \
                image.reshape(-1)
            keep = torch.nonzero(scores > score_threshold).squeeze(1)
            boxes, scores, labels, image = boxes[keep], scores[keep], labels[keep], image[keep]
            group = image * classes + labels
            if nms == "batched":
                keep = torchvision.ops.boxes.batched_nms(boxes, scores, group, iou_threshold)
            else:  # boxes lie in [0, max(H, W)]: shifted by group * (max + 1) no two groups overlap
                keep = torchvision.ops.nms(boxes + (group * (max(height, width) + 1.0))[:, None], scores,
                                           iou_threshold)
            return image[keep], boxes[keep], scores[keep], labels[keep]

    torch.manual_seed(0)
    model = TinyYolo()
    with torch.no_grad():
        model.head.weight.mul_(2.0)  # confident, spread scores like a trained head's
        model.head.bias.normal_(0, 0.5)
    like_trained(torch, model, [torch.from_numpy(batch_of(range(700 + 4 * k, 704 + 4 * k), height, width))
                                for k in range(3)])

    def read(outputs, batch):
        image, boxes, scores, labels = (np.asarray(o) for o in outputs)
        return [(boxes[image == i], scores[image == i], labels[image == i]) for i in range(batch)]

    return Spec("yolo" if nms == "batched" else "yolo-nms", model, height, width, lambda batch: ["image", "boxes", "scores", "labels"], read,
                exports=["dynamic"], dynamic_batch=True, uses_batched_nms=nms == "batched",
                note=f"{nms} NMS, {classes} classes, stride {stride}, 3 anchors, head weights x2, score>{score_threshold}, "
                     f"batched_nms iou {iou_threshold}")


# ----------------------------------------------------------------------------------------------------------------
# Export

class PlainBatchedNms:
    """While active, torchvision.ops.boxes.batched_nms (which torchvision's detectors call) is its coordinate trick
    written out, without the `if boxes.numel() == 0` that torch.jit._script_if_tracing turns into an ONNX If around
    the NonMaxSuppression. The PyTorch reference always runs the stock function."""

    def __enter__(self):
        import torchvision

        self.boxes_module = torchvision.ops.boxes
        self.stock = self.boxes_module.batched_nms

        def plain(boxes, scores, idxs, iou_threshold):
            offsets = idxs.to(boxes) * (boxes.max() + 1)
            return torchvision.ops.nms(boxes + offsets[:, None], scores, iou_threshold)

        self.boxes_module.batched_nms = plain
        return self

    def __exit__(self, *exc):
        self.boxes_module.batched_nms = self.stock


def export(torch, spec, batch, exporter, path):
    if exporter.endswith("+plainnms"):
        with PlainBatchedNms():
            return export(torch, spec, batch, exporter[: -len("+plainnms")], path)
    # Traced on test images that have detections: the plain batched_nms takes boxes.max(), which fails when empty.
    example = torch.from_numpy(batch_of(EXPORT_SEEDS[2 if batch == "dynamic" else batch], spec.height, spec.width))
    names = spec.output_names(example.shape[0])
    kwargs = dict(input_names=["images"], output_names=names, opset_version=17)
    if exporter == "legacy":
        if batch == "dynamic":
            kwargs["dynamic_axes"] = {"images": {0: "batch"}}
        torch.onnx.export(spec.module, (example,), path, dynamo=False, **kwargs)
    else:
        if batch == "dynamic":
            kwargs["dynamic_shapes"] = {"images": {0: torch.export.Dim("batch", min=1, max=8)}}
        program = torch.onnx.export(spec.module, (example,), dynamo=True, **kwargs)
        program.save(path)
    return path


# ----------------------------------------------------------------------------------------------------------------
# Comparison

def iou(a, b):
    lt, rb = np.maximum(a[:2], b[:, :2]), np.minimum(a[2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: np.prod(np.clip(x[..., 2:] - x[..., :2], 0, None), axis=-1)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def compare_image(ref, got, image_size):
    """Returns (ok, message, max box error / image size, max score error) for one image's detections."""
    rb, rs, rl = ref
    gb, gs, gl = got
    if len(rs) < MIN_DETECTIONS:
        return False, f"reference has {len(rs)} detections (< {MIN_DETECTIONS}): degenerate", 0.0, 0.0
    if not (np.isfinite(rb).all() and np.isfinite(rs).all()):
        return False, "reference has non-finite values", 0.0, 0.0
    if len(gs) != len(rs):
        return False, f"count {len(gs)} != reference {len(rs)}", 0.0, 0.0
    if np.any(np.diff(gs) > SCORE_TOL):
        k = int(np.argmax(np.diff(gs) > SCORE_TOL))
        return False, f"scores not sorted: detection {k + 1} ({gs[k + 1]:.6f}) above {k} ({gs[k]:.6f})", 0.0, 0.0
    box_tol = BOX_TOL * image_size
    used = np.zeros(len(gs), bool)
    match = np.empty(len(rs), np.int64)
    for i in np.argsort(-rs, kind="stable"):
        ok = (~used) & (gl == rl[i]) & (np.abs(gs - rs[i]) <= SCORE_TOL) & \
             (np.abs(gb - rb[i]).max(axis=1) <= box_tol)
        if not ok.any():
            j = int(np.argmin(np.abs(gb - rb[i]).max(axis=1) + 1e3 * (gl != rl[i])))
            return False, (f"reference detection {i} (label {rl[i]}, score {rs[i]:.6f}, box {np.round(rb[i], 3)}) "
                           f"unmatched; nearest: label {gl[j]}, score {gs[j]:.6f}, box {np.round(gb[j], 3)}"), 0, 0
        cand = np.flatnonzero(ok)
        j = int(cand[np.argmax(iou(rb[i], gb[cand]))])
        used[j] = True
        match[i] = j
    # Ordering: a pair that the match reorders must be a near-tie in the reference.
    for i in range(len(rs)):
        later = np.arange(i + 1, len(rs))
        swapped = later[match[later] < match[i]]
        if swapped.size and np.abs(rs[swapped] - rs[i]).max() > SCORE_TOL:
            k = int(swapped[np.argmax(np.abs(rs[swapped] - rs[i]))])
            return False, f"order: reference {i} and {k} (scores {rs[i]:.6f}, {rs[k]:.6f}) are swapped", 0, 0
    box_err = float(np.abs(gb[match] - rb).max()) / image_size
    score_err = float(np.abs(gs[match] - rs).max())
    return True, "", box_err, score_err


def compare(ref_images, got_images, image_size):
    worst_box, worst_score, counts = 0.0, 0.0, []
    for k, (ref, got) in enumerate(zip(ref_images, got_images)):
        ok, message, box_err, score_err = compare_image(ref, got, image_size)
        if not ok:
            return False, f"image {k}: {message}", counts, worst_box, worst_score
        counts.append(len(ref[1]))
        worst_box, worst_score = max(worst_box, box_err), max(worst_score, score_err)
    return True, "", counts, worst_box, worst_score


# ----------------------------------------------------------------------------------------------------------------
# Engines

def onnxruntime_runner(path):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return lambda images: session.run(None, {"images": images})


def kiln_runner(kiln, path, spec, device, batches):
    shapes = None
    if spec.dynamic_batch:
        dims = (3, spec.height, spec.width)
        shapes = {"images": ((1, *dims), (2, *dims), (max(max(batches), 4), *dims))}
    start = time.perf_counter()
    engine = kiln.build(path, shapes=shapes, device=device, tf32=False)
    seconds = time.perf_counter() - start
    context = engine.create_execution_context()
    return (lambda images: list(context.infer(images).values())), engine, seconds


class HostOrDeviceAllocator:
    """IOutputAllocator over host memory (CPU engine) or kiln.cuda.DeviceArray (CUDA engine)."""

    def __init__(self, kiln, on_device):
        self.kiln, self.on_device = kiln, on_device
        self.buffers, self.shapes = {}, {}

    def make(self):
        kiln, me = self.kiln, self

        class Allocator(kiln.IOutputAllocator):
            def reallocate_output(self, tensor_name, memory, size, alignment):
                size = max(int(size), 1)
                buf = kiln.cuda.DeviceArray((size,), kiln.uint8) if me.on_device else np.empty(size, np.uint8)
                me.buffers[tensor_name] = buf
                return buf.ptr if me.on_device else buf.ctypes.data

            def notify_shape(self, tensor_name, shape):
                me.shapes[tensor_name] = tuple(shape)

        return Allocator()


def allocator_runner(kiln, engine):
    """The TensorRT-shaped path: set_input_shape, set_tensor_address, an IOutputAllocator on every output,
    execute_async_v3; the outputs read back at the shapes notify_shape gave."""
    on_device = engine.device == "cuda"
    context = engine.create_execution_context()
    state = HostOrDeviceAllocator(kiln, on_device)
    allocator = state.make()
    outputs = [n for n in engine if engine.get_tensor_mode(n) == kiln.TensorIOMode.OUTPUT]
    for name in outputs:
        context.set_tensor_address(name, 0)
        context.set_output_allocator(name, allocator)

    def run(images):
        images = np.ascontiguousarray(images, np.float32)
        context.set_input_shape("images", images.shape)
        keep = None
        if on_device:
            keep = kiln.cuda.DeviceArray(images.shape, kiln.float32)
            keep.copy_from_host(images)
            context.set_tensor_address("images", keep.ptr)
        else:
            context.set_tensor_address("images", images.ctypes.data)
        context.execute_async_v3(0)
        result = []
        for name in outputs:
            dtype = kiln.nptype(engine.get_tensor_dtype(name))
            shape = state.shapes[name]
            buf = state.buffers[name]
            host = buf.to_host() if on_device else buf
            result.append(host.view(dtype)[: int(np.prod(shape))].reshape(shape).copy())
        del keep
        return result

    return run


# ----------------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="yolo,yolo-nms,ssdlite,retinanet")
    parser.add_argument("--exporters", default="legacy,legacy+plainnms,dynamo",
                        help="legacy, dynamo, and either with +plainnms (batched_nms without its ONNX If)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--workdir", default="/tmp/kiln-detection")
    parser.add_argument("--retinanet-size", type=int, default=320)
    args = parser.parse_args()

    try:
        import kiln
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "build", "python"))
        import kiln
    import torch

    torch.set_grad_enabled(False)
    device = args.device if args.device != "auto" else ("cuda" if kiln.cuda.is_available() else "cpu")
    os.makedirs(args.workdir, exist_ok=True)
    print(f"kiln {kiln.__version__} on {device}; torch {torch.__version__}; tolerances: boxes {BOX_TOL} x image size, "
          f"scores {SCORE_TOL}; FP32, TF32 off")

    rows, failures = [], 0

    def row(*cells):
        rows.append(cells)
        print(" | ".join(str(c) for c in cells), flush=True)

    for name in args.models.split(","):
        try:
            start = time.perf_counter()
            if name in ("yolo", "yolo-nms"):
                spec = yolo_spec(torch, "batched" if name == "yolo" else "offset")
            else:
                size = args.retinanet_size if name == "retinanet" else 320
                spec = torchvision_spec(torch, name, size, size)
            print(f"\n== {name}: {spec.note} (made in {time.perf_counter() - start:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001 -- report and count
            traceback.print_exc()
            row(name, "-", "-", "-", "FAIL", f"model: {type(e).__name__}: {e}"[:200])
            failures += 1
            continue
        for exporter in args.exporters.split(","):
            if exporter.endswith("+plainnms") and not spec.uses_batched_nms:
                continue
            for exported in spec.exports:
                batches = [1, 2, 3] if exported == "dynamic" else [exported]
                label = f"b{exported}" if exported != "dynamic" else "dyn"
                path = os.path.join(args.workdir, f"{name}_{exporter}_{label}.onnx")
                try:
                    start = time.perf_counter()
                    export(torch, spec, exported, exporter, path)
                    export_s = time.perf_counter() - start
                except Exception as e:  # noqa: BLE001
                    text = str(e)
                    if "## Exception summary" in text:  # torch.onnx's dynamo report: the cause is under this head
                        text = text.split("## Exception summary", 1)[1].strip()
                    message = f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"[:300]
                    print(f"{name} {exporter} {label}: export failed: {message}", flush=True)
                    if not exporter.startswith("dynamo"):
                        failures += 1
                    row(name, exporter, label, "export", "n/a" if exporter.startswith("dynamo") else "FAIL", message)
                    continue
                cases = [(b, seeds) for b in batches for seeds in IMAGE_SEEDS[b]]
                refs = {}
                for b, seeds in cases:
                    images = batch_of(seeds, spec.height, spec.width)
                    refs[tuple(seeds)] = (images, spec.read([t.numpy() for t in spec.module(torch.from_numpy(images))],
                                                            b))
                runners = [("onnxruntime", lambda: (onnxruntime_runner(path), None, 0.0))]
                runners.append((f"kiln-{device}", lambda: kiln_runner(kiln, path, spec, device, batches)))
                engine_box = {}
                if spec.dynamic_batch:
                    runners.append((f"kiln-{device}-allocator",
                                    lambda: (allocator_runner(kiln, engine_box["engine"]), None, 0.0)))
                for engine_name, make in runners:
                    if engine_name.endswith("-allocator") and "engine" not in engine_box:
                        row(name, exporter, label, engine_name, "not run", "no engine: the kiln build failed")
                        continue
                    try:
                        run, engine, build_s = make()
                        if engine is not None:
                            engine_box["engine"] = engine
                    except Exception as e:  # noqa: BLE001
                        message = f"{type(e).__name__}: {e}"
                        print(f"{name} {exporter} {label} {engine_name}: build failed:\n{message}", flush=True)
                        row(name, exporter, label, engine_name, "FAIL", message.splitlines()[0][:300])
                        failures += 1
                        continue
                    verdict, details, worst_box, worst_score, all_counts = "ok", "", 0.0, 0.0, []
                    start = time.perf_counter()
                    for b, seeds in cases:
                        images, ref = refs[tuple(seeds)]
                        try:
                            got = spec.read(run(images), b)
                        except Exception as e:  # noqa: BLE001
                            verdict, details = "FAIL", f"batch {b}: {type(e).__name__}: {e}".splitlines()[0][:300]
                            break
                        ok, message, counts, box_err, score_err = compare(ref, got, max(spec.height, spec.width))
                        if not ok:
                            verdict, details = "FAIL", f"batch {b} seeds {seeds}: {message}"
                            break
                        all_counts += counts
                        worst_box, worst_score = max(worst_box, box_err), max(worst_score, score_err)
                    run_s = time.perf_counter() - start
                    if verdict == "FAIL":
                        failures += 1
                    else:
                        details = (f"counts {all_counts}; max box err {worst_box:.2g} x size, max score err "
                                   f"{worst_score:.2g}; export {export_s:.0f} s" +
                                   (f", build {build_s:.0f} s" if build_s else "") + f", runs {run_s:.1f} s")
                    row(name, exporter, label, engine_name, verdict, details)

    print("\n| model | exporter | batch | engine | verdict | details |\n|---|---|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join(str(c) for c in cells) + " |")
    print(f"detection: {sum(r[4] == 'ok' for r in rows)} ok, {failures} failed "
          f"(dynamo export failures are reported as n/a, not counted)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
