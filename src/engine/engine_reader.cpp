// The verifying engine reader: header, section table, checksums, then each section (docs/engine-format.md).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "engine/byte_reader.h"
#include "engine/checksum.h"
#include "engine/engine_file.h"
#include "engine/engine_layout.h"
#include "engine/sections.h"

namespace kiln::engine {
namespace {

struct SectionEntry {
  SectionType type;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t checksum = 0;
};

struct Header {
  uint64_t fileSize = 0;
  DeviceKind device = DeviceKind::kCpu;
  uint32_t sectionCount = 0;
  uint64_t tableOffset = 0;
  uint32_t tableChecksum = 0;
};

uint32_t loadU32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

uint64_t loadU64(const std::byte* p) { return loadU32(p) | static_cast<uint64_t>(loadU32(p + 4)) << 32; }

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

Status headerError(size_t offset, const std::string& message) {
  return invalidEngine("header at offset " + std::to_string(offset) + ": " + message);
}

// Magic, then the version (before anything whose layout a newer version may change), then size and checksum.
Expected<Header> readHeader(const std::byte* file, size_t size) {
  const size_t magicBytes = std::min(size, sizeof kEngineMagic);
  if (std::memcmp(file, kEngineMagic, magicBytes) != 0)
    return invalidEngine("not a kiln engine file: it does not start with the bytes \"KILNENG\\0\"");
  if (size < kHeaderFormatVersionAt + 4)
    return invalidEngine("the engine file is truncated: it has " + std::to_string(size) +
                         " byte(s) but the header alone needs " + std::to_string(kHeaderSize));
  const uint32_t version = loadU32(file + kHeaderFormatVersionAt);
  if (version > kEngineFormatVersion)
    return invalidEngine("engine format version " + std::to_string(version) + " is newer than this kiln reads (" +
                         std::to_string(kEngineFormatVersion) +
                         "); rebuild the engine with this kiln or upgrade kiln");
  if (version == 0) return headerError(kHeaderFormatVersionAt, "engine format version 0 does not exist");
  if (size < kHeaderSize)
    return invalidEngine("the engine file is truncated: it has " + std::to_string(size) +
                         " byte(s) but the header alone needs " + std::to_string(kHeaderSize));
  const uint32_t storedChecksum = loadU32(file + kHeaderChecksumAt);
  const uint32_t checksum = crc32c(file, kHeaderChecksumAt);
  if (storedChecksum != checksum)
    return invalidEngine("the header checksum does not match (stored " + hex32(storedChecksum) + ", computed " +
                         hex32(checksum) + "): the file is corrupted or was modified");
  const uint32_t headerSize = loadU32(file + kHeaderHeaderSizeAt);
  if (headerSize != kHeaderSize)
    return headerError(kHeaderHeaderSizeAt, "header size is " + std::to_string(headerSize) + ", format version " +
                                                std::to_string(version) + " uses " + std::to_string(kHeaderSize));
  Header h;
  h.fileSize = loadU64(file + kHeaderFileSizeAt);
  if (h.fileSize > size)
    return invalidEngine("the engine file is truncated: its header says " + std::to_string(h.fileSize) +
                         " bytes but only " + std::to_string(size) + " are present");
  if (h.fileSize < size)
    return invalidEngine("the engine file has " + std::to_string(size - h.fileSize) +
                         " extra byte(s): its header says " + std::to_string(h.fileSize) + " bytes but " +
                         std::to_string(size) + " are present");
  // The kiln version: printable ASCII, then NULs only.
  const std::byte* version0 = file + kHeaderKilnVersionAt;
  size_t length = 0;
  while (length < kKilnVersionFieldSize && version0[length] != std::byte{0}) {
    const auto c = static_cast<uint8_t>(version0[length]);
    if (c < 0x20 || c > 0x7E)
      return headerError(kHeaderKilnVersionAt + length, "the kiln version string holds a non-printable byte");
    ++length;
  }
  if (length == kKilnVersionFieldSize)
    return headerError(kHeaderKilnVersionAt, "the kiln version string is not NUL-terminated");
  for (size_t i = length; i < kKilnVersionFieldSize; ++i)
    if (version0[i] != std::byte{0})
      return headerError(kHeaderKilnVersionAt + i, "the kiln version string's padding is not zero");
  const uint32_t device = loadU32(file + kHeaderDeviceAt);
  if (device != static_cast<uint32_t>(DeviceKind::kCpu) && device != static_cast<uint32_t>(DeviceKind::kCuda))
    return headerError(kHeaderDeviceAt, "device kind " + std::to_string(static_cast<int32_t>(device)) +
                                            " is not one kiln knows (0 cpu, 1 cuda)");
  h.device = static_cast<DeviceKind>(device);
  h.sectionCount = loadU32(file + kHeaderSectionCountAt);
  h.tableOffset = loadU64(file + kHeaderSectionTableAt);
  h.tableChecksum = loadU32(file + kHeaderTableChecksumAt);
  for (size_t i = kHeaderReservedAt; i < kHeaderChecksumAt; ++i)
    if (file[i] != std::byte{0}) return headerError(i, "a reserved header byte is not zero");
  return h;
}

Expected<std::vector<SectionEntry>> readSectionTable(const std::byte* file, const Header& h) {
  // sectionCount < 2^32, so the product fits in 64 bits.
  const uint64_t tableBytes = static_cast<uint64_t>(h.sectionCount) * kSectionEntrySize;
  if (h.tableOffset < kHeaderSize || h.tableOffset % kSectionAlignment != 0 || h.tableOffset > h.fileSize ||
      tableBytes > h.fileSize - h.tableOffset)
    return headerError(kHeaderSectionTableAt,
                       "the section table (" + std::to_string(h.sectionCount) + " entries at offset " +
                           std::to_string(h.tableOffset) + ") does not fit in the " + std::to_string(h.fileSize) +
                           "-byte file after the header, 8-byte aligned");
  const uint32_t checksum = crc32c(file + h.tableOffset, tableBytes);
  if (checksum != h.tableChecksum)
    return invalidEngine("the section table checksum does not match (stored " + hex32(h.tableChecksum) +
                         ", computed " + hex32(checksum) + "): the file is corrupted or was modified");

  std::vector<SectionEntry> entries;
  std::vector<bool> seen(kLastSectionType + 1, false);
  uint64_t previousEnd = h.tableOffset + tableBytes;
  for (uint32_t i = 0; i < h.sectionCount; ++i) {
    const size_t at = h.tableOffset + size_t{i} * kSectionEntrySize;
    auto fail = [&](const std::string& m) {
      return invalidEngine("section table entry " + std::to_string(i) + " at offset " + std::to_string(at) + ": " + m);
    };
    const std::byte* p = file + at;
    const uint32_t type = loadU32(p);
    if (type < kFirstSectionType || type > kLastSectionType)
      return fail("section type " + std::to_string(type) + " is unknown to this kiln");
    if (seen[type]) return fail("section '" + std::string(sectionName(SectionType(type))) + "' appears twice");
    seen[type] = true;
    if (loadU32(p + 4) != 0 || loadU32(p + 28) != 0) return fail("a reserved field is not zero");
    SectionEntry e{SectionType(type), loadU64(p + 8), loadU64(p + 16), loadU32(p + 24)};
    const size_t alignment = e.type == SectionType::kWeights ? kWeightAlignment : kSectionAlignment;
    const std::string name = "section '" + std::string(sectionName(e.type)) + "'";
    if (e.offset % alignment != 0)
      return fail(name + " offset " + std::to_string(e.offset) + " is not a multiple of " + std::to_string(alignment));
    if (e.offset < previousEnd)
      return fail(name + " offset " + std::to_string(e.offset) +
                  " overlaps the section table or an earlier section (sections must be in file order)");
    if (e.offset > h.fileSize || e.size > h.fileSize - e.offset)
      return fail(name + " (offset " + std::to_string(e.offset) + ", " + std::to_string(e.size) +
                  " bytes) extends past the end of the " + std::to_string(h.fileSize) + "-byte file");
    previousEnd = e.offset + e.size;
    entries.push_back(e);
  }
  for (uint32_t type = kFirstSectionType; type <= kLastSectionType; ++type)
    if (!seen[type])
      return invalidEngine("the section table has no '" + std::string(sectionName(SectionType(type))) + "' section");
  return entries;
}

// Every byte outside the header, the table and the sections is alignment padding and must be zero, so that no
// byte of the file escapes the checks.
Status checkPadding(const std::byte* file, const Header& h, const std::vector<SectionEntry>& entries) {
  std::vector<std::pair<uint64_t, uint64_t>> used = {{0, kHeaderSize},
                                                     {h.tableOffset, h.tableOffset + h.sectionCount * kSectionEntrySize}};
  for (const auto& e : entries) used.emplace_back(e.offset, e.offset + e.size);
  uint64_t cursor = 0;
  for (const auto& [begin, end] : used) {  // already in file order (checked when reading the table)
    for (uint64_t i = cursor; i < begin; ++i)
      if (file[i] != std::byte{0})
        return invalidEngine("padding byte at offset " + std::to_string(i) +
                             " is not zero: the file is corrupted or was modified");
    cursor = std::max(cursor, end);
  }
  for (uint64_t i = cursor; i < h.fileSize; ++i)
    if (file[i] != std::byte{0})
      return invalidEngine("byte at offset " + std::to_string(i) +
                           " after the last section is not zero: the file is corrupted or was modified");
  return Status::ok();
}

Status readSection(const std::byte* file, const SectionEntry& e, EngineModel& model) {
  ByteReader in(file, e.offset, e.offset + e.size, "section '" + std::string(sectionName(e.type)) + "'");
  switch (e.type) {
    case SectionType::kMetadata: return readMetadataSection(in, model.metadata);
    case SectionType::kProfiles: return readProfilesSection(in, model.profiles);
    case SectionType::kGraph: return readGraphSection(in, model.graph);
    case SectionType::kTactics: return readTacticsSection(in, model.tactics);
    case SectionType::kWeights: return readWeightsSection(in, model.graph);
  }
  return internalError("unknown section type");
}

}  // namespace

Expected<EngineModel> readEngine(const void* data, size_t size) {
  if (data == nullptr && size != 0) return invalidArgument("readEngine: null data with a non-zero size");
  if (size == 0) return invalidEngine("not a kiln engine file: it is empty");
  const auto* file = static_cast<const std::byte*>(data);
  KILN_ASSIGN_OR_RETURN(Header header, readHeader(file, size));
  KILN_ASSIGN_OR_RETURN(std::vector<SectionEntry> entries, readSectionTable(file, header));
  KILN_RETURN_IF_ERROR(checkPadding(file, header, entries));
  // Every checksum before any decoding: a corrupted file gets the plain explanation, not a confusing field error.
  for (const SectionEntry& e : entries) {
    const uint32_t checksum = crc32c(file + e.offset, e.size);
    if (checksum != e.checksum)
      return invalidEngine("section '" + std::string(sectionName(e.type)) + "' (offset " + std::to_string(e.offset) +
                           ", " + std::to_string(e.size) + " bytes) checksum does not match (stored " +
                           hex32(e.checksum) + ", computed " + hex32(checksum) +
                           "): the file is corrupted or was modified");
  }

  EngineModel model;
  model.device = header.device;
  // The weights need the graph's values; sections are decoded in type order whatever their file order.
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.type < b.type; });
  for (const SectionEntry& e : entries) KILN_RETURN_IF_ERROR(readSection(file, e, model));

  if (Status s = checkEngineModel(model); !s.isOk())
    return invalidEngine("the engine's contents are inconsistent: " + s.message());
  for (auto& v : model.graph.values) v.producer = -1;
  for (size_t i = 0; i < model.graph.nodes.size(); ++i)
    for (ir::ValueId out : model.graph.nodes[i].outputs) model.graph.values[out].producer = static_cast<int32_t>(i);
  return model;
}

}  // namespace kiln::engine
