// Launch arguments for reductions (reduce.cu): each output element reduces a set of input elements described by
// the reduced dims' sizes and strides, starting at an offset given by the kept dims.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/cuda_common.h"
#include "ir/op_kind.h"

namespace kiln::backends::cuda {

struct ReduceArgs {
  ir::OpKind op = ir::OpKind::kReduceSum;
  const void* x = nullptr;
  void* y = nullptr;
  int64_t outCount = 0;
  int32_t keptRank = 0;
  int64_t keptDims[kMaxRank] = {};
  int64_t keptStrides[kMaxRank] = {};
  int32_t reducedRank = 0;
  int64_t reducedDims[kMaxRank] = {};
  int64_t reducedStrides[kMaxRank] = {};
  int64_t reduceCount = 1;
  bool selectLastIndex = false;  // ArgMax/ArgMin ties
};
/// Float32/float16/bfloat16 data reduce in float32, float64 in float64; int64/int32 (Sum, Max, Min, Prod) in int64.
/// ArgMax/ArgMin (any of these types) write int64.
cudaError_t launchReduce(const ReduceArgs& args, DataType dtype, cudaStream_t stream);

/// CumSum / CumProd along one axis: lines of `axisLength` elements `inner` apart.
struct CumSumArgs {
  const void* x = nullptr;
  void* y = nullptr;
  int64_t outer = 1, axisLength = 1, inner = 1;
  bool exclusive = false, reverse = false, product = false;
};
cudaError_t launchCumSum(const CumSumArgs& args, DataType dtype, cudaStream_t stream);

/// CumSum / CumProd whose axis lives only in device memory (a graph input computed on the device): every thread
/// reads the axis scalar itself and derives its scan line from `dims`. An axis outside [-rank, rank) makes the
/// output all zeros (the CPU backend reports an error; a kernel cannot).
struct CumSumDeviceAxisArgs {
  const void* x = nullptr;
  void* y = nullptr;
  const void* axis = nullptr;  // one int64 or int32 on the device
  bool axis64 = true;
  int32_t rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t count = 0;  // elements of x
  bool exclusive = false, reverse = false, product = false;
};
cudaError_t launchCumSumDeviceAxis(const CumSumDeviceAxisArgs& args, DataType dtype, cudaStream_t stream);

}  // namespace kiln::backends::cuda
