// Shared by fuse_gemm_epilogue_test.cpp (CPU) and gpu/gemm_epilogue_gpu_test.cpp: small Gemm/MatMul + bias +
// activation graphs for passes::fuseGemmEpilogues, with random non-zero weights. Header-only.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "unit/fused_elementwise_graphs.h"

namespace kiln::gemmtest {

using fusedtest::GraphBuilder;
using ir::OpKind;
using ir::ValueId;

/// Random non-zero values in [-1, 1] (|v| >= 0.05), as doubles for GraphBuilder::constant.
inline std::vector<double> randomValues(int64_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(-1, 1);
  std::vector<double> v(static_cast<size_t>(count));
  for (double& x : v) {
    do x = dist(rng);
    while (std::fabs(x) < 0.05);
  }
  return v;
}

enum class Act { kNone, kRelu, kGeluTanh, kGeluExact };

inline ValueId applyActivation(GraphBuilder& b, ValueId v, Act act) {
  switch (act) {
    case Act::kRelu: return b.op(OpKind::kRelu, {v}, {}, "relu");
    case Act::kGeluTanh:
      return b.op(OpKind::kGelu, {v}, fusedtest::attrs({{"approximate", std::string("tanh")}}), "gelu");
    case Act::kGeluExact: return b.op(OpKind::kGelu, {v}, {}, "gelu");
    case Act::kNone: break;
  }
  return v;
}

struct MatMulSpec {
  Dims a;                 // [.., M, K]
  int64_t n = 0;
  bool bias = true;       // Add of a constant bias
  Dims biasDims;          // default [N]
  bool biasLeft = false;  // Add(bias, y) instead of Add(y, bias)
  Act act = Act::kRelu;
  DataType dtype = DataType::kFloat32;
};

/// y = act(MatMul(a, B) + bias) with B a constant [K, N]; nodes named "matmul", "add", "relu"/"gelu".
inline GraphBuilder matmulBiasAct(const MatMulSpec& s, uint32_t seed = 7) {
  GraphBuilder b{.dtype = s.dtype};
  const ValueId a = b.input("a", s.a);
  const int64_t k = s.a.back();
  const ValueId w = b.constant(randomValues(k * s.n, seed), {k, s.n});
  ValueId v = b.op(OpKind::kMatMul, {a, w}, {}, "matmul");
  if (s.bias) {
    const Dims dims = s.biasDims.empty() ? Dims{s.n} : s.biasDims;
    const ValueId bias = b.constant(randomValues(elementCount(dims), seed + 1), dims);
    v = b.op(OpKind::kAdd, s.biasLeft ? std::vector<ValueId>{bias, v} : std::vector<ValueId>{v, bias}, {}, "add");
  }
  b.output(applyActivation(b, v, s.act));
  return b;
}

/// y = act(Gemm(a [M,K], B) + bias[N]) with no C; B constant [N,K] when transB, else [K,N].
inline GraphBuilder gemmBiasAct(int64_t m, int64_t k, int64_t n, bool transB, Act act,
                                DataType dtype = DataType::kFloat32, uint32_t seed = 11) {
  GraphBuilder b{.dtype = dtype};
  const ValueId a = b.input("a", {m, k});
  const ValueId w = b.constant(randomValues(k * n, seed), transB ? Dims{n, k} : Dims{k, n});
  ir::Attributes at;
  if (transB) at.set("transB", int64_t{1});
  ValueId v = b.op(OpKind::kGemm, {a, w}, at, "gemm");
  v = b.op(OpKind::kAdd, {v, b.constant(randomValues(n, seed + 1), {n})}, {}, "add");
  b.output(applyActivation(b, v, act));
  return b;
}

inline int countOps(const ir::Graph& g, OpKind op) {
  int c = 0;
  for (const auto& n : g.nodes) c += n.op == op ? 1 : 0;
  return c;
}

inline const ir::Node* firstOf(const ir::Graph& g, OpKind op) {
  for (const auto& n : g.nodes)
    if (n.op == op) return &n;
  return nullptr;
}

}  // namespace kiln::gemmtest
