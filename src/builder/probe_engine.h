// An engine made in memory to look inside a graph: its outputs are the graph's own plus chosen intermediate values
// (probes). The accuracy guard compares every layer's output of a mixed engine with a strict-FP32 one; INT8
// calibration reads the activations that will be quantized. Both build it the same way, here.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/runtime.h"

namespace kiln::builder {

/// `graph` with `outputs` as its outputs (in this order), the `tactics` per node (empty: each kernel's default) and
/// the backend's build facts, recorded with `precisions` ("fp32", "fp32,fp16", ...), loaded and ready for contexts.
Expected<std::shared_ptr<Engine>> makeProbeEngine(ir::Graph graph, const std::vector<ir::ValueId>& outputs,
                                                  std::vector<std::string> tactics,
                                                  const std::vector<OptimizationProfile>& profiles, DeviceKind device,
                                                  std::map<std::string, std::string> facts,
                                                  const std::string& precisions);

}  // namespace kiln::builder
