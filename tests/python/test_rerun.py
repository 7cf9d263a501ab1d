"""Runs after the first at the same shape read what the first left (found on HuggingFace BERT): values the shape
program computes on the host (here GatherND indices made of Range/Expand/Concat of Shape(ids)) are uploaded once
per shape, so nothing in a run may overwrite them. Before the fix `kiln run`'s second inference failed with
"'indices' element 0 = 4474061864842025706 is outside [-4, 3]". `kiln run` infers twice through the C++ copy path
(inputs in the arena, the plan where the indices were reused). The model is make_attention_exports.py --hf-bert's
dynamo export of a tiny random BertModel (2 layers, hidden 64, 4 heads); the references are PyTorch's."""
import os

import numpy as np

from conftest import ROOT
from test_cli import run_cli

MODEL_DIR = os.path.join(ROOT, "tests", "models", "hf_bert_tiny")


def test_second_inference_at_one_shape_matches_pytorch(tmp_path):
    engine = tmp_path / "bert.kiln"
    built = run_cli("build", os.path.join(MODEL_DIR, "model.onnx"), "-o", str(engine), "--device=cpu", "--quiet",
                    "--minShapes=ids:1x2,mask:1x2", "--optShapes=ids:4x64,mask:4x64", "--maxShapes=ids:8x64,mask:8x64")
    assert built.returncode == 0, built.stderr
    for shape in ("3x17", "4x64", "1x2"):  # kiln run's random ids (1..9) and mask (0/1): this failed before the fix
        ran = run_cli("run", str(engine), f"--shapes=ids:{shape},mask:{shape}", "--printValues=0", "--seed=5")
        assert ran.returncode == 0, ran.stderr + ran.stdout
    for case in ("set_3x17", "set_1x2"):
        folder = os.path.join(MODEL_DIR, case)
        out = tmp_path / case
        ran = run_cli("run", str(engine), f"--loadInputs=ids:{folder}/ids.npy,mask:{folder}/mask.npy",
                      f"--saveOutputs={out}", "--printValues=0")
        assert ran.returncode == 0, ran.stderr + ran.stdout  # the second inference is checked by kiln run itself
        assert "second" in ran.stdout
        ref = np.load(os.path.join(folder, "layer_norm_4.npy"))
        got = np.load(out / "layer_norm_4.npy")
        assert np.ptp(ref) > 0, "a degenerate reference proves nothing"
        err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
        assert err < 1e-4, f"{case}: max error {err:.3g} of max|ref|"
