// Appends little-endian fields to a growing byte buffer (the engine writer's only way to emit bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace kiln::engine {

class ByteWriter {
 public:
  void u8(uint8_t v) { bytes_.push_back(std::byte{v}); }
  void u32(uint32_t v) { little(v, 4); }
  void i32(int32_t v) { little(static_cast<uint32_t>(v), 4); }
  void u64(uint64_t v) { little(v, 8); }
  void i64(int64_t v) { little(static_cast<uint64_t>(v), 8); }
  /// The IEEE-754 bit pattern, so NaN payloads and -0 survive a round trip.
  void f32(float v);
  /// u32 length, then the bytes (no terminator). Callers check the length fits in u32 first.
  void string(std::string_view s);
  void raw(const void* data, size_t size);
  /// Zero bytes until size() is a multiple of `alignment`.
  void padTo(size_t alignment);
  /// Overwrites 4 or 8 bytes already written (offsets and checksums known only later).
  void patchU32(size_t at, uint32_t v);
  void patchU64(size_t at, uint64_t v);
  void patchBytes(size_t at, const void* data, size_t size);

  size_t size() const { return bytes_.size(); }
  std::span<const std::byte> view() const { return bytes_; }
  std::vector<std::byte> take() { return std::move(bytes_); }
  void reserve(size_t n) { bytes_.reserve(n); }

 private:
  void little(uint64_t v, int count);
  std::vector<std::byte> bytes_;
};

}  // namespace kiln::engine
