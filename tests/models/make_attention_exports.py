#!/usr/bin/env python3
"""Real torch exports of attention, for checking passes::fuseAttention and the FusedAttention kernels end to end.

Exports small models with torch's legacy exporter (opset 17) and its dynamo exporter (opset 18) -- F.scaled_dot_product
attention plain, causal, with an additive and with a boolean mask, a hand-written BERT-style self-attention with an
additive padding mask, nn.MultiheadAttention -- and writes, per export, DIR/<case>/model.onnx, the inputs as .npy and
PyTorch's float32 output as <output>.npy. With --kiln it then builds each with `kiln build`, checks with `kiln inspect`
that exactly one FusedAttention layer was made, and compares `kiln run` against PyTorch (--compareOutputs).

Needs torch and onnx (not part of the regular test data generation, which has no torch):
  python tests/models/make_attention_exports.py --out /tmp/attn-exports --kiln build/kiln --device cpu
  python tests/models/make_attention_exports.py --out /tmp/attn-exports --kiln build/kiln --device cuda --fp16
"""
import argparse
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F


class Sdpa(nn.Module):
    def __init__(self, causal):
        super().__init__()
        self.causal = causal

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)


class SdpaMask(nn.Module):
    def forward(self, q, k, v, mask):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden=64, heads=4):
        super().__init__()
        self.heads, self.size = heads, hidden // heads
        self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)

    def forward(self, x, mask):
        b, s, d = x.shape

        def split(t):
            return t.view(b, s, self.heads, self.size).permute(0, 2, 1, 3)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.size)
        scores = scores + (1.0 - mask[:, None, None, :].float()) * -10000.0
        return torch.matmul(torch.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).reshape(b, s, d)


class Mha(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = nn.MultiheadAttention(64, 4, batch_first=True)

    def forward(self, x):
        return self.m(x, x, x, need_weights=False)[0]


def cases():
    g = torch.Generator().manual_seed(0)
    b, h, s, d = 2, 4, 7, 16

    def r(*shape):
        return torch.randn(*shape, generator=g)

    q, k, v = r(b, h, s, d), r(b, h, s, d), r(b, h, s, d)
    padding = torch.ones(b, s, dtype=torch.int64)
    padding[1, -2:] = 0
    boolean = torch.rand(b, 1, s, s, generator=g) > 0.3
    boolean[..., 0] = True  # every row attends somewhere
    return {
        "sdpa": (Sdpa(False), (q, k, v)),
        "sdpa_causal": (Sdpa(True), (q, k, v)),
        "sdpa_mask": (SdpaMask(), (q, k, v, r(b, 1, s, s))),
        "sdpa_boolmask": (SdpaMask(), (q, k, v, boolean)),
        "bert": (BertSelfAttention(), (r(b, s, 64), padding)),
        "mha": (Mha(), (r(b, s, 64),)),
    }


def export_all(out):
    made = []
    torch.manual_seed(0)
    for name, (model, args) in cases().items():
        model.eval()
        with torch.no_grad():
            want = model(*args).numpy()
        for exporter in ("legacy", "dynamo"):
            d = os.path.join(out, f"{name}_{exporter}")
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if exporter == "dynamo":
                    torch.onnx.export(model, args, path, dynamo=True, opset_version=18, verbose=False)
                else:
                    torch.onnx.export(model, args, path, dynamo=False, opset_version=17)
            graph = onnx.load(path).graph
            for f in os.listdir(d):
                if f.endswith(".npy"):
                    os.remove(os.path.join(d, f))
            np.save(os.path.join(d, graph.output[0].name.replace("/", "_") + ".npy"), want)
            spec = []
            for i, (inp, a) in enumerate(zip(graph.input, args)):
                f = os.path.join(d, f"input_{i}.npy")
                np.save(f, a.numpy())
                spec.append(f"'{inp.name}':{f}")  # quoted: legacy names hold ':' ("onnx::Shape_0")
            made.append((d, ",".join(spec)))
    return made


def check(made, kiln, device, fp16):
    failures = 0
    for d, spec in made:
        engine = os.path.join(d, "model.kiln")
        build = [kiln, "build", os.path.join(d, "model.onnx"), "-o", engine, f"--device={device}"]
        if fp16:
            build.append("--fp16")
        res = subprocess.run(build, capture_output=True, text=True)
        if res.returncode != 0:
            print(f"FAIL {d}: build: {res.stderr.strip()[-300:]}")
            failures += 1
            continue
        layers = subprocess.run([kiln, "inspect", engine], capture_output=True, text=True).stdout
        fused = sum(1 for line in layers.splitlines() if " FusedAttention " in line)
        run = subprocess.run([kiln, "run", engine, f"--loadInputs={spec}", f"--compareOutputs={d}"],
                             capture_output=True, text=True)
        verdict = run.stdout.strip().splitlines()[-2:] if run.stdout.strip() else [run.stderr.strip()[-300:]]
        ok = run.returncode == 0 and fused == 1
        failures += 0 if ok else 1
        print(f"{'PASS' if ok else 'FAIL'} {os.path.basename(d)}: {fused} FusedAttention layer(s); {' | '.join(verdict)}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kiln", help="path of the kiln CLI: build, inspect and compare each export")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--fp16", action="store_true")
    a = ap.parse_args()
    made = export_all(a.out)
    print(f"wrote {len(made)} exports under {a.out}")
    if a.kiln:
        sys.exit(1 if check(made, a.kiln, a.device, a.fp16) else 0)


if __name__ == "__main__":
    main()
