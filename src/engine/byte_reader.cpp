#include "engine/byte_reader.h"

#include <cstring>

namespace kiln::engine {

Status ByteReader::failAt(size_t offset, const std::string& message) const {
  std::string where = region_ + " at offset " + std::to_string(offset) + ": ";
  if (!item_.empty()) where += item_ + ": ";
  return invalidEngine(where + message);
}

Status ByteReader::need(size_t size, const char* field) const {
  if (size <= remaining()) return Status::ok();
  return failAt(pos_, std::string(field) + " needs " + std::to_string(size) + " byte(s) but only " +
                          std::to_string(remaining()) + " remain in the region");
}

uint64_t ByteReader::little(int count) {
  uint64_t v = 0;
  for (int i = 0; i < count; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(file_[pos_ + i])) << (8 * i);
  pos_ += static_cast<size_t>(count);
  return v;
}

Expected<uint8_t> ByteReader::u8(const char* field) {
  KILN_RETURN_IF_ERROR(need(1, field));
  return static_cast<uint8_t>(little(1));
}

Expected<uint32_t> ByteReader::u32(const char* field) {
  KILN_RETURN_IF_ERROR(need(4, field));
  return static_cast<uint32_t>(little(4));
}

Expected<int32_t> ByteReader::i32(const char* field) {
  KILN_RETURN_IF_ERROR(need(4, field));
  return static_cast<int32_t>(static_cast<uint32_t>(little(4)));
}

Expected<uint64_t> ByteReader::u64(const char* field) {
  KILN_RETURN_IF_ERROR(need(8, field));
  return little(8);
}

Expected<int64_t> ByteReader::i64(const char* field) {
  KILN_RETURN_IF_ERROR(need(8, field));
  return static_cast<int64_t>(little(8));
}

Expected<float> ByteReader::f32(const char* field) {
  KILN_RETURN_IF_ERROR(need(4, field));
  const auto bits = static_cast<uint32_t>(little(4));
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

Expected<std::string> ByteReader::string(const char* field) {
  const size_t at = pos_;
  KILN_ASSIGN_OR_RETURN(uint32_t length, u32(field));
  if (length > remaining())
    return failAt(at, std::string(field) + " has length " + std::to_string(length) + " but only " +
                          std::to_string(remaining()) + " byte(s) remain in the region");
  std::string s(reinterpret_cast<const char*>(file_ + pos_), length);
  pos_ += length;
  return s;
}

Expected<uint32_t> ByteReader::count(const char* field, size_t minBytesEach) {
  const size_t at = pos_;
  KILN_ASSIGN_OR_RETURN(uint32_t n, u32(field));
  // n < 2^32 and minBytesEach is a small constant, so the product cannot overflow 64 bits.
  const uint64_t needed = static_cast<uint64_t>(n) * static_cast<uint64_t>(minBytesEach);
  if (needed > remaining())
    return failAt(at, std::string(field) + " is " + std::to_string(n) + ", which needs at least " +
                          std::to_string(needed) + " byte(s), but only " + std::to_string(remaining()) +
                          " remain in the region");
  return n;
}

Expected<const std::byte*> ByteReader::bytes(size_t size, const char* field) {
  KILN_RETURN_IF_ERROR(need(size, field));
  const std::byte* p = file_ + pos_;
  pos_ += size;
  return p;
}

Expected<const std::byte*> ByteReader::viewAt(uint64_t offset, uint64_t size, const char* field) const {
  if (offset < begin_ || offset > end_ || size > end_ - offset)
    return failAt(pos_, std::string(field) + " at offset " + std::to_string(offset) + " with " +
                            std::to_string(size) + " byte(s) does not lie inside the region [" +
                            std::to_string(begin_) + ", " + std::to_string(end_) + ")");
  return file_ + offset;
}

Status ByteReader::expectEnd() {
  if (pos_ == end_) return Status::ok();
  return failAt(pos_, std::to_string(remaining()) + " unexpected byte(s) after the last field");
}

}  // namespace kiln::engine
