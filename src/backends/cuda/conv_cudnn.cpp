// Conv through cuDNN's legacy API: one plan (descriptors + algorithm) per input shape, made at workspaceBytes() time
// (setInputShape) and memoized under a mutex; run() borrows the stream's cuDNN handle from the backend's pool. Bias
// is added with cudnnAddTensor, or fused together with Relu (and an optional residual z, input 3) through
// cudnnConvolutionBiasActivationForward when the node carries the kiln attribute activation="Relu" (set by a fusion
// pass). Layout: NCHW with OIHW weights, or, with data_format="NHWC" (set by the layout pass, rank 4 only), X/Y/Z in
// NHWC and weights pre-transposed to KRSC. The algorithm comes from a tactic "cudnn:algo=A:mathtype=M" that
// chooseConvTactic timed at the profile's opt shape, or from cuDNN's heuristics when there is none or it does not
// apply at a shape. Asymmetric pads (explicit or SAME_* with even kernels): X is zero-padded by the asymmetric
// extra into the front of the workspace and cuDNN pads the symmetric remainder. bfloat16 convs (FP32 accumulation)
// add bias, residual and Relu with kiln's own epilogue kernel after cudnnConvolutionForward (activation_in_place.h):
// cuDNN's fused and tensor-add calls are not documented for that type.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <climits>
#include <mutex>
#include <optional>
#include <set>

#include "backends/cuda/activation_in_place.h"
#include "backends/cuda/conv_cudnn.h"
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/cudnn_descriptor.h"
#include "backends/cuda/data_movement.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

constexpr size_t kMaxConvWorkspace = size_t{256} << 20;

const char* algoName(cudnnConvolutionFwdAlgo_t algo) {
  switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "UNKNOWN";
  }
}

/// An algorithm and math type, as recorded in the engine file: "cudnn:algo=1:mathtype=1".
struct ConvTactic {
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

std::string formatTactic(const ConvTactic& t) {
  return "cudnn:algo=" + std::to_string(static_cast<int>(t.algo)) + ":mathtype=" + std::to_string(static_cast<int>(t.math));
}

/// The tactic in `text`, or nothing when it is empty, malformed or names an unknown algorithm or math type
/// (an engine from another kiln version must not crash this one: the kernel falls back to heuristics).
std::optional<ConvTactic> parseTactic(const std::string& text) {
  const std::string algoKey = "cudnn:algo=", mathKey = ":mathtype=";
  if (text.rfind(algoKey, 0) != 0) return std::nullopt;
  const char* p = text.data() + algoKey.size();
  const char* end = text.data() + text.size();
  int algo = -1, math = -1;
  auto r = std::from_chars(p, end, algo);
  if (r.ec != std::errc() || static_cast<size_t>(end - r.ptr) < mathKey.size() ||
      std::string(r.ptr, mathKey.size()) != mathKey)
    return std::nullopt;
  auto m = std::from_chars(r.ptr + mathKey.size(), end, math);
  if (m.ec != std::errc() || m.ptr != end) return std::nullopt;
  if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT) return std::nullopt;
  if (math != CUDNN_DEFAULT_MATH && math != CUDNN_TENSOR_OP_MATH && math != CUDNN_FMA_MATH) return std::nullopt;
  return ConvTactic{static_cast<cudnnConvolutionFwdAlgo_t>(algo), static_cast<cudnnMathType_t>(math)};
}

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t activation = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;  // cuDNN's, after the padded copy of X (if any)
  // Asymmetric pads: X is copied with the asymmetric extra zeros into the front of the workspace (memory layout
  // dims and the zeros before each dim), and cuDNN pads the symmetric remainder itself.
  bool padX = false;
  Dims paddedDims, padBefore;
  size_t paddedBytes = 0;  // rounded up to 256 so that cuDNN's workspace stays aligned
  bool tuned = false;  // the algorithm came from the node's tactic
  int64_t channels = 1, inner = 1, count = 0;  // Y's channels, elements per channel plane (NCHW), elements
  // cuDNN refused the fused call at this shape: run() does conv, bias, residual and Relu as separate cuDNN calls.
  mutable std::atomic<bool> splitEpilogue{false};
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (bias) cudnnDestroyTensorDescriptor(bias);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (activation) cudnnDestroyActivationDescriptor(activation);
  }
};

Status setTensor(cudnnTensorDescriptor_t d, cudnnDataType_t type, const std::vector<int>& dims, const std::string& where) {
  std::vector<int> strides(dims.size(), 1);
  for (size_t k = dims.size() - 1; k-- > 0;) strides[k] = strides[k + 1] * dims[k + 1];
  KILN_CUDNN_CHECK(cudnnSetTensorNdDescriptor(d, type, static_cast<int>(dims.size()), dims.data(), strides.data()), where);
  return Status::ok();
}

/// [N, H, W, C] (or KRSC weights) as cuDNN's logical [N, C, H, W] order.
Dims channelsFirst(const Dims& d) { return d.size() == 4 ? Dims{d[0], d[3], d[1], d[2]} : d; }

/// Scratch device memory for tuning, freed on every path out.
class ScratchBuffers {
 public:
  ScratchBuffers() = default;
  ScratchBuffers(const ScratchBuffers&) = delete;
  ScratchBuffers& operator=(const ScratchBuffers&) = delete;
  ~ScratchBuffers() {
    for (void* p : owned_) cudaFree(p);
  }
  /// nullptr when the device is out of memory (the error is cleared so the build goes on).
  void* allocate(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, std::max<size_t>(bytes, 256)) != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    owned_.push_back(p);
    if (cudaMemset(p, 0, std::max<size_t>(bytes, 256)) != cudaSuccess) (void)cudaGetLastError();
    return p;
  }

 private:
  std::vector<void*> owned_;
};

class CudaEvents {
 public:
  CudaEvents() {
    ok_ = cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess;
  }
  ~CudaEvents() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
  CudaEvents(const CudaEvents&) = delete;
  CudaEvents& operator=(const CudaEvents&) = delete;
  bool ok() const { return ok_; }
  cudaEvent_t start = nullptr, stop = nullptr;

 private:
  bool ok_ = false;
};

class ConvKernel final : public Kernel {
 public:
  ConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node, const std::string& tactic)
      : where_(graph.describe(node) + ": "), pool_(ctx.cudnn), allowTF32_(ctx.options.allowTF32) {
    const auto& at = node.attrs;
    strides_ = at.getInts("strides");
    pads_ = at.getInts("pads");
    dilations_ = at.getInts("dilations");
    group_ = at.getInt("group", 1);
    autoPad_ = at.getString("auto_pad", "NOTSET");
    nhwc_ = at.getString("data_format", "NCHW") == "NHWC";
    fuseRelu_ = at.getString("activation", "") == "Relu";
    fuseResidual_ = node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue;
    residualOnly_ = at.getString("activation", "") == "Identity" && fuseResidual_;
    ownEpilogue_ = inputType(graph, node, 0) == DataType::kBFloat16;
    tactic_ = parseTactic(tactic);
  }

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    auto plan = planFor(in, out);
    return plan.hasValue() ? (*plan)->paddedBytes + (*plan)->workspace : 0;
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    if (out[0].elementCount() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(const ConvPlan* plan, planFor(in, out));
    if (plan->paddedBytes + plan->workspace > 0 && !workspace)
      return internalError(where_ + "no workspace given; workspaceBytes() asked for " +
                           std::to_string(plan->paddedBytes + plan->workspace));
    const void* x = in[0].data;
    void* cudnnWorkspace = workspace;
    if (plan->padX) {
      KILN_RETURN_IF_ERROR(padInput(*plan, in[0], workspace, s));
      x = workspace;
      cudnnWorkspace = plan->workspace ? static_cast<char*>(workspace) + plan->paddedBytes : nullptr;
    }
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(s, where_));
    const bool hasBias = in.size() > 2 && in[2].present();
    const bool hasResidual = in.size() > 3 && in[3].present();
    const cudnnStatus_t status =
        enqueue(lease.handle(), s, *plan, plan->algo, x, in[1].data, hasBias ? in[2].data : nullptr,
                hasResidual ? in[3].data : nullptr, out[0].data, cudnnWorkspace, plan->workspace, /*maySplit=*/true);
    if (status != CUDNN_STATUS_SUCCESS)
      return fromCudnn(status, fuseRelu_ ? "cudnnConvolutionBiasActivationForward" : "cudnnConvolutionForward",
                       where_ + "algorithm " + algoName(plan->algo) + ": ");
    return Status::ok();
  }

  std::string tactic() const override {
    std::string text = fuseRelu_ ? (fuseResidual_ ? "cudnn:conv+bias+add+relu" : "cudnn:conv+bias+relu")
                                 : residualOnly_ ? "cudnn:conv+bias+add" : "cudnn:conv";
    if (nhwc_) text += " nhwc";
    if (ownEpilogue_) text += " (epilogue: kiln kernel)";
    std::set<std::string> used;
    bool anyTuned = false, anySplit = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [dims, plan] : plans_) {
        used.insert(algoName(plan->algo));
        anyTuned = anyTuned || plan->tuned;
        anySplit = anySplit || plan->splitEpilogue.load(std::memory_order_relaxed);
      }
    }
    if (used.empty()) return text + " algo=" + (tactic_ ? std::string(algoName(tactic_->algo)) + " (tuned)" : "heuristic");
    std::string names;
    for (const auto& n : used) names += (names.empty() ? "" : "/") + n;
    return text + " algo=" + names + (anyTuned ? " (tuned)" : "") +
           (anySplit ? " (epilogue split: cuDNN refused fusion)" : "");
  }

  /// Times every algorithm cuDNN offers for these shapes through the very call run() makes, on scratch buffers;
  /// returns the fastest as a tactic, or "" when none could be timed (out of memory, nothing ran).
  Expected<std::string> tune(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    if (in.size() < 2 || out.empty()) return invalidArgument(where_ + "tuning needs X, W and Y");
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ConvPlan> plan, describe(in, out));
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(nullptr, where_));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT * 4];
    int found = 0;
    KILN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(lease.handle(), plan->x, plan->w, plan->conv, plan->y,
                                                            static_cast<int>(std::size(perf)), &found, perf),
                     where_);
    struct Candidate {
      ConvTactic tactic;
      size_t workspace;
    };
    std::vector<Candidate> candidates;
    size_t maxWorkspace = 0;
    for (int i = 0; i < found; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || !mathAllowed(in[0].dtype, perf[i].mathType)) continue;
      const ConvTactic t{perf[i].algo, perf[i].mathType};
      if (std::any_of(candidates.begin(), candidates.end(),
                      [&](const Candidate& c) { return c.tactic.algo == t.algo && c.tactic.math == t.math; }))
        continue;
      size_t bytes = 0;
      if (cudnnSetConvolutionMathType(plan->conv, t.math) != CUDNN_STATUS_SUCCESS ||
          cudnnGetConvolutionForwardWorkspaceSize(lease.handle(), plan->x, plan->w, plan->conv, plan->y, t.algo,
                                                  &bytes) != CUDNN_STATUS_SUCCESS ||
          bytes > kMaxConvWorkspace)
        continue;
      candidates.push_back({t, bytes});
      maxWorkspace = std::max(maxWorkspace, bytes);
    }
    if (candidates.empty()) return std::string();
    const size_t elementBytes = dataTypeSize(in[0].dtype);
    const auto bytesOf = [&](const DeviceTensor& t) { return static_cast<size_t>(t.elementCount()) * elementBytes; };
    ScratchBuffers scratch;
    void* x = scratch.allocate(plan->padX ? plan->paddedBytes : bytesOf(in[0]));  // cuDNN reads the padded X
    void* w = scratch.allocate(bytesOf(in[1]));
    void* y = scratch.allocate(bytesOf(out[0]));
    const bool hasBias = in.size() > 2 && in[2].present();
    const bool hasResidual = in.size() > 3 && in[3].present();
    void* bias = hasBias ? scratch.allocate(bytesOf(in[2])) : nullptr;
    void* z = hasResidual ? scratch.allocate(bytesOf(out[0])) : nullptr;
    void* workspace = maxWorkspace ? scratch.allocate(maxWorkspace) : nullptr;
    if (!x || !w || !y || (hasBias && !bias) || (hasResidual && !z) || (maxWorkspace && !workspace))
      return std::string();  // out of memory: the kernel uses heuristics
    CudaEvents events;
    if (!events.ok()) {
      (void)cudaGetLastError();
      return std::string();
    }
    constexpr int kWarmUp = 2, kTimed = 7, kClockWarmUp = 10;
    // Let the GPU reach its clocks first: otherwise the first candidate (cuDNN's own favourite) is timed slow.
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, candidates[0].tactic.math), where_);
    for (int i = 0; i < kClockWarmUp; ++i)
      (void)enqueue(lease.handle(), nullptr, *plan, candidates[0].tactic.algo, x, w, bias, z, y, workspace,
                    candidates[0].workspace, false);
    float best = INFINITY;
    std::optional<ConvTactic> winner;
    for (const Candidate& c : candidates) {
      KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, c.tactic.math), where_);
      bool failed = false;
      for (int i = 0; i < kWarmUp && !failed; ++i)
        failed = enqueue(lease.handle(), nullptr, *plan, c.tactic.algo, x, w, bias, z, y, workspace, c.workspace,
                         false) != CUDNN_STATUS_SUCCESS;
      if (failed) continue;  // cuDNN refuses this algorithm on the fused path or at this shape
      std::vector<float> times;
      for (int i = 0; i < kTimed && !failed; ++i) {
        KILN_CUDA_CHECK(cudaEventRecord(events.start, nullptr), where_);
        failed = enqueue(lease.handle(), nullptr, *plan, c.tactic.algo, x, w, bias, z, y, workspace, c.workspace,
                         false) != CUDNN_STATUS_SUCCESS;
        KILN_CUDA_CHECK(cudaEventRecord(events.stop, nullptr), where_);
        KILN_CUDA_CHECK(cudaEventSynchronize(events.stop), where_ + "timing " + algoName(c.tactic.algo) + ": ");
        float ms = 0.f;
        KILN_CUDA_CHECK(cudaEventElapsedTime(&ms, events.start, events.stop), where_);
        times.push_back(ms);
      }
      if (failed) continue;
      std::nth_element(times.begin(), times.begin() + kTimed / 2, times.end());
      const float median = times[kTimed / 2];
      if (median < best) {
        best = median;
        winner = c.tactic;
      }
    }
    KILN_CUDA_CHECK(cudaDeviceSynchronize(), where_ + "after tuning: ");
    return winner ? formatTactic(*winner) : std::string();
  }

 private:
  /// Copies X into the front of the workspace with the plan's asymmetric extra zeros.
  Status padInput(const ConvPlan& plan, const DeviceTensor& x, void* workspace, cudaStream_t s) const {
    PadArgs a;
    a.rank = static_cast<int32_t>(x.dims.size());
    const auto strides = contiguousStrides(x.dims);
    a.count = 1;
    for (size_t k = 0; k < x.dims.size(); ++k) {
      a.inDims[k] = x.dims[k];
      a.inStrides[k] = strides[k];
      a.outDims[k] = plan.paddedDims[k];
      a.padBegin[k] = plan.padBefore[k];
      a.count *= plan.paddedDims[k];
    }
    a.mode = PadMode::kConstant;
    a.src = x.data;
    a.dst = workspace;
    KILN_CUDA_CHECK(launchPad(a, dataTypeSize(x.dtype), s), where_ + "padding X: ");
    return Status::ok();
  }

  /// Strict FP32 (TF32 not allowed) only takes FMA math; float16 and bfloat16 take any.
  bool mathAllowed(DataType dtype, cudnnMathType_t math) const {
    if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;  // may down-convert FP32 data to FP16
    return dtype == DataType::kFloat16 || dtype == DataType::kBFloat16 || allowTF32_ || math == CUDNN_FMA_MATH;
  }

  /// The call run() makes: conv (+ bias through cudnnAddTensor), or the fused y = relu(conv(x, w) + z + bias).
  /// Without a residual z aliases y and is ignored because alpha2 is 0. When cuDNN refuses the fused call at this
  /// shape and `maySplit`, the plan remembers it and the epilogue runs as separate calls (same result, more traffic);
  /// tuning passes false so that it times only what cuDNN fuses. With ownEpilogue_ (bfloat16), the conv writes y and
  /// kiln's kernel adds bias and residual and applies Relu, on `stream` (the handle's).
  cudnnStatus_t enqueue(cudnnHandle_t handle, cudaStream_t stream, const ConvPlan& plan, cudnnConvolutionFwdAlgo_t algo,
                        const void* x, const void* w, const void* bias, const void* z, void* y, void* workspace,
                        size_t workspaceBytes, bool maySplit) const {
    const float one = 1.f, zero = 0.f;
    if (ownEpilogue_) {
      const cudnnStatus_t status = cudnnConvolutionForward(handle, &one, plan.x, x, plan.w, w, plan.conv, algo,
                                                           workspace, workspaceBytes, &zero, plan.y, y);
      if (status != CUDNN_STATUS_SUCCESS || (!bias && !z && !fuseRelu_)) return status;
      ConvEpilogueArgs e;
      e.y = y;
      e.bias = bias;
      e.z = fuseRelu_ || residualOnly_ ? z : nullptr;  // a residual comes with Relu or alone ("Identity")
      e.count = plan.count;
      e.channels = plan.channels;
      e.inner = plan.inner;
      e.channelsLast = nhwc_;
      e.activation.present = fuseRelu_;
      e.activation.op = ops::FusedOpcode::kRelu;
      return launchConvEpilogue(e, DataType::kBFloat16, stream) == cudaSuccess ? CUDNN_STATUS_SUCCESS
                                                                              : CUDNN_STATUS_EXECUTION_FAILED;
    }
    if (fuseRelu_ && !plan.splitEpilogue.load(std::memory_order_relaxed)) {
      const cudnnStatus_t fused = cudnnConvolutionBiasActivationForward(
          handle, &one, plan.x, x, plan.w, w, plan.conv, algo, workspace, workspaceBytes, z ? &one : &zero, plan.y,
          z ? z : y, plan.bias, bias, plan.activation, plan.y, y);
      const bool refused = fused / 1000 == CUDNN_STATUS_NOT_SUPPORTED / 1000;  // cuDNN 9 sub-codes 3001...
      // A residual sharing y's memory would be overwritten by the unfused conv before it is added.
      if (!refused || !maySplit || (z && z == y)) return fused;
      plan.splitEpilogue.store(true, std::memory_order_relaxed);
    }
    // A residual alone ("Identity"): y = conv + z; when z shares y's memory, the conv accumulates onto it (beta 1).
    const bool accumulate = residualOnly_ && z == y;
    cudnnStatus_t status = cudnnConvolutionForward(handle, &one, plan.x, x, plan.w, w, plan.conv, algo, workspace,
                                                   workspaceBytes, accumulate ? &one : &zero, plan.y, y);
    if (status == CUDNN_STATUS_SUCCESS && bias) status = cudnnAddTensor(handle, &one, plan.bias, bias, &one, plan.y, y);
    if (residualOnly_) {
      if (status == CUDNN_STATUS_SUCCESS && z && !accumulate)
        status = cudnnAddTensor(handle, &one, plan.y, z, &one, plan.y, y);
      return status;
    }
    if (!fuseRelu_) return status;
    if (status == CUDNN_STATUS_SUCCESS && z) status = cudnnAddTensor(handle, &one, plan.y, z, &one, plan.y, y);
    if (status == CUDNN_STATUS_SUCCESS)
      status = cudnnActivationForward(handle, plan.activation, &one, plan.y, y, &zero, plan.y, y);
    return status;
  }

  /// Descriptors for these shapes, with no algorithm chosen yet.
  Expected<std::unique_ptr<ConvPlan>> describe(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    if (nhwc_ && (in[0].dims.size() != 4 || in[1].dims.size() != 4 || out[0].dims.size() != 4))
      return invalidArgument(where_ + "data_format NHWC needs X, W and Y of rank 4, found " + dimsToString(in[0].dims) +
                             ", " + dimsToString(in[1].dims) + ", " + dimsToString(out[0].dims));
    // From here on dims are in cuDNN's logical order: X [N, C, spatial...], W [K, C/group, spatial...].
    const Dims xd = nhwc_ ? channelsFirst(in[0].dims) : in[0].dims;
    const Dims wd = nhwc_ ? channelsFirst(in[1].dims) : in[1].dims;
    const Dims yd = nhwc_ ? channelsFirst(out[0].dims) : out[0].dims;
    if (xd.size() < 3 || xd.size() > 5 || wd.size() != xd.size() || yd.size() != xd.size())
      return invalidArgument(where_ + "expected X, W and Y of rank 3 to 5, found " + dimsToString(in[0].dims) + ", " +
                             dimsToString(in[1].dims) + ", " + dimsToString(out[0].dims));
    for (const Dims* d : {&xd, &wd, &yd})
      for (int64_t v : *d)
        if (v > INT_MAX)
          return unsupported(where_ + "dim " + std::to_string(v) + " exceeds cuDNN's 32-bit dims");
    const size_t spatial = xd.size() - 2;
    // cuDNN wants at least 2 spatial dims: a 1-D convolution becomes 2-D with a trailing extent of 1.
    const size_t cudnnSpatial = std::max<size_t>(spatial, 2);
    std::vector<int> pads(cudnnSpatial, 0), strides(cudnnSpatial, 1), dilations(cudnnSpatial, 1);
    Dims paddedDims = in[0].dims, padBefore(in[0].dims.size(), 0);  // memory layout order
    bool padX = false;
    std::vector<int> xdims(cudnnSpatial + 2, 1), wdims(cudnnSpatial + 2, 1), ydims(cudnnSpatial + 2, 1);
    for (size_t k = 0; k < xd.size(); ++k) {
      xdims[k] = static_cast<int>(xd[k]);
      wdims[k] = static_cast<int>(wd[k]);
      ydims[k] = static_cast<int>(yd[k]);
    }
    for (size_t k = 0; k < spatial; ++k) {
      strides[k] = static_cast<int>(k < strides_.size() ? strides_[k] : 1);
      dilations[k] = static_cast<int>(k < dilations_.size() ? dilations_[k] : 1);
      int64_t begin = 0, end = 0;
      if (autoPad_ == "SAME_UPPER" || autoPad_ == "SAME_LOWER") {
        const int64_t total = std::max<int64_t>(
            0, (yd[k + 2] - 1) * strides[k] + (wd[k + 2] - 1) * dilations[k] + 1 - xd[k + 2]);
        begin = autoPad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
        end = total - begin;
      } else if (autoPad_ == "NOTSET" && pads_.size() == 2 * spatial) {
        begin = pads_[k];
        end = pads_[k + spatial];
      }
      if (begin < 0 || end < 0)
        return invalidArgument(where_ + "negative pads (" + std::to_string(begin) + " before, " + std::to_string(end) +
                               " after) on spatial dim " + std::to_string(k));
      // cuDNN pads symmetrically: the asymmetric extra goes into an explicitly padded copy of X.
      const int64_t symmetric = std::min(begin, end);
      if (begin != end) {
        const size_t memoryDim = nhwc_ ? k + 1 : k + 2;
        padBefore[memoryDim] = begin - symmetric;
        paddedDims[memoryDim] += (begin - symmetric) + (end - symmetric);
        xdims[k + 2] += static_cast<int>((begin - symmetric) + (end - symmetric));
        padX = true;
      }
      pads[k] = static_cast<int>(symmetric);
    }
    const auto cudnnType = cudnnTypeOf(in[0].dtype);
    if (!cudnnType) return unsupported(where_ + "data of type " + std::string(dataTypeName(in[0].dtype)));
    const cudnnDataType_t type = *cudnnType;
    auto plan = std::make_unique<ConvPlan>();
    plan->channels = yd[1];
    plan->count = elementCount(yd);
    for (size_t k = 2; k < yd.size(); ++k) plan->inner *= yd[k];
    if (padX) {
      int64_t count = 1;
      for (int64_t d : paddedDims) count *= d;
      for (int64_t d : paddedDims)
        if (d > INT_MAX) return unsupported(where_ + "padded X " + dimsToString(paddedDims) + " exceeds cuDNN's 32-bit dims");
      plan->padX = true;
      plan->paddedDims = paddedDims;
      plan->padBefore = padBefore;
      plan->paddedBytes = (static_cast<size_t>(count) * dataTypeSize(in[0].dtype) + 255) / 256 * 256;
    }
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x), where_);
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y), where_);
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->bias), where_);
    KILN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w), where_);
    KILN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv), where_);
    if (nhwc_) {
      KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NHWC, type, xdims[0], xdims[1], xdims[2], xdims[3]),
                       where_);
      KILN_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NHWC, type, ydims[0], ydims[1], ydims[2], ydims[3]),
                       where_);
      KILN_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, type, CUDNN_TENSOR_NHWC, wdims[0], wdims[1], wdims[2], wdims[3]),
                       where_);
    } else {
      KILN_RETURN_IF_ERROR(setTensor(plan->x, type, xdims, where_));
      KILN_RETURN_IF_ERROR(setTensor(plan->y, type, ydims, where_));
      KILN_CUDNN_CHECK(cudnnSetFilterNdDescriptor(plan->w, type, CUDNN_TENSOR_NCHW, static_cast<int>(wdims.size()),
                                                  wdims.data()), where_);
    }
    std::vector<int> biasDims(cudnnSpatial + 2, 1);  // 1 x K x 1 x 1: the same bytes in either layout
    biasDims[1] = ydims[1];
    KILN_RETURN_IF_ERROR(setTensor(plan->bias, type, biasDims, where_));
    KILN_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(plan->conv, static_cast<int>(cudnnSpatial), pads.data(),
                                                     strides.data(), dilations.data(), CUDNN_CROSS_CORRELATION,
                                                     CUDNN_DATA_FLOAT),
                     where_);
    KILN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, static_cast<int>(group_)), where_);
    // FP16 and BF16 use tensor cores; FP32 may use TF32 only when allowed (CUDNN_DEFAULT_MATH permits TF32 on sm_80+,
    // CUDNN_FMA_MATH keeps it strict). ALLOW_CONVERSION is avoided: it may down-convert FP32 data to FP16.
    const cudnnMathType_t math =
        type != CUDNN_DATA_FLOAT ? CUDNN_TENSOR_OP_MATH : (allowTF32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, math), where_);
    std::vector<int> expected(cudnnSpatial + 2);
    KILN_CUDNN_CHECK(cudnnGetConvolutionNdForwardOutputDim(plan->conv, plan->x, plan->w,
                                                           static_cast<int>(expected.size()), expected.data()), where_);
    if (expected != ydims)
      return invalidArgument(where_ + "output dims " + dimsToString(out[0].dims) + " do not match the convolution of " +
                             dimsToString(in[0].dims) + " by " + dimsToString(in[1].dims) +
                             (nhwc_ ? " (NHWC, KRSC weights)" : ""));
    if (fuseRelu_ && !ownEpilogue_) {
      KILN_CUDNN_CHECK(cudnnCreateActivationDescriptor(&plan->activation), where_);
      KILN_CUDNN_CHECK(cudnnSetActivationDescriptor(plan->activation, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                       where_);
    }
    return plan;
  }

  /// Takes the node's tactic when cuDNN offers it at this shape within the workspace limit; otherwise the first
  /// algorithm of cuDNN's heuristic ranking that fits, preferring tensor-core math for float16 and bfloat16.
  Status chooseAlgorithm(ConvPlan& plan, DataType dtype, cudnnHandle_t handle, const std::string& shapes) const {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT * 4];
    int found = 0;
    KILN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan.x, plan.w, plan.conv, plan.y,
                                                            static_cast<int>(std::size(perf)), &found, perf),
                     where_);
    if (tactic_ && mathAllowed(dtype, tactic_->math)) {
      const bool offered = std::any_of(perf, perf + found, [&](const cudnnConvolutionFwdAlgoPerf_t& p) {
        return p.algo == tactic_->algo && p.status == CUDNN_STATUS_SUCCESS;
      });
      size_t bytes = 0;
      if (offered && cudnnSetConvolutionMathType(plan.conv, tactic_->math) == CUDNN_STATUS_SUCCESS &&
          cudnnGetConvolutionForwardWorkspaceSize(handle, plan.x, plan.w, plan.conv, plan.y, tactic_->algo, &bytes) ==
              CUDNN_STATUS_SUCCESS &&
          bytes <= kMaxConvWorkspace) {
        plan.algo = tactic_->algo;
        plan.workspace = bytes;
        plan.tuned = true;
        return Status::ok();
      }
    }
    const auto fits = [&](const cudnnConvolutionFwdAlgoPerf_t& p) {
      return p.status == CUDNN_STATUS_SUCCESS && p.memory <= kMaxConvWorkspace && mathAllowed(dtype, p.mathType);
    };
    // Untuned, take a GEMM-based algorithm first: FFT and Winograd transforms lose precision (and can overflow) in
    // reduced-precision arithmetic, and an untuned choice gets no answer check.
    const auto gemmBased = [](cudnnConvolutionFwdAlgo_t a) {
      return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
             a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
    };
    int chosen = -1;
    if (dtype == DataType::kFloat16 || dtype == DataType::kBFloat16)
      for (int i = 0; i < found && chosen < 0; ++i)
        if (fits(perf[i]) && perf[i].mathType == CUDNN_TENSOR_OP_MATH && gemmBased(perf[i].algo)) chosen = i;
    for (int i = 0; i < found && chosen < 0; ++i)
      if (fits(perf[i]) && gemmBased(perf[i].algo)) chosen = i;
    for (int i = 0; i < found && chosen < 0; ++i)
      if (fits(perf[i])) chosen = i;
    if (chosen < 0) return unsupported(where_ + "cuDNN offers no algorithm for " + shapes);
    plan.algo = perf[chosen].algo;
    plan.workspace = perf[chosen].memory;
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, perf[chosen].mathType), where_);
    size_t exact = 0;  // the size for the chosen algorithm and math type, in case it differs from the estimate
    KILN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, plan.x, plan.w, plan.conv, plan.y, plan.algo, &exact),
                     where_);
    plan.workspace = std::max(plan.workspace, exact);
    return Status::ok();
  }

  Expected<const ConvPlan*> planFor(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    const Dims key = [&] {
      Dims k = in[0].dims;
      k.insert(k.end(), in[1].dims.begin(), in[1].dims.end());
      return k;
    }();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second.get();
    }
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<ConvPlan> plan, describe(in, out));
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(nullptr, where_));
    KILN_RETURN_IF_ERROR(
        chooseAlgorithm(*plan, in[0].dtype, lease.handle(), dimsToString(in[0].dims) + " * " + dimsToString(in[1].dims)));
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = plans_.emplace(key, std::move(plan));
    return it->second.get();
  }

  std::string where_;
  CudnnPool* pool_;
  bool allowTF32_;
  std::vector<int64_t> strides_, pads_, dilations_;
  int64_t group_ = 1;
  std::string autoPad_;
  bool nhwc_ = false;
  bool fuseRelu_ = false;
  bool fuseResidual_ = false;
  bool residualOnly_ = false;  // activation "Identity": bias and residual, no activation
  bool ownEpilogue_ = false;  // bfloat16: bias, residual and Relu by kiln's kernel (see enqueue)
  std::optional<ConvTactic> tactic_;
  mutable std::mutex mutex_;  // guards the plan memo only
  mutable std::map<Dims, std::unique_ptr<ConvPlan>> plans_;
};

}  // namespace

std::unique_ptr<Kernel> makeLegacyConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                             const std::string& tactic) {
  return std::make_unique<ConvKernel>(ctx, graph, node, tactic);
}

Expected<std::string> tuneLegacyConv(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                     std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs) {
  const ConvKernel legacy(ctx, graph, node, "");
  return legacy.tune(inputs, outputs);
}

}  // namespace kiln::backends::cuda
