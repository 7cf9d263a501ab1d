"""One zoo model in its own process (so that a crash or a hang in torch stays contained): build it with random
weights, give them realistic scales, save inputs and PyTorch FP32 references (TF32 off) at each checked batch, and
export it with each exporter. Writes WORK/manifest.json; an exporter that fails is recorded, not raised.

    python3 tests/zoo/export_worker.py --model mobilenet_v2 --work /tmp/kiln-zoo/mobilenet_v2 --device cuda
"""
import argparse
import copy
import json
import os
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agreement  # noqa: E402
import zoo_models  # noqa: E402

EXPORTERS = {"legacy": 17, "dynamo": 18}  # exporter -> opset


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, choices=sorted(zoo_models.MODELS))
    ap.add_argument("--work", required=True, help="this model's folder")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="where PyTorch computes references")
    ap.add_argument("--exporters", default="legacy,dynamo")
    ap.add_argument("--batches", default="1,7")
    ap.add_argument("--max-batch", type=int, default=16, help="upper bound of the dynamic batch axis")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the runner starts several workers)")
    ap.add_argument("--torch-baselines", default=None,
                    help="PyTorch's own low precisions, also compared with FP32 (default: fp16,bf16 on cuda)")
    return ap.parse_args(argv)


def one_line(e):
    """The exception's most telling line, short enough for a table cell."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    telling = [ln for ln in lines if "rror" in ln or "not supported" in ln]
    text = telling[0] if telling else lines[0] if lines else ""
    return f"{type(e).__name__}: {text}"[:240]


def export(torch, model, name, exporter, path, max_batch):
    """Exports with a dynamic batch axis from a batch-2 example (batch 1 would be specialised away)."""
    names = zoo_models.input_names(name)
    args = zoo_models.example_inputs(name, 2, torch, seed=99)
    if exporter == "legacy":
        axes = {n: {0: "batch"} for n in names + ["output"]}
        torch.onnx.export(model, args, path, dynamo=False, opset_version=EXPORTERS["legacy"], input_names=names,
                          output_names=["output"], dynamic_axes=axes)
    else:
        batch = torch.export.Dim("batch", min=1, max=max_batch)
        shapes = tuple({0: batch} for _ in names)
        torch.onnx.export(model, args, path, dynamo=True, opset_version=EXPORTERS["dynamo"], input_names=names,
                          output_names=["output"], dynamic_shapes=shapes)
    if not os.path.exists(path):
        raise RuntimeError(f"the exporter wrote no {os.path.basename(path)}")


def check_with_onnxruntime(path, feeds, ref):
    """The export on onnxruntime (CPU) against PyTorch: tells an exporter's error from kiln's."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)[0]
    return agreement.compare(got, ref, "fp32")


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    import torch
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("export_worker: --device=cuda but torch sees no CUDA device")
    name = args.model
    kind, size = zoo_models.MODELS[name][1:]
    manifest = {"model": name, "kind": kind, "size": size, "torch": torch.__version__, "device": device,
                "input_names": zoo_models.input_names(name), "batches": {}, "exports": {}, "torch_low_precision": {}}
    t0 = time.perf_counter()
    model = zoo_models.build(name, torch)
    manifest["weight_changes"] = zoo_models.realistic_weights(model, name, torch, device)
    model.to(device).eval()
    manifest["prepare_s"] = time.perf_counter() - t0

    # Inputs and references at each checked batch; PyTorch's own FP16/BF16 on the same weights as a baseline.
    baselines = args.torch_baselines if args.torch_baselines is not None else "fp16,bf16" if device == "cuda" else ""
    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16}
    low = {label: copy.deepcopy(model).to(dtypes[label]) for label in baselines.split(",") if label}
    for b in [int(s) for s in args.batches.split(",")]:
        inputs = zoo_models.example_inputs(name, b, torch, seed=b)
        entry = {"inputs": {}, "ref": os.path.join(args.work, f"ref_b{b}.npy")}
        for n, t in zip(manifest["input_names"], inputs):
            entry["inputs"][n] = os.path.join(args.work, f"{n}_b{b}.npy")
            np.save(entry["inputs"][n], t.numpy())
        with torch.no_grad():
            ref = model(*[t.to(device) for t in inputs]).float().cpu().numpy()
            for label, net in low.items():
                cast = [t.to(device).to(next(net.parameters()).dtype) if t.is_floating_point() else t.to(device)
                        for t in inputs]
                got = net(*cast).float().cpu().numpy()
                manifest["torch_low_precision"].setdefault(label, {})[str(b)] = agreement.compare(got, ref, label)
            gain = zoo_models.noise_gain(model, [t.to(device) for t in inputs], torch.from_numpy(ref).to(device),
                                         torch)
            manifest["noise_gain"] = max(manifest.get("noise_gain", 0.0), gain)
        np.save(entry["ref"], ref)
        entry["ref_shape"] = list(ref.shape)
        entry["ref_degenerate"] = agreement.degenerate_reason(ref)
        entry["ref_scale"] = float(np.max(np.abs(ref))) if ref.size and np.all(np.isfinite(ref)) else None
        manifest["batches"][str(b)] = entry
    low.clear()
    manifest["reference_s"] = time.perf_counter() - t0 - manifest["prepare_s"]

    model.cpu()
    first = str(min(int(b) for b in manifest["batches"]))
    for exporter in args.exporters.split(","):
        path = os.path.join(args.work, f"{exporter}.onnx")
        rec = {"opset": EXPORTERS[exporter]}
        t1 = time.perf_counter()
        try:
            export(torch, model, name, exporter, path, args.max_batch)
            rec["path"] = path
        except Exception as e:  # an exporter's failure is a result of the suite
            rec["error"] = one_line(e)
            with open(os.path.join(args.work, f"{exporter}_export_error.txt"), "w") as f:
                f.write(traceback.format_exc())
        rec["seconds"] = time.perf_counter() - t1
        if "path" in rec:
            try:
                feeds = {n: np.load(p) for n, p in manifest["batches"][first]["inputs"].items()}
                rec["onnxruntime"] = check_with_onnxruntime(path, feeds, np.load(manifest["batches"][first]["ref"]))
            except Exception as e:
                rec["onnxruntime"] = {"verdict": "ERROR", "note": one_line(e)}
        manifest["exports"][exporter] = rec
        print(f"export {name} {exporter}: {rec.get('error', 'ok')} ({rec['seconds']:.1f} s)", flush=True)
    manifest["total_s"] = time.perf_counter() - t0
    with open(os.path.join(args.work, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
