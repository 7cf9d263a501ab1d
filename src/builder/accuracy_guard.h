// The accuracy guard (DESIGN.md rule 6): at build time the mixed-precision engine runs beside the FP32 path on the
// same inputs, every float layer's output is compared, and the layers where the narrow type breaks the numbers are
// kept in FP32: activations beyond the type's range, NaN/Inf that the layer itself makes, or error that the layer
// itself multiplies past tolerance. Rounds repeat until the graph outputs agree.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "builder/precision_plan.h"
#include "ir/graph.h"
#include "kiln/builder.h"
#include "kiln/types.h"

namespace kiln::builder {

/// One value of the mixed run against the FP32 run.
struct ValueAgreement {
  double refMaxAbs = 0;   // max |reference|
  double maxAbsDiff = 0;  // max |mixed - reference|
  double cosine = 1;
  bool refFinite = true, mixedFinite = true;
  /// Error relative to the reference's scale.
  double relative() const { return refMaxAbs > 0 ? maxAbsDiff / refMaxAbs : (maxAbsDiff > 0 ? INFINITY : 0); }
};

/// What the guard accepts for graph outputs, by narrow type (stricter than the acceptance, for margin).
struct GuardTolerance {
  double outputRelative;  // max |diff| / max |ref| of every graph output
  double outputCosine;    // cosine of every graph output
  double layerRelative;   // a layer that adds more than this (and multiplies its inputs' error) is kept in FP32
  double range;           // largest magnitude the type holds with margin
  double unitRoundoff;    // 2^-11 (float16), 2^-8 (bfloat16)
  static GuardTolerance forType(DataType low);
};

class AccuracyGuard {
 public:
  /// Runs the float32 graph `base` (shapes annotated, the final layout and fusions) once on the guard's inputs: the
  /// user's calibration batch or random ones at the first profile's opt shapes (batch reduced where the layer
  /// outputs would not fit the guard's memory budget).
  static Expected<std::unique_ptr<AccuracyGuard>> create(const ir::Graph& base,
                                                         const std::vector<OptimizationProfile>& profiles,
                                                         DeviceKind device, const BuilderConfig& config,
                                                         const std::map<std::string, std::string>& buildFacts);

  /// Layers whose values the FP32 run shows to be out of the narrow type's range: kept in FP32 before any mixed run.
  void keepOutOfRange(PrecisionPlan& plan) const;

  /// Runs `mixed` (made from `base` by passes::applyPrecision, with its tactics) and moves to FP32 the layers
  /// where the error starts. Returns true when the graph outputs agree within tolerance.
  Expected<bool> checkAndPromote(const passes::MixedGraph& mixed, const std::vector<std::string>& tactics,
                                 PrecisionPlan& plan);

  /// One line per graph output of the last check: max abs, relative error and cosine.
  const std::string& outputSummary() const { return outputSummary_; }
  /// The shapes the guard ran at ("input:8x3x224x224").
  const std::string& shapesText() const { return shapesText_; }

 private:
  AccuracyGuard() = default;
  /// Keeps in FP32 the narrow producers of FP32 layer `i` when it multiplies its inputs' error past tolerance.
  int keepProducersOfAmplifier(size_t i, const std::map<ir::ValueId, ValueAgreement>& agree, PrecisionPlan& plan) const;

  const ir::Graph* base_ = nullptr;
  bool verbose_ = false;
  std::vector<OptimizationProfile> profiles_;
  DeviceKind device_ = DeviceKind::kCpu;
  std::map<std::string, std::string> facts_;
  GuardTolerance tolerance_{};
  std::map<std::string, Tensor> inputs_;
  std::vector<ir::ValueId> probes_;          // float32 outputs of the base's device nodes, in node order
  std::map<ir::ValueId, Tensor> reference_;  // the FP32 run's value of each probe
  std::string outputSummary_, shapesText_;
};

}  // namespace kiln::builder
