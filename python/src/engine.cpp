// include/kiln/runtime.h: Engine. Held by shared_ptr (the C++ API's own ownership); loading and context creation
// release the GIL. An Engine is immutable and may be shared by threads, each with its own ExecutionContext.
#include <nanobind/stl/map.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {
namespace {

std::shared_ptr<Engine> loadFile(const std::string& path) {
  Expected<std::shared_ptr<Engine>> engine = [&] {
    nb::gil_scoped_release release;
    return Engine::load(path);
  }();
  return unwrap(std::move(engine));
}

std::shared_ptr<Engine> loadBytes(nb::handle data) {
  ByteView bytes(data);
  Expected<std::shared_ptr<Engine>> engine = [&] {
    nb::gil_scoped_release release;
    return Engine::loadFromMemory(bytes.data(), bytes.size());
  }();
  return unwrap(std::move(engine));
}

std::unique_ptr<ExecutionContext> createContext(Engine& engine, int profileIndex) {
  Expected<std::unique_ptr<ExecutionContext>> context = [&] {
    nb::gil_scoped_release release;
    return engine.createContext(profileIndex);
  }();
  return unwrap(std::move(context));
}

}  // namespace

void bindEngine(nb::module_& m) {
  nb::class_<Engine>(m, "Engine", "A loaded, verified engine; immutable and safe to share between threads.")
      .def_static("load", &loadFile, nb::arg("path"),
                  "Reads and verifies an engine file; refuses with a message that names what is wrong.")
      .def_static("load_from_memory", &loadBytes, nb::arg("data"),
                  "Verifies and loads engine bytes (any bytes-like object).")
      .def_prop_ro("device", &Engine::device)
      .def_prop_ro("inputs", &Engine::inputs)
      .def_prop_ro("outputs", &Engine::outputs)
      .def_prop_ro("profile_count", &Engine::profileCount)
      .def(
          "profile",
          [](const Engine& e, int index) {
            if (index < 0 || index >= e.profileCount())
              throw StatusError(invalidArgument("profile " + std::to_string(index) + " does not exist; the engine has " +
                                                std::to_string(e.profileCount()) + " profile(s)"));
            return e.profile(index);
          },
          nb::arg("index"))
      .def_prop_ro("layer_descriptions", &Engine::layerDescriptions)
      .def_prop_ro("metadata", &Engine::metadata)
      .def("create_context", &createContext, nb::arg("profile_index") = 0,
           "A context for one profile; each thread or stream uses its own.");
}

}  // namespace kiln::python
