// The one interface the builder and runtime use to reach a device (DESIGN.md rules 3 and 8).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

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
  virtual Status synchronize(void* stream) = 0;

  /// Ok when this backend can run `node` (dtypes, attributes); otherwise says why, naming the node.
  virtual Status supports(const ir::Graph& graph, const ir::Node& node) const = 0;
  /// Makes the kernel for `node`. Constant inputs can be read from graph.constantOf() to pre-pack weights.
  virtual Expected<std::unique_ptr<Kernel>> createKernel(const ir::Graph& graph, const ir::Node& node,
                                                         const std::string& tactic) = 0;
};

/// The backend for `kind`; kUnsupported when kiln was built without it or no device is present.
Expected<std::unique_ptr<Backend>> createBackend(DeviceKind kind);

}  // namespace kiln::backends
