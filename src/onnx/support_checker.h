// Collects every problem of a model so that one Status can list them all (DESIGN.md rule 1).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/op_kind.h"
#include "kiln/status.h"
#include "onnx/onnx.pb.h"

namespace kiln::onnx {

class ProblemList {
 public:
  /// Records a failed Status; `place` ("node 'x' (Foo)") is prefixed to its message when given.
  void add(const Status& status, const std::string& place = "");
  bool empty() const { return problems_.empty(); }
  size_t size() const { return problems_.size(); }
  /// kUnsupported when every problem is an unsupported feature, else kInvalidModel; one problem per line.
  Status toStatus() const;

 private:
  std::vector<Status> problems_;
};

/// "node 'name' (OpType)" from the ONNX node, for problems found before an ir::Node exists.
std::string describeOnnxNode(const ::onnx::NodeProto& node, const std::string& name);

/// The op kind of a default-domain node; kUnsupported for another domain or an op_type kiln does not know.
Expected<ir::OpKind> operatorKindOf(const ::onnx::NodeProto& node);

/// kUnsupported when kiln has no shape inference / CPU reference for `kind` yet.
Status checkImplemented(ir::OpKind kind);

}  // namespace kiln::onnx
