// Gemm and MatMul through cuBLASLt. Row-major C = A·B is computed as column-major Cᵀ = Bᵀ·Aᵀ, so no data moves.
// A plan (descriptors + heuristic algorithm) is made once per (shape, alignment, epilogue) and memoized under a
// mutex: run() finds it ready after workspaceBytes() made it at setInputShape, and several streams may share it.
//
// Epilogues (passes/fuse_gemm_epilogue.cpp): cuBLASLt computes D = act(alpha·op(A)op(B) + beta·C + bias), the bias a
// vector over D's rows. D here is Yᵀ, whose rows are our N columns, so a length-N bias (Gemm's [N]/[1,N] C with beta
// 1, or MatMul's input 2) is exactly CUBLASLT_EPILOGUE_BIAS; with several batches it is shared by all of them (bias
// batch stride 0). Attribute activation "Relu" adds RELU, "GeluTanh" GELU (cuBLASLt's GELU is the tanh form). Where
// the bias cannot be an epilogue (N = 1, or no algorithm takes it), it is copied into Y first and enters as C with
// beta 1, which the activation still follows.
#include <algorithm>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

#include "backends/cuda/cublaslt_heuristic.h"
#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what cuBLASLt asks for on Hopper

enum class Activation { kNone, kRelu, kGeluTanh };

/// The attribute's activation, or nullopt for one this kernel does not apply.
std::optional<Activation> activationOf(const ir::Node& node) {
  const std::string name = node.attrs.getString("activation", "");
  if (name.empty()) return Activation::kNone;
  if (name == "Relu") return Activation::kRelu;
  if (name == "GeluTanh") return Activation::kGeluTanh;
  return std::nullopt;
}

cublasLtEpilogue_t epilogueFor(Activation activation, bool bias) {
  switch (activation) {
    case Activation::kRelu: return bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case Activation::kGeluTanh: return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    case Activation::kNone: break;
  }
  return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
}

const char* epilogueName(cublasLtEpilogue_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_RELU: return "RELU";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "RELU_BIAS";
    case CUBLASLT_EPILOGUE_GELU: return "GELU";
    case CUBLASLT_EPILOGUE_GELU_BIAS: return "GELU_BIAS";
    default: return "DEFAULT";
  }
}

struct Problem {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  int64_t strideA = 0, strideB = 0, strideC = 0;  // elements between batch entries (0 = broadcast)
  bool transA = false, transB = false;
  bool bias = false;        // epilogue adds a length-n vector
  uint64_t biasAddress = 0;  // the epilogue's bias pointer lives in the descriptor, so it is part of the key
  int32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;  // set by planFor from the activation and `bias`
  int64_t alignment = 256;   // bytes every pointer and batch offset is a multiple of
  // MatMul whose batch dims broadcast on both sides: the broadcast operand is first expanded into the workspace,
  // after cuBLASLt's share, so the GEMM sees plain strided batches.
  bool expandA = false, expandB = false;
  Dims batchDims;
  auto key() const {
    return std::tuple(m, n, k, batch, strideA, strideB, strideC, transA, transB, bias, biasAddress, alignment,
                      epilogue);
  }
};

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  bool noAlgorithm = false;  // cuBLASLt has none for this configuration (remembered so it is asked once)
  ~Plan() {
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (c) cublasLtMatrixLayoutDestroy(c);
  }
};

int64_t alignmentOf(uint64_t value) {
  if (value == 0) return 256;
  const int64_t a = static_cast<int64_t>(value & (~value + 1));
  return std::min<int64_t>(a, 256);
}

class MatmulKernel final : public Kernel {
 public:
  MatmulKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), handle_(ctx.cublasLt), gemm_(node.op == OpKind::kGemm),
        allowTF32_(ctx.options.allowTF32), activation_(activationOf(node).value_or(Activation::kNone)) {
    if (gemm_) {
      transA_ = node.attrs.getInt("transA", 0) != 0;
      transB_ = node.attrs.getInt("transB", 0) != 0;
      alpha_ = node.attrs.getFloat("alpha", 1.f);
      beta_ = node.attrs.getFloat("beta", 1.f);
    }
  }

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    auto problem = describe(in, out);
    if (!problem.hasValue()) return kWorkspaceBytes;
    (void)planFor(*problem, in[0].dtype);  // warm the memo off the hot path (the real alignment may differ)
    const size_t elem = dataTypeSize(in[0].dtype);
    return kWorkspaceBytes + expandedBytes(problem->expandA, problem->batch * problem->m * problem->k, elem) +
           expandedBytes(problem->expandB, problem->batch * problem->k * problem->n, elem);
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& y = out[0];
    if (y.elementCount() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(Problem p, describe(in, out));
    // The addend: Gemm's C (scaled by beta) or MatMul's fused bias (scale 1).
    const bool hasAddend = in.size() > 2 && in[2].present() && (!gemm_ || beta_ != 0.f);
    if (hasAddend && in[2].elementCount() > 0 && !in[2].data)
      return invalidArgument(where_ + "input 2 (" + std::string(gemm_ ? "C" : "bias") + ") has no device data");
    if (p.k == 0) {  // empty inner dim: the product is zero, Y = act(addend)
      if (hasAddend && activation_ != Activation::kNone)
        return unsupported(where_ + "a fused activation over a bias with an empty inner dim (K=0) is not supported");
      if (hasAddend) return broadcastCopy(in[2], y, s, where_);
      // act(0) = 0 for Relu and GeluTanh.
      KILN_CUDA_CHECK(cudaMemsetAsync(y.data, 0, y.elementCount() * dataTypeSize(y.dtype), s), where_);
      return Status::ok();
    }
    uint64_t addresses = reinterpret_cast<uintptr_t>(in[0].data) | reinterpret_cast<uintptr_t>(in[1].data) |
                         reinterpret_cast<uintptr_t>(y.data);
    if (p.bias) addresses |= reinterpret_cast<uintptr_t>(in[2].data);
    p.alignment = std::min(p.alignment, alignmentOf(addresses));
    const void* aData = in[0].data;
    const void* bData = in[1].data;
    if (p.expandA || p.expandB) {
      if (!workspace) return internalError(where_ + "no workspace for the batch broadcast");
      const size_t elem = dataTypeSize(in[0].dtype);
      auto* next = static_cast<std::byte*>(workspace) + kWorkspaceBytes;
      const auto expand = [&](const DeviceTensor& t, int64_t rows, int64_t cols, const void*& data) -> Status {
        DeviceTensor src{t.dtype, matrixView(t.dims, rows, cols), t.data};
        Dims full = p.batchDims;
        full.push_back(rows);
        full.push_back(cols);
        DeviceTensor dst{t.dtype, full, next};
        KILN_RETURN_IF_ERROR(broadcastCopy(src, dst, s, where_));
        data = next;
        next += expandedBytes(true, dst.elementCount(), elem);
        return Status::ok();
      };
      if (p.expandA) KILN_RETURN_IF_ERROR(expand(in[0], p.m, p.k, aData));
      if (p.expandB) KILN_RETURN_IF_ERROR(expand(in[1], p.k, p.n, bData));
      addresses = reinterpret_cast<uintptr_t>(aData) | reinterpret_cast<uintptr_t>(bData) |
                  reinterpret_cast<uintptr_t>(y.data);
      p.alignment = std::min(p.alignment, alignmentOf(addresses));
    }
    // May turn p.bias off when no algorithm takes the bias epilogue; the addend is then copied below.
    KILN_ASSIGN_OR_RETURN(const Plan* plan, planFor(p, in[0].dtype));
    float beta = 0.f;
    if (hasAddend && !p.bias) {
      KILN_RETURN_IF_ERROR(broadcastCopy(in[2], y, s, where_));  // Y = addend, then Y = act(alpha·AB + beta·Y)
      beta = gemm_ ? beta_ : 1.f;
    }
    const size_t wsBytes = workspace ? kWorkspaceBytes : 0;
    if (plan->workspace > wsBytes)
      return internalError(where_ + "cuBLASLt plan needs " + std::to_string(plan->workspace) + " workspace bytes");
    // Operands swapped: column-major Cᵀ = op(B)ᵀ · op(A)ᵀ.
    KILN_CUBLAS_CHECK(cublasLtMatmul(handle_, plan->desc, &alpha_, bData, plan->a, aData, plan->b, &beta,
                                     y.data, plan->c, y.data, plan->c, &plan->algo, workspace, wsBytes, s),
                      where_);
    return Status::ok();
  }

  /// "cublasLt:heuristic", plus the epilogues the plans made so far use ("epilogue=RELU_BIAS"); before any plan, the
  /// configured activation.
  std::string tactic() const override {
    std::set<std::string> used;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [key, plan] : plans_)
        if (!plan->noAlgorithm && std::get<12>(key) != CUBLASLT_EPILOGUE_DEFAULT)
          used.insert(epilogueName(static_cast<cublasLtEpilogue_t>(std::get<12>(key))));
    }
    if (used.empty() && activation_ != Activation::kNone) used.insert(epilogueName(epilogueFor(activation_, false)));
    std::string text = "cublasLt:heuristic";
    for (const auto& e : used) text += (e == *used.begin() ? " epilogue=" : ",") + e;
    return text;
  }

 private:
  static size_t expandedBytes(bool expanded, int64_t elements, size_t elem) {
    if (!expanded) return 0;
    return (static_cast<size_t>(elements) * elem + 255) / 256 * 256;
  }

  /// An operand's dims as batch dims + [rows, cols] (a 1-D operand is one matrix).
  static Dims matrixView(const Dims& d, int64_t rows, int64_t cols) {
    Dims v(d.begin(), d.end() - std::min<size_t>(d.size(), 2));
    v.push_back(rows);
    v.push_back(cols);
    return v;
  }

  /// The problem for these inputs: M, N, K, batching, and whether C can be a bias epilogue.
  Expected<Problem> describe(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    Problem p;
    const Dims& a = in[0].dims;
    const Dims& b = in[1].dims;
    const Dims& y = out[0].dims;
    if (gemm_) {
      if (a.size() != 2 || b.size() != 2)
        return invalidArgument(where_ + "Gemm needs rank-2 A and B, found " + dimsToString(a) + " and " + dimsToString(b));
      p.transA = transA_;
      p.transB = transB_;
      p.m = transA_ ? a[1] : a[0];
      p.k = transA_ ? a[0] : a[1];
      p.n = transB_ ? b[0] : b[1];
      const int64_t kb = transB_ ? b[1] : b[0];
      if (kb != p.k) return invalidArgument(where_ + "inner dims differ: A " + dimsToString(a) + ", B " + dimsToString(b));
      if (in.size() > 2 && in[2].present() && beta_ == 1.f) {
        const Dims& c = in[2].dims;
        p.bias = (c.size() == 1 && c[0] == p.n && p.n > 1) || (c.size() == 2 && c[0] == 1 && c[1] == p.n && p.n > 1);
        // Bias is normally a weight: one address per engine, shared by its contexts, so one plan serves them all.
        p.bias = p.bias && in[2].data != nullptr;
        p.biasAddress = p.bias ? reinterpret_cast<uintptr_t>(in[2].data) : 0;
      }
      return p;
    }
    if (a.empty() || b.empty()) return invalidArgument(where_ + "MatMul inputs must have rank >= 1");
    p.k = a.back();
    p.m = a.size() >= 2 ? a[a.size() - 2] : 1;
    p.n = b.size() >= 2 ? b.back() : 1;
    const int64_t kb = b.size() >= 2 ? b[b.size() - 2] : b[0];
    if (kb != p.k) return invalidArgument(where_ + "inner dims differ: A " + dimsToString(a) + ", B " + dimsToString(b));
    const Dims batchA(a.begin(), a.end() - std::min<size_t>(a.size(), 2));
    const Dims batchB(b.begin(), b.end() - std::min<size_t>(b.size(), 2));
    const int64_t countA = elementCount(batchA), countB = elementCount(batchB);
    if (in.size() > 2 && in[2].present()) {  // the fused bias: [N] or [1,N]
      const Dims& c = in[2].dims;
      if (b.size() < 2 || !((c.size() == 1 && c[0] == p.n) || (c.size() == 2 && c[0] == 1 && c[1] == p.n)))
        return invalidArgument(where_ + "bias " + dimsToString(c) + " is not [N] or [1,N] for B " + dimsToString(b));
      // As for Gemm: N = 1 goes through the copy (see the file comment); the pointer is part of the plan's key.
      p.bias = p.n > 1 && in[2].data != nullptr;
      p.biasAddress = p.bias ? reinterpret_cast<uintptr_t>(in[2].data) : 0;
    }
    if (batchB.empty() || countB == 1) {
      // B is one matrix: fold A's batch into M (one large GEMM instead of many small ones).
      p.m *= countA;
      return p;
    }
    // The output's batch dims: y without its matrix dims (a 1-D operand contributes none).
    const size_t matrixDims = (a.size() >= 2 ? 1 : 0) + (b.size() >= 2 ? 1 : 0);
    if (y.size() < matrixDims) return invalidArgument(where_ + "output " + dimsToString(y) + " has too few dims");
    p.batchDims = Dims(y.begin(), y.end() - static_cast<std::ptrdiff_t>(matrixDims));
    const int64_t batch = elementCount(p.batchDims);
    if (elementCount(y) != batch * p.m * p.n || (countA != 1 && batch % countA != 0) || batch % countB != 0)
      return invalidArgument(where_ + "output " + dimsToString(y) + " does not match " + dimsToString(a) + " x " +
                             dimsToString(b));
    if (p.batchDims.size() + 2 > static_cast<size_t>(kMaxRank))
      return unsupported(where_ + "batch broadcast over more than 6 batch dims");
    p.batch = batch;
    p.expandA = countA != 1 && countA != batch;  // A broadcasts over some batch dims but not all
    p.expandB = countB != batch;
    p.strideA = countA == 1 ? 0 : p.m * p.k;
    p.strideB = p.k * p.n;
    p.strideC = p.m * p.n;
    return p;
  }

  /// The memoized plan for `io` (its epilogue filled in). When no algorithm takes the bias epilogue, io.bias is
  /// turned off and the plan without it returned: the caller then adds the bias as C.
  Expected<const Plan*> planFor(Problem& io, DataType dtype) const {
    io.epilogue = epilogueFor(activation_, io.bias);
    KILN_ASSIGN_OR_RETURN(const Plan* plan, planExactly(io, dtype));
    if (plan->noAlgorithm && io.bias) {
      io.bias = false;
      io.biasAddress = 0;
      io.epilogue = epilogueFor(activation_, false);
      KILN_ASSIGN_OR_RETURN(plan, planExactly(io, dtype));
    }
    if (plan->noAlgorithm)
      return unsupported(where_ + "cuBLASLt has no algorithm for M=" + std::to_string(io.m) + " N=" +
                         std::to_string(io.n) + " K=" + std::to_string(io.k) + " batch=" + std::to_string(io.batch) +
                         " " + dataTypeName(dtype) + " epilogue " +
                         epilogueName(static_cast<cublasLtEpilogue_t>(io.epilogue)));
    return plan;
  }

  Expected<const Plan*> planExactly(const Problem& p0, DataType dtype) const {
    Problem p = p0;
    const size_t elem = dataTypeSize(dtype);
    p.alignment = std::min({p.alignment, alignmentOf(static_cast<uint64_t>(p.strideA * elem)),
                            alignmentOf(static_cast<uint64_t>(p.strideB * elem)),
                            alignmentOf(static_cast<uint64_t>(p.strideC * elem))});
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(p.key());
    if (it != plans_.end()) return it->second.get();
    auto plan = std::make_unique<Plan>();
    const cudaDataType_t type = cudaTypeOf(dtype);  // float16/bfloat16 accumulate in float32 (compute below)
    const cublasComputeType_t compute =
        dtype == DataType::kFloat32 && allowTF32_ ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, compute, CUDA_R_32F), where_);
    const cublasOperation_t opA = p.transB ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
    const cublasOperation_t opB = p.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof(opA)), where_);
    KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof(opB)), where_);
    if (p.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
      const cublasLtEpilogue_t epilogue = static_cast<cublasLtEpilogue_t>(p.epilogue);
      KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue,
                                                       sizeof(epilogue)), where_);
    }
    if (p.bias) {
      const void* bias = reinterpret_cast<const void*>(p.biasAddress);
      KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                       sizeof(bias)), where_);
      const int64_t biasBatchStride = 0;  // one bias for every batch (also cuBLASLt's default)
      KILN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE,
                                                       &biasBatchStride, sizeof(biasBatchStride)), where_);
    }
    const uint64_t aRows = static_cast<uint64_t>(p.transB ? p.k : p.n), aCols = static_cast<uint64_t>(p.transB ? p.n : p.k);
    const uint64_t bRows = static_cast<uint64_t>(p.transA ? p.m : p.k), bCols = static_cast<uint64_t>(p.transA ? p.k : p.m);
    KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->a, type, aRows, aCols, static_cast<int64_t>(aRows)), where_);
    KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->b, type, bRows, bCols, static_cast<int64_t>(bRows)), where_);
    KILN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&plan->c, type, static_cast<uint64_t>(p.n), static_cast<uint64_t>(p.m), p.n), where_);
    if (p.batch > 1) {
      const int32_t count = static_cast<int32_t>(p.batch);
      const struct { cublasLtMatrixLayout_t layout; int64_t stride; } batched[3] = {
          {plan->a, p.strideB}, {plan->b, p.strideA}, {plan->c, p.strideC}};
      for (const auto& e : batched) {
        KILN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(e.layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                           sizeof(count)), where_);
        KILN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(e.layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                           &e.stride, sizeof(e.stride)), where_);
      }
    }
    KILN_ASSIGN_OR_RETURN(const auto choice,
                          firstHeuristicAlgorithm(handle_, plan->desc, plan->a, plan->b, plan->c, plan->c,
                                                  kWorkspaceBytes, static_cast<uint32_t>(p.alignment), where_));
    if (choice) {
      plan->algo = choice->algo;
      plan->workspace = choice->workspaceSize;
    } else {
      plan->noAlgorithm = true;
    }
    const Plan* raw = plan.get();
    plans_.emplace(p.key(), std::move(plan));
    return raw;
  }

  std::string where_;
  cublasLtHandle_t handle_;
  bool gemm_;
  bool allowTF32_;
  Activation activation_;
  bool transA_ = false, transB_ = false;
  float alpha_ = 1.f, beta_ = 1.f;
  mutable std::mutex mutex_;  // guards the plan memo only
  mutable std::map<decltype(Problem{}.key()), std::unique_ptr<Plan>> plans_;
};

}  // namespace

Status matmulSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": needs inputs A and B");
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  const DataType t = inputType(graph, node, 0);
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {t}));
  if (!activationOf(node))
    return unsupported(graph.describe(node) + ": fused activation '" + node.attrs.getString("activation", "") +
                       "' is not one cuBLASLt's epilogues apply here (Relu, GeluTanh)");
  if (node.inputs.size() > 3) return invalidModel(graph.describe(node) + ": more than 3 inputs");
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue) {
    KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, {t}));
    // MatMul's fused bias runs along N; a vector B has none (shape inference refuses that form too).
    const ir::Value& b = graph.values[node.inputs[1]];
    if (node.op == OpKind::kMatMul && b.rankKnown && b.dims.size() < 2)
      return unsupported(graph.describe(node) + ": a bias (input 2) needs B of rank >= 2, found " +
                         dimsToString(b.dims));
  }
  return Status::ok();
}

KernelResult makeMatmulKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<MatmulKernel>(ctx, graph, node));
}

}  // namespace kiln::backends::cuda
