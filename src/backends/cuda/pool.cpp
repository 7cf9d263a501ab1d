// Host side of MaxPool, AveragePool (own kernel) and GlobalAveragePool/GlobalMaxPool (NCHW: the reduction kernel
// over the contiguous spatial dims; NHWC: pool.cu's kernel along C). data_format="NHWC" (set by the layout pass, rank 4
// only) means X [N, H, W, C] and Y [N, H', W', C]; the attributes keep their ONNX meaning over H and W.
#include "backends/cuda/cuda_common.h"
#include "backends/cuda/pool.h"
#include "backends/cuda/reduction.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

class PoolKernel final : public Kernel {
 public:
  PoolKernel(const ir::Graph& graph, const ir::Node& node) : where_(graph.describe(node) + ": "), op_(node.op) {
    const auto& at = node.attrs;
    kernel_ = at.getInts("kernel_shape");
    strides_ = at.getInts("strides");
    pads_ = at.getInts("pads");
    dilations_ = at.getInts("dilations");
    autoPad_ = at.getString("auto_pad", "NOTSET");
    countIncludePad_ = at.getInt("count_include_pad", 0) != 0;
    nhwc_ = at.getString("data_format", "NCHW") == "NHWC";
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& x = in[0];
    const DeviceTensor& y = out[0];
    if (nhwc_) return runNhwc(x, y, s);
    if (x.dims.size() < 3 || x.dims.size() > 5 || y.dims.size() != x.dims.size())
      return invalidArgument(where_ + "expected input rank 3 to 5 (N, C, spatial...), found " + dimsToString(x.dims));
    const size_t spatial = x.dims.size() - 2;
    if (op_ == OpKind::kGlobalAveragePool || op_ == OpKind::kGlobalMaxPool) {
      ReduceArgs r;
      r.op = op_ == OpKind::kGlobalAveragePool ? OpKind::kReduceMean : OpKind::kReduceMax;
      r.x = x.data;
      r.y = y.data;
      r.outCount = x.dims[0] * x.dims[1];
      r.keptRank = 1;
      r.keptDims[0] = r.outCount;
      r.reduceCount = 1;
      for (size_t k = 2; k < x.dims.size(); ++k) r.reduceCount *= x.dims[k];
      r.keptStrides[0] = r.reduceCount;
      r.reducedRank = 1;
      r.reducedDims[0] = r.reduceCount;
      r.reducedStrides[0] = 1;
      KILN_CUDA_CHECK(launchReduce(r, x.dtype, s), where_);
      return Status::ok();
    }
    if (kernel_.size() != spatial)
      return invalidArgument(where_ + "kernel_shape has " + std::to_string(kernel_.size()) + " values; input " +
                             dimsToString(x.dims) + " has " + std::to_string(spatial) + " spatial dims");
    PoolArgs a;
    a.x = x.data;
    a.y = y.data;
    a.planes = x.dims[0] * x.dims[1];
    a.spatialRank = static_cast<int32_t>(spatial);
    a.isMax = op_ == OpKind::kMaxPool;
    a.countIncludePad = countIncludePad_;
    for (size_t k = 0; k < spatial; ++k)
      KILN_RETURN_IF_ERROR(setSpatial(a, k, x.dims[k + 2], y.dims[k + 2], spatial));
    KILN_CUDA_CHECK(launchPool(a, x.dtype, s), where_);
    return Status::ok();
  }

  std::string tactic() const override { return nhwc_ ? "cuda:direct nhwc" : "cuda:direct"; }

 private:
  Status runNhwc(const DeviceTensor& x, const DeviceTensor& y, cudaStream_t s) const {
    const bool global = op_ == OpKind::kGlobalAveragePool || op_ == OpKind::kGlobalMaxPool;
    if (x.dims.size() != 4 || y.dims.size() != 4 || y.dims[0] != x.dims[0] || y.dims[3] != x.dims[3] ||
        (global && (y.dims[1] != 1 || y.dims[2] != 1)))
      return invalidArgument(where_ + "data_format NHWC expects X [N, H, W, C] and Y [N, " +
                             (global ? "1, 1" : "H', W'") + ", C], found X " + dimsToString(x.dims) + ", Y " +
                             dimsToString(y.dims));
    if (global) {
      GlobalPoolNhwcArgs g;
      g.x = x.data;
      g.y = y.data;
      g.batch = x.dims[0];
      g.spatial = x.dims[1] * x.dims[2];
      g.channels = x.dims[3];
      g.isMax = op_ == OpKind::kGlobalMaxPool;
      KILN_CUDA_CHECK(launchGlobalPoolNhwc(g, x.dtype, s), where_);
      return Status::ok();
    }
    if (kernel_.size() != 2)
      return invalidArgument(where_ + "kernel_shape has " + std::to_string(kernel_.size()) + " values; NHWC input " +
                             dimsToString(x.dims) + " has 2 spatial dims");
    PoolArgs a;
    a.x = x.data;
    a.y = y.data;
    a.planes = x.dims[0];
    a.channels = x.dims[3];
    a.channelsLast = true;
    a.spatialRank = 2;
    a.isMax = op_ == OpKind::kMaxPool;
    a.countIncludePad = countIncludePad_;
    for (size_t k = 0; k < 2; ++k) KILN_RETURN_IF_ERROR(setSpatial(a, k, x.dims[k + 1], y.dims[k + 1], 2));
    KILN_CUDA_CHECK(launchPool(a, x.dtype, s), where_);
    return Status::ok();
  }

  /// Window, stride, dilation and padding of spatial dim k (extent `in` -> `out`).
  Status setSpatial(PoolArgs& a, size_t k, int64_t in, int64_t out, size_t spatial) const {
    a.in[k] = in;
    a.out[k] = out;
    a.kernel[k] = kernel_[k];
    a.stride[k] = k < strides_.size() ? strides_[k] : 1;
    a.dilation[k] = k < dilations_.size() ? dilations_[k] : 1;
    if (a.kernel[k] < 1 || a.stride[k] < 1 || a.dilation[k] < 1)
      return invalidArgument(where_ + "spatial dim " + std::to_string(k) + ": kernel " + std::to_string(a.kernel[k]) +
                             ", stride " + std::to_string(a.stride[k]) + ", dilation " + std::to_string(a.dilation[k]) +
                             "; each must be at least 1");
    if (autoPad_ == "SAME_UPPER" || autoPad_ == "SAME_LOWER") {
      const int64_t total =
          std::max<int64_t>(0, (a.out[k] - 1) * a.stride[k] + (a.kernel[k] - 1) * a.dilation[k] + 1 - a.in[k]);
      a.padBegin[k] = autoPad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
      a.padEnd[k] = total - a.padBegin[k];
    } else if (autoPad_ == "NOTSET" && pads_.size() == 2 * spatial) {
      a.padBegin[k] = pads_[k];
      a.padEnd[k] = pads_[k + spatial];
    }
    return Status::ok();
  }

  std::string where_;
  OpKind op_;
  std::vector<int64_t> kernel_, strides_, pads_, dilations_;
  std::string autoPad_;
  bool countIncludePad_ = false;
  bool nhwc_ = false;
};

}  // namespace

Status poolSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty()) return invalidModel(graph.describe(node) + ": no inputs");
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  if (node.outputs.size() > 1) return unsupported(graph.describe(node) + ": the Indices output is not produced");
  const ir::Value& v = graph.values[node.inputs[0]];
  if (v.rankKnown && (v.dims.size() < 3 || v.dims.size() > 5))
    return unsupported(graph.describe(node) + ": input rank " + std::to_string(v.dims.size()) +
                       "; the CUDA pools handle 1 to 3 spatial dims");
  const std::string autoPad = node.attrs.getString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
    return invalidModel(graph.describe(node) + ": auto_pad '" + autoPad + "' is not an ONNX value");
  if ((node.op == OpKind::kMaxPool || node.op == OpKind::kAveragePool) && !node.attrs.has("kernel_shape"))
    return invalidModel(graph.describe(node) + ": attribute kernel_shape is required");
  const std::string format = node.attrs.getString("data_format", "NCHW");
  if (format != "NCHW" && format != "NHWC")
    return unsupported(graph.describe(node) + ": data_format '" + format + "' (expected NCHW or NHWC)");
  if (format == "NHWC" && v.rankKnown && v.dims.size() != 4)
    return unsupported(graph.describe(node) + ": data_format NHWC needs a rank-4 input, found rank " +
                       std::to_string(v.dims.size()));
  return Status::ok();
}

KernelResult makePoolKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<PoolKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
