// Pieces shared by the kiln subcommands: the Command interface, engine loading with helpful refusals, input
// preparation (shapes from flags, .npy files or random values) and printing of tensors.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "kiln/runtime.h"
#include "shape_flags.h"

namespace kiln::cli {

/// A subcommand. After CLI11 parsed the command line, checkUsage() validates flag values (a failure is bad
/// usage: exit 2), then execute() does the work (a failure is an error: exit 1).
class Command {
 public:
  virtual ~Command() = default;
  virtual CLI::App* app() const = 0;
  virtual Status checkUsage() = 0;
  virtual Status execute() = 0;
};

std::unique_ptr<Command> makeBuildCommand(CLI::App& root);
std::unique_ptr<Command> makeRunCommand(CLI::App& root);
std::unique_ptr<Command> makeInspectCommand(CLI::App& root);
std::unique_ptr<Command> makeBenchCommand(CLI::App& root);

/// Milliseconds of wall time since `start`.
inline double msSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

/// The first bytes of every engine file.
inline constexpr char kEngineMagic[8] = {'K', 'I', 'L', 'N', 'E', 'N', 'G', '\0'};

/// Ok when `path` names a readable regular file; otherwise an IoError naming it.
Status checkReadableFile(const std::string& path);
/// True when the file starts with kEngineMagic (false on any read failure).
bool hasEngineMagic(const std::string& path);
/// Engine::load with a clearer refusal for a missing file or an ONNX model given where an engine belongs.
Expected<std::shared_ptr<Engine>> loadEngine(const std::string& path);

/// "batch x 3 x 256 x 144" style, with symbolic names where the model gives them.
std::string describeDims(const TensorDesc& desc);
/// "name  float32  [batch x 3 x 256 x 144]".
std::string describeTensor(const TensorDesc& desc);

/// Help text that documents prepareInputs' choices.
inline constexpr const char* kRandomInputsHelp =
    "Inputs without --loadInputs are random, reproducible from --seed: float inputs uniform in [-1,-0.1] U [0.1,1]; "
    "integer inputs whose name contains 'mask' and bool inputs 0 or 1; other integer inputs 1..9. An input without "
    "--shapes takes the .npy file's shape, else its static shape, else the profile's opt shape.";

/// How the inputs of one run are chosen (run and bench share this).
struct InputPlan {
  std::vector<NamedShape> shapes;          // from --shapes
  std::vector<NamedPath> files;            // from --loadInputs
  uint64_t seed = 0;                       // for inputs without a file
};

/// For each engine input: its shape (--shapes, else the .npy file's, else the static declared one, else the
/// profile's opt shape) and its values (the .npy file, checked for dtype and shape, else random). Random values:
/// floats uniform in [-1, -0.1] U [0.1, 1] (non-zero so that a dropped term shows); integer inputs whose name
/// contains "mask" (any case) and bools get 0/1; other integers 1..9 (valid as small indices or lengths).
Expected<std::map<std::string, Tensor>> prepareInputs(const Engine& engine, int profileIndex, const InputPlan& plan,
                                                      bool verbose);

/// Fills `t` with the random values described above.
void fillRandom(Tensor& t, const std::string& inputName, std::mt19937_64& rng);

/// Element i of any numeric tensor as a double (float16/bfloat16 decoded).
double elementAsDouble(const Tensor& t, int64_t i);
/// The first `count` values, "[0.1, -0.25, ...]".
std::string formatValues(const Tensor& t, int64_t count);

/// A file name for a tensor name: characters other than [A-Za-z0-9._-] become '_' ("/conv/out" -> "_conv_out").
std::string safeFileName(const std::string& tensorName);

}  // namespace kiln::cli
