#include "onnx/support_checker.h"

#include "onnx/importer_table.h"
#include "onnx/model_loader.h"
#include "ops/shape_inference.h"

namespace kiln::onnx {

namespace {
// Enough to see what is wrong with a model; a hostile file with a million bad nodes gets a bounded message.
constexpr size_t kMaxListedProblems = 1000;
}  // namespace

void ProblemList::add(const Status& status, const std::string& place) {
  if (status.isOk()) return;
  problems_.push_back(place.empty() ? status : Status(status.code(), place + ": " + status.message()));
}

Status ProblemList::toStatus() const {
  if (problems_.empty()) return Status::ok();
  bool allUnsupported = true;
  for (const auto& p : problems_) allUnsupported = allUnsupported && p.code() == StatusCode::kUnsupported;
  std::string message = problems_.size() == 1 ? std::string("the model cannot be imported:")
                                               : "the model cannot be imported (" + std::to_string(problems_.size()) +
                                                     " problems):";
  for (size_t i = 0; i < problems_.size() && i < kMaxListedProblems; ++i) message += "\n  " + problems_[i].message();
  if (problems_.size() > kMaxListedProblems)
    message += "\n  ... and " + std::to_string(problems_.size() - kMaxListedProblems) + " more";
  return allUnsupported ? unsupported(message) : invalidModel(message);
}

std::string describeOnnxNode(const ::onnx::NodeProto& node, const std::string& name) {
  std::string op = node.op_type();
  if (!isDefaultDomain(node.domain())) op = node.domain() + "::" + op;
  return "node '" + name + "' (" + op + ")";
}

Expected<ir::OpKind> operatorKindOf(const ::onnx::NodeProto& node) {
  if (node.op_type().empty()) return invalidModel("the node has no op_type");
  if (!isDefaultDomain(node.domain()))
    return unsupported("operators of domain '" + node.domain() + "' are not supported (only the default ONNX domain)");
  auto kind = opKindForOnnx(node.op_type());
  if (!kind) return unsupported("unknown operator: kiln has no '" + node.op_type() + "'");
  return *kind;
}

Status checkImplemented(ir::OpKind kind) {
  if (!ops::isImplemented(kind))
    return unsupported("operator " + std::string(ir::opKindName(kind)) + " is not implemented by kiln yet");
  return Status::ok();
}

}  // namespace kiln::onnx
