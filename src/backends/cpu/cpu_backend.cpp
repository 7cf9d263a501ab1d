#include <cstdlib>
#include <cstring>
#include <thread>

#include "backends/backend.h"
#include "backends/cpu/cpu_kernels.h"
#include "ops/families.h"
#include "ops/shape_inference.h"

namespace kiln::backends {
namespace {

bool cpuHandlesType(DataType t) {
  switch (t) {
    case DataType::kFloat32: case DataType::kInt64: case DataType::kInt32: case DataType::kBool:
    case DataType::kUInt8: case DataType::kInt8: case DataType::kFloat64: case DataType::kUndefined:
    case DataType::kInt16: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64:
    case DataType::kFloat16: case DataType::kBFloat16:
      return true;
    default:
      return false;
  }
}

class CpuKernel final : public Kernel {
 public:
  CpuKernel(const ir::Graph& graph, const ir::Node& node) : graph_(graph), node_(node) {}
  Status run(std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs, void*, void*) const override {
    return cpu::executeNode(graph_, node_, inputs, outputs);
  }
  std::string tactic() const override { return "cpu"; }

 private:
  const ir::Graph& graph_;
  ir::Node node_;
};

class CpuBackend final : public Backend {
 public:
  DeviceKind kind() const override { return DeviceKind::kCpu; }
  std::string deviceName() const override {
    return "CPU (" + std::to_string(std::thread::hardware_concurrency()) + " threads)";
  }
  Expected<void*> allocate(size_t bytes) override {
    const size_t rounded = (bytes + 255) / 256 * 256;
    void* p = std::aligned_alloc(256, rounded ? rounded : 256);
    if (!p) return outOfMemory("host allocation of " + std::to_string(bytes) + " bytes failed");
    return p;
  }
  void release(void* p) override { std::free(p); }
  Status copyToDevice(void* dst, const void* src, size_t n, void*) override {
    if (n) std::memcpy(dst, src, n);
    return Status::ok();
  }
  Status copyToHost(void* dst, const void* src, size_t n, void*) override {
    if (n) std::memcpy(dst, src, n);
    return Status::ok();
  }
  Status copyOnDevice(void* dst, const void* src, size_t n, void*) override {
    if (n) std::memmove(dst, src, n);
    return Status::ok();
  }
  Status synchronize(void*) override { return Status::ok(); }
  Expected<void*> allocateHost(size_t bytes) override { return allocate(bytes); }
  void releaseHost(void* p) override { release(p); }
  std::map<std::string, std::string> buildFacts() const override { return {{"device.name", "cpu"}}; }
  Status checkCompatible(const std::map<std::string, std::string>&) const override { return Status::ok(); }
  Status supports(const ir::Graph& graph, const ir::Node& node) const override {
    if (!ops::isImplemented(node.op)) return unsupported(graph.describe(node) + ": operator is not implemented");
    for (ir::ValueId v : node.inputs)
      if (v != ir::kNoValue && !cpuHandlesType(graph.values[v].dtype))
        return unsupported(graph.describe(node) + ": input '" + graph.values[v].name + "' has type " +
                           dataTypeName(graph.values[v].dtype) + ", which the CPU backend does not handle");
    if (node.attrs.has("activation"))  // a fused epilogue from a CUDA-only pass
      return unsupported(graph.describe(node) + ": fused epilogues run on the CUDA backend only");
    if (node.attrs.getString("data_format", "NCHW") != "NCHW")  // from the CUDA-only layout pass
      return unsupported(graph.describe(node) + ": the CPU backend runs convolutions and pools in NCHW only");
    // Float32 kernels; float16/bfloat16 tensors are widened to float32 around them (float32_staging.h).
    const auto family = ops::familyOf(node.op);
    if (family == ops::OpFamily::kLinalg || family == ops::OpFamily::kNormalization)
      for (ir::ValueId v : node.inputs) {
        const DataType t = v == ir::kNoValue ? DataType::kFloat32 : graph.values[v].dtype;
        if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16)
          return unsupported(graph.describe(node) + ": input '" + graph.values[v].name + "' has type " +
                             dataTypeName(t) + "; the CPU backend runs this operator in float32 (float16 and " +
                             "bfloat16 through float32)");
      }
    return Status::ok();
  }
  Expected<std::unique_ptr<Kernel>> createKernel(const ir::Graph& graph, const ir::Node& node,
                                                 const std::string&) override {
    return std::unique_ptr<Kernel>(std::make_unique<CpuKernel>(graph, node));
  }
};

}  // namespace

std::unique_ptr<Backend> createCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace kiln::backends
