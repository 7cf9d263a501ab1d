"""The seeds' TensorRT code, written against kiln's TensorRT-shaped names (import kiln as trt), on the CPU backend:
addresses are host pointers there, so NumPy arrays stand in for device buffers."""
import numpy as np
import pytest

import kiln as trt
from conftest import SEED_CNN
from helpers import assert_close, onnxruntime_outputs, random_input

TRT_LOGGER = trt.Logger(trt.Logger.WARNING)
EXPLICIT_BATCH = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def build_serialized(onnx_path, min_shape, opt_shape, max_shape, fp16=False, device="cpu"):
    """Seed 000's build_engine / seed 002's build_engine, line by line."""
    with trt.Builder(TRT_LOGGER) as builder, builder.create_network(EXPLICIT_BATCH) as network, \
            trt.OnnxParser(network, TRT_LOGGER) as parser:
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        config.device = device  # kiln: where the engine runs (default: CUDA when a GPU is visible)
        with open(onnx_path, "rb") as model:
            assert parser.parse(model.read()), [str(parser.get_error(i)) for i in range(parser.num_errors)]
        inputs = [network.get_input(i) for i in range(network.num_inputs)]
        profile = builder.create_optimization_profile()
        for inp in inputs:
            profile.set_shape(inp.name, min_shape, opt_shape, max_shape)
        config.add_optimization_profile(profile)
        return builder.build_serialized_network(network, config)


@pytest.fixture(scope="module")
def seed_engine_bytes():
    return build_serialized(SEED_CNN, [1, 3, 256, 144], [4, 3, 256, 144], [8, 3, 256, 144])


def test_network_describes_the_model(small_cnn_path):
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(EXPLICIT_BATCH)
    parser = trt.OnnxParser(network, TRT_LOGGER)
    assert parser.parse_from_file(small_cnn_path)
    assert (network.num_inputs, network.num_outputs, network.num_layers) == (1, 1, 5)
    inp, out = network.get_input(0), network.get_output(0)
    assert (inp.name, inp.shape, inp.dtype) == ("input", (-1, 3, 9, 7), trt.float32)
    assert (out.name, out.shape, out.dtype) == ("logits", (-1, 5), trt.DataType.FLOAT)
    assert trt.Builder(TRT_LOGGER).create_network().num_inputs == 0  # no flag: also explicit-batch


def test_engine_queries(seed_engine_bytes):
    engine = trt.Runtime(TRT_LOGGER).deserialize_cuda_engine(seed_engine_bytes)
    assert engine.num_io_tensors == 2
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    assert names == ["input", "output"] == list(engine)
    assert engine.get_tensor_mode("input") == trt.TensorIOMode.INPUT
    assert engine.get_tensor_mode("output") == trt.TensorIOMode.OUTPUT
    assert engine.get_tensor_shape("input") == [-1, 3, 256, 144]
    assert engine.get_tensor_shape("output") == [-1, 128]
    assert engine.get_tensor_dtype("output") == trt.float32 and trt.nptype(trt.float32) is np.float32
    assert engine.get_tensor_profile_shape("input", 0) == [[1, 3, 256, 144], [4, 3, 256, 144], [8, 3, 256, 144]]
    assert engine.num_optimization_profiles == 1
    assert bytes(engine.serialize()) == bytes(seed_engine_bytes)
    assert trt.volume(engine.get_tensor_profile_shape("input", 0)[-1]) == 8 * 3 * 256 * 144


def test_seed_inference_with_addresses(seed_engine_bytes, rng):
    """Seed 000's TRTInference: set_input_shape, set_tensor_address for every tensor, execute_async_v3."""
    engine = trt.Runtime(TRT_LOGGER).deserialize_cuda_engine(seed_engine_bytes)
    context = engine.create_execution_context()
    for batch in (1, 3, 8):
        x = random_input(rng, (batch, 3, 256, 144))
        context.set_input_shape("input", x.shape)
        assert context.get_tensor_shape("output") == [batch, 128]
        shape = engine.get_tensor_shape("output")
        shape[0] = batch
        out = np.empty(shape, dtype=trt.nptype(engine.get_tensor_dtype("output")))
        bindings = [x.ctypes.data, out.ctypes.data]
        for i in range(engine.num_io_tensors):
            context.set_tensor_address(engine.get_tensor_name(i), bindings[i])
        assert context.execute_async_v3(stream_handle=0)
        assert_close(out, onnxruntime_outputs(SEED_CNN, {"input": x})["output"])


class OutputAllocator(trt.IOutputAllocator):
    """Seed 002's allocator, with host memory (a CPU engine's addresses are host pointers)."""

    def __init__(self):
        super().__init__()
        self.buffers, self.shapes, self.calls = {}, {}, []

    def reallocate_output(self, tensor_name, memory, size, alignment):
        self.calls.append((tensor_name, memory, size, alignment))
        self.buffers[tensor_name] = np.full(size, 0xFF, dtype=np.uint8)
        return self.buffers[tensor_name].ctypes.data

    def notify_shape(self, tensor_name, shape):
        self.shapes[tensor_name] = tuple(shape)


def test_output_allocator(two_input_path, rng):
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(EXPLICIT_BATCH)
    assert trt.OnnxParser(network, TRT_LOGGER).parse_from_file(two_input_path)
    config = builder.create_builder_config()
    config.device = "cpu"
    profile = builder.create_optimization_profile()
    profile.set_shape("a", (1, 8), (4, 8), (16, 8))
    profile.set_shape("c", (1, 6), (4, 6), (16, 6))
    config.add_optimization_profile(profile)
    engine = trt.Runtime(TRT_LOGGER).deserialize_cuda_engine(builder.build_serialized_network(network, config))
    context = engine.create_execution_context()
    allocator = OutputAllocator()
    for name in ("y", "s"):
        context.set_tensor_address(name, 0)
        context.set_output_allocator(name, allocator)
    for batch in (5, 16, 1):
        a, c = random_input(rng, (batch, 8)), random_input(rng, (batch, 6))
        context.set_input_shape("a", a.shape)
        context.set_input_shape("c", c.shape)
        context.set_tensor_address("a", a.ctypes.data)
        context.set_tensor_address("c", c.ctypes.data)
        allocator.calls.clear()
        context.execute_async_v3(0)
        assert sorted((n, s, al) for n, _, s, al in allocator.calls) == [("s", batch * 4, 256), ("y", batch * 24, 256)]
        assert allocator.shapes == {"y": (batch, 6), "s": (batch,)}
        ref = onnxruntime_outputs(two_input_path, {"a": a, "c": c})
        for name in ("y", "s"):
            got = allocator.buffers[name].view(np.float32).reshape(allocator.shapes[name])
            assert_close(got, ref[name])
    with pytest.raises(trt.InvalidArgumentError, match="'a' is an input"):
        context.set_output_allocator("a", allocator)


def test_build_twice_from_one_network(small_cnn_path, rng):
    """Seed 1 builds FP32 and FP16 from one parse: kiln parses the network again for the second build."""
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(EXPLICIT_BATCH)
    assert trt.OnnxParser(network, TRT_LOGGER).parse_from_file(small_cnn_path)
    engines = []
    for fp16 in (False, True):
        config = builder.create_builder_config()
        config.device = "cpu"
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        profile.set_shape("input", (1, 3, 9, 7), (2, 3, 9, 7), (4, 3, 9, 7))
        config.add_optimization_profile(profile)
        engines.append(builder.build_engine(network, config))
    assert "fp16" in engines[1].metadata["build.precisions"]
    assert "fp16" not in engines[0].metadata["build.precisions"]
    x = random_input(rng, (3, 3, 9, 7))
    ref = onnxruntime_outputs(small_cnn_path, {"input": x})["logits"]
    for engine in engines:  # the CPU backend computes in FP32 whatever the flags
        assert_close(engine.create_execution_context().infer(x)["logits"], ref)


def test_optimization_profile_switch(small_cnn_path, rng):
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(EXPLICIT_BATCH)
    assert trt.OnnxParser(network, TRT_LOGGER).parse_from_file(small_cnn_path)
    config = builder.create_builder_config()
    config.device = "cpu"
    for lo, hi in ((1, 4), (5, 12)):
        profile = builder.create_optimization_profile()
        profile.set_shape("input", (lo, 3, 9, 7), (hi, 3, 9, 7), (hi, 3, 9, 7))
        assert config.add_optimization_profile(profile) == (0 if lo == 1 else 1)
    engine = builder.build_engine(network, config)
    context = engine.create_execution_context()
    x = random_input(rng, (9, 3, 9, 7))
    with pytest.raises(ValueError, match=r"is 9, outside profile 0's range \[1, 4\]"):
        context.set_input_shape("input", x.shape)
    assert context.set_optimization_profile_async(1, 0) and context.active_optimization_profile == 1
    out = np.empty((9, 5), dtype=np.float32)
    context.set_input_shape("input", x.shape)
    context.set_tensor_address("input", x.ctypes.data)
    context.set_tensor_address("logits", out.ctypes.data)
    context.execute_async_v3(0)
    assert_close(out, onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_execute_v2(small_cnn_cpu, small_cnn_path, rng):
    context = small_cnn_cpu.create_execution_context()
    x = random_input(rng, (2, 3, 9, 7))
    out = np.empty((2, 5), dtype=np.float32)
    context.set_input_shape("input", x.shape)
    assert context.execute_v2([x.ctypes.data, out.ctypes.data])
    assert_close(out, onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_timing_cache_round_trip(small_cnn_path, tmp_path):
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network()
    assert trt.OnnxParser(network).parse_from_file(small_cnn_path)
    config = builder.create_builder_config()
    config.device = "cpu"
    cache = config.create_timing_cache(b"")
    assert config.set_timing_cache(cache, ignore_mismatch=False) and config.get_timing_cache() is cache
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 9, 7), (2, 3, 9, 7), (2, 3, 9, 7))
    config.add_optimization_profile(profile)
    builder.build_serialized_network(network, config)
    data = cache.serialize()
    assert isinstance(data, bytes)
    again = config.create_timing_cache(data)
    assert again.serialize() == data and again.path != cache.path


def test_flags_and_int8(small_cnn_path):
    builder = trt.Builder(TRT_LOGGER)
    config = builder.create_builder_config()
    assert config.get_flag(trt.BuilderFlag.TF32) and not config.get_flag(trt.BuilderFlag.FP16)
    config.set_flag(trt.BuilderFlag.BF16)
    config.clear_flag(trt.BuilderFlag.TF32)
    assert config.get_flag(trt.BuilderFlag.BF16) and not config.get_flag(trt.BuilderFlag.TF32)
    config.set_flag(trt.BuilderFlag.INT8)
    config.device = "cpu"
    network = builder.create_network(EXPLICIT_BATCH)
    assert trt.OnnxParser(network).parse_from_file(small_cnn_path)
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 3, 9, 7), (2, 3, 9, 7), (2, 3, 9, 7))
    config.add_optimization_profile(profile)
    # INT8 calibrates on user data (kiln build --int8 --calib); without any the build says what it needs.
    with pytest.raises(trt.InvalidArgumentError, match="INT8 build: no calibration data") as info:
        builder.build_serialized_network(network, config)
    assert info.value.code == "InvalidArgument"
    with pytest.raises(trt.UnsupportedError, match="only WORKSPACE"):
        config.set_memory_pool_limit(7, 1)


def test_run_agreement_check_reaches_the_native_config():
    config = trt.Builder(TRT_LOGGER).create_builder_config()
    config.device = "cpu"
    assert config.run_agreement_check and config._to_kiln().run_agreement_check
    config.run_agreement_check = False
    assert not config._to_kiln().run_agreement_check


def test_output_allocator_for_a_data_dependent_output(tmp_path, rng):
    """Seed 002's allocator on an output whose size only the data decides (NonZero): reallocate_output is asked
    after the run, only when the output grows; notify_shape gives the count every run."""
    from models import nonzero_positions, save
    path = tmp_path / "nonzero.onnx"
    save(nonzero_positions(), path)
    builder = trt.Builder(TRT_LOGGER)
    network = builder.create_network(EXPLICIT_BATCH)
    assert trt.OnnxParser(network, TRT_LOGGER).parse_from_file(str(path))
    config = builder.create_builder_config()
    config.device = "cpu"
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1,), (64,), (256,))
    config.add_optimization_profile(profile)
    engine = trt.Runtime(TRT_LOGGER).deserialize_cuda_engine(builder.build_serialized_network(network, config))
    context = engine.create_execution_context()
    allocator = OutputAllocator()
    for name in ("positions", "y"):
        context.set_tensor_address(name, 0)
        context.set_output_allocator(name, allocator)
    largest = 0
    for n, fraction in ((40, 0.3), (200, 0.8), (200, 0.1), (7, 1.0), (256, 0.0), (255, 0.5)):
        x = rng.random(n, dtype=np.float32)
        x[: int(n * fraction)] += 1.0  # at least this many above 0.5
        rng.shuffle(x)
        context.set_input_shape("x", x.shape)
        context.set_tensor_address("x", x.ctypes.data)
        allocator.calls.clear()
        assert context.execute_async_v3(0)
        want = np.nonzero(x > 0.5)[0].astype(np.int64)
        assert allocator.shapes["positions"] == (1, want.size)
        got = allocator.buffers["positions"].view(np.int64)[: want.size]
        np.testing.assert_array_equal(got, want)
        assert_close(allocator.buffers["y"].view(np.float32)[:n], 2 * x)
        asked = [size for name, _, size, _ in allocator.calls if name == "positions"]
        if want.size * 8 > largest:  # grew: asked once, for at least its bytes
            assert len(asked) == 1 and asked[0] >= want.size * 8
            largest = asked[0]
        else:
            assert asked == []


def test_an_allocator_that_raises_fails_the_run_with_its_exception(tmp_path):
    from models import nonzero_positions, save
    path = tmp_path / "nonzero.onnx"
    save(nonzero_positions(), path)
    engine = trt.build(str(path), shapes={"x": ((1,), (8,), (16,))}, device="cpu")

    class Refusing(trt.IOutputAllocator):
        def reallocate_output(self, tensor_name, memory, size, alignment):
            raise MemoryError(f"no room for {tensor_name}")

    context = engine.create_execution_context()
    x = np.linspace(0, 1, 9, dtype=np.float32)
    context.set_input_shape("x", x.shape)
    context.set_tensor_address("x", x.ctypes.data)
    y = np.zeros(9, np.float32)
    context.set_tensor_address("y", y.ctypes.data)
    context.set_output_allocator("positions", Refusing())
    with pytest.raises(MemoryError, match="no room for positions"):
        context.execute_async_v3(0)
