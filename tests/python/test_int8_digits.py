"""INT8 accuracy on real data (issue 14): the small CNN of tests/models/digits_make.py, trained on scikit-learn's
handwritten digits, built with `kiln build` on the CPU backend in FP32 and in INT8 with each calibration method
(calibrated on 200 held-out images in 4 batches, measured on the other 597). INT8 is simulated with Q/DQ in float
until INT8 kernels exist, so these figures are INT8's numerics. Asserts each INT8 top-1 within 0.5 points of FP32,
and that the calibration cache a build writes makes a second build with the same outputs without the data."""
import os

import numpy as np
import pytest

import kiln
from conftest import ROOT
from test_cli import run_cli

MODELS = os.path.join(ROOT, "tests", "models")
MODEL = os.path.join(MODELS, "digits_cnn.onnx")
SHAPES = ["--minShapes=input:1x1x8x8", "--optShapes=input:50x1x8x8", "--maxShapes=input:600x1x8x8"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    calib = np.load(os.path.join(MODELS, "digits_calib.npy"))
    test = np.load(os.path.join(MODELS, "digits_test.npy"))
    labels = np.load(os.path.join(MODELS, "digits_test_labels.npy"))
    folder = tmp_path_factory.mktemp("digits_calib")
    for k in range(4):
        np.save(folder / f"batch{k}.npy", calib[k * 50:(k + 1) * 50])
    return {"test": test, "labels": labels, "calib_dir": str(folder), "tmp": tmp_path_factory.mktemp("engines")}


def build(digits, name, *flags):
    engine = digits["tmp"] / f"{name}.kiln"
    result = run_cli("build", MODEL, "-o", str(engine), *SHAPES, "--device=cpu", "--quiet", *flags)
    assert result.returncode == 0, result.stderr + result.stdout
    return engine, result


def logits(engine_path, x):
    return kiln.load(engine_path).create_execution_context().infer(x)["logits"]


def top1(digits, engine_path):
    return 100.0 * float(np.mean(logits(engine_path, digits["test"]).argmax(1) == digits["labels"]))


def test_int8_top1_within_half_a_point_of_fp32(digits):
    fp32_engine, _ = build(digits, "fp32")
    fp32 = top1(digits, fp32_engine)
    rows = [("FP32", fp32, "")]
    for method in ("entropy", "minmax", "percentile"):
        engine, result = build(digits, method, "--int8", f"--calib=input:{digits['calib_dir']}",
                               f"--calibMethod={method}")
        assert "INT8 is simulated (Q/DQ in float)" in result.stderr, result.stderr
        assert "4 activations" in result.stderr and "4 weights" in result.stderr, result.stderr
        rows.append((f"INT8 {method}", top1(digits, engine), ""))
    print(f"\ndigits CNN, top-1 on {len(digits['labels'])} held-out images (CPU backend, INT8 simulated):")
    for name, acc, _ in rows:
        print(f"  {name:<16} {acc:6.2f}%   drop {fp32 - acc:+.2f} points")
    assert fp32 >= 95.0, "the FP32 model itself should be good"
    for name, acc, _ in rows[1:]:
        assert fp32 - acc <= 0.5, f"{name}: top-1 {acc:.2f}% vs FP32 {fp32:.2f}%"


def test_int8_differs_from_fp32_and_the_cache_round_trips(digits):
    cache = digits["tmp"] / "digits.cache"
    first, _ = build(digits, "cached1", "--int8", f"--calib=input:{digits['calib_dir']}", f"--calibCache={cache}")
    lines = cache.read_text().splitlines()
    assert lines[0].startswith("# kiln calibration cache 1 method=entropy")
    assert len(lines) == 5  # the header and the inputs of conv1, conv2, fc1 and fc2
    second, result = build(digits, "cached2", "--int8", f"--calibCache={cache}")
    assert f"scales from cache '{cache}'" in result.stderr, result.stderr
    x = digits["test"][:64]
    a, b = logits(first, x), logits(second, x)
    np.testing.assert_array_equal(a, b)
    # The INT8 engine's numerics really are quantized: its logits differ from FP32's, by a little.
    ref = logits(build(digits, "fp32b")[0], x)
    err = np.abs(a - ref).max() / np.abs(ref).max()
    print(f"\nINT8 (entropy) logits vs FP32 on 64 images: max abs error {err:.4f} of max |logit|")
    assert 1e-4 < err < 0.1, err


def test_python_build_calibrates_int8_on_calibration_data(digits):
    """kiln.build(int8=True, calibration_data=...) is the CLI's --int8 --calib: the same engine, bit for bit."""
    engine = kiln.build(MODEL, shapes={"input": ((1, 1, 8, 8), (50, 1, 8, 8), (600, 1, 8, 8))}, int8=True,
                        calibration_data={"input": digits["calib_dir"]}, device="cpu")
    cli_engine, _ = build(digits, "entropy_for_python", "--int8", f"--calib=input:{digits['calib_dir']}")
    x = digits["test"][:64]
    np.testing.assert_array_equal(engine.create_execution_context().infer(x)["logits"], logits(cli_engine, x))


class DigitsCalibrator(kiln.IInt8EntropyCalibrator2):
    """TensorRT's calibrator shape: batches by host pointer (a CPU build), then the cache handed back."""

    def __init__(self, images, batch, cache=None):
        super().__init__()
        self.images, self.batch, self.next, self.cache, self.written = images, batch, 0, cache, None
        self.current = None

    def get_batch_size(self):
        return self.batch

    def get_batch(self, names):
        if self.next + self.batch > len(self.images):
            return None
        assert names == ["input"]
        self.current = np.ascontiguousarray(self.images[self.next:self.next + self.batch])
        self.next += self.batch
        return [self.current.ctypes.data]

    def read_calibration_cache(self):
        return self.cache

    def write_calibration_cache(self, cache):
        self.written = bytes(cache)


def test_tensorrt_calibrator_gives_the_cli_engine_and_its_cache_rebuilds_it(digits):
    calib = np.concatenate([np.load(os.path.join(digits["calib_dir"], f"batch{k}.npy")) for k in range(4)])

    def build_with(calibrator):
        builder = kiln.Builder()
        network = builder.create_network(0)
        assert kiln.OnnxParser(network).parse_from_file(MODEL)
        config = builder.create_builder_config()
        config.device = "cpu"
        config.set_flag(kiln.BuilderFlag.INT8)
        profile = builder.create_optimization_profile()
        profile.set_shape("input", (1, 1, 8, 8), (50, 1, 8, 8), (600, 1, 8, 8))
        config.add_optimization_profile(profile)
        config.int8_calibrator = calibrator
        return kiln.Runtime().deserialize_cuda_engine(builder.build_serialized_network(network, config))

    first = DigitsCalibrator(calib, 50)
    engine = build_with(first)
    assert first.next == 200 and first.written.startswith(b"# kiln calibration cache 1 method=entropy")
    cli_engine, _ = build(digits, "entropy_for_calibrator", "--int8", f"--calib=input:{digits['calib_dir']}")
    x = digits["test"][:64]
    got = engine.create_execution_context().infer(x)["logits"]
    np.testing.assert_array_equal(got, logits(cli_engine, x))
    again = DigitsCalibrator(calib, 50, cache=first.written)
    np.testing.assert_array_equal(build_with(again).create_execution_context().infer(x)["logits"], got)
    assert again.next == 0 and again.written is None  # the cache served: no batch read, nothing written back


def test_inspect_shows_each_quantized_tensor_and_its_scale(digits):
    engine, _ = build(digits, "inspected", "--int8", f"--calib=input:{digits['calib_dir']}")
    shown = run_cli("inspect", str(engine))
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if " QuantizeLinear " in line]
    assert len(rows) == 4 and all(" int8 " in r for r in rows), shown.stdout
    scales = [float(line.split()[1]) for line in shown.stdout.splitlines() if line.strip().startswith("scale ")]
    assert len(scales) == 8 and all(0 < s < 1 for s in scales), shown.stdout  # each Q and DQ, positive
