// Shared pieces of the CPU data-movement kernels (data_movement.cpp dispatches; gather_scatter.cpp and
// pad_resize.cpp hold the indexing ops). Everything here copies elements by their byte size, so every dtype works.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "backends/cpu/cpu_kernels.h"

namespace kiln::backends::cpu::datamove {

/// Writes a contiguous tensor of shape `outDims` whose element at index (i0, i1, ...) is read from
/// src + sum(i_d * srcStrides[d]) elements (strides may be 0 or negative). Covers Transpose, Slice, Expand,
/// DepthToSpace and SpaceToDepth. Runs on OpenMP threads for large outputs.
void stridedCopy(size_t elemSize, std::span<const int64_t> outDims, const void* src,
                 std::span<const int64_t> srcStrides, void* dst);

/// Row-major element strides of `dims`.
Dims contiguousStrides(std::span<const int64_t> dims);

/// Integer contents of a host input (int32/int64), for indices and shape inputs.
Expected<std::vector<int64_t>> inputIntegers(const KernelCall& call, size_t index, const std::string& name);
bool hasInput(const KernelCall& call, size_t index);

Status runGather(const KernelCall& call);
Status runGatherElements(const KernelCall& call);
Status runGatherND(const KernelCall& call);
Status runScatterND(const KernelCall& call);
Status runScatterElements(const KernelCall& call);
Status runTrilu(const KernelCall& call);
Status runPad(const KernelCall& call);
Status runResize(const KernelCall& call);
Status runOneHot(const KernelCall& call);            // data_movement_extra.cpp
Status runReverseSequence(const KernelCall& call);   // data_movement_extra.cpp
Status runCompress(const KernelCall& call);          // data_movement_extra.cpp

/// Calls fn(T{}) with T an unsigned integer of `size` bytes (1, 2, 4, 8); false for any other size.
template <typename Fn>
bool dispatchBySize(size_t size, Fn&& fn) {
  switch (size) {
    case 1: fn(uint8_t{}); return true;
    case 2: fn(uint16_t{}); return true;
    case 4: fn(uint32_t{}); return true;
    case 8: fn(uint64_t{}); return true;
    default: return false;
  }
}

}  // namespace kiln::backends::cpu::datamove
