"""Threads: one shared engine, a context per thread; builds and runs release the GIL."""
import threading
import time

import numpy as np

import kiln
import models
from conftest import SEED_CNN
from helpers import assert_close, onnxruntime_outputs, random_input


def test_threads_each_with_their_own_context(small_cnn_cpu, small_cnn_path, rng):
    batches = [[1, 16, 3], [7, 2, 16], [11, 5, 1], [4, 9, 13]]
    cases = [[random_input(rng, (b, 3, 9, 7)) for b in per_thread] for per_thread in batches]
    refs = [[onnxruntime_outputs(small_cnn_path, {"input": x})["logits"] for x in xs] for xs in cases]
    results, errors = {}, []

    def worker(index):
        try:
            context = small_cnn_cpu.create_execution_context()
            for round_ in range(3):  # each input again, so that shape changes interleave across threads
                for k, x in enumerate(cases[index]):
                    results[(index, round_, k)] = context.infer(x)["logits"]
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == len(cases) * 3 * 3
    for (index, _, k), got in results.items():
        assert_close(got, refs[index][k])


def overlap_seconds(call):
    """(seconds this thread went on running Python code while call() ran in another thread, seconds call() took).
    A call that holds the GIL throughout leaves at most a few milliseconds (before it starts); one that releases it,
    about its duration."""
    state = {"inside": False}
    seen = []

    def run():
        state["inside"] = True
        start = time.monotonic()
        try:
            call()
        finally:
            state["seconds"] = time.monotonic() - start
            state["inside"] = False

    worker = threading.Thread(target=run)
    worker.start()
    while worker.is_alive():
        if state["inside"]:
            seen.append(time.monotonic())
        time.sleep(0.001)
    worker.join()
    return (seen[-1] - seen[0] if seen else 0.0), state["seconds"]


def assert_gil_released(call, what):
    overlap, seconds = overlap_seconds(call)
    assert seconds > 0.05, f"{what} took {seconds:.3f} s: too short to tell"
    assert overlap > 0.25 * seconds, f"Python ran for only {overlap:.3f} s of the {seconds:.3f} s {what} took"


def test_build_and_runs_release_the_gil(rng):
    builder = kiln.Builder()
    network = builder.create_network()
    assert kiln.OnnxParser(network).parse(models.wide_matmul(k=8192).SerializeToString())  # a 128 MiB weight
    config = builder.create_builder_config()
    config.device = "cpu"
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 8192), (4, 8192), (8, 8192))
    config.add_optimization_profile(profile)
    assert_gil_released(lambda: builder.build_serialized_network(network, config), "the build")

    engine = kiln.build(SEED_CNN, shapes={"input": ((1, 3, 256, 144), (8, 3, 256, 144), (96, 3, 256, 144))},
                        device="cpu")
    context = engine.create_execution_context()
    x = random_input(rng, (96, 3, 256, 144))
    out = {}
    assert_gil_released(lambda: out.setdefault("y", context.infer(x)["output"]), "infer")
    assert_close(out["y"], onnxruntime_outputs(SEED_CNN, {"input": x})["output"])

    y = np.empty((96, 128), dtype=np.float32)
    context.set_input_shape("input", x.shape)
    context.set_tensor_address("input", x.ctypes.data)
    context.set_tensor_address("output", y.ctypes.data)
    assert_gil_released(lambda: context.execute_async_v3(0), "execute_async_v3")
    assert_close(y, out["y"])
