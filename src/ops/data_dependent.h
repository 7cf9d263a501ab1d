// Ops whose output size depends on tensor values (DESIGN.md rule 4): NonZero, Unique, NonMaxSuppression always;
// TopK whose K and Compress whose condition are not known on the host. Their shape inference gives each output at
// an upper bound (the count's largest possible value); the kernel writes the outputs densely at the actual count
// (a prefix of the bound-sized buffer) and the count itself into one extra int64 "count" output that the runtime
// appends after the node's own outputs. The runtime reads the count back and re-resolves the shapes with it.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "ops/shape_inference.h"

namespace kiln::ops {

/// Which outputs take the count, along which axis, and the count's upper bound at these input shapes.
struct DataDependentSize {
  int64_t bound = 0;
  std::vector<std::pair<size_t, size_t>> outputAxes;  // (output index, axis)
};

/// True for NonZero, Unique, NonMaxSuppression, and for TopK / Compress when K / condition is not known on the host.
bool isDataDependent(const InferenceCall& call);
/// The bound and the counted axes of a node for which isDataDependent holds; nullopt otherwise.
Expected<std::optional<DataDependentSize>> dataDependentSize(const InferenceCall& call);
/// Output dtypes and dims at the bound (isDataDependent must hold).
Expected<std::vector<TensorInfo>> inferDataDependent(const InferenceCall& call);
/// Whether the data-dependent family implements `kind` outside of other families (NonZero, Unique, NMS).
bool dataDependentImplements(ir::OpKind kind);
/// `dims` with every counted axis of output `output` set to `count`.
Dims dimsAtCount(const DataDependentSize& size, size_t output, Dims dims, int64_t count);

/// NonMaxSuppression's scalar inputs, read on the host where known (CPU kernels read them from memory directly).
struct NmsShape {
  int64_t batches = 0, classes = 0, boxes = 0;
};
Expected<NmsShape> nmsShape(const InferenceCall& call);

}  // namespace kiln::ops
