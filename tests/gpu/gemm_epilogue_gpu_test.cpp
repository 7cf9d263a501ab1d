// Gemm/MatMul + bias + Relu/GeluTanh through cuBLASLt epilogues (passes/fuse_gemm_epilogue.cpp,
// backends/cuda/matmul_cublaslt.cpp): each graph is fused by the pass and run on the CUDA backend, and the same
// graph unfused (MatMul/Gemm, Add, Relu/Gelu as separate nodes) runs on the CPU backend as the independent reference
// (DESIGN.md rule 8), on random non-zero inputs and weights, at odd sizes (M=7, K=33, N=19) and larger ones
// (M=64, K=256, N=128), in float32 and float16. Every case checks through Kernel::tactic() that the cuBLASLt
// epilogue it expects ran (so a fusion that silently did nothing fails).
// Tolerances (as cuda_vs_cpu.h):
//   float32 (TF32 off): |cuda - cpu| <= 1e-4 * (|cpu| + rms(cpu)) + 1e-6 per element; 5e-4 instead of 1e-4 for the
//            GELU epilogues, which may evaluate tanh with the hardware approximation (tanh.approx.f32, relative
//            error <= 2^-11, moving GELU by up to 0.5·|x|·2^-11 ≈ 2.5e-4·|x|). A wrong bias, missing activation or
//            sigmoid-form GELU is off by far more.
//   float16: inputs and weights rounded to half for both (the CPU computes in float32); cosine similarity >= 0.999
//            and max |cuda - cpu| / (|cpu| + rms(cpu)) <= 2e-2, printed for every case.
//   The erf and tanh forms of GELU differ by at most 4.7e-4 (at |x| ≈ 2.7), inside those bounds, so
//   GeluEpilogueIsTheTanhForm sweeps exact pre-activations x over [-5, 5] and projects (epilogue - tanh form) on
//   (erf form - tanh form): the coefficient must be < 0.5 (0 = tanh form, 1 = erf form), and every point within
//   0.5·5·2^-11 ≈ 1.25e-3 of the tanh form.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <tuple>

#include "core/half.h"
#include "passes/passes.h"
#include "test_util/gpu.h"
#include "unit/gemm_epilogue_graphs.h"

namespace kiln {
namespace {

using namespace gemmtest;
using fusedtest::annotate;
using fusedtest::elementOf;

struct RunResult {
  std::map<std::string, Tensor> outputs;
  std::vector<std::string> tactics;  // of the Gemm/MatMul kernels, after their run
};

/// fusedtest::runGraph, keeping the Gemm/MatMul kernels' tactics.
Expected<RunResult> runKeepingGemmTactics(backends::Backend& backend, const ir::Graph& g,
                                     const std::map<std::string, Tensor>& inputs) {
  std::vector<std::string> all;
  RunResult result;
  KILN_ASSIGN_OR_RETURN(result.outputs, fusedtest::runGraph(backend, g, inputs, nullptr, &all));
  for (size_t i = 0; i < g.nodes.size() && i < all.size(); ++i)
    if (g.nodes[i].op == OpKind::kMatMul || g.nodes[i].op == OpKind::kGemm) result.tactics.push_back(all[i]);
  return result;
}

Tensor toFloat32(const Tensor& t) {
  if (t.dtype() != DataType::kFloat16) return t.clone().value();
  Tensor r = Tensor::allocate(DataType::kFloat32, t.dims()).value();
  for (int64_t i = 0; i < t.elementCount(); ++i) r.dataAs<float>()[i] = static_cast<float>(elementOf(t, i));
  return r;
}

/// The same graph in float32 (float16 constants widened exactly), for the CPU reference.
ir::Graph widened(const ir::Graph& g) {
  ir::Graph r = g;
  for (auto& [id, t] : r.constants) t = toFloat32(t);
  for (auto& v : r.values)
    if (v.dtype == DataType::kFloat16) v.dtype = DataType::kFloat32;
  return r;
}

class GemmEpilogueGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_GPU();
    auto cuda = backends::createBackend(DeviceKind::kCuda, {.allowTF32 = false});
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
  }

  /// `make(dtype)` gives the unfused graph, which the pass must fuse into one node; with `makeFused`, that graph runs
  /// instead (forms the pass does not make but the kernel accepts). The CUDA kernel's tactic must be exactly
  /// "cublasLt:heuristic " + `epilogue` (so a bias that silently went in as C, or no epilogue, fails).
  template <typename Make>
  void check(const std::string& label, Make make, const std::string& epilogue,
             const std::function<ir::Graph(DataType)>& makeFused = nullptr) {
    // The GELU epilogues may use the hardware tanh (see the tolerances above).
    const double rtol32 = epilogue.find("GELU") != std::string::npos ? 5e-4 : 1e-4;
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
      const bool half = dtype == DataType::kFloat16;
      SCOPED_TRACE(label + (half ? " float16" : " float32"));
      ir::Graph g = make(dtype);
      ASSERT_TRUE(annotate(g).isOk());
      const auto inputs = fusedtest::randomInputs(g, 2024);
      ir::Graph reference = widened(g);
      ASSERT_TRUE(annotate(reference).isOk());
      std::map<std::string, Tensor> inputs32;
      for (const auto& [name, t] : inputs) inputs32[name] = toFloat32(t);
      auto want = runKeepingGemmTactics(*cpu_, reference, inputs32);
      ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();

      ir::Graph fused = makeFused ? makeFused(dtype) : std::move(g);
      if (!makeFused) {
        auto count = passes::fuseGemmEpilogues(fused);
        ASSERT_TRUE(count.hasValue()) << count.status().toString();
        ASSERT_EQ(*count, 1);
        ASSERT_EQ(fused.nodes.size(), 1u) << "the chain should be one node";
      }
      ASSERT_TRUE(annotate(fused).isOk());
      auto got = runKeepingGemmTactics(*cuda_, fused, inputs);
      ASSERT_TRUE(got.hasValue()) << "CUDA: " << got.status().toString();
      ASSERT_EQ(got->tactics.size(), 1u);
      EXPECT_EQ(got->tactics[0], "cublasLt:heuristic " + epilogue);
      // One output each; by position, since a graph fused by hand names its output after the MatMul.
      ASSERT_EQ(want->outputs.size(), 1u);
      ASSERT_EQ(got->outputs.size(), 1u);
      compare(want->outputs.begin()->second, got->outputs.begin()->second, half, rtol32, label);
    }
  }

  static void compare(const Tensor& want, const Tensor& got, bool half, double rtol32, const std::string& label) {
    ASSERT_EQ(want.dims(), got.dims());
    const int64_t n = want.elementCount();
    double rms = 0, dot = 0, nw = 0, ng = 0, maxRel = 0;
    for (int64_t i = 0; i < n; ++i) rms += elementOf(want, i) * elementOf(want, i);
    rms = n ? std::sqrt(rms / static_cast<double>(n)) : 0;
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double w = elementOf(want, i), g = elementOf(got, i);
      dot += w * g;
      nw += w * w;
      ng += g * g;
      const double rel = std::isnan(g) ? INFINITY : std::fabs(w - g) / (std::fabs(w) + rms + 1e-12);
      maxRel = std::max(maxRel, rel);
      const bool ok = half ? !std::isnan(g) : std::fabs(w - g) <= rtol32 * (std::fabs(w) + rms) + 1e-6;
      if (!ok && bad++ < 5) ADD_FAILURE() << "element " << i << ": cpu " << w << ", cuda " << g;
    }
    EXPECT_EQ(bad, 0);
    if (half) {
      const double cosine = (nw == 0 && ng == 0) ? 1.0 : dot / std::sqrt(nw * ng + 1e-300);
      std::printf("[  FP16    ] %s: cosine %.6f, max rel err %.3g\n", label.c_str(), cosine, maxRel);
      EXPECT_GE(cosine, 0.999);
      EXPECT_LE(maxRel, 2e-2);
    }
  }

  std::unique_ptr<backends::Backend> cuda_, cpu_;
};

TEST_F(GemmEpilogueGpu, MatMulBiasRelu) {
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{7, 33, 19}, {64, 256, 128}, {1, 8, 3}}) {
    const std::string label = "MatMul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
    check(label + " +bias+relu", [&](DataType t) { return matmulBiasAct({.a = {m, k}, .n = n, .dtype = t}).g; },
          "epilogue=RELU_BIAS");
  }
}

TEST_F(GemmEpilogueGpu, MatMulBiasGeluTanh) {
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{7, 33, 19}, {64, 256, 128}}) {
    const std::string label = "MatMul " + std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n);
    check(label + " +bias+gelu_tanh",
          [&](DataType t) { return matmulBiasAct({.a = {m, k}, .n = n, .act = Act::kGeluTanh, .dtype = t}).g; },
          "epilogue=GELU_BIAS");
  }
}

TEST_F(GemmEpilogueGpu, BatchedActivationTimesOneMatrix) {
  check("MatMul [3,5,33]x[33,19] +bias+relu",
        [](DataType t) { return matmulBiasAct({.a = {3, 5, 33}, .n = 19, .dtype = t}).g; }, "epilogue=RELU_BIAS");
  check("MatMul [2,32,256]x[256,128] +[1,N] bias (left)+relu",
        [](DataType t) {
          return matmulBiasAct({.a = {2, 32, 256}, .n = 128, .biasDims = {1, 128}, .biasLeft = true, .dtype = t}).g;
        },
        "epilogue=RELU_BIAS");
}

TEST_F(GemmEpilogueGpu, GemmBiasActivation) {
  check("Gemm transB 7x33x19 +bias+relu", [](DataType t) { return gemmBiasAct(7, 33, 19, true, Act::kRelu, t).g; },
        "epilogue=RELU_BIAS");
  check("Gemm 64x256x128 +bias+gelu_tanh",
        [](DataType t) { return gemmBiasAct(64, 256, 128, false, Act::kGeluTanh, t).g; }, "epilogue=GELU_BIAS");
}

TEST_F(GemmEpilogueGpu, ActivationWithoutBias) {
  check("MatMul 7x33x19 +relu",
        [](DataType t) { return matmulBiasAct({.a = {7, 33}, .n = 19, .bias = false, .dtype = t}).g; },
        "epilogue=RELU");
  check("MatMul 64x256x128 +gelu_tanh",
        [](DataType t) {
          return matmulBiasAct({.a = {64, 256}, .n = 128, .bias = false, .act = Act::kGeluTanh, .dtype = t}).g;
        },
        "epilogue=GELU");
}

TEST_F(GemmEpilogueGpu, SingleColumnBiasGoesInAsC) {
  // N = 1: the kernel copies the bias into Y and adds it as C (beta 1); the Relu epilogue still applies.
  check("MatMul 9x17x1 +bias+relu", [](DataType t) { return matmulBiasAct({.a = {9, 17}, .n = 1, .dtype = t}).g; },
        "epilogue=RELU");
}

/// MatMul(a [2,M,K], b [2,K,N] graph input) + bias[N] + Relu: a batched B the pass never fuses, but the kernel
/// accepts the fused form; built fused by hand to check the bias is shared by every batch (bias batch stride 0).
ir::Graph batchedB(DataType dtype, bool fusedByHand) {
  GraphBuilder b{.dtype = dtype};
  const ValueId a = b.input("a", {2, 7, 33});
  const ValueId w = b.input("b", {2, 33, 19});
  const ValueId bias = b.constant(randomValues(19, 5), {19});
  if (fusedByHand) {
    b.output(b.op(OpKind::kMatMul, {a, w, bias}, fusedtest::attrs({{"activation", std::string("Relu")}}), "matmul"));
  } else {
    const ValueId y = b.op(OpKind::kMatMul, {a, w}, {}, "matmul");
    b.output(b.op(OpKind::kRelu, {b.op(OpKind::kAdd, {y, bias}, {}, "add")}, {}, "relu"));
  }
  return std::move(b.g);
}

TEST_F(GemmEpilogueGpu, StridedBatchSharesTheBias) {
  check("MatMul [2,7,33]x[2,33,19] +bias+relu (fused by hand)", [](DataType t) { return batchedB(t, false); },
        "epilogue=RELU_BIAS", [](DataType t) { return batchedB(t, true); });
}

TEST_F(GemmEpilogueGpu, GeluEpilogueIsTheTanhForm) {
  // Y = GeluTanh(A · I + 0.25): A's rows are pre-activations minus the bias, the identity makes the product exact.
  const int64_t m = 64, n = 64;
  GraphBuilder b;
  const ValueId a = b.input("a", {m, n});
  std::vector<double> identity(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) identity[static_cast<size_t>(i * n + i)] = 1.0;
  const ValueId w = b.constant(identity, {n, n});
  const ValueId y = b.op(OpKind::kMatMul, {a, w}, {}, "matmul");
  const ValueId bias = b.constant(std::vector<double>(static_cast<size_t>(n), 0.25), {n});
  const ValueId sum = b.op(OpKind::kAdd, {y, bias}, {}, "add");
  b.output(applyActivation(b, sum, Act::kGeluTanh));
  ir::Graph g = std::move(b.g);
  ASSERT_TRUE(annotate(g).isOk());
  ASSERT_EQ(passes::fuseGemmEpilogues(g).value(), 1);
  ASSERT_TRUE(annotate(g).isOk());
  Tensor input = Tensor::allocate(DataType::kFloat32, {m, n}).value();
  for (int64_t i = 0; i < m * n; ++i) {
    const double x = -5.0 + 10.0 * static_cast<double>(i) / static_cast<double>(m * n - 1);
    input.dataAs<float>()[i] = static_cast<float>(x - 0.25);
  }
  auto got = runKeepingGemmTactics(*cuda_, g, {{"a", input}});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  EXPECT_EQ(got->tactics.at(0), "cublasLt:heuristic epilogue=GELU_BIAS");
  const Tensor& out = got->outputs.begin()->second;
  // c = <got - tanh form, d> / <d, d> with d = erf form - tanh form: 0 for the tanh form (unbiased rounding or
  // approximation noise averages out over 4096 points), 1 for the erf form.
  double along = 0, norm = 0, maxToTanh = 0;
  for (int64_t i = 0; i < m * n; ++i) {
    const double x = static_cast<double>(input.dataAs<float>()[i]) + 0.25;
    const double tanhForm = 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    const double erfForm = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    const double v = elementOf(out, i);
    maxToTanh = std::max(maxToTanh, std::fabs(v - tanhForm));
    along += (v - tanhForm) * (erfForm - tanhForm);
    norm += (erfForm - tanhForm) * (erfForm - tanhForm);
  }
  const double c = along / norm;
  std::printf("[  GELU    ] projection on (erf form - tanh form): %.3f (0 = tanh form, 1 = erf form); "
              "max |epilogue - tanh form| %.3g\n", c, maxToTanh);
  EXPECT_LT(c, 0.5) << "cuBLASLt's GELU epilogue looks like the erf form, not the tanh approximation";
  EXPECT_LE(maxToTanh, 2.5e-4 * 5.0 + 1e-6) << "beyond the hardware tanh's error bound at |x| <= 5";
}

TEST_F(GemmEpilogueGpu, UnknownActivationIsRefused) {
  ir::Graph g = matmulBiasAct({.a = {4, 8}, .n = 3, .bias = false}).g;
  ASSERT_TRUE(annotate(g).isOk());
  ASSERT_EQ(passes::fuseGemmEpilogues(g).value(), 1);
  g.nodes[0].attrs.set("activation", std::string("Gelu"));  // exact Gelu: no cuBLASLt epilogue computes it
  const Status st = cuda_->supports(g, g.nodes[0]);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("matmul"), std::string::npos) << st.toString();
  EXPECT_NE(st.message().find("'Gelu'"), std::string::npos) << st.toString();
}

}  // namespace
}  // namespace kiln
