// IEEE 754 binary16 <-> binary32 on the host (round to nearest even), for weights and host-side casts.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln {

inline uint16_t floatToHalfBits(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t absBits = x & 0x7fffffffu;
  if (absBits >= 0x7f800000u) return static_cast<uint16_t>(sign | (absBits > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (absBits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past the largest half
  if (absBits < 0x38800000u) {                                                // subnormal half (or zero)
    // Below 2^-25 everything rounds to zero; stopping there also keeps the shifts below 32 bits (a wider shift is
    // undefined, and on x86 wrapped around: 3.9e-12 came out as 3.43).
    if (absBits < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t shift = 113 - (absBits >> 23);
    const uint32_t mant = (absBits & 0x7fffffu) | 0x800000u;
    uint32_t half = mant >> (shift + 13);
    const uint32_t rest = mant & ((1u << (shift + 13)) - 1), halfway = 1u << (shift + 12);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((absBits - 0x38000000u) >> 13);
  const uint32_t rest = absBits & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

inline float halfBitsToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      exp = 113;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// bfloat16 is the top half of a float32's bits; round to nearest even, NaN stays a (quiet) NaN.
inline uint16_t floatToBfloat16Bits(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

inline float bfloat16BitsToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace kiln
