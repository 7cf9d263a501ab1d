#include "onnx/importers/space_to_depth.h"

#include "ops/space_to_depth_packed.h"

namespace kiln::onnx {

Status importSpaceToDepth(NodeImport& import) {
  for (const char* name : ops::kSpaceToDepthExtensionAttributes)
    if (import.node.attrs.has(name))
      return invalidModel(std::string("attribute '") + name +
                          "' is not an ONNX SpaceToDepth attribute (only blocksize and mode are); kiln reserves it "
                          "for its own packing node, so the model is refused rather than reinterpreted");
  return Status::ok();
}

}  // namespace kiln::onnx
