#include "backends/cpu/float32_staging.h"

#include <vector>

#include "backends/cpu/cpu_kernels.h"
#include "core/half.h"
#include "ops/broadcast.h"
#include "ops/families.h"

namespace kiln::backends::cpu {
namespace {

using ir::OpKind;

bool isNarrowFloat(DataType t) { return t == DataType::kFloat16 || t == DataType::kBFloat16; }

/// Whether the op's CPU kernel computes float16 (`type`) itself; bfloat16 never has a native arithmetic kernel.
bool computesNatively(const ir::Node& node, DataType type) {
  switch (ops::familyOf(node.op)) {
    case ops::OpFamily::kElementwise:
      switch (node.op) {
        case OpKind::kCast:
        case OpKind::kCastLike:
        case OpKind::kIdentity:
        case OpKind::kWhere: return true;
        default: return type == DataType::kFloat16;  // _Float16 kernels (elementwise_kernels.h), FusedElementwise too
      }
    case ops::OpFamily::kDataMovement:
      switch (node.op) {
        case OpKind::kResize:  // nearest (without crop extrapolation) gathers bytes; the rest interpolates
          return node.attrs.getString("mode", "nearest") == "nearest" &&
                 node.attrs.getString("coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize";
        case OpKind::kScatterND:
        case OpKind::kScatterElements: return node.attrs.getString("reduction", "none") == "none";
        default: return true;  // moves bytes by element size
      }
    case ops::OpFamily::kGenerator: return true;  // fills by bytes or writes shapes
    case ops::OpFamily::kQuantization: return true;  // reads float16/bfloat16 scales and data itself
    case ops::OpFamily::kLinalg:
    case ops::OpFamily::kNormalization:
    case ops::OpFamily::kReduction:
    case ops::OpFamily::kMisc:
    case ops::OpFamily::kAttention: return false;
  }
  return false;
}

float narrowToFloat(DataType t, uint16_t bits) {
  return t == DataType::kFloat16 ? halfBitsToFloat(bits) : bfloat16BitsToFloat(bits);
}
uint16_t floatToNarrow(DataType t, float v) {
  return t == DataType::kFloat16 ? floatToHalfBits(v) : floatToBfloat16Bits(v);
}

}  // namespace

bool needsFloat32Staging(const ir::Node& node, std::span<const DeviceTensor> inputs,
                         std::span<const DeviceTensor> outputs) {
  for (const auto* list : {&inputs, &outputs})
    for (const DeviceTensor& t : *list)
      if (t.present() && isNarrowFloat(t.dtype) && !computesNatively(node, t.dtype)) return true;
  return false;
}

Status runWithFloat32Staging(const KernelCall& call, Status (*kernel)(const KernelCall&)) {
  std::vector<std::vector<float>> storage;
  storage.reserve(call.inputs.size() + call.outputs.size());
  const auto widened = [&](const DeviceTensor& t) {
    const int64_t n = t.elementCount();
    storage.emplace_back(static_cast<size_t>(std::max<int64_t>(n, 1)));
    DeviceTensor w{DataType::kFloat32, t.dims, storage.back().data()};
    if (t.hostData) w.hostData = w.data;
    return w;
  };
  std::vector<DeviceTensor> inputs(call.inputs.begin(), call.inputs.end());
  for (DeviceTensor& t : inputs) {
    if (!t.present() || !isNarrowFloat(t.dtype)) continue;
    const DeviceTensor w = widened(t);
    const auto* src = static_cast<const uint16_t*>(t.data);
    float* dst = static_cast<float*>(w.data);
    const DataType type = t.dtype;
    ops::parallelForRange(t.elementCount(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = narrowToFloat(type, src[i]);
    });
    t = w;
  }
  std::vector<DeviceTensor> outputs(call.outputs.begin(), call.outputs.end());
  for (DeviceTensor& t : outputs)
    if (t.present() && isNarrowFloat(t.dtype)) t = widened(t);
  const KernelCall staged{call.graph, call.node, inputs, outputs};
  KILN_RETURN_IF_ERROR(kernel(staged));
  for (size_t k = 0; k < outputs.size(); ++k) {
    const DeviceTensor& real = call.outputs[k];
    if (!real.present() || !isNarrowFloat(real.dtype)) continue;
    const float* src = static_cast<const float*>(outputs[k].data);
    auto* dst = static_cast<uint16_t*>(real.data);
    const DataType type = real.dtype;
    ops::parallelForRange(real.elementCount(), ops::kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = floatToNarrow(type, src[i]);
    });
  }
  return Status::ok();
}

}  // namespace kiln::backends::cpu
