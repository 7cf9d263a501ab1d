// Host side of ConvTranspose: the window geometry (pads from auto_pad / output_shape / output_padding) comes from
// ops::resolveTransposedWindow, the same function shape inference uses, per call.
#include "backends/cuda/conv_transpose.h"
#include "backends/cuda/cuda_common.h"
#include "ops/window_geometry.h"

namespace kiln::backends::cuda {
namespace {

class ConvTransposeKernel final : public Kernel {
 public:
  ConvTransposeKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), attrs_(node.attrs), groups_(node.attrs.getInt("group", 1)) {}

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const DeviceTensor& x = in[0];
    const DeviceTensor& w = in[1];
    const DeviceTensor& y = out[0];
    const size_t spatial = x.dims.size() < 2 ? 0 : x.dims.size() - 2;
    if (spatial < 1 || spatial > 3 || w.dims.size() != x.dims.size() || y.dims.size() != x.dims.size())
      return invalidArgument(where_ + "expects X, W and Y of equal rank 3 to 5, found " + dimsToString(x.dims) +
                             ", " + dimsToString(w.dims) + ", " + dimsToString(y.dims));
    KILN_ASSIGN_OR_RETURN(const ops::WindowGeometry geo,
                          ops::resolveTransposedWindow(where_, attrs_, std::span<const int64_t>(x.dims).subspan(2),
                                                       std::span<const int64_t>(w.dims).subspan(2)));
    ConvTransposeArgs a;
    a.batch = x.dims[0];
    a.inChannels = x.dims[1];
    a.groups = groups_;
    a.outChannels = w.dims[1] * groups_;
    if (groups_ <= 0 || w.dims[0] != a.inChannels || a.inChannels % groups_ != 0 || y.dims[1] != a.outChannels ||
        y.dims[0] != a.batch)
      return invalidArgument(where_ + "W " + dimsToString(w.dims) + " with group " + std::to_string(groups_) +
                             " does not fit X " + dimsToString(x.dims) + " and Y " + dimsToString(y.dims));
    const size_t offset = 3 - spatial;  // leading size-1 dims
    for (size_t d = 0; d < spatial; ++d) {
      if (geo.output[d] != y.dims[2 + d])
        return invalidArgument(where_ + "output dim " + std::to_string(2 + d) + " is " + std::to_string(y.dims[2 + d]) +
                               "; the window gives " + std::to_string(geo.output[d]));
      a.inSpatial[offset + d] = x.dims[2 + d];
      a.outSpatial[offset + d] = y.dims[2 + d];
      a.kernel[offset + d] = geo.kernel[d];
      a.strides[offset + d] = geo.strides[d];
      a.dilations[offset + d] = geo.dilations[d];
      a.pads[offset + d] = geo.padsBegin[d];
      if (geo.strides[d] <= 0) return invalidArgument(where_ + "strides must be positive");
    }
    a.inSize = a.inSpatial[0] * a.inSpatial[1] * a.inSpatial[2];
    a.kernelSize = a.kernel[0] * a.kernel[1] * a.kernel[2];
    a.x = x.data;
    a.w = w.data;
    a.bias = in.size() > 2 && in[2].present() ? in[2].data : nullptr;
    if (a.bias && in[2].elementCount() != a.outChannels)
      return invalidArgument(where_ + "B has " + std::to_string(in[2].elementCount()) + " values for " +
                             std::to_string(a.outChannels) + " output channels");
    a.y = y.data;
    KILN_CUDA_CHECK(launchConvTranspose(a, x.dtype, static_cast<cudaStream_t>(stream)), where_);
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:direct-transposed-conv"; }

 private:
  std::string where_;
  ir::Attributes attrs_;
  int64_t groups_;
};

}  // namespace

Status convTransposeSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": needs inputs X and W");
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  const DataType t = inputType(graph, node, 0);
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {t}));
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue) KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, {t}));
  const ir::Value& x = graph.values[static_cast<size_t>(node.inputs[0])];
  if (x.rankKnown && (x.dims.size() < 3 || x.dims.size() > 5))
    return unsupported(graph.describe(node) + ": input rank " + std::to_string(x.dims.size()) +
                       "; the CUDA kernel handles 1-D to 3-D windows");
  return Status::ok();
}

KernelResult makeConvTransposeKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<ConvTransposeKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
