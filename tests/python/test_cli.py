"""python -m kiln runs the kiln CLI (tools/kiln): same flags, output and exit codes."""
import os
import subprocess
import sys

import kiln
from conftest import PACKAGE_DIR, SEED_CNN
from helpers import assert_close, onnxruntime_outputs, random_input


def run_cli(*args, env_extra=None):
    env = dict(os.environ)
    if PACKAGE_DIR:
        env["PYTHONPATH"] = PACKAGE_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "kiln", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_inspect_an_onnx_model():
    result = run_cli("inspect", SEED_CNN)
    assert result.returncode == 0, result.stderr
    assert "input    'input' float32 [batch_sizex3x256x144]" in result.stdout
    assert "Conv                     9" in result.stdout


def test_bad_usage_exits_2():
    result = run_cli("build")
    assert result.returncode == 2
    assert "kiln: usage error: model is required" in result.stderr


def test_error_exits_1():
    result = run_cli("inspect", "/no/such/file.onnx")
    assert result.returncode == 1
    assert result.stderr.startswith("kiln: error:") and "/no/such/file.onnx" in result.stderr


def test_build_with_the_cli_then_run_in_python(tmp_path, rng):
    engine_path = tmp_path / "seed.kiln"
    result = run_cli("build", SEED_CNN, "-o", str(engine_path), "--minShapes=input:1x3x256x144",
                     "--optShapes=input:2x3x256x144", "--maxShapes=input:3x3x256x144", "--device=cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    result = run_cli("run", str(engine_path), "--shapes=input:3x3x256x144", f"--compare={SEED_CNN}")
    assert result.returncode == 0, result.stderr + result.stdout
    engine = kiln.load(engine_path)
    x = random_input(rng, (3, 3, 256, 144))
    assert_close(engine.create_execution_context().infer(x)["output"],
                 onnxruntime_outputs(SEED_CNN, {"input": x})["output"])


def test_missing_executable_is_explained():
    result = run_cli("inspect", SEED_CNN, env_extra={"KILN_CLI": "/no/kiln"})
    assert result.returncode == 1
    assert "the kiln executable is not at /no/kiln" in result.stderr
