// The few CUDA runtime calls the Python layer needs without PyTorch: device count, device memory (for outputs when
// the inputs are DLPack arrays of another library, and for tests), copies, streams and events, and a DLPack view of
// device memory. Without CUDA compiled in, device_count() is 0 and the rest raises kiln.UnsupportedError.
#include <algorithm>

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

#ifdef KILN_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace kiln::python {
namespace {

#ifdef KILN_WITH_CUDA
void checkCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  const Status status = e == cudaErrorMemoryAllocation
                            ? outOfMemory(std::string(what) + ": " + cudaGetErrorString(e))
                            : deviceError(std::string(what) + ": " + cudaGetErrorString(e));
  throw StatusError(status);
}
#else
[[noreturn]] void noCuda() {
  throw StatusError(unsupported("kiln was built without CUDA (KILN_WITH_CUDA=OFF): no device memory, streams or events"));
}
#endif

/// Device memory owned by a Python object; freed when the last reference (the object or a view of it) goes.
class DeviceAllocation {
 public:
  explicit DeviceAllocation(size_t bytes) : bytes_(bytes) {
#ifdef KILN_WITH_CUDA
    nb::gil_scoped_release release;
    checkCuda(cudaMalloc(&pointer_, std::max<size_t>(bytes, 1)), "cudaMalloc");
#else
    noCuda();
#endif
  }
  ~DeviceAllocation() { free(); }
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;

  void free() {
#ifdef KILN_WITH_CUDA
    if (pointer_) (void)cudaFree(pointer_);
#endif
    pointer_ = nullptr;
  }
  uintptr_t address() const { return reinterpret_cast<uintptr_t>(pointer_); }
  size_t bytes() const { return bytes_; }

 private:
  void* pointer_ = nullptr;
  size_t bytes_ = 0;
};

using HostIn = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
using HostOut = nb::ndarray<nb::c_contig, nb::device::cpu>;

void copyToDevice(uintptr_t dst, HostIn src, uintptr_t stream) {
#ifdef KILN_WITH_CUDA
  nb::gil_scoped_release release;
  checkCuda(cudaMemcpyAsync(reinterpret_cast<void*>(dst), src.data(), src.nbytes(), cudaMemcpyHostToDevice,
                            reinterpret_cast<cudaStream_t>(stream)),
            "cudaMemcpyAsync (host to device)");
#else
  noCuda();
#endif
}

void copyToHost(HostOut dst, uintptr_t src, uintptr_t stream) {
#ifdef KILN_WITH_CUDA
  nb::gil_scoped_release release;
  checkCuda(cudaMemcpyAsync(dst.data(), reinterpret_cast<const void*>(src), dst.nbytes(), cudaMemcpyDeviceToHost,
                            reinterpret_cast<cudaStream_t>(stream)),
            "cudaMemcpyAsync (device to host)");
#else
  noCuda();
#endif
}

int deviceCount() {
#ifdef KILN_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
#else
  return 0;
#endif
}

// A DLPack-capable view (torch.from_dlpack, cupy.from_dlpack) of `bytes` of device memory owned by `owner`.
nb::ndarray<> deviceArray(nb::handle owner, uintptr_t address, const std::vector<size_t>& shape, DataType dtype,
                          int deviceId) {
  const nb::dlpack::dtype type = dlpackTypeOf(dtype);
  if (type.bits == 0) throw StatusError(invalidArgument("no device array of type " + dataTypeName(dtype)));
  return nb::ndarray<>(reinterpret_cast<void*>(address), shape.size(), shape.data(), owner, nullptr, type,
                       nb::device::cuda::value, deviceId);
}

}  // namespace

void bindCuda(nb::module_& m) {
  nb::module_ cuda = m.def_submodule("cuda", "Minimal CUDA runtime calls (device memory, copies, streams, events).");
  cuda.def("device_count", &deviceCount, "Number of visible CUDA devices; 0 without CUDA or without a GPU.");
  cuda.def("is_compiled", [] {
#ifdef KILN_WITH_CUDA
    return true;
#else
    return false;
#endif
  });

  nb::class_<DeviceAllocation>(cuda, "DeviceAllocation", "cudaMalloc'ed memory, freed with the object.")
      .def(nb::init<size_t>(), nb::arg("nbytes"))
      .def_prop_ro("ptr", &DeviceAllocation::address)
      .def_prop_ro("nbytes", &DeviceAllocation::bytes)
      .def("free", &DeviceAllocation::free);

  cuda.def("copy_to_device", &copyToDevice, nb::arg("dst"), nb::arg("src"), nb::arg("stream") = 0,
           "cudaMemcpyAsync of a contiguous host array to device address `dst`.");
  cuda.def("copy_to_host", &copyToHost, nb::arg("dst"), nb::arg("src"), nb::arg("stream") = 0,
           "cudaMemcpyAsync from device address `src` into a contiguous, writable host array.");
  cuda.def("device_array", &deviceArray, nb::arg("owner"), nb::arg("address"), nb::arg("shape"), nb::arg("dtype"),
           nb::arg("device_id") = 0, "A DLPack view of device memory that keeps `owner` alive.");

  cuda.def("stream_create", [] {
#ifdef KILN_WITH_CUDA
    cudaStream_t s = nullptr;
    checkCuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
    return reinterpret_cast<uintptr_t>(s);
#else
    noCuda();
#endif
  });
  cuda.def("stream_destroy", [](uintptr_t s) {
#ifdef KILN_WITH_CUDA
    checkCuda(cudaStreamDestroy(reinterpret_cast<cudaStream_t>(s)), "cudaStreamDestroy");
#else
    (void)s;
    noCuda();
#endif
  });
  cuda.def("stream_synchronize", [](uintptr_t s) {
#ifdef KILN_WITH_CUDA
    nb::gil_scoped_release release;
    checkCuda(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(s)), "cudaStreamSynchronize");
#else
    (void)s;
    noCuda();
#endif
  });
  cuda.def("event_create", [] {
#ifdef KILN_WITH_CUDA
    cudaEvent_t e = nullptr;
    checkCuda(cudaEventCreate(&e), "cudaEventCreate");
    return reinterpret_cast<uintptr_t>(e);
#else
    noCuda();
#endif
  });
  cuda.def("event_destroy", [](uintptr_t e) {
#ifdef KILN_WITH_CUDA
    checkCuda(cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e)), "cudaEventDestroy");
#else
    (void)e;
    noCuda();
#endif
  });
  cuda.def("event_record", [](uintptr_t e, uintptr_t s) {
#ifdef KILN_WITH_CUDA
    checkCuda(cudaEventRecord(reinterpret_cast<cudaEvent_t>(e), reinterpret_cast<cudaStream_t>(s)), "cudaEventRecord");
#else
    (void)e, (void)s;
    noCuda();
#endif
  }, nb::arg("event"), nb::arg("stream") = 0);
  cuda.def("event_elapsed_ms", [](uintptr_t start, uintptr_t end) {
#ifdef KILN_WITH_CUDA
    nb::gil_scoped_release release;
    checkCuda(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(end)), "cudaEventSynchronize");
    float ms = 0;
    checkCuda(cudaEventElapsedTime(&ms, reinterpret_cast<cudaEvent_t>(start), reinterpret_cast<cudaEvent_t>(end)),
              "cudaEventElapsedTime");
    return ms;
#else
    (void)start, (void)end;
    noCuda();
#endif
  }, nb::arg("start"), nb::arg("end"), "Waits for `end`, then the milliseconds between the two events.");
}

}  // namespace kiln::python
