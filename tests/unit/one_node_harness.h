// One float32 op on the CPU backend, for the kernel unit tests: a one-node graph is built from host inputs, its
// outputs inferred, and the CPU kernel run into NaN-filled outputs (so an element the kernel forgets to write fails
// the comparison). Plus random non-zero inputs and a comparison against float64 references at
// |kiln - ref| <= 1e-4 * (|ref| + rms(ref)) + 1e-6. Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "ops/shape_inference.h"

namespace kiln::test {

struct HostTensor {
  Dims dims;
  std::vector<float> data;
};

/// Uniform in [low, high), no value within 1e-3 of zero.
inline HostTensor randomTensor(Dims dims, uint32_t seed, float low = -2.0f, float high = 2.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  HostTensor t{dims, std::vector<float>(static_cast<size_t>(elementCount(dims)))};
  for (float& v : t.data) {
    do v = dist(rng);
    while (std::fabs(v) < 1e-3f);
  }
  return t;
}

/// Builds graph {node(op, attrs)} with the given inputs (nullopt = omitted), infers, runs on the CPU.
inline Expected<std::vector<HostTensor>> runOp(ir::OpKind op, const ir::Attributes& attrs,
                                               const std::vector<std::optional<HostTensor>>& inputs,
                                               int outputs = 1, int64_t opset = 17) {
  ir::Graph graph;
  graph.opsetVersion = opset;
  ir::Node node;
  node.name = "n0";
  node.op = op;
  node.attrs = attrs;
  std::vector<ops::TensorInfo> infos;
  std::vector<backends::DeviceTensor> devIn;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      node.inputs.push_back(ir::kNoValue);
      infos.push_back({});
      devIn.push_back({});
      continue;
    }
    const ir::ValueId id = graph.addValue("in" + std::to_string(i), DataType::kFloat32);
    graph.values[id].rankKnown = true;
    graph.values[id].dims = inputs[i]->dims;
    node.inputs.push_back(id);
    infos.push_back({DataType::kFloat32, inputs[i]->dims, nullptr});
    devIn.push_back({DataType::kFloat32, inputs[i]->dims, const_cast<float*>(inputs[i]->data.data())});
  }
  for (int k = 0; k < outputs; ++k) node.outputs.push_back(graph.addValue("out" + std::to_string(k)));
  graph.nodes.push_back(node);
  KILN_ASSIGN_OR_RETURN(auto inferred, ops::inferOutputs(graph, graph.nodes[0], infos));
  std::vector<HostTensor> results;
  for (const auto& info : inferred)
    results.push_back({info.dims, std::vector<float>(static_cast<size_t>(elementCount(info.dims)), std::nanf(""))});
  std::vector<backends::DeviceTensor> devOut;
  for (auto& r : results) devOut.push_back({DataType::kFloat32, r.dims, r.data.data()});
  KILN_RETURN_IF_ERROR(backends::cpu::executeNode(graph, graph.nodes[0], devIn, devOut));
  return results;
}

inline void expectClose(const HostTensor& got, const Dims& wantDims, const std::vector<double>& want) {
  ASSERT_EQ(got.dims, wantDims);
  ASSERT_EQ(got.data.size(), want.size());
  double rms = 0;
  for (double v : want) rms += v * v;
  rms = want.empty() ? 0 : std::sqrt(rms / static_cast<double>(want.size()));
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double tol = 1e-4 * (std::fabs(want[i]) + rms) + 1e-6;
    if (!(std::fabs(got.data[i] - want[i]) <= tol)) {
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": kiln " << got.data[i] << " vs reference " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << "of " << want.size() << " elements";
}

}  // namespace kiln::test
