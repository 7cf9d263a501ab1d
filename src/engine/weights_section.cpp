// The weights section: an index of constants, then one blob per constant at a 256-byte aligned file offset.
#include <cstring>

#include "engine/engine_layout.h"
#include "engine/sections.h"

namespace kiln::engine {
namespace {

constexpr size_t kIndexHeaderSize = 8;       // u32 count, u32 reserved
constexpr size_t kIndexEntryFixedSize = 32;  // id, dtype, rank, reserved, offset, size; then the dims

size_t alignUp(size_t n, size_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// The value that names a constant must agree with the tensor: the runtime trusts either.
std::string mismatch(const ir::Value& value, DataType dtype, const Dims& dims) {
  if (value.dtype != dtype)
    return "is " + dataTypeName(dtype) + " but its value '" + value.name + "' says " + dataTypeName(value.dtype);
  if (!value.rankKnown || value.dims != dims)
    return "has shape " + dimsToString(dims) + " but its value '" + value.name + "' says " +
           (value.rankKnown ? dimsToString(value.dims) : std::string("unknown rank"));
  return "";
}

}  // namespace

Status writeWeightsSection(const ir::Graph& graph, ByteWriter& out) {
  const size_t sectionStart = out.size();
  if (sectionStart % kWeightAlignment != 0) return internalError("weights section is not 256-byte aligned");
  KILN_RETURN_IF_ERROR(checkFitsU32(graph.constants.size(), "the constant list"));

  size_t indexEnd = sectionStart + kIndexHeaderSize;
  for (const auto& [id, t] : graph.constants) indexEnd += kIndexEntryFixedSize + 8 * t.dims().size();
  std::vector<size_t> offsets;
  std::vector<uint64_t> sizes;
  size_t cursor = indexEnd;
  for (const auto& [id, t] : graph.constants) {
    if (id < 0 || static_cast<size_t>(id) >= graph.values.size())
      return invalidArgument("cannot write the engine: a constant refers to value " + std::to_string(id) +
                             " but the graph has " + std::to_string(graph.values.size()) + " values");
    const std::string where = "constant '" + graph.values[id].name + "'";
    auto size = tensorByteSize(t.dtype(), t.dims(), "cannot write the engine: " + where);
    if (!size) return invalidArgument(size.status().message());
    if (*size != 0 && t.data() == nullptr) return invalidArgument("cannot write the engine: " + where + " has no data");
    if (std::string why = mismatch(graph.values[id], t.dtype(), t.dims()); !why.empty())
      return invalidArgument("cannot write the engine: " + where + " " + why);
    cursor = alignUp(cursor, kWeightAlignment);
    offsets.push_back(cursor);
    sizes.push_back(*size);
    cursor += static_cast<size_t>(*size);
  }
  out.reserve(cursor);

  out.u32(static_cast<uint32_t>(graph.constants.size()));
  out.u32(0);
  size_t i = 0;
  for (const auto& [id, t] : graph.constants) {
    out.i32(id);
    out.i32(static_cast<int32_t>(t.dtype()));
    out.u32(static_cast<uint32_t>(t.dims().size()));
    out.u32(0);
    out.u64(offsets[i]);
    out.u64(sizes[i]);
    for (int64_t d : t.dims()) out.i64(d);
    ++i;
  }
  i = 0;
  for (const auto& [id, t] : graph.constants) {
    out.padTo(kWeightAlignment);
    if (out.size() != offsets[i]) return internalError("weight blob offset drifted while writing");
    out.raw(t.data(), static_cast<size_t>(sizes[i]));
    ++i;
  }
  return Status::ok();
}

Status readWeightsSection(ByteReader& in, ir::Graph& graph) {
  const size_t valueCount = graph.values.size();
  KILN_ASSIGN_OR_RETURN(uint32_t count, in.count("constant count", kIndexEntryFixedSize));
  const size_t reservedAt = in.offset();
  KILN_ASSIGN_OR_RETURN(uint32_t reserved, in.u32("reserved field"));
  if (reserved != 0) return in.failAt(reservedAt, "reserved field is " + std::to_string(reserved) + ", expected 0");

  struct Entry {
    ir::ValueId id;
    DataType dtype;
    Dims dims;
    uint64_t offset, size;
    size_t entryAt;
  };
  std::vector<Entry> entries(count);
  for (uint32_t i = 0; i < count; ++i) {
    Entry& e = entries[i];
    e.entryAt = in.offset();
    in.setItem("constant " + std::to_string(i));
    KILN_ASSIGN_OR_RETURN(e.id, in.i32("value id"));
    if (e.id < 0 || static_cast<size_t>(e.id) >= valueCount)
      return in.failAt(e.entryAt, "refers to value " + std::to_string(e.id) + " but the graph has " +
                                      std::to_string(valueCount) + " values");
    if (i > 0 && entries[i - 1].id >= e.id)
      return in.failAt(e.entryAt, "value id " + std::to_string(e.id) + " is out of order or repeated");
    in.setItem("constant " + std::to_string(i) + " '" + graph.values[e.id].name + "'");
    const size_t dtypeAt = in.offset();
    KILN_ASSIGN_OR_RETURN(int32_t dtypeNumber, in.i32("data type"));
    if (!isKnownDataType(dtypeNumber))
      return in.failAt(dtypeAt, "data type " + std::to_string(dtypeNumber) + " is not a kiln data type");
    e.dtype = static_cast<DataType>(dtypeNumber);
    const size_t rankAt = in.offset();
    KILN_ASSIGN_OR_RETURN(uint32_t rank, in.u32("rank"));
    KILN_ASSIGN_OR_RETURN(uint32_t entryReserved, in.u32("reserved field"));
    if (entryReserved != 0) return in.failAt(rankAt + 4, "reserved field is not 0");
    KILN_ASSIGN_OR_RETURN(e.offset, in.u64("blob offset"));
    const size_t sizeAt = in.offset();
    KILN_ASSIGN_OR_RETURN(e.size, in.u64("blob size"));
    if (rank > in.remaining() / 8)
      return in.failAt(rankAt, "rank " + std::to_string(rank) + " needs more bytes than the " +
                                   std::to_string(in.remaining()) + " left in the section");
    e.dims.resize(rank);
    for (auto& d : e.dims) {
      KILN_ASSIGN_OR_RETURN(d, in.i64("dimension"));
    }
    auto expected = tensorByteSize(e.dtype, e.dims, "the constant");
    if (!expected) return in.failAt(rankAt, expected.status().message());
    if (*expected != e.size)
      return in.failAt(sizeAt, "blob size is " + std::to_string(e.size) + " but " + dataTypeName(e.dtype) + " " +
                                   dimsToString(e.dims) + " needs " + std::to_string(*expected) + " bytes");
    if (std::string why = mismatch(graph.values[e.id], e.dtype, e.dims); !why.empty())
      return in.failAt(e.entryAt, "the constant " + why);
  }
  in.setItem("");

  // Blobs: 256-byte aligned, after the index, in ascending order without overlap, inside the section.
  uint64_t end = in.offset();
  for (uint32_t i = 0; i < count; ++i) {
    const Entry& e = entries[i];
    in.setItem("constant " + std::to_string(i) + " '" + graph.values[e.id].name + "'");
    if (e.offset % kWeightAlignment != 0)
      return in.failAt(e.entryAt, "blob offset " + std::to_string(e.offset) + " is not a multiple of " +
                                      std::to_string(kWeightAlignment));
    if (e.offset < end)
      return in.failAt(e.entryAt, "blob offset " + std::to_string(e.offset) +
                                      " overlaps the index or the previous blob (which ends at " +
                                      std::to_string(end) + ")");
    KILN_ASSIGN_OR_RETURN(const std::byte* data, in.viewAt(e.offset, e.size, "blob"));
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(e.dtype, e.dims));
    if (e.size) std::memcpy(t.data(), data, static_cast<size_t>(e.size));
    graph.constants.emplace(e.id, std::move(t));
    end = e.offset + e.size;
  }
  in.setItem("");
  if (end != in.end())
    return in.failAt(static_cast<size_t>(end), std::to_string(in.end() - end) +
                                                   " unexpected byte(s) after the last weight blob");
  return Status::ok();
}

}  // namespace kiln::engine
