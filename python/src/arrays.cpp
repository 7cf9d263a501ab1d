// Zero-copy access to other libraries' arrays: anything nanobind imports as an ndarray (NumPy, DLPack producers such
// as torch, CuPy and JAX, the buffer protocol) is described by pointer, shape, dtype and device, never copied; kiln's
// host tensors go back to Python as NumPy arrays over the same storage. Bytes-like objects are read in place.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {

ByteView::ByteView(nb::handle object) {
  if (PyObject_GetBuffer(object.ptr(), &view_, PyBUF_SIMPLE) != 0) throw nb::python_error();
}

ByteView::~ByteView() { PyBuffer_Release(&view_); }

nb::object numpyArrayOf(Tensor tensor) {
  auto* held = new Tensor(std::move(tensor));
  nb::capsule owner(held, [](void* p) noexcept { delete static_cast<Tensor*>(p); });
  std::vector<size_t> shape(held->dims().begin(), held->dims().end());
  nb::dlpack::dtype type = dlpackTypeOf(held->dtype());
  if (held->dtype() == DataType::kBFloat16) type = dlpackTypeOf(DataType::kUInt16);
  if (type.bits == 0)
    throw StatusError(unsupported("a tensor of type " + dataTypeName(held->dtype()) + " cannot become a NumPy array"));
  return nb::ndarray<nb::numpy>(held->data(), shape.size(), shape.data(), owner, nullptr, type,
                                nb::device::cpu::value)
      .cast();
}

namespace {

bool isCContiguous(const nb::ndarray<nb::ro>& a) {
  int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= static_cast<int64_t>(a.shape(i));
  }
  return true;
}

const char* deviceName(int dlpackDevice) {
  switch (dlpackDevice) {
    case nb::device::cpu::value: return "cpu";
    case nb::device::cuda::value: return "cuda";
    case nb::device::cuda_host::value: return "cuda_host";
    case nb::device::cuda_managed::value: return "cuda_managed";
    default: return "other";
  }
}

// (address, shape, dtype or None, device, device id, C-contiguous) of an array, without a copy.
nb::tuple describe(const nb::ndarray<nb::ro>& a) {
  std::vector<int64_t> shape(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) shape[i] = static_cast<int64_t>(a.shape(i));
  const DataType type = dataTypeOfDlpack(a.dtype());
  nb::object dtype = type == DataType::kUndefined ? nb::none() : nb::cast(type);
  return nb::make_tuple(reinterpret_cast<uintptr_t>(a.data()), nb::tuple(nb::cast(shape)), dtype,
                        deviceName(a.device_type()), a.device_id(), isCContiguous(a));
}

}  // namespace

void bindArrays(nb::module_& m) {
  m.def("array_info", [](nb::ndarray<nb::ro> a) { return describe(a); }, nb::arg("array").noconvert(),
        "(address, shape, dtype, device, device_id, c_contiguous) of a NumPy array, DLPack producer (torch, CuPy, "
        "JAX) or buffer, without a copy. dtype is None for element types kiln does not have.");
  m.def("writable_array_info", [](nb::ndarray<> a) { return describe(nb::ndarray<nb::ro>(a)); },
        nb::arg("array").noconvert(), "As array_info, for an array kiln will write into (refuses read-only ones).");
}

}  // namespace kiln::python
