// Test-only: writes ONNX protobuf wire format by hand (field numbers from onnx.proto), so tests can build any model,
// including malformed ones, without the generated classes. Header-only; nothing here is compiled into the library.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kiln::onnx::testing {

/// One protobuf message under construction.
class Proto {
 public:
  Proto& varint(int field, uint64_t v) {
    key(field, 0);
    putVarint(v);
    return *this;
  }
  Proto& int64(int field, int64_t v) { return varint(field, static_cast<uint64_t>(v)); }
  Proto& bytes(int field, std::string_view s) {
    key(field, 2);
    putVarint(s.size());
    data_.append(s);
    return *this;
  }
  Proto& message(int field, const Proto& m) { return bytes(field, m.data_); }
  Proto& fixed32(int field, float f) {
    key(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);
    data_.append(b, 4);
    return *this;
  }
  Proto& packedInt64(int field, const std::vector<int64_t>& values) {
    Proto body;
    for (int64_t v : values) body.putVarint(static_cast<uint64_t>(v));
    return bytes(field, body.data_);
  }
  template <typename T>
  Proto& packedFixed(int field, const std::vector<T>& values) {
    return bytes(field, std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
  }
  const std::string& data() const { return data_; }

 private:
  void key(int field, int wireType) { putVarint((static_cast<uint64_t>(field) << 3) | wireType); }
  void putVarint(uint64_t v) {
    while (v >= 0x80) {
      data_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    data_.push_back(static_cast<char>(v));
  }
  std::string data_;
};

// TensorProto.DataType numbers.
enum OnnxType : int32_t {
  kFloat = 1, kUInt8 = 2, kInt8 = 3, kUInt16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kString = 8, kBool = 9,
  kFloat16 = 10, kDouble = 11, kUInt32 = 12, kUInt64 = 13, kComplex64 = 14, kBFloat16 = 16
};

/// TensorProto header: dims (1), data_type (2), name (8). Add data with the helpers below.
inline Proto tensorHeader(const std::string& name, int32_t type, const std::vector<int64_t>& dims) {
  Proto t;
  for (int64_t d : dims) t.int64(1, d);
  t.int64(2, type);
  if (!name.empty()) t.bytes(8, name);
  return t;
}
template <typename T>
inline Proto rawTensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims,
                       const std::vector<T>& values) {
  return tensorHeader(name, type, dims).packedFixed(9, values);  // raw_data
}
inline Proto floatDataTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
  return tensorHeader(name, kFloat, dims).packedFixed(4, v);
}
inline Proto int32DataTensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims,
                             const std::vector<int64_t>& v) {
  return tensorHeader(name, type, dims).packedInt64(5, v);  // int32 varints; negative ones as 10-byte varints
}
inline Proto int64DataTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  return tensorHeader(name, kInt64, dims).packedInt64(7, v);
}
inline Proto doubleDataTensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<double>& v) {
  return tensorHeader(name, kDouble, dims).packedFixed(10, v);
}
inline Proto uint64DataTensor(const std::string& name, int32_t type, const std::vector<int64_t>& dims,
                              const std::vector<int64_t>& v) {
  return tensorHeader(name, type, dims).packedInt64(11, v);
}
/// Marks a tensor as external: data_location EXTERNAL (14) and external_data entries (13).
inline Proto& externalData(Proto& t, const std::vector<std::pair<std::string, std::string>>& entries) {
  for (const auto& [k, v] : entries) t.message(13, Proto().bytes(1, k).bytes(2, v));
  return t.varint(14, 1);
}

// AttributeProto: name 1, f 2, i 3, s 4, t 5, g 6, floats 7, ints 8, strings 9, type 20.
inline Proto attrInt(const std::string& name, int64_t v) { return Proto().bytes(1, name).int64(3, v).varint(20, 2); }
inline Proto attrFloat(const std::string& name, float v) { return Proto().bytes(1, name).fixed32(2, v).varint(20, 1); }
inline Proto attrString(const std::string& name, const std::string& v) {
  return Proto().bytes(1, name).bytes(4, v).varint(20, 3);
}
inline Proto attrInts(const std::string& name, const std::vector<int64_t>& v) {
  Proto a;
  a.bytes(1, name);
  for (int64_t x : v) a.int64(8, x);
  return a.varint(20, 7);
}
inline Proto attrFloats(const std::string& name, const std::vector<float>& v) {
  Proto a;
  a.bytes(1, name);
  for (float x : v) a.fixed32(7, x);
  return a.varint(20, 6);
}
inline Proto attrStrings(const std::string& name, const std::vector<std::string>& v) {
  Proto a;
  a.bytes(1, name);
  for (const auto& x : v) a.bytes(9, x);
  return a.varint(20, 8);
}
inline Proto attrTensor(const std::string& name, const Proto& t) {
  return Proto().bytes(1, name).message(5, t).varint(20, 4);
}
inline Proto attrGraph(const std::string& name, const Proto& g) {
  return Proto().bytes(1, name).message(6, g).varint(20, 5);
}

/// NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7.
inline Proto node(const std::string& opType, const std::vector<std::string>& inputs,
                  const std::vector<std::string>& outputs, const std::string& name = "",
                  const std::vector<Proto>& attrs = {}, const std::string& domain = "") {
  Proto n;
  for (const auto& i : inputs) n.bytes(1, i);
  for (const auto& o : outputs) n.bytes(2, o);
  if (!name.empty()) n.bytes(3, name);
  n.bytes(4, opType);
  for (const auto& a : attrs) n.message(5, a);
  if (!domain.empty()) n.bytes(7, domain);
  return n;
}

/// One dim of a declared shape: a number, a symbolic name, or unknown.
struct Dim {
  int64_t value = -1;
  std::string param;
  Dim(int64_t v) : value(v) {}  // NOLINT
  Dim(int v) : value(v) {}  // NOLINT: keeps a literal 0 from reading as a null const char*
  Dim(const char* p) : param(p) {}  // NOLINT
  static Dim unknown() { return Dim(int64_t{-1}); }
};

/// ValueInfoProto: name 1, type 2 → TypeProto.tensor_type 1 → elem_type 1, shape 2 → dim 1 → dim_value 1 | dim_param 2.
/// value -1 without a param writes a dim with neither field. `hasShape` false omits the shape.
inline Proto valueInfo(const std::string& name, int32_t elemType, const std::vector<Dim>& dims, bool hasShape = true) {
  Proto shape;
  for (const auto& d : dims) {
    Proto dim;
    if (!d.param.empty()) dim.bytes(2, d.param);
    else if (d.value != -1) dim.int64(1, d.value);
    shape.message(1, dim);
  }
  Proto tensorType;
  tensorType.int64(1, elemType);
  if (hasShape) tensorType.message(2, shape);
  return Proto().bytes(1, name).message(2, Proto().message(1, tensorType));
}

/// Everything a test needs to describe one model; serialize() gives ModelProto bytes.
struct ModelBuilder {
  int64_t opset = 17;
  int64_t irVersion = 8;
  std::vector<std::pair<std::string, int64_t>> extraOpsets;
  std::vector<Proto> nodes, initializers, inputs, outputs, valueInfos;

  Proto graph() const {
    Proto g;
    for (const auto& n : nodes) g.message(1, n);
    g.bytes(2, "test_graph");
    for (const auto& t : initializers) g.message(5, t);
    for (const auto& i : inputs) g.message(11, i);
    for (const auto& o : outputs) g.message(12, o);
    for (const auto& v : valueInfos) g.message(13, v);
    return g;
  }
  std::string serialize() const {
    Proto m;
    m.int64(1, irVersion);
    m.bytes(2, "kiln-test");
    m.message(7, graph());
    m.message(8, Proto().bytes(1, "").int64(2, opset));
    for (const auto& [domain, version] : extraOpsets) m.message(8, Proto().bytes(1, domain).int64(2, version));
    return m.data();
  }
};

}  // namespace kiln::onnx::testing
