// Host side of the misc family: Hardmax, TopK, Einsum, Det, LRN, LpNormalization, MeanVarianceNormalization,
// RMSNormalization, NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. Attributes are parsed at load; dims,
// strides and the Einsum plan are worked out per call from the call's shapes.
#include <algorithm>
#include <set>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/data_movement.h"
#include "backends/cuda/misc.h"
#include "backends/cuda/normalization.h"
#include "ops/einsum_equation.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

/// Kept and reduced dims (with the data's strides) of `dims` for the axes in `reduced`.
void splitGroups(GroupArgs& a, const Dims& dims, const std::set<int64_t>& reduced) {
  const auto strides = contiguousStrides(dims);
  a.groups = 1;
  a.reduceCount = 1;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (reduced.count(static_cast<int64_t>(k))) {
      a.reducedDims[a.reducedRank] = dims[k];
      a.reducedStrides[a.reducedRank++] = strides[k];
      a.reduceCount *= dims[k];
    } else {
      a.keptDims[a.keptRank] = dims[k];
      a.keptStrides[a.keptRank++] = strides[k];
      a.groups *= dims[k];
    }
  }
  if (a.keptRank == 0) {  // one group
    a.keptDims[0] = 1;
    a.keptRank = 1;
  }
}

class MiscKernel final : public Kernel {
 public:
  MiscKernel(const ir::Graph& graph, const ir::Node& node) : where_(graph.describe(node) + ": "), op_(node.op) {
    const auto& at = node.attrs;
    axis_ = at.getInt("axis", op_ == OpKind::kLpNormalization || op_ == OpKind::kHardmax || op_ == OpKind::kTopK ||
                                      op_ == OpKind::kRMSNormalization
                                  ? -1
                                  : 0);
    p_ = at.getInt("p", 2);
    largest_ = at.getInt("largest", 1) != 0;
    equation_ = at.getString("equation", "");
    mvnAxes_ = at.getInts("axes", {0, 2, 3});
    epsilon_ = at.getFloat("epsilon", 1e-5f);
    alpha_ = at.getFloat("alpha", 1e-4f);
    beta_ = at.getFloat("beta", 0.75f);
    bias_ = at.getFloat("bias", 1.f);
    size_ = at.getInt("size", 1);
    hasIgnore_ = at.has("ignore_index");
    ignoreIndex_ = at.getInt("ignore_index", 0);
    const std::string r = at.getString("reduction", "mean");
    reduction_ = r == "none" ? LossReduction::kNone : r == "sum" ? LossReduction::kSum : LossReduction::kMean;
  }

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    if (op_ == OpKind::kDet && !in[0].dims.empty()) {
      const int64_t n = in[0].dims.back();
      return static_cast<size_t>(out[0].elementCount() * n * n) * sizeof(double);
    }
    if (op_ == OpKind::kSoftmaxCrossEntropyLoss && (out.size() < 2 || !out[1].data))
      return static_cast<size_t>(in[0].elementCount()) * dataTypeSize(in[0].dtype);  // the log-probabilities
    return 0;
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& x = in[0];
    const auto rank = static_cast<int64_t>(x.dims.size());
    switch (op_) {
      case OpKind::kHardmax: case OpKind::kLpNormalization: case OpKind::kRMSNormalization: {
        const int64_t axis = normalizeAxis(axis_, rank);
        if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(rank));
        std::set<int64_t> reduced{axis};
        GroupArgs a;
        a.op = op_ == OpKind::kHardmax ? GroupOp::kHardmax
               : op_ == OpKind::kRMSNormalization ? GroupOp::kRms
               : p_ == 1 ? GroupOp::kLpNormL1 : GroupOp::kLpNormL2;
        if (op_ == OpKind::kRMSNormalization)  // normalizes over every axis from `axis` on
          for (int64_t k = axis; k < rank; ++k) reduced.insert(k);
        splitGroups(a, x.dims, reduced);
        if (op_ == OpKind::kRMSNormalization) KILN_RETURN_IF_ERROR(scaleStrides(a, x.dims, axis, in[1]));
        a.x = x.data;
        a.y = out[0].data;
        a.epsilon = epsilon_;
        KILN_CUDA_CHECK(launchGroup(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kMeanVarianceNormalization: {
        std::set<int64_t> reduced;
        for (int64_t axis : mvnAxes_) {
          const int64_t k = normalizeAxis(axis, rank);
          if (k < 0) return invalidArgument(where_ + "axes value " + std::to_string(axis) + " is outside rank " + std::to_string(rank));
          reduced.insert(k);
        }
        GroupArgs a;
        a.op = GroupOp::kMeanVariance;
        splitGroups(a, x.dims, reduced);
        a.x = x.data;
        a.y = out[0].data;
        KILN_CUDA_CHECK(launchGroup(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kLRN: {
        if (rank < 2) return invalidArgument(where_ + "input needs rank >= 2, found " + std::to_string(rank));
        LrnArgs a;
        a.x = x.data;
        a.y = out[0].data;
        a.count = x.elementCount();
        a.channels = x.dims[1];
        for (size_t k = 2; k < x.dims.size(); ++k) a.spatial *= x.dims[k];
        a.below = (size_ - 1) / 2;
        a.above = size_ - 1 - a.below;
        a.alpha = alpha_;
        a.beta = beta_;
        a.bias = bias_;
        a.size = static_cast<float>(size_);
        KILN_CUDA_CHECK(launchLrn(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kTopK: {
        const int64_t axis = normalizeAxis(axis_, rank);
        if (axis < 0 || out.size() != 2) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(rank));
        TopKArgs a;
        for (int64_t d = 0; d < rank; ++d) {
          if (d < axis) a.outer *= x.dims[static_cast<size_t>(d)];
          else if (d > axis) a.inner *= x.dims[static_cast<size_t>(d)];
        }
        a.len = x.dims[static_cast<size_t>(axis)];
        a.k = out[0].dims[static_cast<size_t>(axis)];
        if (a.k > a.len) return invalidArgument(where_ + "k = " + std::to_string(a.k) + " exceeds the axis length " + std::to_string(a.len));
        a.largest = largest_;
        a.x = x.data;
        a.values = out[0].data;
        a.indices = static_cast<int64_t*>(out[1].data);
        KILN_CUDA_CHECK(launchTopK(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kDet: {
        if (rank < 2 || x.dims[rank - 1] != x.dims[rank - 2])
          return invalidArgument(where_ + "input " + dimsToString(x.dims) + " is not a batch of square matrices");
        const int64_t n = x.dims.back();
        if (n > 0 && !workspace && out[0].elementCount() > 0) return internalError(where_ + "no workspace for the LU");
        if (n == 0) return fillOnes(out[0], s);
        KILN_CUDA_CHECK(launchDet(x.data, out[0].data, static_cast<double*>(workspace), out[0].elementCount(), n,
                                  x.dtype, s),
                        where_);
        return Status::ok();
      }
      case OpKind::kEinsum: return einsum(in, out[0], s);
      case OpKind::kNegativeLogLikelihoodLoss: case OpKind::kSoftmaxCrossEntropyLoss: {
        if (rank < 2) return invalidArgument(where_ + "input needs rank >= 2, found " + std::to_string(rank));
        NllArgs a;
        a.n = x.dims[0];
        a.classes = x.dims[1];
        for (size_t k = 2; k < x.dims.size(); ++k) a.spatial *= x.dims[k];
        if (in[1].elementCount() != a.n * a.spatial)
          return invalidArgument(where_ + "target " + dimsToString(in[1].dims) + " does not match input " + dimsToString(x.dims));
        a.logp = x.data;
        if (op_ == OpKind::kSoftmaxCrossEntropyLoss) {
          void* logp = out.size() > 1 && out[1].data ? out[1].data : workspace;
          if (!logp) return internalError(where_ + "no workspace for the log-probabilities");
          SoftmaxArgs sm;
          sm.x = x.data;
          sm.y = logp;
          sm.outer = a.n;
          sm.axisLength = a.classes;
          sm.inner = a.spatial;
          sm.logSoftmax = true;
          KILN_CUDA_CHECK(launchSoftmax(sm, x.dtype, s), where_);
          a.logp = logp;
        }
        a.target = in[1].data;
        a.target64 = in[1].dtype == DataType::kInt64;
        a.weight = in.size() > 2 && in[2].present() ? in[2].data : nullptr;
        a.y = out[0].data;
        a.hasIgnore = hasIgnore_;
        a.ignoreIndex = ignoreIndex_;
        a.reduction = reduction_;
        KILN_CUDA_CHECK(launchNll(a, x.dtype, s), where_);
        return Status::ok();
      }
      default: return internalError(where_ + "not a misc op");
    }
  }

  std::string tactic() const override { return "cuda:misc"; }

 private:
  /// RMSNormalization's scale broadcasts (right-aligned) against dims axis..rank-1.
  Status scaleStrides(GroupArgs& a, const Dims& x, int64_t axis, const DeviceTensor& scale) const {
    const Dims& sd = scale.dims;
    const size_t normalized = x.size() - static_cast<size_t>(axis);
    if (sd.size() > normalized)
      return invalidArgument(where_ + "scale " + dimsToString(sd) + " has more dims than the normalized " + std::to_string(normalized));
    const auto st = contiguousStrides(sd);
    for (size_t m = 0; m < normalized; ++m) {
      const size_t fromEnd = normalized - 1 - m;
      if (fromEnd >= sd.size()) continue;  // scale lacks this dim: broadcast (stride 0)
      const size_t j = sd.size() - 1 - fromEnd;
      if (sd[j] != 1 && sd[j] != x[static_cast<size_t>(axis) + m])
        return invalidArgument(where_ + "scale " + dimsToString(sd) + " does not broadcast to " + dimsToString(x));
      a.scaleStrides[m] = sd[j] == 1 ? 0 : st[j];
    }
    a.scale = scale.data;
    return Status::ok();
  }

  Status fillOnes(const DeviceTensor& y, cudaStream_t s) const {  // det of a 0x0 matrix is 1
    if (y.elementCount() == 0) return Status::ok();
    uint64_t bits = 0;
    if (y.dtype == DataType::kFloat32) bits = 0x3f800000u;
    else if (y.dtype == DataType::kFloat16) bits = 0x3c00u;
    else if (y.dtype == DataType::kBFloat16) bits = 0x3f80u;
    else bits = 0x3ff0000000000000ull;
    KILN_CUDA_CHECK(launchFill(y.data, y.elementCount(), bits, dataTypeSize(y.dtype), s), where_);
    return Status::ok();
  }

  Status einsum(std::span<const DeviceTensor> in, const DeviceTensor& y, cudaStream_t s) const {
    std::vector<Dims> shapes;
    for (const auto& t : in) shapes.push_back(t.dims);
    KILN_ASSIGN_OR_RETURN(const ops::EinsumPlan plan, ops::planEinsum(equation_, shapes, where_));
    if (plan.outputDims != y.dims)
      return invalidArgument(where_ + "equation gives " + dimsToString(plan.outputDims) + ", the output is " + dimsToString(y.dims));
    if (plan.labelCount > kMaxEinsumLabels || in.size() > static_cast<size_t>(kMaxEinsumOperands))
      return unsupported(where_ + "more than " + std::to_string(kMaxEinsumLabels) + " labels or " +
                         std::to_string(kMaxEinsumOperands) + " operands");
    // Renumber labels: output labels first, in output order, then the contracted ones.
    std::vector<int> order(static_cast<size_t>(plan.labelCount), -1);
    int next = 0;
    for (int l : plan.outputLabels)
      if (order[static_cast<size_t>(l)] < 0) order[static_cast<size_t>(l)] = next++;
    if (next != static_cast<int>(plan.outputLabels.size()))
      return unsupported(where_ + "an output label repeats");
    EinsumArgs a;
    a.outputRank = next;
    for (int l = 0; l < plan.labelCount; ++l)
      if (order[static_cast<size_t>(l)] < 0) order[static_cast<size_t>(l)] = next++;
    a.labels = plan.labelCount;
    for (int l = 0; l < plan.labelCount; ++l) a.labelSize[order[static_cast<size_t>(l)]] = plan.labelSize[static_cast<size_t>(l)];
    a.operands = static_cast<int32_t>(in.size());
    for (size_t k = 0; k < in.size(); ++k) {
      const auto& labels = plan.operandLabels[k];
      int64_t stride = 1;
      for (size_t ax = labels.size(); ax-- > 0;) {
        if (in[k].dims[ax] != 1) a.strides[k][order[static_cast<size_t>(labels[ax])]] += stride;  // size 1: broadcast
        stride *= in[k].dims[ax];
      }
      a.inputs[k] = in[k].data;
    }
    a.y = y.data;
    a.count = y.elementCount();
    KILN_CUDA_CHECK(launchEinsum(a, y.dtype, s), where_);
    return Status::ok();
  }

  std::string where_;
  OpKind op_;
  int64_t axis_ = -1, p_ = 2, size_ = 1, ignoreIndex_ = 0;
  bool largest_ = true, hasIgnore_ = false;
  std::string equation_;
  std::vector<int64_t> mvnAxes_;
  float epsilon_ = 1e-5f, alpha_ = 1e-4f, beta_ = 0.75f, bias_ = 1.f;
  LossReduction reduction_ = LossReduction::kMean;
};

constexpr std::initializer_list<DataType> kMiscFloats = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                                         DataType::kFloat64};

}  // namespace

Status miscSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.inputs[0] == ir::kNoValue) return invalidModel(graph.describe(node) + ": no data input");
  const DataType t = inputType(graph, node, 0);
  const auto sameAsData = [&](size_t k) -> Status {
    if (k >= node.inputs.size() || node.inputs[k] == ir::kNoValue) return Status::ok();
    return requireInputType(graph, node, k, {t});
  };
  switch (node.op) {
    case OpKind::kHardmax: case OpKind::kLRN: case OpKind::kMeanVarianceNormalization: case OpKind::kDet:
      return requireInputType(graph, node, 0, kMiscFloats);
    case OpKind::kLpNormalization: {
      const int64_t p = node.attrs.getInt("p", 2);
      if (p != 1 && p != 2) return invalidModel(graph.describe(node) + ": p must be 1 or 2, found " + std::to_string(p));
      return requireInputType(graph, node, 0, kMiscFloats);
    }
    case OpKind::kRMSNormalization:
      if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": needs inputs X and scale");
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kMiscFloats));
      return sameAsData(1);
    case OpKind::kTopK:
      if (node.inputs.size() < 2 || node.outputs.size() != 2)
        return invalidModel(graph.describe(node) + ": TopK needs inputs X, K and outputs Values, Indices");
      KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, 1, "K"));
      return requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                               DataType::kFloat64, DataType::kInt64, DataType::kInt32,
                                               DataType::kInt16, DataType::kInt8,
                                               DataType::kUInt64, DataType::kUInt32, DataType::kUInt16,
                                               DataType::kUInt8});
    case OpKind::kEinsum:
      if (node.inputs.size() > static_cast<size_t>(kMaxEinsumOperands))
        return unsupported(graph.describe(node) + ": more than " + std::to_string(kMaxEinsumOperands) + " operands");
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kMiscFloats));
      for (size_t k = 1; k < node.inputs.size(); ++k) KILN_RETURN_IF_ERROR(sameAsData(k));
      return Status::ok();
    case OpKind::kNegativeLogLikelihoodLoss: case OpKind::kSoftmaxCrossEntropyLoss: {
      if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": needs inputs and target");
      if (node.op == OpKind::kSoftmaxCrossEntropyLoss)
        KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0,
                                              {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
      else
        KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kMiscFloats));
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {DataType::kInt64, DataType::kInt32}));
      const std::string r = node.attrs.getString("reduction", "mean");
      if (r != "none" && r != "sum" && r != "mean") return invalidModel(graph.describe(node) + ": reduction '" + r + "'");
      return sameAsData(2);
    }
    default: return unsupported(graph.describe(node) + ": no CUDA kernel for this operator yet");
  }
}

KernelResult makeMiscKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<MiscKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
