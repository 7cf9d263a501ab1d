"""CUDA engines from Python: kiln's copy path, zero-copy device arrays (kiln.cuda, DLPack, torch) on streams, the
output allocator, FP16, threads. Marked gpu: skipped with a reason where no GPU is visible (CI); run on the GPU
machine."""
import threading

import numpy as np
import pytest

import kiln
from conftest import SEED_CNN
from helpers import assert_close, onnxruntime_outputs, random_input, record_bindings

pytestmark = pytest.mark.gpu

SEED_PROFILE = {"input": ((1, 3, 256, 144), (8, 3, 256, 144), (32, 3, 256, 144))}


@pytest.fixture(scope="module")
def small_cnn_cuda(small_cnn_path):
    # TF32 off: FP32 results are compared with onnxruntime at 1e-4.
    return kiln.build(small_cnn_path, shapes={"input": ((1, 3, 9, 7), (4, 3, 9, 7), (16, 3, 9, 7))}, tf32=False)


def test_default_device_is_cuda(small_cnn_cuda):
    assert small_cnn_cuda.device == "cuda"
    assert small_cnn_cuda.metadata["build.device"] == "cuda"


@pytest.mark.parametrize("batch", [1, 5, 16])
def test_host_arrays_take_the_copy_path(small_cnn_cuda, small_cnn_path, rng, batch):
    x = random_input(rng, (batch, 3, 9, 7))
    context = small_cnn_cuda.create_execution_context()
    for _ in range(3):  # plain run, graph capture, graph replay
        out = context.infer(x)
        assert isinstance(out["logits"], np.ndarray)
        assert_close(out["logits"], onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_device_arrays_are_bound_in_place(small_cnn_cuda, small_cnn_path, rng):
    context = small_cnn_cuda.create_execution_context()
    bindings = record_bindings(context)
    for batch in (3, 16, 1):
        x = random_input(rng, (batch, 3, 9, 7))
        dx = kiln.cuda.DeviceArray.from_host(x)
        out = context.infer(dx)  # DLPack path: a DeviceArray comes back
        assert isinstance(out["logits"], kiln.cuda.DeviceArray)
        assert ("input", dx.ptr) in bindings and ("logits", out["logits"].ptr) in bindings
        assert_close(out["logits"].to_host(), onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])
        given = kiln.cuda.DeviceArray((batch, 5), kiln.float32)
        assert context.infer(dx, outputs={"logits": given})["logits"] is given
        np.testing.assert_array_equal(given.to_host(), out["logits"].to_host())


def test_execute_async_v3_on_a_stream(small_cnn_cuda, small_cnn_path, rng):
    context = small_cnn_cuda.create_execution_context()
    stream = kiln.cuda.Stream()
    x = random_input(rng, (7, 3, 9, 7))
    dx, dy = kiln.cuda.DeviceArray(x.shape), kiln.cuda.DeviceArray((7, 5))
    context.set_input_shape("input", x.shape)
    context.set_tensor_address("input", dx.ptr)
    context.set_tensor_address("logits", dy.ptr)
    start, end = kiln.cuda.Event(), kiln.cuda.Event()
    for _ in range(4):  # new values each time through the same buffers: plain, capture, replay, replay
        x = random_input(rng, x.shape)
        dx.copy_from_host(x, stream)
        start.record(stream)
        assert context.execute_async_v3(stream_handle=stream.handle)
        end.record(stream)
        assert_close(dy.to_host(stream), onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])
        assert start.time_till(end) > 0


class DeviceOutputAllocator(kiln.IOutputAllocator):
    def __init__(self):
        super().__init__()
        self.buffers, self.shapes = {}, {}

    def reallocate_output_async(self, tensor_name, memory, size, alignment, stream):
        buffer = self.buffers.get(tensor_name)
        if buffer is None or buffer.nbytes < size:  # reuse the memory while it is large enough
            buffer = self.buffers[tensor_name] = kiln.cuda.DeviceArray((size,), kiln.uint8)
        assert buffer.ptr % alignment == 0
        return buffer.ptr

    def notify_shape(self, tensor_name, shape):
        self.shapes[tensor_name] = tuple(shape)


def test_output_allocator_with_device_memory(two_input_path, rng):
    engine = kiln.build(two_input_path, shapes={"a": ((1, 8), (4, 8), (64, 8)), "c": ((1, 6), (4, 6), (64, 6))},
                        tf32=False)
    context = engine.create_execution_context()
    allocator = DeviceOutputAllocator()
    for name in ("y", "s"):
        context.set_output_allocator(name, allocator)
    stream = kiln.cuda.Stream()
    for batch in (64, 3, 17):
        a, c = random_input(rng, (batch, 8)), random_input(rng, (batch, 6))
        da, dc = kiln.cuda.DeviceArray.from_host(a, stream), kiln.cuda.DeviceArray.from_host(c, stream)
        context.set_input_shape("a", a.shape)
        context.set_input_shape("c", c.shape)
        context.set_tensor_address("a", da.ptr)
        context.set_tensor_address("c", dc.ptr)
        context.execute_async_v3(stream)
        assert allocator.shapes == {"y": (batch, 6), "s": (batch,)}
        ref = onnxruntime_outputs(two_input_path, {"a": a, "c": c})
        for name in ("y", "s"):
            host = allocator.buffers[name].to_host(stream).view(np.float32)[: ref[name].size]
            assert_close(host.reshape(allocator.shapes[name]), ref[name])


def test_fp16_seed_cnn_against_fp32_reference(rng):
    engine = kiln.build(SEED_CNN, shapes=SEED_PROFILE, fp16=True)
    context = engine.create_execution_context()
    for batch in (1, 9, 32):
        x = random_input(rng, (batch, 3, 256, 144))
        got = context.infer(x)["output"].astype(np.float64)
        ref = onnxruntime_outputs(SEED_CNN, {"input": x})["output"].astype(np.float64)
        # FP16 tolerance (stated): max |diff| <= 2% of max |ref|, cosine similarity >= 0.999 per row.
        assert np.max(np.abs(got - ref)) <= 0.02 * np.max(np.abs(ref))
        cosine = np.sum(got * ref, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
        assert cosine.min() >= 0.999


def test_threads_with_their_own_contexts_and_streams(rng):
    engine = kiln.build(SEED_CNN, shapes=SEED_PROFILE, tf32=False)
    inputs = [random_input(rng, (b, 3, 256, 144)) for b in (1, 7, 32, 16)]
    refs = [onnxruntime_outputs(SEED_CNN, {"input": x})["output"] for x in inputs]
    results, errors = {}, []

    def worker(i):
        try:
            context = engine.create_execution_context()
            stream = kiln.cuda.Stream()
            dx = kiln.cuda.DeviceArray.from_host(inputs[i], stream)
            dy = kiln.cuda.DeviceArray((inputs[i].shape[0], 128))
            context.set_input_shape("input", inputs[i].shape)
            context.set_tensor_address("input", dx.ptr)
            context.set_tensor_address("output", dy.ptr)
            for _ in range(5):
                context.execute_async_v3(stream.handle)
            results[i] = dy.to_host(stream)
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, ref in enumerate(refs):
        assert_close(results[i], ref)


def test_profile_switch_on_the_gpu(small_cnn_path, rng):
    engine = kiln.build(small_cnn_path, profiles=[{"input": ((1, 3, 9, 7), (2, 3, 9, 7), (4, 3, 9, 7))},
                                                  {"input": ((5, 3, 9, 7), (8, 3, 9, 7), (12, 3, 9, 7))}], tf32=False)
    context = engine.create_execution_context()
    stream = kiln.cuda.Stream()
    context.set_optimization_profile_async(1, stream.handle)
    x = random_input(rng, (11, 3, 9, 7))
    assert_close(context.infer(x)["logits"], onnxruntime_outputs(small_cnn_path, {"input": x})["logits"])


def test_torch_cuda_tensors_on_a_torch_stream(small_cnn_cuda, small_cnn_path, rng):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    x = random_input(rng, (6, 3, 9, 7))
    tx = torch.from_numpy(x).cuda()
    context = small_cnn_cuda.create_execution_context()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = context.infer(tx)  # enqueued on torch's current stream, the one above; not synchronized
        y = out["logits"] * 2  # ordered after kiln's run on the same stream
    stream.synchronize()
    assert isinstance(out["logits"], torch.Tensor) and out["logits"].is_cuda
    ref = onnxruntime_outputs(small_cnn_path, {"input": x})["logits"]
    assert_close(out["logits"].cpu().numpy(), ref)
    assert_close(y.cpu().numpy(), 2 * ref)
    given = torch.empty(6, 5, device="cuda")
    context.infer(tx, outputs={"logits": given}, stream=stream)  # a torch.cuda.Stream object as the stream
    stream.synchronize()
    assert_close(given.cpu().numpy(), ref)
    # DLPack both ways: a kiln DeviceArray viewed by torch, a torch tensor seen by kiln without a copy.
    dx = kiln.cuda.DeviceArray.from_host(x)
    viewed = torch.from_dlpack(dx)
    assert viewed.data_ptr() == dx.ptr and torch.equal(viewed.cpu(), torch.from_numpy(x))
    assert kiln._kiln.array_info(tx)[0] == tx.data_ptr()
    with pytest.raises(kiln.InvalidArgumentError, match="input 'input' is on cuda but this engine runs on cpu"):
        kiln.build(small_cnn_path, shapes={"input": (6, 3, 9, 7)}, device="cpu").create_execution_context().infer(tx)
