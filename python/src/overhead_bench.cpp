// C++ baselines for bench/python_overhead.py: the same ExecutionContext calls in a C++ loop, timed with
// steady_clock, so that the Python layer's cost per call is (Python time - these) on the same engine and context.
#include <chrono>
#include <map>

#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>

#include "bindings.h"

#ifdef KILN_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::python {
namespace {

using Clock = std::chrono::steady_clock;
using HostArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

void synchronize(uintptr_t stream) {
#ifdef KILN_WITH_CUDA
  if (cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)) != cudaSuccess) {
    (void)cudaGetLastError();
    throw StatusError(deviceError("cudaStreamSynchronize failed"));
  }
#else
  (void)stream;
#endif
}

// Seconds spent inside `calls` back-to-back enqueue() calls, summed over `rounds`; a CUDA engine's stream is
// synchronized between rounds, outside the timed part, so the launch queue never fills and the time is the host's.
double enqueueSeconds(ExecutionContext& context, uintptr_t stream, int calls, int rounds, bool cuda) {
  nb::gil_scoped_release release;
  double total = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto start = Clock::now();
    for (int i = 0; i < calls; ++i) check(context.enqueue(reinterpret_cast<void*>(stream)));
    total += std::chrono::duration<double>(Clock::now() - start).count();
    if (cuda) synchronize(stream);
  }
  return total;
}

// Seconds for `calls` ExecutionContext::infer calls on host tensors viewing the given arrays.
double inferSeconds(ExecutionContext& context, const std::map<std::string, HostArray>& inputs, int calls) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, array] : inputs) {
    Dims dims(array.ndim());
    for (size_t i = 0; i < array.ndim(); ++i) dims[i] = static_cast<int64_t>(array.shape(i));
    tensors.emplace(name, Tensor::view(dataTypeOfDlpack(array.dtype()), std::move(dims), const_cast<void*>(array.data())));
  }
  nb::gil_scoped_release release;
  const auto start = Clock::now();
  for (int i = 0; i < calls; ++i) {
    auto outputs = context.infer(tensors);
    if (!outputs) throw StatusError(outputs.status());
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

void bindOverheadBench(nb::module_& m) {
  nb::module_ bench = m.def_submodule("_bench", "C++ loops for bench/python_overhead.py.");
  bench.def("enqueue_seconds", &enqueueSeconds, nb::arg("context"), nb::arg("stream"), nb::arg("calls"),
            nb::arg("rounds"), nb::arg("cuda"));
  bench.def("infer_seconds", &inferSeconds, nb::arg("context"), nb::arg("inputs"), nb::arg("calls"));
}

}  // namespace kiln::python
