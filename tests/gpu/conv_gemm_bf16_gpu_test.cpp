// The conv and GEMM family in bfloat16 (and float16, float32 alongside) on CUDA against the CPU backend in float32:
// NCHW convs (cuDNN legacy: 2-D, grouped, depthwise, 1-D, 3-D, fused bias + residual + Relu, whose epilogue is kiln's
// own kernel for bfloat16), NHWC convs with each path forced by its tactic (legacy, graph API whole and split,
// cuBLASLt 1x1), Gemm and MatMul with their bias/Relu/GeluTanh epilogues (cuBLASLt), and ConvTranspose. Each case is
// one node whose inputs and weights are rounded to the type for both sides, so the error is the kernel's own
// (FP32 accumulation, one output rounding). supports() must say yes for each, since the precision pass keeps a node
// in float32 where it says no.
// Tolerances: cosine >= 0.999 (bfloat16), 0.9999 (float16), 0.99999 (float32, TF32 off) and max abs error <= 2e-2,
// 1e-2, 1e-4 of max |reference|.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "gpu/cnn_block_gpu_util.h"
#include "test_util/gpu.h"
#include "unit/lower_for_cpu.h"

namespace kiln {
namespace {

using namespace cnnblocks;
using fusedtest::attrs;
using ir::OpKind;
using V = std::vector<int64_t>;

/// One node: its float32 inputs (constants or graph inputs) and attributes.
struct Case {
  std::string label;
  OpKind op;
  ir::Attributes attributes;
  std::vector<std::pair<Dims, bool>> inputs;  // dims, constant; empty dims: absent
  std::string tactic;                          // "" = the backend's choice
};

/// KILN_CONV_GEMM_SELF_CHECK=1 checks the harness on a machine without a GPU: the float32 cases run, lowered, on the
/// CPU in place of CUDA (and must match exactly).
bool selfCheck() { return std::getenv("KILN_CONV_GEMM_SELF_CHECK") != nullptr; }

class ConvGemmNarrow : public ::testing::Test {
 protected:
  void SetUp() override {
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
    if (selfCheck()) return;
    REQUIRE_GPU();
    backends::BackendOptions options;
    options.allowTF32 = false;
    cuda_ = std::move(backends::createBackend(DeviceKind::kCuda, options).value());
  }

  void check(const Case& c) {
    for (DataType type : {DataType::kBFloat16, DataType::kFloat16, DataType::kFloat32}) {
      if (selfCheck() && type != DataType::kFloat32) continue;
      const std::string label = c.label + " " + dataTypeName(type) + (c.tactic.empty() ? "" : " tactic " + c.tactic);
      SCOPED_TRACE(label);
      ir::Graph narrow, wide;
      ir::Node n;
      n.name = "node";
      n.op = c.op;
      n.attrs = c.attributes;
      ir::Node w = n;
      std::map<std::string, Tensor> narrowIn, wideIn;
      uint32_t seed = 17;
      for (size_t k = 0; k < c.inputs.size(); ++k) {
        const auto& [dims, constant] = c.inputs[k];
        if (dims.empty()) {
          n.inputs.push_back(ir::kNoValue), w.inputs.push_back(ir::kNoValue);
          continue;
        }
        const std::string name = "in" + std::to_string(k);
        Tensor values = fusedtest::randomTensor(DataType::kFloat32, dims, seed++, -1.5, 1.5);
        Tensor rounded = narrowed(values, type);
        if (constant) {
          n.inputs.push_back(narrow.addConstant(name, std::move(rounded)));
          w.inputs.push_back(wide.addConstant(name, std::move(values)));
          continue;
        }
        for (ir::Graph* g : {&narrow, &wide}) {
          const ir::ValueId id = g->addValue(name, g == &wide ? DataType::kFloat32 : type);
          g->values[id].rankKnown = true;
          g->values[id].dims = dims;
          g->inputs.push_back(id);
          (g == &wide ? w : n).inputs.push_back(id);
        }
        narrowIn[name] = std::move(rounded);
        wideIn[name] = std::move(values);
      }
      n.outputs = {narrow.addValue("y", type)};
      w.outputs = {wide.addValue("y", DataType::kFloat32)};
      narrow.outputs = n.outputs;
      wide.outputs = w.outputs;
      narrow.nodes.push_back(n);
      wide.nodes.push_back(w);
      ASSERT_TRUE(fusedtest::annotate(narrow).isOk());
      if (!selfCheck()) {
        const Status supported = cuda_->supports(narrow, narrow.nodes[0]);
        ASSERT_TRUE(supported.isOk()) << supported.toString();
      }
      auto lowered = lowering::lowerForCpu(wide);
      ASSERT_TRUE(lowered.hasValue()) << lowered.status().toString();
      auto want = fusedtest::runGraph(*cpu_, *lowered, wideIn);
      ASSERT_TRUE(want.hasValue()) << want.status().toString();
      auto got = runWithTactic(narrow, narrowIn, c.tactic);
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      const double cosine = type == DataType::kBFloat16 ? 0.999 : type == DataType::kFloat16 ? 0.9999 : 0.99999;
      const double relative = type == DataType::kBFloat16 ? 2e-2 : type == DataType::kFloat16 ? 1e-2 : 1e-4;
      expectClose(statsOf(*got, want->at("y")), cosine, relative, label);
    }
  }

  /// runGraph with the node's kernel made from `tactic` (fusedtest::runGraph always asks for "").
  Expected<Tensor> runWithTactic(const ir::Graph& g, const std::map<std::string, Tensor>& inputs,
                                 const std::string& tactic) {
    if (selfCheck()) {
      KILN_ASSIGN_OR_RETURN(ir::Graph lowered, lowering::lowerForCpu(g));
      KILN_ASSIGN_OR_RETURN(auto out, fusedtest::runGraph(*cpu_, lowered, inputs));
      return std::move(out.at("y"));
    }
    if (tactic.empty()) {
      KILN_ASSIGN_OR_RETURN(auto out, fusedtest::runGraph(*cuda_, g, inputs));
      return std::move(out.at("y"));
    }
    std::vector<void*> owned;
    struct Release {
      backends::Backend& b;
      std::vector<void*>& p;
      ~Release() {
        for (void* q : p) b.release(q);
      }
    } release{*cuda_, owned};
    const ir::Node& node = g.nodes[0];
    KILN_ASSIGN_OR_RETURN(auto kernel, cuda_->createKernel(g, node, tactic));
    std::vector<backends::DeviceTensor> in;
    for (ir::ValueId v : node.inputs) {
      if (v == ir::kNoValue) {
        in.push_back({});
        continue;
      }
      const Tensor* t = g.constantOf(v);
      if (!t) t = &inputs.at(g.values[v].name);
      KILN_ASSIGN_OR_RETURN(void* p, cuda_->allocate(t->byteSize()));
      owned.push_back(p);
      KILN_RETURN_IF_ERROR(cuda_->copyToDevice(p, t->data(), t->byteSize(), nullptr));
      in.push_back({t->dtype(), t->dims(), p});
    }
    const ir::Value& y = g.values[node.outputs[0]];
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(y.dtype, y.dims));
    KILN_ASSIGN_OR_RETURN(void* yp, cuda_->allocate(out.byteSize()));
    owned.push_back(yp);
    const backends::DeviceTensor outs[1] = {{y.dtype, y.dims, yp}};
    void* workspace = nullptr;
    if (const size_t bytes = kernel->workspaceBytes(in, outs)) {
      KILN_ASSIGN_OR_RETURN(workspace, cuda_->allocate(bytes));
      owned.push_back(workspace);
    }
    KILN_RETURN_IF_ERROR(kernel->run(in, outs, workspace, nullptr));
    KILN_RETURN_IF_ERROR(cuda_->copyToHost(out.data(), yp, out.byteSize(), nullptr));
    KILN_RETURN_IF_ERROR(cuda_->synchronize(nullptr));
    std::printf("[  TACTIC  ] asked '%s', ran '%s'\n", tactic.c_str(), kernel->tactic().c_str());
    return out;
  }

  std::unique_ptr<backends::Backend> cuda_, cpu_;
};

ir::Attributes conv2d(V pads, V strides, int64_t group = 1, V dilations = {1, 1}) {
  return attrs({{"pads", pads}, {"strides", strides}, {"group", group}, {"dilations", dilations}});
}

TEST_F(ConvGemmNarrow, NchwConvs) {
  check({"NCHW 3x3 bias", OpKind::kConv, conv2d({1, 1, 1, 1}, {1, 1}), {{{2, 16, 11, 9}, false}, {{24, 16, 3, 3}, true},
                                                                      {{24}, true}}});
  check({"NCHW 3x3 s2 group 4 asym pads", OpKind::kConv, conv2d({0, 1, 2, 1}, {2, 2}, 4),
         {{{3, 16, 13, 12}, false}, {{32, 4, 3, 3}, true}, {{32}, true}}});
  check({"NCHW depthwise 5x5 d2", OpKind::kConv, conv2d({4, 4, 4, 4}, {1, 1}, 24, {2, 2}),
         {{{2, 24, 10, 10}, false}, {{24, 1, 5, 5}, true}, {{24}, true}}});
  ir::Attributes relu = conv2d({1, 1, 1, 1}, {1, 1});
  relu.set("activation", std::string("Relu"));
  check({"NCHW 3x3 bias + residual + Relu (fused)", OpKind::kConv, relu,
         {{{2, 8, 9, 7}, false}, {{8, 8, 3, 3}, true}, {{8}, true}, {{2, 8, 9, 7}, false}}});
  check({"NCHW 1-D k5 s2", OpKind::kConv, attrs({{"pads", V{2, 2}}, {"strides", V{2}}}),
         {{{2, 12, 31}, false}, {{16, 12, 5}, true}, {{16}, true}}});
  check({"NCHW 3-D 3x3x3 group 2", OpKind::kConv, attrs({{"pads", V{1, 1, 1, 1, 1, 1}}, {"group", int64_t{2}}}),
         {{{1, 8, 5, 6, 7}, false}, {{8, 4, 3, 3, 3}, true}, {{8}, true}}});
}

TEST_F(ConvGemmNarrow, NhwcConvsOnEachPath) {
  // NHWC X [N,H,W,C] and KRSC weights, as the layout pass makes them.
  ir::Attributes a = conv2d({1, 1, 1, 1}, {1, 1});
  a.set("data_format", std::string("NHWC"));
  const std::vector<std::pair<Dims, bool>> in{{{2, 9, 11, 16}, false}, {{32, 3, 3, 16}, true}, {{32}, true}};
  for (const char* tactic : {"", "cudnn:algo=1:mathtype=1", "cudnn-graph:engine=999999:knobs="})
    check({"NHWC 3x3 bias", OpKind::kConv, a, in, tactic});
  ir::Attributes hs = a;
  hs.set("activation", std::string("HardSwish"));
  for (const char* tactic : {"", "cudnn-graph:engine=999999:knobs=:activation=kernel"})
    check({"NHWC 3x3 bias + HardSwish", OpKind::kConv, hs, in, tactic});
  ir::Attributes dw = conv2d({1, 1, 1, 1}, {2, 2}, 24);
  dw.set("data_format", std::string("NHWC"));
  check({"NHWC depthwise s2", OpKind::kConv, dw, {{{2, 13, 11, 24}, false}, {{24, 3, 3, 1}, true}, {{24}, true}}});
  ir::Attributes pw = conv2d({0, 0, 0, 0}, {1, 1});
  pw.set("data_format", std::string("NHWC"));
  pw.set("activation", std::string("Relu"));
  for (const char* tactic : {"", "cublaslt:1x1", "cudnn:algo=1:mathtype=1"})
    check({"NHWC 1x1 bias + residual + Relu", OpKind::kConv, pw,
           {{{2, 7, 9, 40}, false}, {{24, 1, 1, 40}, true}, {{24}, true}, {{2, 7, 9, 24}, false}}, tactic});
}

TEST_F(ConvGemmNarrow, GemmAndMatMulEpilogues) {
  check({"Gemm transB + C", OpKind::kGemm, attrs({{"transB", int64_t{1}}}),
         {{{5, 48}, false}, {{40, 48}, true}, {{40}, true}}});
  ir::Attributes relu = attrs({{"transB", int64_t{1}}, {"activation", std::string("Relu")}});
  check({"Gemm + bias + Relu (fused)", OpKind::kGemm, relu, {{{7, 64}, false}, {{24, 64}, true}, {{24}, true}}});
  ir::Attributes gelu = attrs({{"activation", std::string("GeluTanh")}});
  check({"MatMul + bias + GeluTanh (fused)", OpKind::kMatMul, gelu, {{{2, 9, 32}, false}, {{32, 48}, true}, {{48}, true}}});
  check({"MatMul batched", OpKind::kMatMul, {}, {{{3, 5, 16}, false}, {{3, 16, 8}, false}}});
  check({"Gemm alpha beta transA", OpKind::kGemm, attrs({{"transA", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.0f}}),
         {{{16, 6}, false}, {{16, 12}, true}, {{6, 12}, false}}});
}

TEST_F(ConvGemmNarrow, ConvTranspose) {
  check({"ConvTranspose 3x3 s2 group 2", OpKind::kConvTranspose,
         attrs({{"strides", V{2, 2}}, {"pads", V{1, 1, 1, 1}}, {"group", int64_t{2}}, {"output_padding", V{1, 1}}}),
         {{{2, 8, 5, 6}, false}, {{8, 3, 3, 3}, true}, {{6}, true}}});
  check({"ConvTranspose 1-D k4 s2", OpKind::kConvTranspose, attrs({{"strides", V{2}}}),
         {{{1, 4, 9}, false}, {{4, 5, 4}, true}, {}}});
}

}  // namespace
}  // namespace kiln
