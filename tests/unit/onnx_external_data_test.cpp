// External data for ONNX initializers: reads inside the model's folder, refuses every path that leaves it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "ir/verifier.h"
#include "onnx/importer.h"
#include "onnx/testing/onnx_model_writer.h"
#include "unit/onnx_import_helpers.h"

namespace kiln::onnx {
namespace {

using namespace kiln::onnx::testing;  // NOLINT
namespace fs = std::filesystem;

// --- external data ---------------------------------------------------------------------------------------------

class OnnxExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("kiln_onnx_ext_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "model" / "weights");
    // 8 junk bytes, then 6 floats.
    std::vector<float> values = {1.f, -2.f, 3.5f, 4.f, 5.f, -6.25f};
    writeFile(root_ / "model" / "weights" / "w.bin", values, 8);
    writeFile(root_ / "outside.bin", values, 8);
  }
  void TearDown() override { fs::remove_all(root_); }

  static void writeFile(const fs::path& p, const std::vector<float>& values, size_t skip) {
    std::ofstream f(p, std::ios::binary);
    const std::string junk(skip, 'j');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    f.write(reinterpret_cast<const char*>(values.data()), static_cast<std::streamsize>(values.size() * 4));
  }

  ModelBuilder modelWith(const std::vector<std::pair<std::string, std::string>>& entries, Dims dims = {2, 3}) {
    ModelBuilder m;
    Proto w = tensorHeader("w_ext", kFloat, dims);
    externalData(w, entries);
    m.initializers.push_back(w);
    m.inputs.push_back(valueInfo("x", kFloat, {2, 3}));
    m.nodes = {node("Add", {"x", "w_ext"}, {"y"}, "add")};
    m.outputs = {valueInfo("y", kFloat, {2, 3})};
    return m;
  }
  std::string base() const { return (root_ / "model").string(); }

  fs::path root_;
};

TEST_F(OnnxExternalData, ReadsInsideTheModelFolder) {
  auto g = importUnchecked(modelWith({{"location", "weights/w.bin"}, {"offset", "8"}, {"length", "24"}}), base());
  ASSERT_TRUE(g) << g.status().toString();
  const Tensor* w = (*g)->constantOf((*g)->findValue("w_ext"));
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(contents<float>(*w), (std::vector<float>{1.f, -2.f, 3.5f, 4.f, 5.f, -6.25f}));
  // Without a length the rest of the file is used; "./" and a detour through the folder itself are fine.
  auto g2 = importUnchecked(modelWith({{"location", "./weights/../weights/w.bin"}, {"offset", "8"}}), base());
  ASSERT_TRUE(g2) << g2.status().toString();
  // The last 4 floats at offset 16, as a [4] tensor.
  auto g3 = importUnchecked(modelWith({{"location", "weights/w.bin"}, {"offset", "16"}}, {4}), base());
  ASSERT_TRUE(g3) << g3.status().toString();
  EXPECT_EQ(contents<float>(*(*g3)->constantOf((*g3)->findValue("w_ext"))), (std::vector<float>{3.5f, 4.f, 5.f, -6.25f}));
}

TEST_F(OnnxExternalData, PathsOutsideTheFolderAreRefused) {
  const std::string absoluteOutside = (root_ / "outside.bin").string();
  for (const std::string& location : {std::string("../outside.bin"), std::string("weights/../../outside.bin"),
                                      absoluteOutside, std::string("/etc/passwd")}) {
    auto g = importUnchecked(modelWith({{"location", location}, {"offset", "8"}}), base());
    ASSERT_FALSE(g) << location;
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel);
    EXPECT_NE(g.status().message().find("initializer 'w_ext'"), std::string::npos) << g.status().message();
    EXPECT_NE(g.status().message().find("'" + location + "'"), std::string::npos) << g.status().message();
    EXPECT_NE(g.status().message().find("outside the model folder"), std::string::npos) << g.status().message();
  }
}

TEST_F(OnnxExternalData, SymlinkLeavingTheFolderIsRefused) {
  std::error_code ec;
  fs::create_symlink(root_ / "outside.bin", root_ / "model" / "link.bin", ec);
  if (ec) GTEST_SKIP() << "cannot create a symlink here: " << ec.message();
  auto g = importUnchecked(modelWith({{"location", "link.bin"}, {"offset", "8"}}), base());
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("outside the model folder"), std::string::npos) << g.status().message();
}

TEST_F(OnnxExternalData, EmptyBaseDirForbidsExternalData) {
  auto g = importUnchecked(modelWith({{"location", "weights/w.bin"}, {"offset", "8"}}), "");
  ASSERT_FALSE(g);
  EXPECT_NE(g.status().message().find("initializer 'w_ext'"), std::string::npos) << g.status().message();
  EXPECT_NE(g.status().message().find("no model folder"), std::string::npos) << g.status().message();
}

TEST_F(OnnxExternalData, OffsetAndLengthAreChecked) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> entries;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"location", "weights/w.bin"}, {"offset", "33"}}, "past the end"},             // file has 32 bytes
      {{{"location", "weights/w.bin"}, {"offset", "16"}, {"length", "24"}}, "runs past the end"},
      {{{"location", "weights/w.bin"}, {"offset", "8"}, {"length", "20"}}, "need 24 bytes"},
      {{{"location", "weights/w.bin"}, {"offset", "-8"}}, "non-negative integer"},
      {{{"location", "weights/w.bin"}, {"offset", "8x"}}, "non-negative integer"},
      {{{"location", "weights/w.bin"}, {"offset", "99999999999999999999999"}}, "non-negative integer"},
      {{{"location", "weights/missing.bin"}}, "does not exist"},
      {{{"offset", "0"}}, "no 'location'"},
  };
  for (const auto& c : cases) {
    auto g = importUnchecked(modelWith(c.entries), base());
    ASSERT_FALSE(g) << c.expected;
    EXPECT_EQ(g.status().code(), StatusCode::kInvalidModel) << g.status().message();
    EXPECT_NE(g.status().message().find("initializer 'w_ext'"), std::string::npos) << g.status().message();
    EXPECT_NE(g.status().message().find(c.expected), std::string::npos) << g.status().message();
  }
}

// An independent writer: the onnx Python package saves a model with external data; kiln must read the same values.
TEST_F(OnnxExternalData, ReadsAModelSavedByTheOnnxPackage) {
  if (std::system("python3 -c 'import onnx, numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 with onnx needed";
  const fs::path dir = root_ / "py";
  fs::create_directories(dir);
  const std::string script = R"(
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
w = (np.arange(4 * 3 * 3 * 3, dtype=np.float32) * 0.25 - 7.0).reshape(4, 3, 3, 3)
b = np.array([1, -2, 3, -4], dtype=np.float32)
big = np.arange(5000, dtype=np.float32) * 0.5
g = helper.make_graph(
    [helper.make_node('Conv', ['x', 'w', 'b'], ['c'], name='conv', pads=[1, 1, 1, 1]),
     helper.make_node('ReduceMean', ['c'], ['y'], name='mean', axes=[2, 3], keepdims=0),
     helper.make_node('Identity', ['big'], ['big_out'], name='id')],
    'g', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 3, 8, 8])],
    [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', 4]),
     helper.make_tensor_value_info('big_out', TensorProto.FLOAT, [5000])],
    [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b'), numpy_helper.from_array(big, 'big')])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
onnx.checker.check_model(m)
onnx.save_model(m, sys.argv[1], save_as_external_data=True, all_tensors_to_one_file=True,
                location='weights.data', size_threshold=100)
)";
  {
    std::ofstream(dir / "make.py") << script;
  }
  const std::string modelPath = (dir / "model.onnx").string();
  ASSERT_EQ(std::system(("python3 " + (dir / "make.py").string() + " " + modelPath).c_str()), 0);
  ASSERT_TRUE(fs::exists(dir / "weights.data"));
  std::ifstream f(modelPath, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto g = importModel(bytes.data(), bytes.size(), dir.string(), ImportOptions{.checkSupport = false});
  ASSERT_TRUE(g) << g.status().toString();
  const ir::Graph& graph = **g;
  const Tensor* w = graph.constantOf(graph.findValue("w"));
  const Tensor* big = graph.constantOf(graph.findValue("big"));
  ASSERT_NE(w, nullptr);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(w->dims(), (Dims{4, 3, 3, 3}));
  auto wv = contents<float>(*w);
  for (size_t i = 0; i < wv.size(); ++i) ASSERT_EQ(wv[i], static_cast<float>(i) * 0.25f - 7.f) << i;
  auto bigv = contents<float>(*big);
  ASSERT_EQ(bigv.size(), 5000u);
  for (size_t i = 0; i < bigv.size(); ++i) ASSERT_EQ(bigv[i], static_cast<float>(i) * 0.5f) << i;
  const ir::Node* mean = findNode(graph, "mean");
  ASSERT_NE(mean, nullptr);
  EXPECT_EQ(int64Input(graph, *mean, 1), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(graph.values[graph.inputs[0]].dimNames[0], "N");
  // The same model without its folder cannot reach the weights.
  auto noDir = importModel(bytes.data(), bytes.size(), "", ImportOptions{.checkSupport = false});
  ASSERT_FALSE(noDir);
  EXPECT_NE(noDir.status().message().find("'weights.data'"), std::string::npos) << noDir.status().message();
}

}  // namespace
}  // namespace kiln::onnx
