// The one interface the builder and runtime use to reach a device (DESIGN.md rules 3 and 8).
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::backends {

/// A tensor in a backend's memory: contiguous, row-major. An omitted optional input has data == nullptr and
/// dtype kUndefined.
struct DeviceTensor {
  DataType dtype = DataType::kUndefined;
  Dims dims;
  void* data = nullptr;
  /// A host copy of the contents when they are known on the host (constants and shape-program results, e.g. Slice
  /// starts or Resize scales computed from input shapes); null otherwise. Valid until the next shape change.
  const void* hostData = nullptr;
  bool present() const { return dtype != DataType::kUndefined; }
  int64_t elementCount() const { return kiln::elementCount(dims); }
};

/// One node's kernel, made once per engine at load (`prepare` happens in createKernel) and shared read-only by
/// every context: run() must not change it, allocate, or synchronize.
class Kernel {
 public:
  virtual ~Kernel() = default;
  /// Scratch bytes run() needs for these shapes.
  virtual size_t workspaceBytes(std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs) const {
    (void)inputs;
    (void)outputs;
    return 0;
  }
  virtual Status run(std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs, void* workspace,
                     void* stream) const = 0;
  /// The configuration this kernel uses, for `kiln inspect` ("im2col+sgemm", "cudnn:engine=3").
  virtual std::string tactic() const { return "default"; }
};

/// Work recorded once and replayed cheaply (a CUDA graph).
class ReplayableWork {
 public:
  virtual ~ReplayableWork() = default;
  virtual Status replay(void* stream) = 0;
};

/// Build choices that change which kernels a backend makes.
struct BackendOptions {
  bool allowTF32 = true;  // FP32 GEMM/convolution may use TF32 tensor cores
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceKind kind() const = 0;
  /// "CPU (2 threads, OpenBLAS)" or "NVIDIA H200 (sm_90)".
  virtual std::string deviceName() const = 0;

  virtual Expected<void*> allocate(size_t bytes) = 0;
  virtual void release(void* pointer) = 0;
  virtual Status copyToDevice(void* dst, const void* src, size_t bytes, void* stream) = 0;
  virtual Status copyToHost(void* dst, const void* src, size_t bytes, void* stream) = 0;
  /// Device-to-device copy on `stream` (output allocators receive data-dependent outputs this way). The default goes
  /// through host memory and synchronizes; device backends override it.
  virtual Status copyOnDevice(void* dst, const void* src, size_t bytes, void* stream) {
    std::vector<std::byte> host(bytes);
    KILN_RETURN_IF_ERROR(copyToHost(host.data(), src, bytes, stream));
    KILN_RETURN_IF_ERROR(synchronize(stream));
    KILN_RETURN_IF_ERROR(copyToDevice(dst, host.data(), bytes, stream));
    return synchronize(stream);
  }
  virtual Status synchronize(void* stream) = 0;
  /// Stream-ordered barrier: work enqueued on `stream` after it starts only once everything before it has finished
  /// (a library kernel that launches early, as Hopper's programmatic dependent launch allows, cannot cross it).
  /// Unlike synchronize() the host does not wait, and it may be captured in a CUDA graph. No-op on the CPU backend.
  virtual Status fence(void* stream) {
    (void)stream;
    return Status::ok();
  }
  /// A stream for a context's convenience path (nullptr on the CPU backend).
  virtual Expected<void*> createStream() { return static_cast<void*>(nullptr); }
  virtual void destroyStream(void* stream) { (void)stream; }
  /// Page-locked host memory for staging copies (plain host memory on the CPU backend).
  virtual Expected<void*> allocateHost(size_t bytes) = 0;
  virtual void releaseHost(void* pointer) = 0;

  /// Facts recorded in the engine file: "device.name", "device.compute_capability", library versions.
  virtual std::map<std::string, std::string> buildFacts() const = 0;
  /// Ok when an engine built with `engineFacts` can run here; otherwise says what differs
  /// ("built for sm_90 with cuDNN 9.14; this GPU is sm_89").
  virtual Status checkCompatible(const std::map<std::string, std::string>& engineFacts) const = 0;

  /// Records what `body` enqueues on `stream` for replay; returns nullptr where the backend has no such thing.
  virtual Expected<std::unique_ptr<ReplayableWork>> capture(const std::function<Status(void* stream)>& body,
                                                            void* stream) {
    (void)body;
    (void)stream;
    return std::unique_ptr<ReplayableWork>();
  }

  /// Ok when this backend can run `node` (dtypes, attributes); otherwise says why, naming the node.
  virtual Status supports(const ir::Graph& graph, const ir::Node& node) const = 0;
  /// Ok unless this backend refuses every node of kind `op` whatever its shapes and types: the builder asks before
  /// a pass makes such nodes (FusedAttention), so that a refused kind leaves the graph unfused instead of unbuildable.
  virtual Status supportsKind(ir::OpKind op) const {
    (void)op;
    return Status::ok();
  }
  /// Times the candidate configurations (tactics) of `node` at these shapes — data pointers are null, the backend
  /// makes its own scratch buffers — and returns the fastest as a string that the builder records in the engine
  /// and the timing cache, and that createKernel receives back. "" when there is nothing to choose.
  virtual Expected<std::string> chooseTactic(const ir::Graph& graph, const ir::Node& node,
                                             std::span<const DeviceTensor> inputs,
                                             std::span<const DeviceTensor> outputs) {
    (void)graph;
    (void)node;
    (void)inputs;
    (void)outputs;
    return std::string();
  }
  /// Makes the kernel for `node`. Constant inputs can be read from graph.constantOf() to pre-pack weights.
  virtual Expected<std::unique_ptr<Kernel>> createKernel(const ir::Graph& graph, const ir::Node& node,
                                                         const std::string& tactic) = 0;
};

/// The backend for `kind`; kUnsupported when kiln was built without it or no device is present.
Expected<std::unique_ptr<Backend>> createBackend(DeviceKind kind, const BackendOptions& options = {});

}  // namespace kiln::backends
