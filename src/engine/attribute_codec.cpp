// Encoding of node attributes: u32 count, then per attribute: name, i32 AttributeKind, payload.
#include <cstring>
#include <limits>

#include "engine/sections.h"

namespace kiln::engine {

Status checkFitsU32(size_t n, const std::string& what) {
  if (n <= std::numeric_limits<uint32_t>::max()) return Status::ok();
  return invalidArgument("cannot write the engine: " + what + " has " + std::to_string(n) +
                         " entries or bytes; the format allows at most 4294967295");
}

Expected<uint64_t> tensorByteSize(DataType dtype, const Dims& dims, const std::string& where) {
  const size_t elementSize = dataTypeSize(dtype);
  if (elementSize == 0)
    return invalidEngine(where + ": tensors of type " + dataTypeName(dtype) + " cannot be stored");
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i] < 0)
      return invalidEngine(where + ": dimension " + std::to_string(i) + " is " + std::to_string(dims[i]) +
                           "; a stored tensor needs every dimension >= 0");
  const int64_t count = elementCount(dims);
  if (count < 0 || static_cast<uint64_t>(count) > std::numeric_limits<uint64_t>::max() / elementSize)
    return invalidEngine(where + ": shape " + dimsToString(dims) + " has too many elements");
  return static_cast<uint64_t>(count) * elementSize;
}

namespace {

Status writeTensor(const Tensor& t, ByteWriter& out, const std::string& where) {
  auto size = tensorByteSize(t.dtype(), t.dims(), "cannot write the engine: " + where);
  if (!size) return invalidArgument(size.status().message());
  if (*size != 0 && t.data() == nullptr)
    return invalidArgument("cannot write the engine: " + where + " has no data");
  KILN_RETURN_IF_ERROR(checkFitsU32(t.dims().size(), where + " rank"));
  out.i32(static_cast<int32_t>(t.dtype()));
  out.u32(static_cast<uint32_t>(t.dims().size()));
  for (int64_t d : t.dims()) out.i64(d);
  out.u64(*size);
  out.raw(t.data(), static_cast<size_t>(*size));
  return Status::ok();
}

Expected<Tensor> readTensor(ByteReader& in) {
  const size_t at = in.offset();
  KILN_ASSIGN_OR_RETURN(int32_t dtypeNumber, in.i32("tensor data type"));
  if (!isKnownDataType(dtypeNumber))
    return in.failAt(at, "tensor data type " + std::to_string(dtypeNumber) + " is not a kiln data type");
  const auto dtype = static_cast<DataType>(dtypeNumber);
  KILN_ASSIGN_OR_RETURN(uint32_t rank, in.count("tensor rank", 8));
  Dims dims(rank);
  for (auto& d : dims) {
    KILN_ASSIGN_OR_RETURN(d, in.i64("tensor dimension"));
  }
  auto expected = tensorByteSize(dtype, dims, "tensor " + dataTypeName(dtype) + " " + dimsToString(dims));
  if (!expected) return in.failAt(at, expected.status().message());
  const size_t sizeAt = in.offset();
  KILN_ASSIGN_OR_RETURN(uint64_t stored, in.u64("tensor byte size"));
  if (stored != *expected)
    return in.failAt(sizeAt, "tensor byte size is " + std::to_string(stored) + " but " + dataTypeName(dtype) + " " +
                                 dimsToString(dims) + " needs " + std::to_string(*expected));
  if (stored > in.remaining())
    return in.failAt(sizeAt, "tensor data needs " + std::to_string(stored) + " byte(s) but only " +
                                 std::to_string(in.remaining()) + " remain in the region");
  KILN_ASSIGN_OR_RETURN(const std::byte* data, in.bytes(static_cast<size_t>(stored), "tensor data"));
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, std::move(dims)));
  if (stored) std::memcpy(t.data(), data, static_cast<size_t>(stored));
  return t;
}

template <typename T>
Status writeList(const std::vector<T>& list, ByteWriter& out, const std::string& where) {
  KILN_RETURN_IF_ERROR(checkFitsU32(list.size(), where));
  out.u32(static_cast<uint32_t>(list.size()));
  for (const T& x : list) {
    if constexpr (std::is_same_v<T, int64_t>) out.i64(x);
    else if constexpr (std::is_same_v<T, float>) out.f32(x);
    else {
      KILN_RETURN_IF_ERROR(checkFitsU32(x.size(), where + " string"));
      out.string(x);
    }
  }
  return Status::ok();
}

Status writeValue(const ir::AttributeValue& value, ByteWriter& out, const std::string& where) {
  out.i32(static_cast<int32_t>(value.index()));  // AttributeKind numbers are the variant's indices
  return std::visit(
      [&](const auto& x) -> Status {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) out.i64(x);
        else if constexpr (std::is_same_v<T, float>) out.f32(x);
        else if constexpr (std::is_same_v<T, std::string>) {
          KILN_RETURN_IF_ERROR(checkFitsU32(x.size(), where));
          out.string(x);
        } else if constexpr (std::is_same_v<T, Tensor>) {
          return writeTensor(x, out, where);
        } else {
          return writeList(x, out, where);
        }
        return Status::ok();
      },
      value);
}

Expected<ir::AttributeValue> readValue(ByteReader& in, ir::AttributeKind kind) {
  switch (kind) {
    case ir::AttributeKind::kInt: {
      KILN_ASSIGN_OR_RETURN(int64_t v, in.i64("int attribute"));
      return ir::AttributeValue(v);
    }
    case ir::AttributeKind::kFloat: {
      KILN_ASSIGN_OR_RETURN(float v, in.f32("float attribute"));
      return ir::AttributeValue(v);
    }
    case ir::AttributeKind::kString: {
      KILN_ASSIGN_OR_RETURN(std::string v, in.string("string attribute"));
      return ir::AttributeValue(std::move(v));
    }
    case ir::AttributeKind::kInts: {
      KILN_ASSIGN_OR_RETURN(uint32_t n, in.count("ints attribute length", 8));
      std::vector<int64_t> v(n);
      for (auto& x : v) {
        KILN_ASSIGN_OR_RETURN(x, in.i64("ints attribute element"));
      }
      return ir::AttributeValue(std::move(v));
    }
    case ir::AttributeKind::kFloats: {
      KILN_ASSIGN_OR_RETURN(uint32_t n, in.count("floats attribute length", 4));
      std::vector<float> v(n);
      for (auto& x : v) {
        KILN_ASSIGN_OR_RETURN(x, in.f32("floats attribute element"));
      }
      return ir::AttributeValue(std::move(v));
    }
    case ir::AttributeKind::kStrings: {
      KILN_ASSIGN_OR_RETURN(uint32_t n, in.count("strings attribute length", 4));
      std::vector<std::string> v(n);
      for (auto& x : v) {
        KILN_ASSIGN_OR_RETURN(x, in.string("strings attribute element"));
      }
      return ir::AttributeValue(std::move(v));
    }
    case ir::AttributeKind::kTensor: {
      KILN_ASSIGN_OR_RETURN(Tensor t, readTensor(in));
      return ir::AttributeValue(std::move(t));
    }
  }
  return internalError("unhandled attribute kind");
}

}  // namespace

Status writeAttributes(const ir::Attributes& attrs, ByteWriter& out, const std::string& where) {
  KILN_RETURN_IF_ERROR(checkFitsU32(attrs.all().size(), where + " attribute count"));
  out.u32(static_cast<uint32_t>(attrs.all().size()));
  for (const auto& [name, value] : attrs.all()) {
    const std::string what = where + " attribute '" + name + "'";
    KILN_RETURN_IF_ERROR(checkFitsU32(name.size(), what + " name"));
    out.string(name);
    KILN_RETURN_IF_ERROR(writeValue(value, out, what));
  }
  return Status::ok();
}

Status readAttributes(ByteReader& in, ir::Attributes& attrs) {
  KILN_ASSIGN_OR_RETURN(uint32_t count, in.count("attribute count", 8));  // name length + kind at least
  std::string previous;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = in.offset();
    KILN_ASSIGN_OR_RETURN(std::string name, in.string("attribute name"));
    // The writer emits names in std::map order; strictly increasing also rules out duplicates.
    if (i > 0 && !(previous < name))
      return in.failAt(at, "attribute " + std::to_string(i) + " '" + name + "' is out of order or repeated");
    const size_t kindAt = in.offset();
    KILN_ASSIGN_OR_RETURN(int32_t kindNumber, in.i32("attribute kind"));
    if (kindNumber < 0 || kindNumber >= static_cast<int32_t>(std::variant_size_v<ir::AttributeValue>))
      return in.failAt(kindAt, "attribute '" + name + "' has kind " + std::to_string(kindNumber) +
                                   ", which is not an attribute kind (0.." +
                                   std::to_string(std::variant_size_v<ir::AttributeValue> - 1) + ")");
    KILN_ASSIGN_OR_RETURN(ir::AttributeValue value, readValue(in, static_cast<ir::AttributeKind>(kindNumber)));
    attrs.set(name, std::move(value));
    previous = std::move(name);
  }
  return Status::ok();
}

}  // namespace kiln::engine
