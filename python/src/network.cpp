// include/kiln/builder.h: Network and the ONNX parsers. Parsing releases the GIL (large models take a while).
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {

namespace {

Network parseFile(const std::string& path) {
  Expected<Network> network = [&] {
    nb::gil_scoped_release release;
    return parseOnnxFile(path);
  }();
  return unwrap(std::move(network));
}

Network parseBytes(nb::handle model, const std::string& baseDir) {
  ByteView bytes(model);
  Expected<Network> network = [&] {
    nb::gil_scoped_release release;
    return parseOnnxBytes(bytes.data(), bytes.size(), baseDir);
  }();
  return unwrap(std::move(network));
}

}  // namespace

void bindNetwork(nb::module_& m) {
  nb::class_<Network>(m, "Network", "An imported ONNX model (the typed graph), ready for build_engine.")
      .def_prop_ro("inputs", &Network::inputs)
      .def_prop_ro("outputs", &Network::outputs)
      .def_prop_ro("node_count", &Network::nodeCount)
      .def("to_text", &Network::toText, "Human-readable dump of the graph, one node per line.");

  m.def("parse_onnx_file", &parseFile, nb::arg("path"),
        "Parses an ONNX file; external data is allowed inside the model's folder only. On failure raises with every "
        "unsupported or invalid node listed (node name, op type, reason).");
  m.def("parse_onnx_bytes", &parseBytes, nb::arg("model"), nb::arg("base_dir") = "",
        "Parses an ONNX model from a bytes-like object; external data is resolved against base_dir ('' forbids it).");
}

}  // namespace kiln::python
