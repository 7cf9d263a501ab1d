// .npy reader/writer: round trips for every dtype, agreement with NumPy itself in both directions, and refusal
// (never a crash) of truncated, malformed and hostile files.
#include "core/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace {

namespace fs = std::filesystem;
using kiln::DataType;
using kiln::Dims;
using kiln::Tensor;

fs::path tempDir() {
  static fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("kiln_npy_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

Tensor randomTensor(DataType type, const Dims& dims, uint32_t seed) {
  auto t = Tensor::allocate(type, dims);
  EXPECT_TRUE(t.hasValue()) << t.status().toString();
  std::mt19937 rng(seed);
  auto* p = static_cast<unsigned char*>(t->data());
  for (size_t i = 0; i < t->byteSize(); ++i) p[i] = static_cast<unsigned char>(rng());
  if (type == DataType::kBool)
    for (size_t i = 0; i < t->byteSize(); ++i) p[i] &= 1;
  if (type == DataType::kFloat16)  // keep halves finite: clear the top exponent bit
    for (size_t i = 1; i < t->byteSize(); i += 2) p[i] &= 0xbf;
  if (type == DataType::kFloat32)
    for (size_t i = 3; i < t->byteSize(); i += 4) p[i] &= 0xbf;
  if (type == DataType::kFloat64)
    for (size_t i = 7; i < t->byteSize(); i += 8) p[i] &= 0xbf;
  return *t;
}

// A v1 .npy image with an arbitrary header text and payload, for hostile-input tests.
std::string npyWithHeader(const std::string& header, size_t payloadBytes, int major = 1) {
  std::string s = "\x93NUMPY";
  s.push_back(static_cast<char>(major));
  s.push_back(0);
  const size_t len = header.size();
  s.push_back(static_cast<char>(len & 0xff));
  s.push_back(static_cast<char>((len >> 8) & 0xff));
  if (major >= 2) {
    s.push_back(static_cast<char>((len >> 16) & 0xff));
    s.push_back(static_cast<char>((len >> 24) & 0xff));
  }
  s += header;
  s.append(payloadBytes, '\0');
  return s;
}

kiln::Status parseStatus(const std::string& image) {
  return kiln::parseNpy(image.data(), image.size(), "hostile.npy").status();
}

const std::vector<DataType> kAllTypes = {DataType::kFloat32, DataType::kFloat64, DataType::kInt64,
                                         DataType::kInt32,   DataType::kInt8,    DataType::kUInt8,
                                         DataType::kBool,    DataType::kFloat16, DataType::kInt16,
                                         DataType::kUInt16,  DataType::kUInt32,  DataType::kUInt64};

TEST(Npy, RoundTripEveryDtypeAndShape) {
  const std::vector<Dims> shapes = {{}, {0}, {1}, {7}, {3, 5}, {2, 3, 1, 7}, {4, 0, 3}};
  uint32_t seed = 1;
  for (DataType type : kAllTypes) {
    for (const Dims& dims : shapes) {
      Tensor t = randomTensor(type, dims, seed++);
      auto bytes = kiln::encodeNpy(t);
      ASSERT_TRUE(bytes.hasValue()) << bytes.status().toString();
      EXPECT_EQ(bytes->size() % 64, t.byteSize() % 64) << "data must start on a 64-byte boundary";
      auto back = kiln::parseNpy(bytes->data(), bytes->size());
      ASSERT_TRUE(back.hasValue()) << kiln::dataTypeName(type) << " " << kiln::dimsToString(dims) << ": "
                                   << back.status().toString();
      EXPECT_EQ(back->dtype(), type);
      EXPECT_EQ(back->dims(), dims);
      ASSERT_EQ(back->byteSize(), t.byteSize());
      if (t.byteSize()) EXPECT_EQ(std::memcmp(back->data(), t.data(), t.byteSize()), 0);
    }
  }
}

TEST(Npy, FileRoundTrip) {
  Tensor t = randomTensor(DataType::kFloat32, {3, 4, 5}, 7);
  const std::string path = (tempDir() / "rt.npy").string();
  ASSERT_TRUE(kiln::writeNpyFile(path, t).isOk());
  auto back = kiln::readNpyFile(path);
  ASSERT_TRUE(back.hasValue()) << back.status().toString();
  EXPECT_EQ(back->dims(), t.dims());
  EXPECT_EQ(std::memcmp(back->data(), t.data(), t.byteSize()), 0);
}

// NumPy is the independent reference: files it writes must read back with the same values, and files kiln writes
// must load in NumPy with the same dtype, shape and values.
TEST(Npy, AgreesWithNumpy) {
  const fs::path dir = tempDir() / "numpy";
  fs::create_directories(dir);
  const std::string script = (dir / "gen.py").string();
  {
    std::ofstream py(script);
    py << "import numpy as np, sys\n"
          "d = sys.argv[1]\n"
          "rng = np.random.default_rng(3)\n"
          "arrs = {\n"
          " 'f4': rng.standard_normal((2,3,5)).astype('<f4'), 'f8': rng.standard_normal((7,)).astype('<f8'),\n"
          " 'i8': rng.integers(-2**40, 2**40, (3,3)).astype('<i8'), 'i4': rng.integers(-9, 9, (4,1)).astype('<i4'),\n"
          " 'i1': rng.integers(-128, 127, (5,)).astype('i1'), 'u1': rng.integers(0, 255, (2,2)).astype('u1'),\n"
          " 'b1': rng.integers(0, 2, (3,)).astype('?'), 'f2': rng.standard_normal((9,)).astype('<f2'),\n"
          " 'scalar': np.array(3.5, dtype='<f4'), 'empty': np.zeros((0, 4), dtype='<f4') }\n"
          "for k, a in arrs.items():\n"
          "  np.save(f'{d}/np_{k}.npy', a)\n"
          "  a.tofile(f'{d}/np_{k}.raw')\n"
          "np.save(f'{d}/np_v2.npy', arrs['f4'])\n"
          "from numpy.lib import format as fmt\n"
          "with open(f'{d}/np_v2.npy', 'wb') as f:\n"
          "  fmt.write_array(f, arrs['f4'], version=(2, 0))\n"
          "with open(f'{d}/np_v3.npy', 'wb') as f:\n"
          "  fmt.write_array(f, arrs['f4'], version=(3, 0))\n"
          "np.save(f'{d}/np_fortran.npy', np.asfortranarray(rng.standard_normal((3, 4))))\n"
          "np.save(f'{d}/np_bigendian.npy', arrs['f4'].astype('>f4'))\n";
  }
  ASSERT_EQ(std::system(("python3 " + script + " " + dir.string()).c_str()), 0);

  struct Case { const char* name; DataType type; Dims dims; };
  const Case cases[] = {{"f4", DataType::kFloat32, {2, 3, 5}}, {"f8", DataType::kFloat64, {7}},
                        {"i8", DataType::kInt64, {3, 3}},      {"i4", DataType::kInt32, {4, 1}},
                        {"i1", DataType::kInt8, {5}},          {"u1", DataType::kUInt8, {2, 2}},
                        {"b1", DataType::kBool, {3}},          {"f2", DataType::kFloat16, {9}},
                        {"scalar", DataType::kFloat32, {}},    {"empty", DataType::kFloat32, {0, 4}}};
  for (const Case& c : cases) {
    auto t = kiln::readNpyFile((dir / (std::string("np_") + c.name + ".npy")).string());
    ASSERT_TRUE(t.hasValue()) << c.name << ": " << t.status().toString();
    EXPECT_EQ(t->dtype(), c.type) << c.name;
    EXPECT_EQ(t->dims(), c.dims) << c.name;
    std::ifstream raw(dir / (std::string("np_") + c.name + ".raw"), std::ios::binary);
    std::string expected((std::istreambuf_iterator<char>(raw)), std::istreambuf_iterator<char>());
    ASSERT_EQ(expected.size(), t->byteSize()) << c.name;
    if (!expected.empty()) EXPECT_EQ(std::memcmp(expected.data(), t->data(), expected.size()), 0) << c.name;
    // And back: kiln writes, NumPy reads and compares with its own original.
    const std::string out = (dir / (std::string("kiln_") + c.name + ".npy")).string();
    ASSERT_TRUE(kiln::writeNpyFile(out, *t).isOk());
  }
  for (const char* v : {"np_v2.npy", "np_v3.npy"}) {
    auto t = kiln::readNpyFile((dir / v).string());
    ASSERT_TRUE(t.hasValue()) << v << ": " << t.status().toString();
    EXPECT_EQ(t->dims(), (Dims{2, 3, 5}));
  }
  const std::string check = (dir / "check.py").string();
  {
    std::ofstream py(check);
    py << "import numpy as np, sys\n"
          "d = sys.argv[1]\n"
          "for k in ['f4','f8','i8','i4','i1','u1','b1','f2','scalar','empty']:\n"
          "  a, b = np.load(f'{d}/np_{k}.npy'), np.load(f'{d}/kiln_{k}.npy')\n"
          "  assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), k\n";
  }
  EXPECT_EQ(std::system(("python3 " + check + " " + dir.string()).c_str()), 0);

  auto fortran = kiln::readNpyFile((dir / "np_fortran.npy").string());
  ASSERT_FALSE(fortran.hasValue());
  EXPECT_NE(fortran.status().message().find("fortran_order"), std::string::npos) << fortran.status().message();
  auto big = kiln::readNpyFile((dir / "np_bigendian.npy").string());
  ASSERT_FALSE(big.hasValue());
  EXPECT_NE(big.status().message().find("big-endian"), std::string::npos) << big.status().message();
}

TEST(Npy, MissingFileNamesThePath) {
  auto t = kiln::readNpyFile("/nonexistent/dir/x.npy");
  ASSERT_FALSE(t.hasValue());
  EXPECT_EQ(t.status().code(), kiln::StatusCode::kIoError);
  EXPECT_NE(t.status().message().find("/nonexistent/dir/x.npy"), std::string::npos);
  auto d = kiln::readNpyFile(tempDir().string());
  ASSERT_FALSE(d.hasValue());
}

TEST(Npy, EveryTruncationIsRefused) {
  Tensor t = randomTensor(DataType::kFloat32, {3, 5}, 11);
  auto bytes = kiln::encodeNpy(t);
  ASSERT_TRUE(bytes.hasValue());
  for (size_t n = 0; n < bytes->size(); ++n) {
    auto r = kiln::parseNpy(bytes->data(), n, "cut.npy");
    EXPECT_FALSE(r.hasValue()) << "accepted a file cut at " << n << " bytes";
    if (!r.hasValue()) EXPECT_NE(r.status().message().find("cut.npy"), std::string::npos);
  }
  // Extra bytes after the data are refused too: they mean the header lies about the shape.
  std::vector<std::byte> longer = *bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(kiln::parseNpy(longer.data(), longer.size()).hasValue());
}

TEST(Npy, HostileHeadersAreRefused) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  ASSERT_TRUE(parseStatus(npyWithHeader(good, 24)).isOk()) << parseStatus(npyWithHeader(good, 24)).toString();
  ASSERT_TRUE(parseStatus(npyWithHeader(good, 24, 2)).isOk());
  ASSERT_TRUE(parseStatus(npyWithHeader(good, 24, 3)).isOk());

  struct Bad { std::string header; size_t payload; const char* expect; };
  const Bad bad[] = {
      {"", 0, "expected '{'"},
      {"{", 0, "header ends"},
      {"{'descr': '<f4', 'fortran_order': False}", 0, "missing key 'shape'"},
      {"{'descr': '<f4', 'shape': (2,)}", 8, "missing key 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (2,)}", 8, "missing key 'descr'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "duplicate key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", 8, "fortran_order"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", 8, "True or False"},
      {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}", 16, "unsupported dtype '<c8'"},
      {"{'descr': 'O', 'fortran_order': False, 'shape': (2,)}", 16, "unsupported dtype 'O'"},
      {"{'descr': '<U3', 'fortran_order': False, 'shape': (2,)}", 24, "unsupported dtype"},
      {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8, "structured"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", 8, "big-endian"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 8, "not a non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", 8, "not a non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 8, "overflows int64"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}", 8,
       "too many elements"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,)}", 8, "truncated .npy data"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 8, "must be a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 8, "shape"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", 8, "unexpected key 'extra'"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}", 8, "expected ','"},
      {"{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}", 8, "expected ':'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", 8, "unexpected text"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 4, "truncated .npy data"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 12, "unexpected bytes"},
      {"{'descr': '" + std::string(100, 'f') + "', 'fortran_order': False, 'shape': (2,)}", 8, "longer than 64"},
  };
  for (const Bad& b : bad) {
    kiln::Status s = parseStatus(npyWithHeader(b.header, b.payload));
    ASSERT_FALSE(s.isOk()) << "accepted header: " << b.header;
    EXPECT_NE(s.message().find(b.expect), std::string::npos) << "header: " << b.header << "\nmessage: " << s.message();
    EXPECT_NE(s.message().find("hostile.npy"), std::string::npos) << s.message();
  }

  // Preamble problems.
  EXPECT_FALSE(parseStatus("not an npy file at all").isOk());
  std::string v9 = npyWithHeader(good, 24);
  v9[6] = 9;
  EXPECT_NE(parseStatus(v9).message().find("version 9.0"), std::string::npos);
  // A header length far beyond the file: refused before any allocation.
  std::string huge = "\x93NUMPY";
  huge += std::string("\x02\x00\xff\xff\xff\x7f", 6);
  EXPECT_NE(parseStatus(huge).message().find("exceeds"), std::string::npos);
  std::string longHeader = npyWithHeader(good, 24);
  longHeader[8] = '\xff';  // header length says 0x..ff, beyond the file
  EXPECT_NE(parseStatus(longHeader).message().find("truncated"), std::string::npos);
  // Bool bytes other than 0/1.
  std::string boolFile = npyWithHeader("{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}\n", 0);
  boolFile += std::string("\x01\x00\x07", 3);
  EXPECT_NE(parseStatus(boolFile).message().find("byte value 7"), std::string::npos);
}

// Random garbage after a valid magic must never crash or hang (a cheap fuzz; sanitizer builds make it stronger).
TEST(Npy, RandomGarbageNeverCrashes) {
  std::mt19937 rng(123);
  Tensor t = randomTensor(DataType::kInt32, {4, 3}, 5);
  auto bytes = kiln::encodeNpy(t);
  ASSERT_TRUE(bytes.hasValue());
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<std::byte> mutated = *bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) mutated[rng() % mutated.size()] = static_cast<std::byte>(rng());
    auto r = kiln::parseNpy(mutated.data(), mutated.size());
    if (r.hasValue()) {
      ++accepted;
      EXPECT_EQ(r->byteSize(), t.byteSize()) << "an accepted file must describe exactly the bytes it holds";
    }
  }
  // Most flips land in the data (valid) or the padding; the point is no crash. Sanity: some are accepted.
  EXPECT_GT(accepted, 0);
}

TEST(Npy, UnsupportedDtypeOnWrite) {
  auto t = Tensor::allocate(DataType::kBFloat16, {2});
  ASSERT_TRUE(t.hasValue());
  auto r = kiln::encodeNpy(*t);
  ASSERT_FALSE(r.hasValue());
  EXPECT_NE(r.status().message().find("bfloat16"), std::string::npos);
  EXPECT_EQ(kiln::npyDescr(DataType::kFloat32), "<f4");
  EXPECT_EQ(kiln::npyDescr(DataType::kBool), "|b1");
}

}  // namespace
