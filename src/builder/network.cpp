#include <fstream>
#include <iterator>

#include "ir/graph.h"
#include "ir/verifier.h"
#include "kiln/builder.h"

namespace kiln {

Network::Network(std::unique_ptr<ir::Graph> graph) : graph_(std::move(graph)) {}
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;
Network::~Network() = default;

namespace {
TensorDesc describeValue(const ir::Graph& g, ir::ValueId id) {
  const ir::Value& v = g.values[id];
  TensorDesc d;
  d.name = v.name;
  d.dtype = v.dtype;
  d.dims = v.dims;
  d.dimNames = v.dimNames;
  d.dimNames.resize(d.dims.size());
  return d;
}
}  // namespace

std::vector<TensorDesc> Network::inputs() const {
  std::vector<TensorDesc> r;
  for (auto id : graph_->inputs) r.push_back(describeValue(*graph_, id));
  return r;
}

std::vector<TensorDesc> Network::outputs() const {
  std::vector<TensorDesc> r;
  for (auto id : graph_->outputs) r.push_back(describeValue(*graph_, id));
  return r;
}

size_t Network::nodeCount() const { return graph_->nodes.size(); }
std::string Network::toText() const { return ir::printGraph(*graph_); }

Status writeFile(const std::string& path, const std::vector<std::byte>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return ioError("cannot open '" + path + "' for writing");
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return ioError("failed writing " + std::to_string(bytes.size()) + " bytes to '" + path + "'");
  return Status::ok();
}

}  // namespace kiln
