// CUDA kernels of the misc batch, each run as a one-node graph on the CPU backend (the reference, DESIGN.md rule 8)
// and on the CUDA backend on the same random non-zero inputs:
//   - the tiled batched transpose behind Transpose (NCHW<->NHWC, 2-D), odd shapes, byte-exact against the CPU;
//   - CumSum/CumProd whose axis is a device-computed input (the ONNX conformance tests' layout), every
//     exclusive/reverse combination, int32/int64/float32, negative axes;
//   - Pow with unsigned (and narrow signed) integer exponents, float and integer bases.
// Tolerances (float outputs): |cuda - cpu| <= 1e-4 * (|cpu| + rms(cpu)) + 1e-6 per element; integers exact;
// Transpose compares bytes. The fixture and helpers are in cuda_vs_cpu.h.
// With no GPU the tests print a visible skip. KILN_GPU_TEST_SELF_CHECK=1 puts the CPU backend in CUDA's place.
#include "gpu/cuda_vs_cpu.h"

namespace kiln {
namespace {

class CudaMisc : public CudaVsCpu {};

ir::Attributes permOf(std::vector<int64_t> perm) { return attrs({{"perm", std::move(perm)}}); }

TEST_F(CudaMisc, TransposeLayoutEdgesMatchCpuBitForBit) {
  const std::vector<Dims> shapes = {{3, 5, 7, 9}, {2, 3, 224, 224}, {1, 2048, 1, 1}, {2, 33, 17, 31},
                                    {1, 8, 1, 40}, {4, 64, 7, 7},   {3, 1, 5, 1}};
  for (DataType d : {DataType::kFloat16, DataType::kFloat32, DataType::kInt64, DataType::kUInt8}) {
    for (const Dims& s : shapes) {
      for (const auto& perm : {std::vector<int64_t>{0, 2, 3, 1}, std::vector<int64_t>{0, 3, 1, 2},
                               std::vector<int64_t>{0, 2, 1, 3}, std::vector<int64_t>{3, 2, 1, 0}}) {
        std::string p;
        for (int64_t v : perm) p += std::to_string(v);
        checkBytes({"Transpose " + p + " " + dataTypeName(d) + " " + dimsToString(s), OpKind::kTranspose,
                    permOf(perm), {t(d, s, 1, 100)}});
      }
    }
  }
  for (DataType d : {DataType::kFloat16, DataType::kFloat32, DataType::kFloat64}) {
    for (const Dims& s : std::vector<Dims>{{1, 1}, {1, 37}, {37, 1}, {3, 50001}, {50001, 3}, {31, 33}, {64, 96},
                                           {257, 129}, {7, 9}}) {
      checkBytes({"Transpose 2-D " + dataTypeName(d) + " " + dimsToString(s), OpKind::kTranspose, permOf({1, 0}),
                  {t(d, s)}});
      checkBytes({"Transpose 2-D default perm " + dataTypeName(d) + " " + dimsToString(s), OpKind::kTranspose, {},
                  {t(d, s)}});
    }
  }
  // 3-D batched transposes and a rotation of a rank-5 tensor: still one batched 2-D transpose after merging.
  checkBytes({"Transpose 021", OpKind::kTranspose, permOf({0, 2, 1}), {f32({5, 19, 45})}});
  checkBytes({"Transpose 03412", OpKind::kTranspose, permOf({0, 3, 4, 1, 2}), {f32({2, 3, 5, 7, 11})}});
  checkBytes({"Transpose 10 of 1x1", OpKind::kTranspose, permOf({1, 0}), {f32({1, 1})}});
}

Input axisOnDevice(DataType d, double axis) { return given(d, {}, {axis}, Input::kActivation); }

TEST_F(CudaMisc, CumulativeWithAxisComputedOnDevice) {
  for (OpKind op : {OpKind::kCumSum, OpKind::kCumProd}) {
    for (DataType d : {DataType::kFloat32, DataType::kInt32, DataType::kInt64}) {
      const bool product = op == OpKind::kCumProd;
      const double lo = product ? (d == DataType::kFloat32 ? 0.5 : -2) : -50, hi = product ? 1.5 : 50;
      for (int64_t excl : {0, 1})
        for (int64_t rev : {0, 1}) {
          const ir::Attributes a = attrs({{"exclusive", excl}, {"reverse", rev}});
          const std::string suffix = " " + dataTypeName(d) + " e" + std::to_string(excl) + " r" + std::to_string(rev);
          check({name(op) + " 1-D" + suffix, op, a, {t(d, {37}, lo, hi), axisOnDevice(DataType::kInt64, 0)}, 1, false});
          for (int64_t axis : {0, 1, 2, -1, -2, -3})
            check({name(op) + " 3-D axis " + std::to_string(axis) + suffix, op, a,
                   {t(d, {3, 9, 5}, lo, hi), axisOnDevice(DataType::kInt64, static_cast<double>(axis))}, 1, false});
          check({name(op) + " int32 axis -1" + suffix, op, a,
                 {t(d, {4, 6, 7}, lo, hi), axisOnDevice(DataType::kInt32, -1)}, 1, false});
          check({name(op) + " int32 axis 1" + suffix, op, a,
                 {t(d, {4, 6, 7}, lo, hi), axisOnDevice(DataType::kInt32, 1)}, 1, false});
        }
    }
  }
  // float16 data, and a larger case with many lines.
  check({"CumSum float16 axis 1", OpKind::kCumSum, {}, {f32({6, 33, 4}), axisOnDevice(DataType::kInt64, 1)}});
  check({"CumSum 2-D axis 0", OpKind::kCumSum, {}, {f32({300, 257}), axisOnDevice(DataType::kInt64, 0)}, 1, false});
  check({"CumSum 2-D axis -1", OpKind::kCumSum, {}, {f32({300, 257}), axisOnDevice(DataType::kInt64, -1)}, 1, false});
}

TEST_F(CudaMisc, CumulativeWithOutOfRangeDeviceAxisWritesZeros) {
  // The CPU reports the error; a kernel cannot, so the CUDA output is all zeros (documented in reduction.h).
  const Case c{"CumSum axis 3 of rank 3", OpKind::kCumSum, {}, {f32({2, 3, 4}), axisOnDevice(DataType::kInt64, 3)}};
  const std::vector<Tensor> values = makeInputs(c, 5u);
  const ir::Graph g = makeGraph(c, values, {DataType::kFloat32, DataType::kInt64});
  std::vector<ops::TensorInfo> outInfo = {ops::TensorInfo{DataType::kFloat32, Dims{2, 3, 4}, nullptr}};
  if (selfCheck_) GTEST_SKIP() << "the CPU backend reports this case as an error";
  auto got = runOn(*cuda_, g, c, values, outInfo);
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  for (int64_t i = 0; i < (*got)[0].elementCount(); ++i) EXPECT_EQ(getValue((*got)[0], i), 0.0) << "element " << i;
}

TEST_F(CudaMisc, PowWithUnsignedAndNarrowIntegerExponents) {
  const DataType exponents[] = {DataType::kUInt8, DataType::kUInt16, DataType::kUInt32, DataType::kUInt64,
                                DataType::kInt8,  DataType::kInt16};
  for (DataType e : exponents) {
    const std::string es = dataTypeName(e);
    check({"Pow float32 ^ " + es, OpKind::kPow, {}, {f32({5, 7}, -2, 2), t(e, {7}, 0, 5)}, 1, false});
    check({"Pow float32 ^ " + es + " same shape", OpKind::kPow, {}, {f32({3, 11}, 0.5, 3), t(e, {3, 11}, 0, 6)}, 1,
           false});
    check({"Pow float64 ^ " + es, OpKind::kPow, {}, {t(DataType::kFloat64, {4, 9}), t(e, {9}, 0, 7)}, 1, false});
    check({"Pow int64 ^ " + es, OpKind::kPow, {}, {t(DataType::kInt64, {6, 5}, -9, 9), t(e, {5}, 0, 9)}, 1, false});
    check({"Pow int32 ^ " + es, OpKind::kPow, {}, {t(DataType::kInt32, {6, 5}, -9, 9), t(e, {6, 1}, 0, 9)}, 1,
           false});
    check({"Pow float16 ^ " + es, OpKind::kPow, {}, {f32({5, 7}, 0.5, 1.5), t(e, {7}, 0, 4)}});
  }
  // Large exponents: int64 results overflow to 0 as on the CPU; bases +-1 stay exact.
  check({"Pow int64 ^ uint32 large", OpKind::kPow, {},
         {given(DataType::kInt64, {6}, {1, -1, 2, -2, 3, 0}, Input::kActivation),
          given(DataType::kUInt32, {6}, {4000000000.0, 3999999999.0, 62, 63, 40, 7}, Input::kActivation)}, 1, false});
  check({"Pow int64 ^ uint64 beyond int64", OpKind::kPow, {},
         {given(DataType::kInt64, {4}, {1, -1, 0, 2}, Input::kActivation),
          given(DataType::kUInt64, {4}, {1.8e19, 1.8e19, 1.8e19, 1.8e19}, Input::kActivation)}, 1, false});
  check({"Pow float32 ^ uint64 host-known", OpKind::kPow, {}, {f32({4, 4}), given(DataType::kUInt64, {}, {3})}, 1, false});
}

}  // namespace
}  // namespace kiln
