#include "builder/timing_cache.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace kiln::builder {
namespace {

std::string attributeText(const ir::AttributeValue& a) {
  std::ostringstream os;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, float> || std::is_same_v<T, std::string>) {
          os << x;
        } else if constexpr (std::is_same_v<T, Tensor>) {
          os << dataTypeName(x.dtype()) << dimsToString(x.dims());
        } else {
          for (const auto& e : x) os << e << ",";
        }
      },
      a);
  return os.str();
}

void tensorsText(std::ostringstream& os, std::span<const backends::DeviceTensor> ts) {
  for (const auto& t : ts) os << (t.present() ? dataTypeName(t.dtype) + dimsToString(t.dims) : "-") << ";";
}

}  // namespace

Expected<TimingCache> TimingCache::load(const std::string& path) {
  TimingCache cache;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return cache;
  std::ifstream f(path);
  if (!f) return ioError("cannot read the timing cache '" + path + "'");
  std::string line;
  while (std::getline(f, line)) {
    const auto tab = line.find('\t');
    if (line.empty() || line[0] == '#') continue;
    if (tab == std::string::npos || tab == 0 || line.find('\t', tab + 1) != std::string::npos) {
      ++cache.skipped_;
      continue;
    }
    cache.entries_[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return cache;
}

Status TimingCache::save(const std::string& path) const {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return ioError("cannot write the timing cache '" + path + "'");
  f << "# kiln timing cache: op signature and shapes on a device <TAB> fastest tactic\n";
  for (const auto& [key, tactic] : entries_) f << key << '\t' << tactic << '\n';
  f.close();
  if (!f) return ioError("failed writing the timing cache '" + path + "'");
  return Status::ok();
}

std::optional<std::string> TimingCache::find(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::string TimingCache::keyFor(const ir::Graph& graph, const ir::Node& node, std::span<const backends::DeviceTensor> in,
                                std::span<const backends::DeviceTensor> out, const std::string& device) {
  std::ostringstream os;
  os << device << "|" << ir::opKindName(node.op) << "|";
  for (const auto& [name, value] : node.attrs.all())
    if (name != "fused_nodes") os << name << "=" << attributeText(value) << ";";
  os << "|";
  tensorsText(os, in);
  os << "|";
  tensorsText(os, out);
  std::string key = os.str();
  for (char& c : key)
    if (c == '\t' || c == '\n') c = ' ';
  return key;
}

}  // namespace kiln::builder
