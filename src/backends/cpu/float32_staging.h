// float16 and bfloat16 on the CPU backend: most CPU kernels compute in float32 only, so a node whose float tensors are
// narrower runs its float32 kernel on widened copies and rounds each narrow output once at the end. That is the
// semantics kiln promises for these types everywhere (DESIGN.md rule 6: FP32 accumulation and statistics), and what
// the CUDA kernels do in registers, so the CPU stays the reference for FP16/BF16 engines.
#pragma once

#include <span>

#include "backends/backend.h"
#include "ir/graph.h"

namespace kiln::backends::cpu {

struct KernelCall;

/// True when `node`'s CPU kernel needs float32 copies of these float16/bfloat16 tensors: reductions, normalizations,
/// linear algebra and pools, the misc family, interpolating Resize and reducing Scatter for both types; every
/// arithmetic elementwise op for bfloat16 (float16 ones compute natively in _Float16). Never Cast/CastLike, which
/// convert exactly themselves, nor ops that move bytes (Transpose, Concat, Gather, nearest Resize, Where, ...).
bool needsFloat32Staging(const ir::Node& node, std::span<const DeviceTensor> inputs,
                         std::span<const DeviceTensor> outputs);

/// Runs `kernel` with every float16/bfloat16 input widened to float32 and every float16/bfloat16 output computed in
/// float32 scratch, then rounded to nearest even into the real output.
Status runWithFloat32Staging(const KernelCall& call, Status (*kernel)(const KernelCall&));

}  // namespace kiln::backends::cpu
