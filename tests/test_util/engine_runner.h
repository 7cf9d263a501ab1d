// Running a model through kiln's whole pipeline (parse -> build -> load -> context -> infer) on each backend
// present, with the stage that failed kept apart so tests can tell "unsupported" from "wrong". Header-only.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kiln/builder.h"
#include "kiln/runtime.h"
#include "test_util/tensor_proto_io.h"

namespace kiln::test {

/// The backends to test on: the CPU always, CUDA when kiln has it and a usable GPU is present. The reason CUDA
/// is skipped is printed once per process so that a CPU-only run says so.
inline const std::vector<DeviceKind>& devicesToTest() {
  static const std::vector<DeviceKind> devices = [] {
    // KILN_TEST_DEVICES=cuda (or cpu, or cpu,cuda) narrows the run, e.g. to count results per backend.
    const char* only = std::getenv("KILN_TEST_DEVICES");
    const std::string wanted = only ? only : "cpu,cuda";
    std::vector<DeviceKind> d;
    if (wanted.find("cpu") != std::string::npos) d.push_back(DeviceKind::kCpu);
    if (wanted.find("cuda") == std::string::npos) return d;
    auto cuda = backends::createBackend(DeviceKind::kCuda);
    if (cuda) {
      d.push_back(DeviceKind::kCuda);
    } else {
      std::printf("[ SKIPPED  ] CUDA backend not tested: %s\n", cuda.status().toString().c_str());
      std::fflush(stdout);
    }
    return d;
  }();
  return devices;
}

enum class Stage { kParse, kBuild, kLoad, kContext, kInfer, kDone };

inline const char* stageName(Stage s) {
  switch (s) {
    case Stage::kParse: return "parse";
    case Stage::kBuild: return "build";
    case Stage::kLoad: return "load";
    case Stage::kContext: return "createContext";
    case Stage::kInfer: return "infer";
    case Stage::kDone: return "done";
  }
  return "?";
}

struct RunResult {
  Stage stage = Stage::kParse;  // where it stopped; kDone on success
  Status status;
  std::vector<std::map<std::string, Tensor>> outputs;  // one map per input set, when kDone
  bool ok() const { return stage == Stage::kDone; }
  std::string describe() const { return std::string(stageName(stage)) + " failed: " + status.toString(); }
};

/// The profile min = opt = max = these shapes, for every input.
inline OptimizationProfile fixedProfile(const std::vector<NamedTensor>& inputs) {
  OptimizationProfile p;
  for (const auto& in : inputs) p.inputs.push_back({in.name, in.tensor.dims(), in.tensor.dims(), in.tensor.dims()});
  return p;
}

inline std::map<std::string, Tensor> inputMap(const std::vector<NamedTensor>& inputs) {
  std::map<std::string, Tensor> m;
  for (const auto& in : inputs) m[in.name] = in.tensor;
  return m;
}

/// Parses `modelPath`, builds for `device` with `profile`, loads the engine, then runs every input set in one
/// context (so a second set also checks that shapes change correctly between runs). `enginePath`, when given,
/// is where the engine file is written and loaded from (Engine::load); otherwise it is loaded from memory.
inline RunResult buildAndRun(const std::string& modelPath, DeviceKind device, const OptimizationProfile& profile,
                             const std::vector<std::vector<NamedTensor>>& inputSets,
                             const std::string& enginePath = "") {
  RunResult r;
  auto network = parseOnnxFile(modelPath);
  if (!network) return {Stage::kParse, network.status(), {}};
  BuilderConfig config;
  config.device = device;
  config.addProfile(profile);
  // FP32 means FP32 here: TF32 would need looser tolerances than ONNX's and is tested elsewhere.
  config.disallow(Precision::kTF32);
  auto plan = buildEngine(*network, config);
  if (!plan) return {Stage::kBuild, plan.status(), {}};
  if (!enginePath.empty()) {
    Status written = writeFile(enginePath, *plan);
    if (!written.isOk()) return {Stage::kLoad, written, {}};
  }
  auto engine = enginePath.empty() ? Engine::loadFromMemory(plan->data(), plan->size()) : Engine::load(enginePath);
  if (!engine) return {Stage::kLoad, engine.status(), {}};
  auto context = (*engine)->createContext(0);
  if (!context) return {Stage::kContext, context.status(), {}};
  for (const auto& inputs : inputSets) {
    auto outputs = (*context)->infer(inputMap(inputs));
    if (!outputs) return {Stage::kInfer, outputs.status(), {}};
    r.outputs.push_back(std::move(*outputs));
  }
  r.stage = Stage::kDone;
  return r;
}

}  // namespace kiln::test
