// Tactic choices remembered across builds (DESIGN.md rule 3): key = (op signature, shapes, dtypes, GPU).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>

#include "backends/backend.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::builder {

class TimingCache {
 public:
  /// Reads `path` if it exists ("key<TAB>tactic" per line). A missing file is an empty cache; a malformed line is
  /// skipped (counted in skippedLines()) because a cache only ever saves time.
  static Expected<TimingCache> load(const std::string& path);
  Status save(const std::string& path) const;

  std::optional<std::string> find(const std::string& key) const;
  void put(const std::string& key, const std::string& tactic) { entries_[key] = tactic; }
  size_t size() const { return entries_.size(); }
  int skippedLines() const { return skipped_; }

  /// The key of one node at concrete shapes on one device: op, attributes, input/output dtypes and dims.
  static std::string keyFor(const ir::Graph& graph, const ir::Node& node, std::span<const backends::DeviceTensor> in,
                            std::span<const backends::DeviceTensor> out, const std::string& device);

 private:
  std::map<std::string, std::string> entries_;
  int skipped_ = 0;
};

}  // namespace kiln::builder
