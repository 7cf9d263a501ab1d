// Where generated test data lives and how data-driven tests find their cases. Header-only.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace kiln::test {

/// The generated data root: $KILN_TEST_DATA if set (to run against another tree), else the build tree's.
inline std::string testDataRoot() {
  if (const char* env = std::getenv("KILN_TEST_DATA"); env && *env) return env;
#ifdef KILN_TEST_DATA
  return KILN_TEST_DATA;
#else
  return "test_data";
#endif
}

/// Sorted names of the sub-folders of `dir` that contain a model.onnx (hidden folders skipped). Empty when the
/// folder does not exist (the data was not generated).
inline std::vector<std::string> listModelDirs(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name[0] != '.' && std::filesystem::exists(e.path() / "model.onnx")) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

/// A GoogleTest-legal parameter name (letters, digits, '_').
inline std::string testNameFor(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out.empty() ? "_" : out;
}

inline std::string generateCommandHint(const char* piece) {
  return std::string("generate it with: python3 tests/models/generate_all.py --out ") + testDataRoot() +
         " --only " + piece;
}

}  // namespace kiln::test
