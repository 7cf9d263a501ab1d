"""The torch-free variants of examples/python/ (the seeds' workflows) on the CPU backend against onnxruntime."""
import os
import subprocess
import sys

from conftest import PACKAGE_DIR, ROOT, SEED_CNN

EXAMPLES = os.path.join(ROOT, "examples", "python")


def run_example(name, *args, workdir):
    env = dict(os.environ)
    if PACKAGE_DIR:
        env["PYTHONPATH"] = PACKAGE_DIR + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args, "--workdir", str(workdir)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_dynamic_batch_example(tmp_path):
    out = run_example("dynamic_batch.py", "--model", SEED_CNN, "--reference", "onnxruntime", "--device", "cpu",
                      "--precisions", "fp32", "--profile", "1", "4", "8", "--batches", "1", "3", "8", "--steps", "2",
                      "--fail-above", "1e-4", workdir=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| fp32 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["1", "3", "8"]
    assert (tmp_path / "test_fp32.kiln").is_file()


def test_processor_v3_example(tmp_path):
    out = run_example("processor_v3.py", "--model", SEED_CNN, "--reference", "onnxruntime", "--device", "cpu",
                      "--precisions", "fp32", "--batches", "1", "5", "--max-batch", "8", "--fail-above", "1e-4",
                      workdir=tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| fp32 | cpu |")]
    assert len(rows) == 2, out
