// include/kiln/builder.h: InputShapeRange, OptimizationProfile, LayerPrecision, BuilderConfig, defaultDevice,
// buildEngine and writeFile. Fields keep their C++ meaning under snake_case names; buildEngine releases the GIL.
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.h"

namespace kiln::python {
namespace {

nb::bytes buildEngineBytes(Network& network, const BuilderConfig& config) {
  Expected<std::vector<std::byte>> plan = [&] {
    nb::gil_scoped_release release;
    return buildEngine(network, config);
  }();
  std::vector<std::byte> bytes = unwrap(std::move(plan));
  return nb::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void writeBytes(const std::string& path, nb::handle data) {
  ByteView view(data);
  const auto* begin = static_cast<const std::byte*>(view.data());
  const std::vector<std::byte> bytes(begin, begin + view.size());
  check(writeFile(path, bytes));
}

}  // namespace

void bindBuilderConfig(nb::module_& m) {
  nb::class_<InputShapeRange>(m, "InputShapeRange", "min <= opt <= max shapes for one input.")
      .def(nb::init<>())
      .def("__init__",
           [](InputShapeRange* self, std::string name, Dims min, Dims opt, Dims max) {
             new (self) InputShapeRange{std::move(name), std::move(min), std::move(opt), std::move(max)};
           },
           nb::arg("name"), nb::arg("min"), nb::arg("opt"), nb::arg("max"))
      .def_rw("name", &InputShapeRange::name)
      .def_rw("min", &InputShapeRange::min)
      .def_rw("opt", &InputShapeRange::opt)
      .def_rw("max", &InputShapeRange::max)
      .def("__repr__", [](const InputShapeRange& r) {
        return "InputShapeRange('" + r.name + "', min=" + dimsToString(r.min) + ", opt=" + dimsToString(r.opt) +
               ", max=" + dimsToString(r.max) + ")";
      });

  nb::class_<OptimizationProfile>(m, "OptimizationProfile", "A shape range for every input with dynamic dims.")
      .def(nb::init<>())
      .def("__init__",
           [](OptimizationProfile* self, std::vector<InputShapeRange> inputs) {
             new (self) OptimizationProfile{std::move(inputs)};
           },
           nb::arg("inputs"))
      .def_rw("inputs", &OptimizationProfile::inputs);

  nb::class_<LayerPrecision>(m, "LayerPrecision",
                             "A per-layer precision pin: layers matching `pattern` ('*', '?') run in `precision`.")
      .def(nb::init<>())
      .def("__init__",
           [](LayerPrecision* self, std::string pattern, Precision precision) {
             new (self) LayerPrecision{std::move(pattern), precision};
           },
           nb::arg("pattern"), nb::arg("precision"))
      .def_rw("pattern", &LayerPrecision::pattern)
      .def_rw("precision", &LayerPrecision::precision);

  nb::enum_<CalibrationMethod>(m, "CalibrationMethod", nb::is_arithmetic())
      .value("ENTROPY", CalibrationMethod::kEntropy)
      .value("MINMAX", CalibrationMethod::kMinMax)
      .value("PERCENTILE", CalibrationMethod::kPercentile);

  nb::enum_<PrecisionConstraints>(m, "PrecisionConstraints", nb::is_arithmetic())
      .value("PREFER", PrecisionConstraints::kPrefer)
      .value("OBEY", PrecisionConstraints::kObey);

  nb::class_<BuilderConfig>(m, "BuilderConfig", "What to build: profiles, precisions, device.")
      .def(nb::init<>())
      .def("add_profile", &BuilderConfig::addProfile, nb::arg("profile"), "Adds a profile; returns its index.")
      .def("allow", &BuilderConfig::allow, nb::arg("precision"))
      .def("disallow", &BuilderConfig::disallow, nb::arg("precision"), "FP32 cannot be disallowed.")
      .def("allows", &BuilderConfig::allows, nb::arg("precision"))
      .def_rw("profiles", &BuilderConfig::profiles)
      .def_rw("device", &BuilderConfig::device)
      .def_rw("workspace_limit_bytes", &BuilderConfig::workspaceLimitBytes,
              "Upper bound for a single kernel's scratch memory; 0 = no limit.")
      .def_rw("timing_cache_path", &BuilderConfig::timingCachePath,
              "Timing-cache file for tactic choices, read and updated ('' = none).")
      .def_rw("keep_nchw", &BuilderConfig::keepNchw)
      .def_rw("layer_precisions", &BuilderConfig::layerPrecisions, "Per-layer pins; later entries win.")
      .def_rw("precision_constraints", &BuilderConfig::precisionConstraints)
      .def_rw("accuracy_guard", &BuilderConfig::accuracyGuard,
              "FP16/BF16 builds: check against the FP32 path at build time and keep failing layers in FP32.")
      .def_rw("run_agreement_check", &BuilderConfig::runAgreementCheck,
              "CUDA builds: run the engine twice at build time and fence layers whose runs race (False: keep as is).")
      .def_rw("calibration_data", &BuilderConfig::calibrationData,
              "Input name -> folder of .npy batches: INT8 calibration and the accuracy guard.")
      .def_rw("calibration_method", &BuilderConfig::calibrationMethod)
      .def_rw("calibration_percentile", &BuilderConfig::calibrationPercentile)
      .def_rw("calibration_cache_path", &BuilderConfig::calibrationCachePath,
              "INT8 scales: read when the file exists, else written after calibration ('' = none).")
      .def_rw("builder_optimization_level", &BuilderConfig::builderOptimizationLevel,
              "0: no tactic timing (heuristics); 1 to 5: time tactics (default 3).")
      .def_rw("verbose", &BuilderConfig::verbose)
      .def_rw("show_progress", &BuilderConfig::showProgress);

  m.def("default_device", &defaultDevice,
        "cuda when this kiln has the CUDA backend and a GPU is visible, else cpu (the CLI's default --device).");
  m.def("build_engine", &buildEngineBytes, nb::arg("network"), nb::arg("config"),
        "Builds a serialized engine (the bytes of a .kiln file). The network is optimized in place: parse again "
        "before building it a second time.");
  m.def("write_file", &writeBytes, nb::arg("path"), nb::arg("data"));
}

}  // namespace kiln::python
