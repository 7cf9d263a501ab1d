// The CUDA backend: device memory, streams, CUDA graphs, build facts, and the per-family dispatch of supports() and
// createKernel(). Kernels live in one file per family (see cuda_common.h).
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "backends/backend.h"
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/data_dependent.h"
#include "backends/cuda/unverified_kernels.h"
#include "backends/cuda/elementwise_fused.h"
#include "backends/cuda/stream_fence.h"
#include "ops/families.h"

namespace kiln::backends {
namespace cuda {
namespace {

using ir::OpKind;

class CudaGraphWork final : public ReplayableWork {
 public:
  explicit CudaGraphWork(cudaGraphExec_t exec) : exec_(exec) {}
  ~CudaGraphWork() override { cudaGraphExecDestroy(exec_); }
  Status replay(void* stream) override {
    KILN_CUDA_CHECK(cudaGraphLaunch(exec_, static_cast<cudaStream_t>(stream)), "CUDA graph replay: ");
    return Status::ok();
  }

 private:
  cudaGraphExec_t exec_;
};

std::string versionString(size_t v) { return std::to_string(v); }

class CudaBackend final : public Backend {
 public:
  CudaBackend(const BackendOptions& options, int device, const cudaDeviceProp& props, cublasLtHandle_t lt)
      : device_(device), name_(props.name),
        capability_(std::to_string(props.major) + "." + std::to_string(props.minor)) {
    context_.options = options;
    context_.cudnn = &cudnn_;
    context_.cublasLt = lt;
    context_.multiProcessorCount = props.multiProcessorCount;
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    runtime_ = std::to_string(runtime);
  }
  ~CudaBackend() override {
    if (context_.cublasLt) cublasLtDestroy(context_.cublasLt);
  }

  DeviceKind kind() const override { return DeviceKind::kCuda; }
  std::string deviceName() const override {
    return name_ + " (sm_" + capability_.substr(0, capability_.find('.')) + capability_.substr(capability_.find('.') + 1) + ")";
  }

  Expected<void*> allocate(size_t bytes) override {
    void* p = nullptr;
    KILN_CUDA_CHECK(cudaSetDevice(device_), "allocate: ");
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) {
      return fromCuda(e, "cudaMalloc", "allocating " + std::to_string(bytes) + " bytes of device memory on " + name_ + ": ");
    }
    return p;
  }
  void release(void* pointer) override {
    if (pointer) cudaFree(pointer);
  }
  Status copyToDevice(void* dst, const void* src, size_t bytes, void* stream) override {
    if (bytes)
      KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream)),
                      "copy to device: ");
    return Status::ok();
  }
  Status copyToHost(void* dst, const void* src, size_t bytes, void* stream) override {
    if (bytes)
      KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream)),
                      "copy to host: ");
    return Status::ok();
  }
  Status copyOnDevice(void* dst, const void* src, size_t bytes, void* stream) override {
    if (bytes)
      KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
                      "copy on device: ");
    return Status::ok();
  }
  Status fence(void* stream) override {
    KILN_CUDA_CHECK(launchStreamFence(static_cast<cudaStream_t>(stream)), "stream fence: ");
    return Status::ok();
  }
  Status synchronize(void* stream) override {
    KILN_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "synchronize: ");
    return Status::ok();
  }
  Expected<void*> allocateHost(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMallocHost(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) return fromCuda(e, "cudaMallocHost", "allocating " + std::to_string(bytes) + " pinned host bytes: ");
    return p;
  }
  void releaseHost(void* pointer) override {
    if (pointer) cudaFreeHost(pointer);
  }

  std::map<std::string, std::string> buildFacts() const override {
    return {{"device.name", name_},
            {"device.compute_capability", capability_},
            {"cuda.runtime", runtime_},
            {"cudnn.version", versionString(cudnnGetVersion())},
            {"cublaslt.version", versionString(cublasLtGetVersion())}};
  }

  Status checkCompatible(const std::map<std::string, std::string>& facts) const override {
    const auto get = [&](const char* key) {
      auto it = facts.find(key);
      return it == facts.end() ? std::string() : it->second;
    };
    const std::string name = get("device.name"), cc = get("device.compute_capability");
    const bool nameDiffers = !name.empty() && name != name_;
    const bool ccDiffers = !cc.empty() && cc != capability_;
    if (!nameDiffers && !ccDiffers) return Status::ok();
    const auto sm = [](const std::string& c) {
      const auto dot = c.find('.');
      return dot == std::string::npos ? c : "sm_" + c.substr(0, dot) + c.substr(dot + 1);
    };
    return invalidEngine("engine built for " + (name.empty() ? "an unnamed GPU" : name) + " (" + sm(cc) + ") with cuDNN " +
                         (get("cudnn.version").empty() ? "?" : get("cudnn.version")) + "; this GPU is " + name_ + " (" +
                         sm(capability_) + ") with cuDNN " + versionString(cudnnGetVersion()) +
                         ": rebuild the engine on this GPU");
  }

  Expected<void*> createStream() override {
    KILN_CUDA_CHECK(cudaSetDevice(device_), "createStream: ");
    cudaStream_t s = nullptr;
    // Non-blocking: no implicit ordering with the legacy default stream, which CUDA graph capture forbids.
    KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "createStream: ");
    return static_cast<void*>(s);
  }
  void destroyStream(void* stream) override {
    if (stream) cudaStreamDestroy(static_cast<cudaStream_t>(stream));
  }

  Expected<std::unique_ptr<ReplayableWork>> capture(const std::function<Status(void* stream)>& body,
                                                    void* stream) override {
    const auto s = static_cast<cudaStream_t>(stream);
    if (!s) return unsupported("CUDA graph capture needs a created stream, not the default stream");
    KILN_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), "CUDA graph capture: ");
    const Status recorded = body(stream);
    cudaGraph_t graph = nullptr;
    const cudaError_t ended = cudaStreamEndCapture(s, &graph);
    if (!recorded.isOk()) {
      if (graph) cudaGraphDestroy(graph);
      return recorded;
    }
    if (ended != cudaSuccess) {
      if (graph) cudaGraphDestroy(graph);
      return fromCuda(ended, "cudaStreamEndCapture", "CUDA graph capture: ");
    }
    cudaGraphExec_t exec = nullptr;
    const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (made != cudaSuccess) return fromCuda(made, "cudaGraphInstantiate", "CUDA graph capture: ");
    return std::unique_ptr<ReplayableWork>(std::make_unique<CudaGraphWork>(exec));
  }

  Status supportsKind(OpKind op) const override { return refuseUnverifiedKind(op); }

  Status supports(const ir::Graph& graph, const ir::Node& node) const override {
    for (ir::ValueId v : node.inputs)
      if (v != ir::kNoValue && graph.values[v].rankKnown && graph.values[v].dims.size() > static_cast<size_t>(kMaxRank))
        return unsupported(graph.describe(node) + ": input '" + graph.values[v].name + "' has rank " +
                           std::to_string(graph.values[v].dims.size()) + "; the CUDA kernels handle up to 8");
    KILN_RETURN_IF_ERROR(refuseUnverifiedKernel(graph, node));  // unverified_kernels.h
    if (isDataDependentOnCuda(graph, node)) return dataDependentSupports(graph, node);  // data_dependent.cpp
    switch (ops::familyOf(node.op)) {
      case ops::OpFamily::kElementwise:
        if (node.op == OpKind::kFusedElementwise) return fusedElementwiseSupports(graph, node);
        return elementwiseSupports(graph, node);
      case ops::OpFamily::kLinalg:
        if (node.op == OpKind::kConv) return convSupports(graph, node);
        if (node.op == OpKind::kConvTranspose) return convTransposeSupports(graph, node);
        if (node.op == OpKind::kGemm || node.op == OpKind::kMatMul) return matmulSupports(graph, node);
        return poolSupports(graph, node);
      case ops::OpFamily::kNormalization: return normalizationSupports(graph, node);
      case ops::OpFamily::kReduction: return reductionSupports(graph, node);
      case ops::OpFamily::kDataMovement: return dataMovementSupports(graph, node);
      case ops::OpFamily::kGenerator: return generatorSupports(graph, node);
      case ops::OpFamily::kMisc: return miscSupports(graph, node);  // NonZero, Unique, RNNs: refused there
      case ops::OpFamily::kQuantization: return quantizationSupports(graph, node);
      case ops::OpFamily::kAttention: return attentionSupports(graph, node);
    }
    return unsupported(graph.describe(node) + ": no CUDA kernel for this operator yet");
  }

  Expected<std::string> chooseTactic(const ir::Graph& graph, const ir::Node& node,
                                     std::span<const DeviceTensor> inputs,
                                     std::span<const DeviceTensor> outputs) override {
    KILN_CUDA_CHECK(cudaSetDevice(device_), graph.describe(node) + ": ");
    if (node.op == OpKind::kConv) return chooseConvTactic(context_, graph, node, inputs, outputs);
    return std::string();
  }

  Expected<std::unique_ptr<Kernel>> createKernel(const ir::Graph& graph, const ir::Node& node,
                                                 const std::string& tactic) override {
    KILN_RETURN_IF_ERROR(supports(graph, node));
    KILN_CUDA_CHECK(cudaSetDevice(device_), graph.describe(node) + ": ");
    if (isDataDependentOnCuda(graph, node)) return makeDataDependentKernel(graph, node);
    switch (ops::familyOf(node.op)) {
      case ops::OpFamily::kElementwise:
        if (node.op == OpKind::kFusedElementwise) return makeFusedElementwiseKernel(context_, graph, node);
        return makeElementwiseKernel(context_, graph, node);
      case ops::OpFamily::kLinalg:
        if (node.op == OpKind::kConv) return makeConvKernel(context_, graph, node, tactic);
        if (node.op == OpKind::kConvTranspose) return makeConvTransposeKernel(context_, graph, node);
        if (node.op == OpKind::kGemm || node.op == OpKind::kMatMul) return makeMatmulKernel(context_, graph, node);
        return makePoolKernel(context_, graph, node);
      case ops::OpFamily::kNormalization: return makeNormalizationKernel(context_, graph, node);
      case ops::OpFamily::kReduction: return makeReductionKernel(context_, graph, node);
      case ops::OpFamily::kDataMovement: return makeDataMovementKernel(context_, graph, node);
      case ops::OpFamily::kGenerator: return makeGeneratorKernel(context_, graph, node);
      case ops::OpFamily::kMisc: return makeMiscKernel(context_, graph, node);
      case ops::OpFamily::kQuantization: return makeQuantizationKernel(context_, graph, node);
      case ops::OpFamily::kAttention: return makeAttentionKernel(context_, graph, node);
    }
    return unsupported(graph.describe(node) + ": unknown op family");
  }

 private:
  int device_;
  std::string name_, capability_, runtime_;
  CudnnPool cudnn_;
  CudaContext context_;
};

}  // namespace
}  // namespace cuda

Expected<std::unique_ptr<Backend>> createCudaBackend(const BackendOptions& options) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return unsupported(std::string("no CUDA device: ") + cudaGetErrorString(e));
  }
  if (count == 0) return unsupported("no CUDA device: cudaGetDeviceCount found none");
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device), "CUDA backend: ");
  cudaDeviceProp props{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&props, device), "CUDA backend: ");
  cublasLtHandle_t lt = nullptr;
  KILN_CUBLAS_CHECK(cublasLtCreate(&lt), "CUDA backend: ");
  return std::unique_ptr<Backend>(std::make_unique<cuda::CudaBackend>(options, device, props, lt));
}

}  // namespace kiln::backends
