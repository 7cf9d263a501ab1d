// Reading and patching engine-file bytes at the offsets docs/engine-format.md gives, for tests that check the
// layout or hand the reader tampered files. The CRC-32C here is an independent bit-at-a-time reference (the
// reflected Castagnoli polynomial), not the library's table-driven one. Header-only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::test {

using Bytes = std::vector<std::byte>;

inline uint32_t referenceCrc32c(const std::byte* p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    crc ^= static_cast<uint8_t>(p[i]);
    for (int b = 0; b < 8; ++b) crc = (crc & 1u) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

/// Little-endian fields.
inline uint32_t getU32(const Bytes& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(b[at + i])) << (8 * i);
  return v;
}
inline uint64_t getU64(const Bytes& b, size_t at) { return getU32(b, at) | uint64_t(getU32(b, at + 4)) << 32; }
inline void putU32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = std::byte(uint8_t(v >> (8 * i)));
}
inline void putU64(Bytes& b, size_t at, uint64_t v) {
  putU32(b, at, uint32_t(v));
  putU32(b, at + 4, uint32_t(v >> 32));
}

}  // namespace kiln::test
