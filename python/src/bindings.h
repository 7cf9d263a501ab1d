// kiln._kiln — the nanobind module over the public C++ API (include/kiln/). One file per API class; this header
// holds what they share: Status -> Python exception, Expected unwrapping, byte buffers, dtype mapping.
// The TensorRT-shaped names and the Pythonic layer live in python/kiln/*.py, on top of this module.
#pragma once

#include <Python.h>

#include <exception>
#include <string>
#include <utility>

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::python {

namespace nb = nanobind;

/// A failed kiln call on its way to Python: the translator registered in errors.cpp raises the exception class of
/// its StatusCode (kiln.InvalidArgumentError, ...) with kiln's message unchanged.
class StatusError : public std::exception {
 public:
  explicit StatusError(Status status) : status_(std::move(status)) {}
  const Status& status() const { return status_; }
  const char* what() const noexcept override { return status_.message().c_str(); }

 private:
  Status status_;
};

inline void check(const Status& status) {
  if (!status.isOk()) throw StatusError(status);
}

template <typename T>
T unwrap(Expected<T>&& expected) {
  if (!expected) throw StatusError(expected.status());
  return std::move(expected).value();
}

/// Read-only bytes of any object with the buffer protocol (bytes, bytearray, memoryview, mmap, numpy uint8), held
/// without a copy. Must be created and destroyed with the GIL held; the bytes may be read without it.
class ByteView {
 public:
  explicit ByteView(nb::handle object);
  ~ByteView();
  ByteView(const ByteView&) = delete;
  ByteView& operator=(const ByteView&) = delete;
  const void* data() const { return view_.buf; }
  size_t size() const { return static_cast<size_t>(view_.len); }

 private:
  Py_buffer view_{};
};

/// DLPack element type of a kiln DataType; {0, 0, 0} for kUndefined and kString.
nb::dlpack::dtype dlpackTypeOf(DataType type);
/// kiln DataType of a DLPack element type; kUndefined when kiln has none (complex, float8, vector lanes).
DataType dataTypeOfDlpack(nb::dlpack::dtype type);
/// A NumPy array over a host tensor's storage, without a copy (the array keeps the storage alive). NumPy has no
/// bfloat16: such a tensor comes back as uint16 holding the same bits.
nb::object numpyArrayOf(Tensor tensor);

void bindErrors(nb::module_& m);
void bindTypes(nb::module_& m);
void bindNetwork(nb::module_& m);
void bindBuilderConfig(nb::module_& m);
void bindEngine(nb::module_& m);
void bindExecutionContext(nb::module_& m);
void bindArrays(nb::module_& m);
void bindCuda(nb::module_& m);
void bindOverheadBench(nb::module_& m);

}  // namespace kiln::python
