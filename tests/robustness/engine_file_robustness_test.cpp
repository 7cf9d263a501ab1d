// Hostile engine files: every truncation, every single-byte change, random bytes, and random changes behind
// recomputed checksums. The reader must answer with an error (or, behind valid checksums, a model the writer
// accepts again) and never crash or read out of bounds (run once under -fsanitize=address; see the report).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "engine/engine_file.h"
#include "ir/verifier.h"
#include "test_util/engine_bytes.h"

namespace kiln::engine {
namespace {

using test::Bytes;
using test::getU32;
using test::getU64;
using test::putU32;
using test::referenceCrc32c;
// Recomputes the checksums of a file whose header and table are still sane (as the writer laid them out).
void resign(Bytes& b, const Bytes& layoutFrom) {
  const uint32_t count = getU32(layoutFrom, 60);
  const uint64_t table = getU64(layoutFrom, 64);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = table + i * 32;
    putU32(b, e + 24, referenceCrc32c(b.data() + getU64(layoutFrom, e + 8), getU64(layoutFrom, e + 16)));
  }
  putU32(b, 72, referenceCrc32c(b.data() + table, size_t{count} * 32));
  putU32(b, 124, referenceCrc32c(b.data(), 124));
}

// Small, but with a constant, an omitted input, every attribute kind and a dynamic dim.
EngineModel smallModel() {
  EngineModel m;
  ir::Graph& g = m.graph;
  const ir::ValueId x = g.addValue("x", DataType::kFloat32);
  g.values[x].rankKnown = true;
  g.values[x].dims = {kDynamicDim, 2};
  g.values[x].dimNames = {"n", ""};
  g.inputs = {x};
  Tensor c = Tensor::allocate(DataType::kFloat32, {2}).value();
  c.dataAs<float>()[0] = 1.5f;
  c.dataAs<float>()[1] = -3.0f;
  const ir::ValueId k = g.addConstant("k", c);
  const ir::ValueId y = g.addValue("y", DataType::kFloat32);
  const ir::ValueId z = g.addValue("z", DataType::kFloat32);
  ir::Node add{"add", ir::OpKind::kAdd, {x, k}, {y}, {}};
  add.attrs.set("i", int64_t{3});
  add.attrs.set("f", 0.5f);
  add.attrs.set("s", std::string("str"));
  add.attrs.set("is", std::vector<int64_t>{1, 2});
  add.attrs.set("fs", std::vector<float>{0.25f});
  add.attrs.set("ss", std::vector<std::string>{"a", "bc"});
  Tensor t = Tensor::allocate(DataType::kInt8, {3}).value();
  t.dataAs<int8_t>()[0] = 7;
  add.attrs.set("t", t);
  g.nodes.push_back(add);
  g.nodes.push_back({"clip", ir::OpKind::kClip, {y, ir::kNoValue, k}, {z}, {}});
  g.outputs = {z};
  EXPECT_TRUE(ir::verifyGraph(g).isOk());
  m.profiles.push_back({{{"x", {1, 2}, {4, 2}, {8, 2}}}});
  m.tactics = {"t0", ""};
  m.metadata = {{"kiln.version", "test"}};
  return m;
}

Bytes smallEngine() {
  auto bytes = writeEngine(smallModel());
  EXPECT_TRUE(bytes) << bytes.status().toString();
  return bytes ? *bytes : Bytes{};
}

// Reads from a heap copy of exactly `size` bytes, so any read past the end is caught by the sanitizer.
Expected<EngineModel> readExact(const Bytes& b, size_t size) {
  std::unique_ptr<std::byte[]> copy(new std::byte[size ? size : 1]);
  if (size) std::memcpy(copy.get(), b.data(), size);
  return readEngine(copy.get(), size);
}

TEST(EngineFileRobustness, SmallEngineReadsBack) {
  const Bytes b = smallEngine();
  ASSERT_FALSE(b.empty());
  auto r = readExact(b, b.size());
  ASSERT_TRUE(r) << r.status().toString();
}

TEST(EngineFileRobustness, EveryTruncationIsAnError) {
  const Bytes b = smallEngine();
  ASSERT_FALSE(b.empty());
  for (size_t size = 0; size < b.size(); ++size) {
    auto r = readExact(b, size);
    ASSERT_FALSE(r) << "truncated to " << size << " bytes was accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidEngine) << size;
    if (size >= 8) {
      EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << size << ": " << r.status().message();
    }
  }
}

TEST(EngineFileRobustness, EverySingleByteChangeIsAnError) {
  const Bytes b = smallEngine();
  ASSERT_FALSE(b.empty());
  for (uint8_t mask : {uint8_t{0xFF}, uint8_t{0x01}}) {
    for (size_t i = 0; i < b.size(); ++i) {
      Bytes changed = b;
      changed[i] ^= std::byte{mask};
      auto r = readExact(changed, changed.size());
      ASSERT_FALSE(r) << "byte " << i << " xor " << int(mask) << " was accepted";
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidEngine) << i;
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

TEST(EngineFileRobustness, RandomBytesAreRefused) {
  std::mt19937_64 rng(42);
  const Bytes good = smallEngine();
  for (int trial = 0; trial < 2000; ++trial) {
    Bytes b(rng() % 2048);
    for (auto& x : b) x = std::byte(uint8_t(rng()));
    if (trial % 2 == 1 && b.size() >= 16) std::memcpy(b.data(), good.data(), 16);  // past the magic and version
    auto r = readExact(b, b.size());
    EXPECT_FALSE(r) << trial;
  }
}

TEST(EngineFileRobustness, RandomChangesBehindValidChecksumsNeverCrash) {
  // Changes inside the sections with every checksum recomputed reach the field checks. A change may be valid
  // (a weight value); then the model read back must be one the writer accepts again.
  const Bytes good = smallEngine();
  ASSERT_FALSE(good.empty());
  const uint64_t firstSection = getU64(good, 128 + 8);
  std::mt19937_64 rng(7);
  int accepted = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    Bytes b = good;
    const int changes = 1 + int(rng() % 4);
    for (int c = 0; c < changes; ++c) {
      const size_t at = firstSection + rng() % (good.size() - firstSection);
      switch (rng() % 4) {
        case 0: b[at] ^= std::byte(uint8_t(1u << (rng() % 8))); break;
        case 1: b[at] = std::byte(uint8_t(rng())); break;
        case 2: b[at] = std::byte{0xFF}; break;
        default:
          if (at + 4 <= b.size()) putU32(b, at, uint32_t(rng() % 2 ? 0xFFFFFFFFu : 0x7FFFFFF0u));
      }
    }
    resign(b, good);
    auto r = readExact(b, b.size());
    if (r) {
      ++accepted;
      auto again = writeEngine(*r);
      EXPECT_TRUE(again) << "trial " << trial << ": read back but not writable: " << again.status().toString();
    } else {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidEngine) << r.status().toString();
    }
  }
  // Most random changes hit structure; some hit weight or attribute payloads and stay valid.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 20000);
}

TEST(EngineFileRobustness, HugeCountsDoNotAllocate) {
  // Every u32 position in the sections set to 0xFFFFFFFF, checksums recomputed: each must be refused (or be a
  // payload), and quickly; an unchecked count would try to reserve tens of gigabytes.
  const Bytes good = smallEngine();
  const uint64_t firstSection = getU64(good, 128 + 8);
  for (size_t at = firstSection; at + 4 <= good.size(); ++at) {
    Bytes b = good;
    putU32(b, at, 0xFFFFFFFFu);
    resign(b, good);
    auto r = readExact(b, b.size());
    if (!r) EXPECT_EQ(r.status().code(), StatusCode::kInvalidEngine);
  }
}

}  // namespace
}  // namespace kiln::engine
