// Host side of GatherElements, GatherND, ScatterND, ScatterElements, Trilu, OneHot, ReverseSequence and Compress:
// attributes parsed at load, dims and strides per call, one launch (scatters: a copy of the data first).
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/indexing.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

ScatterReduction reductionOf(const ir::Node& node) {
  const std::string r = node.attrs.getString("reduction", "none");
  return r == "add" ? ScatterReduction::kAdd
         : r == "mul" ? ScatterReduction::kMul
         : r == "max" ? ScatterReduction::kMax
         : r == "min" ? ScatterReduction::kMin
                      : ScatterReduction::kNone;
}

class IndexingKernel final : public Kernel {
 public:
  IndexingKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), op_(node.op), reduction_(reductionOf(node)) {
    const auto& at = node.attrs;
    axis_ = at.getInt("axis", op_ == OpKind::kOneHot ? -1 : 0);
    hasAxis_ = at.has("axis");
    batchDims_ = at.getInt("batch_dims", 0);
    upper_ = at.getInt("upper", 1) != 0;
    timeAxis_ = at.getInt("time_axis", 0);
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& x = in[0];
    const DeviceTensor& y = out[0];
    const size_t elem = dataTypeSize(y.dtype);
    const auto rank = static_cast<int64_t>(x.dims.size());
    switch (op_) {
      case OpKind::kGatherElements: case OpKind::kScatterElements: {
        const DeviceTensor& idx = in[1];
        const int64_t axis = normalizeAxis(axis_, rank);
        if (axis < 0 || idx.dims.size() != x.dims.size())
          return invalidArgument(where_ + "axis " + std::to_string(axis_) + " or indices " + dimsToString(idx.dims) +
                                 " do not fit data " + dimsToString(x.dims));
        ElementsArgs a;
        a.rank = static_cast<int32_t>(rank);
        a.axis = static_cast<int32_t>(axis);
        a.axisDim = x.dims[static_cast<size_t>(axis)];
        a.count = idx.elementCount();
        const auto strides = contiguousStrides(x.dims);
        for (int64_t d = 0; d < rank; ++d) {
          a.indexDims[d] = idx.dims[static_cast<size_t>(d)];
          a.dataStrides[d] = strides[static_cast<size_t>(d)];
          if (d != axis && a.indexDims[d] > x.dims[static_cast<size_t>(d)])
            return invalidArgument(where_ + "indices dim " + std::to_string(d) + " exceeds the data's");
        }
        a.indices = idx.data;
        a.indices64 = idx.dtype == DataType::kInt64;
        if (op_ == OpKind::kGatherElements) {
          a.data = x.data;
          a.out = y.data;
          KILN_CUDA_CHECK(launchGatherElements(a, elem, s), where_);
          return Status::ok();
        }
        KILN_RETURN_IF_ERROR(copyData(x, y, s));
        a.updates = in[2].data;
        a.out = y.data;
        a.reduction = reduction_;
        KILN_CUDA_CHECK(launchScatterElements(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kGatherND: case OpKind::kScatterND: {
        const DeviceTensor& idx = in[1];
        const int64_t b = op_ == OpKind::kGatherND ? batchDims_ : 0;
        if (idx.dims.empty()) return invalidArgument(where_ + "indices must have rank >= 1");
        const int64_t k = idx.dims.back();
        if (b < 0 || k < 0 || b + k > rank || k > kMaxRank)
          return invalidArgument(where_ + "indices " + dimsToString(idx.dims) + " do not fit data " +
                                 dimsToString(x.dims) + " with batch_dims " + std::to_string(b));
        NdArgs a;
        a.k = static_cast<int32_t>(k);
        const auto strides = contiguousStrides(x.dims);
        for (int64_t j = 0; j < k; ++j) {
          a.indexedDims[j] = x.dims[static_cast<size_t>(b + j)];
          a.indexedStrides[j] = strides[static_cast<size_t>(b + j)];
        }
        int64_t batches = 1;
        for (int64_t d = 0; d < b; ++d) batches *= x.dims[static_cast<size_t>(d)];
        a.tuples = k == 0 ? elementCount(Dims(idx.dims.begin(), idx.dims.end() - 1)) : idx.elementCount() / k;
        a.perBatch = batches == 0 ? 0 : a.tuples / batches;
        a.batchStride = b == 0 ? 0 : strides[static_cast<size_t>(b - 1)];
        a.slice = 1;
        for (int64_t d = b + k; d < rank; ++d) a.slice *= x.dims[static_cast<size_t>(d)];
        a.indices = idx.data;
        a.indices64 = idx.dtype == DataType::kInt64;
        if (op_ == OpKind::kGatherND) {
          if (a.tuples * a.slice != y.elementCount())
            return invalidArgument(where_ + "output " + dimsToString(y.dims) + " does not match the gather");
          a.data = x.data;
          a.out = y.data;
          KILN_CUDA_CHECK(launchGatherND(a, elem, s), where_);
          return Status::ok();
        }
        if (a.tuples * a.slice != in[2].elementCount())
          return invalidArgument(where_ + "updates " + dimsToString(in[2].dims) + " do not match the indices");
        KILN_RETURN_IF_ERROR(copyData(x, y, s));
        a.updates = in[2].data;
        a.out = y.data;
        a.reduction = reduction_;
        KILN_CUDA_CHECK(launchScatterND(a, x.dtype, s), where_);
        return Status::ok();
      }
      case OpKind::kTrilu: {
        if (rank < 2) return invalidArgument(where_ + "input needs rank >= 2, found " + std::to_string(rank));
        TriluArgs a;
        a.count = x.elementCount();
        a.rows = x.dims[x.dims.size() - 2];
        a.cols = x.dims.back();
        a.upper = upper_;
        a.k = in.size() > 1 && in[1].present() && in[1].elementCount() == 1 ? static_cast<const int64_t*>(in[1].data)
                                                                              : nullptr;
        if (in.size() > 1 && in[1].present() && in[1].elementCount() != 1)
          return invalidArgument(where_ + "'k' must hold one value");
        a.src = x.data;
        a.dst = y.data;
        KILN_CUDA_CHECK(launchTrilu(a, elem, s), where_);
        return Status::ok();
      }
      case OpKind::kOneHot: {
        const auto outRank = static_cast<int64_t>(y.dims.size());
        const int64_t axis = normalizeAxis(axis_, outRank);
        if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(outRank));
        OneHotArgs a;
        for (int64_t d = 0; d < outRank; ++d) {
          if (d < axis) a.outer *= y.dims[static_cast<size_t>(d)];
          else if (d > axis) a.inner *= y.dims[static_cast<size_t>(d)];
        }
        a.depth = y.dims[static_cast<size_t>(axis)];
        if (a.outer * a.inner != x.elementCount() || in[2].elementCount() != 2)
          return invalidArgument(where_ + "indices " + dimsToString(x.dims) + " / values do not match output " +
                                 dimsToString(y.dims));
        a.indices = x.data;
        a.values = in[2].data;
        a.out = y.data;
        KILN_CUDA_CHECK(launchOneHot(a, x.dtype, elem, s), where_);
        return Status::ok();
      }
      case OpKind::kReverseSequence: {
        if (rank < 2 || (timeAxis_ != 0 && timeAxis_ != 1))
          return invalidArgument(where_ + "needs rank >= 2 and time_axis 0 or 1");
        ReverseSequenceArgs a;
        a.timeMajor = timeAxis_ == 0;
        a.steps = x.dims[static_cast<size_t>(timeAxis_)];
        a.batch = x.dims[static_cast<size_t>(1 - timeAxis_)];
        for (size_t d = 2; d < x.dims.size(); ++d) a.inner *= x.dims[d];
        if (in[1].elementCount() != a.batch)
          return invalidArgument(where_ + "sequence_lens has " + std::to_string(in[1].elementCount()) +
                                 " values for batch " + std::to_string(a.batch));
        a.lens = static_cast<const int64_t*>(in[1].data);
        a.src = x.data;
        a.dst = y.data;
        KILN_CUDA_CHECK(launchReverseSequence(a, elem, s), where_);
        return Status::ok();
      }
      case OpKind::kCompress: {
        CompressArgs a;
        a.inLen = x.elementCount();
        a.outLen = y.elementCount();
        if (hasAxis_) {
          const int64_t axis = normalizeAxis(axis_, rank);
          if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(rank));
          a.outer = a.inner = 1;
          for (int64_t d = 0; d < rank; ++d) {
            if (d < axis) a.outer *= x.dims[static_cast<size_t>(d)];
            else if (d > axis) a.inner *= x.dims[static_cast<size_t>(d)];
          }
          a.inLen = x.dims[static_cast<size_t>(axis)];
          a.outLen = y.dims.size() == x.dims.size() ? y.dims[static_cast<size_t>(axis)] : 0;
        }
        a.conditionLength = in[1].elementCount();
        a.condition = static_cast<const bool*>(in[1].data);
        a.src = x.data;
        a.dst = y.data;
        if (a.outer * a.outLen * a.inner != y.elementCount())
          return invalidArgument(where_ + "output " + dimsToString(y.dims) + " does not fit the compress of " +
                                 dimsToString(x.dims));
        KILN_CUDA_CHECK(launchCompress(a, elem, s), where_);
        return Status::ok();
      }
      default: return internalError(where_ + "not an indexing op");
    }
  }

  std::string tactic() const override { return "cuda:indexing"; }

 private:
  Status copyData(const DeviceTensor& x, const DeviceTensor& y, cudaStream_t s) const {
    const size_t bytes = static_cast<size_t>(y.elementCount()) * dataTypeSize(y.dtype);
    if (x.elementCount() != y.elementCount()) return invalidArgument(where_ + "output and data differ in size");
    if (x.data != y.data && bytes) KILN_CUDA_CHECK(cudaMemcpyAsync(y.data, x.data, bytes, cudaMemcpyDeviceToDevice, s), where_);
    return Status::ok();
  }

  std::string where_;
  OpKind op_;
  ScatterReduction reduction_;
  int64_t axis_ = 0, batchDims_ = 0, timeAxis_ = 0;
  bool hasAxis_ = false, upper_ = true;
};

Status wordSized(const ir::Graph& graph, const ir::Node& node, DataType t) {
  const size_t bytes = dataTypeSize(t);
  if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
    return unsupported(graph.describe(node) + ": data of type " + dataTypeName(t));
  return Status::ok();
}

}  // namespace

bool isIndexingOp(ir::OpKind op) {
  switch (op) {
    case OpKind::kGatherElements: case OpKind::kGatherND: case OpKind::kScatterND: case OpKind::kScatterElements:
    case OpKind::kTrilu: case OpKind::kOneHot: case OpKind::kReverseSequence: case OpKind::kCompress:
      return true;
    default: return false;
  }
}

Status indexingSupports(const ir::Graph& graph, const ir::Node& node) {
  const auto need = [&](size_t n) -> Status {
    if (node.inputs.size() < n)
      return invalidModel(graph.describe(node) + ": expected " + std::to_string(n) + " inputs, found " +
                          std::to_string(node.inputs.size()));
    return Status::ok();
  };
  const std::initializer_list<DataType> kIndexTypes = {DataType::kInt64, DataType::kInt32};
  switch (node.op) {
    case OpKind::kGatherElements: case OpKind::kGatherND:
      KILN_RETURN_IF_ERROR(need(2));
      KILN_RETURN_IF_ERROR(wordSized(graph, node, inputType(graph, node, 0)));
      return requireInputType(graph, node, 1, kIndexTypes);
    case OpKind::kScatterND: case OpKind::kScatterElements: {
      KILN_RETURN_IF_ERROR(need(3));
      const DataType t = inputType(graph, node, 0);
      KILN_RETURN_IF_ERROR(wordSized(graph, node, t));
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, kIndexTypes));
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, {t}));
      const std::string r = node.attrs.getString("reduction", "none");
      if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
        return unsupported(graph.describe(node) + ": reduction '" + r + "'");
      if (r != "none")
        return requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64,
                                                 DataType::kInt64, DataType::kInt32});
      return Status::ok();
    }
    case OpKind::kTrilu:
      KILN_RETURN_IF_ERROR(need(1));
      KILN_RETURN_IF_ERROR(wordSized(graph, node, inputType(graph, node, 0)));
      if (node.inputs.size() > 1 && node.inputs[1] != ir::kNoValue)
        return requireInputType(graph, node, 1, {DataType::kInt64});
      return Status::ok();
    case OpKind::kOneHot: {
      KILN_RETURN_IF_ERROR(need(3));
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kInt64, DataType::kInt32, DataType::kInt16,
                                                             DataType::kInt8, DataType::kUInt64, DataType::kUInt32,
                                                             DataType::kUInt16, DataType::kUInt8, DataType::kFloat32,
                                                             DataType::kFloat16, DataType::kFloat64}));
      KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, 1, "depth"));  // shape inference needs it anyway
      return wordSized(graph, node, inputType(graph, node, 2));
    }
    case OpKind::kReverseSequence:
      KILN_RETURN_IF_ERROR(need(2));
      KILN_RETURN_IF_ERROR(wordSized(graph, node, inputType(graph, node, 0)));
      return requireInputType(graph, node, 1, {DataType::kInt64});
    case OpKind::kCompress:
      KILN_RETURN_IF_ERROR(need(2));
      KILN_RETURN_IF_ERROR(wordSized(graph, node, inputType(graph, node, 0)));
      return requireInputType(graph, node, 1, {DataType::kBool});
    default: return unsupported(graph.describe(node) + ": no CUDA kernel yet");
  }
}

KernelResult makeIndexingKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<IndexingKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
