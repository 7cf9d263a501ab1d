// What the CUDA backend's family files share: library handles, the context every kernel factory receives, the
// family entry points, and small launch structs that cross from host code (.cpp) to kernels (.cu).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cuda/cuda_check.h"

namespace kiln::backends::cuda {

inline constexpr int kMaxRank = 8;

/// cuDNN handles for one backend. A cuDNN handle is bound to a stream and must not be used by two threads at
/// once, while several contexts may enqueue the same kernel concurrently on several streams. So handles live in a
/// pool keyed by stream: a caller borrows one for the duration of its enqueue and gives it back. A handle is created
/// only the first time a stream (or a second concurrent caller on it) needs one; later enqueues find it in the pool.
/// Capture a CUDA graph only after one plain enqueue on that stream, so no handle is created during capture.
class CudnnPool {
 public:
  class Lease {
   public:
    Lease(CudnnPool* pool, cudaStream_t stream, cudnnHandle_t handle) : pool_(pool), stream_(stream), handle_(handle) {}
    Lease(Lease&& other) noexcept : pool_(other.pool_), stream_(other.stream_), handle_(other.handle_) {
      other.pool_ = nullptr;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_) pool_->giveBack(stream_, handle_);
    }
    cudnnHandle_t handle() const { return handle_; }

   private:
    CudnnPool* pool_;
    cudaStream_t stream_;
    cudnnHandle_t handle_;
  };

  CudnnPool() = default;
  CudnnPool(const CudnnPool&) = delete;
  CudnnPool& operator=(const CudnnPool&) = delete;
  ~CudnnPool();
  Expected<Lease> borrow(cudaStream_t stream, const std::string& where);

 private:
  void giveBack(cudaStream_t stream, cudnnHandle_t handle);
  std::mutex mutex_;
  std::map<cudaStream_t, std::vector<cudnnHandle_t>> idle_;
  std::vector<cudnnHandle_t> all_;
};

/// What every kernel factory receives; owned by the backend, outlives its kernels.
struct CudaContext {
  BackendOptions options;
  CudnnPool* cudnn = nullptr;
  cublasLtHandle_t cublasLt = nullptr;  // thread-safe; the stream is passed per call
  int multiProcessorCount = 1;
};

using KernelResult = Expected<std::unique_ptr<Kernel>>;

// Family entry points: supports() says why not, naming the node; make*() builds the kernel (attributes parsed,
// constants read once). One file per family.
Status elementwiseSupports(const ir::Graph& graph, const ir::Node& node);  // elementwise.cpp
KernelResult makeElementwiseKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
Status convSupports(const ir::Graph& graph, const ir::Node& node);  // conv_select.cpp
KernelResult makeConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                            const std::string& tactic);
/// Races the paths that can run this conv (legacy cuDNN algorithms, cuDNN graph engine configurations, cuBLASLt for
/// 1x1) at these shapes through their run(); returns the fastest as a tactic ("" = heuristics).
Expected<std::string> chooseConvTactic(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                       std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs);
Status matmulSupports(const ir::Graph& graph, const ir::Node& node);  // matmul_cublaslt.cpp (Gemm, MatMul)
KernelResult makeMatmulKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
Status poolSupports(const ir::Graph& graph, const ir::Node& node);  // pool.cpp
KernelResult makePoolKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
Status normalizationSupports(const ir::Graph& graph, const ir::Node& node);  // normalization.cpp
KernelResult makeNormalizationKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
Status reductionSupports(const ir::Graph& graph, const ir::Node& node);  // reduction.cpp
KernelResult makeReductionKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
Status dataMovementSupports(const ir::Graph& graph, const ir::Node& node);  // data_movement.cpp
KernelResult makeDataMovementKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
/// GatherElements, GatherND, ScatterND, ScatterElements, Trilu, OneHot, ReverseSequence, Compress (indexing.cpp);
/// data_movement.cpp hands these over.
bool isIndexingOp(ir::OpKind op);
Status indexingSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makeIndexingKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
/// ConvTranspose: a direct kernel (conv_transpose.cpp).
Status convTransposeSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makeConvTransposeKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
/// The misc family: Hardmax, TopK, Einsum, Det, LRN, LpNormalization, MeanVarianceNormalization,
/// RMSNormalization, NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss (misc.cpp).
Status miscSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makeMiscKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
/// QuantizeLinear, DequantizeLinear: per-tensor, per-axis and blocked, 8/16-bit integers (quantization.cpp).
Status quantizationSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makeQuantizationKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
/// FusedAttention: an own flash-attention kernel, float32/float16/bfloat16 (attention.cpp).
Status attentionSupports(const ir::Graph& graph, const ir::Node& node);
KernelResult makeAttentionKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);
Status generatorSupports(const ir::Graph& graph, const ir::Node& node);  // generators.cpp
KernelResult makeGeneratorKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node);

// ---- helpers shared by the host-side family files (cuda_common.cpp)

/// float32 or float16: the types every float kernel accepts (FP16 engines rewrite float tensors to float16).
bool isFloatType(DataType type);
/// isFloatType plus bfloat16: the types of the kernels that load 16-bit floats into float32 registers (elementwise,
/// reductions, normalizations, pools, Resize; not the cuDNN/cuBLASLt paths, which check their own).
bool isFloatOrBFloat16Type(DataType type);
/// "input 'x' has type int8; expected float32 or float16" style check for input `index` of `node`.
Status requireInputType(const ir::Graph& graph, const ir::Node& node, size_t index, std::initializer_list<DataType> allowed);
/// The dtype of input `index`, kUndefined when absent.
DataType inputType(const ir::Graph& graph, const ir::Node& node, size_t index);
/// The constant behind input `index`, or nullptr (absent or computed at run time).
const Tensor* constantInput(const ir::Graph& graph, const ir::Node& node, size_t index);
/// Reads an integer constant tensor (int64 or int32) into a vector.
std::vector<int64_t> readInts(const Tensor& tensor);
/// True when `value`'s contents are known on the host before the kernels run: a constant, or the result of the
/// host-side shape program (Shape/Size, or a node whose inputs are all host-known). Mirrors
/// runtime::analyzeShapeProgram, which sets DeviceTensor::hostData for exactly these values.
bool hostKnown(const ir::Graph& graph, ir::ValueId value);
/// Ok when input `index` of `node` is absent or host-known; otherwise says that `what` must be.
Status requireHostKnown(const ir::Graph& graph, const ir::Node& node, size_t index, const char* what);
/// The int64/int32 contents of a host-known parameter input (DeviceTensor::hostData); an error naming `what` when
/// the runtime did not supply them.
Expected<std::vector<int64_t>> hostInts(const DeviceTensor& tensor, const std::string& where, const char* what);
/// `inputs` broadcast to `out` (numpy rules) as a walk over as few dims as possible: dims every input walks as one
/// run are merged, and a broadcast input has stride 0 there. At least one dim (a scalar walks [1]). Errors name the
/// input that does not broadcast.
struct BroadcastWalk {
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides;  // per input, one per entry of dims
};
Expected<BroadcastWalk> broadcastWalk(std::span<const Dims> inputs, const Dims& out, const std::string& where);
/// Row-major strides of `dims`.
std::vector<int64_t> contiguousStrides(const Dims& dims);
/// Blocks for a grid-stride loop over `count` items with `threads` per block.
unsigned int gridFor(int64_t count, int threads);
/// Resolves a possibly negative axis against `rank`; -1 when out of range.
int64_t normalizeAxis(int64_t axis, int64_t rank);

/// A copy from one strided view to another, one element per index of `dims`:
///   dst[dstBase + sum(i_d * dstStrides_d)] = src[srcBase + sum(f_d(i_d) * srcStrides_d)]
/// where f_d(i) = i % srcModulo_d when srcModulo_d > 0 (Tile), else i. Covers Transpose, Expand, Slice, Concat,
/// Split, Tile, DepthToSpace and plain copies. data_movement.cu.
struct StridedCopy {
  int32_t rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t srcStrides[kMaxRank] = {};
  int64_t dstStrides[kMaxRank] = {};
  int64_t srcModulo[kMaxRank] = {};
  int64_t srcBase = 0;
  int64_t dstBase = 0;
  const void* src = nullptr;
  void* dst = nullptr;
};
/// elementBytes is 1, 2, 4 or 8.
cudaError_t launchStridedCopy(const StridedCopy& copy, size_t elementBytes, cudaStream_t stream);
/// Merges adjacent dims that are contiguous in both views (fewer index divisions); keeps the copy's meaning.
void simplifyStridedCopy(StridedCopy& copy);
/// A copy of `src` (dims srcDims) broadcast numpy-style to `dstDims`, into contiguous dst. Fails when rank > 8.
Status broadcastCopy(const DeviceTensor& src, const DeviceTensor& dst, cudaStream_t stream, const std::string& where);

}  // namespace kiln::backends::cuda
