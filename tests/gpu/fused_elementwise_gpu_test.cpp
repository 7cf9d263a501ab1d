// FusedElementwise on CUDA (kiln issue 4): the graphs of unit/fuse_elementwise_test.cpp, fused by the pass, run on
// the CUDA backend and on the CPU backend (the reference, DESIGN.md rule 8) on the same random non-zero inputs, at
// sizes that are not multiples of the block size, with broadcast inputs, in float32 and float16; plus a size past
// the grid limit (grid-stride loop) and kernels meeting shapes other than the ones they were prepared for.
// Tolerances:
//   float32: |cuda - cpu| <= 1e-5 * |cpu| + 1e-6 (both compute the same float32 formulas; CUDA's erff/expf/tanhf
//            differ from glibc's by an ulp or two), and cuda vs the float64 reference of the unfused ops within
//            1e-5 relative (3e-5 for the 26-op chain).
//   float16: inputs in half for both backends, float32 math inside: |cuda - cpu| <= 2e-3 * |cpu| + 1e-4 (two half
//            ulps: a one-ulp float32 difference can round to neighbouring halves) and the same bound vs float64,
//            plus 2e-3 * max|reference| where a split chain stores its middle value in half.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "passes/passes.h"
#include "unit/fused_elementwise_graphs.h"

namespace kiln {
namespace {

using namespace fusedtest;

class FusedElementwiseGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cuda = backends::createBackend(DeviceKind::kCuda);
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
  }

  /// Fuses `b` (expecting `groups` fused nodes), runs it on both backends and compares.
  void check(const std::string& label, GraphBuilder b, int groups, double refRtol = 1e-5,
             const std::map<std::string, std::pair<double, double>>& ranges = {}) {
    SCOPED_TRACE(label);
    ir::Graph g = std::move(b.g);
    ASSERT_TRUE(annotate(g).isOk());
    const auto inputs = randomInputs(g, 4321, ranges);
    const auto reference = evaluateReference(g, inputs);
    auto fused = passes::fuseElementwiseChains(g);
    ASSERT_TRUE(fused.hasValue()) << fused.status().toString();
    EXPECT_EQ(*fused, groups);
    ASSERT_TRUE(annotate(g).isOk());
    auto want = runGraph(*cpu_, g, inputs);
    ASSERT_TRUE(want.hasValue()) << "CPU: " << want.status().toString();
    auto got = runGraph(*cuda_, g, inputs);
    ASSERT_TRUE(got.hasValue()) << "CUDA: " << got.status().toString();
    const bool half = g.values[g.outputs[0]].dtype == DataType::kFloat16;
    const double rtol = half ? 2e-3 : 1e-5, atol = half ? 1e-4 : 1e-6;
    for (const auto& [name, ref] : reference) {
      EXPECT_EQ(expectClose(got->at(name), toRef(want->at(name)), rtol, atol, name + " cuda vs cpu"), 0);
      // Where a chain is split, float16 graphs store the value between the fused nodes in half: the float64
      // reference (which never rounds) then differs by up to a half ulp of that value, carried to the output.
      double largest = 0;
      for (double v : ref.v) largest = std::max(largest, std::fabs(v));
      const double refAtol = half && groups > 1 ? 2e-3 * largest : atol;
      EXPECT_EQ(expectClose(got->at(name), ref, half ? 2e-3 : refRtol, refAtol, name + " cuda vs float64"), 0);
    }
  }

  std::unique_ptr<backends::Backend> cuda_, cpu_;
};

TEST_F(FusedElementwiseGpu, ChainsMatchTheCpuInFloat32AndFloat16) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
    const std::string dt = " " + dataTypeName(t);
    check("gelu [3,17,33]" + dt, geluDecomposition(t, {3, 17, 33}), 1);
    check("gelu [1]" + dt, geluDecomposition(t, {1}), 1);
    check("silu [7,9,11]" + dt, silu(t, {7, 9, 11}), 1);
    check("silu [2,257]" + dt, silu(t, {2, 257}), 1);
    check("bias relu [4,6,13]" + dt, biasRelu(t, {4, 6, 13}), 1);
    check("bias relu [2,3,1000]" + dt, biasRelu(t, {2, 3, 1000}), 1);
    check("broadcast inputs" + dt, broadcastInputs(t), 1);
    check("every opcode [6,35]" + dt, activationZoo(t, {6, 35}), 1, 3e-5, {{"y", {2, 5}}});
    check("long chain" + dt, longChain(t, {3, 41}, 40), 2);
    check("many inputs" + dt, manyInputs(t, {2, 9}, 11), 2);
  }
}

TEST_F(FusedElementwiseGpu, EachOpInFloat32AndFloat16) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16})
    for (const SingleOpCase& c : singleOpCases())
      check(c.label + " " + dataTypeName(t), singleOpChain(t, {3, 1001}, c), 1, 1e-5, {{"x", c.range}, {"y", c.range}});
}

TEST_F(FusedElementwiseGpu, PastTheGridLimit) {
  // 65536 blocks of 256 threads cover 16.7M elements; this needs the grid-stride loop.
  check("silu [17,1024,1025]", silu(DataType::kFloat32, {17, 1024, 1025}), 1);
  check("bias relu [9,2048,1001] float16", biasRelu(DataType::kFloat16, {9, 2048, 1001}), 1);
}

TEST_F(FusedElementwiseGpu, KernelsMeetOtherShapesThanPrepared) {
  // Kernels are made from the graph annotated at one shape (strides prepared at load), then run at another.
  for (DataType t : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(dataTypeName(t));
    GraphBuilder small = biasRelu(t, {2, 3, 13});
    ir::Graph prepared = std::move(small.g);
    ir::Graph unfusedOther = prepared;
    unfusedOther.values[unfusedOther.inputs[0]].dims = {5, 7, 13};
    ASSERT_TRUE(annotate(unfusedOther).isOk());
    ASSERT_TRUE(annotate(prepared).isOk());
    ASSERT_EQ(*passes::fuseElementwiseChains(prepared), 1);
    ASSERT_TRUE(annotate(prepared).isOk());
    ir::Graph other = prepared;
    other.values[other.inputs[0]].dims = {5, 7, 13};
    ASSERT_TRUE(annotate(other).isOk());
    const auto inputs = randomInputs(other, 99);
    const auto reference = evaluateReference(unfusedOther, inputs);
    auto want = runGraph(*cpu_, other, inputs, &prepared);
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    auto got = runGraph(*cuda_, other, inputs, &prepared);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    const bool half = t == DataType::kFloat16;
    for (const auto& [name, ref] : reference) {
      EXPECT_EQ(got->at(name).dims(), (Dims{5, 7, 13}));
      EXPECT_EQ(expectClose(got->at(name), toRef(want->at(name)), half ? 2e-3 : 1e-5, half ? 1e-4 : 1e-6, name), 0);
      EXPECT_EQ(expectClose(got->at(name), ref, half ? 2e-3 : 1e-5, half ? 1e-4 : 1e-6, name + " vs float64"), 0);
    }
  }
}

}  // namespace
}  // namespace kiln
