#include "engine/byte_writer.h"

#include <cstring>

namespace kiln::engine {

void ByteWriter::little(uint64_t v, int count) {
  for (int i = 0; i < count; ++i) bytes_.push_back(std::byte{static_cast<uint8_t>(v >> (8 * i))});
}

void ByteWriter::f32(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  u32(bits);
}

void ByteWriter::string(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  raw(s.data(), s.size());
}

void ByteWriter::raw(const void* data, size_t size) {
  if (size == 0) return;
  const auto* p = static_cast<const std::byte*>(data);
  bytes_.insert(bytes_.end(), p, p + size);
}

void ByteWriter::padTo(size_t alignment) {
  const size_t rem = bytes_.size() % alignment;
  if (rem) bytes_.resize(bytes_.size() + (alignment - rem), std::byte{0});
}

void ByteWriter::patchU32(size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes_[at + i] = std::byte{static_cast<uint8_t>(v >> (8 * i))};
}

void ByteWriter::patchU64(size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) bytes_[at + i] = std::byte{static_cast<uint8_t>(v >> (8 * i))};
}

void ByteWriter::patchBytes(size_t at, const void* data, size_t size) {
  if (size) std::memcpy(bytes_.data() + at, data, size);
}

}  // namespace kiln::engine
