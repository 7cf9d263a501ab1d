#include "shape_flags.h"

#include <limits>
#include <set>

namespace kiln::cli {
namespace {

struct Item {
  std::string name;
  std::string value;
};

enum class SplitAt { kFirstColon, kLastColon };

// Splits the list into name/value items, honouring single-quoted names.
Expected<std::vector<Item>> splitItems(const std::string& text, const std::string& flag, SplitAt splitAt) {
  std::vector<Item> items;
  size_t pos = 0;
  if (text.empty()) return invalidArgument(flag + " is empty; expected name:value[,name:value...]");
  while (pos <= text.size()) {
    Item item;
    std::string raw;
    if (pos < text.size() && text[pos] == '\'') {
      const size_t close = text.find('\'', pos + 1);
      if (close == std::string::npos) return invalidArgument(flag + ": unterminated quote in '" + text + "'");
      item.name = text.substr(pos + 1, close - pos - 1);
      pos = close + 1;
      if (pos >= text.size() || text[pos] != ':')
        return invalidArgument(flag + ": expected ':' after the quoted name '" + item.name + "'");
      ++pos;
      const size_t end = text.find_first_of(",\n", pos);
      item.value = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? text.size() + 1 : end + 1;
    } else {
      const size_t end = text.find_first_of(",\n", pos);
      raw = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
      pos = end == std::string::npos ? text.size() + 1 : end + 1;
      const size_t colon = splitAt == SplitAt::kLastColon ? raw.rfind(':') : raw.find(':');
      if (colon == std::string::npos)
        return invalidArgument(flag + ": item '" + raw + "' has no ':' (expected name:value)");
      item.name = raw.substr(0, colon);
      item.value = raw.substr(colon + 1);
    }
    if (item.name.empty()) return invalidArgument(flag + ": an item has an empty input name");
    if (item.value.empty()) return invalidArgument(flag + ": input '" + item.name + "' has an empty value");
    items.push_back(std::move(item));
  }
  std::set<std::string> seen;
  for (const Item& i : items)
    if (!seen.insert(i.name).second) return invalidArgument(flag + ": input '" + i.name + "' is given twice");
  return items;
}

Expected<Dims> parseDims(const std::string& text, const std::string& flag, const std::string& name) {
  Dims dims;
  size_t pos = 0;
  while (true) {
    const size_t end = text.find('x', pos);
    const std::string part = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    const std::string where = flag + ": input '" + name + "' dimension " + std::to_string(dims.size());
    if (part.empty()) return invalidArgument(where + " is empty in '" + text + "' (expected e.g. 1x3x224x224)");
    int64_t v = 0;
    for (char c : part) {
      if (c < '0' || c > '9')
        return invalidArgument(where + " is '" + part + "', not a non-negative integer (in '" + text + "')");
      if (v > (std::numeric_limits<int64_t>::max() - (c - '0')) / 10)
        return invalidArgument(where + " '" + part + "' is too large");
      v = v * 10 + (c - '0');
    }
    dims.push_back(v);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return dims;
}

}  // namespace

Expected<std::vector<NamedShape>> parseShapeList(const std::string& text, const std::string& flag) {
  KILN_ASSIGN_OR_RETURN(std::vector<Item> items, splitItems(text, flag, SplitAt::kLastColon));
  std::vector<NamedShape> shapes;
  for (Item& item : items) {
    KILN_ASSIGN_OR_RETURN(Dims dims, parseDims(item.value, flag, item.name));
    shapes.push_back({std::move(item.name), std::move(dims)});
  }
  return shapes;
}

Expected<std::vector<NamedPath>> parsePathList(const std::string& text, const std::string& flag) {
  KILN_ASSIGN_OR_RETURN(std::vector<Item> items, splitItems(text, flag, SplitAt::kFirstColon));
  std::vector<NamedPath> paths;
  for (Item& item : items) paths.push_back({std::move(item.name), std::move(item.value)});
  return paths;
}

Expected<std::vector<NamedPath>> parseNamedValueList(const std::string& text, const std::string& flag) {
  KILN_ASSIGN_OR_RETURN(std::vector<Item> items, splitItems(text, flag, SplitAt::kLastColon));
  std::vector<NamedPath> values;
  for (Item& item : items) values.push_back({std::move(item.name), std::move(item.value)});
  return values;
}

const NamedShape* findShape(const std::vector<NamedShape>& shapes, const std::string& name) {
  for (const NamedShape& s : shapes)
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace kiln::cli
