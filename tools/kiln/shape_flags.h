// Parsing of the CLI's per-input lists: "input:1x3x256x144,mask:1x16" (shapes) and "input:x.npy,mask:m.npy"
// (files). A name containing ':' or ',' (TensorFlow-style "input:0") can be quoted: "'input:0':1x3".
// Repeating a flag appends to its list (CLI11 joins repeats with '\n', which counts as a separator here).
#pragma once

#include <string>
#include <vector>

#include "kiln/status.h"
#include "kiln/types.h"

namespace kiln::cli {

struct NamedShape {
  std::string name;
  Dims dims;
};

struct NamedPath {
  std::string name;
  std::string path;
};

/// Parses "name:AxBxC[,name:...]". Unquoted names end at the last ':' of their item. Dims are non-negative
/// decimal integers separated by 'x'. Fails (naming `flag` and the bad item) on an empty name or dim, a non-digit,
/// an overflow, or a name given twice.
Expected<std::vector<NamedShape>> parseShapeList(const std::string& text, const std::string& flag);

/// Parses "name:path[,name:path]". Unquoted names end at the first ':' of their item.
Expected<std::vector<NamedPath>> parsePathList(const std::string& text, const std::string& flag);

/// Parses "name:value[,name:value]" with names ending at the last ':' of their item (ONNX layer names hold ':').
Expected<std::vector<NamedPath>> parseNamedValueList(const std::string& text, const std::string& flag);
/// The shape given for `name`, or nullptr.
const NamedShape* findShape(const std::vector<NamedShape>& shapes, const std::string& name);

}  // namespace kiln::cli
