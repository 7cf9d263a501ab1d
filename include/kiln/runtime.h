// kiln — load an engine and run it.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kiln/builder.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln {

class ExecutionContext;
struct EngineState;

/// A loaded, verified engine. Immutable after load and safe to share between threads; weights live on the
/// engine's device once and are shared by all its contexts.
class Engine : public std::enable_shared_from_this<Engine> {
 public:
  /// Reads and verifies an engine file; refuses with a message that names what is wrong or what differs.
  static Expected<std::shared_ptr<Engine>> load(const std::string& path);
  static Expected<std::shared_ptr<Engine>> loadFromMemory(const void* data, size_t size);
  ~Engine();

  DeviceKind device() const;
  std::vector<TensorDesc> inputs() const;
  std::vector<TensorDesc> outputs() const;
  int profileCount() const;
  const OptimizationProfile& profile(int index) const;
  /// One line per node: the layers the engine runs (after fusion), with the tactic each uses.
  std::vector<std::string> layerDescriptions() const;
  /// Metadata recorded at build time (kiln version, device name, build options...).
  const std::map<std::string, std::string>& metadata() const;

  /// A context for one profile. Each thread or stream uses its own context.
  Expected<std::unique_ptr<ExecutionContext>> createContext(int profileIndex = 0);

  const EngineState& state() const { return *state_; }

 private:
  explicit Engine(std::unique_ptr<EngineState> state);
  std::unique_ptr<EngineState> state_;
};

struct ContextState;

/// Per-run state: input shapes, every tensor's shape, the activation arena. Not thread-safe; one per thread.
class ExecutionContext {
 public:
  ~ExecutionContext();
  /// Sets one input's shape; refuses a shape outside the profile naming input, dim and allowed range.
  Status setInputShape(const std::string& name, const Dims& dims);
  /// The shape of any input or output once all inputs have shapes.
  Expected<Dims> tensorShape(const std::string& name) const;
  /// Binds user memory (device memory for a CUDA engine, host memory for a CPU engine).
  Status setTensorAddress(const std::string& name, void* address);
  /// CUDA graphs: on by default; the first enqueue for a new shape captures one, later ones replay it.
  void setCudaGraphsEnabled(bool enabled);
  /// Runs on `stream` (a cudaStream_t for CUDA engines; ignored by the CPU backend). Never allocates.
  Status enqueue(void* stream = nullptr);
  /// Time of one layer (a kernel of the engine), for `kiln bench --profile`.
  struct LayerTiming {
    std::string name, op, tactic;
    double milliseconds = 0;  // median over the iterations
  };
  /// Runs the layers one at a time on `stream` for `iterations` samples; returns each layer's median time per run.
  /// On a GPU each sample replays the layer 20 times back to back from one captured CUDA graph (launched directly
  /// where capture is not possible, e.g. on the default stream), so launch latency mostly drops out; on the CPU
  /// each layer runs once. Host clock around each synchronized sample. For diagnosis, not for throughput.
  Expected<std::vector<LayerTiming>> profileLayers(void* stream, int iterations);
  /// Convenience: sets shapes from host tensors, copies in, runs, copies out, synchronizes.
  Expected<std::map<std::string, Tensor>> infer(const std::map<std::string, Tensor>& inputs);

 private:
  friend class Engine;
  explicit ExecutionContext(std::unique_ptr<ContextState> state);
  std::unique_ptr<ContextState> state_;
};

}  // namespace kiln
