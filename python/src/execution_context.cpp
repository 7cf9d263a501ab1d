// include/kiln/runtime.h: ExecutionContext. enqueue and infer release the GIL, so threads that each drive their own
// context run at the same time. Addresses are plain integers (device pointers for CUDA engines, host pointers for
// CPU engines), as TensorRT's Python API passes them.
#include <map>

#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {
namespace {

using HostArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

void enqueueOn(ExecutionContext& context, uintptr_t stream) {
  Status status;
  {
    nb::gil_scoped_release release;
    status = context.enqueue(reinterpret_cast<void*>(stream));
  }
  check(status);
}

// The C++ convenience path: host arrays are viewed (not copied) as kiln tensors, infer() copies them to the device
// and back and synchronizes; the outputs come back as NumPy arrays over kiln's tensors.
nb::dict inferHost(ExecutionContext& context, const std::map<std::string, HostArray>& inputs) {
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, array] : inputs) {
    const DataType type = dataTypeOfDlpack(array.dtype());
    if (type == DataType::kUndefined)
      throw StatusError(invalidArgument("input '" + name + "' has an element type kiln does not know (DLPack code " +
                                        std::to_string(array.dtype().code) + ", " +
                                        std::to_string(array.dtype().bits) + " bits)"));
    Dims dims(array.ndim());
    for (size_t i = 0; i < array.ndim(); ++i) dims[i] = static_cast<int64_t>(array.shape(i));
    tensors.emplace(name, Tensor::view(type, std::move(dims), const_cast<void*>(array.data())));
  }
  Expected<std::map<std::string, Tensor>> outputs = [&] {
    nb::gil_scoped_release release;
    return context.infer(tensors);
  }();
  nb::dict result;
  for (auto& [name, tensor] : unwrap(std::move(outputs))) result[nb::str(name.c_str())] = numpyArrayOf(tensor);
  return result;
}

std::vector<ExecutionContext::LayerTiming> profile(ExecutionContext& context, uintptr_t stream, int iterations) {
  Expected<std::vector<ExecutionContext::LayerTiming>> timings = [&] {
    nb::gil_scoped_release release;
    return context.profileLayers(reinterpret_cast<void*>(stream), iterations);
  }();
  return unwrap(std::move(timings));
}

// kiln's OutputAllocator over two Python callables, for outputs whose size is known only after the run. The
// callables are the package's (kiln/context.py), which catch what the user's IOutputAllocator raises and return 0;
// a Python exception must not unwind through the runtime, so anything that still escapes is swallowed here as "no
// memory", which the runtime reports as an error naming the output.
class OutputAllocatorBridge final : public OutputAllocator {
 public:
  OutputAllocatorBridge(nb::object reallocate, nb::object notify)
      : reallocate_(std::move(reallocate)), notify_(std::move(notify)) {}

  void* reallocateOutput(const std::string& name, void* current, uint64_t size, uint64_t alignment) override {
    nb::gil_scoped_acquire gil;  // enqueue released it
    try {
      nb::object address = reallocate_(name, reinterpret_cast<uintptr_t>(current), size, alignment);
      return address.is_none() ? nullptr : reinterpret_cast<void*>(nb::cast<uintptr_t>(address));
    } catch (...) {
      return nullptr;
    }
  }

  void notifyShape(const std::string& name, const Dims& dims) override {
    nb::gil_scoped_acquire gil;
    try {
      notify_(name, dims);
    } catch (...) {
    }
  }

 private:
  nb::object reallocate_, notify_;
};

}  // namespace

void bindExecutionContext(nb::module_& m) {
  nb::class_<OutputAllocatorBridge>(m, "OutputAllocatorBridge",
                                    "kiln's OutputAllocator calling reallocate(name, memory, size, alignment) -> "
                                    "address and notify(name, dims) (used by kiln.IOutputAllocator)")
      .def(nb::init<nb::object, nb::object>(), nb::arg("reallocate"), nb::arg("notify"));

  nb::class_<ExecutionContext::LayerTiming>(m, "LayerTiming")
      .def_ro("name", &ExecutionContext::LayerTiming::name)
      .def_ro("op", &ExecutionContext::LayerTiming::op)
      .def_ro("tactic", &ExecutionContext::LayerTiming::tactic)
      .def_ro("milliseconds", &ExecutionContext::LayerTiming::milliseconds);

  nb::class_<ExecutionContext>(m, "ExecutionContext",
                               "Per-run state for one profile: shapes, bindings, activation memory. One per thread.")
      .def(
          "set_input_shape",
          [](ExecutionContext& c, const std::string& name, const Dims& dims) { check(c.setInputShape(name, dims)); },
          nb::arg("name"), nb::arg("dims"),
          "Refuses a shape outside the profile, naming the input, the dimension and the allowed range.")
      .def(
          "tensor_shape", [](const ExecutionContext& c, const std::string& name) { return unwrap(c.tensorShape(name)); },
          nb::arg("name"), "The shape of an input or output once every input has a shape.")
      .def(
          "set_tensor_address",
          [](ExecutionContext& c, const std::string& name, uintptr_t address) {
            check(c.setTensorAddress(name, reinterpret_cast<void*>(address)));
          },
          nb::arg("name"), nb::arg("address"),
          "Binds user memory (device memory for a CUDA engine, host memory for a CPU engine); 0 unbinds.")
      .def(
          "set_output_allocator",
          [](ExecutionContext& c, const std::string& name, OutputAllocatorBridge* bridge) {
            check(c.setOutputAllocator(name, bridge));
          },
          nb::arg("name"), nb::arg("bridge").none(), nb::keep_alive<1, 3>(),
          "Hands a data-dependent output to an OutputAllocatorBridge (None: back to a set address).")
      .def(
          "is_shape_data_dependent",
          [](const ExecutionContext& c, const std::string& name) { return unwrap(c.isShapeDataDependent(name)); },
          nb::arg("name"), "True when the output's size is known only after a run (NonZero, NonMaxSuppression...).")
      .def(
          "max_output_size",
          [](const ExecutionContext& c, const std::string& name) { return unwrap(c.getMaxOutputSize(name)); },
          nb::arg("name"), "Bytes of the output at its bound (its size when it does not depend on data).")
      .def("set_cuda_graphs_enabled", &ExecutionContext::setCudaGraphsEnabled, nb::arg("enabled"))
      .def("enqueue", &enqueueOn, nb::arg("stream") = 0,
           "Runs on `stream` (a cudaStream_t as an int; 0 = the legacy default stream; ignored on the CPU).")
      .def("profile_layers", &profile, nb::arg("stream"), nb::arg("iterations"))
      .def("infer", &inferHost, nb::arg("inputs"),
           "Sets shapes from host arrays, copies in, runs, copies out, synchronizes; returns NumPy arrays.");
}

}  // namespace kiln::python
