// The extension module kiln._kiln. The package kiln (python/kiln/) imports it and adds the TensorRT-shaped and
// Pythonic layers; user code imports kiln, not this module.
#include "bindings.h"

NB_MODULE(_kiln, m) {
  namespace py = kiln::python;
  m.doc() = "kiln's C++ API (include/kiln/), bound with nanobind. Use the kiln package instead of this module.";
  m.attr("__version__") = KILN_VERSION;
  py::bindErrors(m);
  py::bindTypes(m);
  py::bindNetwork(m);
  py::bindBuilderConfig(m);
  py::bindEngine(m);
  py::bindExecutionContext(m);
  py::bindArrays(m);
  py::bindCuda(m);
  py::bindOverheadBench(m);
}
