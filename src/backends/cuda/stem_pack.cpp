// Host side of the stem's packing node (extended SpaceToDepth): geometry from ops::resolvePackedSpaceToDepth, the
// same function shape inference and the CPU reference use, so the three agree on every index.
#include "backends/cuda/stem_pack.h"

#include "ops/space_to_depth_packed.h"

namespace kiln::backends::cuda {
namespace {

class PackedSpaceToDepthKernel final : public Kernel {
 public:
  PackedSpaceToDepthKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), attrs_(node.attrs) {}

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    if (in.empty() || out.empty()) return internalError(where_ + "kernel called without data input or output");
    const DeviceTensor& x = in[0];
    const DeviceTensor& y = out[0];
    KILN_ASSIGN_OR_RETURN(const ops::PackedSpaceToDepth p, ops::resolvePackedSpaceToDepth(where_, attrs_, x.dims));
    if (y.dims != p.outputDims() || y.dtype != x.dtype)
      return invalidArgument(where_ + "output " + dimsToString(y.dims) + " of type " + dataTypeName(y.dtype) +
                             " does not match the packing of " + dimsToString(x.dims) + " (expected " +
                             dimsToString(p.outputDims()) + " of type " + dataTypeName(x.dtype) + ")");
    PackedSpaceToDepthArgs a;
    a.x = x.data;
    a.y = y.data;
    a.batch = p.batch;
    a.channels = p.channels;
    a.height = p.height;
    a.width = p.width;
    a.block = p.block;
    a.padTop = p.pads[0];
    a.padLeft = p.pads[1];
    a.outHeight = p.outHeight;
    a.outWidth = p.outWidth;
    a.outChannels = p.outChannels;
    a.channelsLast = p.channelsLast;
    KILN_CUDA_CHECK(launchPackedSpaceToDepth(a, dataTypeSize(x.dtype), static_cast<cudaStream_t>(stream)), where_);
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:space-to-depth pack"; }

 private:
  std::string where_;
  ir::Attributes attrs_;
};

}  // namespace

Status packedSpaceToDepthSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.inputs[0] == ir::kNoValue || node.outputs.size() != 1)
    return invalidModel(graph.describe(node) + ": SpaceToDepth needs one data input and one output");
  const size_t bytes = dataTypeSize(inputType(graph, node, 0));
  if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
    return unsupported(graph.describe(node) + ": data of type " + dataTypeName(inputType(graph, node, 0)));
  const ir::Value& x = graph.values[node.inputs[0]];
  if (x.rankKnown && x.dims.size() != 4)
    return invalidModel(graph.describe(node) + ": input must be 4-D NCHW, found rank " + std::to_string(x.dims.size()));
  // The attributes are validated against each concrete shape by shape inference (resolvePackedSpaceToDepth).
  return Status::ok();
}

KernelResult makePackedSpaceToDepthKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<PackedSpaceToDepthKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
