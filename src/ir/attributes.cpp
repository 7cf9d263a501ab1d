#include "ir/attributes.h"

namespace kiln::ir {
namespace {
template <typename T>
const T* find(const std::map<std::string, AttributeValue>& values, const std::string& name) {
  auto it = values.find(name);
  if (it == values.end()) return nullptr;
  return std::get_if<T>(&it->second);
}
}  // namespace

int64_t Attributes::getInt(const std::string& name, int64_t fallback) const {
  const auto* v = find<int64_t>(values_, name);
  return v ? *v : fallback;
}
float Attributes::getFloat(const std::string& name, float fallback) const {
  if (const auto* v = find<float>(values_, name)) return *v;
  return fallback;
}
std::string Attributes::getString(const std::string& name, const std::string& fallback) const {
  const auto* v = find<std::string>(values_, name);
  return v ? *v : fallback;
}
std::vector<int64_t> Attributes::getInts(const std::string& name, std::vector<int64_t> fallback) const {
  const auto* v = find<std::vector<int64_t>>(values_, name);
  return v ? *v : fallback;
}
std::vector<float> Attributes::getFloats(const std::string& name, std::vector<float> fallback) const {
  const auto* v = find<std::vector<float>>(values_, name);
  return v ? *v : fallback;
}
std::vector<std::string> Attributes::getStrings(const std::string& name) const {
  const auto* v = find<std::vector<std::string>>(values_, name);
  return v ? *v : std::vector<std::string>{};
}
const Tensor* Attributes::getTensor(const std::string& name) const { return find<Tensor>(values_, name); }

}  // namespace kiln::ir
