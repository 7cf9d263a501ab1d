// The graph section: opset, producer, values, nodes (with attributes), graph inputs and outputs.
#include <set>

#include "engine/sections.h"

namespace kiln::engine {
namespace {

Status writeIds(const std::vector<ir::ValueId>& ids, ByteWriter& out, const std::string& what) {
  KILN_RETURN_IF_ERROR(checkFitsU32(ids.size(), what));
  out.u32(static_cast<uint32_t>(ids.size()));
  for (ir::ValueId id : ids) out.i32(id);
  return Status::ok();
}

Status writeValueEntry(const ir::Value& v, ByteWriter& out, const std::string& where) {
  KILN_RETURN_IF_ERROR(checkFitsU32(v.name.size(), where + " name"));
  KILN_RETURN_IF_ERROR(checkFitsU32(v.dims.size(), where + " rank"));
  if (!v.rankKnown && !v.dims.empty())
    return invalidArgument("cannot write the engine: " + where + " has unknown rank but lists dims");
  if (!v.dimNames.empty() && v.dimNames.size() != v.dims.size())
    return invalidArgument("cannot write the engine: " + where + " has " + std::to_string(v.dimNames.size()) +
                           " dim names for " + std::to_string(v.dims.size()) + " dims");
  for (int64_t d : v.dims)
    if (d < 0 && d != kDynamicDim)
      return invalidArgument("cannot write the engine: " + where + " has dimension " + std::to_string(d));
  out.string(v.name);
  out.i32(static_cast<int32_t>(v.dtype));
  out.u8(v.rankKnown ? 1 : 0);
  out.u32(static_cast<uint32_t>(v.dims.size()));
  for (int64_t d : v.dims) out.i64(d);
  out.u32(static_cast<uint32_t>(v.dimNames.size()));
  for (const auto& n : v.dimNames) {
    KILN_RETURN_IF_ERROR(checkFitsU32(n.size(), where + " dim name"));
    out.string(n);
  }
  return Status::ok();
}

Status readValueEntry(ByteReader& in, ir::Graph& graph, size_t index) {
  const size_t at = in.offset();
  KILN_ASSIGN_OR_RETURN(std::string name, in.string("value name"));
  if (name.empty()) return in.failAt(at, "the value has an empty name");
  if (ir::ValueId other = graph.findValue(name); other != ir::kNoValue)
    return in.failAt(at, "value name '" + name + "' is also the name of value " + std::to_string(other));
  const size_t dtypeAt = in.offset();
  KILN_ASSIGN_OR_RETURN(int32_t dtypeNumber, in.i32("value data type"));
  if (!isKnownDataType(dtypeNumber))
    return in.failAt(dtypeAt, "value '" + name + "' has data type " + std::to_string(dtypeNumber) +
                                  ", which is not a kiln data type");
  const size_t rankKnownAt = in.offset();
  KILN_ASSIGN_OR_RETURN(uint8_t rankKnown, in.u8("rank-known flag"));
  if (rankKnown > 1)
    return in.failAt(rankKnownAt, "value '" + name + "' has rank-known flag " + std::to_string(rankKnown) +
                                      " (expected 0 or 1)");
  const size_t rankAt = in.offset();
  KILN_ASSIGN_OR_RETURN(uint32_t rank, in.count("value rank", 8));
  if (!rankKnown && rank != 0)
    return in.failAt(rankAt, "value '" + name + "' has unknown rank but lists " + std::to_string(rank) + " dims");
  Dims dims(rank);
  for (size_t i = 0; i < dims.size(); ++i) {
    const size_t dimAt = in.offset();
    KILN_ASSIGN_OR_RETURN(dims[i], in.i64("value dimension"));
    if (dims[i] < 0 && dims[i] != kDynamicDim)
      return in.failAt(dimAt, "value '" + name + "' dimension " + std::to_string(i) + " is " +
                                  std::to_string(dims[i]) + " (expected >= 0, or -1 for a dynamic dimension)");
  }
  const size_t namesAt = in.offset();
  KILN_ASSIGN_OR_RETURN(uint32_t nameCount, in.count("dim name count", 4));
  if (nameCount != 0 && nameCount != rank)
    return in.failAt(namesAt, "value '" + name + "' has " + std::to_string(nameCount) + " dim names for " +
                                  std::to_string(rank) + " dims");
  std::vector<std::string> dimNames(nameCount);
  for (auto& n : dimNames) {
    KILN_ASSIGN_OR_RETURN(n, in.string("dim name"));
  }
  const ir::ValueId id = graph.addValue(name, static_cast<DataType>(dtypeNumber));
  if (static_cast<size_t>(id) != index || graph.values[id].name != name)
    return internalError("value " + std::to_string(index) + " '" + name + "' could not be added under its name");
  ir::Value& v = graph.values[id];
  v.rankKnown = rankKnown == 1;
  v.dims = std::move(dims);
  v.dimNames = std::move(dimNames);
  return Status::ok();
}

// Reads a list of value ids; each must name an existing value (or be kNoValue where `allowNone`).
Status readIds(ByteReader& in, size_t valueCount, const std::string& owner, const char* role, bool allowNone,
               std::vector<ir::ValueId>& ids) {
  KILN_ASSIGN_OR_RETURN(uint32_t count, in.count((std::string(role) + " count").c_str(), 4));
  ids.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t at = in.offset();
    KILN_ASSIGN_OR_RETURN(ids[i], in.i32(role));
    const bool none = ids[i] == ir::kNoValue;
    if ((none && !allowNone) || (!none && (ids[i] < 0 || static_cast<size_t>(ids[i]) >= valueCount)))
      return in.failAt(at, owner + role + " " + std::to_string(i) + " refers to value " + std::to_string(ids[i]) +
                               " but the graph has " + std::to_string(valueCount) + " values");
  }
  return Status::ok();
}

Status checkIdsForWriting(const std::vector<ir::ValueId>& ids, size_t valueCount, bool allowNone,
                          const std::string& what) {
  for (size_t i = 0; i < ids.size(); ++i) {
    const bool none = ids[i] == ir::kNoValue;
    if ((none && !allowNone) || (!none && (ids[i] < 0 || static_cast<size_t>(ids[i]) >= valueCount)))
      return invalidArgument("cannot write the engine: " + what + " " + std::to_string(i) + " refers to value " +
                             std::to_string(ids[i]) + " but the graph has " + std::to_string(valueCount) + " values");
  }
  return Status::ok();
}

}  // namespace

Status writeGraphSection(const ir::Graph& graph, ByteWriter& out) {
  out.i64(graph.opsetVersion);
  KILN_RETURN_IF_ERROR(checkFitsU32(graph.producerName.size(), "the producer name"));
  out.string(graph.producerName);

  KILN_RETURN_IF_ERROR(checkFitsU32(graph.values.size(), "the value list"));
  out.u32(static_cast<uint32_t>(graph.values.size()));
  std::set<std::string> names;
  for (size_t i = 0; i < graph.values.size(); ++i) {
    const std::string where = "value " + std::to_string(i) + " '" + graph.values[i].name + "'";
    if (graph.values[i].name.empty()) return invalidArgument("cannot write the engine: " + where + " has no name");
    if (!names.insert(graph.values[i].name).second)
      return invalidArgument("cannot write the engine: " + where + " repeats the name of another value");
    KILN_RETURN_IF_ERROR(writeValueEntry(graph.values[i], out, where));
  }

  const size_t valueCount = graph.values.size();
  KILN_RETURN_IF_ERROR(checkFitsU32(graph.nodes.size(), "the node list"));
  out.u32(static_cast<uint32_t>(graph.nodes.size()));
  for (const ir::Node& node : graph.nodes) {
    const std::string where = graph.describe(node);
    KILN_RETURN_IF_ERROR(checkIdsForWriting(node.inputs, valueCount, true, where + " input"));
    KILN_RETURN_IF_ERROR(checkIdsForWriting(node.outputs, valueCount, false, where + " output"));
    KILN_RETURN_IF_ERROR(checkFitsU32(node.name.size(), where + " name"));
    out.string(node.name);
    out.i32(static_cast<int32_t>(node.op));
    KILN_RETURN_IF_ERROR(writeIds(node.inputs, out, where + " inputs"));
    KILN_RETURN_IF_ERROR(writeIds(node.outputs, out, where + " outputs"));
    KILN_RETURN_IF_ERROR(writeAttributes(node.attrs, out, where));
  }
  KILN_RETURN_IF_ERROR(checkIdsForWriting(graph.inputs, valueCount, false, "graph input"));
  KILN_RETURN_IF_ERROR(checkIdsForWriting(graph.outputs, valueCount, false, "graph output"));
  KILN_RETURN_IF_ERROR(writeIds(graph.inputs, out, "the graph inputs"));
  KILN_RETURN_IF_ERROR(writeIds(graph.outputs, out, "the graph outputs"));
  return Status::ok();
}

Status readGraphSection(ByteReader& in, ir::Graph& graph) {
  KILN_ASSIGN_OR_RETURN(graph.opsetVersion, in.i64("opset version"));
  KILN_ASSIGN_OR_RETURN(graph.producerName, in.string("producer name"));

  // A value takes at least 17 bytes: name length, dtype, rank-known flag, rank, dim-name count.
  KILN_ASSIGN_OR_RETURN(uint32_t valueCount, in.count("value count", 17));
  graph.values.reserve(valueCount);
  for (uint32_t i = 0; i < valueCount; ++i) {
    in.setItem("value " + std::to_string(i));
    KILN_RETURN_IF_ERROR(readValueEntry(in, graph, i));
  }
  in.setItem("");

  // A node takes at least 20 bytes: name length, op, input count, output count, attribute count.
  KILN_ASSIGN_OR_RETURN(uint32_t nodeCount, in.count("node count", 20));
  graph.nodes.resize(nodeCount);
  for (uint32_t i = 0; i < nodeCount; ++i) {
    ir::Node& node = graph.nodes[i];
    in.setItem("node " + std::to_string(i));
    KILN_ASSIGN_OR_RETURN(node.name, in.string("node name"));
    in.setItem("node " + std::to_string(i) + " '" + node.name + "'");
    const size_t opAt = in.offset();
    KILN_ASSIGN_OR_RETURN(int32_t op, in.i32("op kind"));
    if (op < 0 || op >= ir::opKindCount())
      return in.failAt(opAt, "op kind " + std::to_string(op) + " is not one of kiln's " +
                                 std::to_string(ir::opKindCount()) + " operators");
    node.op = static_cast<ir::OpKind>(op);
    KILN_RETURN_IF_ERROR(readIds(in, valueCount, "", "input", true, node.inputs));
    KILN_RETURN_IF_ERROR(readIds(in, valueCount, "", "output", false, node.outputs));
    KILN_RETURN_IF_ERROR(readAttributes(in, node.attrs));
  }
  in.setItem("");
  KILN_RETURN_IF_ERROR(readIds(in, valueCount, "graph ", "input", false, graph.inputs));
  KILN_RETURN_IF_ERROR(readIds(in, valueCount, "graph ", "output", false, graph.outputs));
  return in.expectEnd();
}

}  // namespace kiln::engine
