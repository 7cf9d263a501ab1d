// tests/conformance/expectations.txt: what each ONNX node test is expected to do in kiln. Header-only (the test
// build compiles only *_test.cpp). Format, one test per line ('#' starts a comment line):
//   <test_name> pass                                        must pass at ONNX's tolerances (rtol 1e-3, atol 1e-7)
//   <test_name> pass rtol=<x> atol=<y> <reason ...>         must pass at these wider tolerances; reason required
//   <test_name> exclude <reason ...>                        known not to pass yet; runs, must not crash
//   <test_name> unsupported <op types and message ...>      kiln refuses it with a clean "unsupported" error
#pragma once

#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/status.h"
#include "test_util/tensor_proto_io.h"

namespace kiln::test {

inline constexpr double kOnnxRtol = 1e-3;
inline constexpr double kOnnxAtol = 1e-7;

struct Expectation {
  enum class Kind { kPass, kExclude, kUnsupported };
  Kind kind = Kind::kPass;
  double rtol = kOnnxRtol, atol = kOnnxAtol;
  std::string text;  // reason or op types
  std::string line;  // the line as written, kept when the file is rewritten and the status did not change
};

inline const char* expectationKindName(Expectation::Kind k) {
  switch (k) {
    case Expectation::Kind::kPass: return "pass";
    case Expectation::Kind::kExclude: return "exclude";
    case Expectation::Kind::kUnsupported: return "unsupported";
  }
  return "?";
}

/// Parses the expectations text; any malformed line is an error naming its number.
inline Expected<std::map<std::string, Expectation>> parseExpectations(const std::string& text,
                                                                      const std::string& what) {
  std::map<std::string, Expectation> result;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    const std::string where = what + ":" + std::to_string(number) + ": ";
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    std::string name, kind;
    words >> name >> kind;
    Expectation e;
    e.line = line;
    std::string rest;
    std::getline(words, rest);
    rest.erase(0, rest.find_first_not_of(' '));
    if (kind == "pass") {
      e.kind = Expectation::Kind::kPass;
      bool widened = false;
      std::istringstream opts(rest);
      std::string word, reason;
      while (opts >> word) {
        const bool isR = word.rfind("rtol=", 0) == 0, isA = word.rfind("atol=", 0) == 0;
        if (reason.empty() && (isR || isA)) {
          char* end = nullptr;
          const double v = std::strtod(word.c_str() + 5, &end);
          if (end == word.c_str() + 5 || *end != '\0' || !(v >= 0))
            return invalidArgument(where + "bad tolerance '" + word + "'");
          (isR ? e.rtol : e.atol) = v;
          widened = true;
        } else {
          reason += (reason.empty() ? "" : " ") + word;
        }
      }
      if (widened && reason.empty())
        return invalidArgument(where + "'" + name + "' widens the tolerance without a written reason");
      e.text = reason;
    } else if (kind == "exclude" || kind == "unsupported") {
      e.kind = kind == "exclude" ? Expectation::Kind::kExclude : Expectation::Kind::kUnsupported;
      if (rest.empty()) return invalidArgument(where + "'" + name + "' " + kind + " needs a reason");
      e.text = rest;
    } else {
      return invalidArgument(where + "expected '<test> pass|exclude|unsupported ...', found '" + line + "'");
    }
    if (!result.emplace(name, e).second) return invalidArgument(where + "'" + name + "' is listed twice");
  }
  return result;
}

inline Expected<std::map<std::string, Expectation>> readExpectations(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, readFileBytes(path));
  return parseExpectations(text, path);
}

}  // namespace kiln::test
