// The fixed numbers of the engine file layout (docs/engine-format.md describes every byte). Never renumber.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::engine {

inline constexpr char kEngineMagic[8] = {'K', 'I', 'L', 'N', 'E', 'N', 'G', '\0'};

// Header of format version 1: 128 bytes at offset 0.
inline constexpr size_t kHeaderSize = 128;
inline constexpr size_t kHeaderMagicAt = 0;            // 8 bytes
inline constexpr size_t kHeaderFormatVersionAt = 8;    // u32
inline constexpr size_t kHeaderHeaderSizeAt = 12;      // u32
inline constexpr size_t kHeaderFileSizeAt = 16;        // u64
inline constexpr size_t kHeaderKilnVersionAt = 24;     // 32 bytes, ASCII, NUL-padded
inline constexpr size_t kKilnVersionFieldSize = 32;
inline constexpr size_t kHeaderDeviceAt = 56;          // i32 DeviceKind
inline constexpr size_t kHeaderSectionCountAt = 60;    // u32
inline constexpr size_t kHeaderSectionTableAt = 64;    // u64 offset of the section table
inline constexpr size_t kHeaderTableChecksumAt = 72;   // u32 CRC-32C of the section table
inline constexpr size_t kHeaderReservedAt = 76;        // 48 zero bytes
inline constexpr size_t kHeaderChecksumAt = 124;       // u32 CRC-32C of bytes [0, 124)

// Section table: one 32-byte entry per section.
inline constexpr size_t kSectionEntrySize = 32;

inline constexpr size_t kSectionAlignment = 8;
/// Weight blobs (and the weights section) start at multiples of this from the start of the file.
inline constexpr size_t kWeightAlignment = 256;

enum class SectionType : uint32_t { kMetadata = 1, kProfiles = 2, kGraph = 3, kTactics = 4, kWeights = 5 };
inline constexpr uint32_t kFirstSectionType = 1;
inline constexpr uint32_t kLastSectionType = 5;

inline const char* sectionName(SectionType type) {
  switch (type) {
    case SectionType::kMetadata: return "metadata";
    case SectionType::kProfiles: return "profiles";
    case SectionType::kGraph: return "graph";
    case SectionType::kTactics: return "tactics";
    case SectionType::kWeights: return "weights";
  }
  return "unknown";
}

}  // namespace kiln::engine
