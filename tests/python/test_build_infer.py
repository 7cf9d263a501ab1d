"""kiln.build / engine.save / kiln.load / context.infer on the CPU backend, against onnxruntime."""
import collections

import numpy as np
import pytest

import kiln
from conftest import SEED_CNN
from helpers import assert_close, onnxruntime_outputs, random_input


@pytest.mark.parametrize("batch", [1, 3, 4, 11, 16])  # the profile's min, odd ones, opt, max
def test_small_cnn_matches_onnxruntime(small_cnn_cpu, small_cnn_path, rng, batch):
    x = random_input(rng, (batch, 3, 9, 7))
    out = small_cnn_cpu.create_execution_context().infer(x)
    assert isinstance(out, collections.OrderedDict) and list(out) == ["logits"]
    assert_close(out["logits"], onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_seed_cnn_profile_range(rng):
    # The seed's model ([B,3,256,144] -> [B,128], torch-export flatten) with a profile 1 / 4 / 9.
    engine = kiln.build(SEED_CNN, shapes={"input": ((1, 3, 256, 144), (4, 3, 256, 144), (9, 3, 256, 144))},
                        device="cpu", tf32=False)
    context = engine.create_execution_context()
    for batch in (1, 5, 9):
        x = random_input(rng, (batch, 3, 256, 144))
        got = context.infer(x)["output"]
        assert got.shape == (batch, 128)
        assert_close(got, onnxruntime_outputs(SEED_CNN, {"input": x})["output"])


def test_input_forms_give_the_same_result(two_input_path, rng):
    engine = kiln.build(two_input_path, shapes={"a": ((1, 8), (4, 8), (32, 8)), "c": ((1, 6), (4, 6), (32, 6))},
                        device="cpu")
    context = engine.create_execution_context()
    a, c = random_input(rng, (7, 8)), random_input(rng, (7, 6))
    ref = onnxruntime_outputs(two_input_path, {"a": a, "c": c})
    by_dict = context.infer({"c": c, "a": a})
    by_list = context.infer([a, c])
    by_tuple = context.infer((a, c))
    for out in (by_dict, by_list, by_tuple):
        assert list(out) == ["y", "s"]  # engine order, whatever the order given
        assert_close(out["y"], ref["y"])
        assert_close(out["s"], ref["s"])


def test_save_load_round_trip(small_cnn_cpu, tmp_path, rng):
    path = tmp_path / "small.kiln"
    small_cnn_cpu.save(path)
    loaded = kiln.load(path)
    assert loaded.serialize() == small_cnn_cpu.serialize() == path.read_bytes()
    assert loaded.device == "cpu"
    assert loaded.metadata["kiln.version"] == kiln.__version__
    x = random_input(rng, (6, 3, 9, 7))
    np.testing.assert_array_equal(loaded.create_execution_context().infer(x)["logits"],
                                  small_cnn_cpu.create_execution_context().infer(x)["logits"])


def test_non_contiguous_and_readonly_inputs(small_cnn_cpu, small_cnn_path, rng):
    x = random_input(rng, (7, 3, 9, 7))
    strided = np.repeat(x, 2, axis=0)[::2]  # same values, stride 2 on the batch axis
    transposed = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values, W-major
    readonly = x.copy()
    readonly.flags.writeable = False
    assert not strided.flags.c_contiguous and not transposed.flags.c_contiguous
    ref = onnxruntime_outputs(small_cnn_path, {"input": x})["logits"]
    context = small_cnn_cpu.create_execution_context()
    for view in (strided, transposed, readonly):
        assert_close(context.infer(view)["logits"], ref)


def test_outputs_are_written_into_given_arrays(small_cnn_cpu, small_cnn_path, rng):
    x = random_input(rng, (5, 3, 9, 7))
    given = np.full((5, 5), np.nan, dtype=np.float32)
    out = small_cnn_cpu.create_execution_context().infer(x, outputs={"logits": given})
    assert out["logits"] is given
    assert_close(given, onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_shapes_change_between_calls(two_input_path, rng):
    engine = kiln.build(two_input_path, shapes={"a": ((1, 8), (8, 8), (64, 8)), "c": ((1, 6), (8, 6), (64, 6))},
                        device="cpu")
    context = engine.create_execution_context()
    for batch in (64, 1, 33, 2, 64):
        a, c = random_input(rng, (batch, 8)), random_input(rng, (batch, 6))
        ref = onnxruntime_outputs(two_input_path, {"a": a, "c": c})
        out = context.infer({"a": a, "c": c})
        assert_close(out["y"], ref["y"])
        assert_close(out["s"], ref["s"])


def test_build_from_bytes_and_fixed_shapes(small_cnn_path, rng):
    with open(small_cnn_path, "rb") as f:
        data = f.read()
    engine = kiln.build(data, shapes={"input": (2, 3, 9, 7)}, device="cpu")
    assert engine.get_tensor_profile_shape("input", 0) == [[2, 3, 9, 7]] * 3
    x = random_input(rng, (2, 3, 9, 7))
    assert_close(engine.create_execution_context().infer(x)["logits"],
                 onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_several_profiles(small_cnn_path, rng):
    engine = kiln.build(small_cnn_path, profiles=[{"input": ((1, 3, 9, 7), (2, 3, 9, 7), (4, 3, 9, 7))},
                                                  {"input": ((8, 3, 9, 7), (16, 3, 9, 7), (32, 3, 9, 7))}],
                        device="cpu")
    assert engine.num_optimization_profiles == 2
    assert engine.get_tensor_profile_shape("input", 1) == [[8, 3, 9, 7], [16, 3, 9, 7], [32, 3, 9, 7]]
    big = engine.create_execution_context(profile_index=1)
    x = random_input(rng, (20, 3, 9, 7))
    assert_close(big.infer(x)["logits"], onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])
    with pytest.raises(kiln.InvalidArgumentError, match=r"dimension 0 \('N'\) is 20, outside profile 0's range \[1, 4\]"):
        engine.create_execution_context(profile_index=0).infer(x)


def test_infer_returns_data_dependent_outputs_at_their_size(tmp_path, rng):
    """infer() on a NonZero engine: the output comes back at the run's count (a view of memory at the bound)."""
    from models import nonzero_positions, save
    path = tmp_path / "nonzero.onnx"
    save(nonzero_positions(), path)
    engine = kiln.build(str(path), shapes={"x": ((1,), (8,), (32,))}, device="cpu")
    context = engine.create_execution_context()
    for n in (5, 32, 1, 17):
        x = rng.random(n, dtype=np.float32)
        out = context.infer(x)
        assert list(out) == ["positions", "y"]
        np.testing.assert_array_equal(out["positions"], np.nonzero(x > 0.5)[0][None, :])
        np.testing.assert_allclose(out["y"], 2 * x)
    with pytest.raises(kiln.InvalidArgumentError, match="depends on the data"):
        context.infer(x, outputs={"positions": np.zeros((1, 1), np.int64)})
