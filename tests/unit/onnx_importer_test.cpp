// ONNX importer: storage forms, opset normalization, external data confinement, and whole-model error reporting.
// Models are written as protobuf wire bytes by onnx/testing/onnx_model_writer.h, so each test is self-contained.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ir/verifier.h"
#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"
#include "unit/onnx_import_helpers.h"

namespace kiln::onnx {
namespace {

using namespace kiln::onnx::testing;  // NOLINT
namespace fs = std::filesystem;

// x[batch,3,5,5] -> Conv(W float_data, B raw_data) -> Relu -> Reshape(shape int64_data) -> y
ModelBuilder convReluReshape() {
  ModelBuilder m;
  m.opset = 17;
  std::vector<float> w(4 * 3 * 3 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.01f * static_cast<float>(i) - 0.5f;
  m.initializers.push_back(floatDataTensor("W", {4, 3, 3, 3}, w));
  m.initializers.push_back(rawTensor<float>("B", kFloat, {4}, {0.5f, -1.25f, 2.0f, 3.5f}));
  m.initializers.push_back(int64DataTensor("shape", {2}, {0, -1}));
  m.inputs.push_back(valueInfo("x", kFloat, {"batch", 3, 5, 5}));
  m.outputs.push_back(valueInfo("y", kFloat, {"batch", Dim::unknown()}));
  m.nodes.push_back(node("Conv", {"x", "W", "B"}, {"c"}, "conv1",
                         {attrInts("strides", {1, 1}), attrInts("pads", {1, 1, 1, 1}), attrInts("kernel_shape", {3, 3})}));
  m.nodes.push_back(node("Relu", {"c"}, {"r"}, ""));  // unnamed: becomes "Relu_1"
  m.nodes.push_back(node("Reshape", {"r", "shape"}, {"y"}, "flatten"));
  return m;
}

TEST(OnnxImporter, ImportsConvReluReshape) {
  auto g = importUnchecked(convReluReshape());
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;
  ASSERT_EQ(graph.nodes.size(), 3u);
  EXPECT_EQ(graph.opsetVersion, 17);
  EXPECT_EQ(graph.producerName, "kiln-test");

  ASSERT_EQ(graph.inputs.size(), 1u);  // initializers are constants, not inputs
  const ir::Value& x = graph.values[graph.inputs[0]];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DataType::kFloat32);
  ASSERT_TRUE(x.rankKnown);
  EXPECT_EQ(x.dims, (Dims{kDynamicDim, 3, 5, 5}));
  ASSERT_EQ(x.dimNames.size(), 4u);
  EXPECT_EQ(x.dimNames[0], "batch");
  EXPECT_EQ(x.dimNames[1], "");

  ASSERT_EQ(graph.outputs.size(), 1u);
  const ir::Value& y = graph.values[graph.outputs[0]];
  EXPECT_EQ(y.name, "y");
  EXPECT_EQ(y.dtype, DataType::kFloat32);
  EXPECT_EQ(y.dims, (Dims{kDynamicDim, kDynamicDim}));
  EXPECT_EQ(y.dimNames, (std::vector<std::string>{"batch", ""}));

  const ir::Node* conv = findNode(graph, "conv1");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->op, ir::OpKind::kConv);
  EXPECT_EQ(conv->attrs.getInts("strides"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(conv->attrs.getInts("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  ASSERT_EQ(conv->inputs.size(), 3u);
  const Tensor* w = graph.constantOf(conv->inputs[1]);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dims(), (Dims{4, 3, 3, 3}));
  auto wv = contents<float>(*w);
  for (size_t i = 0; i < wv.size(); ++i) ASSERT_FLOAT_EQ(wv[i], 0.01f * static_cast<float>(i) - 0.5f) << i;
  const Tensor* b = graph.constantOf(conv->inputs[2]);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(contents<float>(*b), (std::vector<float>{0.5f, -1.25f, 2.0f, 3.5f}));

  const ir::Node* relu = findNode(graph, "Relu_1");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->op, ir::OpKind::kRelu);
  const ir::Node* reshape = findNode(graph, "flatten");
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(int64Input(graph, *reshape, 1), (std::vector<int64_t>{0, -1}));
  // Topological order: conv, relu, reshape; each reads the previous output.
  EXPECT_EQ(graph.nodes[0].name, "conv1");
  EXPECT_EQ(relu->inputs[0], conv->outputs[0]);
  EXPECT_EQ(reshape->inputs[0], relu->outputs[0]);
}

TEST(OnnxImporter, NodesOutOfOrderAreSorted) {
  ModelBuilder m = convReluReshape();
  std::swap(m.nodes[0], m.nodes[2]);
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  EXPECT_EQ((*g)->nodes[0].name, "conv1");
  EXPECT_EQ((*g)->nodes[2].name, "flatten");
}

// Every storage form and every kiln dtype except string; each read back and compared element by element.
TEST(OnnxImporter, InitializerStorageForms) {
  ModelBuilder m;
  m.initializers = {
      floatDataTensor("f32_typed", {3}, {1.5f, -2.25f, 3e-3f}),
      rawTensor<float>("f32_raw", kFloat, {2, 2}, {1.f, 2.f, 3.f, -4.f}),
      doubleDataTensor("f64_typed", {2}, {1e-300, -2.5}),
      rawTensor<double>("f64_raw", kDouble, {1}, {3.25}),
      int64DataTensor("i64_typed", {3}, {INT64_MIN, -1, INT64_MAX}),
      rawTensor<int64_t>("i64_raw", kInt64, {2}, {7, -8}),
      int32DataTensor("i32_typed", kInt32, {3}, {INT32_MIN, -5, INT32_MAX}),
      int32DataTensor("i16_typed", kInt16, {2}, {-32768, 32767}),
      int32DataTensor("i8_typed", kInt8, {3}, {-128, 0, 127}),
      int32DataTensor("u8_typed", kUInt8, {2}, {0, 255}),
      int32DataTensor("u16_typed", kUInt16, {2}, {1, 65535}),
      int32DataTensor("bool_typed", kBool, {3}, {1, 0, 1}),
      int32DataTensor("f16_typed", kFloat16, {2}, {0x3C00, 0xC000}),  // 1.0, -2.0
      int32DataTensor("bf16_typed", kBFloat16, {1}, {0x3F80}),        // 1.0
      rawTensor<uint16_t>("f16_raw", kFloat16, {2}, {0x3C00, 0x7BFF}),
      uint64DataTensor("u32_typed", kUInt32, {2}, {0, 4294967295LL}),
      uint64DataTensor("u64_typed", kUInt64, {1}, {-1}),  // 2^64-1 as a varint
      rawTensor<int8_t>("i8_raw", kInt8, {2}, {-3, 4}),
      rawTensor<float>("scalar", kFloat, {}, {42.f}),
      tensorHeader("empty", kFloat, {0, 3}),
  };
  m.inputs.push_back(valueInfo("x", kFloat, {2}));
  m.outputs.push_back(valueInfo("y", kFloat, {2}));
  m.nodes.push_back(node("Relu", {"x"}, {"y"}, "relu"));
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;
  auto get = [&](const std::string& name) -> const Tensor& {
    static const Tensor none;
    const Tensor* t = graph.constantOf(graph.findValue(name));
    EXPECT_NE(t, nullptr) << name;
    return t ? *t : none;
  };
  EXPECT_EQ(contents<float>(get("f32_typed")), (std::vector<float>{1.5f, -2.25f, 3e-3f}));
  EXPECT_EQ(get("f32_raw").dims(), (Dims{2, 2}));
  EXPECT_EQ(contents<float>(get("f32_raw")), (std::vector<float>{1.f, 2.f, 3.f, -4.f}));
  EXPECT_EQ(contents<double>(get("f64_typed")), (std::vector<double>{1e-300, -2.5}));
  EXPECT_EQ(contents<double>(get("f64_raw")), (std::vector<double>{3.25}));
  EXPECT_EQ(contents<int64_t>(get("i64_typed")), (std::vector<int64_t>{INT64_MIN, -1, INT64_MAX}));
  EXPECT_EQ(contents<int64_t>(get("i64_raw")), (std::vector<int64_t>{7, -8}));
  EXPECT_EQ(contents<int32_t>(get("i32_typed")), (std::vector<int32_t>{INT32_MIN, -5, INT32_MAX}));
  EXPECT_EQ(contents<int16_t>(get("i16_typed")), (std::vector<int16_t>{-32768, 32767}));
  EXPECT_EQ(contents<int8_t>(get("i8_typed")), (std::vector<int8_t>{-128, 0, 127}));
  EXPECT_EQ(contents<uint8_t>(get("u8_typed")), (std::vector<uint8_t>{0, 255}));
  EXPECT_EQ(contents<uint16_t>(get("u16_typed")), (std::vector<uint16_t>{1, 65535}));
  EXPECT_EQ(get("bool_typed").dtype(), DataType::kBool);
  EXPECT_EQ(contents<uint8_t>(get("bool_typed")), (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(get("f16_typed").dtype(), DataType::kFloat16);
  EXPECT_EQ(contents<uint16_t>(get("f16_typed")), (std::vector<uint16_t>{0x3C00, 0xC000}));
  EXPECT_EQ(get("bf16_typed").dtype(), DataType::kBFloat16);
  EXPECT_EQ(contents<uint16_t>(get("bf16_typed")), (std::vector<uint16_t>{0x3F80}));
  EXPECT_EQ(contents<uint16_t>(get("f16_raw")), (std::vector<uint16_t>{0x3C00, 0x7BFF}));
  EXPECT_EQ(contents<uint32_t>(get("u32_typed")), (std::vector<uint32_t>{0, 4294967295u}));
  EXPECT_EQ(contents<uint64_t>(get("u64_typed")), (std::vector<uint64_t>{UINT64_MAX}));
  EXPECT_EQ(contents<int8_t>(get("i8_raw")), (std::vector<int8_t>{-3, 4}));
  EXPECT_EQ(get("scalar").dims(), Dims{});
  EXPECT_EQ(contents<float>(get("scalar")), (std::vector<float>{42.f}));
  EXPECT_EQ(get("empty").dims(), (Dims{0, 3}));
  EXPECT_EQ(get("empty").elementCount(), 0);
  // The graph value of a constant carries its dtype and dims.
  const ir::Value& v = graph.values[graph.findValue("f32_raw")];
  EXPECT_EQ(v.dtype, DataType::kFloat32);
  EXPECT_TRUE(v.rankKnown);
  EXPECT_EQ(v.dims, (Dims{2, 2}));
}

TEST(OnnxImporter, GraphInputThatIsAnInitializerIsAConstant) {
  ModelBuilder m = convReluReshape();
  m.inputs.push_back(valueInfo("W", kFloat, {4, 3, 3, 3}));
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  ASSERT_EQ((*g)->inputs.size(), 1u);
  EXPECT_TRUE((*g)->isConstant((*g)->findValue("W")));
}

// Opset 13: Unsqueeze/ReduceSum take axes as inputs, ReduceMean still as an attribute. A legacy Unsqueeze attribute
// (opset < 13 form, still emitted by some exporters) is converted too.
TEST(OnnxImporter, Opset13FormsAreNormalized) {
  ModelBuilder m;
  m.opset = 13;
  m.inputs.push_back(valueInfo("x", kFloat, {2, 3}));
  m.initializers.push_back(int64DataTensor("sum_axes", {1}, {1}));
  m.nodes = {
      node("Unsqueeze", {"x"}, {"u"}, "unsq_attr", {attrInts("axes", {0})}),
      node("ReduceMean", {"u"}, {"m"}, "mean_attr", {attrInts("axes", {1, -1}), attrInt("keepdims", 0)}),
      node("ReduceSum", {"x", "sum_axes"}, {"s"}, "sum_input", {attrInt("keepdims", 1)}),
      node("ReduceMax", {"x"}, {"mx"}, "max_all"),
      node("Split", {"x"}, {"p0", "p1"}, "split_equal", {attrInt("axis", 1)}),
      node("Split", {"x"}, {"q0", "q1"}, "split_attr", {attrInt("axis", 1), attrInts("split", {1, 2})}),
      node("Squeeze", {"u"}, {"sq"}, "squeeze_attr", {attrInts("axes", {0})}),
  };
  for (const char* out : {"m", "s", "mx", "p0", "p1", "q0", "q1", "sq"}) m.outputs.push_back(valueInfo(out, kFloat, {}, false));
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;

  const ir::Node* unsq = findNode(graph, "unsq_attr");
  ASSERT_NE(unsq, nullptr);
  EXPECT_FALSE(unsq->attrs.has("axes"));
  EXPECT_EQ(int64Input(graph, *unsq, 1), (std::vector<int64_t>{0}));

  const ir::Node* mean = findNode(graph, "mean_attr");
  ASSERT_NE(mean, nullptr);
  EXPECT_FALSE(mean->attrs.has("axes"));
  EXPECT_EQ(mean->attrs.getInt("keepdims", 1), 0);
  EXPECT_EQ(int64Input(graph, *mean, 1), (std::vector<int64_t>{1, -1}));

  const ir::Node* sum = findNode(graph, "sum_input");
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(int64Input(graph, *sum, 1), (std::vector<int64_t>{1}));

  const ir::Node* max = findNode(graph, "max_all");
  ASSERT_NE(max, nullptr);
  EXPECT_EQ(max->inputs.size(), 1u);  // no axes: reduce over all axes

  const ir::Node* splitEqual = findNode(graph, "split_equal");
  ASSERT_NE(splitEqual, nullptr);
  EXPECT_EQ(splitEqual->inputs.size(), 1u);
  EXPECT_EQ(splitEqual->attrs.getInt("num_outputs", -1), 2);
  EXPECT_EQ(splitEqual->attrs.getInt("axis", -1), 1);

  const ir::Node* splitAttr = findNode(graph, "split_attr");
  ASSERT_NE(splitAttr, nullptr);
  EXPECT_FALSE(splitAttr->attrs.has("split"));
  EXPECT_FALSE(splitAttr->attrs.has("num_outputs"));
  EXPECT_EQ(int64Input(graph, *splitAttr, 1), (std::vector<int64_t>{1, 2}));

  const ir::Node* squeeze = findNode(graph, "squeeze_attr");
  ASSERT_NE(squeeze, nullptr);
  EXPECT_EQ(int64Input(graph, *squeeze, 1), (std::vector<int64_t>{0}));
}

// Opset 18: Reduce* axes are inputs already; Split has num_outputs; Pad has an axes input. Nothing changes.
TEST(OnnxImporter, Opset18FormsStayAsTheyAre) {
  ModelBuilder m;
  m.opset = 18;
  m.inputs.push_back(valueInfo("x", kFloat, {4, 6}));
  m.initializers.push_back(int64DataTensor("axes", {1}, {0}));
  m.initializers.push_back(int64DataTensor("pads", {2}, {1, 2}));
  m.initializers.push_back(rawTensor<float>("cval", kFloat, {}, {0.5f}));
  m.initializers.push_back(int64DataTensor("pad_axes", {1}, {1}));
  m.nodes = {
      node("ReduceMean", {"x", "axes"}, {"m"}, "mean"),
      node("Split", {"x"}, {"a", "b", "c"}, "split3", {attrInt("axis", 1), attrInt("num_outputs", 3)}),
      node("Pad", {"x", "pads", "cval", "pad_axes"}, {"p"}, "pad", {attrString("mode", "constant")}),
      node("Clip", {"x", "", "cval"}, {"cl"}, "clip_max_only"),
      node("Cast", {"x"}, {"h"}, "to_half", {attrInt("to", kFloat16)}),
  };
  for (const char* out : {"m", "a", "b", "c", "p", "cl", "h"}) m.outputs.push_back(valueInfo(out, kFloat, {}, false));
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;
  EXPECT_EQ(int64Input(graph, *findNode(graph, "mean"), 1), (std::vector<int64_t>{0}));
  const ir::Node* split = findNode(graph, "split3");
  EXPECT_EQ(split->attrs.getInt("num_outputs", -1), 3);
  EXPECT_EQ(split->outputs.size(), 3u);
  const ir::Node* pad = findNode(graph, "pad");
  ASSERT_EQ(pad->inputs.size(), 4u);
  EXPECT_EQ(pad->attrs.getString("mode", ""), "constant");
  EXPECT_EQ(int64Input(graph, *pad, 3), (std::vector<int64_t>{1}));
  const ir::Node* clip = findNode(graph, "clip_max_only");
  ASSERT_EQ(clip->inputs.size(), 3u);
  EXPECT_EQ(clip->inputs[1], ir::kNoValue);
  EXPECT_TRUE(graph.isConstant(clip->inputs[2]));
  EXPECT_EQ(findNode(graph, "to_half")->attrs.getInt("to", 0), kFloat16);
}

TEST(OnnxImporter, LegacyAttributeFormsBecomeInputs) {
  ModelBuilder m;
  m.opset = 13;
  m.inputs.push_back(valueInfo("x", kFloat, {4, 6}));
  m.nodes = {
      node("Pad", {"x"}, {"p"}, "pad_attr", {attrInts("pads", {0, 1, 0, 1}), attrFloat("value", 2.5f)}),
      node("Clip", {"x"}, {"c"}, "clip_attr", {attrFloat("min", -1.f), attrFloat("max", 6.f)}),
  };
  m.outputs = {valueInfo("p", kFloat, {}, false), valueInfo("c", kFloat, {}, false)};
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;
  const ir::Node* pad = findNode(graph, "pad_attr");
  ASSERT_EQ(pad->inputs.size(), 3u);
  EXPECT_EQ(int64Input(graph, *pad, 1), (std::vector<int64_t>{0, 1, 0, 1}));
  EXPECT_EQ(contents<float>(*graph.constantOf(pad->inputs[2])), (std::vector<float>{2.5f}));
  EXPECT_FALSE(pad->attrs.has("pads"));
  const ir::Node* clip = findNode(graph, "clip_attr");
  ASSERT_EQ(clip->inputs.size(), 3u);
  EXPECT_EQ(contents<float>(*graph.constantOf(clip->inputs[1])), (std::vector<float>{-1.f}));
  EXPECT_EQ(contents<float>(*graph.constantOf(clip->inputs[2])), (std::vector<float>{6.f}));
}

TEST(OnnxImporter, AttributeAndInputFormTogetherIsAnError) {
  ModelBuilder m;
  m.opset = 13;
  m.inputs.push_back(valueInfo("x", kFloat, {4, 6}));
  m.initializers.push_back(int64DataTensor("axes", {1}, {0}));
  m.nodes = {node("Unsqueeze", {"x", "axes"}, {"u"}, "both", {attrInts("axes", {0})})};
  m.outputs = {valueInfo("u", kFloat, {}, false)};
  auto g = importUnchecked(m);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("node 'both' (Unsqueeze)"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("'axes'"), std::string::npos);
}

TEST(OnnxImporter, ConstantNodesAndDropout) {
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {2, 2}));
  m.nodes = {
      node("Constant", {}, {"k_tensor"}, "k1", {attrTensor("value", rawTensor<float>("", kFloat, {2}, {1.f, 2.f}))}),
      node("Constant", {}, {"k_floats"}, "k2", {attrFloats("value_floats", {3.f, 4.f, 5.f})}),
      node("Constant", {}, {"k_int"}, "k3", {attrInt("value_int", 9)}),
      node("Constant", {}, {"k_ints"}, "k4", {attrInts("value_ints", {1, 2})}),
      node("Constant", {}, {"k_float"}, "k5", {attrFloat("value_float", 0.25f)}),
      node("Add", {"x", "k_tensor"}, {"a"}, "add"),
      node("Dropout", {"a"}, {"d", "mask"}, "drop", {attrInt("seed", 3)}),
      node("Mul", {"d", "k_float"}, {"y"}, "mul"),
  };
  m.outputs = {valueInfo("y", kFloat, {2, 2}), valueInfo("k_ints", kInt64, {2}), valueInfo("k_int", kInt64, {}),
               valueInfo("k_floats", kFloat, {3})};
  auto g = importUnchecked(m);
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;
  EXPECT_EQ(graph.nodes.size(), 3u);  // Constants are gone, Dropout is an Identity
  auto constant = [&](const char* name) { return graph.constantOf(graph.findValue(name)); };
  ASSERT_NE(constant("k_tensor"), nullptr);
  EXPECT_EQ(contents<float>(*constant("k_tensor")), (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(contents<float>(*constant("k_floats")), (std::vector<float>{3.f, 4.f, 5.f}));
  EXPECT_EQ(constant("k_int")->dims(), Dims{});
  EXPECT_EQ(contents<int64_t>(*constant("k_int")), (std::vector<int64_t>{9}));
  EXPECT_EQ(contents<int64_t>(*constant("k_ints")), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(contents<float>(*constant("k_float")), (std::vector<float>{0.25f}));
  const ir::Node* drop = findNode(graph, "drop");
  ASSERT_NE(drop, nullptr);
  EXPECT_EQ(drop->op, ir::OpKind::kIdentity);
  EXPECT_EQ(drop->inputs.size(), 1u);
  EXPECT_EQ(drop->outputs.size(), 1u);
  EXPECT_EQ(graph.findValue("mask"), ir::kNoValue);  // the unused mask is gone
}

TEST(OnnxImporter, DropoutWithUsedMaskIsUnsupported) {
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {2}));
  m.nodes = {node("Dropout", {"x"}, {"d", "mask"}, "drop")};
  m.outputs = {valueInfo("d", kFloat, {2}), valueInfo("mask", kBool, {2})};
  auto g = importUnchecked(m);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(g.status().message().find("node 'drop' (Dropout): mask output 'mask' is used"), std::string::npos)
      << g.status().message();
}

TEST(OnnxImporter, OpsetOutsideRangeIsUnsupported) {
  for (int64_t opset : {7, 12, 29}) {
    ModelBuilder m = convReluReshape();
    m.opset = opset;
    auto g = importUnchecked(m);
    ASSERT_FALSE(g) << opset;
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("opset " + std::to_string(opset)), std::string::npos) << g.status().message();
  }
}

// --- whole-model error reporting ---------------------------------------------------------------------------------

TEST(OnnxImporter, EveryUnsupportedNodeIsListed) {
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {1, 4}));
  m.nodes = {
      node("Relu", {"x"}, {"a"}, "ok_relu"),
      node("FooBar", {"a"}, {"b"}, "foo"),
      node("RoiAlign", {"b", "b"}, {"c"}, "roi"),
      node("FusedConv", {"c"}, {"d"}, "ms_op", {}, "com.microsoft"),
      node("Relu", {"d"}, {"e"}, "with_graph", {attrGraph("body", Proto())}),
      node("BazQux", {"e"}, {"y"}),  // unnamed
  };
  m.extraOpsets = {{"com.microsoft", 1}};
  m.outputs = {valueInfo("y", kFloat, {1, 4})};
  for (bool check : {false, true}) {
    const std::string bytes = m.serialize();
    auto g = importModel(bytes.data(), bytes.size(), "", ImportOptions{.checkSupport = check});
    ASSERT_FALSE(g);
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported) << g.status().message();
    const std::string msg = g.status().message();
    for (const char* expected : {"node 'foo' (FooBar): unknown operator", "node 'roi' (RoiAlign): unknown operator",
                                 "node 'ms_op' (com.microsoft::FusedConv): operators of domain 'com.microsoft'",
                                 "node 'with_graph' (Relu): attribute 'body' holds a subgraph",
                                 "node 'BazQux_5' (BazQux): unknown operator"})
      EXPECT_NE(msg.find(expected), std::string::npos) << "missing '" << expected << "' in:\n" << msg;
    if (!check) EXPECT_EQ(msg.find("ok_relu"), std::string::npos) << msg;  // a fine node is not listed
  }
}

TEST(OnnxImporter, UnsupportedAndInvalidTogetherIsInvalidModel) {
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {1, 4}));
  m.nodes = {node("FooBar", {"x"}, {"a"}, "foo"), node("Relu", {"nowhere"}, {"y"}, "reads_undefined")};
  m.outputs = {valueInfo("y", kFloat, {1, 4})};
  auto g = importUnchecked(m);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("node 'foo' (FooBar)"), std::string::npos);
  EXPECT_NE(g.status().message().find("node 'reads_undefined' (Relu): input 'nowhere' is not produced"),
            std::string::npos)
      << g.status().message();
}

TEST(OnnxImporter, DefaultImportChecksImplementedOps) {
  // Whether Relu is implemented depends on the op families; either the import succeeds or it says so by name.
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {1, 4}));
  m.nodes = {node("Relu", {"x"}, {"y"}, "r")};
  m.outputs = {valueInfo("y", kFloat, {1, 4})};
  const std::string bytes = m.serialize();
  auto g = importModel(bytes.data(), bytes.size(), "");
  if (!g) {
    EXPECT_EQ(g.status().code(), StatusCode::kUnsupported);
    EXPECT_NE(g.status().message().find("node 'r' (Relu): operator Relu is not implemented"), std::string::npos)
        << g.status().message();
  }
}

TEST(OnnxImporter, CycleIsReportedWithNodeNames) {
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {2}));
  m.nodes = {node("Add", {"x", "b"}, {"a"}, "cyc_a"), node("Relu", {"a"}, {"b"}, "cyc_b"),
             node("Relu", {"b"}, {"y"}, "after")};
  m.outputs = {valueInfo("y", kFloat, {2})};
  auto g = importUnchecked(m);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(g.status().message().find("cycle"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("cyc_a"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("cyc_b"), std::string::npos) << g.status().message();
}

struct BadModelCase {
  const char* label;
  void (*mutate)(ModelBuilder&);
  StatusCode code;
  const char* expected;
};

ModelBuilder tinyModel() {
  ModelBuilder m;
  m.inputs.push_back(valueInfo("x", kFloat, {2, 3}));
  m.initializers.push_back(rawTensor<float>("w", kFloat, {2, 3}, {1, 2, 3, 4, 5, 6}));
  m.nodes = {node("Add", {"x", "w"}, {"y"}, "add")};
  m.outputs = {valueInfo("y", kFloat, {2, 3})};
  return m;
}

TEST(OnnxImporter, InvalidModelsNameThePlace) {
  const std::vector<BadModelCase> cases = {
      {"raw_data too short", [](ModelBuilder& m) { m.initializers[0] = rawTensor<float>("w", kFloat, {2, 3}, {1, 2}); },
       StatusCode::kInvalidModel, "initializer 'w': raw_data holds 8 bytes but shape 2x3 of float32 needs 24"},
      {"float_data too long",
       [](ModelBuilder& m) { m.initializers[0] = floatDataTensor("w", {2}, {1, 2, 3}); }, StatusCode::kInvalidModel,
       "initializer 'w': float_data holds 3 values but shape 2 of float32 needs 2"},
      {"negative dim", [](ModelBuilder& m) { m.initializers[0] = rawTensor<float>("w", kFloat, {-1, 2}, {1, 2}); },
       StatusCode::kInvalidModel, "initializer 'w': dim 0 is -1"},
      {"huge dims", [](ModelBuilder& m) { m.initializers[0] = tensorHeader("w", kFloat, {1LL << 40, 1LL << 40}); },
       StatusCode::kInvalidModel, "initializer 'w': shape"},
      {"unknown dtype", [](ModelBuilder& m) { m.initializers[0] = rawTensor<float>("w", 99, {1}, {1}); },
       StatusCode::kInvalidModel, "initializer 'w': element type 99"},
      {"complex dtype", [](ModelBuilder& m) { m.initializers[0] = rawTensor<float>("w", kComplex64, {1}, {1, 2}); },
       StatusCode::kUnsupported, "initializer 'w': element type complex64 is not supported"},
      {"string initializer", [](ModelBuilder& m) { m.initializers[0] = tensorHeader("w", kString, {1}); },
       StatusCode::kUnsupported, "initializer 'w': string tensors"},
      {"nameless initializer", [](ModelBuilder& m) { m.initializers.push_back(rawTensor<float>("", kFloat, {1}, {1})); },
       StatusCode::kInvalidModel, "initializer #1 has no name"},
      {"initializer twice", [](ModelBuilder& m) { m.initializers.push_back(m.initializers[0]); },
       StatusCode::kInvalidModel, "initializer 'w' is defined twice"},
      {"input without type", [](ModelBuilder& m) { m.inputs[0] = Proto().bytes(1, "x"); }, StatusCode::kInvalidModel,
       "graph input 'x' has no type"},
      {"negative input dim", [](ModelBuilder& m) { m.inputs[0] = valueInfo("x", kFloat, {2, Dim(int64_t{-5})}); },
       StatusCode::kInvalidModel, "graph input 'x': dim 1 is -5"},
      {"undefined input", [](ModelBuilder& m) { m.nodes[0] = node("Add", {"x", "ghost"}, {"y"}, "add"); },
       StatusCode::kInvalidModel, "node 'add' (Add): input 'ghost' is not produced by any node"},
      {"output produced twice", [](ModelBuilder& m) { m.nodes.push_back(node("Relu", {"x"}, {"y"}, "again")); },
       StatusCode::kInvalidModel, "node 'again' (Relu): output 'y' is already defined by node 'add' (Add)"},
      {"output overwrites an input", [](ModelBuilder& m) { m.nodes.push_back(node("Relu", {"y"}, {"x"}, "clobber")); },
       StatusCode::kInvalidModel, "node 'clobber' (Relu): output 'x' is already defined by graph input 'x'"},
      {"graph output not produced", [](ModelBuilder& m) { m.outputs.push_back(valueInfo("z", kFloat, {1})); },
       StatusCode::kInvalidModel, "graph output 'z' is not produced"},
      {"graph output twice", [](ModelBuilder& m) { m.outputs.push_back(m.outputs[0]); }, StatusCode::kInvalidModel,
       "graph output 'y' is listed twice"},
      {"no outputs", [](ModelBuilder& m) { m.outputs.clear(); }, StatusCode::kInvalidModel, "no outputs"},
      {"missing op_type", [](ModelBuilder& m) { m.nodes[0] = Proto().bytes(1, "x").bytes(2, "y").bytes(3, "anon"); },
       StatusCode::kInvalidModel, "node 'anon' (): the node has no op_type"},
      {"sequence input",
       [](ModelBuilder& m) {
         m.inputs[0] = Proto().bytes(1, "x").message(2, Proto().message(4, Proto()));
       },
       StatusCode::kUnsupported, "graph input 'x' is not a tensor"},
      {"cast to string", [](ModelBuilder& m) { m.nodes.push_back(node("Cast", {"y"}, {"s"}, "cast", {attrInt("to", kString)})); },
       StatusCode::kUnsupported, "node 'cast' (Cast): attribute 'to': string tensors"},
      {"sparse constant",
       [](ModelBuilder& m) {
         m.nodes.push_back(node("Constant", {}, {"k"}, "sparse", {Proto().bytes(1, "sparse_value").varint(20, 11)}));
       },
       StatusCode::kUnsupported, "node 'sparse' (Constant): sparse_value constants are not supported"},
      {"attribute twice",
       [](ModelBuilder& m) { m.nodes[0] = node("Add", {"x", "w"}, {"y"}, "add", {attrInt("a", 1), attrInt("a", 2)}); },
       StatusCode::kInvalidModel, "node 'add' (Add): attribute 'a' appears twice"},
      {"no default opset", [](ModelBuilder& m) { m.opset = 13; m.extraOpsets = {{"ai.onnx", 14}}; },
       StatusCode::kInvalidModel, "default domain twice"},
  };
  for (const auto& c : cases) {
    ModelBuilder m = tinyModel();
    c.mutate(m);
    auto g = importUnchecked(m);
    if (std::string(c.expected).empty()) {
      EXPECT_TRUE(g) << c.label << ": " << g.status().toString();
      continue;
    }
    ASSERT_FALSE(g) << c.label;
    EXPECT_EQ(g.status().code(), c.code) << c.label << ": " << g.status().toString();
    EXPECT_NE(g.status().message().find(c.expected), std::string::npos)
        << c.label << ": expected '" << c.expected << "' in:\n" << g.status().message();
  }
}

TEST(OnnxImporter, ImportedGraphPassesTheVerifierAgain) {
  auto g = importUnchecked(convReluReshape());
  ASSERT_TRUE(g) << g.status().toString();
  EXPECT_TRUE(ir::verifyGraph(**g).isOk());
  EXPECT_FALSE(ir::printGraph(**g).empty());
}

}  // namespace
}  // namespace kiln::onnx

namespace kiln::onnx {
namespace {

// kiln's passes mark convolutions and pools with attributes of their own (data_format, a fused activation); a model
// that carries them would otherwise run as if kiln had fused or re-laid it out, so the importer refuses it.
TEST(OnnxImporter, RefusesKilnOwnAttributesOnConvAndPools) {
  using namespace testing;
  for (const auto& [op, attr] : std::vector<std::pair<std::string, Proto>>{
           {"Relu", attrString("activation", "Sigmoid")},  // other ops are left alone
           {"MaxPool", attrString("data_format", "NHWC")},
           {"Conv", attrString("activation", "Sigmoid")},
           {"Conv", attrFloat("activation_max", 6.f)}}) {
    ModelBuilder m;
    m.opset = 17;
    m.inputs.push_back(valueInfo("x", kFloat, {1, 3, 5, 5}));
    m.outputs.push_back(valueInfo("y", kFloat, {}, /*hasShape=*/false));
    std::vector<Proto> attrs{attr};
    std::vector<std::string> inputs{"x"};
    if (op == "Conv") {
      m.initializers.push_back(floatDataTensor("w", {4, 3, 1, 1}, std::vector<float>(12, 0.5f)));
      inputs.push_back("w");
    }
    if (op == "MaxPool") attrs.push_back(attrInts("kernel_shape", {2, 2}));
    m.nodes.push_back(node(op, inputs, {"y"}, "n0", attrs));
    auto g = importUnchecked(m);
    if (op == "Relu") {
      EXPECT_TRUE(g.hasValue()) << g.status().toString();
      continue;
    }
    ASSERT_FALSE(g.hasValue()) << op << " with a kiln attribute was imported";
    EXPECT_NE(g.status().message().find("kiln reserves it"), std::string::npos) << g.status().toString();
    EXPECT_NE(g.status().message().find("n0"), std::string::npos) << g.status().toString();
  }
}

}  // namespace
}  // namespace kiln::onnx
