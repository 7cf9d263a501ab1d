// QuantizeLinear / DequantizeLinear kernels for the CUDA backend: per tensor, per axis and blocked, 8- and 16-bit
// integers (and int32 into DequantizeLinear), float32/float16/bfloat16 data and scales. The layout of the scales is
// resolved per call from the actual shapes, through the same function shape inference uses.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/quantization.h"
#include "ops/quantization.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;


class QuantizationKernel final : public Kernel {
 public:
  QuantizationKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), op_(node.op), axis_(node.attrs.getInt("axis", 1)),
        blockSize_(node.attrs.getInt("block_size", 0)), precision_(node.attrs.getInt("precision", 0)) {}

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const DeviceTensor &x = in[0], &scale = in[1], &y = out[0];
    KILN_ASSIGN_OR_RETURN(const ops::QuantizationLayout layout,
                          ops::quantizationLayout(x.dims, scale.dims, axis_, blockSize_, where_));
    QuantizationArgs a;
    a.x = x.data;
    a.scale = scale.data;
    a.y = y.data;
    a.xType = x.dtype;
    a.scaleType = scale.dtype;
    a.yType = y.dtype;
    if (in.size() > 2 && in[2].present()) {
      a.zeroPoint = in[2].data;
      a.zeroPointType = in[2].dtype;
    }
    a.count = x.elementCount();
    a.inner = layout.inner;
    a.axisLen = layout.axisLen;
    a.block = layout.block;
    a.outerStride = layout.outerStride;
    a.axisStride = layout.axisStride;
    a.innerStride = layout.innerStride;
    const auto s = static_cast<cudaStream_t>(stream);
    if (op_ == OpKind::kQuantizeLinear) {
      a.divisionType = ops::quantizeDivisionType(x.dtype, scale.dtype, precision_);
      const ops::IntegerRange range = ops::integerRange(y.dtype);
      a.lo = range.lo;
      a.hi = range.hi;
      KILN_CUDA_CHECK(launchQuantize(a, s), where_);
    } else {
      KILN_CUDA_CHECK(launchDequantize(a, s), where_);
    }
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:quantization"; }

 private:
  std::string where_;
  OpKind op_;
  int64_t axis_, blockSize_, precision_;
};

}  // namespace

Status quantizationSupports(const ir::Graph& graph, const ir::Node& node) {
  const std::initializer_list<DataType> kFloatTypes = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
  const std::initializer_list<DataType> kIntegers = {DataType::kInt8, DataType::kUInt8, DataType::kInt16,
                                                     DataType::kUInt16};
  if (node.inputs.size() < 2 || node.outputs.size() != 1)
    return unsupported(graph.describe(node) + ": expected inputs x, scale[, zero_point] and one output");
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, kFloatTypes));
  const DataType y = graph.values[node.outputs[0]].dtype;
  if (node.op == OpKind::kQuantizeLinear) {
    KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kFloatTypes));
    if (y != DataType::kInt8 && y != DataType::kUInt8 && y != DataType::kInt16 && y != DataType::kUInt16)
      return unsupported(graph.describe(node) + ": quantizing to " + dataTypeName(y) + " has no CUDA kernel");
  } else {
    KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kInt8, DataType::kUInt8, DataType::kInt16,
                                                          DataType::kUInt16, DataType::kInt32}));
    if (y != DataType::kFloat32 && y != DataType::kFloat16 && y != DataType::kBFloat16)
      return unsupported(graph.describe(node) + ": dequantizing to " + dataTypeName(y) + " has no CUDA kernel");
  }
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue) {
    if (node.op == OpKind::kQuantizeLinear) KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, kIntegers));
    else if (inputType(graph, node, 2) != inputType(graph, node, 0))
      return unsupported(graph.describe(node) + ": the zero point's type differs from x's");
  }
  return Status::ok();
}

KernelResult makeQuantizationKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node) {
  (void)ctx;
  return std::unique_ptr<Kernel>(std::make_unique<QuantizationKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
