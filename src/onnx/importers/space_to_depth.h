// SpaceToDepth's importer: ONNX's form only. kiln gives SpaceToDepth extension attributes of its own (pads,
// data_format, output_channels; ops/space_to_depth_packed.h) for the stem's packing node; a model file that carries
// any of them is refused instead of being run with a meaning its author did not write.
#pragma once

#include "onnx/node_import.h"

namespace kiln::onnx {

Status importSpaceToDepth(NodeImport& import);

}  // namespace kiln::onnx
