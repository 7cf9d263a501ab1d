// Shape inference of the data-movement family, split over two files; inferDataMovement (data_movement.cpp)
// dispatches to these.
#pragma once

#include <string>
#include <vector>

#include "ops/families.h"

namespace kiln::ops::datamove {

/// Contents of integer input `index` (int32/int64); unsupported when its value is not known at build time.
Expected<std::vector<int64_t>> knownIntegers(const InferenceCall& call, size_t index, const std::string& name);
/// Contents of float input `index`; unsupported when unknown.
Expected<std::vector<float>> knownFloats(const InferenceCall& call, size_t index, const std::string& name);
/// Whether optional input `index` was given.
bool hasInput(const InferenceCall& call, size_t index);
/// Fails unless the node has at least `count` inputs present.
Status requireInputs(const InferenceCall& call, size_t count);
/// Fails unless the input's dtype is int32 or int64.
Status requireIndexType(const InferenceCall& call, size_t index, const std::string& name);

// data_movement_indexing.cpp
InferResult inferSlice(const InferenceCall& call);
InferResult inferGather(const InferenceCall& call);
InferResult inferGatherElements(const InferenceCall& call);
InferResult inferGatherND(const InferenceCall& call);
InferResult inferScatterND(const InferenceCall& call);
InferResult inferScatterElements(const InferenceCall& call);
InferResult inferPad(const InferenceCall& call);
InferResult inferResize(const InferenceCall& call);
InferResult inferTrilu(const InferenceCall& call);

// data_movement_extra.cpp
InferResult inferOneHot(const InferenceCall& call);
InferResult inferReverseSequence(const InferenceCall& call);
InferResult inferCompress(const InferenceCall& call);

}  // namespace kiln::ops::datamove
