// CRC-32C (Castagnoli), the checksum of every engine-file region. Written from the published polynomial.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::engine {

/// CRC-32C of `size` bytes (reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF).
/// crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size);

}  // namespace kiln::engine
