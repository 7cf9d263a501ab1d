// ONNX backend node tests through kiln on every backend present (one GoogleTest test per ONNX test, so CTest runs
// them in parallel and a crash fails only its own test). Each test: import the model, build with the test's input
// shapes as a fixed profile, run, compare with ONNX's expected outputs at rtol 1e-3 / atol 1e-7 (wider only where
// expectations.txt gives a reason). An unsupported operator must come back as a clean kUnsupported Status.
// A test listed `pass` fails when it does not pass; `exclude`/`unsupported` tests run (they must not crash) and
// are reported, not failed, when they now pass. KILN_CONFORMANCE_WRITE=<path> writes the observed statuses as a
// fresh expectations file (run the binary directly, not through CTest: see README.md).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>

#include "conformance/expectations.h"
#include "test_util/compare.h"
#include "test_util/engine_runner.h"
#include "test_util/tensor_proto_io.h"
#include "test_util/test_dirs.h"

namespace kiln::test {
namespace {

std::string nodeTestsRoot() { return testDataRoot() + "/conformance/node"; }

std::string expectationsPath() {
  if (const char* env = std::getenv("KILN_CONFORMANCE_EXPECTATIONS"); env && *env) return env;
  return std::string(KILN_SOURCE_DIR) + "/tests/conformance/expectations.txt";
}

const Expected<std::map<std::string, Expectation>>& expectations() {
  static const auto e = readExpectations(expectationsPath());
  return e;
}

enum class Result { kPass, kFail, kUnsupported };

struct Outcome {
  Result result = Result::kFail;
  std::string detail;  // why it did not pass; for unsupported, the op types first
};

/// A multi-line Status message as one line of at most `limit` characters, without the test's own path (so
/// that expectations.txt reads the same on every machine).
std::string firstLine(const std::string& s, size_t limit = 240) {
  std::string line;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && (line.empty() || line.back() == ' ')) continue;
    line += c;
  }
  for (const std::string root : {"'" + nodeTestsRoot() + "/", nodeTestsRoot() + "/"}) {
    for (size_t at; (at = line.find(root)) != std::string::npos;) {
      const size_t end = line.find("': ", at);
      line.erase(at, end == std::string::npos || root[0] != '\'' ? root.size() : end + 3 - at);
    }
  }
  return line.size() > limit ? line.substr(0, limit) + "..." : line;
}

/// The op types a kUnsupported message names ("node 'n' (Op)"), else all the model's op types.
std::string unsupportedOps(const ModelSignature& sig, const std::string& message) {
  std::string named, all;
  for (const auto& op : sig.opTypes) {
    all += (all.empty() ? "" : ",") + op;
    if (message.find("(" + op + ")") != std::string::npos) named += (named.empty() ? "" : ",") + op;
  }
  return named.empty() ? all : named;
}

Outcome unsupportedOutcome(const ModelSignature& sig, const Status& s) {
  return {Result::kUnsupported, unsupportedOps(sig, s.message()) + " (" + firstLine(s.toString(), 200) + ")"};
}

Outcome runNodeTest(const std::string& name, double rtol, double atol) {
  const std::string dir = nodeTestsRoot() + "/" + name;
  const std::string model = dir + "/model.onnx";
  auto sig = readModelSignature(model);
  if (!sig) return {Result::kFail, "test data: " + sig.status().toString()};
  // The import alone first: whatever kiln cannot handle (an op, a type, an opset) must be a clean kUnsupported.
  auto network = parseOnnxFile(model);
  if (!network) {
    if (network.status().code() == StatusCode::kUnsupported) return unsupportedOutcome(*sig, network.status());
    return {Result::kFail, "parse: " + firstLine(network.status().toString())};
  }
  for (size_t i = 0; i < sig->inputs.size(); ++i)
    if (!sig->inputIsTensor[i])
      return {Result::kFail, "kiln imported a model whose input '" + sig->inputs[i] + "' is not a tensor"};
  const auto setDirs = listDataSetDirs(dir);
  if (setDirs.empty()) return {Result::kFail, "test data: no test_data_set_* in " + dir};
  for (const auto& setDir : setDirs) {
    auto set = readDataSet(setDir, *sig);
    if (!set) {
      if (set.status().code() == StatusCode::kUnsupported)
        return {Result::kUnsupported, "test data type (" + firstLine(set.status().message(), 200) + ")"};
      return {Result::kFail, "test data: " + set.status().toString()};
    }
    for (DeviceKind device : devicesToTest()) {
      const std::string on = std::string(" on ") + deviceKindName(device);
      RunResult run = buildAndRun(model, device, fixedProfile(set->inputs), {set->inputs});
      if (!run.ok()) {
        if (run.status.code() == StatusCode::kUnsupported) return unsupportedOutcome(*sig, run.status);
        return {Result::kFail, firstLine(run.describe()) + on};
      }
      for (const auto& expected : set->outputs) {
        auto it = run.outputs[0].find(expected.name);
        if (it == run.outputs[0].end()) return {Result::kFail, "output '" + expected.name + "' missing" + on};
        CompareResult c = compareTensors(it->second, expected.tensor, rtol, atol);
        if (!c.ok) return {Result::kFail, "output '" + expected.name + "'" + on + ": " + c.message};
      }
    }
  }
  return {Result::kPass, ""};
}

/// Observed results of the tests this process ran, for the summary line and the expectations writer.
struct Tally {
  std::mutex mutex;
  std::map<std::string, Outcome> observed;
  int regressions = 0, improvements = 0;
};

Tally& tally() {
  static Tally t;
  return t;
}

class NodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(NodeTest, MatchesOnnxReference) {
  const std::string& name = GetParam();
  ASSERT_TRUE(expectations().hasValue()) << expectations().status().toString();
  const auto& listed = *expectations();
  auto it = listed.find(name);
  const Expectation* expect = it == listed.end() ? nullptr : &it->second;
  const double rtol = expect ? expect->rtol : kOnnxRtol, atol = expect ? expect->atol : kOnnxAtol;

  const Outcome o = runNodeTest(name, rtol, atol);
  const bool listedPass = expect && expect->kind == Expectation::Kind::kPass;
  {
    std::lock_guard<std::mutex> lock(tally().mutex);
    tally().observed[name] = o;
    if (listedPass && o.result != Result::kPass) ++tally().regressions;
    if (expect && !listedPass && o.result == Result::kPass) ++tally().improvements;
  }
  if (listedPass) {
    EXPECT_EQ(o.result, Result::kPass) << name << " is listed as pass in " << expectationsPath() << " but "
                                       << (o.result == Result::kFail ? "fails: " : "is unsupported: ") << o.detail;
  } else if (o.result == Result::kPass) {
    std::printf("[ IMPROVED ] %s now passes (listed as %s); update expectations.txt\n", name.c_str(),
                expect ? expectationKindName(expect->kind) : "nothing");
  } else if (!expect) {
    std::printf("[ UNLISTED ] %s: %s: %s\n", name.c_str(), o.result == Result::kFail ? "fail" : "unsupported",
                o.detail.c_str());
  }
}

std::vector<std::string> nodeTestNames() { return listModelDirs(nodeTestsRoot()); }

INSTANTIATE_TEST_SUITE_P(Onnx, NodeTest, ::testing::ValuesIn(nodeTestNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return testNameFor(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(NodeTest);

// The data exists and expectations.txt parses and lists exactly the generated tests.
TEST(ConformanceExpectations, ListEveryTest) {
  const auto names = nodeTestNames();
  ASSERT_FALSE(names.empty()) << "no node tests under " << nodeTestsRoot() << "; "
                              << generateCommandHint("conformance");
  ASSERT_TRUE(expectations().hasValue()) << expectations().status().toString();
  std::set<std::string> present(names.begin(), names.end());
  for (const auto& n : names)
    EXPECT_TRUE(expectations()->count(n)) << "'" << n << "' is not listed in " << expectationsPath()
                                          << " (regenerate it: tests/conformance/README.md)";
  for (const auto& [n, e] : *expectations())
    EXPECT_TRUE(present.count(n)) << expectationsPath() << " lists '" << n << "', which onnx no longer generates";
}

std::string observedLine(const std::string& name, const Outcome& o, const Expectation* prior) {
  switch (o.result) {
    case Result::kPass:
      return prior && prior->kind == Expectation::Kind::kPass ? prior->line : name + " pass";
    case Result::kFail:
      if (prior && prior->kind == Expectation::Kind::kExclude) return prior->line;
      return name + " exclude FAILS: " + firstLine(o.detail, 300);
    case Result::kUnsupported:
      if (prior && prior->kind != Expectation::Kind::kPass) return prior->line;
      return name + " unsupported " + firstLine(o.detail, 300);
  }
  return name + " exclude ?";
}

/// Prints the summary line, and writes the observed expectations when KILN_CONFORMANCE_WRITE is set.
class ConformanceSummary : public ::testing::Environment {
 public:
  void TearDown() override {
    Tally& t = tally();
    if (t.observed.empty()) return;
    const auto* listed = expectations().hasValue() ? &*expectations() : nullptr;
    int pass = 0, fail = 0, unsupportedCount = 0, excluded = 0;
    for (const auto& [name, o] : t.observed) {
      const Expectation* e = nullptr;
      if (listed)
        if (auto it = listed->find(name); it != listed->end()) e = &it->second;
      if (o.result == Result::kPass) ++pass;
      else if (e && e->kind == Expectation::Kind::kExclude) ++excluded;
      else if (o.result == Result::kUnsupported) ++unsupportedCount;
      else ++fail;
    }
    std::printf("conformance: %d pass, %d fail, %d unsupported, %d excluded (%d regressions against expectations, "
                "%d newly passing)\n", pass, fail, unsupportedCount, excluded, t.regressions, t.improvements);
    if (const char* out = std::getenv("KILN_CONFORMANCE_WRITE"); out && *out) writeExpectations(out, listed);
  }

 private:
  static void writeExpectations(const std::string& path, const std::map<std::string, Expectation>* listed) {
    std::map<std::string, std::string> lines;
    if (listed)  // tests this run skipped (a --gtest_filter) keep their line
      for (const auto& [name, e] : *listed) lines[name] = e.line;
    for (const auto& [name, o] : tally().observed) {
      const Expectation* prior = nullptr;
      if (listed)
        if (auto it = listed->find(name); it != listed->end()) prior = &it->second;
      lines[name] = observedLine(name, o, prior);
    }
    std::ofstream f(path);
    f << "# ONNX backend node tests in kiln: see tests/conformance/README.md for the format and how to regenerate.\n"
         "# pass = must pass at rtol 1e-3 / atol 1e-7 (or the rtol=/atol= given, with the reason after them);\n"
         "# exclude <reason> = known not to pass yet; unsupported <ops> = refused with a clean Unsupported error.\n";
    for (const auto& [name, line] : lines) f << line << "\n";
    std::printf("conformance: wrote %zu expectations to %s%s\n", lines.size(), path.c_str(),
                f ? "" : " (WRITE FAILED)");
  }
};

[[maybe_unused]] ::testing::Environment* const kSummary = ::testing::AddGlobalTestEnvironment(new ConformanceSummary);

}  // namespace
}  // namespace kiln::test
