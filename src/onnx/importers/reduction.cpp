// Reduce*: axes are an attribute before opset 18 (ReduceSum: before 13); kiln's IR always takes them as input 1.
#include "onnx/node_import.h"

namespace kiln::onnx {

Status importReduce(NodeImport& import) {
  KILN_RETURN_IF_ERROR(checkInputCount(import, 1, 2));
  return moveIntsAttributeToInput(import, "axes", 1);
}

}  // namespace kiln::onnx
