// What Engine and ExecutionContext hold (private to the runtime).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "engine/engine_file.h"
#include "kiln/runtime.h"
#include "runtime/output_allocator.h"
#include "runtime/shape_program.h"

namespace kiln {

/// Immutable after load: the model, its device weights, one kernel per device node.
struct EngineState {
  engine::EngineModel model;
  std::unique_ptr<backends::Backend> backend;
  runtime::ShapeProgram program;
  std::vector<std::unique_ptr<backends::Kernel>> kernels;  // per node; null for host nodes
  std::vector<bool> fenceBefore;  // per node: a stream fence precedes its kernel (ir::kFenceBeforeAttribute)
  std::map<ir::ValueId, void*> deviceConstants;            // constants read by device nodes
  std::vector<TensorDesc> inputs, outputs;
  std::vector<std::string> layerLines;

  ~EngineState();
};

/// Where one value lives during a run.
enum class Placement { kNone, kArena, kUser, kConstant };

struct ContextState {
  std::shared_ptr<Engine> engine;
  int profileIndex = 0;
  std::map<ir::ValueId, Dims> inputDims;
  std::map<ir::ValueId, void*> userAddresses;
  bool useGraphs = true;

  // Derived from the input shapes by prepare(); `dirty` when shapes or addresses changed since.
  bool dirty = true;
  runtime::ResolvedShapes shapes;
  std::vector<Placement> placement;  // per value
  std::vector<void*> address;        // per value
  std::vector<std::vector<backends::DeviceTensor>> nodeInputs, nodeOutputs;  // per node
  std::vector<ir::ValueId> hostValuesToUpload;

  void* arena = nullptr;
  size_t arenaBytes = 0;
  size_t workspaceOffset = 0;
  void* stream = nullptr;  // the context's own stream for infer()
  void* staging = nullptr;  // page-locked host memory infer() copies through (CUDA engines)
  size_t stagingBytes = 0;
  std::map<std::string, std::unique_ptr<backends::ReplayableWork>> graphs;  // key: shapes + addresses
  std::set<std::string> warmedKeys;  // keys that ran once without capture
  std::string graphKey;              // the current shapes and user addresses, set by prepare()
  size_t workspaceBytes = 0;
  runtime::DataDependentState dataDependent;  // counts, allocators (runtime/output_allocator.cpp)

  ~ContextState();
  /// Resolves shapes, plans memory (growing the arena if a shape needs more than the profile's max did), uploads
  /// per-shape host values. Not on the hot path: runs only after a shape or address change.
  Status prepare();
  Status runNodes(void* stream) const;
  /// Copies the per-shape host values (shape-program results, constant outputs) into their arena places.
  Status uploadHostValues(void* stream);
  /// Fills nodeInputs/nodeOutputs from `shapes` and `address` (count outputs appended to counted nodes).
  void bindNodeTensors();
  // Data-dependent runs (output_allocator.cpp): the layers with a wait for each count a layer needs, and the end
  // of a run (read the counts back, resolve the final shapes, hand outputs to their allocators).
  Status runNodesWithCounts(void* stream);
  Status finishRun(void* stream);
  Status readCountsAndResolve(size_t beforeNode, void* stream);
};

}  // namespace kiln
