#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "builder/timing_cache.h"

namespace kiln::builder {
namespace {

std::string tempPath(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

TEST(TimingCache, SavesAndLoadsEntries) {
  const std::string path = tempPath("kiln_timing_cache_roundtrip.txt");
  TimingCache cache;
  cache.put("gpu|Conv|a=1|f16[1x3]|f16[1x8]", "cudnn:algo=1");
  cache.put("gpu|MatMul||x|y", "lt:7");
  ASSERT_TRUE(cache.save(path).isOk());
  auto loaded = TimingCache::load(path);
  ASSERT_TRUE(loaded.hasValue()) << loaded.status().toString();
  EXPECT_EQ(loaded->size(), 2u);
  EXPECT_EQ(loaded->find("gpu|Conv|a=1|f16[1x3]|f16[1x8]").value_or(""), "cudnn:algo=1");
  EXPECT_FALSE(loaded->find("missing").has_value());
  std::remove(path.c_str());
}

TEST(TimingCache, MissingFileIsEmptyAndMalformedLinesAreSkipped) {
  auto none = TimingCache::load(tempPath("kiln_timing_cache_does_not_exist.txt"));
  ASSERT_TRUE(none.hasValue());
  EXPECT_EQ(none->size(), 0u);
  const std::string path = tempPath("kiln_timing_cache_bad.txt");
  {
    std::ofstream f(path);
    f << "good\ttactic\nno tab here\n\tempty key\ntoo\tmany\ttabs\n" << std::string(3, '\0') << "\n";
  }
  auto loaded = TimingCache::load(path);
  ASSERT_TRUE(loaded.hasValue());
  EXPECT_EQ(loaded->size(), 1u);
  EXPECT_EQ(loaded->skippedLines(), 4);
  std::remove(path.c_str());
}

TEST(TimingCache, KeyDependsOnShapesAttributesAndDevice) {
  ir::Graph g;
  ir::Node n;
  n.name = "c";
  n.op = ir::OpKind::kConv;
  n.attrs.set("strides", std::vector<int64_t>{2, 2});
  std::vector<backends::DeviceTensor> in{{DataType::kFloat16, {1, 8, 32, 32}}}, out{{DataType::kFloat16, {1, 8, 16, 16}}};
  const auto base = TimingCache::keyFor(g, n, in, out, "H200");
  std::vector<backends::DeviceTensor> in2{{DataType::kFloat16, {2, 8, 32, 32}}};
  EXPECT_NE(base, TimingCache::keyFor(g, n, in2, out, "H200"));
  EXPECT_NE(base, TimingCache::keyFor(g, n, in, out, "H100"));
  n.attrs.set("strides", std::vector<int64_t>{1, 1});
  EXPECT_NE(base, TimingCache::keyFor(g, n, in, out, "H200"));
}

}  // namespace
}  // namespace kiln::builder
