// The engine writer: header, section table and checksums around the sections (docs/engine-format.md).
#include "engine/engine_file.h"

#include <array>
#include <cstring>

#include "engine/byte_writer.h"
#include "engine/checksum.h"
#include "engine/engine_layout.h"
#include "engine/sections.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

namespace kiln::engine {
namespace {

constexpr std::array<SectionType, 5> kSectionOrder = {SectionType::kMetadata, SectionType::kProfiles,
                                                      SectionType::kGraph, SectionType::kTactics,
                                                      SectionType::kWeights};

Status writeSection(SectionType type, const EngineModel& model, ByteWriter& out) {
  switch (type) {
    case SectionType::kMetadata: return writeMetadataSection(model.metadata, out);
    case SectionType::kProfiles: return writeProfilesSection(model.profiles, out);
    case SectionType::kGraph: return writeGraphSection(model.graph, out);
    case SectionType::kTactics: return writeTacticsSection(model.tactics, out);
    case SectionType::kWeights: return writeWeightsSection(model.graph, out);
  }
  return internalError("unknown section type");
}

}  // namespace

Expected<std::vector<std::byte>> writeEngine(const EngineModel& model) {
  if (model.device != DeviceKind::kCpu && model.device != DeviceKind::kCuda)
    return invalidArgument("cannot write the engine: unknown device kind " +
                           std::to_string(static_cast<int>(model.device)));
  if (Status s = checkEngineModel(model); !s.isOk()) return Status(s.code(), "cannot write the engine: " + s.message());

  ByteWriter out;
  out.raw(std::array<std::byte, kHeaderSize>{}.data(), kHeaderSize);  // filled in last
  const size_t tableAt = out.size();
  out.raw(std::array<std::byte, kSectionOrder.size() * kSectionEntrySize>{}.data(),
          kSectionOrder.size() * kSectionEntrySize);

  struct SectionEntry {
    SectionType type;
    uint64_t offset = 0;
    uint64_t size = 0;
    uint32_t checksum = 0;
  };
  std::vector<SectionEntry> entries;
  for (SectionType type : kSectionOrder) {
    out.padTo(type == SectionType::kWeights ? kWeightAlignment : kSectionAlignment);
    SectionEntry e{type, out.size()};
    KILN_RETURN_IF_ERROR(writeSection(type, model, out));
    e.size = out.size() - e.offset;
    e.checksum = crc32c(out.view().data() + e.offset, e.size);
    entries.push_back(e);
  }

  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t at = tableAt + i * kSectionEntrySize;
    out.patchU32(at, static_cast<uint32_t>(entries[i].type));
    out.patchU64(at + 8, entries[i].offset);
    out.patchU64(at + 16, entries[i].size);
    out.patchU32(at + 24, entries[i].checksum);
  }
  const size_t tableBytes = entries.size() * kSectionEntrySize;

  out.patchBytes(kHeaderMagicAt, kEngineMagic, sizeof kEngineMagic);
  out.patchU32(kHeaderFormatVersionAt, kEngineFormatVersion);
  out.patchU32(kHeaderHeaderSizeAt, kHeaderSize);
  out.patchU64(kHeaderFileSizeAt, out.size());
  const std::string version = std::string(KILN_VERSION).substr(0, kKilnVersionFieldSize - 1);
  out.patchBytes(kHeaderKilnVersionAt, version.data(), version.size());
  out.patchU32(kHeaderDeviceAt, static_cast<uint32_t>(model.device));
  out.patchU32(kHeaderSectionCountAt, static_cast<uint32_t>(entries.size()));
  out.patchU64(kHeaderSectionTableAt, tableAt);
  out.patchU32(kHeaderTableChecksumAt, crc32c(out.view().data() + tableAt, tableBytes));
  out.patchU32(kHeaderChecksumAt, crc32c(out.view().data(), kHeaderChecksumAt));
  return out.take();
}

}  // namespace kiln::engine
