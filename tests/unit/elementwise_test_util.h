// Helpers for the elementwise/generator kernel tests: run one node through shape inference and the CPU kernel, and
// an independent numpy-broadcast index map (plain division per element, unlike the kernels' collapsed plan).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "ops/shape_inference.h"

namespace kiln::testing_util {

/// A tensor filled from values of type T.
template <typename T>
Tensor makeTensor(DataType dtype, Dims dims, const std::vector<T>& values) {
  Tensor t = Tensor::allocate(dtype, dims).value();
  EXPECT_EQ(static_cast<size_t>(t.elementCount()), values.size());
  if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
  return t;
}

/// Random float32 values in [lo, hi], kept at least 1e-3 away from zero.
inline std::vector<float> randomFloats(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) {
    do x = dist(rng);
    while (std::fabs(x) < 1e-3f);
  }
  return v;
}

template <typename T>
std::vector<T> randomInts(int64_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) {
    do x = static_cast<T>(dist(rng));
    while (x == 0);
  }
  return v;
}

/// One node with the given inputs (an empty Tensor = omitted optional input). Returns the outputs.
inline Expected<std::vector<Tensor>> runNode(ir::OpKind op, const std::vector<Tensor>& inputs,
                                             const ir::Attributes& attrs = {}, bool withValues = true) {
  ir::Graph graph;
  ir::Node node;
  node.name = "n";
  node.op = op;
  node.attrs = attrs;
  std::vector<ops::TensorInfo> infos;
  std::vector<backends::DeviceTensor> devIn;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (t.dtype() == DataType::kUndefined) {
      node.inputs.push_back(ir::kNoValue);
      infos.push_back({});
      devIn.push_back({});
      continue;
    }
    const ir::ValueId id = graph.addValue("x" + std::to_string(i), t.dtype());
    graph.values[id].rankKnown = true;
    graph.values[id].dims = t.dims();
    node.inputs.push_back(id);
    infos.push_back({t.dtype(), t.dims(), withValues ? &t : nullptr});
    devIn.push_back({t.dtype(), t.dims(), const_cast<void*>(t.data())});
  }
  node.outputs.push_back(graph.addValue("y"));
  KILN_ASSIGN_OR_RETURN(auto outInfos, ops::inferOutputs(graph, node, infos));
  std::vector<Tensor> outs;
  std::vector<backends::DeviceTensor> devOut;
  for (const auto& info : outInfos) {
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(info.dtype, info.dims));
    std::memset(t.data(), 0xA5, t.byteSize());  // poison: unwritten elements show
    outs.push_back(t);
    devOut.push_back({info.dtype, info.dims, outs.back().data()});
  }
  KILN_RETURN_IF_ERROR(backends::cpu::executeNode(graph, node, devIn, devOut));
  return outs;
}

/// Flat input index of output element `flat` under numpy broadcasting of `in` to `out`.
inline int64_t broadcastIndex(const Dims& in, const Dims& out, int64_t flat) {
  int64_t index = 0, stride = 1;
  const size_t pad = out.size() - in.size();
  for (size_t d = out.size(); d-- > 0;) {
    const int64_t coord = flat % out[d];
    flat /= out[d];
    if (d < pad) continue;
    const int64_t size = in[d - pad];
    if (size != 1) index += coord * stride;
    stride *= size;
  }
  return index;
}

}  // namespace kiln::testing_util
