// The import driver: ModelProto → ir::Graph in passes (constants, inputs, every produced name, Constant nodes, node
// import, outputs), collecting every problem before reporting them together.
#include "onnx/importer.h"

#include <span>
#include <unordered_map>
#include <unordered_set>

#include "ir/verifier.h"
#include "onnx/attribute_proto.h"
#include "onnx/importer_table.h"
#include "onnx/model_loader.h"
#include "onnx/subgraph_import.h"
#include "onnx/support_checker.h"
#include "onnx/tensor_proto.h"
#include "onnx/value_info.h"
#include "ops/space_to_depth_packed.h"

namespace kiln::onnx {
namespace {

/// Attributes kiln's passes add to ONNX ops: layout and fused epilogues on convolutions and pools, the stem's
/// packing on SpaceToDepth (ops/space_to_depth_packed.h). They are not ONNX attributes of these ops, so a model that
/// carries them is refused rather than silently run as if kiln had rewritten it.
std::span<const char* const> kilnAttributesOf(ir::OpKind op) {
  static constexpr const char* kConvAndPools[] = {"data_format", "activation", "activation_min", "activation_max",
                                                  "activation_alpha", "activation_beta", "fused_nodes"};
  static constexpr const char* kGemmEpilogue[] = {"activation", "fused_nodes"};  // passes/fuse_gemm_epilogue.cpp
  switch (op) {
    case ir::OpKind::kConv: case ir::OpKind::kConvTranspose: case ir::OpKind::kMaxPool:
    case ir::OpKind::kAveragePool: case ir::OpKind::kGlobalAveragePool: case ir::OpKind::kGlobalMaxPool:
      return kConvAndPools;
    case ir::OpKind::kGemm: case ir::OpKind::kMatMul:
      return kGemmEpilogue;
    case ir::OpKind::kSpaceToDepth:
      return ops::kSpaceToDepthExtensionAttributes;
    default:
      return {};
  }
}

Status refuseKilnAttributes(const ir::Node& node) {
  for (const char* name : kilnAttributesOf(node.op))
    if (node.attrs.has(name))
      return invalidModel(std::string("attribute '") + name + "' is not an ONNX " +
                          std::string(ir::opKindName(node.op)) +
                          " attribute; kiln reserves it for the nodes its passes rewrite, so the model is refused");
  // MatMul's input 2 is kiln's fused bias; ONNX MatMul has exactly A and B.
  if (node.op == ir::OpKind::kMatMul && node.inputs.size() > 2)
    return invalidModel("ONNX MatMul takes 2 inputs (A, B); found " + std::to_string(node.inputs.size()) +
                        " (a bias input is a form kiln's passes make, not an ONNX one), so the model is refused");
  return Status::ok();
}

class GraphImporter {
 public:
  GraphImporter(const ::onnx::ModelProto& model, int64_t opset, const std::string& baseDir, ImportOptions options)
      : model_(model), proto_(model.graph()), opset_(opset), baseDir_(baseDir), options_(options) {}
  /// A subgraph (onnx/subgraph_import.h): names it does not define resolve through `outer` and become its inputs.
  GraphImporter(const ::onnx::ModelProto& model, const ::onnx::GraphProto& proto, int64_t opset,
                const std::string& baseDir, ImportOptions options, OuterScope outer)
      : model_(model), proto_(proto), opset_(opset), baseDir_(baseDir), options_(options), outer_(std::move(outer)) {}

  /// The outer values the imported subgraph reads, in the order of its inputs.
  const std::vector<ir::ValueId>& outerValues() const { return outerValues_; }

  Expected<std::unique_ptr<ir::Graph>> run() {
    graph_->opsetVersion = opset_;
    graph_->producerName = model_.producer_name();
    if (proto_.sparse_initializer_size())
      problems_.add(unsupported("the graph has sparse initializers, which are not supported"));
    importInitializers();
    importGraphInputs();
    nodeNames_.resize(proto_.node_size());
    for (int i = 0; i < proto_.node_size(); ++i) {
      const auto& n = proto_.node(i);
      nodeNames_[i] = n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name();
    }
    defineNodeOutputs();
    countReads();
    importConstantNodes();
    for (int i = 0; i < proto_.node_size(); ++i)
      if (!isConstantNode(proto_.node(i))) importNode(i);
    importGraphOutputs();
    applyIntermediateTypes();
    if (!problems_.empty()) return problems_.toStatus();
    graph_->compact();
    KILN_RETURN_IF_ERROR(ir::verifyGraph(*graph_));
    return std::move(graph_);
  }

 private:
  static bool isConstantNode(const ::onnx::NodeProto& n) { return n.op_type() == "Constant" && isDefaultDomain(n.domain()); }

  // Records where a model name was defined, so a second definition can name the first.
  bool define(const std::string& name, ir::ValueId id, const std::string& definer) {
    auto [it, inserted] = byName_.emplace(name, Definition{id, definer});
    return inserted;
  }
  std::string definerOf(const std::string& name) const { return byName_.at(name).definer; }
  ir::ValueId lookup(const std::string& name) const {
    auto it = byName_.find(name);
    return it == byName_.end() ? ir::kNoValue : it->second.id;
  }
  // Whether `name` is defined here, or in an enclosing scope (then it becomes an input of this subgraph).
  bool resolve(const std::string& name) {
    if (byName_.count(name)) return true;
    if (!outer_) return false;
    const std::optional<OuterValue> outer = outer_(name);
    if (!outer) return false;
    ir::Value info = outer->info;
    info.producer = -1;
    const ir::ValueId id = graph_->addValue(name);
    info.name = graph_->values[id].name;
    graph_->values[id] = std::move(info);
    define(name, id, "the enclosing graph");
    graph_->inputs.push_back(id);
    outerValues_.push_back(outer->id);
    return true;
  }
  // This importer's scope as seen from a subgraph of one of its nodes.
  OuterScope scopeForSubgraphs() {
    return [this](const std::string& name) -> std::optional<OuterValue> {
      if (!resolve(name)) return std::nullopt;
      const ir::ValueId id = lookup(name);
      if (id == ir::kNoValue) return std::nullopt;  // its definition failed and was reported
      return OuterValue{id, graph_->values[id]};
    };
  }

  void importInitializers() {
    for (int i = 0; i < proto_.initializer_size(); ++i) {
      const auto& t = proto_.initializer(i);
      if (t.name().empty()) {
        problems_.add(invalidModel("initializer #" + std::to_string(i) + " has no name"));
        continue;
      }
      const std::string what = "initializer '" + t.name() + "'";
      if (byName_.count(t.name())) {
        problems_.add(invalidModel(what + " is defined twice"));
        continue;
      }
      auto tensor = tensorFromProto(t, baseDir_, what);
      if (!tensor) {
        problems_.add(tensor.status());
        define(t.name(), ir::kNoValue, what);  // known name: readers should not also report it as undefined
        continue;
      }
      define(t.name(), graph_->addConstant(t.name(), std::move(tensor).value()), what);
    }
  }

  void importGraphInputs() {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < proto_.input_size(); ++i) {
      const auto& info = proto_.input(i);
      if (info.name().empty()) {
        problems_.add(invalidModel("graph input #" + std::to_string(i) + " has no name"));
        continue;
      }
      const std::string what = "graph input '" + info.name() + "'";
      if (!seen.insert(info.name()).second) {
        problems_.add(invalidModel(what + " is listed twice"));
        continue;
      }
      if (byName_.count(info.name())) continue;  // an initializer: a constant, not an input (ONNX IR < 4 style)
      const ir::ValueId id = graph_->addValue(info.name());
      define(info.name(), id, what);
      // A Loop body's inputs may leave their types to the Loop's inputs (ONNX's expanded functions do).
      const Status typed = applyValueInfo(info, graph_->values[id], /*typeRequired=*/!outer_, what);
      if (!typed.isOk()) {
        problems_.add(typed);
        continue;
      }
      graph_->inputs.push_back(id);
    }
  }

  void defineNodeOutputs() {
    for (int i = 0; i < proto_.node_size(); ++i) {
      const auto& n = proto_.node(i);
      const std::string place = describeOnnxNode(n, nodeNames_[i]);
      for (const auto& out : n.output()) {
        if (out.empty()) continue;  // an omitted optional output
        if (byName_.count(out)) {
          problems_.add(invalidModel("output '" + out + "' is already defined by " + definerOf(out)), place);
          continue;
        }
        define(out, graph_->addValue(out), place);
      }
    }
  }

  void countReads() {
    for (const auto& n : proto_.node())
      for (const auto& in : n.input())
        if (ir::ValueId id = lookup(in); id != ir::kNoValue) readIds_.insert(id);
    for (const auto& out : proto_.output())
      if (ir::ValueId id = lookup(out.name()); id != ir::kNoValue) readIds_.insert(id);
  }

  void importConstantNodes() {
    for (int i = 0; i < proto_.node_size(); ++i) {
      const auto& n = proto_.node(i);
      if (!isConstantNode(n)) continue;
      const std::string place = describeOnnxNode(n, nodeNames_[i]);
      if (n.input_size() != 0 || n.output_size() != 1 || n.output(0).empty()) {
        problems_.add(invalidModel("a Constant node needs no inputs and exactly one named output"), place);
        continue;
      }
      const ir::ValueId id = lookup(n.output(0));
      if (id == ir::kNoValue || graph_->values[id].producer != -1 || graph_->isConstant(id)) continue;  // reported
      auto tensor = constantNodeTensor(n, baseDir_);
      if (!tensor) {
        problems_.add(tensor.status(), place);
        continue;
      }
      ir::Value& v = graph_->values[id];
      v.dtype = tensor->dtype();
      v.rankKnown = true;
      v.dims = tensor->dims();
      graph_->constants[id] = std::move(tensor).value();
    }
  }

  void importNode(int index) {
    const auto& n = proto_.node(index);
    const std::string place = describeOnnxNode(n, nodeNames_[index]);
    auto kind = operatorKindOf(n);
    if (!kind) {
      problems_.add(kind.status(), place);
      return;
    }
    ir::Node node;
    node.name = nodeNames_[index];
    node.op = *kind;
    const bool controlFlow = node.op == ir::OpKind::kIf || node.op == ir::OpKind::kLoop;
    if (!controlFlow) {  // If's and Loop's attributes are their subgraphs, imported below
      auto attrs = convertAttributes(n, baseDir_);
      if (!attrs) {
        problems_.add(attrs.status(), place);
        return;
      }
      node.attrs = std::move(attrs).value();
    }
    bool inputsOk = true;
    for (const auto& in : n.input()) {
      if (in.empty()) {
        node.inputs.push_back(ir::kNoValue);
        continue;
      }
      const bool known = resolve(in);
      const ir::ValueId id = lookup(in);
      if (!known) {
        problems_.add(invalidModel("input '" + in + "' is not produced by any node, graph input or initializer"), place);
        inputsOk = false;
      } else if (id == ir::kNoValue) {
        inputsOk = false;  // its definition failed and was reported
      }
      node.inputs.push_back(id);
    }
    // Trailing omitted outputs are dropped; an omitted one in the middle gets an anonymous value.
    int last = n.output_size() - 1;
    while (last >= 0 && n.output(last).empty()) --last;
    for (int k = 0; k <= last; ++k) {
      const std::string& out = n.output(k);
      ir::ValueId id = out.empty() ? graph_->addValue("") : lookup(out);
      if (id == ir::kNoValue || (!out.empty() && definerOf(out) != place)) return;  // duplicate output, reported
      node.outputs.push_back(id);
    }
    if (!inputsOk) return;
    if (controlFlow) {
      const Status branches = node.op == ir::OpKind::kIf
                                  ? importIfBranches(model_, n, node, opset_, baseDir_, options_, scopeForSubgraphs())
                                  : importLoopBody(model_, n, node, opset_, baseDir_, options_, scopeForSubgraphs());
      if (!branches.isOk()) problems_.add(branches, place);
      else graph_->nodes.push_back(std::move(node));  // passes/inline_control_flow.cpp inlines it
      return;
    }
    if (Status reserved = refuseKilnAttributes(node); !reserved.isOk()) {
      problems_.add(reserved, place);
      return;
    }
    NodeImport import{*graph_, n, node, opset_, [this](ir::ValueId v) { return readIds_.count(v) != 0; }};
    const Status normalized = importerFor(node.op)(import);
    if (!normalized.isOk()) {
      problems_.add(normalized, place);
      return;
    }
    if (options_.checkSupport) {
      const Status implemented = checkImplemented(node.op);
      if (!implemented.isOk()) {
        problems_.add(implemented, place);
        return;
      }
    }
    graph_->nodes.push_back(std::move(node));
  }

  void importGraphOutputs() {
    std::unordered_set<std::string> seen;
    for (int i = 0; i < proto_.output_size(); ++i) {
      const auto& info = proto_.output(i);
      if (info.name().empty()) {
        problems_.add(invalidModel("graph output #" + std::to_string(i) + " has no name"));
        continue;
      }
      const std::string what = "graph output '" + info.name() + "'";
      if (!seen.insert(info.name()).second) {
        problems_.add(invalidModel(what + " is listed twice"));
        continue;
      }
      if (!resolve(info.name())) {
        problems_.add(invalidModel(what + " is not produced by any node, graph input or initializer"));
        continue;
      }
      const ir::ValueId id = lookup(info.name());
      if (id == ir::kNoValue) continue;  // its definition failed and was reported
      if (!graph_->isConstant(id)) {
        ir::Value declared = graph_->values[id];
        const Status typed = applyValueInfo(info, declared, /*typeRequired=*/false, what);
        if (!typed.isOk()) {
          problems_.add(typed);
          continue;
        }
        graph_->values[id] = std::move(declared);
      }
      graph_->outputs.push_back(id);
    }
  }

  // Intermediate value_info is a hint: take a valid element type, ignore anything else.
  void applyIntermediateTypes() {
    for (const auto& info : proto_.value_info()) {
      const ir::ValueId id = lookup(info.name());
      if (id == ir::kNoValue || graph_->isConstant(id) || graph_->values[id].dtype != DataType::kUndefined) continue;
      if (!info.type().has_tensor_type()) continue;
      const int32_t elem = info.type().tensor_type().elem_type();
      if (isKnownDataType(elem) && elem != static_cast<int32_t>(DataType::kString) && elem != 0)
        graph_->values[id].dtype = static_cast<DataType>(elem);
    }
  }

  struct Definition {
    ir::ValueId id;
    std::string definer;
  };

  const ::onnx::ModelProto& model_;
  const ::onnx::GraphProto& proto_;
  int64_t opset_;
  std::string baseDir_;
  ImportOptions options_;
  std::unique_ptr<ir::Graph> graph_ = std::make_unique<ir::Graph>();
  ProblemList problems_;
  std::unordered_map<std::string, Definition> byName_;
  std::vector<std::string> nodeNames_;
  std::unordered_set<ir::ValueId> readIds_;
  OuterScope outer_;
  std::vector<ir::ValueId> outerValues_;
};

}  // namespace

Expected<ImportedSubgraph> importSubgraph(const ::onnx::ModelProto& model, const ::onnx::GraphProto& proto,
                                          int64_t opset, const std::string& baseDir, const ImportOptions& options,
                                          const OuterScope& outer) {
  GraphImporter importer(model, proto, opset, baseDir, options, outer);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<ir::Graph> graph, importer.run());
  return ImportedSubgraph{std::shared_ptr<ir::Graph>(std::move(graph)), importer.outerValues()};
}

Expected<std::unique_ptr<ir::Graph>> importModel(const void* data, size_t size, const std::string& baseDir,
                                                 const ImportOptions& options) {
  KILN_ASSIGN_OR_RETURN(::onnx::ModelProto model, parseModelProto(data, size));
  KILN_ASSIGN_OR_RETURN(int64_t opset, defaultDomainOpset(model));
  return GraphImporter(model, opset, baseDir, options).run();
}

Expected<std::unique_ptr<ir::Graph>> importModel(const void* data, size_t size, const std::string& baseDir) {
  return importModel(data, size, baseDir, ImportOptions{});
}

}  // namespace kiln::onnx
