// The direct convolution the CUDA conv tuner checks each candidate against (backends/cuda/conv_reference.h,
// conv_tactic_check.h), evaluated on the host at every output element and compared with the CPU backend: NCHW 1-D,
// 2-D and 3-D convs with groups, strides, dilations, asymmetric and SAME pads, and the channels-last forms the CUDA
// passes make (KRSC weights, fused residual and activation; the CPU runs their plain-op meaning, lower_for_cpu.h).
// Tolerance: both are float32 data summed in a different order (the reference in float64): |a - b| <= 1e-5 * max|b|.
#include <gtest/gtest.h>

#include "backends/cuda/conv_epilogue_activation.h"
#include "backends/cuda/conv_tactic_check.h"
#include "unit/cnn_block_graphs.h"
#include "unit/lower_for_cpu.h"

namespace kiln {
namespace {

using ir::OpKind;

struct HostLoad {
  double operator()(const void* p, int64_t i) const { return static_cast<const float*>(p)[i]; }
};

/// Checks the reference at every output element of `g`'s single Conv against the CPU run of its lowered form.
void checkAgainstCpu(ir::Graph g, const std::string& label) {
  SCOPED_TRACE(label);
  auto cpu = backends::createBackend(DeviceKind::kCpu).value();
  ASSERT_TRUE(fusedtest::annotate(g).isOk());
  const auto inputs = fusedtest::randomInputs(g, 31);
  auto lowered = lowering::lowerForCpu(g);
  ASSERT_TRUE(lowered.hasValue()) << lowered.status().toString();
  auto want = fusedtest::runGraph(*cpu, *lowered, inputs);
  ASSERT_TRUE(want.hasValue()) << want.status().toString();
  const ir::Node& conv = g.nodes.back();
  ASSERT_EQ(conv.op, OpKind::kConv);
  std::vector<backends::DeviceTensor> in;
  for (ir::ValueId v : conv.inputs) {
    if (v == ir::kNoValue) {
      in.push_back({});
      continue;
    }
    const Tensor* t = g.constantOf(v);
    if (!t) t = &inputs.at(g.values[v].name);
    in.push_back({t->dtype(), t->dims(), const_cast<void*>(t->data())});
  }
  const Tensor& y = want->at(g.values[conv.outputs[0]].name);
  const backends::DeviceTensor out[1] = {{y.dtype(), y.dims(), nullptr}};
  auto args = backends::cuda::referenceConvArgsFor(conv, in, out);
  ASSERT_TRUE(args.has_value()) << "the reference does not know this conv";
  auto activation = backends::cuda::epilogueActivationOf(g, conv);
  ASSERT_TRUE(activation.hasValue()) << activation.status().toString();
  args->activation = activation->inPlace;
  args->x = in[0].data;
  args->w = in[1].data;
  args->bias = in.size() > 2 ? in[2].data : nullptr;
  args->z = in.size() > 3 ? in[3].data : nullptr;
  double scale = 0, maxErr = 0;
  for (int64_t i = 0; i < y.elementCount(); ++i) scale = std::max(scale, std::fabs(double(y.dataAs<float>()[i])));
  for (int64_t i = 0; i < y.elementCount(); ++i)
    maxErr = std::max(maxErr, std::fabs(double(backends::cuda::referenceConvAt(*args, i, HostLoad{})) -
                                        y.dataAs<float>()[i]));
  EXPECT_GT(scale, 0);
  EXPECT_LE(maxErr, 1e-5 * scale) << "max error " << maxErr << " of scale " << scale;
}

/// x [dims] -> Conv(w [K, C/group, kernel...], b) with `attrs`.
ir::Graph plainConv(Dims x, Dims w, ir::Attributes attrs) {
  cnnblocks::BlockBuilder bb;
  const ir::ValueId in = bb.b.input("x", std::move(x));
  const ir::ValueId wc = bb.b.constant(bb.uniform(static_cast<size_t>(elementCount(w)), 0.5), w);
  const ir::ValueId bc = bb.b.constant(bb.uniform(static_cast<size_t>(w[0]), 0.5), {w[0]});
  bb.b.output(bb.b.op(OpKind::kConv, {in, wc, bc}, std::move(attrs)));
  return std::move(bb.b.g);
}

TEST(ConvReference, NchwFormsMatchTheCpuConv) {
  using fusedtest::attrs;
  using V = std::vector<int64_t>;
  checkAgainstCpu(plainConv({2, 6, 9, 7}, {8, 3, 3, 3}, attrs({{"group", int64_t{2}}, {"pads", V{1, 0, 2, 1}},
                                                              {"strides", V{2, 1}}})),
                  "2-D group 2, asymmetric pads, stride 2x1");
  checkAgainstCpu(plainConv({1, 5, 11, 10}, {5, 1, 3, 3}, attrs({{"group", int64_t{5}}, {"dilations", V{2, 2}},
                                                               {"pads", V{2, 2, 2, 2}}})),
                  "2-D depthwise, dilation 2");
  checkAgainstCpu(plainConv({3, 4, 13}, {6, 4, 4}, attrs({{"auto_pad", std::string("SAME_UPPER")},
                                                         {"strides", V{3}}})),
                  "1-D SAME_UPPER stride 3");
  checkAgainstCpu(plainConv({1, 4, 5, 6, 7}, {4, 2, 2, 3, 3}, attrs({{"group", int64_t{2}}, {"pads", V{1, 0, 1, 0, 1, 1}}})),
                  "3-D group 2");
}

TEST(ConvReference, ChannelsLastFusedFormsMatch) {
  // The blocks' convs after the CUDA passes: NHWC, KRSC weights, packed stems, fused activations and residuals.
  int checked = 0;
  for (cnnblocks::Block& block : cnnblocks::allBlocks(2, 7)) {
    ir::Graph& g = block.graph;
    ASSERT_TRUE(cnnblocks::runCudaPasses(g).isOk());
    for (const ir::Node& node : g.nodes) {
      if (node.op != OpKind::kConv) continue;
      // The conv alone, its inputs graph inputs (the residual too), its constants kept.
      ir::Graph one;
      ir::Node n = node;
      n.inputs.clear();
      for (ir::ValueId v : node.inputs) {
        if (v == ir::kNoValue) {
          n.inputs.push_back(ir::kNoValue);
        } else if (const Tensor* c = g.constantOf(v)) {
          n.inputs.push_back(one.addConstant(g.values[v].name, *c));
        } else {
          const ir::ValueId id = one.addValue(g.values[v].name, DataType::kFloat32);
          one.values[id].rankKnown = true;
          one.values[id].dims = g.values[v].dims;
          one.inputs.push_back(id);
          n.inputs.push_back(id);
        }
      }
      n.outputs = {one.addValue("y", DataType::kFloat32)};
      one.outputs = n.outputs;
      one.nodes.push_back(n);
      checkAgainstCpu(std::move(one), block.name + " conv '" + node.name + "' activation " +
                                          node.attrs.getString("activation", "none"));
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
}

}  // namespace
}  // namespace kiln
