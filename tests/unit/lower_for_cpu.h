// The meaning of the CUDA-only graph forms, written out in plain ONNX ops the CPU backend runs, so that a test can
// compare a graph after the CUDA passes (channels-last, fused conv and GEMM epilogues, the packed stem) with the
// original on the CPU. Each rule follows the contract the CUDA kernels implement (passes.h, conv_cudnn_graph.h,
// conv_epilogue_activation.cpp, ops/space_to_depth_packed.h):
//   Conv data_format=NHWC: X, residual and Y are [N,H,W,C], W is [K,R,S,C/group]; y = act(conv(x, w) + bias + z).
//   activation: Relu, LeakyRelu/Elu (activation_alpha), Sigmoid, Silu = x*sigmoid(x), Tanh, Gelu, GeluTanh,
//   HardSwish, HardSigmoid (activation_alpha, activation_beta; ONNX defaults 0.2, 0.5), Clip (activation_min /
//   activation_max, absent = infinite), Identity (bias and residual only).
//   Pools with data_format=NHWC: X and Y channels-last. SpaceToDepth with data_format=NHWC: output channels-last.
//   Gemm/MatMul with activation (Relu, GeluTanh); MatMul's input 2 is a bias added to every row.
// Header-only, test code.
#pragma once

#include <cstring>
#include <limits>
#include <string>

#include "ir/graph.h"

namespace kiln::lowering {

using ir::OpKind;
using ir::ValueId;

class Lowerer {
 public:
  explicit Lowerer(const ir::Graph& g) : in_(g), out_(g) { out_.nodes.clear(); }

  Expected<ir::Graph> run() {
    for (const ir::Node& n : in_.nodes) KILN_RETURN_IF_ERROR(lower(n));
    KILN_RETURN_IF_ERROR(out_.topologicalSort());
    return std::move(out_);
  }

 private:
  ValueId fresh(const std::string& name, DataType t) { return out_.addValue(name + "_lowered" + std::to_string(count_++), t); }

  /// Appends a node; writes `output` when given, else a new value of type `t`.
  ValueId emit(OpKind op, std::vector<ValueId> inputs, ir::Attributes attrs, DataType t, const std::string& name,
               ValueId output = ir::kNoValue) {
    ir::Node n;
    n.name = name + "_lowered" + std::to_string(count_++);
    n.op = op;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    n.outputs = {output == ir::kNoValue ? fresh(name, t) : output};
    out_.nodes.push_back(std::move(n));
    return out_.nodes.back().outputs[0];
  }

  ValueId transpose(ValueId v, bool toNchw, DataType t, const std::string& name, ValueId output = ir::kNoValue) {
    ir::Attributes a;
    a.set("perm", toNchw ? std::vector<int64_t>{0, 3, 1, 2} : std::vector<int64_t>{0, 2, 3, 1});
    return emit(OpKind::kTranspose, {v}, a, t, name, output);
  }

  ValueId scalar(float v) {
    Tensor t = Tensor::allocate(DataType::kFloat32, {}).value();
    t.dataAs<float>()[0] = v;
    return out_.addConstant("lowered_scalar" + std::to_string(count_++), std::move(t));
  }

  /// [K, R, S, C] -> [K, C, R, S] (any element size).
  Expected<ValueId> weightsToKcrs(ValueId w) {
    const Tensor* t = in_.constantOf(w);
    if (!t || t->rank() != 4) return invalidArgument("lowering: NHWC conv weights must be a rank-4 constant");
    const Dims& d = t->dims();
    KILN_ASSIGN_OR_RETURN(Tensor r, Tensor::allocate(t->dtype(), {d[0], d[3], d[1], d[2]}));
    const size_t e = dataTypeSize(t->dtype());
    const auto* src = static_cast<const std::byte*>(t->data());
    auto* dst = static_cast<std::byte*>(r.data());
    for (int64_t k = 0; k < d[0]; ++k)
      for (int64_t y = 0; y < d[1]; ++y)
        for (int64_t x = 0; x < d[2]; ++x)
          for (int64_t c = 0; c < d[3]; ++c)
            std::memcpy(dst + static_cast<size_t>(((k * d[3] + c) * d[1] + y) * d[2] + x) * e,
                        src + static_cast<size_t>(((k * d[1] + y) * d[2] + x) * d[3] + c) * e, e);
    return out_.addConstant(in_.values[w].name + "_kcrs", std::move(r));
  }

  /// The fused activation named by the node's attributes, applied to v.
  Expected<ValueId> activation(const ir::Node& n, ValueId v, DataType t) {
    const std::string a = n.attrs.getString("activation", "");
    const auto unary = [&](OpKind op, ir::Attributes at = {}) { return emit(op, {v}, std::move(at), t, n.name); };
    if (a.empty() || a == "Identity") return v;
    if (a == "Relu") return unary(OpKind::kRelu);
    if (a == "Sigmoid") return unary(OpKind::kSigmoid);
    if (a == "Tanh") return unary(OpKind::kTanh);
    if (a == "HardSwish") return unary(OpKind::kHardSwish);
    if (a == "Silu") return emit(OpKind::kMul, {v, unary(OpKind::kSigmoid)}, {}, t, n.name);
    ir::Attributes at;
    if (a == "LeakyRelu" || a == "Elu") {
      at.set("alpha", n.attrs.getFloat("activation_alpha", a == "Elu" ? 1.f : 0.01f));
      return unary(a == "Elu" ? OpKind::kElu : OpKind::kLeakyRelu, at);
    }
    if (a == "Gelu" || a == "GeluTanh") {
      at.set("approximate", std::string(a == "Gelu" ? "none" : "tanh"));
      return unary(OpKind::kGelu, at);
    }
    if (a == "HardSigmoid") {
      at.set("alpha", n.attrs.getFloat("activation_alpha", 0.2f));
      at.set("beta", n.attrs.getFloat("activation_beta", 0.5f));
      return unary(OpKind::kHardSigmoid, at);
    }
    if (a == "Clip") {
      const float inf = std::numeric_limits<float>::infinity();
      const float lo = n.attrs.getFloat("activation_min", -inf), hi = n.attrs.getFloat("activation_max", inf);
      ValueId r = v;
      if (lo != -inf) r = emit(OpKind::kMax, {r, scalar(lo)}, {}, t, n.name);
      if (hi != inf) r = emit(OpKind::kMin, {r, scalar(hi)}, {}, t, n.name);
      return r;
    }
    return unsupported("lowering: no rule for fused activation '" + a + "' of " + in_.describe(n));
  }

  /// The node without the kiln-only attributes.
  static ir::Attributes onnxAttributes(const ir::Node& n) {
    ir::Attributes a = n.attrs;
    for (const char* k : {"data_format", "activation", "activation_alpha", "activation_beta", "activation_min",
                          "activation_max", "fused_nodes"})
      a.erase(k);
    return a;
  }

  Status lower(const ir::Node& n) {
    const bool nhwc = n.attrs.getString("data_format", "NCHW") == "NHWC";
    const bool fused = n.attrs.has("activation");
    const DataType t = in_.values[n.outputs[0]].dtype;
    switch (n.op) {
      case OpKind::kConv: {
        if (!nhwc && !fused && n.inputs.size() <= 3) break;
        std::vector<ValueId> ins{nhwc ? transpose(n.inputs[0], true, t, n.name) : n.inputs[0]};
        if (nhwc) {
          KILN_ASSIGN_OR_RETURN(ValueId w, weightsToKcrs(n.inputs[1]));
          ins.push_back(w);
        } else {
          ins.push_back(n.inputs[1]);
        }
        if (n.inputs.size() > 2) ins.push_back(n.inputs[2]);
        ValueId y = emit(OpKind::kConv, ins, onnxAttributes(n), t, n.name);
        if (n.inputs.size() > 3 && n.inputs[3] != ir::kNoValue) {
          const ValueId z = nhwc ? transpose(n.inputs[3], true, t, n.name) : n.inputs[3];
          y = emit(OpKind::kAdd, {y, z}, {}, t, n.name);
        }
        KILN_ASSIGN_OR_RETURN(y, activation(n, y, t));
        if (nhwc) transpose(y, false, t, n.name, n.outputs[0]);
        else emit(OpKind::kIdentity, {y}, {}, t, n.name, n.outputs[0]);
        return Status::ok();
      }
      case OpKind::kMaxPool: case OpKind::kAveragePool: case OpKind::kGlobalAveragePool:
      case OpKind::kGlobalMaxPool: {
        if (!nhwc) break;
        const ValueId y = emit(n.op, {transpose(n.inputs[0], true, t, n.name)}, onnxAttributes(n), t, n.name);
        transpose(y, false, t, n.name, n.outputs[0]);
        return Status::ok();
      }
      case OpKind::kSpaceToDepth: {
        if (!nhwc) break;
        ir::Attributes a = n.attrs;
        a.set("data_format", std::string("NCHW"));
        transpose(emit(n.op, n.inputs, a, t, n.name), false, t, n.name, n.outputs[0]);
        return Status::ok();
      }
      case OpKind::kGemm: case OpKind::kMatMul: {
        const bool matmulBias = n.op == OpKind::kMatMul && n.inputs.size() > 2 && n.inputs[2] != ir::kNoValue;
        if (!fused && !matmulBias) break;
        std::vector<ValueId> ins = n.inputs;
        if (n.op == OpKind::kMatMul) ins.resize(2);
        ValueId y = emit(n.op, ins, onnxAttributes(n), t, n.name);
        if (matmulBias) y = emit(OpKind::kAdd, {y, n.inputs[2]}, {}, t, n.name);
        KILN_ASSIGN_OR_RETURN(y, activation(n, y, t));
        emit(OpKind::kIdentity, {y}, {}, t, n.name, n.outputs[0]);
        return Status::ok();
      }
      default:
        if (nhwc || fused) return unsupported("lowering: no rule for " + in_.describe(n));
        break;
    }
    out_.nodes.push_back(n);
    return Status::ok();
  }

  const ir::Graph& in_;
  ir::Graph out_;
  int count_ = 0;
};

/// `g` with every CUDA-only form replaced by the plain ops it stands for.
inline Expected<ir::Graph> lowerForCpu(const ir::Graph& g) { return Lowerer(g).run(); }

}  // namespace kiln::lowering
