#include <cmath>
#include <limits>
#include <optional>

#include "passes/passes.h"
#include "passes/graph_patterns.h"

namespace kiln::passes {
namespace {

/// Same dtype and declared dims (a dynamic dim matches only a dynamic dim; shape inference checks the real ones).
bool sameDeclaredShape(const ir::Value& a, const ir::Value& b) {
  return a.rankKnown && b.rankKnown && a.dims == b.dims && a.dtype == b.dtype;
}

/// An activation the epilogue can apply: its name in the "activation" attribute, its parameters, the nodes it
/// replaces and the value it produces.
struct ActivationMatch {
  std::string name;
  std::vector<std::pair<std::string, float>> params;
  std::vector<int32_t> nodes;
  ir::ValueId output = ir::kNoValue;
};

/// Clip's bounds when they are absent or constant scalars (an absent bound is infinite); nothing otherwise.
std::optional<std::pair<float, float>> clipBounds(const ir::Graph& graph, const ir::Node& clip) {
  if (clip.inputs.empty() || clip.inputs.size() > 3) return std::nullopt;
  float bounds[2] = {-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()};
  for (size_t i = 1; i < clip.inputs.size(); ++i) {
    if (clip.inputs[i] == ir::kNoValue) continue;
    const auto value = scalarConstant(graph, clip.inputs[i]);
    if (!value || std::isnan(*value)) return std::nullopt;
    bounds[i - 1] = *value;
  }
  return std::pair(bounds[0], bounds[1]);
}

/// The activation applied to `v` by its reader(s), if it is one the epilogue can fuse. Relu always; the others
/// (cuDNN's graph API only) when `extended`.
std::optional<ActivationMatch> matchActivation(const ir::Graph& graph, ir::ValueId v, bool extended) {
  if (graph.isGraphOutput(v)) return std::nullopt;
  const auto readers = graph.consumers(v);
  // x * sigmoid(x): the value feeds both a Sigmoid and the Mul that takes the Sigmoid's result.
  if (extended && readers.size() == 2) {
    for (int k = 0; k < 2; ++k) {
      const ir::Node& s = graph.nodes[readers[k]];
      const ir::Node& m = graph.nodes[readers[1 - k]];
      if (s.op != ir::OpKind::kSigmoid || m.op != ir::OpKind::kMul || m.inputs.size() != 2) continue;
      const ir::ValueId gate = s.outputs[0];
      if (soleConsumer(graph, gate) != readers[1 - k]) continue;
      if (!((m.inputs[0] == v && m.inputs[1] == gate) || (m.inputs[1] == v && m.inputs[0] == gate))) continue;
      return ActivationMatch{"Silu", {}, {readers[k], readers[1 - k]}, m.outputs[0]};
    }
  }
  if (readers.size() != 1) return std::nullopt;
  const int32_t index = readers[0];
  const ir::Node& n = graph.nodes[index];
  if (n.outputs.size() != 1) return std::nullopt;
  ActivationMatch match{"", {}, {index}, n.outputs[0]};
  if (n.op == ir::OpKind::kRelu) {
    match.name = "Relu";
    return match;
  }
  if (!extended) return std::nullopt;
  switch (n.op) {
    case ir::OpKind::kSigmoid: match.name = "Sigmoid"; break;
    case ir::OpKind::kTanh: match.name = "Tanh"; break;
    case ir::OpKind::kSwish:
      if (n.attrs.getFloat("alpha", 1.f) != 1.f) return std::nullopt;
      match.name = "Silu";
      break;
    case ir::OpKind::kGelu:
      match.name = n.attrs.getString("approximate", "none") == "tanh" ? "GeluTanh" : "Gelu";
      break;
    case ir::OpKind::kLeakyRelu:
      match.name = "LeakyRelu";
      match.params = {{"activation_alpha", n.attrs.getFloat("alpha", 0.01f)}};
      break;
    case ir::OpKind::kElu:
      match.name = "Elu";
      match.params = {{"activation_alpha", n.attrs.getFloat("alpha", 1.f)}};
      break;
    case ir::OpKind::kHardSwish:
      match.name = "HardSwish";
      break;
    case ir::OpKind::kHardSigmoid:
      match.name = "HardSigmoid";
      match.params = {{"activation_alpha", n.attrs.getFloat("alpha", 0.2f)},
                      {"activation_beta", n.attrs.getFloat("beta", 0.5f)}};
      break;
    case ir::OpKind::kClip: {
      const auto bounds = clipBounds(graph, n);
      if (!bounds || n.inputs[0] != v) return std::nullopt;
      match.name = "Clip";
      match.params = {{"activation_min", bounds->first}, {"activation_max", bounds->second}};
      break;
    }
    default:
      return std::nullopt;
  }
  return match;
}

}  // namespace

Expected<int> fuseConvEpilogues(ir::Graph& graph, bool graphApiForms) {
  int fused = 0;
  std::vector<bool> remove(graph.nodes.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    ir::Node& conv = graph.nodes[i];
    if (conv.op != ir::OpKind::kConv || remove[i] || conv.attrs.has("activation") || conv.outputs.size() != 1 ||
        conv.inputs.size() < 2)
      continue;
    // Both fused forms need a constant bias: y = act(conv(x) + bias + z).
    if (conv.inputs.size() < 3 || conv.inputs[2] == ir::kNoValue || !graph.isConstant(conv.inputs[2])) continue;
    // The extended forms run only through cuDNN's graph API: NHWC float32 (the precision pass may narrow it later),
    // float16 or bfloat16 convolutions of group 1.
    const DataType type = graph.values[conv.inputs[0]].dtype;
    const bool extended = graphApiForms && conv.attrs.getString("data_format", "NCHW") == "NHWC" &&
                          (type == DataType::kFloat16 || type == DataType::kBFloat16 || type == DataType::kFloat32) &&
                          conv.attrs.getInt("group", 1) == 1;
    if (graphApiForms && !extended) continue;
    ir::ValueId y = conv.outputs[0];
    ir::ValueId residual = ir::kNoValue;
    int32_t addIndex = -1;
    const int32_t next = soleConsumer(graph, y);
    if (next >= 0 && graph.nodes[next].op == ir::OpKind::kAdd && graph.nodes[next].inputs.size() == 2) {
      const ir::Node& add = graph.nodes[next];
      const ir::ValueId other = add.inputs[0] == y ? add.inputs[1] : add.inputs[0];
      // Same shape as the conv output (no broadcasting), and not the conv's own output twice.
      if (other != y && sameDeclaredShape(graph.values[other], graph.values[y])) {
        residual = other;
        addIndex = next;
      }
    }
    const ir::ValueId beforeActivation = addIndex >= 0 ? graph.nodes[addIndex].outputs[0] : y;
    std::optional<ActivationMatch> activation = matchActivation(graph, beforeActivation, extended);
    // Without an activation only the graph API fuses the residual add.
    if (!activation && !(extended && addIndex >= 0)) continue;
    // Rewire: conv takes the residual and writes the last fused node's output; the fused nodes go away.
    std::vector<std::string> names = conv.attrs.getStrings("fused_nodes");
    if (addIndex >= 0) {
      conv.inputs.resize(4);
      conv.inputs[3] = residual;
      names.push_back(graph.nodes[addIndex].name);
      remove[addIndex] = true;
    }
    if (activation) {
      for (int32_t n : activation->nodes) {
        names.push_back(graph.nodes[n].name);
        remove[n] = true;
      }
      conv.outputs[0] = activation->output;
      conv.attrs.set("activation", activation->name);
      for (const auto& [key, value] : activation->params) conv.attrs.set(key, value);
    } else {  // "Identity" keeps the attribute's meaning: a fused epilogue, here the residual add alone
      conv.outputs[0] = graph.nodes[addIndex].outputs[0];
      conv.attrs.set("activation", std::string("Identity"));
    }
    conv.attrs.set("fused_nodes", names);
    ++fused;
  }
  if (fused) KILN_RETURN_IF_ERROR(graph.eraseNodes(remove));
  return fused;
}

}  // namespace kiln::passes
