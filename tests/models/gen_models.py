"""The end-to-end test models with onnxruntime reference sets (read by tests/models/models_e2e_test.cpp).

<out>/seed_cnn.onnx and <out>/seed_cnn/{model.onnx, test_data_set_K}: batch 1, 7, 16 (set K = K-th batch).
<out>/transformer_block.onnx and <out>/transformer_block/{...}: (batch, seq) = (1, 5), (3, 11), (8, 16).
Inputs are random, non-zero; attention masks have padded (zero) tails on most rows, never a fully masked row.
"""
import os
import shutil

import numpy as np

from make_seed_cnn import build_seed_cnn
from make_transformer_block import HIDDEN, build_transformer_block
from test_data_io import run_reference, save_model, write_data_set

SEED_CNN_BATCHES = (1, 7, 16)
TRANSFORMER_SHAPES = ((1, 5), (3, 11), (8, 16))


def nonzero_normal(rng, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    x[np.abs(x) < 1e-3] = 0.5
    return x


def attention_mask(batch, seq):
    mask = np.ones((batch, seq), dtype=np.int64)
    for row in range(batch):
        padded = min((row * 3 + 2) % seq, seq - 1)
        if padded:
            mask[row, seq - padded:] = 0
    return mask


def write_model_with_sets(out_dir, name, model, feeds_list):
    model_dir = os.path.join(out_dir, name)
    save_model(model, os.path.join(model_dir, "model.onnx"))
    shutil.copyfile(os.path.join(model_dir, "model.onnx"), os.path.join(out_dir, f"{name}.onnx"))
    input_names = [i.name for i in model.graph.input]
    output_names = [o.name for o in model.graph.output]
    for k, feeds in enumerate(feeds_list):
        outputs = run_reference(model, feeds, threads=2)
        write_data_set(model_dir, k, input_names, [feeds[n] for n in input_names], output_names, outputs)


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(2024)
    cnn_feeds = [{"input": nonzero_normal(rng, (b, 3, 256, 144))} for b in SEED_CNN_BATCHES]
    write_model_with_sets(out_dir, "seed_cnn", build_seed_cnn(seed=0), cnn_feeds)
    tb_feeds = [{"hidden": nonzero_normal(rng, (b, s, HIDDEN)), "attention_mask": attention_mask(b, s)}
                for b, s in TRANSFORMER_SHAPES]
    write_model_with_sets(out_dir, "transformer_block", build_transformer_block(seed=0), tb_feeds)
    return 2, []
