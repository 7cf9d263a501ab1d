// Every op the CUDA backend supports, run as a one-node graph on the CPU backend (the reference, DESIGN.md rule 8)
// and on the CUDA backend, on the same random non-zero inputs at several shapes including odd ones.
// Tolerances:
//   float32 (TF32 off): |cuda - cpu| <= 1e-4 * (|cpu| + rms(cpu)) + 1e-6 per element (relative error 1e-4 of the
//                       output's scale); integer and bool outputs must match exactly.
//   float16: the same inputs rounded to float16; the CPU runs them in float32. Cosine similarity >= 0.999 and the
//            max relative error (|d| / (|cpu| + rms)) <= 2e-2 (a float16 ulp is ~1e-3, sums of K terms add to it);
//            the max relative error is printed for every case.
// With no GPU the tests print a visible skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "backends/backend.h"
#include "core/half.h"
#include "ops/shape_inference.h"

#if __has_include(<cuda_runtime.h>)
#include <cuda_runtime.h>
#define KILN_TEST_HAS_CUDA_RUNTIME 1
#endif

namespace kiln {
namespace {

using backends::Backend;
using backends::DeviceTensor;
using ir::OpKind;

// ---- float16 on the host: kiln's conversions (core/half.h), round to nearest even.
uint16_t toHalf(float f) { return floatToHalfBits(f); }
float fromHalf(uint16_t h) { return halfBitsToFloat(h); }

// ---- a test case: one node, its inputs (random or given), which may be constants.
struct Input {
  DataType dtype = DataType::kFloat32;
  Dims dims;
  float low = -2.f, high = 2.f;  // random range for floats; ints use [low, high] rounded
  bool constant = false;
  std::vector<double> values;  // explicit contents instead of random ones
  bool keepFloat32 = false;    // stays float32 in the float16 variant (Resize scales)
  bool absent = false;         // an omitted optional input
};
Input f32(Dims d, float lo = -2.f, float hi = 2.f) { return Input{DataType::kFloat32, std::move(d), lo, hi}; }
Input weights(Dims d) { Input i = f32(std::move(d)); i.constant = true; return i; }
Input ints(Dims d, std::vector<double> v, bool constant = true) {
  Input i{DataType::kInt64, std::move(d)};
  i.values = std::move(v);
  i.constant = constant;
  return i;
}
Input none() { Input i; i.absent = true; return i; }

struct Case {
  std::string label;
  OpKind op;
  ir::Attributes attrs;
  std::vector<Input> inputs;
  int outputs = 1;
  bool fp16 = true;  // also run the float16 variant
};

ir::Attributes attrs(std::initializer_list<std::pair<std::string, ir::AttributeValue>> list) {
  ir::Attributes a;
  for (auto& [k, v] : list) a.set(k, v);
  return a;
}

// Host contents of every input, as float32/int64/bool tensors (the reference's types).
std::vector<Tensor> makeInputs(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> out;
  for (const Input& in : c.inputs) {
    if (in.absent) {
      out.emplace_back();
      continue;
    }
    Tensor t = Tensor::allocate(in.dtype, in.dims).value();
    const int64_t n = t.elementCount();
    for (int64_t i = 0; i < n; ++i) {
      double v;
      if (!in.values.empty()) {
        v = in.values[static_cast<size_t>(i)];
      } else if (in.dtype == DataType::kFloat32) {
        std::uniform_real_distribution<float> dist(in.low, in.high);
        do v = dist(rng);
        while (std::fabs(v) < 1e-2);
      } else if (in.dtype == DataType::kBool) {
        v = rng() % 2;
      } else {
        std::uniform_int_distribution<int64_t> dist(static_cast<int64_t>(in.low), static_cast<int64_t>(in.high));
        do v = static_cast<double>(dist(rng));
        while (v == 0);
      }
      switch (in.dtype) {
        case DataType::kFloat32: t.dataAs<float>()[i] = static_cast<float>(v); break;
        case DataType::kInt64: t.dataAs<int64_t>()[i] = static_cast<int64_t>(v); break;
        case DataType::kInt32: t.dataAs<int32_t>()[i] = static_cast<int32_t>(v); break;
        case DataType::kBool: t.dataAs<bool>()[i] = v != 0; break;
        default: ADD_FAILURE() << "test input type " << dataTypeName(in.dtype); break;
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

/// The case's graph with inputs of the given types (constants hold `values`).
ir::Graph makeGraph(const Case& c, const std::vector<Tensor>& values, const std::vector<DataType>& types) {
  ir::Graph g;
  ir::Node node;
  node.name = "n0";
  node.op = c.op;
  node.attrs = c.attrs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i].absent) {
      node.inputs.push_back(ir::kNoValue);
      continue;
    }
    ir::ValueId id;
    if (c.inputs[i].constant) {
      id = g.addConstant("in" + std::to_string(i), values[i]);
    } else {
      id = g.addValue("in" + std::to_string(i), types[i]);
      g.values[id].rankKnown = true;
      g.values[id].dims = c.inputs[i].dims;
      g.inputs.push_back(id);
    }
    g.values[id].dtype = types[i];
    node.inputs.push_back(id);
  }
  for (int k = 0; k < c.outputs; ++k) {
    node.outputs.push_back(g.addValue("out" + std::to_string(k)));
    g.outputs.push_back(node.outputs.back());
  }
  g.nodes.push_back(node);
  return g;
}

/// Runs the graph's node on `backend`: inputs copied in, outputs copied back as host tensors of `outTypes`.
Expected<std::vector<Tensor>> runOn(Backend& backend, const ir::Graph& g, const std::vector<Tensor>& inputs,
                                    const std::vector<ops::TensorInfo>& outInfo, void* stream) {
  const ir::Node& node = g.nodes[0];
  KILN_RETURN_IF_ERROR(backend.supports(g, node));
  KILN_ASSIGN_OR_RETURN(auto kernel, backend.createKernel(g, node, ""));
  std::vector<void*> owned;
  auto cleanup = [&] {
    for (void* p : owned) backend.release(p);
  };
  std::vector<DeviceTensor> devIn, devOut;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (node.inputs[i] == ir::kNoValue) {
      devIn.push_back({});
      continue;
    }
    const Tensor& t = inputs[i];
    auto p = backend.allocate(t.byteSize());
    if (!p) return cleanup(), p.status();
    owned.push_back(*p);
    KILN_RETURN_IF_ERROR(backend.copyToDevice(*p, t.data(), t.byteSize(), stream));
    devIn.push_back({t.dtype(), t.dims(), *p});
  }
  std::vector<Tensor> results;
  for (const auto& info : outInfo) {
    results.push_back(Tensor::allocate(info.dtype, info.dims).value());
    auto p = backend.allocate(results.back().byteSize());
    if (!p) return cleanup(), p.status();
    owned.push_back(*p);
    devOut.push_back({info.dtype, info.dims, *p});
  }
  const size_t wsBytes = kernel->workspaceBytes(devIn, devOut);
  void* ws = nullptr;
  if (wsBytes) {
    auto p = backend.allocate(wsBytes);
    if (!p) return cleanup(), p.status();
    owned.push_back(ws = *p);
  }
  Status st = kernel->run(devIn, devOut, ws, stream);
  for (size_t k = 0; k < results.size() && st.isOk(); ++k)
    st = backend.copyToHost(results[k].data(), devOut[k].data, results[k].byteSize(), stream);
  if (st.isOk()) st = backend.synchronize(stream);
  cleanup();
  if (!st.isOk()) return st;
  return results;
}

double asDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.dataAs<float>()[i];
    case DataType::kFloat16: return fromHalf(t.dataAs<uint16_t>()[i]);
    case DataType::kInt64: return static_cast<double>(t.dataAs<int64_t>()[i]);
    case DataType::kInt32: return t.dataAs<int32_t>()[i];
    case DataType::kBool: return t.dataAs<bool>()[i] ? 1 : 0;
    default: return std::nan("");
  }
}

class CudaKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    backends::BackendOptions options;
    options.allowTF32 = false;  // strict FP32 for the 1e-4 comparison
    auto cuda = backends::createBackend(DeviceKind::kCuda, options);
    // KILN_GPU_TEST_SELF_CHECK=1 puts the CPU backend in CUDA's place (float32 only), to check the cases themselves
    // on a machine without a GPU.
    selfCheck_ = std::getenv("KILN_GPU_TEST_SELF_CHECK") != nullptr;
    if (selfCheck_) cuda = backends::createBackend(DeviceKind::kCpu);
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
  }

  void check(const Case& c) {
    SCOPED_TRACE(c.label);
    const std::vector<Tensor> values = makeInputs(c, 1234u + static_cast<uint32_t>(c.label.size()));
    std::vector<DataType> types;
    for (const Input& in : c.inputs) types.push_back(in.absent ? DataType::kUndefined : in.dtype);
    const ir::Graph g = makeGraph(c, values, types);
    std::vector<ops::TensorInfo> infos;
    for (size_t i = 0; i < values.size(); ++i)
      infos.push_back(c.inputs[i].absent ? ops::TensorInfo{}
                                         : ops::TensorInfo{values[i].dtype(), values[i].dims(),
                                                           c.inputs[i].constant ? &values[i] : nullptr});
    auto outInfo = ops::inferOutputs(g, g.nodes[0], infos);
    ASSERT_TRUE(outInfo.hasValue()) << outInfo.status().toString();
    auto want = runOn(*cpu_, g, values, *outInfo, nullptr);
    if (!want) {
      std::printf("[  NOTE    ] %s: no CPU reference (%s)\n", c.label.c_str(), want.status().toString().c_str());
      return;
    }
    auto got = runOn(*cuda_, g, values, *outInfo, nullptr);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) compare((*want)[k], (*got)[k], false, c.label);
    if (c.fp16 && !selfCheck_) checkHalf(c, values, types, *outInfo, *want);
  }

  /// The float16 variant: float inputs rounded to float16 for both; the CPU computes in float32.
  void checkHalf(const Case& c, const std::vector<Tensor>& values, std::vector<DataType> types,
                 std::vector<ops::TensorInfo> outInfo, const std::vector<Tensor>&) {
    std::vector<Tensor> rounded, halves;
    bool anyFloat = false;
    for (size_t i = 0; i < values.size(); ++i) {
      if (c.inputs[i].absent || values[i].dtype() != DataType::kFloat32 || c.inputs[i].keepFloat32) {
        rounded.push_back(values[i]);
        halves.push_back(values[i]);
        continue;
      }
      anyFloat = true;
      Tensor r = values[i].clone().value();
      Tensor h = Tensor::allocate(DataType::kFloat16, values[i].dims()).value();
      for (int64_t e = 0; e < r.elementCount(); ++e) {
        const uint16_t bits = toHalf(r.dataAs<float>()[e]);
        h.dataAs<uint16_t>()[e] = bits;
        r.dataAs<float>()[e] = fromHalf(bits);
      }
      rounded.push_back(r);
      halves.push_back(h);
      types[i] = DataType::kFloat16;
    }
    if (!anyFloat) return;
    std::vector<DataType> f32Types;
    for (const Input& in : c.inputs) f32Types.push_back(in.absent ? DataType::kUndefined : in.dtype);
    const ir::Graph g32 = makeGraph(c, rounded, f32Types);
    auto want = runOn(*cpu_, g32, rounded, outInfo, nullptr);
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    for (auto& info : outInfo)
      if (info.dtype == DataType::kFloat32) info.dtype = DataType::kFloat16;
    const ir::Graph g16 = makeGraph(c, halves, types);
    auto got = runOn(*cuda_, g16, halves, outInfo, nullptr);
    ASSERT_TRUE(got.hasValue()) << "float16: " << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) compare((*want)[k], (*got)[k], true, c.label);
  }

  static void compare(const Tensor& want, const Tensor& got, bool half, const std::string& label) {
    ASSERT_EQ(want.dims(), got.dims());
    const int64_t n = want.elementCount();
    const bool exact = want.dtype() != DataType::kFloat32;
    double rms = 0, dot = 0, nw = 0, ng = 0, maxRel = 0;
    for (int64_t i = 0; i < n; ++i) rms += asDouble(want, i) * asDouble(want, i);
    rms = n ? std::sqrt(rms / static_cast<double>(n)) : 0;
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double w = asDouble(want, i), g = asDouble(got, i);
      dot += w * g;
      nw += w * w;
      ng += g * g;
      const double rel = std::fabs(w - g) / (std::fabs(w) + rms + 1e-12);
      if (std::isnan(g) != std::isnan(w)) maxRel = INFINITY;
      else if (!std::isnan(w)) maxRel = std::max(maxRel, rel);
      const bool ok = exact ? (w == g || (std::isnan(w) && std::isnan(g)))
                            : (half ? true : std::fabs(w - g) <= 1e-4 * (std::fabs(w) + rms) + 1e-6 ||
                                                 (std::isnan(w) && std::isnan(g)));
      if (!ok && bad++ < 5) ADD_FAILURE() << "element " << i << ": cpu " << w << ", cuda " << g;
    }
    if (half && !exact) {
      const double cosine = (nw == 0 && ng == 0) ? 1.0 : dot / std::sqrt(nw * ng + 1e-300);
      std::printf("[  FP16    ] %s: cosine %.6f, max rel err %.3g\n", label.c_str(), cosine, maxRel);
      EXPECT_GE(cosine, 0.999);
      EXPECT_LE(maxRel, 2e-2);
    }
    EXPECT_EQ(bad, 0);
  }

  std::unique_ptr<Backend> cuda_, cpu_;
  bool selfCheck_ = false;
};

std::vector<Dims> oddShapes() { return {{7}, {13, 7}, {2, 3, 5, 9}, {1, 1}, {1025}}; }

TEST_F(CudaKernels, UnaryFloatOps) {
  const std::vector<std::pair<OpKind, ir::Attributes>> ops = {
      {OpKind::kRelu, {}}, {OpKind::kSigmoid, {}}, {OpKind::kTanh, {}}, {OpKind::kErf, {}}, {OpKind::kExp, {}},
      {OpKind::kReciprocal, {}}, {OpKind::kAbs, {}}, {OpKind::kNeg, {}},
      {OpKind::kHardSigmoid, attrs({{"alpha", 0.3f}, {"beta", 0.4f}})}, {OpKind::kHardSwish, {}},
      {OpKind::kLeakyRelu, attrs({{"alpha", 0.05f}})}, {OpKind::kGelu, {}},
      {OpKind::kGelu, attrs({{"approximate", std::string("tanh")}})}, {OpKind::kElu, {}}, {OpKind::kSelu, {}},
      {OpKind::kSoftplus, {}}, {OpKind::kSoftsign, {}}, {OpKind::kMish, {}}, {OpKind::kCeil, {}},
      {OpKind::kFloor, {}}, {OpKind::kSin, {}}, {OpKind::kCos, {}}, {OpKind::kAtan, {}}, {OpKind::kSign, {}},
      {OpKind::kIdentity, {}}};
  for (const auto& [op, a] : ops)
    for (const Dims& d : oddShapes()) {
      // Ceil/Floor/Sign are discontinuous: float16 rounding may cross an integer, so only float32 compares them.
      const bool fp16 = op != OpKind::kCeil && op != OpKind::kFloor && op != OpKind::kSign;
      check({std::string(ir::opKindName(op)) + " " + dimsToString(d), op, a, {f32(d)}, 1, fp16});
    }
  for (OpKind op : {OpKind::kLog, OpKind::kSqrt})
    for (const Dims& d : oddShapes())
      check({std::string(ir::opKindName(op)) + " " + dimsToString(d), op, {}, {f32(d, 0.1f, 4.f)}});
  Input lo = weights({}), hi = weights({});
  lo.values = {-0.5};
  hi.values = {0.75};
  check({"Clip min/max", OpKind::kClip, {}, {f32({6, 11}), lo, hi}});
  check({"Clip min only", OpKind::kClip, {}, {f32({6, 11}), lo}});
}

TEST_F(CudaKernels, BinaryOpsBroadcast) {
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{7, 13}, {7, 13}}, {{2, 3, 5}, {5}}, {{4, 1, 6}, {1, 3, 1}}, {{3, 1}, {}}, {{2, 3, 4, 5}, {3, 1, 5}}, {{1025}, {1}}};
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kMax, OpKind::kMin,
                    OpKind::kPRelu})
    for (const auto& [a, b] : shapes) {
      if (op == OpKind::kPRelu && elementCount(b) > 1 && b.size() == a.size() && b != a) continue;  // unidirectional
      check({std::string(ir::opKindName(op)) + " " + dimsToString(a) + "," + dimsToString(b), op, {}, {f32(a), f32(b)}});
    }
  for (const auto& [a, b] : shapes)
    check({"Pow " + dimsToString(a) + "," + dimsToString(b), OpKind::kPow, {}, {f32(a, 0.2f, 3.f), f32(b, -2.f, 2.f)}});
  check({"Max 3 inputs", OpKind::kMax, {}, {f32({4, 5}), f32({5}), f32({4, 1})}});
  for (OpKind op : {OpKind::kEqual, OpKind::kGreater, OpKind::kLess, OpKind::kGreaterOrEqual})
    check({std::string(ir::opKindName(op)), op, {}, {f32({6, 7}), f32({7})}, 1, false});
  Input i1{DataType::kInt64, {5, 6}, -9, 9}, i2{DataType::kInt64, {6}, -4, 4};
  for (OpKind op : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kEqual, OpKind::kMax})
    check({std::string(ir::opKindName(op)) + " int64", op, {}, {i1, i2}});
  check({"Mod int64", OpKind::kMod, {}, {i1, i2}});
  Input b1{DataType::kBool, {4, 9}}, b2{DataType::kBool, {9}};
  for (OpKind op : {OpKind::kAnd, OpKind::kOr, OpKind::kXor}) check({std::string(ir::opKindName(op)), op, {}, {b1, b2}});
  check({"Not", OpKind::kNot, {}, {b1}});
  check({"Where", OpKind::kWhere, {}, {Input{DataType::kBool, {3, 1, 8}}, f32({4, 8}), f32({3, 4, 1})}});
  check({"Where int64", OpKind::kWhere, {}, {Input{DataType::kBool, {5}}, Input{DataType::kInt64, {5}, -9, 9},
                                             Input{DataType::kInt64, {1}, 1, 5}}});
}

TEST_F(CudaKernels, Cast) {
  const auto cast = [](DataType to) { return attrs({{"to", static_cast<int64_t>(to)}}); };
  check({"Cast f32->i64", OpKind::kCast, cast(DataType::kInt64), {f32({9, 5}, -50.f, 50.f)}, 1, false});
  check({"Cast i64->f32", OpKind::kCast, cast(DataType::kFloat32), {Input{DataType::kInt64, {9, 5}, -99, 99}}, 1, false});
  check({"Cast bool->f32", OpKind::kCast, cast(DataType::kFloat32), {Input{DataType::kBool, {17}}}, 1, false});
  check({"Cast f32->bool", OpKind::kCast, cast(DataType::kBool), {f32({17})}, 1, false});
  check({"Cast i64->i32", OpKind::kCast, cast(DataType::kInt32), {Input{DataType::kInt64, {17}, -99, 99}}, 1, false});
}

TEST_F(CudaKernels, MatMulAndGemm) {
  const std::vector<std::pair<Dims, Dims>> shapes = {{{7, 13}, {13, 5}},     {{2, 3, 7, 13}, {13, 5}},
                                                     {{3, 7, 13}, {3, 13, 5}}, {{7, 13}, {2, 13, 5}},
                                                     {{13}, {13, 5}},         {{4, 13}, {13}},
                                                     {{2, 64, 96}, {96, 33}}};
  for (const auto& [a, b] : shapes)
    check({"MatMul " + dimsToString(a) + "x" + dimsToString(b), OpKind::kMatMul, {}, {f32(a), weights(b)}});
  check({"MatMul both activations", OpKind::kMatMul, {}, {f32({2, 4, 9, 16}), f32({2, 4, 16, 11})}});
  check({"Gemm transB bias", OpKind::kGemm, attrs({{"transB", int64_t{1}}}), {f32({6, 17}), weights({9, 17}), weights({9})}});
  check({"Gemm transA C[M,N] alpha beta", OpKind::kGemm,
         attrs({{"transA", int64_t{1}}, {"alpha", 0.5f}, {"beta", 2.f}}), {f32({17, 6}), weights({17, 9}), weights({6, 9})}});
  check({"Gemm C[M,1]", OpKind::kGemm, {}, {f32({6, 17}), weights({17, 9}), weights({6, 1})}});
  check({"Gemm no C", OpKind::kGemm, {}, {f32({33, 64}), weights({64, 10})}});
}

TEST_F(CudaKernels, Conv) {
  const auto conv = [](std::vector<int64_t> pads, std::vector<int64_t> strides, std::vector<int64_t> dil, int64_t group) {
    return attrs({{"pads", pads}, {"strides", strides}, {"dilations", dil}, {"group", group}});
  };
  check({"Conv 3x3 p1 bias", OpKind::kConv, conv({1, 1, 1, 1}, {1, 1}, {1, 1}, 1),
         {f32({2, 3, 11, 13}), weights({8, 3, 3, 3}), weights({8})}});
  check({"Conv 3x3 s2 d2 group2", OpKind::kConv, conv({2, 2, 2, 2}, {2, 2}, {2, 2}, 2),
         {f32({2, 4, 9, 9}), weights({6, 2, 3, 3}), weights({6})}});
  check({"Conv 1x1 no bias", OpKind::kConv, conv({0, 0, 0, 0}, {1, 1}, {1, 1}, 1), {f32({1, 16, 7, 7}), weights({32, 16, 1, 1})}});
  check({"Conv 7x7 s2 p3 (ResNet stem)", OpKind::kConv, conv({3, 3, 3, 3}, {2, 2}, {1, 1}, 1),
         {f32({1, 3, 32, 32}), weights({16, 3, 7, 7}), weights({16})}});
  check({"Conv depthwise", OpKind::kConv, conv({1, 1, 1, 1}, {1, 1}, {1, 1}, 8), {f32({2, 8, 10, 6}), weights({8, 1, 3, 3}), weights({8})}});
  check({"Conv 1-D", OpKind::kConv, conv({2, 2}, {1}, {1}, 1), {f32({2, 3, 17}), weights({4, 3, 5}), weights({4})}});
}

TEST_F(CudaKernels, Pools) {
  const auto pool = [](std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p) {
    return attrs({{"kernel_shape", k}, {"strides", s}, {"pads", p}});
  };
  check({"MaxPool 3x3 s2 p1", OpKind::kMaxPool, pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {f32({2, 3, 13, 11})}});
  check({"MaxPool 2x2", OpKind::kMaxPool, pool({2, 2}, {2, 2}, {0, 0, 0, 0}), {f32({1, 5, 8, 9})}});
  check({"AveragePool 3x3 s2 p1", OpKind::kAveragePool, pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {f32({2, 3, 13, 11})}});
  ir::Attributes include = pool({3, 3}, {2, 2}, {1, 1, 1, 1});
  include.set("count_include_pad", int64_t{1});
  check({"AveragePool count_include_pad", OpKind::kAveragePool, include, {f32({2, 3, 13, 11})}});
  ir::Attributes ceil = pool({3, 3}, {2, 2}, {0, 0, 0, 0});
  ceil.set("ceil_mode", int64_t{1});
  check({"MaxPool ceil_mode", OpKind::kMaxPool, ceil, {f32({1, 2, 10, 10})}});
  check({"GlobalAveragePool", OpKind::kGlobalAveragePool, {}, {f32({2, 64, 7, 7})}});
  check({"GlobalMaxPool", OpKind::kGlobalMaxPool, {}, {f32({3, 5, 4, 3})}});
}

TEST_F(CudaKernels, SoftmaxAndNormalization) {
  for (const Dims& d : std::vector<Dims>{{4, 7}, {2, 3, 129}, {3, 1000}, {1, 2, 5, 3}}) {
    check({"Softmax " + dimsToString(d), OpKind::kSoftmax, {}, {f32(d, -6.f, 6.f)}});
    check({"LogSoftmax " + dimsToString(d), OpKind::kLogSoftmax, {}, {f32(d, -6.f, 6.f)}});
  }
  check({"Softmax axis 1", OpKind::kSoftmax, attrs({{"axis", int64_t{1}}}), {f32({2, 5, 3})}});
  check({"LayerNorm last axis", OpKind::kLayerNormalization, {}, {f32({2, 7, 768}), weights({768}), weights({768})}});
  check({"LayerNorm odd", OpKind::kLayerNormalization, attrs({{"epsilon", 1e-3f}}), {f32({5, 13}), weights({13}), weights({13})}});
  check({"LayerNorm axis -2 no bias", OpKind::kLayerNormalization, attrs({{"axis", int64_t{-2}}}),
         {f32({3, 4, 6}), weights({4, 6})}});
  check({"InstanceNorm", OpKind::kInstanceNormalization, {}, {f32({2, 3, 5, 7}), weights({3}), weights({3})}});
  check({"GroupNorm", OpKind::kGroupNormalization, attrs({{"num_groups", int64_t{2}}}),
         {f32({2, 6, 4, 3}), weights({6}), weights({6})}});
  Input var = weights({4});
  var.low = 0.5f;
  var.high = 2.f;
  check({"BatchNorm", OpKind::kBatchNormalization, {}, {f32({2, 4, 3, 5}), weights({4}), weights({4}), weights({4}), var}});
}

TEST_F(CudaKernels, Reductions) {
  const auto red = [](std::vector<double> axes, int64_t keep) {
    return std::pair(attrs({{"keepdims", keep}}), ints({static_cast<int64_t>(axes.size())}, axes));
  };
  for (OpKind op : {OpKind::kReduceMean, OpKind::kReduceSum, OpKind::kReduceMax, OpKind::kReduceMin,
                    OpKind::kReduceL2, OpKind::kReduceL1, OpKind::kReduceSumSquare, OpKind::kReduceLogSumExp}) {
    for (const auto& [axes, keep] : std::vector<std::pair<std::vector<double>, int64_t>>{
             {{-1}, 1}, {{0, 2}, 0}, {{1}, 0}, {{0, 1, 2}, 1}}) {
      auto [a, axesInput] = red(axes, keep);
      check({std::string(ir::opKindName(op)) + " axes " + std::to_string(axes.size()) + " keep " + std::to_string(keep),
             op, a, {f32({3, 37, 5}), axesInput}});
    }
  }
  check({"ReduceMean all (no axes)", OpKind::kReduceMean, {}, {f32({4, 9})}});
  auto [a, axesInput] = red({1}, 0);
  check({"ReduceSum int64", OpKind::kReduceSum, a, {Input{DataType::kInt64, {4, 9, 2}, -50, 50}, axesInput}});
  check({"ArgMax", OpKind::kArgMax, attrs({{"axis", int64_t{1}}}), {f32({4, 33, 3})}, 1, false});
  check({"ArgMin keepdims 0", OpKind::kArgMin, attrs({{"axis", int64_t{-1}}, {"keepdims", int64_t{0}}}), {f32({5, 17})}, 1, false});
  check({"CumSum", OpKind::kCumSum, {}, {f32({4, 9}), ints({}, {1})}});
  check({"CumSum exclusive reverse", OpKind::kCumSum, attrs({{"exclusive", int64_t{1}}, {"reverse", int64_t{1}}}),
         {f32({4, 9}), ints({}, {0})}});
}

TEST_F(CudaKernels, DataMovement) {
  check({"Transpose 0213", OpKind::kTranspose, attrs({{"perm", std::vector<int64_t>{0, 2, 1, 3}}}), {f32({2, 3, 5, 7})}});
  check({"Transpose default", OpKind::kTranspose, {}, {f32({3, 4, 5})}});
  check({"Concat axis 1", OpKind::kConcat, attrs({{"axis", int64_t{1}}}), {f32({2, 3, 4}), f32({2, 1, 4}), f32({2, 5, 4})}});
  check({"Concat int64 axis 0", OpKind::kConcat, attrs({{"axis", int64_t{0}}}),
         {ints({2}, {4, 5}, false), ints({1}, {-1}, false)}});
  check({"Split axis 1", OpKind::kSplit, attrs({{"axis", int64_t{1}}}), {f32({2, 7, 3}), ints({2}, {3, 4})}, 2});
  check({"Slice negative step", OpKind::kSlice, {},
         {f32({5, 9, 4}), ints({2}, {-1, 1}), ints({2}, {-100, 8}), ints({2}, {1, 0}), ints({2}, {-2, 3})}});
  check({"Slice last dim", OpKind::kSlice, {}, {f32({3, 10}), ints({1}, {2}), ints({1}, {7}), ints({1}, {-1})}});
  check({"Gather axis 0", OpKind::kGather, {}, {f32({30, 8}), ints({2, 3}, {0, 29, -1, 5, 7, 3}, false)}});
  check({"Gather axis 1", OpKind::kGather, attrs({{"axis", int64_t{1}}}), {f32({3, 10, 4}), ints({4}, {9, 0, 2, 2}, false)}});
  check({"Expand", OpKind::kExpand, {}, {f32({3, 1}), ints({3}, {2, 3, 6})}});
  check({"Tile", OpKind::kTile, {}, {f32({2, 3}), ints({2}, {3, 2})}});
  check({"Reshape", OpKind::kReshape, {}, {f32({2, 3, 4}), ints({2}, {6, -1})}});
  check({"Flatten", OpKind::kFlatten, attrs({{"axis", int64_t{2}}}), {f32({2, 3, 4, 5})}});
  check({"Unsqueeze", OpKind::kUnsqueeze, {}, {f32({3, 4}), ints({2}, {0, 3})}});
  check({"Squeeze", OpKind::kSqueeze, {}, {f32({3, 1, 4, 1}), ints({1}, {1})}});
  for (const char* mode : {"constant", "reflect", "edge"}) {
    Input value = weights({});
    value.values = {1.5};
    check({std::string("Pad ") + mode, OpKind::kPad, attrs({{"mode", std::string(mode)}}),
           {f32({2, 5, 6}), ints({6}, {0, 2, 1, 0, 3, 2}), value}});
  }
  Input scales = weights({4});
  scales.values = {1, 1, 2, 2};
  scales.keepFloat32 = true;
  check({"Resize nearest x2", OpKind::kResize, attrs({{"mode", std::string("nearest")}}), {f32({1, 3, 5, 7}), none(), scales}});
  check({"Resize linear half_pixel x2", OpKind::kResize, attrs({{"mode", std::string("linear")}}), {f32({1, 3, 5, 7}), none(), scales}});
  check({"Resize linear align_corners sizes", OpKind::kResize,
         attrs({{"mode", std::string("linear")}, {"coordinate_transformation_mode", std::string("align_corners")}}),
         {f32({1, 2, 5, 7}), none(), none(), ints({4}, {1, 2, 9, 4})}});
  check({"Resize nearest asymmetric floor", OpKind::kResize,
         attrs({{"coordinate_transformation_mode", std::string("asymmetric")}, {"nearest_mode", std::string("floor")}}),
         {f32({1, 2, 6, 6}), none(), none(), ints({4}, {1, 2, 3, 9})}});
  check({"DepthToSpace DCR", OpKind::kDepthToSpace, attrs({{"blocksize", int64_t{2}}}), {f32({2, 8, 3, 5})}});
  check({"DepthToSpace CRD", OpKind::kDepthToSpace, attrs({{"blocksize", int64_t{2}}, {"mode", std::string("CRD")}}), {f32({1, 8, 3, 2})}});
  check({"SpaceToDepth", OpKind::kSpaceToDepth, attrs({{"blocksize", int64_t{2}}}), {f32({2, 3, 4, 6})}});
}

TEST_F(CudaKernels, Generators) {
  check({"Shape", OpKind::kShape, {}, {f32({2, 3, 5})}, 1, false});
  check({"Shape start/end", OpKind::kShape, attrs({{"start", int64_t{1}}, {"end", int64_t{-1}}}), {f32({2, 3, 5, 4})}, 1, false});
  check({"Size", OpKind::kSize, {}, {f32({2, 3, 5})}, 1, false});
}

TEST_F(CudaKernels, CaptureAndReplay) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
#ifndef KILN_TEST_HAS_CUDA_RUNTIME
  GTEST_SKIP() << "built without the CUDA runtime headers";
#else
  // One Add, run directly once (first use creates nothing later), then captured into a CUDA graph and replayed.
  Case c{"Add", OpKind::kAdd, {}, {f32({4, 33}), f32({33})}};
  const auto values = makeInputs(c, 7);
  const ir::Graph g = makeGraph(c, values, {DataType::kFloat32, DataType::kFloat32});
  auto kernel = cuda_->createKernel(g, g.nodes[0], "");
  ASSERT_TRUE(kernel.hasValue()) << kernel.status().toString();
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  void* a = *cuda_->allocate(values[0].byteSize());
  void* b = *cuda_->allocate(values[1].byteSize());
  void* y = *cuda_->allocate(values[0].byteSize());
  ASSERT_TRUE(cuda_->copyToDevice(a, values[0].data(), values[0].byteSize(), stream).isOk());
  ASSERT_TRUE(cuda_->copyToDevice(b, values[1].data(), values[1].byteSize(), stream).isOk());
  const DeviceTensor in[2] = {{DataType::kFloat32, {4, 33}, a}, {DataType::kFloat32, {33}, b}};
  const DeviceTensor out[1] = {{DataType::kFloat32, {4, 33}, y}};
  ASSERT_TRUE((*kernel)->run(in, out, nullptr, stream).isOk());
  // The legacy default stream cannot be captured: the backend says so instead of failing inside CUDA.
  auto refused = cuda_->capture([&](void* s) { return (*kernel)->run(in, out, nullptr, s); }, nullptr);
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  auto work = cuda_->capture([&](void* s) { return (*kernel)->run(in, out, nullptr, s); }, stream);
  ASSERT_TRUE(work.hasValue()) << work.status().toString();
  ASSERT_NE(*work, nullptr);
  ASSERT_EQ(cudaMemsetAsync(y, 0, values[0].byteSize(), stream), cudaSuccess);
  ASSERT_TRUE((*work)->replay(stream).isOk());
  ASSERT_TRUE((*work)->replay(stream).isOk());
  std::vector<float> host(static_cast<size_t>(4 * 33), 0.f);
  ASSERT_TRUE(cuda_->copyToHost(host.data(), y, values[0].byteSize(), stream).isOk());
  ASSERT_TRUE(cuda_->synchronize(stream).isOk());
  for (int i = 0; i < 4 * 33; ++i)
    ASSERT_EQ(host[static_cast<size_t>(i)], values[0].dataAs<float>()[i] + values[1].dataAs<float>()[i % 33]) << i;
  work->reset();
  cuda_->release(a);
  cuda_->release(b);
  cuda_->release(y);
  cudaStreamDestroy(stream);
#endif
}

TEST_F(CudaKernels, FactsAndCompatibility) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  const auto facts = cuda_->buildFacts();
  ASSERT_TRUE(facts.count("device.name"));
  ASSERT_TRUE(facts.count("device.compute_capability"));
  EXPECT_TRUE(facts.count("cudnn.version"));
  EXPECT_TRUE(cuda_->checkCompatible(facts).isOk());
  auto other = facts;
  other["device.compute_capability"] = "8.9";
  other["device.name"] = "NVIDIA GeForce RTX 4090";
  const Status refused = cuda_->checkCompatible(other);
  EXPECT_EQ(refused.code(), StatusCode::kInvalidEngine);
  EXPECT_NE(refused.message().find("sm_89"), std::string::npos) << refused.message();
  std::printf("[  INFO    ] %s; refusal reads: %s\n", cuda_->deviceName().c_str(), refused.message().c_str());
}

TEST_F(CudaKernels, HugeAllocationIsOutOfMemory) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  auto p = cuda_->allocate(size_t{1} << 50);  // 1 PiB
  ASSERT_FALSE(p.hasValue());
  EXPECT_EQ(p.status().code(), StatusCode::kOutOfMemory) << p.status().toString();
  auto q = cuda_->allocate(1024);  // the failure was not sticky
  ASSERT_TRUE(q.hasValue()) << q.status().toString();
  cuda_->release(*q);
}

TEST_F(CudaKernels, UnsupportedNodesAreNamed) {
  if (selfCheck_) GTEST_SKIP() << "CUDA only";
  // Rank 9 is past what the CUDA kernels index (8): the refusal names the node, the input and the rank.
  Case c{"Abs rank 9", OpKind::kAbs, {}, {f32({2, 1, 1, 1, 1, 1, 1, 1, 3})}};
  const auto values = makeInputs(c, 3);
  const ir::Graph g = makeGraph(c, values, {DataType::kFloat32});
  const Status s = cuda_->supports(g, g.nodes[0]);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("node 'n0' (Abs)"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("rank 9"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kiln
