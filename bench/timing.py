"""How PyTorch peers are timed, shared by run_bench.py and the max-autotune worker (max_autotune.py).
torch is imported inside the functions so that run_bench.py --selftest works without it."""
import contextlib

import numpy as np


def time_torch(fn, iterations, warmup):
    """Median ms per call by CUDA events, one call at a time (synchronized, like kiln bench), after `warmup`
    calls and then blocks of 10 until two consecutive block medians agree within 5% (at most 20 blocks)."""
    import torch

    def timed(n):
        out = []
        for _ in range(n):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end))
        return out
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    previous = None
    for _ in range(20):
        m = float(np.median(timed(10)))
        if previous is not None and abs(m - previous) <= 0.05 * previous:
            break
        previous = m
    return float(np.median(timed(iterations)))


def cuda_graph_of(model, x):
    import torch
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        graph.static_output = model(x)  # kept alive: replays write into it
    return graph


def compiled_call(compiled, x):
    """One call of a torch.compile'd model whose mode uses CUDA graphs (reduce-overhead, max-autotune): marking a
    new step lets the graph's static output be overwritten by the next replay."""
    import torch

    def call():
        torch.compiler.cudagraph_mark_step_begin()
        return compiled(x)
    return call


@contextlib.contextmanager
def tf32(enabled):
    """TF32 for FP32 convolutions and matmuls on or off, restored afterwards. The legacy flags, as the rest of
    run_bench.py uses them: torch refuses a mix of the legacy and the new fp32_precision API."""
    import torch
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
