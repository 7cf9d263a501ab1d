// Host side of Softmax/LogSoftmax, LayerNormalization, InstanceNormalization, GroupNormalization and inference
// BatchNormalization (normally folded into the convolution by the builder; kept for graphs where it is not).
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/normalization.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

int64_t product(const Dims& dims, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t k = from; k < to && k < dims.size(); ++k) p *= dims[k];
  return p;
}

class NormalizationKernel final : public Kernel {
 public:
  NormalizationKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), op_(node.op) {
    axis_ = node.attrs.getInt("axis", -1);  // Softmax (opset 13) and LayerNormalization both default to -1
    epsilon_ = node.attrs.getFloat("epsilon", 1e-5f);
    groups_ = node.attrs.getInt("num_groups", 1);
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& x = in[0];
    const auto rank = static_cast<int64_t>(x.dims.size());
    switch (op_) {
      case OpKind::kSoftmax:
      case OpKind::kLogSoftmax: {
        const int64_t axis = normalizeAxis(axis_, rank);
        if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(rank));
        SoftmaxArgs a;
        a.x = x.data;
        a.y = out[0].data;
        a.outer = product(x.dims, 0, static_cast<size_t>(axis));
        a.axisLength = rank == 0 ? 1 : x.dims[static_cast<size_t>(axis)];
        a.inner = product(x.dims, static_cast<size_t>(axis) + 1, x.dims.size());
        a.logSoftmax = op_ == OpKind::kLogSoftmax;
        KILN_CUDA_CHECK(launchSoftmax(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kLayerNormalization: {
        const int64_t axis = normalizeAxis(axis_, rank);
        if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(rank));
        RowNormArgs a = common(in, out[0]);
        a.rows = product(x.dims, 0, static_cast<size_t>(axis));
        a.rowLength = product(x.dims, static_cast<size_t>(axis), x.dims.size());
        a.affine = AffineIndex::kPerElement;
        const Dims normalized(x.dims.begin() + axis, x.dims.end());
        KILN_RETURN_IF_ERROR(checkBroadcastSuffix(in[1], normalized, "Scale"));
        if (a.bias) {
          KILN_RETURN_IF_ERROR(checkBroadcastSuffix(in[2], normalized, "B"));
          a.biasCount = in[2].elementCount();
        }
        KILN_CUDA_CHECK(launchRowNorm(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kInstanceNormalization:
      case OpKind::kGroupNormalization: {
        if (rank < 2) return invalidArgument(where_ + "input needs rank >= 2, found " + std::to_string(rank));
        const int64_t channels = x.dims[1];
        const int64_t groups = op_ == OpKind::kInstanceNormalization ? channels : groups_;
        if (groups <= 0 || channels % groups != 0)
          return invalidArgument(where_ + "num_groups " + std::to_string(groups) + " does not divide " +
                                 std::to_string(channels) + " channels");
        RowNormArgs a = common(in, out[0]);
        a.spatial = product(x.dims, 2, x.dims.size());
        a.groups = groups;
        a.channelsPerGroup = channels / groups;
        a.rows = x.dims[0] * groups;
        a.rowLength = a.channelsPerGroup * a.spatial;
        if (a.scaleCount == channels) a.affine = AffineIndex::kPerChannel;
        else if (a.scaleCount == groups) a.affine = AffineIndex::kPerGroup;
        else
          return invalidArgument(where_ + "scale has " + std::to_string(a.scaleCount) + " elements; expected " +
                                 std::to_string(channels) + " (channels) or " + std::to_string(groups) + " (groups)");
        KILN_CUDA_CHECK(launchRowNorm(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kBatchNormalization: {
        if (rank < 2) return invalidArgument(where_ + "input needs rank >= 2, found " + std::to_string(rank));
        BatchNormArgs a;
        a.x = x.data;
        a.scale = in[1].data;
        a.bias = in[2].data;
        a.mean = in[3].data;
        a.var = in[4].data;
        a.y = out[0].data;
        a.count = x.elementCount();
        a.channels = x.dims[1];
        a.inner = product(x.dims, 2, x.dims.size());
        a.epsilon = epsilon_;
        for (size_t k = 1; k < 5; ++k)
          if (in[k].elementCount() != a.channels)
            return invalidArgument(where_ + "input " + std::to_string(k) + " has " +
                                   std::to_string(in[k].elementCount()) + " elements; expected " +
                                   std::to_string(a.channels) + " (channels)");
        KILN_CUDA_CHECK(launchBatchNorm(a, x.dtype, s), where_);
        return Status::ok();
      }
      default: return internalError(where_ + "not a normalization op");
    }
  }

  std::string tactic() const override { return "cuda:row-per-block"; }

 private:
  RowNormArgs common(std::span<const DeviceTensor> in, const DeviceTensor& y) const {
    RowNormArgs a;
    a.x = in[0].data;
    a.scale = in[1].data;
    a.bias = in.size() > 2 && in[2].present() ? in[2].data : nullptr;
    a.y = y.data;
    a.epsilon = epsilon_;
    a.scaleCount = in[1].elementCount();
    return a;
  }

  /// Scale/B broadcast to the normalized dims by index modulo their element count, which is right when their
  /// shape (leading 1s dropped) is a suffix of the normalized dims; other broadcasts are refused.
  Status checkBroadcastSuffix(const DeviceTensor& t, const Dims& normalized, const char* name) const {
    size_t first = 0;
    while (first < t.dims.size() && t.dims[first] == 1) ++first;
    const size_t kept = t.dims.size() - first;
    bool ok = kept <= normalized.size() && t.elementCount() > 0;
    for (size_t k = 0; ok && k < kept; ++k)
      ok = t.dims[first + k] == normalized[normalized.size() - kept + k];
    if (ok) return Status::ok();
    return unsupported(where_ + name + " of shape " + dimsToString(t.dims) + " does not broadcast to the normalized " +
                       "dims " + dimsToString(normalized) + " as a suffix (trailing dims equal, leading dims 1)");
  }

  std::string where_;
  OpKind op_;
  int64_t axis_ = -1;
  float epsilon_ = 1e-5f;
  int64_t groups_ = 1;
};

}  // namespace

Status normalizationSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty()) return invalidModel(graph.describe(node) + ": no inputs");
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  const DataType t = inputType(graph, node, 0);
  size_t needed = 1;
  switch (node.op) {
    case OpKind::kSoftmax: case OpKind::kLogSoftmax: needed = 1; break;
    case OpKind::kLayerNormalization: case OpKind::kInstanceNormalization: needed = 2; break;
    case OpKind::kGroupNormalization: needed = 3; break;
    case OpKind::kBatchNormalization: needed = 5; break;
    default: return unsupported(graph.describe(node) + ": not a normalization op");
  }
  if (node.inputs.size() < needed)
    return invalidModel(graph.describe(node) + ": expected at least " + std::to_string(needed) + " inputs, found " +
                        std::to_string(node.inputs.size()));
  for (size_t k = 1; k < node.inputs.size(); ++k)
    if (node.inputs[k] != ir::kNoValue) KILN_RETURN_IF_ERROR(requireInputType(graph, node, k, {t}));
  if (node.op == OpKind::kLayerNormalization && node.outputs.size() > 1)
    return unsupported(graph.describe(node) + ": only output Y is produced (Mean and InvStdDev are not)");
  return Status::ok();
}

KernelResult makeNormalizationKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<NormalizationKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
