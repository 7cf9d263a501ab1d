// kiln — load an engine and run it.
#pragma once

#include <cstddef>
#include <cstdint>
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

/// Memory for outputs whose size is known only once the engine has run (NonZero, NonMaxSuppression, TopK with a
/// run-time K...), as TensorRT's IOutputAllocator. The context calls it at the end of enqueue, after reading the
/// sizes back from the device (enqueue synchronizes its stream once for this), then copies the output into the
/// memory on the same stream. Implementations outlive the contexts they are set on.
class OutputAllocator {
 public:
  virtual ~OutputAllocator() = default;
  /// Device memory (host memory for a CPU engine) of at least `size` bytes aligned to `alignment` for output
  /// `tensorName`, or nullptr on failure. `currentMemory` is what this allocator last returned for the output
  /// (nullptr the first time). Called only when the output needs more bytes than the allocator last gave.
  virtual void* reallocateOutput(const std::string& tensorName, void* currentMemory, uint64_t size,
                                 uint64_t alignment) = 0;
  /// The output's actual shape, after every run.
  virtual void notifyShape(const std::string& tensorName, const Dims& dims) = 0;
};

/// Per-run state: input shapes, every tensor's shape, the activation arena. Not thread-safe; one per thread.
class ExecutionContext {
 public:
  ~ExecutionContext();
  /// Sets one input's shape; refuses a shape outside the profile naming input, dim and allowed range.
  Status setInputShape(const std::string& name, const Dims& dims);
  /// The shape of any input or output once all inputs have shapes. An output whose size depends on data has
  /// kDynamicDim (-1) in the dims that depend on it until a run has computed them, then the last run's dims.
  Expected<Dims> tensorShape(const std::string& name) const;
  /// Hands output `name` to `allocator` (nullptr: back to the address set by setTensorAddress, or internal memory).
  /// An allocator takes precedence over a set address.
  Status setOutputAllocator(const std::string& name, OutputAllocator* allocator);
  /// Upper bound, in bytes, of output `name` at the current input shapes: the exact size for an output whose size
  /// depends only on shapes; for a data-dependent one, its size at the largest count the shapes allow. A buffer
  /// set with setTensorAddress for such an output must have this many bytes.
  Expected<size_t> getMaxOutputSize(const std::string& name) const;
  /// True when output `name`'s size depends on the data (NonZero, NonMaxSuppression...): its shape is known only
  /// after a run, and its memory comes from an OutputAllocator or a getMaxOutputSize buffer.
  Expected<bool> isShapeDataDependent(const std::string& name) const;
  /// Binds user memory (device memory for a CUDA engine, host memory for a CPU engine).
  Status setTensorAddress(const std::string& name, void* address);
  /// CUDA graphs: on by default; the first enqueue for a new shape captures one, later ones replay it.
  void setCudaGraphsEnabled(bool enabled);
  /// Runs on `stream` (a cudaStream_t for CUDA engines; ignored by the CPU backend). Never allocates. An engine with
  /// data-dependent output sizes synchronizes `stream` at the end to read the sizes back (and before any layer
  /// that needs one of them), then calls the output allocators; it replays a CUDA graph only when no layer needs
  /// a size computed by an earlier one.
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
  /// One layer's outputs after a traced run (traceLayers): enough to tell two runs apart and to say how.
  struct LayerDigest {
    std::string name, op, tactic;
    uint64_t bitsHash = 0;   // FNV-1a of the output bytes: equal runs give equal hashes
    double sumAbs = 0, maxAbs = 0;  // over float outputs (NaN/Inf excluded)
    int64_t nonFinite = 0;
  };
  /// For diagnosis of an answer that depends on what an earlier run left behind: fills all of this context's device
  /// memory (every intermediate tensor and the workspace) with `poisonByte`, copies `inputs` in, runs the layers one
  /// by one and digests each layer's outputs. Two traces with different poison bytes (0x00, 0xFF: NaN in every float
  /// type) differ first at the layer that reads memory no one wrote in this run.
  Expected<std::vector<LayerDigest>> traceLayers(const std::map<std::string, Tensor>& inputs, uint8_t poisonByte);
  /// A boundary between two layers where letting the second start without waiting for the first (no barrier
  /// there, as in a plain run) changes the answer: a race between them, which no layer-by-layer check sees.
  struct RacingBoundary {
    size_t index = 0;  // the boundary after the index-th traced layer
    size_t afterNode = 0;  // the later layer's node index in the engine's graph (where a fence closes the race)
    std::string before, beforeTactic, after, afterTactic;
    int wrongRuns = 0;  // of `repeats` runs with only this barrier missing
  };
  struct RaceSearch {
    size_t layers = 0;
    int plainRuns = 0, plainRunsWrong = 0;  // runs with no barrier at all, and how many differ from the barriered one
    double worstPlainError = 0;  // max |plain - barriered| / max |barriered| over the float outputs
    std::vector<RacingBoundary> boundaries;  // single missing barriers that reproduce a wrong answer
    size_t openPrefix = 0;  // when none alone does: the fewest leading boundaries that, all open, still go wrong
  };
  /// For diagnosis of an answer that differs from run to run although every layer is right on its own: runs the
  /// layers with a stream synchronization after each (the reference), then with none, then with a stream fence at
  /// every boundary but one, `repeats` times each, and names the boundaries whose missing fence gives a wrong answer.
  Expected<RaceSearch> findRacingBoundaries(const std::map<std::string, Tensor>& inputs, int repeats);
  /// Convenience: sets shapes from host tensors, copies in, runs, copies out, synchronizes.
  Expected<std::map<std::string, Tensor>> infer(const std::map<std::string, Tensor>& inputs);

 private:
  friend class Engine;
  explicit ExecutionContext(std::unique_ptr<ContextState> state);
  Status enqueueLayers(void* stream);  // the layers alone: a CUDA graph replay where one applies
  /// Checks that `inputs` names every input, and nothing else, in its type, and sets their shapes (infer, traceLayers).
  Status setShapesFrom(const std::map<std::string, Tensor>& inputs);
  std::unique_ptr<ContextState> state_;
};

}  // namespace kiln
