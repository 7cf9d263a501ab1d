// CPU linalg family: dispatch to the kernels in conv.cpp, gemm.cpp and pool.cpp.
#include "backends/cpu/linalg_kernels.h"

namespace kiln::backends::cpu {

float* scratchFloats(size_t count) {
  // One buffer per calling thread: contexts on different threads never share it; it only grows.
  thread_local std::vector<float> buffer;
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

Status runLinalg(const KernelCall& call) {
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    if (call.inputs[i].present() && call.inputs[i].dtype != DataType::kFloat32) {
      return unsupported(call.where() + "input " + std::to_string(i) + " has dtype " +
                         dataTypeName(call.inputs[i].dtype) + ", the CPU kernel takes float32 only");
    }
  }
  if (call.outputs.size() != 1 || call.outputs[0].dtype != DataType::kFloat32) {
    return unsupported(call.where() + "the CPU kernel produces exactly one float32 output");
  }
  useSingleThreadedBlas();
  switch (call.node.op) {
    case ir::OpKind::kConv: return runConv(call);
    case ir::OpKind::kConvTranspose: return runConvTranspose(call);
    case ir::OpKind::kGemm: return runGemm(call);
    case ir::OpKind::kMatMul: return runMatMul(call);
    case ir::OpKind::kMaxPool:
    case ir::OpKind::kAveragePool: return runPool(call);
    case ir::OpKind::kGlobalAveragePool:
    case ir::OpKind::kGlobalMaxPool: return runGlobalPool(call);
    default: break;
  }
  return internalError(call.where() + "not a linalg op");
}

}  // namespace kiln::backends::cpu
