// Small float32 graphs of the blocks MobileNetV2/V3 and EfficientNet are made of, in the op forms torch.onnx.export
// writes (BatchNorm already folded into conv weights and bias, with per-channel gains as a trained net has them):
// depthwise and grouped convs, ReLU6 as Clip (legacy exporter) or Relu+Min (dynamo), HardSwish, HardSigmoid
// (alpha 1/6), SiLU as x*Sigmoid(x), squeeze-excitation (GlobalAveragePool -> 1x1 conv -> act -> 1x1 conv -> gate ->
// Mul), residual adds, the stride-2 stem and the classifier head. Shared by cnn_block_passes_test.cpp (CPU: the CUDA
// passes' rewrites against the original graph) and gpu/cnn_block_fp16_gpu_test.cpp (CUDA engines vs the CPU).
// Header-only.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "passes/passes.h"
#include "unit/fused_elementwise_graphs.h"

namespace kiln::cnnblocks {

using fusedtest::GraphBuilder;
using ir::OpKind;
using ir::ValueId;

/// Builds one block's ops on a GraphBuilder; weights are deterministic per seed.
struct BlockBuilder {
  GraphBuilder b;
  uint32_t seed = 1;

  /// Uniform values with the given standard deviation.
  std::vector<double> uniform(size_t n, double stddev) {
    std::mt19937 rng(seed++);
    const double a = stddev * std::sqrt(3.0);
    std::uniform_real_distribution<double> u(-a, a);
    std::vector<double> v(n);
    for (double& x : v) x = u(rng);
    return v;
  }

  /// Conv (OIHW weights, bias) with He-scaled weights times a per-output-channel gain in [0.5, 2] (a folded BN).
  ValueId conv(ValueId x, int64_t cin, int64_t cout, int64_t k, int64_t stride = 1, int64_t group = 1,
               std::vector<int64_t> pads = {}) {
    if (pads.empty()) pads = {k / 2, k / 2, k / 2, k / 2};
    const int64_t perGroup = cin / group;
    const double fanIn = static_cast<double>(perGroup * k * k);
    std::vector<double> w = uniform(static_cast<size_t>(cout * perGroup * k * k), std::sqrt(2.0 / fanIn));
    std::mt19937 rng(seed++);
    std::uniform_real_distribution<double> gain(0.5, 2.0);
    const size_t perOut = static_cast<size_t>(perGroup * k * k);
    for (int64_t o = 0; o < cout; ++o) {
      const double g = gain(rng);
      for (size_t i = 0; i < perOut; ++i) w[static_cast<size_t>(o) * perOut + i] *= g;
    }
    const ValueId wc = b.constant(w, {cout, perGroup, k, k});
    const ValueId bc = b.constant(uniform(static_cast<size_t>(cout), 0.3), {cout});
    return b.op(OpKind::kConv, {x, wc, bc},
                fusedtest::attrs({{"kernel_shape", std::vector<int64_t>{k, k}},
                                  {"strides", std::vector<int64_t>{stride, stride}},
                                  {"pads", pads},
                                  {"dilations", std::vector<int64_t>{1, 1}},
                                  {"group", group}}));
  }

  ValueId relu6(ValueId v) { return b.op(OpKind::kClip, {v, b.scalar(0.0), b.scalar(6.0)}); }
  /// torch's dynamo exporter writes relu6 as Min(Relu(x), 6).
  ValueId relu6Dynamo(ValueId v) { return b.op(OpKind::kMin, {b.op(OpKind::kRelu, {v}), b.scalar(6.0)}); }
  ValueId relu(ValueId v) { return b.op(OpKind::kRelu, {v}); }
  ValueId hardSwish(ValueId v) { return b.op(OpKind::kHardSwish, {v}); }
  ValueId hardSigmoid(ValueId v) {
    return b.op(OpKind::kHardSigmoid, {v}, fusedtest::attrs({{"alpha", 1.0f / 6.0f}}));
  }
  ValueId sigmoid(ValueId v) { return b.op(OpKind::kSigmoid, {v}); }
  ValueId silu(ValueId v) { return b.op(OpKind::kMul, {v, sigmoid(v)}); }

  /// torchvision's SqueezeExcitation: scale = gate(fc2(act(fc1(avgpool(x))))); scale * x.
  ValueId squeezeExcite(ValueId x, int64_t channels, int64_t squeeze, const std::function<ValueId(ValueId)>& act,
                        const std::function<ValueId(ValueId)>& gate) {
    const ValueId pooled = b.op(OpKind::kGlobalAveragePool, {x});
    const ValueId s = gate(conv(act(conv(pooled, channels, squeeze, 1)), squeeze, channels, 1));
    return b.op(OpKind::kMul, {s, x});
  }
};

/// The rewrites build_engine.cpp applies to a CUDA engine that runs channels-last (FP16, BF16, TF32), in its order:
/// conv epilogues (Relu), GEMM epilogues, channels-last, graph-API conv epilogues, elementwise chains.
inline Status runCudaPasses(ir::Graph& g) {
  KILN_RETURN_IF_ERROR(fusedtest::annotate(g));
  KILN_RETURN_IF_ERROR(passes::fuseConvEpilogues(g).status());
  KILN_RETURN_IF_ERROR(passes::fuseGemmEpilogues(g).status());
  KILN_RETURN_IF_ERROR(fusedtest::annotate(g));
  KILN_RETURN_IF_ERROR(passes::convertToNhwc(g).status());
  KILN_RETURN_IF_ERROR(fusedtest::annotate(g));
  KILN_RETURN_IF_ERROR(passes::fuseConvEpilogues(g, /*graphApiForms=*/true).status());
  KILN_RETURN_IF_ERROR(fusedtest::annotate(g));
  KILN_RETURN_IF_ERROR(passes::fuseElementwiseChains(g).status());
  return fusedtest::annotate(g);
}

/// One block: its name and graph (input "x", NCHW float32).
struct Block {
  std::string name;
  ir::Graph graph;
};

inline Block finish(std::string name, BlockBuilder& bb, ValueId out) {
  bb.b.output(out);
  return {std::move(name), std::move(bb.b.g)};
}

/// The blocks, at batch `n` (use an odd one too) and spatial size `hw`.
inline std::vector<Block> allBlocks(int64_t n, int64_t hw) {
  std::vector<Block> blocks;
  {  // MobileNetV2 / V3 / EfficientNet stems: 3x3 stride 2 on RGB (the space-to-depth stem path) and activation
    for (const char* act : {"relu6", "hardswish", "silu"}) {
      BlockBuilder bb;
      const ValueId x = bb.b.input("x", {n, 3, 2 * hw, 2 * hw});
      const ValueId y = bb.conv(x, 3, 16, 3, 2);
      const ValueId a = std::string(act) == "relu6" ? bb.relu6(y) : std::string(act) == "silu" ? bb.silu(y) : bb.hardSwish(y);
      blocks.push_back(finish(std::string("stem 3x3 s2 + ") + act, bb, a));
    }
  }
  {  // depthwise convs alone, each with its activation (isolates the grouped conv and its epilogue)
    struct Dw {
      const char* name;
      int64_t k, stride, channels;
      int act;  // 0 relu6, 1 hardswish, 2 silu, 3 relu
    };
    for (const Dw& d : {Dw{"dw 3x3 s1 C32 + relu6", 3, 1, 32, 0}, Dw{"dw 3x3 s2 C24 + relu6", 3, 2, 24, 0},
                        Dw{"dw 5x5 s2 C40 + hardswish", 5, 2, 40, 1}, Dw{"dw 3x3 s1 C16 + relu", 3, 1, 16, 3},
                        Dw{"dw 5x5 s1 C20 + silu", 5, 1, 20, 2}, Dw{"dw 3x3 s1 C13 + silu", 3, 1, 13, 2}}) {
      BlockBuilder bb;
      const ValueId x = bb.b.input("x", {n, d.channels, hw, hw});
      const ValueId y = bb.conv(x, d.channels, d.channels, d.k, d.stride, d.channels);
      const ValueId a = d.act == 0 ? bb.relu6(y) : d.act == 1 ? bb.hardSwish(y) : d.act == 2 ? bb.silu(y) : bb.relu(y);
      blocks.push_back(finish(d.name, bb, a));
    }
  }
  {  // a grouped (not depthwise) conv with asymmetric pads
    BlockBuilder bb;
    const ValueId x = bb.b.input("x", {n, 16, hw, hw + 1});
    blocks.push_back(finish("group 4 3x3 asym pads + relu", bb, bb.relu(bb.conv(x, 16, 24, 3, 1, 4, {0, 1, 2, 1}))));
  }
  {  // 1x1 convs with each graph-API epilogue
    for (const char* act : {"relu6", "hardswish", "hardsigmoid", "silu", "sigmoid"}) {
      BlockBuilder bb;
      const ValueId x = bb.b.input("x", {n, 24, hw, hw});
      const ValueId y = bb.conv(x, 24, 40, 1);
      const std::string a = act;
      const ValueId z = a == "relu6" ? bb.relu6(y) : a == "hardswish" ? bb.hardSwish(y) : a == "hardsigmoid" ? bb.hardSigmoid(y)
                        : a == "silu" ? bb.silu(y) : bb.sigmoid(y);
      blocks.push_back(finish(std::string("1x1 C24->40 + ") + act, bb, z));
    }
  }
  {  // projection conv + residual add with no activation (the graph API's Identity epilogue); the residual comes
     // from a conv, as inside a network, so that it is channels-last too
    BlockBuilder bb;
    const ValueId x = bb.relu6(bb.conv(bb.b.input("x", {n, 24, hw, hw}), 24, 24, 1));
    const ValueId h = bb.relu6(bb.conv(x, 24, 24, 3));
    blocks.push_back(finish("3x3 + relu6, 1x1 project + residual", bb, bb.b.op(OpKind::kAdd, {bb.conv(h, 24, 24, 1), x})));
  }
  {  // squeeze-excitation alone, both gates, on an NHWC activation
    for (int gate = 0; gate < 2; ++gate) {
      BlockBuilder bb;
      const ValueId x = bb.b.input("x", {n, 32, hw, hw});
      const ValueId a = bb.hardSwish(bb.conv(x, 32, 32, 3, 1, 32));  // a depthwise conv's output, as in the nets
      const ValueId se = gate == 0 ? bb.squeezeExcite(a, 32, 8, [&](ValueId v) { return bb.relu(v); },
                                                      [&](ValueId v) { return bb.hardSigmoid(v); })
                                   : bb.squeezeExcite(a, 32, 6, [&](ValueId v) { return bb.silu(v); },
                                                      [&](ValueId v) { return bb.sigmoid(v); });
      blocks.push_back(finish(gate == 0 ? "SE relu/hardsigmoid (V3)" : "SE silu/sigmoid squeeze 6 (EfficientNet)", bb, se));
    }
  }
  {  // MobileNetV2 inverted residual (stride 1, residual) and a stride-2 one; also with dynamo's ReLU6 form
    for (int form = 0; form < 2; ++form) {
      BlockBuilder bb;
      const auto r6 = [&](ValueId v) { return form == 0 ? bb.relu6(v) : bb.relu6Dynamo(v); };
      const ValueId x = r6(bb.conv(bb.b.input("x", {n, 8, hw, hw}), 8, 16, 1));  // the previous block's output
      const ValueId e = r6(bb.conv(x, 16, 96, 1));
      const ValueId d = r6(bb.conv(e, 96, 96, 3, 1, 96));
      const ValueId r = bb.b.op(OpKind::kAdd, {bb.conv(d, 96, 16, 1), x});
      const ValueId s2 = r6(bb.conv(r6(bb.conv(r, 16, 48, 1)), 48, 48, 3, 2, 48));
      const ValueId out = bb.conv(s2, 48, 24, 1);
      blocks.push_back(finish(form == 0 ? "MobileNetV2 blocks (Clip)" : "MobileNetV2 blocks (Relu+Min)", bb, out));
    }
  }
  {  // MobileNetV3 block: expand + hardswish, dw 5x5 s2 + hardswish, SE, project; and a relu block with residual
    BlockBuilder bb;
    const ValueId x = bb.hardSwish(bb.conv(bb.b.input("x", {n, 3, 2 * hw, 2 * hw}), 3, 16, 3, 2));  // V3's stem
    const ValueId d1 = bb.relu(bb.conv(x, 16, 16, 3, 1, 16));
    const ValueId se1 = bb.squeezeExcite(d1, 16, 8, [&](ValueId v) { return bb.relu(v); },
                                         [&](ValueId v) { return bb.hardSigmoid(v); });
    const ValueId r1 = bb.b.op(OpKind::kAdd, {bb.conv(se1, 16, 16, 1), x});
    const ValueId e = bb.hardSwish(bb.conv(r1, 16, 64, 1));
    const ValueId d = bb.hardSwish(bb.conv(e, 64, 64, 5, 2, 64));
    const ValueId se = bb.squeezeExcite(d, 64, 16, [&](ValueId v) { return bb.relu(v); },
                                        [&](ValueId v) { return bb.hardSigmoid(v); });
    blocks.push_back(finish("MobileNetV3 blocks", bb, bb.conv(se, 64, 24, 1)));
  }
  {  // EfficientNet MBConv: expand + SiLU, dw + SiLU, SE (squeeze = input channels / 4), project + residual
    BlockBuilder bb;
    const ValueId x = bb.conv(bb.b.input("x", {n, 24, hw, hw}), 24, 16, 1);  // the previous block's projection
    const ValueId e = bb.silu(bb.conv(x, 16, 96, 1));
    const ValueId d = bb.silu(bb.conv(e, 96, 96, 3, 1, 96));
    const ValueId se = bb.squeezeExcite(d, 96, 4, [&](ValueId v) { return bb.silu(v); },
                                        [&](ValueId v) { return bb.sigmoid(v); });
    const ValueId r = bb.b.op(OpKind::kAdd, {bb.conv(se, 96, 16, 1), x});
    const ValueId e2 = bb.silu(bb.conv(r, 16, 96, 1));
    const ValueId d2 = bb.silu(bb.conv(e2, 96, 96, 5, 2, 96));
    const ValueId se2 = bb.squeezeExcite(d2, 96, 4, [&](ValueId v) { return bb.silu(v); },
                                         [&](ValueId v) { return bb.sigmoid(v); });
    blocks.push_back(finish("EfficientNet MBConv blocks", bb, bb.conv(se2, 96, 24, 1)));
  }
  {  // classifier head: 1x1 conv + hardswish, pool, Flatten, Gemm + hardswish, Gemm
    BlockBuilder bb;
    const ValueId x = bb.b.input("x", {n, 24, hw, hw});
    const ValueId pooled = bb.b.op(OpKind::kGlobalAveragePool, {bb.hardSwish(bb.conv(x, 24, 48, 1))});
    const ValueId flat = bb.b.op(OpKind::kFlatten, {pooled}, fusedtest::attrs({{"axis", int64_t{1}}}));
    const auto gemm = [&](ValueId v, int64_t k, int64_t m) {
      return bb.b.op(OpKind::kGemm, {v, bb.b.constant(bb.uniform(static_cast<size_t>(m * k), std::sqrt(2.0 / k)), {m, k}),
                                     bb.b.constant(bb.uniform(static_cast<size_t>(m), 0.3), {m})},
                     fusedtest::attrs({{"transB", int64_t{1}}}));
    };
    blocks.push_back(finish("head: pool, Flatten, Gemm + hardswish, Gemm", bb, gemm(bb.hardSwish(gemm(flat, 48, 40)), 40, 10)));
  }
  {  // an affine with [C,1,1] constants between convs (an unfolded scale/shift) and HardSigmoid with ONNX defaults
    BlockBuilder bb;
    const ValueId x = bb.b.input("x", {n, 8, hw, hw});
    const ValueId y = bb.conv(x, 8, 16, 3);
    const ValueId scaled = bb.b.op(OpKind::kMul, {y, bb.b.constant(bb.uniform(16, 1.0), {16, 1, 1})});
    const ValueId shifted = bb.b.op(OpKind::kAdd, {bb.b.constant(bb.uniform(16, 1.0), {16, 1, 1}), scaled});
    const ValueId z = bb.b.op(OpKind::kHardSigmoid, {bb.conv(bb.relu(shifted), 16, 16, 3)});
    blocks.push_back(finish("[C,1,1] affine + relu, conv + HardSigmoid defaults", bb, z));
  }
  {  // SiLU look-alike: the Mul's other operand is not the conv's output (x * sigmoid(y) with y != x)
    BlockBuilder bb;
    const ValueId x = bb.b.input("x", {n, 16, hw, hw});
    const ValueId y = bb.conv(x, 16, 16, 1);
    const ValueId w = bb.conv(x, 16, 16, 3);
    const ValueId gated = bb.b.op(OpKind::kMul, {w, bb.sigmoid(y)});
    blocks.push_back(finish("x * sigmoid(y), x != y", bb, bb.b.op(OpKind::kAdd, {gated, y})));
  }
  return blocks;
}

}  // namespace kiln::cnnblocks
