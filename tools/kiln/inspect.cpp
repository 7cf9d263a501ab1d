// kiln inspect: describe an engine file (metadata, I/O, profiles, layers with tactics, weights) or an ONNX model
// (I/O with symbolic dims, opset, node count per op type). The kind is told by the magic bytes, not the extension.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_support.h"
#include "engine/engine_file.h"
#include "ir/graph.h"
#include "ir/op_kind.h"
#include "kiln/builder.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

json tensorJson(const TensorDesc& d) {
  json dims = json::array();
  for (size_t i = 0; i < d.dims.size(); ++i) {
    if (d.dims[i] != kDynamicDim) dims.push_back(d.dims[i]);
    else dims.push_back(i < d.dimNames.size() && !d.dimNames[i].empty() ? d.dimNames[i] : "?");
  }
  return {{"name", d.name}, {"dtype", dataTypeName(d.dtype)}, {"dims", dims}};
}

TensorDesc describeValue(const ir::Graph& g, ir::ValueId id) {
  const ir::Value& v = g.values.at(static_cast<size_t>(id));
  TensorDesc d{v.name, v.dtype, v.dims, v.dimNames};
  d.dimNames.resize(d.dims.size());
  return d;
}

std::string valueShape(const ir::Graph& g, ir::ValueId id) {
  if (id == ir::kNoValue) return "-";
  if (id < 0 || static_cast<size_t>(id) >= g.values.size()) return "<bad value id>";
  const ir::Value& v = g.values[static_cast<size_t>(id)];
  return v.rankKnown ? describeDims(describeValue(g, id)) : "?";
}

size_t weightBytes(const ir::Graph& g) {
  size_t total = 0;
  for (const auto& [id, t] : g.constants) total += t.byteSize();
  return total;
}

/// "scale 0.0123 zero point 0" of a QuantizeLinear/DequantizeLinear with a constant float32 scale, "scales per
/// axis 1 (16): 0.0021 to 0.0350" for a vector; "" otherwise.
std::string quantizationText(const ir::Graph& g, const ir::Node& n) {
  if ((n.op != ir::OpKind::kQuantizeLinear && n.op != ir::OpKind::kDequantizeLinear) || n.inputs.size() < 2) return "";
  const Tensor* scale = g.constantOf(n.inputs[1]);
  if (!scale || scale->dtype() != DataType::kFloat32 || scale->elementCount() == 0) return "";
  const float* s = scale->dataAs<float>();
  char text[160];
  if (scale->elementCount() == 1) {
    const Tensor* zero = n.inputs.size() > 2 && n.inputs[2] != ir::kNoValue ? g.constantOf(n.inputs[2]) : nullptr;
    long long zp = 0;
    if (zero && zero->elementCount() == 1 && zero->dtype() == DataType::kInt8) zp = zero->dataAs<int8_t>()[0];
    if (zero && zero->elementCount() == 1 && zero->dtype() == DataType::kUInt8) zp = zero->dataAs<uint8_t>()[0];
    std::snprintf(text, sizeof(text), "scale %.6g zero point %lld", s[0], zp);
  } else {
    const auto [lo, hi] = std::minmax_element(s, s + scale->elementCount());
    std::snprintf(text, sizeof(text), "scales per axis %lld (%lld): %.4g to %.4g",
                  static_cast<long long>(n.attrs.getInt("axis", 1)), static_cast<long long>(scale->elementCount()), *lo,
                  *hi);
  }
  return text;
}

std::string mib(size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f MiB (%zu bytes)", static_cast<double>(bytes) / (1 << 20), bytes);
  return buf;
}

class InspectCommand : public Command {
 public:
  explicit InspectCommand(CLI::App& root) {
    app_ = root.add_subcommand("inspect", "Describe an engine file or an ONNX model");
    app_->add_option("file", path_, "engine file or ONNX model")->required();
    app_->add_flag("--json", json_, "print JSON instead of text");
  }
  CLI::App* app() const override { return app_; }
  Status checkUsage() override { return Status::ok(); }

  Status execute() override {
    KILN_RETURN_IF_ERROR(checkReadableFile(path_));
    json report;
    if (hasEngineMagic(path_)) {
      KILN_ASSIGN_OR_RETURN(report, inspectEngine());
    } else {
      auto network = parseOnnxFile(path_);
      if (!network)
        return network.status().withContext("'" + path_ + "' is neither a kiln engine (no KILNENG magic) nor an ONNX "
                                            "model kiln can import");
      report = inspectNetwork(*network);
    }
    if (json_) std::printf("%s\n", report.dump(2).c_str());
    else printText(report);
    return Status::ok();
  }

 private:
  Expected<json> inspectEngine() const {
    std::ifstream f(path_, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (!f.eof() && f.fail()) return ioError("failed reading '" + path_ + "'");
    auto model = engine::readEngine(bytes.data(), bytes.size());
    if (!model) return model.status().withContext("'" + path_ + "' is not a valid kiln engine");
    const ir::Graph& g = model->graph;
    json r;
    r["kind"] = "engine";
    r["file"] = path_;
    r["file_bytes"] = bytes.size();
    r["device"] = deviceKindName(model->device);
    r["metadata"] = json(model->metadata);
    json inputs = json::array(), outputs = json::array();
    for (ir::ValueId id : g.inputs) inputs.push_back(tensorJson(describeValue(g, id)));
    for (ir::ValueId id : g.outputs) outputs.push_back(tensorJson(describeValue(g, id)));
    r["inputs"] = inputs;
    r["outputs"] = outputs;
    json profiles = json::array();
    for (const OptimizationProfile& p : model->profiles) {
      json ranges = json::array();
      for (const InputShapeRange& range : p.inputs)
        ranges.push_back({{"name", range.name}, {"min", range.min}, {"opt", range.opt}, {"max", range.max}});
      profiles.push_back(ranges);
    }
    r["profiles"] = profiles;
    // Why layers of a mixed-precision engine stay FP32: "name<TAB>reason" lines recorded by the builder.
    std::map<std::string, std::string> fp32Reasons;
    if (auto it = model->metadata.find("precision.fp32_layers"); it != model->metadata.end()) {
      size_t pos = 0;
      const std::string& text = it->second;
      while (pos < text.size()) {
        const size_t end = std::min(text.find('\n', pos), text.size());
        const std::string line = text.substr(pos, end - pos);
        if (const size_t tab = line.find('\t'); tab != std::string::npos)
          fp32Reasons[line.substr(0, tab)] = line.substr(tab + 1);
        pos = end + 1;
      }
    }
    json layers = json::array();
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const ir::Node& n = g.nodes[i];
      json ins = json::array(), outs = json::array();
      for (ir::ValueId id : n.inputs) ins.push_back(id == ir::kNoValue ? "" : g.valueName(id));
      for (ir::ValueId id : n.outputs) outs.push_back(g.valueName(id) + " [" + valueShape(g, id) + "]");
      const std::string tactic = i < model->tactics.size() && !model->tactics[i].empty() ? model->tactics[i] : "default";
      // The original ONNX nodes behind this layer: its own name plus what passes folded or fused into it.
      json fused = json::array();
      for (const auto& f : n.attrs.getStrings("fused_nodes")) fused.push_back(f);
      // A layer's precision is the type of its float outputs.
      std::string precision = "-";
      for (ir::ValueId id : n.outputs) {
        const DataType t = id >= 0 && static_cast<size_t>(id) < g.values.size() ? g.values[id].dtype : DataType::kUndefined;
        if (t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16) precision = dataTypeName(t);
      }
      if (n.op == ir::OpKind::kQuantizeLinear && !n.outputs.empty())  // its precision is the integer type
        precision = dataTypeName(g.values[n.outputs[0]].dtype);
      const auto reason = fp32Reasons.find(n.name);
      layers.push_back({{"name", n.name}, {"op", std::string(ir::opKindName(n.op))}, {"tactic", tactic},
                        {"precision", precision}, {"quantization", quantizationText(g, n)},
                        {"unfused_attention", n.attrs.getString("unfused_attention", "")},
                        {"precision_reason", reason == fp32Reasons.end() ? "" : reason->second},
                        {"layout", n.attrs.getString("data_format", "")}, {"fused", fused}, {"inputs", ins},
                        {"outputs", outs}});
    }
    r["layers"] = layers;
    r["weights_bytes"] = weightBytes(g);
    return r;
  }

  json inspectNetwork(const Network& network) const {
    const ir::Graph& g = network.graph();
    json r;
    r["kind"] = "onnx";
    r["file"] = path_;
    r["opset"] = g.opsetVersion;
    r["producer"] = g.producerName;
    json inputs = json::array(), outputs = json::array();
    for (const TensorDesc& d : network.inputs()) inputs.push_back(tensorJson(d));
    for (const TensorDesc& d : network.outputs()) outputs.push_back(tensorJson(d));
    r["inputs"] = inputs;
    r["outputs"] = outputs;
    std::map<std::string, int> counts;
    for (const ir::Node& n : g.nodes) ++counts[std::string(ir::opKindName(n.op))];
    r["node_count"] = g.nodes.size();
    r["op_counts"] = json(counts);
    r["weights_bytes"] = weightBytes(g);
    return r;
  }

  static std::string dimsText(const json& dims) {
    std::string s;
    for (const json& d : dims) s += (s.empty() ? "" : "x") + (d.is_string() ? d.get<std::string>() : d.dump());
    return s.empty() ? "scalar" : s;
  }

  static void printTensors(const char* label, const json& list) {
    for (const json& t : list)
      std::printf("%-8s '%s' %s [%s]\n", label, t["name"].get<std::string>().c_str(),
                  t["dtype"].get<std::string>().c_str(), dimsText(t["dims"]).c_str());
  }

  void printText(const json& r) const {
    const bool isEngine = r["kind"] == "engine";
    std::printf("%s  %s\n", isEngine ? "engine" : "onnx model", path_.c_str());
    if (isEngine) {
      std::printf("device   %s\n", r["device"].get<std::string>().c_str());
      for (const auto& [key, value] : r["metadata"].items()) {
        if (key == "precision.fp32_layers") continue;  // shown per layer below
        std::printf("meta     %s = %s\n", key.c_str(), value.get<std::string>().c_str());
      }
    } else {
      std::printf("opset    %lld  producer '%s'\n", static_cast<long long>(r["opset"].get<int64_t>()),
                  r["producer"].get<std::string>().c_str());
    }
    printTensors("input", r["inputs"]);
    printTensors("output", r["outputs"]);
    if (isEngine) {
      int index = 0;
      for (const json& p : r["profiles"]) {
        std::printf("profile  %d\n", index++);
        for (const json& range : p)
          std::printf("         '%s' min %s  opt %s  max %s\n", range["name"].get<std::string>().c_str(),
                      dimsText(range["min"]).c_str(), dimsText(range["opt"]).c_str(), dimsText(range["max"]).c_str());
      }
      std::printf("layers   %zu\n", r["layers"].size());
      int i = 0;
      for (const json& l : r["layers"]) {
        std::string outs;
        for (const json& o : l["outputs"]) outs += (outs.empty() ? "" : ", ") + o.get<std::string>();
        std::printf("  %4d  %-20s %-24s %-8s tactic %-16s -> %s\n", i++, l["op"].get<std::string>().c_str(),
                    l["name"].get<std::string>().c_str(), l["precision"].get<std::string>().c_str(),
                    l["tactic"].get<std::string>().c_str(), outs.c_str());
        if (!l["precision_reason"].get<std::string>().empty())
          std::printf("        kept in FP32: %s\n", l["precision_reason"].get<std::string>().c_str());
        if (!l["quantization"].get<std::string>().empty())
          std::printf("        %s\n", l["quantization"].get<std::string>().c_str());
        if (!l["unfused_attention"].get<std::string>().empty())
          std::printf("        not fused as attention: %s\n", l["unfused_attention"].get<std::string>().c_str());
        std::string fused;
        for (const json& f : l["fused"]) fused += (fused.empty() ? "" : ", ") + f.get<std::string>();
        if (!fused.empty()) std::printf("        fuses %s\n", fused.c_str());
      }
    } else {
      std::printf("nodes    %zu\n", r["node_count"].get<size_t>());
      for (const auto& [op, count] : r["op_counts"].items()) std::printf("  %-24s %d\n", op.c_str(), count.get<int>());
    }
    std::printf("weights  %s\n", mib(r["weights_bytes"].get<size_t>()).c_str());
  }

  CLI::App* app_ = nullptr;
  std::string path_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> makeInspectCommand(CLI::App& root) { return std::make_unique<InspectCommand>(root); }

}  // namespace kiln::cli
