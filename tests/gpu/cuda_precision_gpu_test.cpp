// FP16 and BF16 kernels of the operators real models run between convolutions and GEMMs (kiln issue 10, item 1):
// reductions and global pools, Resize, the normalizations, Softmax, elementwise and FusedElementwise, data movement,
// pools and Cast. Each case is a one-node graph run on the CPU backend (the reference, DESIGN.md rule 8) and on the
// CUDA backend on the same random non-zero inputs at odd shapes, in float32 and in both narrow types (cuda_vs_cpu.h).
// Tolerances (stated in cuda_vs_cpu.h's compare()):
//   float32 (TF32 off): |cuda - cpu| <= 1e-4 * (|cpu| + rms(cpu)) + 1e-6 per element; integer and bool outputs exact.
//   float16 / bfloat16: inputs rounded to the narrow type for both backends, the CPU computing them in float32;
//     cosine similarity >= 0.999 and max relative error |cuda - cpu| / (|cpu| + rms) <= 2e-2; cases marked with
//     `ulps` hold CUDA to that many unit roundoffs (2^-11 float16, 2^-8 bfloat16) instead: their only rounding should
//     be the output's, which catches FP16 accumulators and one-pass variances (see the 112x112 and mean-300 cases).
//   Data movement and Cast: bit-exact against the CPU on the same float16/bfloat16 tensors.
// With no GPU the tests print a visible skip. KILN_GPU_TEST_SELF_CHECK=1 puts the CPU backend in CUDA's place (the
// CPU computes float16/bfloat16 through float32 staging) to check the cases themselves on a machine without a GPU.
#include "gpu/cuda_vs_cpu.h"

namespace kiln {
namespace {

constexpr DataType kNarrow[] = {DataType::kFloat16, DataType::kBFloat16};

Input weights(Dims d, double lo = -2, double hi = 2) {
  Input i = f32(std::move(d), lo, hi);
  i.kind = Input::kConstant;
  return i;
}

class CudaPrecision : public CudaVsCpu {
 protected:
  /// check() with the float32, float16 and bfloat16 variants; `ulps` > 0 tightens the narrow tolerance.
  void checkAll(Case c, double ulps = 0) {
    c.fp16 = true;
    c.bf16 = true;
    c.narrowUlps = ulps;
    check(c);
  }

  /// checkBytes() on the same node with its float inputs in each narrow type (the CPU moves the bytes natively).
  void checkBytesNarrow(const Case& c) {
    for (DataType d : kNarrow) {
      Case n = c;
      n.label += " " + dataTypeName(d);
      for (Input& in : n.inputs)
        if (!in.absent && in.dtype == DataType::kFloat32 && !in.keepFloat32) in.dtype = d;
      checkBytes(n);
    }
  }

  /// A pool with data_format NHWC on CUDA (X [N,H,W,C]) against the CPU's NCHW pool of the same values.
  void checkNhwcPool(const std::string& label, OpKind op, ir::Attributes a, const Dims& nchw, double lo, double hi,
                     double ulps) {
    const Case reference{label + " NHWC", op, a, {f32(nchw, lo, hi)}};
    SCOPED_TRACE(reference.label);
    const std::vector<Tensor> values = makeInputs(reference, 99u + static_cast<uint32_t>(label.size()));
    for (DataType d : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
      SCOPED_TRACE(dataTypeName(d));
      Tensor rounded = values[0].clone().value();
      if (d != DataType::kFloat32)
        for (int64_t e = 0; e < rounded.elementCount(); ++e)
          rounded.dataAs<float>()[e] = fromNarrow(d, toNarrow(d, rounded.dataAs<float>()[e]));
      const std::vector<Tensor> wideIn = {rounded};
      const ir::Graph wide = makeGraph(reference, wideIn, {DataType::kFloat32});
      auto wideInfo = ops::inferOutputs(wide, wide.nodes.back(), infosOf(reference, wideIn));
      ASSERT_TRUE(wideInfo.hasValue()) << wideInfo.status().toString();
      auto want = runOn(*cpu_, wide, reference, wideIn, *wideInfo);
      ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();

      Case nhwc = reference;
      nhwc.attrs.set("data_format", std::string("NHWC"));
      nhwc.inputs[0].dtype = d;
      nhwc.inputs[0].dims = {nchw[0], nchw[2], nchw[3], nchw[1]};
      const std::vector<Tensor> thinIn = {toNhwc(rounded, d)};
      const ir::Graph thin = makeGraph(nhwc, thinIn, {d});
      auto thinInfo = ops::inferOutputs(thin, thin.nodes.back(), infosOf(nhwc, thinIn));
      ASSERT_TRUE(thinInfo.hasValue()) << thinInfo.status().toString();
      if (selfCheck_) continue;  // the CPU backend has no NHWC pools
      auto got = runOn(*cuda_, thin, nhwc, thinIn, *thinInfo);
      ASSERT_TRUE(got.hasValue()) << got.status().toString();
      Case tolerance = nhwc;
      tolerance.narrowUlps = ulps;
      compare(toNhwc((*want)[0], DataType::kFloat32), (*got)[0], d == DataType::kFloat32 ? DataType::kUndefined : d,
              tolerance);
    }
  }

  /// [N,C,H,W] float32 to [N,H,W,C] in `d` (float32, float16 or bfloat16).
  static Tensor toNhwc(const Tensor& x, DataType d) {
    const Dims& s = x.dims();
    Tensor y = Tensor::allocate(d, {s[0], s[2], s[3], s[1]}).value();
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t c = 0; c < s[1]; ++c)
        for (int64_t h = 0; h < s[2]; ++h)
          for (int64_t w = 0; w < s[3]; ++w)
            putValue(y, ((n * s[2] + h) * s[3] + w) * s[1] + c,
                     x.dataAs<float>()[((n * s[1] + c) * s[2] + h) * s[3] + w]);
    return y;
  }
};

TEST_F(CudaPrecision, ReductionsAccumulateInFloat32) {
  struct Shape { Dims x; std::vector<double> axes; };
  for (const Shape& s : {Shape{{3, 37, 5}, {1}}, Shape{{2, 3, 7, 11}, {2, 3}}, Shape{{129}, {0}},
                         Shape{{4, 9, 6}, {0, 2}}}) {
    const Input axes = i64({static_cast<int64_t>(s.axes.size())}, s.axes);
    const std::string shape = " " + dimsToString(s.x);
    for (OpKind op : {OpKind::kReduceMean, OpKind::kReduceSum, OpKind::kReduceMax, OpKind::kReduceMin,
                      OpKind::kReduceL1, OpKind::kReduceL2, OpKind::kReduceSumSquare, OpKind::kReduceLogSumExp})
      checkAll({name(op) + shape, op, attrs({{"keepdims", int64_t{1}}}), {f32(s.x), axes}});
    checkAll({"ReduceLogSum" + shape, OpKind::kReduceLogSum, attrs({{"keepdims", int64_t{0}}}),
              {f32(s.x, 0.1, 2), axes}});
    checkAll({"ReduceProd" + shape, OpKind::kReduceProd, {}, {f32(s.x, 0.9, 1.1), axes}});
  }
  checkAll({"ReduceMean all axes", OpKind::kReduceMean, attrs({{"keepdims", int64_t{0}}}), {f32({5, 3, 17})}});
  checkAll({"ReduceMean attribute axes (opset 13)", OpKind::kReduceMean, attrs({{"axes", std::vector<int64_t>{-1}}}),
            {f32({6, 1000})}});
  for (OpKind op : {OpKind::kArgMax, OpKind::kArgMin})
    checkAll({name(op) + " axis 1", op, attrs({{"axis", int64_t{1}}}), {f32({4, 33, 3})}});
  checkAll({"CumSum axis 1", OpKind::kCumSum, {}, {f32({4, 37, 3}), i64({}, {1})}});
  checkAll({"CumSum reverse exclusive", OpKind::kCumSum, attrs({{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}}),
            {f32({3, 29}), i64({}, {-1})}});
}

// A float16 accumulator over 112*112 values loses the small addends once the sum passes 2048 and overflows (inf)
// once it passes 65504; a bfloat16 one stops growing at 256. Float32 accumulation leaves only the output's rounding.
TEST_F(CudaPrecision, LargeReductionsWouldFailWithANarrowAccumulator) {
  checkAll({"GlobalAveragePool 112x112 of 1..4", OpKind::kGlobalAveragePool, {}, {f32({2, 3, 112, 112}, 1, 4)}}, 4);
  checkAll({"ReduceMean 112x112 of 1..4", OpKind::kReduceMean, {}, {f32({2, 3, 112, 112}, 1, 4), i64({2}, {2, 3})}},
           4);
  checkAll({"ReduceMean 112x112 of 200..400 (sum beyond float16)", OpKind::kReduceMean, {},
            {f32({1, 5, 112, 112}, 200, 400), i64({2}, {-2, -1})}}, 4);
  checkAll({"ReduceSum 4096 of 1..4 into one", OpKind::kReduceSum, attrs({{"keepdims", int64_t{0}}}),
            {f32({3, 4096}, 1, 4), i64({1}, {1})}}, 4);
  checkAll({"GlobalMaxPool 112x112", OpKind::kGlobalMaxPool, {}, {f32({2, 3, 112, 112})}}, 1);
  checkNhwcPool("GlobalAveragePool 112x112 of 1..4", OpKind::kGlobalAveragePool, {}, {2, 24, 112, 112}, 1, 4, 4);
  checkNhwcPool("GlobalAveragePool 56x56 of 200..400", OpKind::kGlobalAveragePool, {}, {1, 40, 56, 56}, 200, 400, 4);
  checkNhwcPool("GlobalMaxPool 28x28, C=13", OpKind::kGlobalMaxPool, {}, {3, 13, 28, 28}, -2, 2, 1);
}

// Two-pass statistics in float32: rows with mean 300 and std ~1 lose their variance to cancellation in a one-pass
// E[x^2] - E[x]^2 (and overflow float16 in a narrow sum).
TEST_F(CudaPrecision, NormalizationStatisticsInFloat32) {
  checkAll({"LayerNorm [2,7,768]", OpKind::kLayerNormalization, {},
            {f32({2, 7, 768}), weights({768}), weights({768})}});
  checkAll({"LayerNorm odd, eps 1e-3", OpKind::kLayerNormalization, attrs({{"epsilon", 1e-3f}}),
            {f32({5, 13}), weights({13}), weights({13})}});
  checkAll({"LayerNorm axis -2, no bias", OpKind::kLayerNormalization, attrs({{"axis", int64_t{-2}}}),
            {f32({3, 5, 7}), weights({5, 7})}});
  checkAll({"LayerNorm rows with mean 300, std 1", OpKind::kLayerNormalization, {},
            {f32({4, 768}, 298.3, 301.7), weights({768}), weights({768})}}, 4);
  checkAll({"InstanceNorm", OpKind::kInstanceNormalization, {}, {f32({2, 3, 5, 7}), weights({3}), weights({3})}});
  checkAll({"InstanceNorm 56x56 mean 300", OpKind::kInstanceNormalization, attrs({{"epsilon", 1e-5f}}),
            {f32({1, 4, 56, 56}, 298.3, 301.7), weights({4}), weights({4})}}, 4);
  checkAll({"GroupNorm 4 groups, per-channel affine", OpKind::kGroupNormalization, attrs({{"num_groups", int64_t{4}}}),
            {f32({2, 8, 5, 7}), weights({8}), weights({8})}});
  checkAll({"GroupNorm 2 groups, per-group affine", OpKind::kGroupNormalization, attrs({{"num_groups", int64_t{2}}}),
            {f32({3, 6, 9}), weights({2}), weights({2})}});
  checkAll({"GroupNorm 32 groups 28x28 mean 300", OpKind::kGroupNormalization, attrs({{"num_groups", int64_t{32}}}),
            {f32({1, 64, 28, 28}, 298.3, 301.7), weights({64}), weights({64})}}, 4);
  checkAll({"BatchNorm", OpKind::kBatchNormalization, {},
            {f32({2, 4, 3, 5}), weights({4}), weights({4}), weights({4}), weights({4}, 0.5, 2)}});
  for (const Dims& d : {Dims{4, 1000}, Dims{2, 3, 37}, Dims{7}, Dims{3, 4096}})
    for (OpKind op : {OpKind::kSoftmax, OpKind::kLogSoftmax})
      checkAll({name(op) + " " + dimsToString(d), op, {}, {f32(d, -6, 6)}});
  checkAll({"Softmax axis 1", OpKind::kSoftmax, attrs({{"axis", int64_t{1}}}), {f32({2, 5, 3})}});
  checkAll({"LogSoftmax axis 0", OpKind::kLogSoftmax, attrs({{"axis", int64_t{0}}}), {f32({9, 4})}});
  // exp(12) = 1.6e5 is beyond float16: the max must be subtracted in float32 before the exponential.
  checkAll({"Softmax of 8..12 (exp beyond float16)", OpKind::kSoftmax, {}, {f32({5, 1000}, 8, 12)}}, 4);
}

TEST_F(CudaPrecision, ResizeNearestLinearCubic) {
  const Input x2 = given(DataType::kFloat32, {4}, {1, 1, 2, 2});
  const auto modes = [](const char* mode, const char* ctm) {
    return attrs({{"mode", std::string(mode)}, {"coordinate_transformation_mode", std::string(ctm)}});
  };
  checkAll({"Resize nearest x2", OpKind::kResize, {}, {f32({1, 3, 5, 7}), none(), x2}});
  ir::Attributes floor = modes("nearest", "asymmetric");
  floor.set("nearest_mode", std::string("floor"));
  checkAll({"Resize nearest asymmetric floor sizes", OpKind::kResize, floor,
            {f32({2, 3, 5, 7}), none(), none(), i64({4}, {2, 3, 11, 4})}});
  for (const char* ctm : {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel", "half_pixel_symmetric"}) {
    checkAll({std::string("Resize linear x2 ") + ctm, OpKind::kResize, modes("linear", ctm),
              {f32({1, 3, 5, 7}), none(), x2}});
    checkAll({std::string("Resize linear sizes ") + ctm, OpKind::kResize, modes("linear", ctm),
              {f32({2, 3, 9, 11}), none(), none(), i64({4}, {2, 3, 17, 5})}});
  }
  checkAll({"Resize linear 56 -> 112 (segmentation head)", OpKind::kResize, modes("linear", "half_pixel"),
            {f32({1, 8, 56, 56}), none(), x2}});
  checkAll({"Resize linear host-known scales", OpKind::kResize, modes("linear", "half_pixel"),
            {f32({1, 2, 6, 9}), none(), given(DataType::kFloat32, {4}, {1, 1, 0.5, 1.5}, Input::kHost)}});
  checkAll({"Resize cubic", OpKind::kResize, modes("cubic", "half_pixel"),
            {f32({1, 2, 6, 7}), none(), given(DataType::kFloat32, {4}, {1, 1, 1.5, 2})}});
  ir::Attributes crop = modes("linear", "tf_crop_and_resize");
  crop.set("extrapolation_value", 2.5f);
  checkAll({"Resize linear tf_crop_and_resize", OpKind::kResize, crop,
            {f32({1, 2, 8, 9}), given(DataType::kFloat32, {8}, {0, 0, 0.2, -0.1, 1, 1, 0.9, 1.3}), none(),
             i64({4}, {1, 2, 5, 6})}});
  // roi in the data's type (ONNX's T2 may be float16).
  checkAll({"Resize linear crop, roi in the data type", OpKind::kResize, modes("linear", "tf_crop_and_resize"),
            {f32({1, 2, 8, 9}), values({8}, {0, 0, 0.25, 0, 1, 1, 0.75, 1}), none(), i64({4}, {1, 2, 4, 7})}});
}

TEST_F(CudaPrecision, ElementwiseUnary) {
  struct Unary { OpKind op; ir::Attributes a; double lo, hi; };
  const std::vector<Unary> ops = {
      {OpKind::kSigmoid, {}, -6, 6}, {OpKind::kTanh, {}, -3, 3}, {OpKind::kErf, {}, -2, 2},
      {OpKind::kGelu, {}, -4, 4}, {OpKind::kGelu, attrs({{"approximate", std::string("tanh")}}), -4, 4},
      {OpKind::kHardSwish, {}, -5, 5}, {OpKind::kHardSigmoid, attrs({{"alpha", 0.2f}, {"beta", 0.5f}}), -4, 4},
      {OpKind::kHardSigmoid, attrs({{"alpha", 1.f / 6}, {"beta", 0.5f}}), -4, 4},  // PyTorch's
      {OpKind::kSwish, {}, -6, 6}, {OpKind::kRelu, {}, -2, 2}, {OpKind::kLeakyRelu, attrs({{"alpha", 0.1f}}), -2, 2},
      {OpKind::kElu, {}, -2, 2}, {OpKind::kSelu, {}, -2, 2}, {OpKind::kCelu, {}, -2, 2}, {OpKind::kSoftplus, {}, -5, 5},
      {OpKind::kSoftsign, {}, -4, 4}, {OpKind::kMish, {}, -4, 4}, {OpKind::kExp, {}, -3, 3}, {OpKind::kLog, {}, 0.1, 4},
      {OpKind::kSqrt, {}, 0.1, 4}, {OpKind::kReciprocal, {}, 0.5, 4}, {OpKind::kAbs, {}, -2, 2},
      {OpKind::kNeg, {}, -2, 2}, {OpKind::kSign, {}, -2, 2}, {OpKind::kFloor, {}, -5, 5}, {OpKind::kCeil, {}, -5, 5},
      {OpKind::kRound, {}, -5, 5}, {OpKind::kSin, {}, -3, 3}, {OpKind::kCos, {}, -3, 3}};
  for (const Unary& u : ops)
    for (const Dims& d : {Dims{3, 257}, Dims{2, 3, 5, 7}})
      checkAll({name(u.op) + " " + dimsToString(d), u.op, u.a, {f32(d, u.lo, u.hi)}});
  checkAll({"Clip min/max", OpKind::kClip, {}, {f32({6, 11}), values({}, {-0.5}), values({}, {0.75})}});
  checkAll({"Clip 0..6 (ReLU6)", OpKind::kClip, {}, {f32({4, 33}, -3, 9), values({}, {0}), values({}, {6})}});
  checkAll({"Clip max only", OpKind::kClip, {}, {f32({5, 9}), none(), values({}, {0.25})}});
  const double inf = INFINITY, nan = std::nan("");
  const Input special = values({10}, {1, -inf, 2.5, inf, nan, -3, 0.5, nan, -inf, 7}, Input::kActivation);
  checkAll({"IsNaN", OpKind::kIsNaN, {}, {special}});
  checkAll({"IsInf", OpKind::kIsInf, {}, {special}});
  checkAll({"IsInf negative only", OpKind::kIsInf, attrs({{"detect_positive", int64_t{0}}}), {special}});
}

TEST_F(CudaPrecision, ElementwiseBinaryWithMixedBroadcast) {
  const std::vector<std::pair<Dims, Dims>> shapes = {{{3, 5, 7}, {5, 1}},          {{2, 1, 9}, {4, 1}},
                                                     {{1027}, {1027}},             {{2, 3, 1, 1}, {1, 1, 4, 5}},
                                                     {{}, {3, 4}},                 {{2, 16, 7, 7}, {1, 16, 1, 1}}};
  for (const auto& [a, b] : shapes) {
    const std::string s = " " + dimsToString(a) + "," + dimsToString(b);
    for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kMax, OpKind::kMin})
      checkAll({name(op) + s, op, {}, {f32(a), f32(b)}});
    checkAll({"Div" + s, OpKind::kDiv, {}, {f32(a), f32(b, 0.5, 2)}});
    checkAll({"Pow" + s, OpKind::kPow, {}, {f32(a, 0.2, 3), f32(b, -2, 2)}});
    for (OpKind op : {OpKind::kEqual, OpKind::kGreater, OpKind::kGreaterOrEqual, OpKind::kLess, OpKind::kLessOrEqual})
      checkAll({name(op) + s, op, {}, {f32(a, -1, 1), f32(b, -1, 1)}});
  }
  checkAll({"Mod fmod=1", OpKind::kMod, attrs({{"fmod", int64_t{1}}}), {f32({5, 9}, -9, 9), f32({9}, 0.5, 3)}});
  checkAll({"PRelu per-channel slope", OpKind::kPRelu, {}, {f32({2, 6, 5, 4}), weights({6, 1, 1}, 0.05, 0.5)}});
  checkAll({"Pow ^ int64 exponent", OpKind::kPow, {}, {f32({5, 7}, 0.5, 2), t(DataType::kInt64, {7}, -3, 3)}});
  checkAll({"Pow ^ 2 (constant)", OpKind::kPow, {}, {f32({3, 31}), values({}, {2})}});
  for (OpKind op : {OpKind::kSum, OpKind::kMean, OpKind::kMax, OpKind::kMin})
    checkAll({name(op) + " 3 inputs mixed broadcast", op, {}, {f32({4, 5}), f32({5}), f32({4, 1})}});
  checkAll({"Where mixed broadcast", OpKind::kWhere, {}, {t(DataType::kBool, {3, 1, 8}), f32({4, 8}), f32({3, 4, 1})}});
  checkAll({"Where scalar Y", OpKind::kWhere, {}, {t(DataType::kBool, {2, 9}), f32({2, 9}), values({}, {-1e4})}});
}

TEST_F(CudaPrecision, FusedElementwiseChains) {
  // r2 = Sigmoid(r0); r3 = r0 * r2 (SiLU); r4 = r3 + r1; r5 = HardSigmoid(r4; 0.2, 0.5); r6 = r5 * r4;
  // r7 = Clip(r6; -1, 6)
  const std::vector<int64_t> program = {8, 0, 0, 2, 0, 2, 0, 3, 1, 23, 4, -1, 2, 5, 4, 24, 6, -3};
  const ir::Attributes a = attrs({{"program", program}, {"immediates", std::vector<float>{0.2f, 0.5f, -1.f, 6.f}}});
  checkAll({"FusedElementwise SiLU+add+HardSigmoid+Clip", OpKind::kFusedElementwise, a, {f32({3, 257}), f32({257})}});
  checkAll({"FusedElementwise broadcast [2,16,1,1]", OpKind::kFusedElementwise, a,
            {f32({2, 16, 9, 7}), f32({2, 16, 1, 1})}});
  // r1 = Mul(r0, 0.5); r2 = Gelu(r1); r3 = Exp(r2)
  const ir::Attributes gelu = attrs({{"program", std::vector<int64_t>{2, 0, -1, 18, 1, 0, 11, 2, 0}},
                                     {"immediates", std::vector<float>{0.5f}}});
  checkAll({"FusedElementwise Mul-Gelu-Exp", OpKind::kFusedElementwise, gelu, {f32({5, 129})}});
}

TEST_F(CudaPrecision, DataMovementKeepsEveryBit) {
  checkBytesNarrow({"Gather axis 0", OpKind::kGather, {},
                    {f32({30, 8}), i64({2, 3}, {0, 29, -1, 5, 7, 3}, Input::kActivation)}});
  checkBytesNarrow({"Gather axis 1 int32", OpKind::kGather, attrs({{"axis", int64_t{1}}}),
                    {f32({3, 10, 4}), given(DataType::kInt32, {4}, {9, 0, 2, 2}, Input::kActivation)}});
  checkBytesNarrow({"Concat axis 1", OpKind::kConcat, attrs({{"axis", int64_t{1}}}),
                    {f32({2, 3, 4}), f32({2, 1, 4}), f32({2, 5, 4})}});
  checkBytesNarrow({"Concat axis -1 NHWC-like", OpKind::kConcat, attrs({{"axis", int64_t{-1}}}),
                    {f32({1, 7, 7, 16}), f32({1, 7, 7, 24})}});
  checkBytesNarrow({"Slice negative step", OpKind::kSlice, {},
                    {f32({5, 9}), i64({2}, {4, 1}), i64({2}, {0, 8}), i64({2}, {0, 1}), i64({2}, {-1, 3})}});
  checkBytesNarrow({"Slice host params", OpKind::kSlice, {},
                    {f32({6, 7, 5}), i64({1}, {1}, Input::kHost), i64({1}, {-1}, Input::kHost),
                     i64({1}, {2}, Input::kHost)}});
  for (const auto& perm : {std::vector<int64_t>{0, 2, 3, 1}, std::vector<int64_t>{0, 3, 1, 2},
                           std::vector<int64_t>{1, 0, 3, 2}})
    checkBytesNarrow({"Transpose", OpKind::kTranspose, attrs({{"perm", perm}}), {f32({2, 3, 17, 9})}});
  for (const char* mode : {"constant", "reflect", "edge", "wrap"})
    checkBytesNarrow({std::string("Pad ") + mode, OpKind::kPad, attrs({{"mode", std::string(mode)}}),
                      {f32({2, 3, 5}), i64({6}, {0, 1, 2, 0, 2, 1})}});
  checkBytesNarrow({"Pad constant_value", OpKind::kPad, {},
                    {f32({3, 5}), i64({4}, {1, 0, 2, 3}), t(DataType::kFloat32, {}, 0.75, 0.75)}});
  checkBytesNarrow({"Expand", OpKind::kExpand, {}, {f32({3, 1, 5}), i64({4}, {2, 3, 4, 5})}});
  checkBytesNarrow({"Tile", OpKind::kTile, {}, {f32({2, 3}), i64({2}, {3, 2})}});
  checkBytesNarrow({"Split", OpKind::kSplit, attrs({{"axis", int64_t{1}}}), {f32({2, 7, 3}), i64({2}, {3, 4})}, 2});
  checkBytesNarrow({"Reshape", OpKind::kReshape, {}, {f32({2, 3, 4}), i64({2}, {6, -1})}});
  checkBytesNarrow({"Flatten", OpKind::kFlatten, attrs({{"axis", int64_t{2}}}), {f32({2, 3, 4, 5})}});
  checkBytesNarrow({"Squeeze", OpKind::kSqueeze, {}, {f32({3, 1, 4, 1}), i64({1}, {1})}});
  checkBytesNarrow({"Unsqueeze", OpKind::kUnsqueeze, {}, {f32({3, 4}), i64({2}, {0, 3})}});
  checkBytesNarrow({"DepthToSpace", OpKind::kDepthToSpace, attrs({{"blocksize", int64_t{2}}}), {f32({2, 8, 3, 5})}});
  checkBytesNarrow({"Identity", OpKind::kIdentity, {}, {f32({7, 3})}});
  checkBytesNarrow({"Resize nearest x2", OpKind::kResize, {},
                    {f32({1, 3, 5, 7}), none(), given(DataType::kFloat32, {4}, {1, 1, 2, 2})}});
  checkBytesNarrow({"Where", OpKind::kWhere, {}, {t(DataType::kBool, {3, 1, 8}), f32({4, 8}), f32({3, 4, 1})}});
}

TEST_F(CudaPrecision, PoolsNchwAndNhwc) {
  const auto pool = [](std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p) {
    return attrs({{"kernel_shape", k}, {"strides", s}, {"pads", p}});
  };
  checkAll({"MaxPool 3x3 s2 p1", OpKind::kMaxPool, pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {f32({2, 3, 13, 11})}}, 1);
  checkAll({"AveragePool 3x3 s2 p1", OpKind::kAveragePool, pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {f32({2, 3, 13, 11})}});
  ir::Attributes include = pool({3, 3}, {1, 1}, {1, 1, 1, 1});
  include.set("count_include_pad", int64_t{1});
  checkAll({"AveragePool count_include_pad", OpKind::kAveragePool, include, {f32({1, 5, 9, 7})}});
  checkAll({"AveragePool 7x7 (a head)", OpKind::kAveragePool, pool({7, 7}, {1, 1}, {0, 0, 0, 0}),
            {f32({2, 64, 7, 7}, 1, 4)}}, 4);
  ir::Attributes ceil = pool({3, 3}, {2, 2}, {0, 0, 0, 0});
  ceil.set("ceil_mode", int64_t{1});
  checkAll({"MaxPool ceil_mode", OpKind::kMaxPool, ceil, {f32({1, 2, 10, 10})}}, 1);
  checkAll({"MaxPool 1-D", OpKind::kMaxPool, attrs({{"kernel_shape", std::vector<int64_t>{3}}}), {f32({2, 3, 17})}}, 1);
  for (int64_t c : {16, 12, 7}) {  // 16-byte, 8-byte and one-element NHWC accesses
    const Dims x{2, c, 13, 11};
    const std::string channels = " C=" + std::to_string(c);
    checkNhwcPool("MaxPool 3x3 s2 p1" + channels, OpKind::kMaxPool, pool({3, 3}, {2, 2}, {1, 1, 1, 1}), x, -2, 2, 1);
    checkNhwcPool("AveragePool 3x3 s1 p1" + channels, OpKind::kAveragePool, pool({3, 3}, {1, 1}, {1, 1, 1, 1}), x, -2,
                  2, 0);
  }
}

TEST_F(CudaPrecision, CastBetweenFloatTypesIsExact) {
  // Finite values across float16's range, beyond it (inf in float16), subnormal in float16, and ties. NaN payloads
  // are not specified (CUDA's conversions make the canonical NaN), so NaN is compared by value below.
  std::vector<double> v = {0.1, -2.5, 65504, 65520, 1e5, -7e4, 6e-8, 3e-5, -1e-7, 1.00048828125, 3.14159, 0.0,
                           -0.0, 1e30, 255.5, 257.0, INFINITY, -INFINITY};
  for (int i = 0; i < 45; ++i) v.push_back(std::ldexp(1.0 + i / 64.0, i % 24 - 12) * (i % 2 ? -1 : 1));
  const Dims d{static_cast<int64_t>(v.size())};
  const DataType floats[] = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16};
  for (DataType from : floats)
    for (DataType to : floats) {
      if (from == to) continue;
      const std::string label = "Cast " + dataTypeName(from) + "->" + dataTypeName(to);
      const ir::Attributes a = attrs({{"to", static_cast<int64_t>(to)}});
      checkBytes({label, OpKind::kCast, a, {given(from, d, v, Input::kActivation)}});
      checkBytes({label + " random", OpKind::kCast, a, {t(from, {3, 37}, -300, 300)}});
      checkBytes({"CastLike " + dataTypeName(from) + "->" + dataTypeName(to), OpKind::kCastLike, {},
                  {t(from, {5, 9}), t(to, {1})}});
      const Input nans = given(from, {3}, {std::nan(""), 1.5, -std::nan("")}, Input::kActivation);
      check({label + " NaN", OpKind::kCast, a, {nans}, 1, false});
    }
}

TEST_F(CudaPrecision, MiscFamily) {
  checkAll({"RMSNormalization axis -1", OpKind::kRMSNormalization, {}, {f32({4, 6, 33}), weights({33})}});
  checkAll({"RMSNormalization rows of 40..60", OpKind::kRMSNormalization, {}, {f32({3, 512}, 40, 60), weights({512})}},
           4);
  checkAll({"LpNormalization L2", OpKind::kLpNormalization, attrs({{"axis", int64_t{1}}}), {f32({3, 7, 5})}});
  checkAll({"MeanVarianceNormalization", OpKind::kMeanVarianceNormalization, {}, {f32({3, 5, 4, 2})}});
  checkAll({"LRN", OpKind::kLRN, attrs({{"size", int64_t{3}}}), {f32({2, 7, 5, 3})}});
  checkAll({"Hardmax", OpKind::kHardmax, {}, {f32({3, 37})}});
  checkAll({"TopK", OpKind::kTopK, attrs({{"axis", int64_t{-1}}}), {f32({3, 130}), i64({1}, {7})}, 2});
  checkAll({"Einsum bhqd,bhkd->bhqk", OpKind::kEinsum, attrs({{"equation", std::string("bhqd,bhkd->bhqk")}}),
            {f32({2, 3, 5, 8}), f32({2, 3, 6, 8})}});
  checkAll({"SoftmaxCrossEntropyLoss", OpKind::kSoftmaxCrossEntropyLoss, attrs({{"reduction", std::string("mean")}}),
            {f32({5, 4}), given(DataType::kInt64, {5}, {0, 3, 1, 2, 3}, Input::kActivation)}, 2});
}

// The precision pass asks supports() with float16/bfloat16 dtypes and keeps a node in FP32 where it says no: a
// refusal must be an Unsupported status that names the node and the type.
TEST_F(CudaPrecision, SupportsRefusesWhatNoKernelHandles) {
  if (selfCheck_) GTEST_SKIP() << "CUDA refusals only";
  const auto refused = [&](Backend& backend, const Case& c, const std::vector<DataType>& types, const char* type) {
    SCOPED_TRACE(c.label);
    const ir::Graph g = makeGraph(c, makeInputs(c, 7u), types);
    const Status s = backend.supports(g, g.nodes.back());
    EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.toString();
    EXPECT_NE(s.message().find("n0"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(type), std::string::npos) << s.message();
  };
  // Scatter reductions need a 16-bit atomic that only float16 has.
  const Case scatter{"ScatterElements add bfloat16", OpKind::kScatterElements,
                     attrs({{"reduction", std::string("add")}}),
                     {t(DataType::kBFloat16, {3, 6}), i64({3, 2}, {0, 5, 1, 3, 4, 2}, Input::kActivation),
                      t(DataType::kBFloat16, {3, 2})}};
  refused(*cuda_, scatter, {DataType::kBFloat16, DataType::kInt64, DataType::kBFloat16}, "bfloat16");
  const Case mixed{"LayerNorm float16 with float32 scale", OpKind::kLayerNormalization, {},
                   {t(DataType::kFloat16, {2, 8}), f32({8})}};
  refused(*cuda_, mixed, {DataType::kFloat16, DataType::kFloat32}, "float32");
  // Data movement copies elements of the data's size: a part or a pad value of another type is refused.
  const Case concat{"Concat float16 with a float32 part", OpKind::kConcat, attrs({{"axis", int64_t{0}}}),
                    {t(DataType::kFloat16, {2, 3}), f32({1, 3})}};
  refused(*cuda_, concat, {DataType::kFloat16, DataType::kFloat32}, "float32");
  const Case pad{"Pad bfloat16 with a float32 constant_value", OpKind::kPad, {},
                 {t(DataType::kBFloat16, {3, 5}), i64({4}, {1, 0, 2, 3}), given(DataType::kFloat32, {}, {0.5})}};
  refused(*cuda_, pad, {DataType::kBFloat16, DataType::kInt64, DataType::kFloat32}, "float32");
  // The CPU reference widens float16/bfloat16 to float32 but refuses what it has no float32 kernel for.
  const Case softmax64{"Softmax float64", OpKind::kSoftmax, {}, {t(DataType::kFloat64, {3, 4})}};
  refused(*cpu_, softmax64, {DataType::kFloat64}, "float64");
}

}  // namespace
}  // namespace kiln
