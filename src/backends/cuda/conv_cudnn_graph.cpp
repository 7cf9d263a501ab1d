// The operation graph is conv -> [add bias] -> [add residual] -> [activation steps], with X, W, B, Z and Y in memory
// (float16 or bfloat16, or float32 in TF32 builds) and the intermediates virtual in float32 (so the epilogue runs at
// FP32 inside the conv kernel). One execution plan per input shape, made when the runtime first asks for the workspace at that shape, memoized under a mutex. A tactic
// names an engine by cuDNN's global index and its knob choices: "cudnn-graph:engine=E:knobs=T.V,T.V"; an engine
// file from another cuDNN is refused at load (the library version is in its facts), and a tactic that does not apply
// at some shape falls back to cuDNN's heuristic choice there, then to the fallback kernel.
#include "backends/cuda/conv_cudnn_graph.h"

#include "backends/cuda/conv_epilogue_activation.h"
#include "backends/cuda/conv_graph_tactic.h"
#include "backends/cuda/cudnn_descriptor.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

// CUDNN_ATTR_OPERATIONGRAPH_HANDLE and CUDNN_ATTR_EXECUTION_PLAN_HANDLE are marked deprecated in cuDNN 9 in favour
// of device properties, but they remain the supported way to bind a handle on every 9.x the project builds with.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace kiln::backends::cuda {
namespace {

using Desc = CudnnDescriptor;
constexpr auto createDesc = createCudnnDescriptor;
#define KILN_SET KILN_CUDNN_SET

// Tensor unique ids in the variant pack; virtual intermediates count up from kFirstVirtual.
// By-value scalars of the activation's pointwise steps count up from kFirstScalar.
enum : int64_t { kUidX = 1, kUidW = 2, kUidBias = 3, kUidResidual = 4, kUidY = 5, kFirstVirtual = 10, kFirstScalar = 100 };

/// Runtime-compiled engine configurations offered to the race at most (when no precompiled engine applies).
constexpr size_t kRuntimeCompiledCandidates = 2;


/// One convolution's geometry in cuDNN's logical order (X [N,C,H,W], W [K,C,R,S], Y [N,K,P,Q]), all NHWC in memory.
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0, k = 0, r = 0, s = 0, p = 0, q = 0;
  int64_t pre[2] = {0, 0}, post[2] = {0, 0}, stride[2] = {1, 1}, dilation[2] = {1, 1};
};

/// An operation graph and every descriptor it references (cuDNN keeps references, so they live as long as it).
struct OperationGraph {
  std::vector<Desc> parts;
  Desc graph;
};

/// A plan for one input shape: the executable plan, or `useFallback` when no graph engine applies there.
struct GraphPlan {
  OperationGraph ops;
  std::vector<Desc> configParts;  // engine, knob choices
  Desc config, plan;
  int64_t workspace = 0;
  std::string tactic;  // what actually runs at this shape
  bool fromHeuristics = false;
  bool useFallback = false;
  bool activationKernel = false;  // the graph stops before the activation, which runs in place after it
};

class ConvGraphKernel final : public Kernel {
 public:
  ConvGraphKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node, const std::string& tactic,
                  std::unique_ptr<Kernel> fallback, EpilogueActivation activation)
      : where_(graph.describe(node) + ": "),
        pool_(ctx.cudnn),
        fallback_(std::move(fallback)),
        activation_(std::move(activation)),
        dataType_(cudnnTypeOf(inputType(graph, node, 0)).value_or(CUDNN_DATA_FLOAT)),
        allowTF32_(ctx.options.allowTF32),
        tactic_(parseGraphTactic(tactic)) {
    const auto& at = node.attrs;
    strides_ = at.getInts("strides");
    pads_ = at.getInts("pads");
    dilations_ = at.getInts("dilations");
    autoPad_ = at.getString("auto_pad", "NOTSET");
    hasBias_ = node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
    hasResidual_ = node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue;
    if (hasBias_) epilogue_ += "+bias";
    if (hasResidual_) epilogue_ += "+add";
    if (activation_.present()) {  // "Identity" adds nothing
      epilogue_ += '+';
      epilogue_ += activation_.name;
    }
    for (const PointwiseStep& step : activation_.steps)
      if (step.operand == PointwiseStep::Operand::kScalar) scalars_.push_back(step.scalar);
  }

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    auto plan = planFor(in, out);
    if (!plan.hasValue()) return 0;
    if ((*plan)->useFallback) return fallback_ ? fallback_->workspaceBytes(in, out) : 0;
    return static_cast<size_t>((*plan)->workspace);
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    if (out[0].elementCount() == 0) return Status::ok();
    KILN_ASSIGN_OR_RETURN(const GraphPlan* plan, planFor(in, out));
    if (plan->useFallback) return fallback_->run(in, out, workspace, stream);
    if (plan->workspace > 0 && !workspace)
      return internalError(where_ + "no workspace given; workspaceBytes() asked for " + std::to_string(plan->workspace));
    constexpr size_t kMaxBindings = 16;
    if (5 + scalars_.size() > kMaxBindings) return internalError(where_ + "too many epilogue scalars");
    int64_t uids[kMaxBindings];
    void* pointers[kMaxBindings];
    int64_t count = 0;
    const auto bind = [&](int64_t uid, const void* p) {
      uids[count] = uid;
      pointers[count++] = const_cast<void*>(p);
    };
    bind(kUidX, in[0].data);
    bind(kUidW, in[1].data);
    if (hasBias_) bind(kUidBias, in[2].data);
    if (hasResidual_) bind(kUidResidual, in[3].data);
    bind(kUidY, out[0].data);
    if (!plan->activationKernel)  // by-value scalars: cuDNN reads them from host memory at execute
      for (size_t i = 0; i < scalars_.size(); ++i) bind(kFirstScalar + static_cast<int64_t>(i), &scalars_[i]);
    const std::string& where = where_;
    KILN_ASSIGN_OR_RETURN(Desc pack, createDesc(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, where));
    KILN_SET(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids);
    KILN_SET(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, pointers);
    KILN_SET(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(pack.get()), where + "variant pack: ");
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(static_cast<cudaStream_t>(stream), where));
    KILN_CUDNN_CHECK(cudnnBackendExecute(lease.handle(), plan->plan.get(), pack.get()), where + plan->tactic + ": ");
    if (plan->activationKernel)
      KILN_CUDA_CHECK(launchActivationInPlace(out[0].data, out[0].dtype, out[0].elementCount(), activation_.inPlace,
                                              static_cast<cudaStream_t>(stream)),
                      where + "in-place " + activation_.name + ": ");
    return Status::ok();
  }

  std::string tactic() const override {
    std::string text = "cudnn-graph:conv" + epilogue_ + " nhwc";
    std::lock_guard<std::mutex> lock(mutex_);
    std::string used;
    bool heuristic = false, fellBack = false, split = false;
    for (const auto& [dims, plan] : plans_) {
      if (plan->useFallback) {
        fellBack = true;
        continue;
      }
      heuristic = heuristic || plan->fromHeuristics;
      split = split || plan->activationKernel;
      const std::string engine = plan->tactic.substr(plan->tactic.find("engine="));
      if (used.find(engine) == std::string::npos) used += (used.empty() ? "" : " / ") + engine;
    }
    if (used.empty() && !fellBack)
      return text + (tactic_ ? " engine=" + std::to_string(tactic_->engine) + " (tuned)" : " (heuristic)");
    return text + " " + used + (heuristic ? " (heuristic at some shapes)" : " (tuned)") +
           (split ? " (" + activation_.name + " as its own kernel at some shapes)" : "") +
           (fellBack ? " (legacy fallback at some shapes)" : "");
  }

  /// Ranked engine configurations for these shapes (see convGraphCandidates), each checked to finalize here. When
  /// the whole graph has only runtime-compiled engines or none, the configurations of the graph without the
  /// activation (which then runs as its own kernel) come too, so the race can weigh one against the other.
  Expected<std::vector<std::string>> candidates(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out,
                                                size_t limit) const {
    KILN_ASSIGN_OR_RETURN(ConvGeometry g, geometry(in, out));
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(nullptr, where_));
    std::vector<std::string> chosen;
    for (const bool split : {false, true}) {
      if (split && !activation_.present()) break;
      auto ops = buildOperationGraph(g, lease.handle(), /*withActivation=*/!split);
      if (!ops) continue;
      KILN_ASSIGN_OR_RETURN(std::vector<Desc> configs, heuristicConfigs(*ops));
      std::vector<std::string> precompiled, compiled;
      for (Desc& cfg : configs) {
        auto described = describeConfig(cfg, split);
        if (!described) continue;
        auto& [text, runtimeCompiled, numericsRefused] = *described;
        if (numericsRefused) continue;
        if (runtimeCompiled) {  // each compiles for seconds (NVRTC) when finalized: a couple, and no trial run here
          if (compiled.size() < std::min<size_t>(limit, kRuntimeCompiledCandidates)) compiled.push_back(text);
          continue;
        }
        if (precompiled.size() >= limit) continue;
        GraphPlan probe;  // heuristics can rank a configuration that does not finalize for this graph
        probe.config = std::move(cfg);
        if (!finalizePlan(probe, lease.handle()).isOk()) continue;
        precompiled.push_back(text);
      }
      std::vector<std::string>& usable = precompiled.empty() ? compiled : precompiled;
      chosen.insert(chosen.end(), usable.begin(), usable.end());
      if (!precompiled.empty()) break;  // the whole graph has precompiled engines: no need to split
    }
    return chosen;
  }

 private:
  Expected<ConvGeometry> geometry(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    if (in.size() < 2 || out.empty() || in[0].dims.size() != 4 || in[1].dims.size() != 4 || out[0].dims.size() != 4)
      return invalidArgument(where_ + "the cuDNN graph path needs rank-4 NHWC X, KRSC W and NHWC Y");
    ConvGeometry g;
    const Dims &x = in[0].dims, &w = in[1].dims, &y = out[0].dims;  // [N,H,W,C], [K,R,S,C], [N,P,Q,K]
    g.n = x[0], g.h = x[1], g.w = x[2], g.c = x[3];
    g.k = w[0], g.r = w[1], g.s = w[2];
    g.p = y[1], g.q = y[2];
    if (w[3] != g.c || y[0] != g.n || y[3] != g.k)
      return invalidArgument(where_ + "shapes X " + dimsToString(x) + ", W " + dimsToString(w) + ", Y " +
                             dimsToString(y) + " do not form an NHWC convolution with KRSC weights");
    const int64_t extent[2] = {g.h, g.w}, kernel[2] = {g.r, g.s}, output[2] = {g.p, g.q};
    for (int d = 0; d < 2; ++d) {
      g.stride[d] = d < static_cast<int>(strides_.size()) ? strides_[d] : 1;
      g.dilation[d] = d < static_cast<int>(dilations_.size()) ? dilations_[d] : 1;
      if (autoPad_ == "SAME_UPPER" || autoPad_ == "SAME_LOWER") {
        const int64_t total = std::max<int64_t>(
            0, (output[d] - 1) * g.stride[d] + (kernel[d] - 1) * g.dilation[d] + 1 - extent[d]);
        g.pre[d] = autoPad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
        g.post[d] = total - g.pre[d];
      } else if (autoPad_ == "NOTSET" && pads_.size() == 4) {
        g.pre[d] = pads_[d];
        g.post[d] = pads_[d + 2];
      }
      const int64_t expected =
          (extent[d] + g.pre[d] + g.post[d] - (kernel[d] - 1) * g.dilation[d] - 1) / g.stride[d] + 1;
      if (expected != output[d])
        return invalidArgument(where_ + "output extent " + std::to_string(output[d]) + " on spatial dim " +
                               std::to_string(d) + " does not match the convolution (expected " +
                               std::to_string(expected) + ")");
    }
    return g;
  }

  /// A tensor descriptor: dims in cuDNN's logical [N,C,H,W] order with NHWC strides.
  Expected<Desc> tensor(int64_t uid, cudnnDataType_t type, int64_t n, int64_t c, int64_t h, int64_t w,
                        bool isVirtual) const {
    const std::string where = where_ + "tensor " + std::to_string(uid) + ": ";
    KILN_ASSIGN_OR_RETURN(Desc t, createDesc(CUDNN_BACKEND_TENSOR_DESCRIPTOR, where));
    const int64_t dims[4] = {n, c, h, w};
    const int64_t strides[4] = {h * w * c, 1, w * c, c};
    const int64_t alignment = 16;
    KILN_SET(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    KILN_SET(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    KILN_SET(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    KILN_SET(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    KILN_SET(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    KILN_SET(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &isVirtual);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(t.get()), where);
    return t;
  }

  /// A by-value float32 scalar tensor (broadcast against [N,K,P,Q]).
  Expected<Desc> scalarTensor(int64_t uid) const {
    const std::string where = where_ + "scalar " + std::to_string(uid) + ": ";
    KILN_ASSIGN_OR_RETURN(Desc t, createDesc(CUDNN_BACKEND_TENSOR_DESCRIPTOR, where));
    const cudnnDataType_t type = CUDNN_DATA_FLOAT;
    const int64_t ones[4] = {1, 1, 1, 1};
    const int64_t alignment = 4;
    const bool byValue = true;
    KILN_SET(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    KILN_SET(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, ones);
    KILN_SET(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, ones);
    KILN_SET(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    KILN_SET(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment);
    KILN_SET(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &byValue);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(t.get()), where);
    return t;
  }

  /// A pointwise operation y = mode(x[, b]) with FP32 math.
  Expected<Desc> pointwise(OperationGraph& ops, const PointwiseStep& step, const Desc& x, const Desc* b,
                           const Desc& y) const {
    const std::string where = where_ + "pointwise: ";
    KILN_ASSIGN_OR_RETURN(Desc pw, createDesc(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, where));
    const cudnnDataType_t math = CUDNN_DATA_FLOAT;
    KILN_SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &step.mode);
    KILN_SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &math);
    if (step.lowerClip) KILN_SET(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_FLOAT, 1, &*step.lowerClip);
    if (step.lowerSlope)
      KILN_SET(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP_SLOPE, CUDNN_TYPE_FLOAT, 1, &*step.lowerSlope);
    if (step.eluAlpha) KILN_SET(pw, CUDNN_ATTR_POINTWISE_ELU_ALPHA, CUDNN_TYPE_FLOAT, 1, &*step.eluAlpha);
    if (step.swishBeta) KILN_SET(pw, CUDNN_ATTR_POINTWISE_SWISH_BETA, CUDNN_TYPE_FLOAT, 1, &*step.swishBeta);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(pw.get()), where);
    KILN_ASSIGN_OR_RETURN(Desc op, createDesc(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, where));
    cudnnBackendDescriptor_t raw[3] = {pw.get(), x.get(), y.get()};
    KILN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[0]);
    KILN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[1]);
    if (b) {
      cudnnBackendDescriptor_t braw = b->get();
      KILN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &braw);
    }
    KILN_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[2]);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(op.get()), where);
    ops.parts.push_back(std::move(pw));
    return op;
  }

  /// conv -> [bias] -> [residual] -> [activation steps, when `withActivation`], the last writing Y.
  Expected<OperationGraph> buildOperationGraph(const ConvGeometry& g, cudnnHandle_t handle, bool withActivation) const {
    const std::string& where = where_;
    OperationGraph ops;
    const cudnnDataType_t half = dataType_, fp32 = CUDNN_DATA_FLOAT;  // `half`: the I/O type (float32 in TF32 builds)
    KILN_ASSIGN_OR_RETURN(Desc x, tensor(kUidX, half, g.n, g.c, g.h, g.w, false));
    KILN_ASSIGN_OR_RETURN(Desc w, tensor(kUidW, half, g.k, g.c, g.r, g.s, false));
    KILN_ASSIGN_OR_RETURN(Desc y, tensor(kUidY, half, g.n, g.k, g.p, g.q, false));
    const size_t activationSteps = withActivation ? activation_.steps.size() : 0;
    const int stages = (hasBias_ ? 1 : 0) + (hasResidual_ ? 1 : 0) + static_cast<int>(activationSteps);
    int64_t nextVirtual = kFirstVirtual;
    // Each stage writes a float32 virtual tensor, except the last, which writes Y.
    std::vector<Desc> stageOut;
    for (int i = 0; i < stages; ++i) {
      KILN_ASSIGN_OR_RETURN(Desc v, tensor(nextVirtual++, fp32, g.n, g.k, g.p, g.q, true));
      stageOut.push_back(std::move(v));
    }
    const Desc& convOut = stages ? stageOut[0] : y;

    KILN_ASSIGN_OR_RETURN(Desc conv, createDesc(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, where));
    const int64_t spatial = 2;
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &fp32);
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, g.dilation);
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, g.stride);
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, g.pre);
    KILN_SET(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, g.post);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(conv.get()), where + "convolution descriptor: ");

    KILN_ASSIGN_OR_RETURN(Desc convOp, createDesc(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, where));
    const float alpha = 1.f, beta = 0.f;
    cudnnBackendDescriptor_t raw[4] = {x.get(), w.get(), convOut.get(), conv.get()};
    KILN_SET(convOp, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[0]);
    KILN_SET(convOp, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[1]);
    KILN_SET(convOp, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[2]);
    KILN_SET(convOp, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[3]);
    KILN_SET(convOp, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha);
    KILN_SET(convOp, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(convOp.get()), where + "convolution operation: ");

    std::vector<Desc> operations;
    operations.push_back(std::move(convOp));
    int stage = 0;
    const auto outputOf = [&](int s) -> const Desc& { return s + 1 < stages ? stageOut[s + 1] : y; };
    Desc biasTensor, residualTensor;
    if (hasBias_) {
      KILN_ASSIGN_OR_RETURN(biasTensor, tensor(kUidBias, half, 1, g.k, 1, 1, false));
      KILN_ASSIGN_OR_RETURN(Desc op, pointwise(ops, PointwiseStep(CUDNN_POINTWISE_ADD), stageOut[stage], &biasTensor,
                                               outputOf(stage)));
      operations.push_back(std::move(op));
      ++stage;
    }
    if (hasResidual_) {
      KILN_ASSIGN_OR_RETURN(residualTensor, tensor(kUidResidual, half, g.n, g.k, g.p, g.q, false));
      KILN_ASSIGN_OR_RETURN(Desc op, pointwise(ops, PointwiseStep(CUDNN_POINTWISE_ADD), stageOut[stage],
                                               &residualTensor, outputOf(stage)));
      operations.push_back(std::move(op));
      ++stage;
    }
    const int activationInput = stage;  // stageOut index of the value before the activation
    std::vector<Desc> scalars;
    for (size_t i = 0; i < activationSteps; ++i, ++stage) {
      const PointwiseStep& step = activation_.steps[i];
      const Desc* second = nullptr;
      if (step.operand == PointwiseStep::Operand::kScalar) {
        KILN_ASSIGN_OR_RETURN(Desc scalar, scalarTensor(kFirstScalar + static_cast<int64_t>(scalars.size())));
        scalars.push_back(std::move(scalar));
        second = &scalars.back();
      } else if (step.operand == PointwiseStep::Operand::kActivationInput) {
        second = &stageOut[activationInput];
      }
      KILN_ASSIGN_OR_RETURN(Desc op, pointwise(ops, step, stageOut[stage], second, outputOf(stage)));
      operations.push_back(std::move(op));
    }

    KILN_ASSIGN_OR_RETURN(ops.graph, createDesc(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, where));
    std::vector<cudnnBackendDescriptor_t> rawOps;
    for (const Desc& op : operations) rawOps.push_back(op.get());
    KILN_SET(ops.graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
             static_cast<int64_t>(rawOps.size()), rawOps.data());
    KILN_SET(ops.graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(ops.graph.get()), where + "operation graph: ");
    for (Desc* d : {&x, &w, &y, &conv, &biasTensor, &residualTensor}) ops.parts.push_back(std::move(*d));
    for (Desc& d : stageOut) ops.parts.push_back(std::move(d));
    for (Desc& d : scalars) ops.parts.push_back(std::move(d));
    for (Desc& d : operations) ops.parts.push_back(std::move(d));
    return ops;
  }

  /// cuDNN's ranked engine configurations (heuristics mode A) for an operation graph.
  Expected<std::vector<Desc>> heuristicConfigs(const OperationGraph& ops) const {
    const std::string where = where_ + "heuristics: ";
    KILN_ASSIGN_OR_RETURN(Desc heur, createDesc(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, where));
    cudnnBackendDescriptor_t graph = ops.graph.get();
    const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    KILN_SET(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    KILN_SET(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(heur.get()), where);
    int64_t count = 0;
    KILN_CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                              0, &count, nullptr),
                     where);
    std::vector<Desc> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int64_t i = 0; i < count; ++i) {
      KILN_ASSIGN_OR_RETURN(Desc cfg, createDesc(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, where));
      raw.push_back(cfg.get());
      configs.push_back(std::move(cfg));
    }
    int64_t got = 0;
    if (count > 0)
      KILN_CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, raw.data()),
                       where);
    configs.resize(static_cast<size_t>(std::clamp<int64_t>(got, 0, count)));
    return configs;
  }

  /// Numerics an engine may not have here: reduced-precision reduction (every engine promises FP32 accumulation);
  /// inputs down-converted to FP16 unless they are FP16 already (bfloat16's range does not fit FP16); for float32
  /// data, tensor cores (TF32) unless the build allows TF32.
  /// Untuned plans also refuse FFT and Winograd engines in float16/bfloat16: transforms lose precision (and can
  /// overflow) there, and nothing checks an untuned plan's answers (tuned candidates face the answer check).
  bool refusedNote(cudnnBackendNumericalNote_t note, bool untuned) const {
    if (note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION) return true;
    if (untuned && dataType_ != CUDNN_DATA_FLOAT &&
        (note == CUDNN_NUMERICAL_NOTE_FFT || note == CUDNN_NUMERICAL_NOTE_WINOGRAD ||
         note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4 || note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_6x6 ||
         note == CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_13x13))
      return true;
    if (note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS) return dataType_ != CUDNN_DATA_HALF;
    return dataType_ == CUDNN_DATA_FLOAT && note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE && !allowTF32_;
  }

  /// A configuration as a tactic, whether its engine compiles at run time, and whether its numerics are refused.
  Expected<std::tuple<std::string, bool, bool>> describeConfig(const Desc& cfg, bool activationKernel,
                                                               bool untuned = false) const {
    const std::string where = where_ + "engine config: ";
    KILN_ASSIGN_OR_RETURN(Desc engine, createDesc(CUDNN_BACKEND_ENGINE_DESCRIPTOR, where));
    cudnnBackendDescriptor_t rawEngine = engine.get();
    int64_t n = 0;
    KILN_CUDNN_CHECK(cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                              &n, &rawEngine),
                     where);
    int64_t index = -1;
    KILN_CUDNN_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                                              &index),
                     where);
    cudnnBackendBehaviorNote_t behavior[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
    int64_t behaviorCount = 0;
    bool runtimeCompiled = false, numericsRefused = false;
    if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                 CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, &behaviorCount, behavior) == CUDNN_STATUS_SUCCESS)
      for (int64_t i = 0; i < behaviorCount; ++i)
        runtimeCompiled = runtimeCompiled || behavior[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION;
    cudnnBackendNumericalNote_t numerical[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
    int64_t numericalCount = 0;
    if (cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &numericalCount, numerical) == CUDNN_STATUS_SUCCESS)
      for (int64_t i = 0; i < numericalCount; ++i) numericsRefused = numericsRefused || refusedNote(numerical[i], untuned);
    std::vector<Desc> knobs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (int i = 0; i < CUDNN_KNOB_TYPE_COUNTS; ++i) {
      KILN_ASSIGN_OR_RETURN(Desc k, createDesc(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, where));
      raw.push_back(k.get());
      knobs.push_back(std::move(k));
    }
    int64_t knobCount = 0;
    KILN_CUDNN_CHECK(cudnnBackendGetAttribute(cfg.get(), CUDNN_ATTR_ENGINECFG_KNOB_CHOICES,
                                              CUDNN_TYPE_BACKEND_DESCRIPTOR, CUDNN_KNOB_TYPE_COUNTS, &knobCount,
                                              raw.data()),
                     where);
    std::vector<std::pair<int64_t, int64_t>> choices;
    for (int64_t i = 0; i < std::min<int64_t>(knobCount, CUDNN_KNOB_TYPE_COUNTS); ++i) {
      cudnnBackendKnobType_t type{};
      int64_t value = 0;
      KILN_CUDNN_CHECK(cudnnBackendGetAttribute(knobs[i].get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE,
                                                1, &n, &type),
                       where);
      KILN_CUDNN_CHECK(cudnnBackendGetAttribute(knobs[i].get(), CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1,
                                                &n, &value),
                       where);
      choices.emplace_back(static_cast<int64_t>(type), value);
    }
    return std::make_tuple(formatGraphTactic({index, choices, activationKernel}), runtimeCompiled, numericsRefused);
  }

  /// Rebuilds the engine configuration a tactic names, for this operation graph.
  Status configFromTactic(GraphPlan& plan, const GraphTactic& parsed) const {
    const std::string where = where_ + "engine " + std::to_string(parsed.engine) + ": ";
    KILN_ASSIGN_OR_RETURN(Desc engine, createDesc(CUDNN_BACKEND_ENGINE_DESCRIPTOR, where));
    cudnnBackendDescriptor_t graph = plan.ops.graph.get();
    KILN_SET(engine, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
    KILN_SET(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &parsed.engine);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(engine.get()), where);
    std::vector<cudnnBackendDescriptor_t> rawKnobs;
    for (const auto& [type, value] : parsed.knobs) {
      KILN_ASSIGN_OR_RETURN(Desc knob, createDesc(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR, where));
      const auto knobType = static_cast<cudnnBackendKnobType_t>(type);
      KILN_SET(knob, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, 1, &knobType);
      KILN_SET(knob, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, CUDNN_TYPE_INT64, 1, &value);
      KILN_CUDNN_CHECK(cudnnBackendFinalize(knob.get()), where);
      rawKnobs.push_back(knob.get());
      plan.configParts.push_back(std::move(knob));
    }
    KILN_ASSIGN_OR_RETURN(plan.config, createDesc(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, where));
    cudnnBackendDescriptor_t rawEngine = engine.get();
    KILN_SET(plan.config, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rawEngine);
    if (!rawKnobs.empty())
      KILN_SET(plan.config, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, CUDNN_TYPE_BACKEND_DESCRIPTOR,
               static_cast<int64_t>(rawKnobs.size()), rawKnobs.data());
    KILN_CUDNN_CHECK(cudnnBackendFinalize(plan.config.get()), where);
    plan.configParts.push_back(std::move(engine));
    return Status::ok();
  }

  /// Finalizes the execution plan of plan.config and reads its workspace size.
  Status finalizePlan(GraphPlan& plan, cudnnHandle_t handle) const {
    const std::string where = where_ + "execution plan: ";
    KILN_ASSIGN_OR_RETURN(plan.plan, createDesc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, where));
    cudnnBackendDescriptor_t config = plan.config.get();
    KILN_SET(plan.plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    KILN_SET(plan.plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &config);
    KILN_CUDNN_CHECK(cudnnBackendFinalize(plan.plan.get()), where);
    int64_t n = 0;
    KILN_CUDNN_CHECK(cudnnBackendGetAttribute(plan.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                              CUDNN_TYPE_INT64, 1, &n, &plan.workspace),
                     where);
    return Status::ok();
  }

  /// The plan a tactic names, when it applies at this shape.
  Expected<std::unique_ptr<GraphPlan>> planFromTactic(const ConvGeometry& g, cudnnHandle_t handle,
                                                      const GraphTactic& parsed) const {
    auto plan = std::make_unique<GraphPlan>();
    plan->activationKernel = parsed.activationKernel && activation_.present();
    KILN_ASSIGN_OR_RETURN(plan->ops, buildOperationGraph(g, handle, !plan->activationKernel));
    KILN_RETURN_IF_ERROR(configFromTactic(*plan, parsed));
    KILN_RETURN_IF_ERROR(finalizePlan(*plan, handle));
    plan->tactic = formatGraphTactic({parsed.engine, parsed.knobs, plan->activationKernel});
    return plan;
  }

  /// The node's tactic at this shape; else cuDNN's first heuristic configuration that finalizes, for the tactic's
  /// form first (whole graph, or the graph without the activation, which then runs in place after it; whole graph
  /// when untuned), then the other form; else the fallback.
  Expected<std::unique_ptr<GraphPlan>> makePlan(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    KILN_ASSIGN_OR_RETURN(ConvGeometry g, geometry(in, out));
    KILN_ASSIGN_OR_RETURN(CudnnPool::Lease lease, pool_->borrow(nullptr, where_));
    if (tactic_)
      if (auto plan = planFromTactic(g, lease.handle(), *tactic_)) return std::move(*plan);
    std::string why;
    const bool tunedSplit = tactic_ && tactic_->activationKernel;
    for (const bool split : {tunedSplit, !tunedSplit}) {
      if (split && !activation_.present()) continue;
      auto plan = std::make_unique<GraphPlan>();
      plan->activationKernel = split;
      auto ops = buildOperationGraph(g, lease.handle(), !split);
      if (!ops) {
        why = " (" + ops.status().message() + ")";
        continue;
      }
      plan->ops = std::move(*ops);
      auto configs = heuristicConfigs(plan->ops);
      if (!configs) continue;
      for (Desc& cfg : *configs) {
        auto described = describeConfig(cfg, split, /*untuned=*/true);
        if (!described || std::get<2>(*described)) continue;
        plan->config = std::move(cfg);
        if (finalizePlan(*plan, lease.handle()).isOk()) {
          plan->tactic = std::get<0>(*described);
          plan->fromHeuristics = true;
          return plan;
        }
      }
    }
    if (!fallback_)
      return unsupported(where_ + "cuDNN has no graph engine for X " + dimsToString(in[0].dims) + ", W " +
                         dimsToString(in[1].dims) + why);
    auto plan = std::make_unique<GraphPlan>();
    plan->useFallback = true;
    return plan;
  }

  Expected<const GraphPlan*> planFor(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    if (in.size() < 2 || out.empty()) return invalidArgument(where_ + "expected X, W and Y");
    Dims key = in[0].dims;
    key.insert(key.end(), in[1].dims.begin(), in[1].dims.end());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = plans_.find(key);
      if (it != plans_.end()) return it->second.get();
    }
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<GraphPlan> plan, makePlan(in, out));
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, inserted] = plans_.emplace(key, std::move(plan));
    return it->second.get();
  }

  std::string where_;
  CudnnPool* pool_;
  std::unique_ptr<Kernel> fallback_;
  EpilogueActivation activation_;
  cudnnDataType_t dataType_;  // of X, W, bias, residual and Y
  bool allowTF32_;
  std::vector<float> scalars_;  // the activation steps' by-value scalars, in uid order (bound by address)
  std::optional<GraphTactic> tactic_;
  std::vector<int64_t> strides_, pads_, dilations_;
  std::string autoPad_, epilogue_;
  bool hasBias_ = false, hasResidual_ = false;
  mutable std::mutex mutex_;  // guards the plan memo only
  mutable std::map<Dims, std::unique_ptr<GraphPlan>> plans_;
};

#undef KILN_SET

}  // namespace

Status convGraphQualifies(const ir::Graph& graph, const ir::Node& node) {
  const std::string where = graph.describe(node) + ": the cuDNN graph path needs ";
  if (node.op != ir::OpKind::kConv || node.inputs.size() < 2) return unsupported(where + "a Conv with X and W");
  if (node.attrs.getString("data_format", "NCHW") != "NHWC") return unsupported(where + "data_format NHWC");
  if (node.attrs.getInt("group", 1) != 1) return unsupported(where + "group 1");
  const DataType t = inputType(graph, node, 0);
  if ((t != DataType::kFloat16 && t != DataType::kBFloat16 && t != DataType::kFloat32) || inputType(graph, node, 1) != t)
    return unsupported(where + "float16, bfloat16 or float32 X and W of one type");
  const ir::Value& x = graph.values[node.inputs[0]];
  if (!x.rankKnown || x.dims.size() != 4) return unsupported(where + "a rank-4 X");
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue && inputType(graph, node, 2) != t)
    return unsupported(where + "a bias of X's type");
  if (node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue && inputType(graph, node, 3) != t)
    return unsupported(where + "a residual of X's type");
  return epilogueActivationOf(graph, node).status();
}

bool convActivationNeedsGraph(const ir::Node& node) {
  const std::string a = node.attrs.getString("activation", "");
  // Relu and a residual alone ("Identity") run on the legacy path too; the others only in a graph.
  return !a.empty() && a != "Relu" && a != "Identity";
}

KernelResult makeConvGraphKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                 const std::string& tactic, std::unique_ptr<Kernel> fallback) {
  KILN_RETURN_IF_ERROR(convGraphQualifies(graph, node));
  KILN_ASSIGN_OR_RETURN(EpilogueActivation activation, epilogueActivationOf(graph, node));
  return std::unique_ptr<Kernel>(
      std::make_unique<ConvGraphKernel>(ctx, graph, node, tactic, std::move(fallback), std::move(activation)));
}

Expected<std::vector<std::string>> convGraphCandidates(const CudaContext& ctx, const ir::Graph& graph,
                                                       const ir::Node& node, std::span<const DeviceTensor> inputs,
                                                       std::span<const DeviceTensor> outputs, size_t limit) {
  KILN_RETURN_IF_ERROR(convGraphQualifies(graph, node));
  KILN_ASSIGN_OR_RETURN(EpilogueActivation activation, epilogueActivationOf(graph, node));
  const ConvGraphKernel kernel(ctx, graph, node, "", nullptr, std::move(activation));
  return kernel.candidates(inputs, outputs, limit);
}

}  // namespace kiln::backends::cuda
