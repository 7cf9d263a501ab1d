// Reads little-endian fields from one bounded region of an engine file. Every read checks the bytes left first;
// a failure names the region, the absolute file offset, the current item ("node 17") and the field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kiln/status.h"

namespace kiln::engine {

class ByteReader {
 public:
  /// Reads file[begin, end); `region` is how messages name it ("section 'graph'").
  ByteReader(const std::byte* file, size_t begin, size_t end, std::string region)
      : file_(file), begin_(begin), pos_(begin), end_(end), region_(std::move(region)) {}

  /// The item being decoded, named in every message until changed ("node 17", "" for none).
  void setItem(std::string item) { item_ = std::move(item); }

  Expected<uint8_t> u8(const char* field);
  Expected<uint32_t> u32(const char* field);
  Expected<int32_t> i32(const char* field);
  Expected<uint64_t> u64(const char* field);
  Expected<int64_t> i64(const char* field);
  Expected<float> f32(const char* field);
  /// u32 length then bytes; the length is checked against the bytes left before anything is allocated.
  Expected<std::string> string(const char* field);
  /// A u32 element count whose elements take at least `minBytesEach` bytes: a count the remaining bytes cannot
  /// hold is refused before the caller reserves memory for it.
  Expected<uint32_t> count(const char* field, size_t minBytesEach);
  /// `size` raw bytes (a view into the file).
  Expected<const std::byte*> bytes(size_t size, const char* field);
  /// A view of file[offset, offset + size) that must lie inside the region (weight blobs, found by offset).
  Expected<const std::byte*> viewAt(uint64_t offset, uint64_t size, const char* field) const;
  /// Fails unless every byte of the region was consumed.
  Status expectEnd();

  /// An invalidEngine Status naming the region, `offset` and the current item.
  Status failAt(size_t offset, const std::string& message) const;
  size_t offset() const { return pos_; }
  size_t remaining() const { return end_ - pos_; }
  size_t end() const { return end_; }

 private:
  Status need(size_t size, const char* field) const;
  uint64_t little(int count);

  const std::byte* file_;
  size_t begin_;
  size_t pos_;
  size_t end_;
  std::string region_;
  std::string item_;
};

}  // namespace kiln::engine
