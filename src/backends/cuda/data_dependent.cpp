// Host side of the data-dependent ops on CUDA (data_dependent.h): attributes at load, [outer, len, inner] views
// and workspace per call. Counts stay on the device; the runtime reads them back after the run.
#include "backends/cuda/data_dependent.h"

#include "ops/data_movement_params.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

Expected<ElementKind> elementKind(DataType t, const std::string& where) {
  switch (t) {
    case DataType::kFloat32: return ElementKind::kFloat32;
    case DataType::kFloat64: return ElementKind::kFloat64;
    case DataType::kFloat16: return ElementKind::kFloat16;
    case DataType::kBFloat16: return ElementKind::kBFloat16;
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64:
      return ElementKind::kSigned;
    case DataType::kUInt8: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64: case DataType::kBool:
      return ElementKind::kUnsigned;
    default: return unsupported(where + "dtype " + dataTypeName(t) + " has no CUDA kernel here");
  }
}

struct Split {
  int64_t outer = 1, len = 1, inner = 1;
};
Split splitAround(const Dims& d, int64_t axis) {
  Split s;
  for (int64_t i = 0; i < static_cast<int64_t>(d.size()); ++i) {
    if (i < axis) s.outer *= d[i];
    else if (i == axis) s.len = d[i];
    else s.inner *= d[i];
  }
  return s;
}

class DataDependentKernel final : public Kernel {
 public:
  DataDependentKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), op_(node.op), outputCount_(node.outputs.size()) {
    hasAxis_ = node.attrs.has("axis");
    axis_ = node.attrs.getInt("axis", op_ == OpKind::kTopK ? -1 : 0);
    largest_ = node.attrs.getInt("largest", 1) != 0;
    sorted_ = node.attrs.getInt("sorted", 1) != 0;
    centerPointBox_ = node.attrs.getInt("center_point_box", 0) != 0;
  }

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor>) const override {
    switch (op_) {
      case OpKind::kCompress: return static_cast<size_t>(in[1].elementCount() + 1) * sizeof(int64_t);
      case OpKind::kUnique: return static_cast<size_t>(3 * sliceSplit(in[0].dims).len + 1) * sizeof(int64_t);
      case OpKind::kNonMaxSuppression:
        return static_cast<size_t>(in[0].dims[0] * in[1].dims[1] * (in[0].dims[1] + 2)) * sizeof(int64_t);
      default: return 0;
    }
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    auto* countOut = out.size() > outputCount_ ? static_cast<int64_t*>(out[outputCount_].data) : nullptr;
    const DeviceTensor& x = in[0];
    switch (op_) {
      case OpKind::kNonZero: {
        NonZeroArgs a;
        a.x = x.data;
        a.count = x.elementCount();
        a.elementBytes = static_cast<int32_t>(dataTypeSize(x.dtype));
        KILN_ASSIGN_OR_RETURN(a.kind, elementKind(x.dtype, where_));
        const Dims dims = x.dims.empty() ? Dims{1} : x.dims;
        a.rank = static_cast<int32_t>(dims.size());
        for (size_t d = 0; d < dims.size(); ++d) a.dims[d] = dims[d];
        a.out = static_cast<int64_t*>(out[0].data);
        a.countOut = countOut;
        KILN_CUDA_CHECK(launchNonZero(a, s), where_);
        return Status::ok();
      }
      case OpKind::kCompress: {
        CompressDeviceArgs a;
        a.x = x.data;
        a.y = out[0].data;
        a.condition = static_cast<const uint8_t*>(in[1].data);
        a.condLen = in[1].elementCount();
        const Split sp = sliceSplit(x.dims);
        a.outer = sp.outer;
        a.len = sp.len;
        a.inner = sp.inner;
        a.elementBytes = static_cast<int32_t>(dataTypeSize(x.dtype));
        a.positions = static_cast<int64_t*>(workspace);
        a.countOut = countOut;
        KILN_CUDA_CHECK(launchCompressDevice(a, s), where_);
        return Status::ok();
      }
      case OpKind::kTopK: {
        TopKDeviceArgs a;
        KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(axis_, static_cast<int64_t>(x.dims.size()), where_));
        const Split sp = splitAround(x.dims, axis);
        a.x = x.data;
        a.values = out[0].data;
        a.indices = static_cast<int64_t*>(out[1].data);
        a.k = static_cast<const int64_t*>(in[1].data);
        a.outer = sp.outer;
        a.len = sp.len;
        a.inner = sp.inner;
        a.largest = largest_;
        KILN_ASSIGN_OR_RETURN(a.kind, elementKind(x.dtype, where_));
        a.elementBytes = static_cast<int32_t>(dataTypeSize(x.dtype));
        a.countOut = countOut;
        KILN_CUDA_CHECK(launchTopKDevice(a, s), where_);
        return Status::ok();
      }
      case OpKind::kUnique: {
        UniqueArgs a;
        const Split sp = sliceSplit(x.dims);
        a.x = x.data;
        a.y = out[0].data;
        auto optional = [&](size_t k) {
          return out.size() > k && k < outputCount_ ? static_cast<int64_t*>(out[k].data) : nullptr;
        };
        a.indices = optional(1);
        a.inverse = optional(2);
        a.counts = optional(3);
        a.outer = sp.outer;
        a.len = sp.len;
        a.inner = sp.inner;
        a.sorted = sorted_;
        KILN_ASSIGN_OR_RETURN(a.kind, elementKind(x.dtype, where_));
        a.elementBytes = static_cast<int32_t>(dataTypeSize(x.dtype));
        a.workspace = static_cast<int64_t*>(workspace);
        a.countOut = countOut;
        KILN_CUDA_CHECK(launchUnique(a, s), where_);
        return Status::ok();
      }
      case OpKind::kNonMaxSuppression: {
        NmsArgs a;
        auto present = [&](size_t i) { return in.size() > i && in[i].present(); };
        a.boxes = static_cast<const float*>(in[0].data);
        a.scores = static_cast<const float*>(in[1].data);
        a.maxOutput = present(2) ? static_cast<const int64_t*>(in[2].data) : nullptr;
        a.iouThreshold = present(3) ? static_cast<const float*>(in[3].data) : nullptr;
        a.scoreThreshold = present(4) ? static_cast<const float*>(in[4].data) : nullptr;
        a.batches = in[0].dims[0];
        a.boxCount = in[0].dims[1];
        a.classes = in[1].dims[1];
        a.centerPointBox = centerPointBox_;
        a.selected = static_cast<int64_t*>(out[0].data);
        a.workspace = static_cast<int64_t*>(workspace);
        a.countOut = countOut;
        KILN_CUDA_CHECK(launchNms(a, s), where_);
        return Status::ok();
      }
      default: return internalError(where_ + "not a data-dependent operator");
    }
  }

  std::string tactic() const override { return "data-dependent"; }

 private:
  // Unique and Compress: slices along `axis`, or every element of the flattened input when there is none.
  Split sliceSplit(const Dims& dims) const {
    if (!hasAxis_) return Split{1, elementCount(dims), 1};
    const int64_t rank = static_cast<int64_t>(dims.size());
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    return splitAround(dims, axis);
  }

  std::string where_;
  OpKind op_;
  size_t outputCount_;
  bool hasAxis_ = false, largest_ = true, sorted_ = true, centerPointBox_ = false;
  int64_t axis_ = 0;
};

}  // namespace

bool isDataDependentOnCuda(const ir::Graph& graph, const ir::Node& node) {
  switch (node.op) {
    case OpKind::kNonZero: case OpKind::kUnique: case OpKind::kNonMaxSuppression: return true;
    case OpKind::kTopK: case OpKind::kCompress:
      return node.inputs.size() > 1 && node.inputs[1] != ir::kNoValue && !graph.constantOf(node.inputs[1]);
    default: return false;
  }
}

Status dataDependentSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.inputs[0] == ir::kNoValue)
    return invalidModel(graph.describe(node) + ": input 0 is required");
  const DataType t = graph.values[node.inputs[0]].dtype;
  if (node.op == OpKind::kNonMaxSuppression) return requireInputType(graph, node, 0, {DataType::kFloat32});
  return elementKind(t, graph.describe(node) + ": input 0: ").status();
}

KernelResult makeDataDependentKernel(const ir::Graph& graph, const ir::Node& node) {
  KILN_RETURN_IF_ERROR(dataDependentSupports(graph, node));
  return std::unique_ptr<Kernel>(new DataDependentKernel(graph, node));
}

}  // namespace kiln::backends::cuda
