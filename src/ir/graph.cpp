#include "ir/graph.h"

#include <algorithm>
#include <deque>
#include <set>

namespace kiln::ir {

ValueId Graph::addValue(std::string name, DataType dtype) {
  if (name.empty()) name = "_v" + std::to_string(values.size());
  if (byName_.count(name)) {
    std::string base = name;
    for (int i = 1; byName_.count(name); ++i) name = base + "_" + std::to_string(i);
  }
  const auto id = static_cast<ValueId>(values.size());
  Value v;
  v.name = name;
  v.dtype = dtype;
  values.push_back(std::move(v));
  byName_[values.back().name] = id;
  return id;
}

ValueId Graph::addConstant(std::string name, Tensor tensor) {
  const ValueId id = addValue(std::move(name), tensor.dtype());
  values[id].rankKnown = true;
  values[id].dims = tensor.dims();
  constants[id] = std::move(tensor);
  return id;
}

ValueId Graph::findValue(const std::string& name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? kNoValue : it->second;
}

const Tensor* Graph::constantOf(ValueId id) const {
  auto it = constants.find(id);
  return it == constants.end() ? nullptr : &it->second;
}

bool Graph::isGraphOutput(ValueId id) const { return std::find(outputs.begin(), outputs.end(), id) != outputs.end(); }

std::vector<int32_t> Graph::consumers(ValueId id) const {
  std::vector<int32_t> result;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (std::find(nodes[i].inputs.begin(), nodes[i].inputs.end(), id) != nodes[i].inputs.end())
      result.push_back(static_cast<int32_t>(i));
  return result;
}

void Graph::replaceAllUses(ValueId from, ValueId to) {
  for (auto& n : nodes)
    for (auto& in : n.inputs)
      if (in == from) in = to;
  for (auto& out : outputs)
    if (out == from) out = to;
}

Status Graph::topologicalSort() {
  for (auto& v : values) v.producer = -1;
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (ValueId out : nodes[i].outputs) {
      if (out < 0 || out >= static_cast<ValueId>(values.size()))
        return invalidModel(describe(nodes[i]) + ": output refers to a missing value");
      if (values[out].producer != -1)
        return invalidModel("value '" + values[out].name + "' is produced by both " +
                            describe(nodes[values[out].producer]) + " and " + describe(nodes[i]));
      values[out].producer = static_cast<int32_t>(i);
    }
  }
  // Kahn's algorithm over node indices.
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<int32_t>> readers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<int32_t> producers;
    for (ValueId in : nodes[i].inputs) {
      if (in == kNoValue) continue;
      if (in < 0 || in >= static_cast<ValueId>(values.size()))
        return invalidModel(describe(nodes[i]) + ": input refers to a missing value");
      if (values[in].producer >= 0) producers.insert(values[in].producer);
    }
    pending[i] = static_cast<int>(producers.size());
    for (int32_t p : producers) readers[p].push_back(static_cast<int32_t>(i));
  }
  std::deque<int32_t> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push_back(static_cast<int32_t>(i));
  std::vector<int32_t> order;
  while (!ready.empty()) {
    int32_t n = ready.front();
    ready.pop_front();
    order.push_back(n);
    for (int32_t r : readers[n])
      if (--pending[r] == 0) ready.push_back(r);
  }
  if (order.size() != nodes.size()) {
    std::string names;
    int listed = 0;
    for (size_t i = 0; i < nodes.size() && listed < 8; ++i)
      if (pending[i] > 0) {
        names += (listed++ ? ", " : "") + describe(nodes[i]);
      }
    return invalidModel("the graph has a cycle (or reads a value produced later) among: " + names);
  }
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  for (int32_t i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
  for (size_t i = 0; i < nodes.size(); ++i)
    for (ValueId out : nodes[i].outputs) values[out].producer = static_cast<int32_t>(i);
  return Status::ok();
}

Status Graph::eraseNodes(const std::vector<bool>& erase) {
  std::vector<Node> kept;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (i >= erase.size() || !erase[i]) kept.push_back(std::move(nodes[i]));
  nodes = std::move(kept);
  KILN_RETURN_IF_ERROR(topologicalSort());
  removeDeadNodes();
  return Status::ok();
}

int Graph::removeDeadNodes() {
  std::vector<bool> live(values.size(), false);
  for (ValueId o : outputs) live[o] = true;
  std::vector<bool> keep(nodes.size(), false);
  for (size_t k = nodes.size(); k-- > 0;) {
    bool needed = false;
    for (ValueId out : nodes[k].outputs) needed = needed || live[out];
    if (!needed) continue;
    keep[k] = true;
    for (ValueId in : nodes[k].inputs)
      if (in != kNoValue) live[in] = true;
  }
  std::vector<Node> kept;
  int removed = 0;
  for (size_t k = 0; k < nodes.size(); ++k) {
    if (keep[k]) kept.push_back(std::move(nodes[k]));
    else ++removed;
  }
  nodes = std::move(kept);
  for (auto it = constants.begin(); it != constants.end();) {
    if (!live[it->first]) it = constants.erase(it);
    else ++it;
  }
  for (auto& v : values) v.producer = -1;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (ValueId out : nodes[i].outputs) values[out].producer = static_cast<int32_t>(i);
  return removed;
}

void Graph::compact() {
  std::vector<bool> used(values.size(), false);
  for (ValueId v : inputs) used[v] = true;
  for (ValueId v : outputs) used[v] = true;
  for (auto& [id, t] : constants) used[id] = true;
  for (auto& n : nodes) {
    for (ValueId v : n.inputs)
      if (v != kNoValue) used[v] = true;
    for (ValueId v : n.outputs) used[v] = true;
  }
  std::vector<ValueId> remap(values.size(), kNoValue);
  std::vector<Value> kept;
  for (size_t i = 0; i < values.size(); ++i)
    if (used[i]) {
      remap[i] = static_cast<ValueId>(kept.size());
      kept.push_back(std::move(values[i]));
    }
  values = std::move(kept);
  auto fix = [&](ValueId& v) {
    if (v != kNoValue) v = remap[v];
  };
  for (auto& v : inputs) fix(v);
  for (auto& v : outputs) fix(v);
  for (auto& n : nodes) {
    for (auto& v : n.inputs) fix(v);
    for (auto& v : n.outputs) fix(v);
  }
  std::map<ValueId, Tensor> c;
  for (auto& [id, t] : constants) c[remap[id]] = std::move(t);
  constants = std::move(c);
  byName_.clear();
  for (size_t i = 0; i < values.size(); ++i) byName_[values[i].name] = static_cast<ValueId>(i);
}

std::string Graph::describe(const Node& node) const {
  return "node '" + node.name + "' (" + std::string(opKindName(node.op)) + ")";
}

std::string Graph::valueName(ValueId id) const {
  if (id == kNoValue) return "<none>";
  if (id < 0 || id >= static_cast<ValueId>(values.size())) return "<invalid>";
  return values[id].name;
}

}  // namespace kiln::ir
