// Hostile ONNX bytes: truncations at every cut point, random bytes, bit flips, absurd sizes and counts. Every case
// must return (no crash, no hang, no huge allocation) with either a graph or a Status that says what is wrong.
#include <gtest/gtest.h>

#include <climits>
#include <random>

#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"

namespace kiln::onnx {
namespace {

using namespace kiln::onnx::testing;  // NOLINT

Expected<std::unique_ptr<ir::Graph>> importBytes(const std::string& bytes) {
  return importModel(bytes.data(), bytes.size(), "", ImportOptions{.checkSupport = false});
}

// A model touching most of the importer: initializers of several storage forms, a Constant node, legacy forms.
std::string richModel() {
  ModelBuilder m;
  m.opset = 13;
  std::vector<float> w(8 * 3 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 7) - 3.f;
  m.initializers = {floatDataTensor("W", {8, 3, 3, 3}, w), rawTensor<float>("B", kFloat, {8}, std::vector<float>(8, 0.5f)),
                    int64DataTensor("shape", {2}, {0, -1}), int32DataTensor("flags", kBool, {2}, {1, 0})};
  m.inputs = {valueInfo("x", kFloat, {"N", 3, 16, 16})};
  m.nodes = {
      node("Conv", {"x", "W", "B"}, {"c"}, "conv", {attrInts("pads", {1, 1, 1, 1}), attrInts("strides", {2, 2})}),
      node("Relu", {"c"}, {"r"}, "relu"),
      node("Constant", {}, {"k"}, "k", {attrFloats("value_floats", {2.f})}),
      node("Mul", {"r", "k"}, {"m"}, "mul"),
      node("ReduceMean", {"m"}, {"rm"}, "mean", {attrInts("axes", {2, 3}), attrInt("keepdims", 1)}),
      node("Unsqueeze", {"rm"}, {"u"}, "unsq", {attrInts("axes", {0})}),
      node("Reshape", {"u", "shape"}, {"y"}, "reshape"),
  };
  m.outputs = {valueInfo("y", kFloat, {"N", Dim::unknown()})};
  return m.serialize();
}

void expectExplained(const Expected<std::unique_ptr<ir::Graph>>& g, const std::string& label) {
  if (g) return;
  EXPECT_FALSE(g.status().message().empty()) << label;
  EXPECT_NE(g.status().code(), StatusCode::kInternal) << label << ": " << g.status().toString();
}

TEST(OnnxRobustness, RichModelImports) {
  auto g = importBytes(richModel());
  ASSERT_TRUE(g) << g.status().toString();
  EXPECT_EQ((*g)->nodes.size(), 6u);
}

TEST(OnnxRobustness, TruncatedAtEveryCutPoint) {
  const std::string bytes = richModel();
  int failures = 0;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto g = importBytes(bytes.substr(0, cut));
    expectExplained(g, "cut at " + std::to_string(cut));
    if (!g) ++failures;
    if (cut == 0) EXPECT_NE(g.status().message().find("empty"), std::string::npos);
  }
  // Most prefixes end inside a field; those must be reported as unparseable or incomplete, not accepted.
  EXPECT_GT(failures, static_cast<int>(bytes.size()) * 9 / 10);
}

TEST(OnnxRobustness, RandomBytes) {
  std::mt19937 rng(12345);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 512 + 1, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    auto g = importBytes(bytes);
    expectExplained(g, "random buffer " + std::to_string(i));
  }
}

TEST(OnnxRobustness, BitFlipsAndByteSmashes) {
  const std::string original = richModel();
  std::mt19937 rng(777);
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = original;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % bytes.size();
      if (rng() % 2) bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
      else bytes[at] = static_cast<char>(rng());
    }
    auto g = importBytes(bytes);
    expectExplained(g, "mutation " + std::to_string(i));
  }
}

TEST(OnnxRobustness, TextFilesAreNotModels) {
  for (const std::string text : {std::string("ir_version: 8\ngraph { node { op_type: \"Relu\" } }"),
                                 std::string("{\"not\": \"onnx\"}"),
                                 std::string(100, '\xff'), std::string("\x08\x07", 2)}) {
    auto g = importBytes(text);
    ASSERT_FALSE(g);
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel) << g.status().toString();
  }
}

TEST(OnnxRobustness, OversizedBufferIsRefusedBeforeReading) {
  const char byte = 0;
  // The size guard runs before protobuf touches the bytes, so a 1-byte buffer with a huge size is safe here.
  auto g = importModel(&byte, static_cast<size_t>(INT_MAX) + 1, "");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("limited to"), std::string::npos) << g.status().message();
  auto null = importModel(nullptr, 10, "");
  ASSERT_FALSE(null);
  auto empty = importModel(nullptr, 0, "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidModel);
}

ModelBuilder oneAdd() {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {2})};
  m.nodes = {node("Add", {"x", "w"}, {"y"}, "add")};
  m.outputs = {valueInfo("y", kFloat, {2})};
  return m;
}

TEST(OnnxRobustness, HostileTensorHeadersDoNotAllocate) {
  // Each claims a huge tensor but carries (almost) no data; the size check must come before any allocation.
  const std::vector<std::pair<Proto, std::string>> cases = {
      {tensorHeader("w", kFloat, {1LL << 39, 1LL << 39}), "initializer 'w': shape"},
      {tensorHeader("w", kFloat, {INT64_MAX}), "initializer 'w': dim 0 is"},
      {tensorHeader("w", kFloat, {1LL << 40}), "initializer 'w': float_data holds 0 values"},
      {rawTensor<float>("w", kFloat, {1LL << 40}, {1.f}), "initializer 'w': raw_data holds 4 bytes"},
      {int64DataTensor("w", {1LL << 36}, {1, 2}), "initializer 'w': int64_data holds 2 values"},
      {tensorHeader("w", kFloat, std::vector<int64_t>(100, 1)), "initializer 'w': rank 100 exceeds"},
      {tensorHeader("w", -3, {1}), "initializer 'w': element type -3"},
      {tensorHeader("w", 1 << 30, {1}), "initializer 'w': element type"},
  };
  for (const auto& [tensor, expected] : cases) {
    ModelBuilder m = oneAdd();
    m.initializers = {tensor};
    auto g = importBytes(m.serialize());
    ASSERT_FALSE(g) << expected;
    EXPECT_NE(g.status().message().find(expected), std::string::npos)
        << "expected '" << expected << "' in:\n" << g.status().message();
  }
}

TEST(OnnxRobustness, HostileValueInfo) {
  const std::vector<std::pair<Proto, std::string>> cases = {
      {valueInfo("x", kFloat, {Dim(int64_t{1} << 50)}), "graph input 'x': dim 0 is"},
      {valueInfo("x", kFloat, std::vector<Dim>(65, Dim(1))), "graph input 'x' has rank 65"},
      {valueInfo("x", 0, {2}), "graph input 'x': element type is undefined"},
      {valueInfo("x", 1234, {2}), "graph input 'x': element type 1234"},
      {Proto().bytes(1, "x").message(2, Proto().message(1, Proto())), "graph input 'x' has no element type"},
      {valueInfo("", kFloat, {2}), "graph input #0 has no name"},
  };
  for (const auto& [info, expected] : cases) {
    ModelBuilder m = oneAdd();
    m.initializers = {rawTensor<float>("w", kFloat, {2}, {1, 2})};
    m.inputs = {info};
    auto g = importBytes(m.serialize());
    ASSERT_FALSE(g) << expected;
    EXPECT_NE(g.status().message().find(expected), std::string::npos)
        << "expected '" << expected << "' in:\n" << g.status().message();
  }
}

TEST(OnnxRobustness, ManyBadNodesGiveABoundedMessage) {
  ModelBuilder m;
  m.inputs = {valueInfo("x", kFloat, {2})};
  std::string prev = "x";
  for (int i = 0; i < 5000; ++i) {
    const std::string out = "v" + std::to_string(i);
    m.nodes.push_back(node("NoSuchOp", {prev}, {out}, "bad" + std::to_string(i)));
    prev = out;
  }
  m.outputs = {valueInfo(prev, kFloat, {2})};
  auto g = importBytes(m.serialize());
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  const std::string msg = g.status().message();
  EXPECT_NE(msg.find("5000 problems"), std::string::npos) << msg.substr(0, 300);
  EXPECT_NE(msg.find("node 'bad0' (NoSuchOp)"), std::string::npos);
  EXPECT_NE(msg.find("node 'bad999' (NoSuchOp)"), std::string::npos);
  EXPECT_NE(msg.find("and 4000 more"), std::string::npos);
  EXPECT_LT(msg.size(), 200000u);
}

TEST(OnnxRobustness, DeeplyNestedSubgraphsAreRefused) {
  // Nesting deeper than protobuf's recursion limit must fail to parse rather than overflow the stack.
  Proto graph;
  for (int depth = 0; depth < 200; ++depth) {
    Proto n = node("If", {"x"}, {"y"}, "if" + std::to_string(depth), {attrGraph("then_branch", graph)});
    graph = Proto().message(1, n);
  }
  ModelBuilder m = oneAdd();
  m.initializers = {rawTensor<float>("w", kFloat, {2}, {1, 2})};
  m.nodes.push_back(node("Relu", {"y"}, {"z"}, "outer", {attrGraph("g", graph)}));
  m.outputs.push_back(valueInfo("z", kFloat, {2}));
  auto g = importBytes(m.serialize());
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel) << g.status().message();

  // One level: parsed, and the node with the subgraph is named as unsupported.
  ModelBuilder shallow = oneAdd();
  shallow.initializers = {rawTensor<float>("w", kFloat, {2}, {1, 2})};
  shallow.nodes.push_back(node("Relu", {"y"}, {"z"}, "outer", {attrGraph("g", Proto().message(1, node("Relu", {"a"}, {"b"})))}));
  shallow.outputs.push_back(valueInfo("z", kFloat, {2}));
  auto s = importBytes(shallow.serialize());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("node 'outer' (Relu): attribute 'g' holds a subgraph"), std::string::npos)
      << s.status().message();
}

TEST(OnnxRobustness, SelfLoopAndLongCycle) {
  ModelBuilder self = oneAdd();
  self.initializers = {rawTensor<float>("w", kFloat, {2}, {1, 2})};
  self.nodes.push_back(node("Relu", {"loop"}, {"loop"}, "self_loop"));
  self.nodes.push_back(node("Add", {"loop", "y"}, {"z"}, "reader"));
  self.outputs = {valueInfo("z", kFloat, {2})};
  auto g = importBytes(self.serialize());
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("self_loop"), std::string::npos) << g.status().message();

  ModelBuilder ring;
  ring.inputs = {valueInfo("x", kFloat, {2})};
  const int n = 300;
  for (int i = 0; i < n; ++i)
    ring.nodes.push_back(node("Add", {"x", "r" + std::to_string((i + n - 1) % n)}, {"r" + std::to_string(i)},
                              "ring" + std::to_string(i)));
  ring.outputs = {valueInfo("r0", kFloat, {2})};
  auto r = importBytes(ring.serialize());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(r.status().message().find("cycle"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kiln::onnx
