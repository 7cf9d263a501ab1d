#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <tuple>

#include "passes/passes.h"
#include "passes/space_to_depth_stem.h"

namespace kiln::passes {
namespace {

const std::vector<int64_t> kToNhwc{0, 2, 3, 1};
const std::vector<int64_t> kToNchw{0, 3, 1, 2};

bool isRank4(const ir::Graph& g, ir::ValueId v) {
  return v != ir::kNoValue && g.values[v].rankKnown && g.values[v].dims.size() == 4;
}

/// Ops whose NHWC form kernels implement (data_format attribute).
bool layoutSensitive(const ir::Graph& g, const ir::Node& n) {
  switch (n.op) {
    case ir::OpKind::kConv:
      return n.inputs.size() >= 2 && isRank4(g, n.inputs[0]) && g.isConstant(n.inputs[1]) &&
             g.constantOf(n.inputs[1])->rank() == 4;
    case ir::OpKind::kMaxPool: case ir::OpKind::kAveragePool:
      return n.outputs.size() == 1 && isRank4(g, n.inputs[0]);
    case ir::OpKind::kGlobalAveragePool: case ir::OpKind::kGlobalMaxPool:
      return isRank4(g, n.inputs[0]);
    default:
      return false;
  }
}

/// Elementwise ops that compute the same thing in any layout when every tensor input shares it.
bool layoutAgnostic(ir::OpKind op) {
  switch (op) {
    case ir::OpKind::kRelu: case ir::OpKind::kSigmoid: case ir::OpKind::kTanh: case ir::OpKind::kHardSwish:
    case ir::OpKind::kHardSigmoid: case ir::OpKind::kLeakyRelu: case ir::OpKind::kClip: case ir::OpKind::kElu:
    case ir::OpKind::kGelu: case ir::OpKind::kErf: case ir::OpKind::kExp: case ir::OpKind::kAbs:
    case ir::OpKind::kNeg: case ir::OpKind::kSqrt: case ir::OpKind::kAdd: case ir::OpKind::kSub:
    case ir::OpKind::kMul: case ir::OpKind::kDiv: case ir::OpKind::kMax: case ir::OpKind::kMin:
    case ir::OpKind::kIdentity: case ir::OpKind::kCast:
      return true;
    default:
      return false;
  }
}

bool isScalarConstant(const ir::Graph& g, ir::ValueId v) {
  const Tensor* c = g.constantOf(v);
  return c && c->elementCount() == 1;
}

/// Input channels a Conv gets in NHWC: a few channels (an RGB stem) are zero-padded to 8, the width tensor-core
/// kernels read; grouped convs keep theirs.
int64_t paddedChannels(const ir::Graph& g, const ir::Node& conv) {
  const int64_t channels = g.values[conv.inputs[0]].dims[1];
  return conv.attrs.getInt("group", 1) == 1 && channels > 0 && channels < 8 ? 8 : channels;
}

/// [K, C, R, S] -> [K, R, S, C'], C' >= C with zero weights for the padded channels.
Expected<Tensor> weightsToKrsc(const Tensor& w, int64_t paddedC) {
  const Dims& d = w.dims();  // [K, C, R, S]
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(w.dtype(), {d[0], d[2], d[3], paddedC}));
  const size_t e = dataTypeSize(w.dtype());
  const auto* src = static_cast<const std::byte*>(w.data());
  auto* dst = static_cast<std::byte*>(t.data());
  for (int64_t k = 0; k < d[0]; ++k)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t r = 0; r < d[2]; ++r)
        for (int64_t s = 0; s < d[3]; ++s) {
          const int64_t from = ((k * d[1] + c) * d[2] + r) * d[3] + s;
          const int64_t to = ((k * d[2] + r) * d[3] + s) * paddedC + c;
          std::memcpy(dst + to * e, src + from * e, e);
        }
  return t;
}

/// The stem's packing node: reads X in NCHW and writes the zero-padded 2x2 space-to-depth of it in NHWC
/// (ops/space_to_depth_packed.h), so that no Transpose or channel Pad is left in front of the stem.
ir::Node packingNode(std::string name, ir::ValueId in, ir::ValueId out, const SpaceToDepthStem& stem) {
  ir::Node n;
  n.name = std::move(name);
  n.op = ir::OpKind::kSpaceToDepth;
  n.inputs = {in};
  n.outputs = {out};
  n.attrs.set("blocksize", int64_t{2});
  n.attrs.set("pads", std::vector<int64_t>(stem.pads.begin(), stem.pads.end()));
  n.attrs.set("data_format", std::string("NHWC"));
  n.attrs.set("output_channels", stem.outputChannels);
  return n;
}

/// The stem Conv after packing: stride 1, no padding, the halved kernel (weights are replaced by the caller).
void makeStrideOne(ir::Node& conv, const SpaceToDepthStem& stem) {
  conv.attrs.set("strides", std::vector<int64_t>{1, 1});
  conv.attrs.set("pads", std::vector<int64_t>{0, 0, 0, 0});
  conv.attrs.set("dilations", std::vector<int64_t>{1, 1});
  conv.attrs.erase("auto_pad");
  if (conv.attrs.has("kernel_shape")) conv.attrs.set("kernel_shape", std::vector<int64_t>{stem.kernelH, stem.kernelW});
}

ir::Node transposeNode(std::string name, ir::ValueId in, ir::ValueId out, const std::vector<int64_t>& perm) {
  ir::Node n;
  n.name = std::move(name);
  n.op = ir::OpKind::kTranspose;
  n.inputs = {in};
  n.outputs = {out};
  n.attrs.set("perm", perm);
  return n;
}

}  // namespace

Expected<int> convertToNhwc(ir::Graph& graph) {
  std::map<ir::ValueId, ir::ValueId> nhwcOf;  // NCHW value -> its NHWC twin
  std::map<ir::ValueId, bool> nchwProduced;   // NCHW values whose producer now writes the NHWC twin
  std::map<ir::ValueId, ir::ValueId> paddedOf;  // NHWC value -> its channel-padded copy
  using PackKey = std::tuple<ir::ValueId, std::array<int64_t, 4>, int64_t>;
  std::map<PackKey, ir::ValueId> packedOf;  // (NCHW value, pads, channels) -> its packed NHWC form
  std::vector<ir::Node> added;
  int converted = 0;
  auto toNhwc = [&](ir::ValueId v) {
    if (auto it = nhwcOf.find(v); it != nhwcOf.end()) return it->second;
    const ir::ValueId t = graph.addValue(graph.values[v].name + "_nhwc", graph.values[v].dtype);
    added.push_back(transposeNode(graph.values[v].name + "_to_nhwc", v, t, kToNhwc));
    nhwcOf[v] = t;
    return t;
  };
  const size_t originalCount = graph.nodes.size();
  for (size_t i = 0; i < originalCount; ++i) {
    ir::Node& n = graph.nodes[i];
    const bool sensitive = layoutSensitive(graph, n);
    bool nhwc = sensitive;
    if (!nhwc && layoutAgnostic(n.op) && n.outputs.size() == 1) {
      bool anyNhwc = false, allOk = true;
      for (ir::ValueId v : n.inputs) {
        if (v == ir::kNoValue || isScalarConstant(graph, v)) continue;
        if (nhwcOf.count(v) && nchwProduced.count(v)) anyNhwc = true;
        else allOk = false;
      }
      nhwc = anyNhwc && allOk;
    }
    if (!nhwc) continue;
    ++converted;
    // Tensor inputs move to NHWC (Conv: X and the fused residual; weights are re-laid out; bias stays).
    const int64_t channels = n.op == ir::OpKind::kConv ? graph.values[n.inputs[0]].dims[1] : 0;
    const int64_t padded = n.op == ir::OpKind::kConv ? paddedChannels(graph, n) : 0;
    // A stride-2 stem on few channels becomes pack + stride-1 conv (space_to_depth_stem.h).
    std::optional<SpaceToDepthStem> stem;
    if (n.op == ir::OpKind::kConv)
      stem = planSpaceToDepthStem(n.attrs, graph.values[n.inputs[0]].dims, graph.constantOf(n.inputs[1])->dims());
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const ir::ValueId v = n.inputs[k];
      if (v == ir::kNoValue || isScalarConstant(graph, v)) continue;
      if (n.op == ir::OpKind::kConv && k == 2) continue;
      if (n.op == ir::OpKind::kConv && k == 1) {
        const Tensor& w = *graph.constantOf(v);
        // W's channel dim is C / group; only a group-1 conv's is padded (by as many channels as X).
        KILN_ASSIGN_OR_RETURN(Tensor krsc, stem ? spaceToDepthStemWeights(w, stem->outputChannels)
                                                : weightsToKrsc(w, w.dims()[1] + (padded - channels)));
        graph.nodes[i].inputs[k] =
            graph.addConstant(graph.values[v].name + (stem ? "_s2d_krsc" : "_krsc"), std::move(krsc));
        continue;
      }
      if (stem && k == 0) {
        const PackKey key{v, stem->pads, stem->outputChannels};
        if (!packedOf.count(key)) {
          const ir::ValueId out = graph.addValue(graph.values[v].name + "_s2d_nhwc", graph.values[v].dtype);
          added.push_back(packingNode(graph.values[v].name + "_space_to_depth", v, out, *stem));
          packedOf[key] = out;
        }
        graph.nodes[i].inputs[k] = packedOf[key];
        continue;
      }
      ir::ValueId t = toNhwc(v);
      if (n.op == ir::OpKind::kConv && k == 0) {
        if (padded != channels) {  // the stem: zero channels up to 8 so that cuDNN can use tensor cores
          if (!paddedOf.count(t)) {
            Tensor pads = *Tensor::allocate(DataType::kInt64, {8});
            pads.dataAs<int64_t>()[7] = padded - channels;
            const ir::ValueId padsId = graph.addConstant(graph.values[v].name + "_channel_pads", std::move(pads));
            const ir::ValueId out = graph.addValue(graph.values[v].name + "_nhwc_c" + std::to_string(padded),
                                                   graph.values[v].dtype);
            ir::Node pad;
            pad.name = graph.values[v].name + "_pad_channels";
            pad.op = ir::OpKind::kPad;
            pad.inputs = {t, padsId};
            pad.outputs = {out};
            pad.attrs.set("mode", std::string("constant"));
            added.push_back(std::move(pad));
            paddedOf[t] = out;
          }
          t = paddedOf[t];
        }
      }
      graph.nodes[i].inputs[k] = t;
    }
    ir::Node& node = graph.nodes[i];
    if (sensitive) node.attrs.set("data_format", std::string("NHWC"));
    if (stem) makeStrideOne(node, *stem);
    for (auto& out : node.outputs) {
      const ir::ValueId twin = graph.addValue(graph.values[out].name + "_nhwc", graph.values[out].dtype);
      nhwcOf[out] = twin;
      nchwProduced[out] = true;
      out = twin;
    }
  }
  // Every NCHW value whose producer now writes its twin, and that anything still reads in NCHW (another node or
  // the graph's outputs), is made by one Transpose back.
  for (auto& [v, produced] : nchwProduced) {
    bool needed = graph.isGraphOutput(v);
    for (const auto& n : graph.nodes)
      for (ir::ValueId in : n.inputs) needed = needed || in == v;
    for (const auto& n : added)
      for (ir::ValueId in : n.inputs) needed = needed || in == v;
    if (needed) added.push_back(transposeNode(graph.values[v].name + "_to_nchw", nhwcOf[v], v, kToNchw));
  }
  for (auto& n : added) graph.nodes.push_back(std::move(n));
  KILN_RETURN_IF_ERROR(graph.topologicalSort());
  graph.removeDeadNodes();
  return converted;
}

}  // namespace kiln::passes
