// Encoders and decoders of the engine file's sections. Writers append to the whole-file ByteWriter (weights need
// absolute offsets); readers decode one bounded section and check every count, id and enum they meet.
#pragma once

#include "engine/byte_reader.h"
#include "engine/byte_writer.h"
#include "engine/engine_file.h"

namespace kiln::engine {

// Writers refuse what the format cannot hold or what the reader would refuse (so a written file always loads).
Status writeMetadataSection(const std::map<std::string, std::string>& metadata, ByteWriter& out);
Status writeProfilesSection(const std::vector<OptimizationProfile>& profiles, ByteWriter& out);
Status writeGraphSection(const ir::Graph& graph, ByteWriter& out);
Status writeTacticsSection(const std::vector<std::string>& tactics, ByteWriter& out);
/// Needs `out.size()` to be a multiple of kWeightAlignment: blob offsets are absolute.
Status writeWeightsSection(const ir::Graph& graph, ByteWriter& out);

Status readMetadataSection(ByteReader& in, std::map<std::string, std::string>& metadata);
Status readProfilesSection(ByteReader& in, std::vector<OptimizationProfile>& profiles);
/// Values, nodes (ids range-checked), attributes, graph inputs and outputs. Constants come from the weights.
Status readGraphSection(ByteReader& in, ir::Graph& graph);
Status readTacticsSection(ByteReader& in, std::vector<std::string>& tactics);
/// Fills graph.constants; needs the graph's values (ids, dtypes, dims) already read.
Status readWeightsSection(ByteReader& in, ir::Graph& graph);

/// A node's attribute map (all AttributeKind variants, tensors inline). `where` names the node in messages.
Status writeAttributes(const ir::Attributes& attrs, ByteWriter& out, const std::string& where);
Status readAttributes(ByteReader& in, ir::Attributes& attrs);

/// Tactics one per node, profile inputs name graph inputs of the same rank, ir::verifyGraph passes (on a copy),
/// nodes already in topological order. Fails with invalidArgument; the reader re-labels it.
Status checkEngineModel(const EngineModel& model);

// Shared by the graph section (tensor attributes) and the weights section.
/// Fails when a string or a count does not fit the format's u32 length fields.
Status checkFitsU32(size_t n, const std::string& what);
/// Element bytes of a constant tensor with `dims` (all >= 0) and `dtype`; fails on overflow or a dtype without
/// a fixed size. `where` prefixes the message.
Expected<uint64_t> tensorByteSize(DataType dtype, const Dims& dims, const std::string& where);

}  // namespace kiln::engine
