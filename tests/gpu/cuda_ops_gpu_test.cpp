// The CUDA kernels added for issue 3 (every op the CPU backend supports), each run as a one-node graph on the CPU
// backend (the reference, DESIGN.md rule 8) and on the CUDA backend, on the same random non-zero inputs at several
// shapes including odd ones; every integer dtype for the elementwise ops; parameter inputs that the host shape
// program computes (DeviceTensor::hostData) as well as constants.
// Tolerances:
//   float32 / float64 (TF32 off): |cuda - cpu| <= 1e-4 * (|cpu| + rms(cpu)) + 1e-6 per element; integer and bool
//                       outputs must match exactly.
//   float16: float inputs rounded to float16 for both; the CPU runs them in float32. Cosine similarity >= 0.999 and
//            max relative error (|d| / (|cpu| + rms)) <= 2e-2; printed per case.
// With no GPU the tests print a visible skip. KILN_GPU_TEST_SELF_CHECK=1 puts the CPU backend in CUDA's place (its
// float16 variants run through the CPU's float32 staging) to check the cases themselves on a machine without a GPU.
#include "gpu/cuda_vs_cpu.h"

namespace kiln {
namespace {

class CudaOps : public CudaVsCpu {};

const DataType kIntTypes[] = {DataType::kInt8,   DataType::kInt16,  DataType::kInt32,  DataType::kInt64,
                              DataType::kUInt8,  DataType::kUInt16, DataType::kUInt32, DataType::kUInt64};

TEST_F(CudaOps, ArithmeticAndComparisonsOnEveryIntegerType) {
  const std::vector<std::pair<Dims, Dims>> shapes = {{{3, 5, 7}, {5, 1}}, {{1027}, {1027}}, {{2, 1, 9}, {4, 1}}};
  for (DataType d : kIntTypes) {
    const bool isSigned = d == DataType::kInt8 || d == DataType::kInt16 || d == DataType::kInt32 || d == DataType::kInt64;
    const double lo = isSigned ? -100 : 1, hi = 100;  // products wrap around in int8/uint8, as on the CPU
    for (const auto& [a, b] : shapes) {
      const std::string suffix = " " + dataTypeName(d) + " " + dimsToString(a) + "," + dimsToString(b);
      for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMax, OpKind::kMin,
                        OpKind::kEqual, OpKind::kGreater, OpKind::kLessOrEqual, OpKind::kMod})
        check({name(op) + suffix, op, {}, {t(d, a, lo, hi), t(d, b, isSigned ? -9 : 1, 9)}});
    }
    check({"Max 3 inputs " + dataTypeName(d), OpKind::kMax, {}, {t(d, {4, 5}, 1, 50), t(d, {5}, 1, 50), t(d, {4, 1}, 1, 50)}});
    check({"Abs " + dataTypeName(d), OpKind::kAbs, {}, {t(d, {37}, lo, hi)}});
  }
  for (DataType d : {DataType::kFloat64, DataType::kFloat32}) {
    for (OpKind op : {OpKind::kAdd, OpKind::kDiv, OpKind::kMax, OpKind::kGreater})
      check({name(op) + " " + dataTypeName(d), op, {}, {t(d, {6, 7}), t(d, {7})}});
    check({"Mod fmod=0 " + dataTypeName(d), OpKind::kMod, {}, {t(d, {5, 9}, -9, 9), t(d, {9}, -3, 3)}});
  }
  check({"Pow float32 ^ int64", OpKind::kPow, {}, {f32({5, 7}, 0.5, 2), t(DataType::kInt64, {7}, -3, 3)}});
  check({"Mean 3 inputs", OpKind::kMean, {}, {f32({4, 5}), f32({5}), f32({4, 1})}});
  check({"Sum 3 inputs float64", OpKind::kSum, {}, {t(DataType::kFloat64, {4, 5}), t(DataType::kFloat64, {5}),
                                                    t(DataType::kFloat64, {4, 1})}});
  check({"Sum 1 input broadcast-free", OpKind::kSum, {}, {f32({9, 3})}});
  check({"Shrink", OpKind::kShrink, attrs({{"lambd", 0.7f}, {"bias", 0.2f}}), {f32({11, 13})}});
  check({"Swish", OpKind::kSwish, attrs({{"alpha", 1.5f}}), {f32({3, 257})}});
  for (DataType d : {DataType::kInt32, DataType::kUInt8, DataType::kFloat16, DataType::kFloat64})
    // Out-of-range float -> integer casts are undefined in ONNX (C++ too): unsigned targets get values in range.
    check({"CastLike float32->" + dataTypeName(d), OpKind::kCastLike, {},
           {f32({6, 9}, d == DataType::kUInt8 ? 0.5 : -50, 50), t(d, {1})}, 1, false});
  check({"Clip uint8", OpKind::kClip, {}, {t(DataType::kUInt8, {40}, 1, 250), given(DataType::kUInt8, {}, {20}),
                                           given(DataType::kUInt8, {}, {200})}});
}

TEST_F(CudaOps, BitOperations) {
  for (DataType d : kIntTypes) {
    for (OpKind op : {OpKind::kBitwiseAnd, OpKind::kBitwiseOr, OpKind::kBitwiseXor})
      check({name(op) + " " + dataTypeName(d), op, {}, {t(d, {5, 7}, 1, 120), t(d, {7}, 1, 120)}});
    check({"BitwiseNot " + dataTypeName(d), OpKind::kBitwiseNot, {}, {t(d, {33}, 1, 120)}});
    const int bits = static_cast<int>(dataTypeSize(d) * 8);
    for (const char* dir : {"LEFT", "RIGHT"})  // shifts up to past the width: every bit goes
      check({std::string("BitShift ") + dir + " " + dataTypeName(d), OpKind::kBitShift,
             attrs({{"direction", std::string(dir)}}), {t(d, {6, 11}, 1, 120), t(d, {11}, 1, bits + 2)}});
  }
}

TEST_F(CudaOps, Reductions) {
  check({"ReduceLogSum axes [1]", OpKind::kReduceLogSum, attrs({{"keepdims", int64_t{0}}}),
         {f32({3, 5, 7}, 0.1, 2), i64({1}, {1})}});
  check({"ReduceLogSum all", OpKind::kReduceLogSum, {}, {f32({13, 17}, 0.1, 2)}});
  check({"ReduceSum host-known axes", OpKind::kReduceSum, {}, {f32({2, 3, 5, 7}), i64({2}, {0, 2}, Input::kHost)}});
  check({"ReduceMax float64", OpKind::kReduceMax, {}, {t(DataType::kFloat64, {4, 9}), i64({1}, {1})}});
  for (int64_t excl : {0, 1})
    for (int64_t rev : {0, 1})
      check({"CumProd e" + std::to_string(excl) + " r" + std::to_string(rev), OpKind::kCumProd,
             attrs({{"exclusive", excl}, {"reverse", rev}}), {f32({3, 9, 4}, 0.5, 1.5), i64({}, {1})}});
  check({"CumSum host-known axis", OpKind::kCumSum, {}, {f32({5, 7}), i64({}, {-1}, Input::kHost)}});
  for (DataType d : {DataType::kInt64, DataType::kInt32, DataType::kFloat64})
    for (OpKind op : {OpKind::kArgMax, OpKind::kArgMin})
      check({name(op) + " " + dataTypeName(d) + " ties", op, attrs({{"axis", int64_t{1}}, {"select_last_index", int64_t{1}}}),
             {t(d, {4, 9}, -2, 2)}});
}

TEST_F(CudaOps, Indexing) {
  check({"GatherElements axis 1", OpKind::kGatherElements, attrs({{"axis", int64_t{1}}}),
         {f32({3, 5, 4}), t(DataType::kInt64, {3, 7, 4}, -5, 4)}});
  check({"GatherElements int32 idx axis 0", OpKind::kGatherElements, {}, {f32({6, 5}), t(DataType::kInt32, {2, 5}, 0, 5)}});
  check({"GatherND", OpKind::kGatherND, {}, {f32({4, 5, 3}), i64({3, 2}, {0, 1, 3, 4, -1, 2}, Input::kActivation)}});
  check({"GatherND batch_dims 1", OpKind::kGatherND, attrs({{"batch_dims", int64_t{1}}}),
         {f32({2, 5, 3}), i64({2, 2, 1}, {1, 4, 0, 2}, Input::kActivation)}});
  for (const char* r : {"none", "add", "mul", "max", "min"}) {
    check({std::string("ScatterND ") + r, OpKind::kScatterND, attrs({{"reduction", std::string(r)}}),
           {f32({5, 4, 3}), i64({3, 1}, {4, 0, 2}, Input::kActivation), f32({3, 4, 3})}});
    check({std::string("ScatterElements ") + r, OpKind::kScatterElements,
           attrs({{"axis", int64_t{1}}, {"reduction", std::string(r)}}),
           // Distinct indices per row: with reduction "none" duplicates leave the result undefined (ONNX).
           {f32({3, 6}), i64({3, 2}, {0, 5, 1, 3, -1, 2}, Input::kActivation), f32({3, 2})}});
  }
  check({"ScatterND add duplicates int64", OpKind::kScatterND, attrs({{"reduction", std::string("add")}}),
         {t(DataType::kInt64, {6}, -9, 9), i64({4, 1}, {1, 1, 5, 1}, Input::kActivation), t(DataType::kInt64, {4}, -9, 9)}});
  for (int64_t upper : {0, 1})
    for (double k : {-1.0, 0.0, 2.0})
      check({"Trilu upper=" + std::to_string(upper) + " k=" + std::to_string(k), OpKind::kTrilu,
             attrs({{"upper", upper}}), {f32({2, 5, 7}), i64({}, {k})}});
  check({"Trilu int32 no k", OpKind::kTrilu, {}, {t(DataType::kInt32, {6, 6}, -9, 9)}});
  check({"OneHot axis -1", OpKind::kOneHot, {},
         {i64({2, 3}, {0, 4, -1, 2, 9, 1}, Input::kActivation), i64({}, {5}), given(DataType::kFloat32, {2}, {-1, 3})}});
  check({"OneHot axis 0", OpKind::kOneHot, attrs({{"axis", int64_t{0}}}),
         {i64({4}, {3, 0, 1, -2}, Input::kActivation), i64({}, {4}), given(DataType::kFloat32, {2}, {0, 1})}});
  check({"ReverseSequence time-major", OpKind::kReverseSequence, attrs({{"time_axis", int64_t{0}}, {"batch_axis", int64_t{1}}}),
         {f32({5, 3, 2}), i64({3}, {5, 1, 3}, Input::kActivation)}});
  check({"ReverseSequence batch-major", OpKind::kReverseSequence, attrs({{"time_axis", int64_t{1}}, {"batch_axis", int64_t{0}}}),
         {f32({3, 4, 2}), i64({3}, {2, 4, 0}, Input::kActivation)}});
  check({"Compress axis 1", OpKind::kCompress, attrs({{"axis", int64_t{1}}}),
         {f32({3, 5, 2}), given(DataType::kBool, {4}, {1, 0, 1, 1})}});
  check({"Compress flat", OpKind::kCompress, {}, {f32({2, 3}), given(DataType::kBool, {6}, {0, 1, 1, 0, 0, 1})}});
  check({"EyeLike k=1", OpKind::kEyeLike, attrs({{"k", int64_t{1}}}), {f32({4, 6})}, 1, false});
  check({"EyeLike int32 k=-2", OpKind::kEyeLike, {}, {t(DataType::kInt32, {5, 3})}});
}

TEST_F(CudaOps, SlicePadResizeWithHostParameters) {
  check({"Slice host params", OpKind::kSlice, {},
         {f32({6, 7, 5}), i64({2}, {1, -1}, Input::kHost), i64({2}, {5, 0}, Input::kHost),
          i64({2}, {0, 1}, Input::kHost), i64({2}, {2, -2}, Input::kHost)}});
  check({"Pad host pads reflect", OpKind::kPad, attrs({{"mode", std::string("reflect")}}),
         {f32({3, 5}), i64({4}, {1, 2, 2, 3}, Input::kHost)}});
  for (const char* ctm : {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"}) {
    check({std::string("Resize cubic ") + ctm, OpKind::kResize,
           attrs({{"mode", std::string("cubic")}, {"coordinate_transformation_mode", std::string(ctm)}}),
           {f32({1, 2, 6, 7}), none(), given(DataType::kFloat32, {4}, {1, 1, 1.5, 2})}});
  }
  check({"Resize cubic exclude_outside host scales", OpKind::kResize,
         attrs({{"mode", std::string("cubic")}, {"exclude_outside", int64_t{1}}, {"cubic_coeff_a", -0.5f}}),
         {f32({2, 3, 5, 9}), none(), given(DataType::kFloat32, {4}, {1, 1, 2, 0.75}, Input::kHost)}});
  check({"Resize linear tf_crop_and_resize", OpKind::kResize,
         attrs({{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                {"extrapolation_value", 2.5f}}),
         {f32({1, 2, 8, 9}), given(DataType::kFloat32, {8}, {0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3}), none(),
          i64({4}, {1, 2, 5, 6})}});
  check({"Resize nearest tf_crop_and_resize", OpKind::kResize,
         attrs({{"mode", std::string("nearest")}, {"coordinate_transformation_mode", std::string("tf_crop_and_resize")}}),
         {f32({1, 2, 8, 9}), given(DataType::kFloat32, {8}, {0, 0, 0.1, 0.2, 1, 1, 0.8, 0.7}), none(),
          i64({4}, {1, 2, 5, 6})}});
  check({"Resize linear sizes not_smaller", OpKind::kResize,
         attrs({{"mode", std::string("linear")}, {"axes", std::vector<int64_t>{2, 3}},
                {"keep_aspect_ratio_policy", std::string("not_smaller")}}),
         {f32({1, 3, 6, 8}), none(), none(), i64({2}, {9, 9}, Input::kHost)}});
}

TEST_F(CudaOps, MiscFamily) {
  for (int64_t axis : {-1, 0, 1})
    check({"Hardmax axis " + std::to_string(axis), OpKind::kHardmax, attrs({{"axis", axis}}), {f32({3, 5, 37})}});
  check({"Hardmax ties", OpKind::kHardmax, {}, {given(DataType::kFloat32, {2, 4}, {1, 3, 3, 0, 2, 2, -1, 2})}});
  check({"TopK largest", OpKind::kTopK, attrs({{"axis", int64_t{-1}}}), {f32({3, 130}), i64({1}, {7})}, 2});
  check({"TopK smallest axis 0", OpKind::kTopK, attrs({{"axis", int64_t{0}}, {"largest", int64_t{0}}}),
         {f32({7, 5, 3}), i64({1}, {2})}, 2});
  check({"TopK int64 ties", OpKind::kTopK, {}, {t(DataType::kInt64, {4, 9}, -2, 2), i64({1}, {9})}, 2});
  const std::vector<std::pair<std::string, std::vector<Dims>>> einsums = {
      {"ij,jk->ik", {{3, 5}, {5, 7}}}, {"bij,bjk->bik", {{2, 3, 4}, {2, 4, 5}}}, {"ii->i", {{5, 5}}},
      {"ij->", {{4, 7}}}, {"...ij->...ji", {{2, 3, 4, 5}}}, {"i,i", {{9}, {9}}}, {"bhqd,bhkd->bhqk", {{2, 3, 5, 8}, {2, 3, 6, 8}}}};
  for (const auto& [eq, shapes] : einsums) {
    std::vector<Input> ins;
    for (const Dims& d : shapes) ins.push_back(f32(d));
    check({"Einsum " + eq, OpKind::kEinsum, attrs({{"equation", eq}}), ins});
  }
  check({"Det 5x5", OpKind::kDet, {}, {f32({5, 5})}, 1, false});  // float16 inputs change the determinant a lot
  check({"Det batch", OpKind::kDet, {}, {f32({3, 2, 3, 3})}, 1, false});
  check({"LRN", OpKind::kLRN, attrs({{"size", int64_t{3}}, {"alpha", 2e-3f}, {"beta", 0.6f}, {"bias", 1.5f}}),
         {f32({2, 7, 5, 3})}});
  check({"LRN size 4", OpKind::kLRN, attrs({{"size", int64_t{4}}}), {f32({1, 6, 4, 3})}});
  check({"LpNormalization L2", OpKind::kLpNormalization, attrs({{"axis", int64_t{1}}, {"p", int64_t{2}}}), {f32({3, 7, 5})}});
  check({"LpNormalization L1", OpKind::kLpNormalization, attrs({{"p", int64_t{1}}}), {f32({4, 129})}});
  check({"MVN default", OpKind::kMeanVarianceNormalization, {}, {f32({3, 5, 4, 2})}});
  check({"MVN axes 1,2", OpKind::kMeanVarianceNormalization, attrs({{"axes", std::vector<int64_t>{1, 2}}}), {f32({3, 5, 7})}});
  check({"RMSNormalization axis -1", OpKind::kRMSNormalization, {}, {f32({4, 6, 33}), f32({33})}});
  check({"RMSNormalization axis 1 broadcast scale", OpKind::kRMSNormalization, attrs({{"axis", int64_t{1}}}),
         {f32({3, 4, 5}), f32({1, 5})}});
  struct LossCase { Dims x, target; const char* reduction; bool weight; int64_t ignore; };
  for (const LossCase& lc : {LossCase{{5, 4}, {5}, "mean", false, -100}, LossCase{{3, 5, 7}, {3, 7}, "none", true, -100},
                             LossCase{{2, 3, 4, 5}, {2, 4, 5}, "sum", true, 1}, LossCase{{4, 6, 3}, {4, 3}, "mean", true, 2}}) {
    const int64_t c = lc.x[1];
    std::vector<Input> ins = {f32(lc.x), t(DataType::kInt64, lc.target, 0, static_cast<double>(c - 1)),
                              lc.weight ? f32({c}, 0.2, 1.5) : none()};
    ins[1].low = 0;
    ir::Attributes a = attrs({{"reduction", std::string(lc.reduction)}});
    if (lc.ignore >= 0) a.set("ignore_index", lc.ignore);
    const std::string label = std::string(lc.reduction) + " " + dimsToString(lc.x);
    check({"NegativeLogLikelihoodLoss " + label, OpKind::kNegativeLogLikelihoodLoss, a, ins});
    check({"SoftmaxCrossEntropyLoss " + label, OpKind::kSoftmaxCrossEntropyLoss, a, ins, 2});
  }
}

TEST_F(CudaOps, ConvTransposeAndBroadcastMatMul) {
  const auto ct = [](std::vector<int64_t> strides, std::vector<int64_t> pads, int64_t group) {
    return attrs({{"strides", strides}, {"pads", pads}, {"group", group}});
  };
  check({"ConvTranspose 2D stride 2", OpKind::kConvTranspose, ct({2, 2}, {1, 1, 1, 1}, 1),
         {f32({2, 3, 5, 7}), f32({3, 4, 3, 3}), f32({4})}});
  check({"ConvTranspose 2D groups 2 asym pads", OpKind::kConvTranspose, ct({1, 2}, {0, 1, 2, 0}, 2),
         {f32({1, 4, 6, 5}), f32({4, 3, 2, 3}), none()}});
  check({"ConvTranspose 1D output_padding dilation", OpKind::kConvTranspose,
         attrs({{"strides", std::vector<int64_t>{3}}, {"output_padding", std::vector<int64_t>{1}},
                {"dilations", std::vector<int64_t>{2}}}),
         {f32({2, 3, 9}), f32({3, 2, 3})}});
  check({"ConvTranspose 3D", OpKind::kConvTranspose, ct({2, 1, 2}, {0, 0, 0, 1, 0, 1}, 1),
         {f32({1, 2, 3, 4, 5}), f32({2, 3, 2, 2, 3})}});
  check({"ConvTranspose SAME_UPPER", OpKind::kConvTranspose,
         attrs({{"strides", std::vector<int64_t>{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}),
         {f32({1, 2, 5, 6}), f32({2, 2, 3, 3})}});
  check({"MatMul both broadcast", OpKind::kMatMul, {}, {f32({2, 1, 7, 13}), f32({1, 3, 13, 5})}});
  check({"MatMul A broadcast partially", OpKind::kMatMul, {}, {f32({3, 1, 4, 6}), f32({3, 2, 6, 5})}});
  check({"MatMul 1-D by batched", OpKind::kMatMul, {}, {f32({6}), f32({2, 3, 6, 5})}});
}

// Gaps the GPU conformance run found (op cases and ONNX backend tests on an H200); each is compared with the CPU.
TEST_F(CudaOps, CastAndIntegerPowMatchTheCpu) {
  // Float -> integer truncates toward zero through int64, then wraps to the target width (-6.7 -> uint8 250).
  for (DataType d : kIntTypes)
    check({"CastLike negative float32->" + dataTypeName(d), OpKind::kCastLike, {},
           {f32({7, 11}, -300, 300), t(d, {1})}, 1, false});
  check({"CastLike float64->int8 negative", OpKind::kCastLike, {},
         {t(DataType::kFloat64, {37}, -400, 400), t(DataType::kInt8, {1})}, 1, false});
  // Integer Pow is exact (double pow can land just below an integer and truncate one lower); negative exponents
  // truncate 1/x^n as the CPU does.
  for (DataType d : {DataType::kInt64, DataType::kInt32}) {
    check({"Pow " + dataTypeName(d) + " ^ " + dataTypeName(d), OpKind::kPow, {}, {t(d, {6, 9}, -9, 9), t(d, {9}, -3, 13)}});
    check({"Pow " + dataTypeName(d) + " ^ int64", OpKind::kPow, {}, {t(d, {5, 4}, -7, 7), t(DataType::kInt64, {4}, 0, 15)}});
  }
  // Results stay below 2^53: above it the CPU's double pow is no longer exact while CUDA's squaring is.
  check({"Pow int64 ^ int32 near 2^53", OpKind::kPow, {},
         {given(DataType::kInt64, {4}, {3, -3, 7, 10}, Input::kActivation), given(DataType::kInt32, {4}, {33, 33, 18, 15})}});
  // ONNX Clip is min(max(x, min), max): with min > max every output is max.
  // float32 only: the float16 variant would leave the float32 bounds behind (ONNX requires equal types).
  check({"Clip min > max", OpKind::kClip, {}, {f32({5, 7}), given(DataType::kFloat32, {}, {1.0}),
                                                given(DataType::kFloat32, {}, {-0.5})}, 1, false});
  check({"Clip int32 min > max", OpKind::kClip, {}, {t(DataType::kInt32, {13}, -20, 20), given(DataType::kInt32, {}, {4}),
                                                      given(DataType::kInt32, {}, {-3})}});
}

TEST_F(CudaOps, ReduceNoopWithEmptyAxesStillAppliesTheElementStep) {
  for (OpKind op : {OpKind::kReduceL1, OpKind::kReduceL2, OpKind::kReduceSumSquare, OpKind::kReduceLogSumExp,
                    OpKind::kReduceLogSum, OpKind::kReduceSum, OpKind::kReduceMean}) {
    const double lo = op == OpKind::kReduceLogSum ? 0.1 : -2;
    check({name(op) + " noop, no axes", op, attrs({{"noop_with_empty_axes", int64_t{1}}}), {f32({3, 5, 7}, lo, 2)}});
    check({name(op) + " noop, empty axes", op, attrs({{"noop_with_empty_axes", int64_t{1}}}),
           {f32({4, 9}, lo, 2), i64({0}, {})}});
  }
}

TEST_F(CudaOps, LayerNormAxesAndBroadcastAffine) {
  struct Ln { const char* label; Dims x; int64_t axis; Dims scale, bias; };
  for (const Ln& c : {Ln{"axis 1, bias over the last dim", {3, 5, 6}, 1, {5, 6}, {6}},
                      Ln{"axis 0, scalar-like bias", {5, 3}, 0, {5, 3}, {1}},
                      Ln{"axis -2, scale [1,5], bias [4,5]", {2, 3, 4, 5}, -2, {1, 5}, {4, 5}},
                      Ln{"axis -2, scale [5], no bias", {2, 3, 4, 5}, -2, {5}, {}},
                      Ln{"axis 1, scale [1], bias [7,9]", {2, 7, 9}, 1, {1}, {7, 9}}}) {
    std::vector<Input> ins = {f32(c.x), f32(c.scale)};
    if (!c.bias.empty()) ins.push_back(f32(c.bias));
    check({std::string("LayerNormalization ") + c.label, OpKind::kLayerNormalization,
           attrs({{"axis", c.axis}, {"epsilon", 1e-5f}}), ins});
  }
}

TEST_F(CudaOps, SpaceToDepthModesAndAsymmetricConv) {
  for (const char* mode : {"DCR", "CRD"}) {
    check({std::string("SpaceToDepth ") + mode, OpKind::kSpaceToDepth,
           attrs({{"blocksize", int64_t{2}}, {"mode", std::string(mode)}}), {f32({2, 3, 4, 6})}});
    check({std::string("DepthToSpace ") + mode, OpKind::kDepthToSpace,
           attrs({{"blocksize", int64_t{2}}, {"mode", std::string(mode)}}), {f32({2, 12, 3, 2})}});
  }
  const auto conv = [](std::vector<int64_t> pads, std::vector<int64_t> strides, int64_t group = 1) {
    return attrs({{"pads", pads}, {"strides", strides}, {"group", group}});
  };
  check({"Conv 1D pads 1/3", OpKind::kConv, conv({1, 3}, {1}), {f32({2, 3, 11}), f32({4, 3, 3}), f32({4})}});
  check({"Conv 2D depthwise mult 2 pads 2/0", OpKind::kConv, conv({2, 2, 0, 0}, {1, 1}, 3),
         {f32({1, 3, 7, 6}), f32({6, 1, 3, 3}), f32({6})}});
  check({"Conv 2D asym pads dilation stride", OpKind::kConv,
         attrs({{"pads", std::vector<int64_t>{0, 1, 2, 0}}, {"strides", std::vector<int64_t>{2, 1}},
                {"dilations", std::vector<int64_t>{2, 1}}}),
         {f32({2, 4, 9, 8}), f32({5, 4, 3, 2}), none()}});
  check({"Conv 3D pads 1/0", OpKind::kConv, conv({1, 1, 1, 0, 0, 0}, {1, 1, 1}),
         {f32({1, 2, 4, 5, 3}), f32({3, 2, 2, 2, 2}), f32({3})}});
  for (const char* pad : {"SAME_UPPER", "SAME_LOWER"})
    check({std::string("Conv even kernel ") + pad, OpKind::kConv,
           attrs({{"auto_pad", std::string(pad)}, {"strides", std::vector<int64_t>{1, 2}}}),
           {f32({1, 3, 7, 8}), f32({4, 3, 2, 4}), f32({4})}});
}

}  // namespace
}  // namespace kiln
