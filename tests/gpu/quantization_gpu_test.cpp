// QuantizeLinear / DequantizeLinear on the CUDA backend against the CPU reference, byte for byte: both divide with
// IEEE float32 division, round half to even and saturate the same way (ops/quantization.h), so any difference is a
// bug. Per tensor, per axis (positive and negative axes), blocked with a short last block; int8, uint8, int16
// and uint16; float32, float16 and bfloat16 data; odd shapes. The fixture is in cuda_vs_cpu.h.
#include "gpu/cuda_vs_cpu.h"

namespace kiln {
namespace {

class CudaQuantization : public CudaVsCpu {};

struct ScaleLayout {
  const char* name;
  Dims x, scale;
  int64_t axis, block;
};

const std::vector<ScaleLayout> kLayouts = {
    {"per tensor", {3, 5, 7}, {}, 1, 0},
    {"per tensor [1]", {2, 3, 5, 7}, {1}, 1, 0},
    {"per channel", {2, 3, 17, 9}, {3}, 1, 0},
    {"per column", {33, 65}, {65}, -1, 0},
    {"per output channel", {16, 3, 3, 3}, {16}, 0, 0},
    {"blocked", {3, 10, 5}, {3, 4, 5}, 1, 3},
};

ir::Attributes layoutAttrs(const ScaleLayout& l) {
  ir::Attributes a;
  a.set("axis", l.axis);
  if (l.block) a.set("block_size", l.block);
  return a;
}

TEST_F(CudaQuantization, QuantizeLinearMatchesCpuBitForBit) {
  for (const ScaleLayout& l : kLayouts)
    for (DataType data : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16})
      for (DataType q : {DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kUInt16}) {
        const double zlo = q == DataType::kInt8 || q == DataType::kInt16 ? -20 : 100;
        // |x| up to 40 with scales down to 0.01: well past the 8-bit bounds, so saturation is exercised.
        checkBytes({std::string("Q ") + l.name + " " + dataTypeName(data) + "->" + dataTypeName(q),
                    OpKind::kQuantizeLinear, layoutAttrs(l),
                    {t(data, l.x, -40, 40), t(data, l.scale, 0.01, 0.2), t(q, l.scale, zlo, zlo + 40)}});
      }
}

TEST_F(CudaQuantization, QuantizeLinearTiesAndNoZeroPoint) {
  // Exact ties: x = k + 0.5 with scale 1 must round to even on both backends.
  std::vector<double> ties;
  for (int k = -140; k < 140; ++k) ties.push_back(k + 0.5);
  checkBytes({"Q ties int8", OpKind::kQuantizeLinear, {},
              {given(DataType::kFloat32, {280}, ties, Input::kActivation), given(DataType::kFloat32, {}, {1.0}),
               given(DataType::kInt8, {}, {0.0})}});
  checkBytes({"Q no zero point (uint8)", OpKind::kQuantizeLinear, {},
              {t(DataType::kFloat32, {7, 9}, -3, 3), given(DataType::kFloat32, {}, {0.02})}});
}

TEST_F(CudaQuantization, DequantizeLinearMatchesCpuBitForBit) {
  for (const ScaleLayout& l : kLayouts)
    for (DataType scale : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16})
      for (DataType q : {DataType::kInt8, DataType::kUInt8, DataType::kInt16, DataType::kUInt16}) {
        const bool isSigned = q == DataType::kInt8 || q == DataType::kInt16;
        checkBytes({std::string("DQ ") + l.name + " " + dataTypeName(q) + "->" + dataTypeName(scale),
                    OpKind::kDequantizeLinear, layoutAttrs(l),
                    {t(q, l.x, isSigned ? -128 : 0, isSigned ? 127 : 255), t(scale, l.scale, 0.01, 0.2),
                     t(q, l.scale, isSigned ? -10 : 100, isSigned ? 10 : 140)}});
      }
  checkBytes({"DQ int32 without zero point", OpKind::kDequantizeLinear, {},
              {t(DataType::kInt32, {5, 11}, -100000, 100000), given(DataType::kFloat32, {}, {0.001})}});
}

}  // namespace
}  // namespace kiln
