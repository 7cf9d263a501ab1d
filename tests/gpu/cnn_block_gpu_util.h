// What the CNN-block GPU tests share (cnn_block_engines_gpu_test.cpp, cnn_block_kernels_gpu_test.cpp): the blocks'
// names as test names, error statistics against a float32 reference, and rounding host tensors to a narrow type.
// Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "core/half.h"
#include "test_util/compare.h"
#include "unit/cnn_block_graphs.h"

namespace kiln::cnnblocks {

constexpr int64_t kBatch = 2, kSize = 14;  // the blocks' shape in these tests

inline size_t blockCount() { return allBlocks(kBatch, kSize).size(); }

/// "3_dw_3x3_s1_C32_relu6": the block's index and name, alphanumerics only.
inline std::string testName(size_t i) {
  const std::string name = allBlocks(kBatch, kSize)[i].name;
  std::string id = std::to_string(i) + "_";
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c))) id += c;
    else if (id.back() != '_') id += '_';
  if (id.back() == '_') id.pop_back();
  return id;
}

struct Stats {
  double cosine = 0, maxAbs = 0, scale = 0;
  bool finite = true;
};

/// Cosine, max |got - want| and max |want| over all elements (any float dtypes).
inline Stats statsOf(const Tensor& got, const Tensor& want) {
  Stats s;
  double dot = 0, ng = 0, nw = 0;
  for (int64_t i = 0; i < want.elementCount(); ++i) {
    const double a = test::elementAsDouble(got, i), b = test::elementAsDouble(want, i);
    if (!std::isfinite(a)) s.finite = false;
    s.maxAbs = std::max(s.maxAbs, std::fabs(a - b));
    s.scale = std::max(s.scale, std::fabs(b));
    dot += a * b, ng += a * a, nw += b * b;
  }
  s.cosine = ng > 0 && nw > 0 ? dot / std::sqrt(ng * nw) : (ng == nw ? 1.0 : 0.0);
  return s;
}

/// Prints the comparison, then expects finite values, cosine >= `cosine` and max abs error <= `relative` * scale.
inline void expectClose(const Stats& s, double cosine, double relative, const std::string& label) {
  std::printf("[  RESULT  ] %s: cosine %.6f, max abs err %.3g of scale %.3g (%.2e)%s\n", label.c_str(), s.cosine,
              s.maxAbs, s.scale, s.scale > 0 ? s.maxAbs / s.scale : 0.0, s.finite ? "" : ", NOT FINITE");
  std::fflush(stdout);
  EXPECT_TRUE(s.finite) << label;
  EXPECT_GE(s.cosine, cosine) << label;
  EXPECT_LE(s.maxAbs, relative * s.scale) << label;
}

/// `values` (float32) in `type`; the float32 values are rounded to it in place, so both sides see the same numbers.
inline Tensor narrowed(Tensor& values, DataType type) {
  Tensor t = Tensor::allocate(type, values.dims()).value();
  for (int64_t i = 0; i < values.elementCount(); ++i) {
    float& v = values.dataAs<float>()[i];
    if (type == DataType::kFloat16) {
      t.dataAs<uint16_t>()[i] = floatToHalfBits(v);
      v = halfBitsToFloat(t.dataAs<uint16_t>()[i]);
    } else if (type == DataType::kBFloat16) {
      t.dataAs<uint16_t>()[i] = floatToBfloat16Bits(v);
      v = bfloat16BitsToFloat(t.dataAs<uint16_t>()[i]);
    } else {
      t.dataAs<float>()[i] = v;
    }
  }
  return t;
}

}  // namespace kiln::cnnblocks
