// Every single-op case of tests/ops/cases/*.py through kiln's whole pipeline on every backend present:
// parse -> build (fixed profile = the case's input shapes) -> load -> infer, compared with onnxruntime's outputs
// at the case's rtol/atol (|a-b| <= atol + rtol*|b| elementwise, NaN matches only NaN; shape and dtype exact).
// The data comes from `tests/models/generate_all.py --out <build>/test_data --only ops`; one test per case dir.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util/compare.h"
#include "test_util/engine_runner.h"
#include "test_util/tensor_proto_io.h"
#include "test_util/test_dirs.h"

namespace kiln::test {
namespace {

std::string opsRoot() { return testDataRoot() + "/ops"; }

struct CaseMeta {
  double rtol = 1e-4, atol = 1e-5;
  std::string op, family, note;
};

Expected<CaseMeta> readCaseMeta(const std::string& dir) {
  KILN_ASSIGN_OR_RETURN(std::string text, readFileBytes(dir + "/case.json"));
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalidArgument("'" + dir + "/case.json' is not a JSON object");
  CaseMeta m;
  if (!j.contains("rtol") || !j["rtol"].is_number() || !j.contains("atol") || !j["atol"].is_number())
    return invalidArgument("'" + dir + "/case.json' lacks numeric rtol/atol");
  m.rtol = j["rtol"].get<double>();
  m.atol = j["atol"].get<double>();
  if (j.contains("op") && j["op"].is_string()) m.op = j["op"].get<std::string>();
  if (j.contains("family") && j["family"].is_string()) m.family = j["family"].get<std::string>();
  if (j.contains("note") && j["note"].is_string()) m.note = j["note"].get<std::string>();
  return m;
}

class OpCase : public ::testing::TestWithParam<std::string> {};

TEST_P(OpCase, MatchesOnnxRuntime) {
  const std::string dir = opsRoot() + "/" + GetParam();
  auto meta = readCaseMeta(dir);
  ASSERT_TRUE(meta.hasValue()) << meta.status().toString();
  SCOPED_TRACE("case " + GetParam() + " (" + meta->op + ", tests/ops/cases/" + meta->family + ".py)" +
               (meta->note.empty() ? "" : "; note: " + meta->note));
  auto sig = readModelSignature(dir + "/model.onnx");
  ASSERT_TRUE(sig.hasValue()) << sig.status().toString();
  std::vector<DataSet> sets;
  for (const auto& setDir : listDataSetDirs(dir)) {
    auto set = readDataSet(setDir, *sig);
    ASSERT_TRUE(set.hasValue()) << set.status().toString();
    sets.push_back(std::move(*set));
  }
  ASSERT_FALSE(sets.empty()) << "no test_data_set_* in " << dir;
  std::vector<std::vector<NamedTensor>> inputSets;
  for (const auto& s : sets) inputSets.push_back(s.inputs);

  for (DeviceKind device : devicesToTest()) {
    SCOPED_TRACE(std::string("backend ") + deviceKindName(device));
    RunResult run = buildAndRun(dir + "/model.onnx", device, fixedProfile(sets[0].inputs), inputSets);
    if (!run.ok()) {
      ADD_FAILURE() << run.describe();
      continue;
    }
    for (size_t k = 0; k < sets.size(); ++k) {
      for (const auto& expected : sets[k].outputs) {
        auto it = run.outputs[k].find(expected.name);
        if (it == run.outputs[k].end()) {
          ADD_FAILURE() << sets[k].dir << ": output '" << expected.name << "' missing from kiln's results";
          continue;
        }
        CompareResult c = compareTensors(it->second, expected.tensor, meta->rtol, meta->atol);
        EXPECT_TRUE(c.ok) << sets[k].dir << ": output '" << expected.name << "': " << c.message;
      }
    }
  }
}

std::vector<std::string> caseNames() { return listModelDirs(opsRoot()); }

INSTANTIATE_TEST_SUITE_P(Ops, OpCase, ::testing::ValuesIn(caseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return testNameFor(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OpCase);

// The data must exist, and every case file must have been usable: generate_all.py skips a broken file or a
// case onnxruntime rejects (so the other cases still run) and lists it in generation_report.txt; it fails here.
TEST(OpCasesData, GeneratedAndComplete) {
  ASSERT_FALSE(caseNames().empty()) << "no op cases under " << opsRoot() << "; " << generateCommandHint("ops");
  auto report = readFileBytes(opsRoot() + "/generation_report.txt");
  ASSERT_TRUE(report.hasValue()) << report.status().toString();
  std::istringstream lines(*report);
  std::string line;
  std::getline(lines, line);  // the summary line
  std::printf("[ generate ] %s\n", line.c_str());
  while (std::getline(lines, line))
    if (!line.empty()) ADD_FAILURE() << "generation problem: " << line;
}

}  // namespace
}  // namespace kiln::test
