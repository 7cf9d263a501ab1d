// Shape, Size, ConstantOfShape and Range on the device, for the rare graph where they are not folded into the
// host-side shape program. Small host values travel as kernel arguments (no pageable async copies).
#include <cstring>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/data_movement.h"
#include "backends/cuda/indexing.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

class GeneratorKernel final : public Kernel {
 public:
  GeneratorKernel(const ir::Graph& graph, const ir::Node& node) : where_(graph.describe(node) + ": "), op_(node.op) {
    start_ = node.attrs.getInt("start", 0);
    k_ = node.attrs.getInt("k", 0);
    end_ = node.attrs.has("end") ? node.attrs.getInt("end", 0) : INT64_MAX;
    if (const Tensor* v = node.attrs.getTensor("value"); v && v->elementCount() == 1 && dataTypeSize(v->dtype()) <= 8)
      std::memcpy(&fillBits_, v->data(), dataTypeSize(v->dtype()));
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& y = out[0];
    switch (op_) {
      case OpKind::kShape: {
        const auto rank = static_cast<int64_t>(in[0].dims.size());
        int64_t b = start_ < 0 ? start_ + rank : start_, e = end_ == INT64_MAX ? rank : (end_ < 0 ? end_ + rank : end_);
        b = std::clamp<int64_t>(b, 0, rank);
        e = std::clamp<int64_t>(e, 0, rank);
        SmallInts v;
        for (int64_t k = b; k < e; ++k) v.values[v.count++] = in[0].dims[static_cast<size_t>(k)];
        if (v.count != y.elementCount()) return invalidArgument(where_ + "output has the wrong size");
        KILN_CUDA_CHECK(launchWriteInts(static_cast<int64_t*>(y.data), v, s), where_);
        return Status::ok();
      }
      case OpKind::kSize: {
        SmallInts v;
        v.count = 1;
        v.values[0] = in[0].elementCount();
        KILN_CUDA_CHECK(launchWriteInts(static_cast<int64_t*>(y.data), v, s), where_);
        return Status::ok();
      }
      case OpKind::kConstantOfShape:
        KILN_CUDA_CHECK(launchFill(y.data, y.elementCount(), fillBits_, dataTypeSize(y.dtype), s), where_);
        return Status::ok();
      case OpKind::kRange:
        KILN_CUDA_CHECK(launchRange(y.data, y.elementCount(), in[0].data, in[2].data, y.dtype, s), where_);
        return Status::ok();
      case OpKind::kEyeLike:
        if (y.dims.size() != 2) return invalidArgument(where_ + "output must have rank 2, found " + dimsToString(y.dims));
        KILN_CUDA_CHECK(launchEyeLike(y.data, y.dims[0], y.dims[1], k_, y.dtype, s), where_);
        return Status::ok();
      default: return internalError(where_ + "not a generator");
    }
  }

  std::string tactic() const override { return "cuda:generator"; }

 private:
  std::string where_;
  OpKind op_;
  int64_t start_ = 0, end_ = INT64_MAX, k_ = 0;
  uint64_t fillBits_ = 0;
};

}  // namespace

Status generatorSupports(const ir::Graph& graph, const ir::Node& node) {
  switch (node.op) {
    case OpKind::kShape: case OpKind::kSize: return Status::ok();
    case OpKind::kConstantOfShape: {
      const Tensor* v = node.attrs.getTensor("value");
      if (v && (v->elementCount() != 1 || dataTypeSize(v->dtype()) > 8 || dataTypeSize(v->dtype()) == 0))
        return unsupported(graph.describe(node) + ": value must be one element of a numeric type");
      return Status::ok();
    }
    case OpKind::kRange:
      if (node.inputs.size() != 3) return invalidModel(graph.describe(node) + ": Range needs start, limit, delta");
      return requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt32});
    case OpKind::kEyeLike: {
      if (node.outputs.empty()) return invalidModel(graph.describe(node) + ": no output");
      const DataType t = node.attrs.has("dtype") ? static_cast<DataType>(node.attrs.getInt("dtype", 1))
                                                 : inputType(graph, node, 0);
      switch (t) {
        case DataType::kFloat32: case DataType::kFloat16: case DataType::kFloat64: case DataType::kInt64:
        case DataType::kInt32: case DataType::kInt16: case DataType::kInt8: case DataType::kUInt64:
        case DataType::kUInt32: case DataType::kUInt16: case DataType::kUInt8: case DataType::kBool:
          return Status::ok();
        default: return unsupported(graph.describe(node) + ": EyeLike of type " + dataTypeName(t));
      }
    }
    default: return unsupported(graph.describe(node) + ": no CUDA kernel");
  }
}

KernelResult makeGeneratorKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<GeneratorKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
