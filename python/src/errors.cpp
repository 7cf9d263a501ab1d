// kiln's Status codes as Python exception classes. Every class derives from kiln.KilnError (a RuntimeError) and,
// where Python has a matching built-in, from it too, so `except ValueError` catches a shape outside the profile.
// The exception's message is kiln's message unchanged (it names the node, input and dimension); `code` is the
// StatusCode's name.
#include <array>

#include "bindings.h"

namespace kiln::python {
namespace {

struct ErrorClass {
  StatusCode code;
  const char* name;
  PyObject* extraBase;  // a built-in exception the class also derives from, or nullptr
  const char* doc;
};

// Filled in bindErrors; the types live as long as the module (they are module attributes).
std::array<PyObject*, 9> errorTypes{};
PyObject* baseErrorType = nullptr;

PyObject* typeFor(StatusCode code) {
  const auto index = static_cast<size_t>(code);
  if (index < errorTypes.size() && errorTypes[index]) return errorTypes[index];
  return baseErrorType;
}

}  // namespace

void bindErrors(nb::module_& m) {
  baseErrorType = PyErr_NewExceptionWithDoc("kiln.KilnError", "Base of every error kiln reports.",
                                            PyExc_RuntimeError, nullptr);
  if (!baseErrorType) throw nb::python_error();
  m.attr("KilnError") = nb::borrow(baseErrorType);
  const ErrorClass classes[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "The caller passed something wrong: a shape outside the profile, an unknown tensor name, a wrong dtype."},
      {StatusCode::kInvalidModel, "InvalidModelError", PyExc_ValueError,
       "The ONNX model is malformed or inconsistent."},
      {StatusCode::kUnsupported, "UnsupportedError", PyExc_NotImplementedError,
       "A valid model or option uses something kiln does not implement (yet)."},
      {StatusCode::kInvalidEngine, "InvalidEngineError", PyExc_ValueError,
       "The engine bytes are truncated, tampered with, or built for another device."},
      {StatusCode::kIoError, "IoError", nullptr, "A file could not be read or written."},
      {StatusCode::kOutOfMemory, "OutOfMemoryError", PyExc_MemoryError,
       "A host or device allocation failed; free memory and retry."},
      {StatusCode::kDeviceError, "DeviceError", nullptr, "A CUDA, cuDNN or cuBLAS call failed."},
      {StatusCode::kInternal, "InternalError", nullptr, "A kiln bug: please report it with the message."},
  };
  for (const ErrorClass& c : classes) {
    nb::object bases = c.extraBase ? nb::object(nb::make_tuple(nb::borrow(baseErrorType), nb::borrow(c.extraBase)))
                                   : nb::borrow(baseErrorType);
    const std::string qualified = std::string("kiln.") + c.name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), c.doc, bases.ptr(), nullptr);
    if (!type) throw nb::python_error();
    if (PyObject_SetAttrString(type, "code", nb::str(statusCodeName(c.code)).ptr()) != 0) throw nb::python_error();
    errorTypes[static_cast<size_t>(c.code)] = type;
    m.attr(c.name) = nb::steal(type);
  }
  PyObject_SetAttrString(baseErrorType, "code", nb::str("Unknown").ptr());

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const StatusError& e) {
      PyErr_SetString(typeFor(e.status().code()), e.status().message().c_str());
    }
  });
}

}  // namespace kiln::python
