// 1x1 NHWC convolution as one cuBLASLt GEMM with a fused epilogue.
//
// The mapping. With M = N*H*W rows, X [N,H,W,C] is row-major X[M, C], the KRSC weights [K,1,1,C] are row-major
// W[K, C], the residual Z and the output Y [N,H,W,K] are row-major [M, K], and
//   Y[m, k] = relu(sum_c X[m, c] * W[k, c] + bias[k] + Z[m, k]),  i.e.  Y = X * W^T (+ bias) (+ Z).
// cuBLASLt is column-major; a row-major [R, S] buffer is the column-major [S, R] matrix with ld = S (its transpose).
// So we compute the transposed product, which lives in the very same bytes:
//   Y^T [K x M] = W [K x C] * X^T [C x M]
//   - D (and C = Z): Y's bytes seen column-major as [K x M], ld = K: exactly Y^T (and Z^T).
//   - A = W with opA = T: W's bytes seen column-major are [C x K], ld = C (that is W^T); transposed it is W.
//   - B = X with opB = N: X's bytes seen column-major are [C x M], ld = C: exactly X^T.
//   cuBLASLt's (m, n, k) = (K, M, C). The epilogue bias is a vector over D's rows: length K, one per output channel,
//   which is what a conv bias is. cuBLASLt computes D = epilogue(alpha*op(A)op(B) + beta*C) with the bias added
//   before the Relu, so the residual goes in as C with beta = 1 (beta = 0 and C = D without one).
// Plans (layouts + heuristic algorithm) are memoized per (M, C, K, alignment) under a mutex; the matmul descriptor
// is built on the stack in every run() (cublasLtMatmulDescInit: no allocation) because it carries the bias pointer,
// so concurrent contexts never share a mutable descriptor.
#include "backends/cuda/conv1x1_cublaslt.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <tuple>

#include "backends/cuda/cublaslt_heuristic.h"

namespace kiln::backends::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what cuBLASLt asks for on Hopper, as matmul_cublaslt.cpp

int64_t alignmentOf(uint64_t value) {
  if (value == 0) return 256;
  return std::min<int64_t>(static_cast<int64_t>(value & (~value + 1)), 256);
}

struct Gemm {
  int64_t m = 0, c = 0, k = 0;  // rows (N*H*W), input channels, output channels
  int64_t alignment = 256;      // bytes every pointer is a multiple of
  auto key() const { return std::tuple(m, c, k, alignment); }
};

struct Plan {
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool useFallback = false;  // cuBLASLt offers no algorithm at this shape: the cuDNN kernel runs it
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

class Conv1x1GemmKernel final : public Kernel {
 public:
  Conv1x1GemmKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                    std::unique_ptr<Kernel> fallback)
      : where_(graph.describe(node) + ": "), handle_(ctx.cublasLt), allowTF32_(ctx.options.allowTF32),
        relu_(node.attrs.getString("activation", "") == "Relu"),
        residual_(node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue), fallback_(std::move(fallback)) {}

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    auto gemm = describe(in, out);
    if (gemm.hasValue()) (void)planFor(*gemm, in[0].dtype);  // warm the memo off the hot path
    // A later run() may meet other pointer alignments and fall back, so the cuDNN kernel's share is always there.
    const size_t fallbackBytes = fallback_ ? fallback_->workspaceBytes(in, out) : 0;
    return std::max(kWorkspaceBytes, fallbackBytes);
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    if (out.empty() || out[0].elementCount() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(Gemm gemm, describe(in, out));
    const bool hasResidual = in.size() > 3 && in[3].present();
    uint64_t addresses = reinterpret_cast<uintptr_t>(in[0].data) | reinterpret_cast<uintptr_t>(in[1].data) |
                         reinterpret_cast<uintptr_t>(in[2].data) | reinterpret_cast<uintptr_t>(out[0].data);
    if (hasResidual) addresses |= reinterpret_cast<uintptr_t>(in[3].data);
    gemm.alignment = std::min(gemm.alignment, alignmentOf(addresses));
    KILN_ASSIGN_OR_RETURN(const Plan* plan, planFor(gemm, in[0].dtype));
    if (plan->useFallback) {
      if (!fallback_) return unsupported(where_ + "cuBLASLt has no algorithm for " + shapeText(gemm, in[0].dtype));
      return fallback_->run(in, out, workspace, stream);
    }
    if (!workspace) return internalError(where_ + "no workspace given");
    cublasLtMatmulDescOpaque_t storage;
    KILN_RETURN_IF_ERROR(initDesc(&storage, in[0].dtype, in[2].data));
    const float alpha = 1.f, beta = hasResidual ? 1.f : 0.f;
    const void* c = hasResidual ? in[3].data : out[0].data;
    KILN_CUBLAS_CHECK(cublasLtMatmul(handle_, &storage, &alpha, in[1].data, plan->a, in[0].data, plan->b, &beta, c,
                                     plan->d, out[0].data, plan->d, &plan->algo, workspace, kWorkspaceBytes,
                                     static_cast<cudaStream_t>(stream)),
                      where_);
    return Status::ok();
  }

  std::string tactic() const override {
    std::string text = std::string(kConv1x1Tactic) + " gemm+bias" + (residual_ ? "+add" : "") + (relu_ ? "+relu" : "") +
                       " nhwc";
    std::lock_guard<std::mutex> lock(mutex_);
    const bool anyFallback =
        std::any_of(plans_.begin(), plans_.end(), [](const auto& entry) { return entry.second->useFallback; });
    if (anyFallback && fallback_) text += " (cuDNN at some shapes: " + fallback_->tactic() + ")";
    return text;
  }

 private:
  static std::string shapeText(const Gemm& g, DataType dtype) {
    return "M=" + std::to_string(g.m) + " C=" + std::to_string(g.c) + " K=" + std::to_string(g.k) + " " +
           dataTypeName(dtype) + " alignment " + std::to_string(g.alignment);
  }

  /// The matmul descriptor in caller-owned storage: transposes, compute type, epilogue and its bias pointer.
  Status initDesc(cublasLtMatmulDesc_t desc, DataType dtype, const void* bias) const {
    // FP16 and BF16 accumulate in FP32; strict FP32 (TF32 not allowed) must not use TF32 tensor cores.
    const cublasComputeType_t compute =
        dtype == DataType::kFloat32 && allowTF32_ ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescInit(desc, compute, CUDA_R_32F), where_);
    const cublasOperation_t opA = CUBLAS_OP_T, opB = CUBLAS_OP_N;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)), where_);
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)), where_);
    const cublasLtEpilogue_t epilogue = relu_ ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
                      where_);
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                      where_);
    return Status::ok();
  }

  /// M, C, K from X [N,H,W,C], W [K,1,1,C], bias [K], Y (and Z) [N,H,W,K], checked against each other.
  Expected<Gemm> describe(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    if (in.size() < 3 || !in[2].present() || out.empty())
      return invalidArgument(where_ + "the cuBLASLt 1x1 conv needs X, W, bias and Y");
    const Dims& x = in[0].dims;
    const Dims& w = in[1].dims;
    const Dims& y = out[0].dims;
    if (x.size() != 4 || w.size() != 4 || y.size() != 4 || w[1] != 1 || w[2] != 1 || w[3] != x[3] ||
        y[0] != x[0] || y[1] != x[1] || y[2] != x[2] || y[3] != w[0])
      return invalidArgument(where_ + "expected X [N,H,W,C], W [K,1,1,C] and Y [N,H,W,K]; found X " + dimsToString(x) +
                             ", W " + dimsToString(w) + ", Y " + dimsToString(y));
    if (in[2].dims != Dims{w[0]})
      return invalidArgument(where_ + "bias dims " + dimsToString(in[2].dims) + "; expected [" + std::to_string(w[0]) + "]");
    if (in.size() > 3 && in[3].present() && in[3].dims != y)
      return invalidArgument(where_ + "residual dims " + dimsToString(in[3].dims) + " differ from output " +
                             dimsToString(y));
    for (size_t i = 0; i < in.size() && i < 4; ++i)
      if (in[i].present() && in[i].dtype != in[0].dtype)
        return invalidArgument(where_ + "input " + std::to_string(i) + " has type " + dataTypeName(in[i].dtype) +
                               "; expected " + dataTypeName(in[0].dtype));
    Gemm g;
    g.m = x[0] * x[1] * x[2];
    g.c = x[3];
    g.k = w[0];
    return g;
  }

  Expected<const Plan*> planFor(const Gemm& g, DataType dtype) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(g.key());
    if (it != plans_.end()) return it->second.get();
    auto plan = std::make_unique<Plan>();
    // An empty inner dim (C = 0) or no rows: cuBLASLt has nothing to multiply; the cuDNN kernel handles it.
    plan->useFallback = g.c == 0 || g.m == 0 || g.k == 0;
    if (!plan->useFallback) {
      const cudaDataType_t type = cudaTypeOf(dtype);
      const auto u = [](int64_t v) { return static_cast<uint64_t>(v); };
      KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, type, u(g.c), u(g.k), g.c), where_);  // W^T, ld C
      KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, type, u(g.c), u(g.m), g.c), where_);  // X^T, ld C
      KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->d, type, u(g.k), u(g.m), g.k), where_);  // Y^T, ld K
      cublasLtMatmulDescOpaque_t storage;
      // The heuristic sees a bias pointer with exactly the plan's alignment; run() sets the real one.
      KILN_RETURN_IF_ERROR(initDesc(&storage, dtype, reinterpret_cast<const void*>(static_cast<uintptr_t>(g.alignment))));
      KILN_ASSIGN_OR_RETURN(const auto choice,
                            firstHeuristicAlgorithm(handle_, &storage, plan->a, plan->b, plan->d, plan->d,
                                                    kWorkspaceBytes, static_cast<uint32_t>(g.alignment), where_));
      // No algorithm for this configuration is a fallback, not an error.
      if (!choice || choice->workspaceSize > kWorkspaceBytes)
        plan->useFallback = true;
      else
        plan->algo = choice->algo;
    }
    const Plan* raw = plan.get();
    plans_.emplace(g.key(), std::move(plan));
    return raw;
  }

  std::string where_;
  cublasLtHandle_t handle_;
  bool allowTF32_;
  bool relu_;
  bool residual_;
  std::unique_ptr<Kernel> fallback_;
  mutable std::mutex mutex_;  // guards the plan memo only
  mutable std::map<decltype(Gemm{}.key()), std::unique_ptr<Plan>> plans_;
};

}  // namespace

Status conv1x1GemmQualifies(const ir::Graph& graph, const ir::Node& node) {
  const std::string where = graph.describe(node) + ": cuBLASLt 1x1 conv needs ";
  if (node.op != ir::OpKind::kConv || node.inputs.size() < 3 || node.inputs[2] == ir::kNoValue)
    return unsupported(where + "a Conv with a bias input");
  const auto& at = node.attrs;
  if (at.getString("data_format", "NCHW") != "NHWC") return unsupported(where + "data_format NHWC");
  const DataType t = inputType(graph, node, 0);
  if (t != DataType::kFloat16 && t != DataType::kBFloat16 && t != DataType::kFloat32)
    return unsupported(where + "float16, bfloat16 or float32");
  for (size_t i = 1; i < std::min<size_t>(node.inputs.size(), 4); ++i)
    if (node.inputs[i] != ir::kNoValue && inputType(graph, node, i) != t)
      return unsupported(where + "every input of type " + dataTypeName(t));
  const auto allEqual = [](const std::vector<int64_t>& v, int64_t want) {
    return std::all_of(v.begin(), v.end(), [&](int64_t e) { return e == want; });
  };
  if (!allEqual(at.getInts("strides"), 1)) return unsupported(where + "strides 1");
  if (!allEqual(at.getInts("dilations"), 1)) return unsupported(where + "dilations 1");
  if (!allEqual(at.getInts("pads"), 0)) return unsupported(where + "pads 0");
  if (at.getInt("group", 1) != 1) return unsupported(where + "group 1");
  if (!allEqual(at.getInts("kernel_shape"), 1)) return unsupported(where + "kernel_shape 1x1");
  const ir::Value& w = graph.values[node.inputs[1]];  // KRSC
  if (!w.rankKnown || w.dims.size() != 4 || w.dims[1] != 1 || w.dims[2] != 1)
    return unsupported(where + "weights [K,1,1,C]; found " + (w.rankKnown ? dimsToString(w.dims) : "unknown rank"));
  // With a 1x1 kernel and stride 1, SAME_* pads nothing, so every auto_pad means no padding.
  const std::string activation = at.getString("activation", "");
  if (!activation.empty() && activation != "Relu") return unsupported(where + "no activation or Relu");
  const bool residual = node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue;
  if (residual && activation != "Relu") return unsupported(where + "Relu with a residual input");
  return Status::ok();
}

KernelResult makeConv1x1Kernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                               std::unique_ptr<Kernel> fallback) {
  KILN_RETURN_IF_ERROR(conv1x1GemmQualifies(graph, node));
  return std::unique_ptr<Kernel>(std::make_unique<Conv1x1GemmKernel>(ctx, graph, node, std::move(fallback)));
}

}  // namespace kiln::backends::cuda
