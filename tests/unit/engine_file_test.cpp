// Engine file: round trip of every field, layout facts read at the documented offsets (docs/engine-format.md),
// and the reader's refusals with their messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "engine/checksum.h"
#include "engine/engine_file.h"
#include "ir/verifier.h"
#include "test_util/engine_bytes.h"

namespace kiln::engine {
namespace {

using test::Bytes;
using test::getU32;
using test::getU64;
using test::putU32;
using test::putU64;
using test::referenceCrc32c;

// Recomputes every checksum (sections, table, header) at the documented offsets, so a test can reach the checks
// behind the checksums.
// Parts that a test moved out of the file (a huge count or offset) are left as they are.
void resign(Bytes& b) {
  const uint64_t count = getU32(b, 60);
  const uint64_t table = getU64(b, 64);
  const bool tableFits = table <= b.size() && count * 32 <= b.size() - table;
  for (uint64_t i = 0; tableFits && i < count; ++i) {
    const size_t e = table + i * 32;
    const uint64_t offset = getU64(b, e + 8), size = getU64(b, e + 16);
    if (offset <= b.size() && size <= b.size() - offset)
      putU32(b, e + 24, referenceCrc32c(b.data() + offset, size));
  }
  if (tableFits) putU32(b, 72, referenceCrc32c(b.data() + table, count * 32));
  putU32(b, 124, referenceCrc32c(b.data(), 124));
}

struct SectionPos {
  uint64_t offset, size;
};
SectionPos sectionOf(const Bytes& b, uint32_t type) {
  const uint32_t count = getU32(b, 60);
  const uint64_t table = getU64(b, 64);
  for (uint32_t i = 0; i < count; ++i)
    if (getU32(b, table + i * 32) == type) return {getU64(b, table + i * 32 + 8), getU64(b, table + i * 32 + 16)};
  ADD_FAILURE() << "no section " << type;
  return {0, 0};
}

size_t find(const Bytes& b, const std::string& s) {
  for (size_t i = 0; i + s.size() <= b.size(); ++i)
    if (std::memcmp(b.data() + i, s.data(), s.size()) == 0) return i;
  ADD_FAILURE() << "'" << s << "' not found";
  return 0;
}

template <typename T>
Tensor randomTensor(DataType dtype, Dims dims, std::mt19937& rng) {
  Tensor t = Tensor::allocate(dtype, std::move(dims)).value();
  auto* p = static_cast<uint8_t*>(t.data());
  for (size_t i = 0; i < t.byteSize(); ++i) p[i] = static_cast<uint8_t>(rng());
  return t;
}

// A graph touching every attribute kind, several dtypes, unknown rank, dynamic and named dims, an omitted input.
EngineModel makeModel() {
  std::mt19937 rng(1234);
  EngineModel m;
  ir::Graph& g = m.graph;
  g.opsetVersion = 19;
  g.producerName = "engine_file_test";
  const ir::ValueId x = g.addValue("x", DataType::kFloat32);
  g.values[x].rankKnown = true;
  g.values[x].dims = {kDynamicDim, 4};
  g.values[x].dimNames = {"batch", ""};
  g.inputs = {x};
  const ir::ValueId w = g.addConstant("w", randomTensor<float>(DataType::kFloat32, {4, 3}, rng));
  const ir::ValueId b = g.addConstant("b_fp16", randomTensor<uint16_t>(DataType::kFloat16, {3}, rng));
  const ir::ValueId idx = g.addConstant("idx_i64", randomTensor<int64_t>(DataType::kInt64, {2}, rng));
  g.addConstant("mask_bool", randomTensor<uint8_t>(DataType::kBool, {2, 2}, rng));
  g.addConstant("empty_i32", Tensor::allocate(DataType::kInt32, {0, 5}).value());
  g.addConstant("scalar_f64", randomTensor<double>(DataType::kFloat64, {}, rng));
  g.addConstant("bf16", randomTensor<uint16_t>(DataType::kBFloat16, {5, 7}, rng));  // odd size: 70 bytes
  const ir::ValueId maxv = g.addConstant("max_i8", randomTensor<int8_t>(DataType::kInt8, {1}, rng));

  const ir::ValueId mm = g.addValue("mm", DataType::kFloat32);
  const ir::ValueId sum = g.addValue("sum", DataType::kUndefined);  // unknown rank and type
  const ir::ValueId gathered = g.addValue("gathered", DataType::kFloat32);
  g.values[gathered].rankKnown = true;
  g.values[gathered].dims = {kDynamicDim, 2};
  const ir::ValueId out = g.addValue("out", DataType::kFloat32);

  ir::Node n0{"NODE_MARK", ir::OpKind::kMatMul, {x, w}, {mm}, {}};
  ir::Node n1{"", ir::OpKind::kAdd, {mm, b}, {sum}, {}};
  n1.attrs.set("an_int", int64_t{-9007199254740993});
  n1.attrs.set("a_float", -0.0f);
  n1.attrs.set("a_nan", std::numeric_limits<float>::quiet_NaN());
  n1.attrs.set("a_string", std::string("h\0llo\xff", 7));
  n1.attrs.set("ints", std::vector<int64_t>{1, -1, std::numeric_limits<int64_t>::max(), 0});
  n1.attrs.set("floats", std::vector<float>{1.5f, -2.25f, 1e-38f, INFINITY});
  n1.attrs.set("strings", std::vector<std::string>{"", "a", "unicode \xc3\xa9"});
  n1.attrs.set("empty_ints", std::vector<int64_t>{});
  n1.attrs.set("tensor_i64", randomTensor<int64_t>(DataType::kInt64, {2, 2}, rng));
  n1.attrs.set("tensor_u8", randomTensor<uint8_t>(DataType::kUInt8, {3}, rng));
  ir::Node n2{"gather", ir::OpKind::kGather, {sum, idx}, {gathered}, {}};
  n2.attrs.set("axis", int64_t{1});
  ir::Node n3{"clip", ir::OpKind::kClip, {gathered, ir::kNoValue, maxv}, {out}, {}};
  g.nodes = {n0, n1, n2, n3};
  g.outputs = {out};
  if (!ir::verifyGraph(g).isOk()) ADD_FAILURE() << ir::verifyGraph(g).message();

  m.profiles.push_back({{{"x", {1, 4}, {8, 4}, {16, 4}}}});
  m.profiles.push_back({{{"x", {17, 4}, {17, 4}, {33, 4}}}});
  m.device = DeviceKind::kCuda;
  m.tactics = {"cuda.gemm.tile128x64", "", "cuda.gather", "cuda.clip.vec4"};
  m.metadata = {{"kiln.version", "0.1.0"}, {"device.name", "NVIDIA H100"}, {"empty", ""}, {"\xc3\xa9", "x"}};
  return m;
}

void expectTensorsEqual(const Tensor& a, const Tensor& b, const std::string& what) {
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.dims(), b.dims()) << what;
  ASSERT_EQ(a.byteSize(), b.byteSize()) << what;
  if (a.byteSize()) EXPECT_EQ(std::memcmp(a.data(), b.data(), a.byteSize()), 0) << what;
}

uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

void expectAttrsEqual(const ir::Attributes& a, const ir::Attributes& b, const std::string& where) {
  ASSERT_EQ(a.all().size(), b.all().size()) << where;
  for (const auto& [name, va] : a.all()) {
    ASSERT_TRUE(b.has(name)) << where << " " << name;
    const auto& vb = b.all().at(name);
    ASSERT_EQ(va.index(), vb.index()) << where << " " << name;
    if (auto* f = std::get_if<float>(&va)) EXPECT_EQ(floatBits(*f), floatBits(std::get<float>(vb))) << name;
    else if (auto* fs = std::get_if<std::vector<float>>(&va)) {
      const auto& gs = std::get<std::vector<float>>(vb);
      ASSERT_EQ(fs->size(), gs.size());
      for (size_t i = 0; i < fs->size(); ++i) EXPECT_EQ(floatBits((*fs)[i]), floatBits(gs[i])) << name;
    } else if (auto* t = std::get_if<Tensor>(&va)) expectTensorsEqual(*t, std::get<Tensor>(vb), where + " " + name);
    else if (auto* i = std::get_if<int64_t>(&va)) EXPECT_EQ(*i, std::get<int64_t>(vb)) << name;
    else if (auto* str = std::get_if<std::string>(&va)) EXPECT_EQ(*str, std::get<std::string>(vb)) << name;
    else if (auto* is = std::get_if<std::vector<int64_t>>(&va)) EXPECT_EQ(*is, std::get<std::vector<int64_t>>(vb));
    else EXPECT_EQ(std::get<std::vector<std::string>>(va), std::get<std::vector<std::string>>(vb)) << name;
  }
}

void expectModelsEqual(const EngineModel& a, const EngineModel& b) {
  const ir::Graph &ga = a.graph, &gb = b.graph;
  EXPECT_EQ(ga.opsetVersion, gb.opsetVersion);
  EXPECT_EQ(ga.producerName, gb.producerName);
  ASSERT_EQ(ga.values.size(), gb.values.size());
  for (size_t i = 0; i < ga.values.size(); ++i) {
    const ir::Value &va = ga.values[i], &vb = gb.values[i];
    EXPECT_EQ(va.name, vb.name);
    EXPECT_EQ(va.dtype, vb.dtype) << va.name;
    EXPECT_EQ(va.rankKnown, vb.rankKnown) << va.name;
    EXPECT_EQ(va.dims, vb.dims) << va.name;
    EXPECT_EQ(va.dimNames, vb.dimNames) << va.name;
    EXPECT_EQ(va.producer, vb.producer) << va.name;
    EXPECT_EQ(gb.findValue(va.name), static_cast<ir::ValueId>(i)) << "name lookup of " << va.name;
  }
  ASSERT_EQ(ga.nodes.size(), gb.nodes.size());
  for (size_t i = 0; i < ga.nodes.size(); ++i) {
    EXPECT_EQ(ga.nodes[i].name, gb.nodes[i].name);
    EXPECT_EQ(ga.nodes[i].op, gb.nodes[i].op);
    EXPECT_EQ(ga.nodes[i].inputs, gb.nodes[i].inputs);
    EXPECT_EQ(ga.nodes[i].outputs, gb.nodes[i].outputs);
    expectAttrsEqual(ga.nodes[i].attrs, gb.nodes[i].attrs, "node " + std::to_string(i));
  }
  EXPECT_EQ(ga.inputs, gb.inputs);
  EXPECT_EQ(ga.outputs, gb.outputs);
  ASSERT_EQ(ga.constants.size(), gb.constants.size());
  for (const auto& [id, t] : ga.constants) {
    ASSERT_TRUE(gb.isConstant(id)) << id;
    expectTensorsEqual(t, *gb.constantOf(id), ga.values[id].name);
  }
  ASSERT_EQ(a.profiles.size(), b.profiles.size());
  for (size_t p = 0; p < a.profiles.size(); ++p) {
    ASSERT_EQ(a.profiles[p].inputs.size(), b.profiles[p].inputs.size());
    for (size_t i = 0; i < a.profiles[p].inputs.size(); ++i) {
      const auto &ra = a.profiles[p].inputs[i], &rb = b.profiles[p].inputs[i];
      EXPECT_EQ(ra.name, rb.name);
      EXPECT_EQ(ra.min, rb.min);
      EXPECT_EQ(ra.opt, rb.opt);
      EXPECT_EQ(ra.max, rb.max);
    }
  }
  EXPECT_EQ(a.device, b.device);
  EXPECT_EQ(a.tactics, b.tactics);
  EXPECT_EQ(a.metadata, b.metadata);
}

TEST(Crc32c, MatchesPublishedCheckValueAndBitwiseReference) {
  const char* check = "123456789";
  EXPECT_EQ(crc32c(check, 9), 0xE3069283u);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
  std::mt19937 rng(7);
  Bytes data(300);
  for (auto& x : data) x = std::byte(uint8_t(rng()));
  for (size_t start = 0; start < 9; ++start)  // unaligned starts and every tail length
    for (size_t n = 0; n + start <= 120; ++n)
      ASSERT_EQ(crc32c(data.data() + start, n), referenceCrc32c(data.data() + start, n)) << start << " " << n;
}

TEST(EngineFile, RoundTripKeepsEveryField) {
  const EngineModel model = makeModel();
  auto bytes = writeEngine(model);
  ASSERT_TRUE(bytes) << bytes.status().toString();
  auto back = readEngine(bytes->data(), bytes->size());
  ASSERT_TRUE(back) << back.status().toString();
  expectModelsEqual(model, *back);
  // Writing what was read gives the same bytes: the format has a single encoding per model.
  auto again = writeEngine(*back);
  ASSERT_TRUE(again) << again.status().toString();
  EXPECT_EQ(*bytes, *again);
}

TEST(EngineFile, HeaderFieldsAtDocumentedOffsets) {
  auto bytes = writeEngine(makeModel()).value();
  EXPECT_EQ(std::memcmp(bytes.data(), "KILNENG\0", 8), 0);
  EXPECT_EQ(getU32(bytes, 8), kEngineFormatVersion);
  EXPECT_EQ(getU32(bytes, 12), 128u);
  EXPECT_EQ(getU64(bytes, 16), bytes.size());
  EXPECT_NE(bytes[24], std::byte{0});  // a kiln version string
  EXPECT_EQ(getU32(bytes, 56), 1u);    // DeviceKind::kCuda
  EXPECT_EQ(getU32(bytes, 60), 5u);
  EXPECT_EQ(getU64(bytes, 64), 128u);
  EXPECT_EQ(getU32(bytes, 72), referenceCrc32c(bytes.data() + 128, 5 * 32));
  for (size_t i = 76; i < 124; ++i) EXPECT_EQ(bytes[i], std::byte{0}) << i;
  EXPECT_EQ(getU32(bytes, 124), referenceCrc32c(bytes.data(), 124));
  for (uint32_t type = 1; type <= 5; ++type) {
    const SectionPos s = sectionOf(bytes, type);
    EXPECT_EQ(s.offset % (type == 5 ? 256 : 8), 0u) << type;
    const uint32_t count = getU32(bytes, 60);
    for (uint32_t i = 0; i < count; ++i)
      if (getU32(bytes, 128 + i * 32) == type)
        EXPECT_EQ(getU32(bytes, 128 + i * 32 + 24), referenceCrc32c(bytes.data() + s.offset, s.size));
  }
}

TEST(EngineFile, WeightBlobsAre256ByteAlignedInTheBuffer) {
  const EngineModel model = makeModel();
  auto bytes = writeEngine(model).value();
  int checked = 0;
  for (const auto& [id, t] : model.graph.constants) {
    if (t.byteSize() < 8) continue;  // too short to locate by content
    const std::string pattern(static_cast<const char*>(t.data()), t.byteSize());
    const size_t at = find(bytes, pattern);
    EXPECT_EQ(at % 256, 0u) << model.graph.values[id].name << " at " << at;
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST(EngineFile, NewerFormatVersionIsExplained) {
  auto bytes = writeEngine(makeModel()).value();
  putU32(bytes, 8, 2);
  auto r = readEngine(bytes.data(), bytes.size());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidEngine);
  EXPECT_EQ(r.status().message(),
            "engine format version 2 is newer than this kiln reads (1); rebuild the engine with this kiln or "
            "upgrade kiln");
}

TEST(EngineFile, WrongMagicTruncationAndChecksumMessages) {
  auto bytes = writeEngine(makeModel()).value();
  Bytes other = bytes;
  other[0] = std::byte{'X'};
  auto r = readEngine(other.data(), other.size());
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("not a kiln engine file"), std::string::npos) << r.status().message();

  r = readEngine(bytes.data(), bytes.size() - 10);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(std::to_string(bytes.size())), std::string::npos);
  EXPECT_NE(r.status().message().find(std::to_string(bytes.size() - 10)), std::string::npos);

  other = bytes;
  const SectionPos graph = sectionOf(bytes, 3);
  other[graph.offset + graph.size / 2] ^= std::byte{0x10};
  r = readEngine(other.data(), other.size());
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("section 'graph'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("corrupted or was modified"), std::string::npos);

  other = bytes;
  other.push_back(std::byte{0});
  EXPECT_FALSE(readEngine(other.data(), other.size()));
  EXPECT_FALSE(readEngine(bytes.data(), 0));
  EXPECT_FALSE(readEngine(nullptr, 5));
}

Status readStatus(const Bytes& b) { return readEngine(b.data(), b.size()).status(); }

TEST(EngineFile, NodeInputOutOfRangeNamesNodeInputAndOffset) {
  auto bytes = writeEngine(makeModel()).value();
  const size_t nameAt = find(bytes, "NODE_MARK");
  const size_t inputAt = nameAt + 9 + 4 + 4 + 4;  // name, op, input count, input 0 -> input 1
  ASSERT_EQ(getU32(bytes, nameAt + 9 + 4), 2u);    // MatMul has two inputs
  putU32(bytes, inputAt, 99999);
  resign(bytes);
  const Status s = readStatus(bytes);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.message(), "section 'graph' at offset " + std::to_string(inputAt) +
                             ": node 0 'NODE_MARK': input 1 refers to value 99999 but the graph has 13 values");
}

TEST(EngineFile, HostileFieldsBehindValidChecksumsAreRefused) {
  const Bytes good = writeEngine(makeModel()).value();
  const size_t nameAt = find(good, "NODE_MARK");
  const SectionPos graph = sectionOf(good, 3);
  const size_t producerLengthAt = graph.offset + 8;
  const size_t valueCountAt = producerLengthAt + 4 + getU32(good, producerLengthAt);
  struct Case {
    const char* what;
    size_t at;
    uint64_t value;
    int width;
    const char* expect;
  };
  const Case cases[] = {
      {"huge value count", valueCountAt, 0xFFFFFFFFu, 4, "value count is 4294967295"},
      {"huge producer length", producerLengthAt, 0xFFFFFFF0u, 4, "producer name has length"},
      {"op kind out of range", nameAt + 9, 9999, 4, "op kind 9999 is not one of kiln's"},
      {"huge input count", nameAt + 13, 0x7FFFFFFFu, 4, "input count is 2147483647"},
      {"output -1", nameAt + 9 + 4 + 4 + 8 + 4, 0xFFFFFFFFu, 4, "output 0 refers to value -1"},
      {"huge section count", 60, 0x10000000u, 4, "section table"},
      {"section table past the end", 64, 1ull << 62, 8, "section table"},
      {"device 7", 56, 7, 4, "device kind 7"},
      {"unknown section type", 128, 77, 4, "section type 77 is unknown"},
      {"section size past the end", 128 + 16, 1ull << 60, 8, "extends past the end"},
  };
  for (const Case& c : cases) {
    Bytes b = good;
    if (c.width == 4) putU32(b, c.at, uint32_t(c.value));
    else putU64(b, c.at, c.value);
    resign(b);
    const Status s = readStatus(b);
    ASSERT_FALSE(s.isOk()) << c.what;
    EXPECT_EQ(s.code(), StatusCode::kInvalidEngine) << c.what;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.what << ": " << s.message();
  }
}

TEST(EngineFile, WeightsIndexIsChecked) {
  const Bytes good = writeEngine(makeModel()).value();
  const SectionPos w = sectionOf(good, 5);
  const size_t entry0 = w.offset + 8;  // after count and reserved
  struct Case {
    const char* what;
    size_t at;
    uint64_t value;
    int width;
    const char* expect;
  };
  const Case cases[] = {
      {"huge constant count", w.offset, 0xFFFFFFFFu, 4, "constant count is 4294967295"},
      {"value id out of range", entry0, 5000, 4, "refers to value 5000"},
      {"unknown dtype", entry0 + 4, 14, 4, "data type 14 is not a kiln data type"},
      {"dtype differs from the value", entry0 + 4, 6, 4, "the constant is int32 but its value 'w' says float32"},
      {"huge rank", entry0 + 8, 0x40000000u, 4, "rank 1073741824"},
      {"misaligned blob", entry0 + 16, getU64(good, entry0 + 16) + 8, 8, "is not a multiple of 256"},
      {"blob past the end", entry0 + 16, 1ull << 40, 8, "does not lie inside the region"},
      {"wrong blob size", entry0 + 24, 12, 8, "blob size is 12"},
      {"huge dim", entry0 + 32, 1ull << 62, 8, "has too many elements"},
      {"negative dim", entry0 + 32, uint64_t(-1), 8, "dimension 0 is -1"},
  };
  for (const Case& c : cases) {
    Bytes b = good;
    if (c.width == 4) putU32(b, c.at, uint32_t(c.value));
    else putU64(b, c.at, c.value);
    resign(b);
    const Status s = readStatus(b);
    ASSERT_FALSE(s.isOk()) << c.what;
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.what << ": " << s.message();
  }
}

TEST(EngineFile, WriterRefusesWhatTheReaderWouldRefuse) {
  auto expectRefused = [](const EngineModel& m, const std::string& expect) {
    auto r = writeEngine(m);
    ASSERT_FALSE(r) << expect;
    EXPECT_NE(r.status().message().find(expect), std::string::npos) << r.status().message();
  };
  EngineModel m = makeModel();
  m.tactics.pop_back();
  expectRefused(m, "3 tactics for 4 nodes");
  m = makeModel();
  m.profiles.clear();
  expectRefused(m, "at least one optimization profile");
  m = makeModel();
  m.profiles[0].inputs[0].name = "nope";
  expectRefused(m, "'nope' is not a graph input");
  m = makeModel();
  m.profiles[0].inputs[0].opt = {0, 4};
  expectRefused(m, "min <= opt <= max");
  m = makeModel();
  std::swap(m.graph.nodes[0], m.graph.nodes[1]);  // Add before the MatMul that feeds it
  expectRefused(m, "is not a graph input, a constant or the output of an earlier node");
  m = makeModel();
  m.graph.values[m.graph.findValue("w")].dtype = DataType::kInt32;
  expectRefused(m, "constant 'w' is float32 but its value 'w' says int32");
  m = makeModel();
  m.graph.nodes[1].attrs.set("bad", Tensor::view(DataType::kFloat32, {4}, nullptr));
  expectRefused(m, "has no data");
  m = makeModel();
  m.graph.nodes[2].inputs[1] = 12345;
  expectRefused(m, "input refers to a missing value");
}

TEST(EngineFile, EmptyishModelRoundTrips) {
  // One Identity node, no constants, no attributes, an empty profile.
  EngineModel m;
  const ir::ValueId x = m.graph.addValue("x", DataType::kInt64);
  const ir::ValueId y = m.graph.addValue("y", DataType::kInt64);
  m.graph.inputs = {x};
  m.graph.outputs = {y};
  m.graph.nodes.push_back({"id", ir::OpKind::kIdentity, {x}, {y}, {}});
  m.profiles.emplace_back();
  m.tactics = {""};
  ASSERT_TRUE(ir::verifyGraph(m.graph).isOk());
  auto bytes = writeEngine(m);
  ASSERT_TRUE(bytes) << bytes.status().toString();
  auto back = readEngine(bytes->data(), bytes->size());
  ASSERT_TRUE(back) << back.status().toString();
  expectModelsEqual(m, *back);
}

}  // namespace
}  // namespace kiln::engine
