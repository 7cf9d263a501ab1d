// The harness of the CUDA-vs-CPU operator tests: one-node graphs run on the CPU backend (the reference, DESIGN.md
// rule 8) and on the CUDA backend on the same random non-zero inputs, compared per element (and, for the float16 and
// bfloat16 variants, by cosine similarity). Included by one test file per binary; the tolerances are stated in
// compare(). The narrow variants round the float inputs to float16/bfloat16 for both backends; the CPU runs them in
// float32, CUDA in the narrow type, and the node's shape inference must accept the narrow graph.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "backends/backend.h"
#include "core/half.h"
#include "ops/shape_inference.h"

namespace kiln {
namespace {

using backends::Backend;
using backends::DeviceTensor;
using ir::OpKind;

uint16_t toHalf(float f) { return floatToHalfBits(f); }
float fromHalf(uint16_t h) { return halfBitsToFloat(h); }
uint16_t toBfloat16(float f) { return floatToBfloat16Bits(f); }
float fromBfloat16(uint16_t b) { return bfloat16BitsToFloat(b); }
uint16_t toNarrow(DataType d, float f) { return d == DataType::kFloat16 ? toHalf(f) : toBfloat16(f); }
float fromNarrow(DataType d, uint16_t b) { return d == DataType::kFloat16 ? fromHalf(b) : fromBfloat16(b); }

struct Input {
  DataType dtype = DataType::kFloat32;
  Dims dims;
  double low = -2, high = 2;  // random range; integers use whole numbers in it
  std::vector<double> values;  // explicit contents instead
  enum Kind { kActivation, kConstant, kHost } kind = kActivation;  // kHost: computed by the shape program
  bool absent = false;
  bool keepFloat32 = false;  // stays float32 in the narrow variants (parameters, weights of losses)
};
Input t(DataType d, Dims dims, double lo = -2, double hi = 2) { return Input{d, std::move(dims), lo, hi}; }
Input f32(Dims d, double lo = -2, double hi = 2) { return t(DataType::kFloat32, std::move(d), lo, hi); }
Input given(DataType d, Dims dims, std::vector<double> v, Input::Kind kind = Input::kConstant) {
  Input i{d, std::move(dims)};
  i.values = std::move(v);
  i.kind = kind;
  i.keepFloat32 = true;
  return i;
}
Input i64(Dims dims, std::vector<double> v, Input::Kind kind = Input::kConstant) {
  return given(DataType::kInt64, std::move(dims), std::move(v), kind);
}
Input none() {
  Input i;
  i.absent = true;
  return i;
}
/// Fixed float32 contents that the narrow variants convert like data (Clip bounds, Pad's constant_value).
Input values(Dims dims, std::vector<double> v, Input::Kind kind = Input::kConstant) {
  Input i = given(DataType::kFloat32, std::move(dims), std::move(v), kind);
  i.keepFloat32 = false;
  return i;
}

struct Case {
  std::string label;
  OpKind op;
  ir::Attributes attrs;
  std::vector<Input> inputs;
  int outputs = 1;
  bool fp16 = true;
  bool bf16 = false;  // also the bfloat16 variant
  /// When > 0: the narrow variants' max relative error must stay within this many unit roundoffs of the narrow type
  /// (2^-11 for float16, 2^-8 for bfloat16) instead of 2e-2, for ops whose only rounding should be the output's.
  double narrowUlps = 0;
};

ir::Attributes attrs(std::initializer_list<std::pair<std::string, ir::AttributeValue>> list) {
  ir::Attributes a;
  for (auto& [k, v] : list) a.set(k, v);
  return a;
}

void putValue(Tensor& t, int64_t i, double v) {
  void* p = t.data();
  switch (t.dtype()) {
    case DataType::kFloat32: static_cast<float*>(p)[i] = static_cast<float>(v); break;
    case DataType::kFloat64: static_cast<double*>(p)[i] = v; break;
    case DataType::kFloat16: static_cast<uint16_t*>(p)[i] = toHalf(static_cast<float>(v)); break;
    case DataType::kBFloat16: static_cast<uint16_t*>(p)[i] = toBfloat16(static_cast<float>(v)); break;
    case DataType::kInt64: static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v); break;
    case DataType::kInt32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v); break;
    case DataType::kInt16: static_cast<int16_t*>(p)[i] = static_cast<int16_t>(v); break;
    case DataType::kInt8: static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v); break;
    case DataType::kUInt64: static_cast<uint64_t*>(p)[i] = static_cast<uint64_t>(v); break;
    case DataType::kUInt32: static_cast<uint32_t*>(p)[i] = static_cast<uint32_t>(v); break;
    case DataType::kUInt16: static_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(v); break;
    case DataType::kUInt8: static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v); break;
    case DataType::kBool: static_cast<bool*>(p)[i] = v != 0; break;
    default: ADD_FAILURE() << "test input type " << dataTypeName(t.dtype());
  }
}
double getValue(const Tensor& t, int64_t i) {
  const void* p = t.data();
  switch (t.dtype()) {
    case DataType::kFloat32: return static_cast<const float*>(p)[i];
    case DataType::kFloat64: return static_cast<const double*>(p)[i];
    case DataType::kFloat16: return fromHalf(static_cast<const uint16_t*>(p)[i]);
    case DataType::kBFloat16: return fromBfloat16(static_cast<const uint16_t*>(p)[i]);
    case DataType::kInt64: return static_cast<double>(static_cast<const int64_t*>(p)[i]);
    case DataType::kInt32: return static_cast<const int32_t*>(p)[i];
    case DataType::kInt16: return static_cast<const int16_t*>(p)[i];
    case DataType::kInt8: return static_cast<const int8_t*>(p)[i];
    case DataType::kUInt64: return static_cast<double>(static_cast<const uint64_t*>(p)[i]);
    case DataType::kUInt32: return static_cast<const uint32_t*>(p)[i];
    case DataType::kUInt16: return static_cast<const uint16_t*>(p)[i];
    case DataType::kUInt8: return static_cast<const uint8_t*>(p)[i];
    case DataType::kBool: return static_cast<const bool*>(p)[i] ? 1 : 0;
    default: return std::nan("");
  }
}
bool isFloat(DataType d) {
  return d == DataType::kFloat32 || d == DataType::kFloat64 || d == DataType::kFloat16 || d == DataType::kBFloat16;
}

std::vector<Tensor> makeInputs(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> out;
  for (const Input& in : c.inputs) {
    if (in.absent) {
      out.emplace_back();
      continue;
    }
    Tensor tensor = Tensor::allocate(in.dtype, in.dims).value();
    for (int64_t i = 0; i < tensor.elementCount(); ++i) {
      double v;
      if (!in.values.empty()) {
        v = in.values[static_cast<size_t>(i)];
      } else if (isFloat(in.dtype)) {
        std::uniform_real_distribution<double> dist(in.low, in.high);
        do v = dist(rng);
        while (std::fabs(v) < 1e-2);
      } else if (in.dtype == DataType::kBool) {
        v = rng() % 2;
      } else {
        std::uniform_int_distribution<int64_t> dist(static_cast<int64_t>(in.low), static_cast<int64_t>(in.high));
        do v = static_cast<double>(dist(rng));
        while (v == 0 && in.low < 0);
      }
      putValue(tensor, i, v);
    }
    out.push_back(std::move(tensor));
  }
  return out;
}

/// One node (the last one); kHost inputs are produced by a Shape node so that they count as shape-program values.
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
    if (c.inputs[i].kind == Input::kConstant) {
      id = g.addConstant("in" + std::to_string(i), values[i]);
    } else {
      id = g.addValue("in" + std::to_string(i), types[i]);
      g.values[id].rankKnown = true;
      g.values[id].dims = c.inputs[i].dims;
      if (c.inputs[i].kind == Input::kHost) {
        const ir::ValueId source = g.addValue("shape_source" + std::to_string(i), DataType::kFloat32);
        g.inputs.push_back(source);
        ir::Node shape;
        shape.name = "shape" + std::to_string(i);
        shape.op = OpKind::kShape;
        shape.inputs = {source};
        shape.outputs = {id};
        g.values[id].producer = static_cast<int32_t>(g.nodes.size());
        g.nodes.push_back(shape);
      } else {
        g.inputs.push_back(id);
      }
    }
    g.values[id].dtype = types[i];
    node.inputs.push_back(id);
  }
  for (int k = 0; k < c.outputs; ++k) {
    node.outputs.push_back(g.addValue("out" + std::to_string(k)));
    g.outputs.push_back(node.outputs.back());
  }
  g.values[node.outputs[0]].producer = static_cast<int32_t>(g.nodes.size());
  g.nodes.push_back(node);
  return g;
}

Expected<std::vector<Tensor>> runOn(Backend& backend, const ir::Graph& bare, const Case& c,
                                    const std::vector<Tensor>& inputs, const std::vector<ops::TensorInfo>& outInfo) {
  // A built graph's output values carry their inferred type and shape (kernels such as QuantizeLinear read the
  // output type there); the fixture's graph gets them from outInfo. It outlives the kernel made from it.
  ir::Graph g = bare;
  const ir::Node& node = g.nodes.back();
  for (size_t k = 0; k < outInfo.size() && k < node.outputs.size(); ++k) {
    ir::Value& v = g.values[node.outputs[k]];
    v.dtype = outInfo[k].dtype;
    v.dims = outInfo[k].dims;
    v.rankKnown = true;
  }
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
    const Tensor& tensor = inputs[i];
    auto p = backend.allocate(tensor.byteSize());
    if (!p) return cleanup(), p.status();
    owned.push_back(*p);
    KILN_RETURN_IF_ERROR(backend.copyToDevice(*p, tensor.data(), tensor.byteSize(), nullptr));
    DeviceTensor d{tensor.dtype(), tensor.dims(), *p};
    if (c.inputs[i].kind == Input::kHost) d.hostData = tensor.data();  // what the runtime supplies
    devIn.push_back(d);
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
  Status st = kernel->run(devIn, devOut, ws, nullptr);
  for (size_t k = 0; k < results.size() && st.isOk(); ++k)
    st = backend.copyToHost(results[k].data(), devOut[k].data, results[k].byteSize(), nullptr);
  if (st.isOk()) st = backend.synchronize(nullptr);
  cleanup();
  if (!st.isOk()) return st;
  return results;
}

class CudaVsCpu : public ::testing::Test {
 protected:
  void SetUp() override {
    backends::BackendOptions options;
    options.allowTF32 = false;
    selfCheck_ = std::getenv("KILN_GPU_TEST_SELF_CHECK") != nullptr;
    auto cuda = backends::createBackend(selfCheck_ ? DeviceKind::kCpu : DeviceKind::kCuda, options);
    if (!cuda) GTEST_SKIP() << "no CUDA device: " << cuda.status().toString();
    cuda_ = std::move(cuda.value());
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
  }

  /// What shape inference receives for `values`: constants and host-known inputs with their contents.
  static std::vector<ops::TensorInfo> infosOf(const Case& c, const std::vector<Tensor>& values) {
    std::vector<ops::TensorInfo> infos;
    for (size_t i = 0; i < values.size(); ++i) {
      const Tensor* known = c.inputs[i].kind != Input::kActivation ? &values[i] : nullptr;
      infos.push_back(c.inputs[i].absent ? ops::TensorInfo{}
                                         : ops::TensorInfo{values[i].dtype(), values[i].dims(), known});
    }
    return infos;
  }

  void check(const Case& c) {
    SCOPED_TRACE(c.label);
    const std::vector<Tensor> values = makeInputs(c, 4321u + static_cast<uint32_t>(c.label.size()));
    std::vector<DataType> types;
    for (const Input& in : c.inputs) types.push_back(in.absent ? DataType::kUndefined : in.dtype);
    const ir::Graph g = makeGraph(c, values, types);
    auto outInfo = ops::inferOutputs(g, g.nodes.back(), infosOf(c, values));
    ASSERT_TRUE(outInfo.hasValue()) << outInfo.status().toString();
    auto want = runOn(*cpu_, g, c, values, *outInfo);
    ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();
    auto got = runOn(*cuda_, g, c, values, *outInfo);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) compare((*want)[k], (*got)[k], DataType::kUndefined, c);
    // With KILN_GPU_TEST_SELF_CHECK the CPU runs the narrow graph too (float32 staging): that checks the cases,
    // shape inference and the CPU's float16/bfloat16 support on a machine without a GPU.
    if (c.fp16) checkNarrow(c, values, DataType::kFloat16);
    if (c.bf16) checkNarrow(c, values, DataType::kBFloat16);
  }

  /// The float16 or bfloat16 variant: float32 inputs (not kept float32) rounded to `narrow`; the CPU runs the rounded
  /// values in float32, CUDA the narrow graph, whose shape inference must give the float32 graph's shapes with
  /// float32 outputs in `narrow`.
  void checkNarrow(const Case& c, const std::vector<Tensor>& values, DataType narrow) {
    SCOPED_TRACE(dataTypeName(narrow) + " variant");
    std::vector<Tensor> rounded, narrowed;
    std::vector<DataType> wideTypes, narrowTypes;
    bool anyFloat = false;
    for (size_t i = 0; i < values.size(); ++i) {
      const DataType t = c.inputs[i].absent ? DataType::kUndefined : c.inputs[i].dtype;
      wideTypes.push_back(t);
      narrowTypes.push_back(t);
      if (c.inputs[i].absent || values[i].dtype() != DataType::kFloat32 || c.inputs[i].keepFloat32) {
        rounded.push_back(values[i]);
        narrowed.push_back(values[i]);
        continue;
      }
      anyFloat = true;
      Tensor r = values[i].clone().value();
      Tensor h = Tensor::allocate(narrow, values[i].dims()).value();
      for (int64_t e = 0; e < r.elementCount(); ++e) {
        const uint16_t bits = toNarrow(narrow, r.dataAs<float>()[e]);
        h.dataAs<uint16_t>()[e] = bits;
        r.dataAs<float>()[e] = fromNarrow(narrow, bits);
      }
      rounded.push_back(std::move(r));
      narrowed.push_back(std::move(h));
      narrowTypes.back() = narrow;
    }
    if (!anyFloat) return;
    const ir::Graph wide = makeGraph(c, rounded, wideTypes), thin = makeGraph(c, narrowed, narrowTypes);
    auto wideInfo = ops::inferOutputs(wide, wide.nodes.back(), infosOf(c, rounded));
    ASSERT_TRUE(wideInfo.hasValue()) << wideInfo.status().toString();
    auto thinInfo = ops::inferOutputs(thin, thin.nodes.back(), infosOf(c, narrowed));
    ASSERT_TRUE(thinInfo.hasValue()) << "shape inference of the " << dataTypeName(narrow)
                                     << " graph: " << thinInfo.status().toString();
    ASSERT_EQ(thinInfo->size(), wideInfo->size());
    for (size_t k = 0; k < wideInfo->size(); ++k) {
      const DataType w = (*wideInfo)[k].dtype;
      EXPECT_EQ((*thinInfo)[k].dims, (*wideInfo)[k].dims) << "output " << k;
      EXPECT_EQ((*thinInfo)[k].dtype, w == DataType::kFloat32 ? narrow : w) << "output " << k;
    }
    auto want = runOn(*cpu_, wide, c, rounded, *wideInfo);
    ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();
    auto got = runOn(*cuda_, thin, c, narrowed, *thinInfo);
    ASSERT_TRUE(got.hasValue()) << dataTypeName(narrow) << ": " << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) compare((*want)[k], (*got)[k], narrow, c);
  }

  /// Runs `c` on both backends and requires identical bytes (data movement must not change any bit).
  void checkBytes(const Case& c) {
    SCOPED_TRACE(c.label);
    const std::vector<Tensor> values = makeInputs(c, 977u + static_cast<uint32_t>(c.label.size()));
    std::vector<DataType> types;
    for (const Input& in : c.inputs) types.push_back(in.absent ? DataType::kUndefined : in.dtype);
    const ir::Graph g = makeGraph(c, values, types);
    auto outInfo = ops::inferOutputs(g, g.nodes.back(), infosOf(c, values));
    ASSERT_TRUE(outInfo.hasValue()) << outInfo.status().toString();
    auto want = runOn(*cpu_, g, c, values, *outInfo);
    ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();
    auto got = runOn(*cuda_, g, c, values, *outInfo);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) {
      const Tensor& w = (*want)[k];
      const Tensor& r = (*got)[k];
      ASSERT_EQ(w.dims(), r.dims());
      ASSERT_EQ(w.byteSize(), r.byteSize());
      const size_t elem = dataTypeSize(w.dtype());
      int bad = 0;
      for (int64_t i = 0; i < w.elementCount(); ++i) {
        const auto* a = static_cast<const uint8_t*>(w.data()) + static_cast<size_t>(i) * elem;
        const auto* b = static_cast<const uint8_t*>(r.data()) + static_cast<size_t>(i) * elem;
        if (std::memcmp(a, b, elem) != 0 && bad++ < 5)
          ADD_FAILURE() << "output " << k << " element " << i << ": cpu " << getValue(w, i) << ", cuda "
                        << getValue(r, i);
      }
      EXPECT_EQ(bad, 0) << "output " << k;
    }
  }

  /// Tolerances. float32/float64: |cuda - cpu| <= 1e-4 * (|cpu| + rms(cpu)) + 1e-6 per element; integer and bool
  /// outputs exactly. Narrow variants (`narrow` float16 or bfloat16): cosine similarity >= 0.999 and max relative
  /// error |cuda - cpu| / (|cpu| + rms) <= 2e-2, or Case::narrowUlps unit roundoffs of the narrow type; printed.
  static void compare(const Tensor& want, const Tensor& got, DataType narrow, const Case& c) {
    ASSERT_EQ(want.dims(), got.dims());
    const bool half = narrow != DataType::kUndefined;
    const int64_t n = want.elementCount();
    const bool exact = !isFloat(want.dtype());
    double rms = 0, dot = 0, nw = 0, ng = 0, maxRel = 0;
    int64_t finite = 0;
    for (int64_t i = 0; i < n; ++i)  // the reference's scale, over its finite values
      if (std::isfinite(getValue(want, i))) rms += getValue(want, i) * getValue(want, i), ++finite;
    rms = finite ? std::sqrt(rms / static_cast<double>(finite)) : 0;
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double w = getValue(want, i), g = getValue(got, i);
      const bool same = w == g || (std::isnan(w) && std::isnan(g));  // equal infinities and NaNs match
      if (std::isfinite(w) && std::isfinite(g)) {
        dot += w * g;
        nw += w * w;
        ng += g * g;
        maxRel = std::max(maxRel, std::fabs(w - g) / (std::fabs(w) + rms + 1e-12));
      } else if (!same) {
        maxRel = INFINITY;
      }
      const bool ok = same || (!exact && (half || std::fabs(w - g) <= 1e-4 * (std::fabs(w) + rms) + 1e-6));
      if (!ok && bad++ < 5) ADD_FAILURE() << "element " << i << ": cpu " << w << ", cuda " << g;
    }
    if (half && !exact) {
      const double cosine = (nw == 0 && ng == 0) ? 1.0 : dot / std::sqrt(nw * ng + 1e-300);
      const double unit = narrow == DataType::kFloat16 ? 0x1p-11 : 0x1p-8;
      const double limit = c.narrowUlps > 0 ? c.narrowUlps * unit : 2e-2;
      std::printf("[ %-8s ] %s: cosine %.6f, max rel err %.3g (limit %.3g)\n", dataTypeName(narrow).c_str(),
                  c.label.c_str(), cosine, maxRel, limit);
      EXPECT_GE(cosine, 0.999);
      EXPECT_LE(maxRel, limit);
    }
    EXPECT_EQ(bad, 0);
  }

  std::unique_ptr<Backend> cuda_, cpu_;
  bool selfCheck_ = false;
};

std::string name(OpKind op) { return std::string(ir::opKindName(op)); }

}  // namespace
}  // namespace kiln
