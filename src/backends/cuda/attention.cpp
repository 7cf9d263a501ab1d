// Host side of FusedAttention: supports() for float32/float16/bfloat16 (the precision pass may make it narrow), and a
// kernel that turns the node's geometry (ops/attention.h) at the run's shapes into the flash kernel's arguments.
#include "backends/cuda/attention.h"

#include <algorithm>

#include "backends/cuda/cuda_common.h"
#include "ops/attention.h"

namespace kiln::backends::cuda {
namespace {

class AttentionKernel final : public Kernel {
 public:
  AttentionKernel(const ir::Graph& graph, const ir::Node& node) : where_(graph.describe(node) + ": "), node_(node) {}

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const bool hasMask = in.size() > 3 && in[3].present();
    KILN_ASSIGN_OR_RETURN(
        const ops::AttentionGeometry g,
        ops::attentionGeometry(node_, in[0].dims, in[1].dims, in[2].dims, hasMask ? &in[3].dims : nullptr,
                               hasMask ? in[3].dtype : DataType::kUndefined, where_));
    if (g.headDim > kMaxAttentionHeadDim || g.valueDim > kMaxAttentionHeadDim)
      return unsupported(where_ + "head size " + std::to_string(std::max(g.headDim, g.valueDim)) +
                         " is above the CUDA kernel's " + std::to_string(kMaxAttentionHeadDim));
    AttentionArgs a;
    a.q = in[0].data;
    a.k = in[1].data;
    a.v = in[2].data;
    a.mask = hasMask ? in[3].data : nullptr;
    a.out = out[0].data;
    a.batch = g.batch;
    a.heads = g.heads;
    a.queries = g.queries;
    a.keys = g.keys;
    a.headDim = g.headDim;
    a.valueDim = g.valueDim;
    a.kGroup = g.kGroup;
    a.vGroup = g.vGroup;
    const auto strides = [](int64_t* dst, const ops::AttentionStrides& s) {
      dst[0] = s.batch;
      dst[1] = s.head;
      dst[2] = s.row;
    };
    strides(a.qStride, g.q);
    strides(a.kStride, g.k);
    strides(a.vStride, g.v);
    strides(a.outStride, g.out);
    a.maskStride[0] = g.maskBatch;
    a.maskStride[1] = g.maskHead;
    a.maskStride[2] = g.maskQuery;
    a.maskStride[3] = g.maskKey;
    a.maskKind = static_cast<int32_t>(g.maskKind);
    a.scale = g.scale;
    a.causal = g.causal ? 1 : 0;
    a.zeroMaskedRows = g.zeroMaskedRows ? 1 : 0;
    KILN_CUDA_CHECK(launchAttention(a, in[0].dtype, static_cast<cudaStream_t>(stream)), where_);
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:flash-fp32acc-32x32"; }

 private:
  std::string where_;
  ir::Node node_;
};

}  // namespace

Status attentionSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.size() < 3 || node.inputs.size() > 4)
    return invalidModel(graph.describe(node) + ": expected 3 or 4 inputs, found " + std::to_string(node.inputs.size()));
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  const DataType t = inputType(graph, node, 0);
  for (size_t k = 1; k < 3; ++k) KILN_RETURN_IF_ERROR(requireInputType(graph, node, k, {t}));
  if (node.inputs.size() == 4 && node.inputs[3] != ir::kNoValue)
    KILN_RETURN_IF_ERROR(requireInputType(graph, node, 3, {DataType::kBool, t}));
  // The head sizes, where the graph knows them (the run checks them again at its shapes).
  const bool packed = node.attrs.has("q_num_heads") || node.attrs.has("kv_num_heads");
  for (size_t k = 0; k < 3 && !packed; ++k) {
    const ir::Value& v = graph.values[node.inputs[k]];
    if (v.rankKnown && !v.dims.empty() && v.dims.back() > kMaxAttentionHeadDim)
      return unsupported(graph.describe(node) + ": input '" + v.name + "' has head size " +
                         std::to_string(v.dims.back()) + "; the CUDA kernel takes up to " +
                         std::to_string(kMaxAttentionHeadDim));
  }
  return Status::ok();
}

KernelResult makeAttentionKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  KILN_CUDA_CHECK(configureAttentionKernels(), graph.describe(node) + ": ");
  return std::unique_ptr<Kernel>(std::make_unique<AttentionKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
