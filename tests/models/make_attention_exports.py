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

With --dynamic it instead writes the exports that tests/models/attention_exports_test.cpp runs in CI (committed under
tests/models/attention_dynamic/, weights inline): batch and sequence dynamic in both exporters (Swin-style windowed
attention with a relative position bias and a shift mask: the window batch dynamic), and PyTorch's output at each
(batch, seq) of DYNAMIC_SHAPES as pytorch_<b>x<s>.npy, on inputs made by det_input (a formula the C++ test repeats
exactly, so that no input is stored):
  python tests/models/make_attention_exports.py --dynamic --out tests/models/attention_dynamic

With --hf-bert (needs transformers): a tiny random HuggingFace BertModel (2 layers, hidden 64, 4 heads) with a padding
attention_mask, eager and sdpa attention, both exporters, batch and sequence dynamic; with --kiln each is built with a
profile 1x2 .. 8x64, must make 2 FusedAttention layers, and runs against PyTorch at (batch, seq) in HF_BERT_SHAPES:
  python tests/models/make_attention_exports.py --hf-bert --out /tmp/hf-bert --kiln build/kiln --device cpu
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


class SwinWindowAttention(nn.Module):
    """Swin's W-MSA / SW-MSA block on windows [B*nW, N, C]: relative position bias [1,H,N,N] from a table gathered by
    a constant index, and (shifted) a constant mask [nW,N,N] added through the [B, nW, H, N, N] view."""

    def __init__(self, dim=16, window=4, heads=2, windows=4, shifted=True):
        super().__init__()
        self.heads, self.n, self.windows, self.shifted = heads, window * window, windows, shifted
        self.scale = (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, dim * 3), nn.Linear(dim, dim)
        self.table = nn.Parameter(torch.randn((2 * window - 1) ** 2, heads) * 0.5)
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("index", rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1])
        g = torch.Generator().manual_seed(1)
        self.register_buffer("mask", torch.where(torch.rand(windows, self.n, self.n, generator=g) > 0.3, 0.0, -100.0))

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.table[self.index.view(-1)].view(self.n, self.n, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if self.shifted:
            attn = attn.view(b // self.windows, self.windows, self.heads, n, n) + self.mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


# (batch, seq) pairs of the CI test: the profile's min and max and odd ones between. Swin has only a batch axis (of
# images; its window batch is images * 4 windows of 16 tokens).
DYNAMIC_MIN, DYNAMIC_MAX = (1, 2), (4, 24)
DYNAMIC_SHAPES = [(1, 2), (4, 24), (3, 17), (2, 5)]
SWIN_BATCHES = [1, 3]  # images; profile 1..4


def det_input(shape, seed):
    """Deterministic values in (-1, 1), none zero, exact in float32 (the C++ test computes the same)."""
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    return (((i * 7919 + seed * 104729) % 2001 - 1000).astype(np.float32) + np.float32(0.5)) / np.float32(1000)


def det_padding(b, s):
    """Attention mask [b, s] int64: row r ignores its last min(r, s - 1) tokens."""
    m = np.ones((b, s), dtype=np.int64)
    for r in range(b):
        if min(r, s - 1):
            m[r, s - min(r, s - 1):] = 0
    return m


def dynamic_cases():
    torch.manual_seed(0)
    sdpa = Sdpa(False)
    return {
        # name: (model, input names, make inputs (b, s) -> arrays, legacy dynamic_axes, dynamo dims per input)
        "sdpa": (sdpa, ["q", "k", "v"],
                 lambda b, s: [det_input((b, 2, s, 8), i).reshape(b, 2, s, 8) for i in range(3)],
                 {n: {0: "batch", 2: "seq"} for n in "qkv"}, {n: (0, 2) for n in "qkv"}),
        "bert": (BertSelfAttention(32, 2), ["x", "mask"],
                 lambda b, s: [det_input((b, s, 32), 0).reshape(b, s, 32), det_padding(b, s)],
                 {"x": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}}, {"x": (0, 1), "mask": (0, 1)}),
        "mha": (MhaSmall(), ["x"], lambda b, s: [det_input((b, s, 32), 0).reshape(b, s, 32)],
                {"x": {0: "batch", 1: "seq"}}, {"x": (0, 1)}),
        "swin": (SwinWindowAttention(), ["x"], lambda b, s: [det_input((b * 4, 16, 16), 0).reshape(b * 4, 16, 16)],
                 {"x": {0: "windows"}}, {"x": (0,)}),
        "swin_noshift": (SwinWindowAttention(shifted=False), ["x"],
                         lambda b, s: [det_input((b * 4, 16, 16), 0).reshape(b * 4, 16, 16)],
                         {"x": {0: "windows"}}, {"x": (0,)}),
    }


class MhaSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = nn.MultiheadAttention(32, 2, batch_first=True)

    def forward(self, x):
        return self.m(x, x, x, need_weights=False)[0]


def export_dynamic(out):
    for name, (model, names, make, axes, dims) in dynamic_cases().items():
        model.eval()
        example = [torch.from_numpy(a) for a in make(2, 7)]
        for exporter in ("legacy", "dynamo"):
            if (name == "mha" or name == "swin_noshift") and exporter == "legacy":
                # torch's legacy export of nn.MultiheadAttention bakes the traced sequence length in; unshifted Swin
                # is the shifted graph without the mask's views (the dynamo export covers it; kept small for CI)
                continue
            d = os.path.join(out, f"{name}_{exporter}")
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if exporter == "legacy":
                    torch.onnx.export(model, tuple(example), path, dynamo=False, opset_version=17, input_names=names,
                                      dynamic_axes=axes)
                else:
                    batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=512)
                    if name.startswith("swin"):
                        batch = 4 * torch.export.Dim("images", min=1, max=16)
                    spec = {n: {a: (batch if a == 0 else seq) for a in dims[n]} for n in names}
                    torch.onnx.export(model, tuple(example), path, dynamo=True, opset_version=18, input_names=names,
                                      dynamic_shapes=spec, verbose=False)
            m = onnx.load(path)
            for n in m.graph.node:  # the dynamo exporter's per-node stack traces: half the file
                del n.metadata_props[:]
                n.doc_string = ""
            onnx.save(m, path, save_as_external_data=False)  # weights inline, one small file
            if os.path.exists(path + ".data"):
                os.remove(path + ".data")
            for b, s in [(b, 0) for b in SWIN_BATCHES] if name.startswith("swin") else DYNAMIC_SHAPES:
                with torch.no_grad():
                    want = model(*[torch.from_numpy(a) for a in make(b, s)]).numpy()
                np.save(os.path.join(d, f"pytorch_{b}x{s}.npy"), want)
            print(f"wrote {d}: {os.path.getsize(path)} bytes")


HF_BERT_SHAPES = [(1, 2), (8, 64), (3, 17), (2, 33), (4, 64)]


def export_hf_bert(out):
    from transformers import BertConfig, BertModel

    class Wrap(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids, mask):
            return self.m(input_ids=ids, attention_mask=mask).last_hidden_state

    made = []
    for impl in ("eager", "sdpa"):
        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=128, max_position_embeddings=64, attn_implementation=impl)
        model = Wrap(BertModel(cfg)).eval()
        ids, mask = torch.randint(0, 100, (2, 7)), torch.from_numpy(det_padding(2, 7))
        for exporter in ("legacy", "dynamo"):
            d = os.path.join(out, f"bert_{impl}_{exporter}")
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if exporter == "legacy":
                    torch.onnx.export(model, (ids, mask), path, dynamo=False, opset_version=17,
                                      input_names=["ids", "mask"],
                                      dynamic_axes={"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}})
                else:
                    batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=64)
                    torch.onnx.export(model, (ids, mask), path, dynamo=True, opset_version=18,
                                      input_names=["ids", "mask"],
                                      dynamic_shapes={"ids": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}})
            onnx.save(onnx.load(path), path, save_as_external_data=False)
            if os.path.exists(path + ".data"):
                os.remove(path + ".data")
            output = onnx.load(path).graph.output[0].name
            sets = []
            for b, s in HF_BERT_SHAPES:
                sd = os.path.join(d, f"set_{b}x{s}")
                os.makedirs(sd, exist_ok=True)
                i = torch.randint(0, 100, (b, s), generator=torch.Generator().manual_seed(b * 100 + s))
                m = torch.from_numpy(det_padding(b, s))
                np.save(os.path.join(sd, "ids.npy"), i.numpy())
                np.save(os.path.join(sd, "mask.npy"), m.numpy())
                with torch.no_grad():
                    np.save(os.path.join(sd, output.replace("/", "_") + ".npy"), model(i, m).numpy())
                sets.append((sd, f"ids:{sd}/ids.npy,mask:{sd}/mask.npy"))
            made.append((d, sets))
    return made


def check_hf_bert(made, kiln, device):
    failures = 0
    for d, sets in made:
        engine = os.path.join(d, "model.kiln")
        res = subprocess.run([kiln, "build", os.path.join(d, "model.onnx"), "-o", engine, f"--device={device}",
                              "--minShapes=ids:1x2,mask:1x2", "--optShapes=ids:4x64,mask:4x64",
                              "--maxShapes=ids:8x64,mask:8x64"], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"FAIL {d}: build: {res.stderr.strip()[-300:]}")
            failures += 1
            continue
        layers = subprocess.run([kiln, "inspect", engine], capture_output=True, text=True).stdout
        fused = sum(1 for line in layers.splitlines() if " FusedAttention " in line)
        softmax = sum(1 for line in layers.splitlines() if " Softmax " in line)
        print(f"{'PASS' if fused == 2 and softmax == 0 else 'FAIL'} {os.path.basename(d)}: {fused} FusedAttention, "
              f"{softmax} Softmax layer(s) left")
        failures += 0 if fused == 2 and softmax == 0 else 1
        for sd, spec in sets:
            run = subprocess.run([kiln, "run", engine, f"--loadInputs={spec}", f"--compareOutputs={sd}"],
                                 capture_output=True, text=True)
            last = (run.stdout.strip().splitlines() or [""])[-1] if run.returncode == 0 else run.stderr.strip()[-200:]
            print(f"  {'PASS' if run.returncode == 0 else 'FAIL'} {os.path.basename(sd)}: {last}")
            failures += 0 if run.returncode == 0 else 1
    return failures


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
    ap.add_argument("--dynamic", action="store_true", help="write the CI test's dynamic-shape exports instead")
    ap.add_argument("--hf-bert", action="store_true", help="a tiny HuggingFace BertModel instead (needs transformers)")
    a = ap.parse_args()
    if a.hf_bert:
        made = export_hf_bert(a.out)
        sys.exit(1 if a.kiln and check_hf_bert(made, a.kiln, a.device) else 0)
    if a.dynamic:
        export_dynamic(a.out)
        return
    made = export_all(a.out)
    print(f"wrote {len(made)} exports under {a.out}")
    if a.kiln:
        sys.exit(1 if check(made, a.kiln, a.device, a.fp16) else 0)


if __name__ == "__main__":
    main()
