#include "builder/probe_engine.h"

#include "engine/engine_file.h"

namespace kiln::builder {

Expected<std::shared_ptr<Engine>> makeProbeEngine(ir::Graph graph, const std::vector<ir::ValueId>& outputs,
                                                  std::vector<std::string> tactics,
                                                  const std::vector<OptimizationProfile>& profiles, DeviceKind device,
                                                  std::map<std::string, std::string> facts,
                                                  const std::string& precisions) {
  graph.outputs = outputs;
  engine::EngineModel model;
  tactics.resize(graph.nodes.size());
  model.graph = std::move(graph);
  model.profiles = profiles;
  model.device = device;
  model.tactics = std::move(tactics);
  model.metadata = std::move(facts);
  model.metadata["build.precisions"] = precisions;
  KILN_ASSIGN_OR_RETURN(auto bytes, engine::writeEngine(model));
  KILN_ASSIGN_OR_RETURN(auto engine, Engine::loadFromMemory(bytes.data(), bytes.size()));
  return std::shared_ptr<Engine>(std::move(engine));
}

}  // namespace kiln::builder
