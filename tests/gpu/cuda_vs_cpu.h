// The harness of the CUDA-vs-CPU operator tests: one-node graphs run on the CPU backend (the reference, DESIGN.md
// rule 8) and on the CUDA backend on the same random non-zero inputs, compared per element (and, for float16
// variants, by cosine similarity). Included by one test file per binary; the tolerances are stated in compare().
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

struct Input {
  DataType dtype = DataType::kFloat32;
  Dims dims;
  double low = -2, high = 2;  // random range; integers use whole numbers in it
  std::vector<double> values;  // explicit contents instead
  enum Kind { kActivation, kConstant, kHost } kind = kActivation;  // kHost: computed by the shape program
  bool absent = false;
  bool keepFloat32 = false;  // stays float32 in the float16 variant (parameters, weights of losses)
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

struct Case {
  std::string label;
  OpKind op;
  ir::Attributes attrs;
  std::vector<Input> inputs;
  int outputs = 1;
  bool fp16 = true;
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
bool isFloat(DataType d) { return d == DataType::kFloat32 || d == DataType::kFloat64 || d == DataType::kFloat16; }

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

Expected<std::vector<Tensor>> runOn(Backend& backend, const ir::Graph& g, const Case& c,
                                    const std::vector<Tensor>& inputs, const std::vector<ops::TensorInfo>& outInfo) {
  const ir::Node& node = g.nodes.back();
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

  void check(const Case& c) {
    SCOPED_TRACE(c.label);
    const std::vector<Tensor> values = makeInputs(c, 4321u + static_cast<uint32_t>(c.label.size()));
    std::vector<DataType> types;
    for (const Input& in : c.inputs) types.push_back(in.absent ? DataType::kUndefined : in.dtype);
    const ir::Graph g = makeGraph(c, values, types);
    std::vector<ops::TensorInfo> infos;
    for (size_t i = 0; i < values.size(); ++i)
      infos.push_back(c.inputs[i].absent ? ops::TensorInfo{}
                                         : ops::TensorInfo{values[i].dtype(), values[i].dims(),
                                                           c.inputs[i].kind != Input::kActivation ? &values[i] : nullptr});
    auto outInfo = ops::inferOutputs(g, g.nodes.back(), infos);
    ASSERT_TRUE(outInfo.hasValue()) << outInfo.status().toString();
    auto want = runOn(*cpu_, g, c, values, *outInfo);
    ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();
    auto got = runOn(*cuda_, g, c, values, *outInfo);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) compare((*want)[k], (*got)[k], false, c.label);
    if (c.fp16 && !selfCheck_) checkHalf(c, values, types, *outInfo);
  }

  void checkHalf(const Case& c, const std::vector<Tensor>& values, std::vector<DataType> types,
                 std::vector<ops::TensorInfo> outInfo) {
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
    auto want = runOn(*cpu_, makeGraph(c, rounded, f32Types), c, rounded, outInfo);
    ASSERT_TRUE(want.hasValue()) << want.status().toString();
    for (auto& info : outInfo)
      if (info.dtype == DataType::kFloat32) info.dtype = DataType::kFloat16;
    auto got = runOn(*cuda_, makeGraph(c, halves, types), c, halves, outInfo);
    ASSERT_TRUE(got.hasValue()) << "float16: " << got.status().toString();
    for (size_t k = 0; k < want->size(); ++k) compare((*want)[k], (*got)[k], true, c.label);
  }

  /// Runs `c` on both backends and requires identical bytes (data movement must not change any bit).
  void checkBytes(const Case& c) {
    SCOPED_TRACE(c.label);
    const std::vector<Tensor> values = makeInputs(c, 977u + static_cast<uint32_t>(c.label.size()));
    std::vector<DataType> types;
    for (const Input& in : c.inputs) types.push_back(in.dtype);
    const ir::Graph g = makeGraph(c, values, types);
    std::vector<ops::TensorInfo> infos;
    for (size_t i = 0; i < values.size(); ++i)
      infos.push_back(ops::TensorInfo{values[i].dtype(), values[i].dims(),
                                      c.inputs[i].kind != Input::kActivation ? &values[i] : nullptr});
    auto outInfo = ops::inferOutputs(g, g.nodes.back(), infos);
    ASSERT_TRUE(outInfo.hasValue()) << outInfo.status().toString();
    auto want = runOn(*cpu_, g, c, values, *outInfo);
    ASSERT_TRUE(want.hasValue()) << "CPU reference: " << want.status().toString();
    auto got = runOn(*cuda_, g, c, values, *outInfo);
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    const Tensor& w = (*want)[0];
    const Tensor& r = (*got)[0];
    ASSERT_EQ(w.dims(), r.dims());
    ASSERT_EQ(w.byteSize(), r.byteSize());
    const size_t elem = dataTypeSize(w.dtype());
    int bad = 0;
    for (int64_t i = 0; i < w.elementCount(); ++i) {
      const auto* a = static_cast<const uint8_t*>(w.data()) + static_cast<size_t>(i) * elem;
      const auto* b = static_cast<const uint8_t*>(r.data()) + static_cast<size_t>(i) * elem;
      if (std::memcmp(a, b, elem) != 0 && bad++ < 5)
        ADD_FAILURE() << "element " << i << ": cpu " << getValue(w, i) << ", cuda " << getValue(r, i);
    }
    EXPECT_EQ(bad, 0);
  }

  static void compare(const Tensor& want, const Tensor& got, bool half, const std::string& label) {
    ASSERT_EQ(want.dims(), got.dims());
    const int64_t n = want.elementCount();
    const bool exact = !isFloat(want.dtype());
    double rms = 0, dot = 0, nw = 0, ng = 0, maxRel = 0;
    for (int64_t i = 0; i < n; ++i) rms += getValue(want, i) * getValue(want, i);
    rms = n ? std::sqrt(rms / static_cast<double>(n)) : 0;
    int bad = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double w = getValue(want, i), g = getValue(got, i);
      dot += w * g;
      nw += w * w;
      ng += g * g;
      if (std::isnan(g) != std::isnan(w)) maxRel = INFINITY;
      else if (!std::isnan(w)) maxRel = std::max(maxRel, std::fabs(w - g) / (std::fabs(w) + rms + 1e-12));
      const bool ok = (std::isnan(w) && std::isnan(g)) ||
                      (exact ? w == g : (half || std::fabs(w - g) <= 1e-4 * (std::fabs(w) + rms) + 1e-6));
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

std::string name(OpKind op) { return std::string(ir::opKindName(op)); }

}  // namespace
}  // namespace kiln
