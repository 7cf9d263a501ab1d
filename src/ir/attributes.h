// Node attributes: a small typed map read by name with defaults.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::ir {

using AttributeValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, std::vector<std::string>, Tensor>;

/// A node attribute the builder sets (int 1) where the node's kernel must not start before the previous one has
/// finished: the runtime puts a stream fence before it (src/builder/run_agreement.h says when and why).
inline constexpr const char* kFenceBeforeAttribute = "kiln_fence_before";

/// Index of each alternative in AttributeValue; stored in engine files, never renumber.
enum class AttributeKind : int32_t { kInt = 0, kFloat = 1, kString = 2, kInts = 3, kFloats = 4, kStrings = 5, kTensor = 6 };

class Attributes {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, AttributeValue value) { values_[name] = std::move(value); }
  void erase(const std::string& name) { values_.erase(name); }

  // Getters with a default for a missing attribute. A present attribute of the wrong kind also yields the default;
  // validation in src/ops reports such a mismatch with the node's name.
  int64_t getInt(const std::string& name, int64_t fallback) const;
  float getFloat(const std::string& name, float fallback) const;
  std::string getString(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> getInts(const std::string& name, std::vector<int64_t> fallback = {}) const;
  std::vector<float> getFloats(const std::string& name, std::vector<float> fallback = {}) const;
  std::vector<std::string> getStrings(const std::string& name) const;
  const Tensor* getTensor(const std::string& name) const;

  const std::map<std::string, AttributeValue>& all() const { return values_; }

 private:
  std::map<std::string, AttributeValue> values_;
};

}  // namespace kiln::ir
