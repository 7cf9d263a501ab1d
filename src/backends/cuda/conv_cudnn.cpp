// Conv through cuDNN's legacy API: one plan (descriptors + algorithm from cudnnGetConvolutionForwardAlgorithm_v7)
// per input shape, made at workspaceBytes() time (setInputShape) and memoized under a mutex; run() borrows the
// stream's cuDNN handle from the backend's pool. Bias is added with cudnnAddTensor, or fused together with Relu
// through cudnnConvolutionBiasActivationForward when the node carries the kiln attribute activation="Relu" (set by a
// fusion pass). Weights are used as the runtime uploads them (OIHW, the node's dtype).
#include <algorithm>
#include <mutex>

#include "backends/cuda/cuda_common.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

constexpr size_t kMaxConvWorkspace = size_t{256} << 20;

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t activation = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
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

class ConvKernel final : public Kernel {
 public:
  ConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), pool_(ctx.cudnn), allowTF32_(ctx.options.allowTF32) {
    const auto& at = node.attrs;
    strides_ = at.getInts("strides");
    pads_ = at.getInts("pads");
    dilations_ = at.getInts("dilations");
    group_ = at.getInt("group", 1);
    autoPad_ = at.getString("auto_pad", "NOTSET");
    fuseRelu_ = at.getString("activation", "") == "Relu";
    fuseResidual_ = node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue;
  }

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    auto plan = planFor(in, out);
    return plan.hasValue() ? (*plan)->workspace : 0;
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    if (out[0].elementCount() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(const ConvPlan* plan, planFor(in, out));
    if (plan->workspace > 0 && !workspace)
      return internalError(where_ + "no workspace given; workspaceBytes() asked for " + std::to_string(plan->workspace));
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(s, where_));
    const float one = 1.f, zero = 0.f;
    const bool hasBias = in.size() > 2 && in[2].present();
    if (fuseRelu_) {
      // y = relu(conv(x, w) + alpha2 * z + bias). With a fused residual z is input 3 (same shape as y);
      // without one z aliases y and is ignored because alpha2 is 0.
      const bool hasResidual = in.size() > 3 && in[3].present();
      KILN_CUDNN_CHECK(cudnnConvolutionBiasActivationForward(
                           lease.handle(), &one, plan->x, in[0].data, plan->w, in[1].data, plan->conv, plan->algo,
                           workspace, plan->workspace, hasResidual ? &one : &zero, plan->y,
                           hasResidual ? in[3].data : out[0].data, plan->bias, hasBias ? in[2].data : zeroBias_,
                           plan->activation, plan->y, out[0].data),
                       where_);
      return Status::ok();
    }
    KILN_CUDNN_CHECK(cudnnConvolutionForward(lease.handle(), &one, plan->x, in[0].data, plan->w, in[1].data,
                                             plan->conv, plan->algo, workspace, plan->workspace, &zero, plan->y,
                                             out[0].data),
                     where_);
    if (hasBias)
      KILN_CUDNN_CHECK(cudnnAddTensor(lease.handle(), &one, plan->bias, in[2].data, &one, plan->y, out[0].data), where_);
    return Status::ok();
  }

  std::string tactic() const override {
    return fuseRelu_ ? (fuseResidual_ ? "cudnn:conv+bias+add+relu" : "cudnn:conv+bias+relu") : "cudnn:conv";
  }

 private:
  Expected<const ConvPlan*> planFor(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    const Dims& xd = in[0].dims;
    const Dims& wd = in[1].dims;
    const Dims& yd = out[0].dims;
    const Dims key = [&] {
      Dims k = xd;
      k.insert(k.end(), wd.begin(), wd.end());
      return k;
    }();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second.get();
    }
    if (xd.size() < 3 || xd.size() > 5 || wd.size() != xd.size() || yd.size() != xd.size())
      return invalidArgument(where_ + "expected X, W and Y of rank 3 to 5, found " + dimsToString(xd) + ", " +
                             dimsToString(wd) + ", " + dimsToString(yd));
    const size_t spatial = xd.size() - 2;
    // cuDNN wants at least 2 spatial dims: a 1-D convolution becomes 2-D with a trailing extent of 1.
    const size_t cudnnSpatial = std::max<size_t>(spatial, 2);
    std::vector<int> pads(cudnnSpatial, 0), strides(cudnnSpatial, 1), dilations(cudnnSpatial, 1);
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
      if (begin != end)
        return unsupported(where_ + "asymmetric padding (" + std::to_string(begin) + " before, " + std::to_string(end) +
                           " after, spatial dim " + std::to_string(k) + ") is not supported by the cuDNN kernel yet");
      pads[k] = static_cast<int>(begin);
    }
    const cudnnDataType_t type = in[0].dtype == DataType::kFloat16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    auto plan = std::make_unique<ConvPlan>();
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x), where_);
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y), where_);
    KILN_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->bias), where_);
    KILN_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w), where_);
    KILN_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv), where_);
    KILN_RETURN_IF_ERROR(setTensor(plan->x, type, xdims, where_));
    KILN_RETURN_IF_ERROR(setTensor(plan->y, type, ydims, where_));
    std::vector<int> biasDims(cudnnSpatial + 2, 1);
    biasDims[1] = ydims[1];
    KILN_RETURN_IF_ERROR(setTensor(plan->bias, type, biasDims, where_));
    KILN_CUDNN_CHECK(cudnnSetFilterNdDescriptor(plan->w, type, CUDNN_TENSOR_NCHW, static_cast<int>(wdims.size()),
                                                wdims.data()), where_);
    KILN_CUDNN_CHECK(cudnnSetConvolutionNdDescriptor(plan->conv, static_cast<int>(cudnnSpatial), pads.data(),
                                                     strides.data(), dilations.data(), CUDNN_CROSS_CORRELATION,
                                                     CUDNN_DATA_FLOAT),
                     where_);
    KILN_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, static_cast<int>(group_)), where_);
    // FP16 uses tensor cores; FP32 may use TF32 only when allowed (CUDNN_DEFAULT_MATH permits TF32 on sm_80+,
    // CUDNN_FMA_MATH keeps it strict). ALLOW_CONVERSION is avoided: it may down-convert FP32 data to FP16.
    const cudnnMathType_t math =
        type == CUDNN_DATA_HALF ? CUDNN_TENSOR_OP_MATH : (allowTF32_ ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
    KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, math), where_);
    std::vector<int> expected(cudnnSpatial + 2);
    KILN_CUDNN_CHECK(cudnnGetConvolutionNdForwardOutputDim(plan->conv, plan->x, plan->w,
                                                           static_cast<int>(expected.size()), expected.data()), where_);
    if (expected != ydims)
      return invalidArgument(where_ + "output dims " + dimsToString(yd) + " do not match the convolution of " +
                             dimsToString(xd) + " by " + dimsToString(wd));
    if (fuseRelu_) {
      KILN_CUDNN_CHECK(cudnnCreateActivationDescriptor(&plan->activation), where_);
      KILN_CUDNN_CHECK(cudnnSetActivationDescriptor(plan->activation, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                       where_);
    }
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(nullptr, where_));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    KILN_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(lease.handle(), plan->x, plan->w, plan->conv, plan->y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf),
                     where_);
    bool chosen = false;
    for (int i = 0; i < found && !chosen; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxConvWorkspace) continue;
      if (type == CUDNN_DATA_FLOAT && !allowTF32_ && perf[i].mathType != CUDNN_FMA_MATH) continue;  // strict FP32
      plan->algo = perf[i].algo;
      plan->workspace = perf[i].memory;
      KILN_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, perf[i].mathType), where_);
      chosen = true;
    }
    if (!chosen) return unsupported(where_ + "cuDNN offers no algorithm for " + dimsToString(xd) + " * " + dimsToString(wd));
    size_t exact = 0;  // the size for the chosen algorithm and math type, in case it differs from the estimate
    KILN_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(lease.handle(), plan->x, plan->w, plan->conv, plan->y,
                                                             plan->algo, &exact), where_);
    plan->workspace = std::max(plan->workspace, exact);
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
  bool fuseRelu_ = false;
  bool fuseResidual_ = false;
  const void* zeroBias_ = nullptr;  // the fused path needs a bias; supports() refuses activation without one
  mutable std::mutex mutex_;  // guards the plan memo only
  mutable std::map<Dims, std::unique_ptr<ConvPlan>> plans_;
};

}  // namespace

Status convSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.op != OpKind::kConv) return unsupported(graph.describe(node) + ": no CUDA kernel yet");
  if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": Conv needs X and W");
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16}));
  const DataType t = inputType(graph, node, 0);
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {t}));
  const bool hasBias = node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
  if (hasBias) KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, {t}));
  const std::string activation = node.attrs.getString("activation", "");
  if (!activation.empty() && activation != "Relu")
    return unsupported(graph.describe(node) + ": fused activation '" + activation + "' (only Relu)");
  if (activation == "Relu" && !hasBias)
    return unsupported(graph.describe(node) + ": fused Relu needs a bias input");
  const ir::Value& x = graph.values[node.inputs[0]];
  if (x.rankKnown && (x.dims.size() < 3 || x.dims.size() > 5))
    return unsupported(graph.describe(node) + ": input rank " + std::to_string(x.dims.size()) + " (1 to 3 spatial dims)");
  const auto pads = node.attrs.getInts("pads");
  for (size_t k = 0; k < pads.size() / 2; ++k)
    if (pads[k] != pads[k + pads.size() / 2])
      return unsupported(graph.describe(node) + ": asymmetric pads " + std::to_string(pads[k]) + "/" +
                         std::to_string(pads[k + pads.size() / 2]) + " on spatial dim " + std::to_string(k));
  return Status::ok();
}

KernelResult makeConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<ConvKernel>(ctx, graph, node));
}

}  // namespace kiln::backends::cuda
