// Host side of ReduceX, ArgMax/ArgMin and CumSum: axes are read once at load (attribute or constant input 1);
// per call the kept and reduced dims are split and merged where contiguous.
#include <algorithm>
#include <set>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/reduction.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

bool isArg(OpKind op) { return op == OpKind::kArgMax || op == OpKind::kArgMin; }
bool isCumulative(OpKind op) { return op == OpKind::kCumSum || op == OpKind::kCumProd; }

/// Appends (dim, stride) to a list, merging with the previous entry when they form one contiguous run.
void appendMerged(std::vector<int64_t>& dims, std::vector<int64_t>& strides, int64_t dim, int64_t stride) {
  if (dim == 1) return;
  if (!dims.empty() && strides.back() == stride * dim) {
    dims.back() *= dim;
    strides.back() = stride;
    return;
  }
  dims.push_back(dim);
  strides.push_back(stride);
}

class ReductionKernel final : public Kernel {
 public:
  ReductionKernel(const ir::Graph& graph, const ir::Node& node, std::vector<int64_t> axes, bool axesGiven,
                  bool runtimeAxes, bool deviceAxis)
      : where_(graph.describe(node) + ": "), op_(node.op), axes_(std::move(axes)), axesGiven_(axesGiven),
        runtimeAxes_(runtimeAxes), deviceAxis_(deviceAxis) {
    noopWithEmptyAxes_ = node.attrs.getInt("noop_with_empty_axes", 0) != 0;
    selectLast_ = node.attrs.getInt("select_last_index", 0) != 0;
    exclusive_ = node.attrs.getInt("exclusive", 0) != 0;
    reverse_ = node.attrs.getInt("reverse", 0) != 0;
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& x = in[0];
    const auto rank = static_cast<int64_t>(x.dims.size());
    std::vector<int64_t> axes = axes_;
    bool axesGiven = axesGiven_;
    if (deviceAxis_ && !in[1].hostData) return cumulativeDeviceAxis(in, out[0], s);
    if (runtimeAxes_ || deviceAxis_) {  // computed by the host shape program for this shape
      KILN_ASSIGN_OR_RETURN(axes, hostInts(in[1], where_, "input 1 (axes)"));
      axesGiven = isCumulative(op_) || !axes.empty();
    }
    std::set<int64_t> reduced;
    for (int64_t axis : axes) {
      const int64_t a = normalizeAxis(axis, rank);
      if (a < 0 && rank > 0)
        return invalidArgument(where_ + "axis " + std::to_string(axis) + " is outside rank " + std::to_string(rank));
      if (a >= 0) reduced.insert(a);
    }
    if (isCumulative(op_)) {
      if (reduced.size() != 1 || axes.size() != 1) return invalidArgument(where_ + "needs exactly one axis");
      const auto axis = static_cast<size_t>(*reduced.begin());
      CumSumArgs a;
      a.x = x.data;
      a.y = out[0].data;
      for (size_t k = 0; k < axis; ++k) a.outer *= x.dims[k];
      a.axisLength = x.dims[axis];
      for (size_t k = axis + 1; k < x.dims.size(); ++k) a.inner *= x.dims[k];
      a.exclusive = exclusive_;
      a.reverse = reverse_;
      a.product = op_ == OpKind::kCumProd;
      KILN_CUDA_CHECK(launchCumSum(a, x.dtype, s), where_);
      return Status::ok();
    }
    if (!axesGiven && !isArg(op_)) {
      // noop_with_empty_axes reduces over no axis: each output is its one element after the per-element step
      // (|x| for L1, x^2 for SumSquare, ...), which is a plain copy only for Sum/Max/Min/Prod/Mean.
      const bool identityStep = op_ == OpKind::kReduceSum || op_ == OpKind::kReduceMax ||
                                op_ == OpKind::kReduceMin || op_ == OpKind::kReduceProd || op_ == OpKind::kReduceMean;
      if (noopWithEmptyAxes_ && identityStep) return copy(x, out[0], s);
      if (!noopWithEmptyAxes_)
        for (int64_t k = 0; k < rank; ++k) reduced.insert(k);
    }
    const auto strides = contiguousStrides(x.dims);
    std::vector<int64_t> keptDims, keptStrides, reducedDims, reducedStrides;
    for (int64_t k = 0; k < rank; ++k) {
      if (reduced.count(k)) appendMerged(reducedDims, reducedStrides, x.dims[k], strides[k]);
      else appendMerged(keptDims, keptStrides, x.dims[k], strides[k]);
    }
    if (keptDims.size() > static_cast<size_t>(kMaxRank) || reducedDims.size() > static_cast<size_t>(kMaxRank))
      return unsupported(where_ + "reduction over " + dimsToString(x.dims) + " needs more than 8 dims per side");
    ReduceArgs a;
    a.op = op_;
    a.x = x.data;
    a.y = out[0].data;
    a.outCount = out[0].elementCount();
    a.keptRank = static_cast<int32_t>(keptDims.size());
    a.reducedRank = static_cast<int32_t>(reducedDims.size());
    for (size_t k = 0; k < keptDims.size(); ++k) {
      a.keptDims[k] = keptDims[k];
      a.keptStrides[k] = keptStrides[k];
    }
    a.reduceCount = 1;
    for (size_t k = 0; k < reducedDims.size(); ++k) {
      a.reducedDims[k] = reducedDims[k];
      a.reducedStrides[k] = reducedStrides[k];
      a.reduceCount *= reducedDims[k];
    }
    a.selectLastIndex = selectLast_;
    int64_t keptCount = 1;
    for (int64_t d : keptDims) keptCount *= d;
    if (keptCount != a.outCount)
      return invalidArgument(where_ + "output has " + std::to_string(a.outCount) + " elements; the reduction of " +
                             dimsToString(x.dims) + " gives " + std::to_string(keptCount));
    KILN_CUDA_CHECK(launchReduce(a, x.dtype, s), where_);
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:warp-per-output"; }

 private:
  /// CumSum/CumProd whose axis is computed on the device: the kernel reads it there.
  Status cumulativeDeviceAxis(std::span<const DeviceTensor> in, const DeviceTensor& y, cudaStream_t s) const {
    const DeviceTensor& x = in[0];
    const DeviceTensor& axis = in[1];
    if (axis.elementCount() != 1)
      return invalidArgument(where_ + "input 1 (axis) has shape " + dimsToString(axis.dims) + "; expected one value");
    if (axis.dtype != DataType::kInt64 && axis.dtype != DataType::kInt32)
      return invalidArgument(where_ + "input 1 (axis) has type " + std::string(dataTypeName(axis.dtype)) +
                             "; expected int64 or int32");
    if (x.dims.size() > static_cast<size_t>(kMaxRank))
      return unsupported(where_ + "rank " + std::to_string(x.dims.size()) + " exceeds 8");
    if (x.dims.empty()) return invalidArgument(where_ + "input 0 is a scalar; CumSum needs rank >= 1");
    CumSumDeviceAxisArgs a;
    a.x = x.data;
    a.y = y.data;
    a.axis = axis.data;
    a.axis64 = axis.dtype == DataType::kInt64;
    a.rank = static_cast<int32_t>(x.dims.size());
    for (size_t k = 0; k < x.dims.size(); ++k) a.dims[k] = x.dims[k];
    a.count = x.elementCount();
    a.exclusive = exclusive_;
    a.reverse = reverse_;
    a.product = op_ == OpKind::kCumProd;
    KILN_CUDA_CHECK(launchCumSumDeviceAxis(a, x.dtype, s), where_);
    return Status::ok();
  }

  Status copy(const DeviceTensor& in, const DeviceTensor& out, cudaStream_t s) const {
    const size_t bytes = static_cast<size_t>(out.elementCount()) * dataTypeSize(out.dtype);
    if (in.data != out.data && bytes)
      KILN_CUDA_CHECK(cudaMemcpyAsync(out.data, in.data, bytes, cudaMemcpyDeviceToDevice, s), where_);
    return Status::ok();
  }

  std::string where_;
  OpKind op_;
  std::vector<int64_t> axes_;
  bool axesGiven_;
  bool runtimeAxes_;
  bool deviceAxis_;  // CumSum/CumProd axis computed on the device (unless the runtime supplies hostData)
  bool noopWithEmptyAxes_ = false, selectLast_ = false, exclusive_ = false, reverse_ = false;
};

/// Axes from attribute `axes`/`axis` or constant input 1; `given` false when none were named. `runtime` true when
/// input 1 is not a constant but host-known (the shape program computes it; run() reads DeviceTensor::hostData).
/// `device` true when a CumSum/CumProd axis is computed on the device (the kernel reads it there).
Status readAxes(const ir::Graph& graph, const ir::Node& node, std::vector<int64_t>& axes, bool& given, bool& runtime,
                bool& device) {
  given = false;
  runtime = false;
  device = false;
  if (isArg(node.op)) {
    axes = {node.attrs.getInt("axis", 0)};
    given = true;
    return Status::ok();
  }
  if (node.inputs.size() > 1 && node.inputs[1] != ir::kNoValue) {
    const Tensor* t = constantInput(graph, node, 1);
    if (!t && isCumulative(node.op) && !hostKnown(graph, node.inputs[1])) {
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {DataType::kInt64, DataType::kInt32}));
      device = true;
      given = true;
      return Status::ok();
    }
    if (!t) {
      KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, 1, "the axes"));
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {DataType::kInt64, DataType::kInt32}));
      runtime = true;
      given = true;
      return Status::ok();
    }
    axes = readInts(*t);
    given = isCumulative(node.op) || !axes.empty();
    return Status::ok();
  }
  if (node.attrs.has("axes")) {
    axes = node.attrs.getInts("axes");
    given = !axes.empty();
  }
  return Status::ok();
}

}  // namespace

Status reductionSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty()) return invalidModel(graph.describe(node) + ": no inputs");
  switch (node.op) {
    case OpKind::kReduceSum: case OpKind::kReduceMax: case OpKind::kReduceMin: case OpKind::kReduceProd:
    case OpKind::kCumSum: case OpKind::kCumProd: case OpKind::kArgMax: case OpKind::kArgMin:
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16,
                                                             DataType::kBFloat16, DataType::kFloat64,
                                                             DataType::kInt64, DataType::kInt32}));
      break;
    case OpKind::kReduceMean: case OpKind::kReduceL1: case OpKind::kReduceL2: case OpKind::kReduceSumSquare:
    case OpKind::kReduceLogSumExp: case OpKind::kReduceLogSum:
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16,
                                                             DataType::kBFloat16, DataType::kFloat64}));
      break;
    default: return unsupported(graph.describe(node) + ": not a reduction");
  }
  std::vector<int64_t> axes;
  bool given = false, runtime = false, device = false;
  KILN_RETURN_IF_ERROR(readAxes(graph, node, axes, given, runtime, device));
  if (isCumulative(node.op) && !runtime && !device && axes.size() != 1)
    return invalidModel(graph.describe(node) + ": the axis input must hold one value");
  return Status::ok();
}

KernelResult makeReductionKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  std::vector<int64_t> axes;
  bool given = false, runtime = false, device = false;
  KILN_RETURN_IF_ERROR(readAxes(graph, node, axes, given, runtime, device));
  return std::unique_ptr<Kernel>(
      std::make_unique<ReductionKernel>(graph, node, std::move(axes), given, runtime, device));
}

}  // namespace kiln::backends::cuda
