// The kiln CLI as a user meets it: exit codes (0 ok, 1 error, 2 bad usage, never a signal), messages that name
// the file, input, dtype and shape at fault, and end-to-end build/run/inspect/bench on small generated models
// whose outputs are checked against onnxruntime.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "core/npy.h"

namespace {

namespace fs = std::filesystem;

struct CliResult {
  int exitCode = -1;
  bool signaled = false;
  std::string out, err;
};

fs::path workDir() {
  static fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("kiln_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

std::string readText(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

std::string quote(const std::string& s) { return "'" + s + "'"; }

// Runs `kiln <args>` with stdout and stderr captured separately.
CliResult runCli(const std::string& args) {
  const fs::path out = workDir() / "stdout.txt", err = workDir() / "stderr.txt";
  const std::string cmd = std::string(KILN_CLI) + " " + args + " >" + quote(out.string()) + " 2>" + quote(err.string());
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.signaled = WIFSIGNALED(status);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = readText(out);
  r.err = readText(err);
  return r;
}

std::string describe(const CliResult& r) {
  return "exit " + std::to_string(r.exitCode) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

int runPython(const std::string& script, const std::string& args) {
  const fs::path path = workDir() / "script.py";
  std::ofstream(path) << script;
  return std::system(("python3 " + quote(path.string()) + " " + args).c_str());
}

void writeBytes(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

std::string randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Models shared by all tests, written once with onnx.helper:
//   tiny.onnx   y = Relu(x @ W + B), x: float [batch, 4]
//   tiny2.onnx  the same graph with other weights (for a --compare that must fail)
//   types.onnx  xo = x * 1 (float), mo = mask * 1 (int64), io = ids * 1 (int64): exposes the random inputs
//   scaled.onnx y = x * 1e-9, zero.onnx y = x * 0 (x: float [batch, 4]): outputs of a tiny scale and of none
class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string script = R"(
import sys, numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
d = sys.argv[1]
def tiny(path, seed):
    rng = np.random.default_rng(seed)
    W = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), 'W')
    B = numpy_helper.from_array(np.abs(rng.standard_normal((3,))).astype(np.float32), 'B')  # positive: Relu keeps values
    nodes = [helper.make_node('MatMul', ['x', 'W'], ['mm'], name='mm'),
             helper.make_node('Add', ['mm', 'B'], ['add'], name='add'),
             helper.make_node('Relu', ['add'], ['y'], name='relu')]
    g = helper.make_graph(nodes, 'tiny', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 4])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['batch', 3])], [W, B])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], ir_version=9), path)
tiny(d + '/tiny.onnx', 0)
tiny(d + '/tiny2.onnx', 1)
one_f = numpy_helper.from_array(np.ones((1,), np.float32), 'one_f')
one_i = numpy_helper.from_array(np.ones((1,), np.int64), 'one_i')
nodes = [helper.make_node('Mul', ['x', 'one_f'], ['xo'], name='mx'),
         helper.make_node('Mul', ['attention_mask', 'one_i'], ['mo'], name='mm'),
         helper.make_node('Mul', ['ids', 'one_i'], ['io'], name='mi')]
vi = helper.make_tensor_value_info
g = helper.make_graph(nodes, 'types',
    [vi('x', TensorProto.FLOAT, ['n', 64]), vi('attention_mask', TensorProto.INT64, ['n', 64]),
     vi('ids', TensorProto.INT64, ['n', 64])],
    [vi('xo', TensorProto.FLOAT, ['n', 64]), vi('mo', TensorProto.INT64, ['n', 64]),
     vi('io', TensorProto.INT64, ['n', 64])], [one_f, one_i])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], ir_version=9), d + '/types.onnx')
for name, k in (('scaled', 1e-9), ('zero', 0.0)):
    c = numpy_helper.from_array(np.full((1,), k, np.float32), 'k')
    g = helper.make_graph([helper.make_node('Mul', ['x', 'k'], ['y'], name='mul')], name,
                          [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['batch', 4])],
                          [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['batch', 4])], [c])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], ir_version=9), d + '/' + name + '.onnx')
np.save(d + '/x5_f32.npy', np.random.default_rng(5).uniform(-1, 1, (5, 4)).astype(np.float32))
np.save(d + '/x5_i64.npy', np.ones((5, 4), np.int64))
np.save(d + '/x6_f32.npy', np.ones((6, 3), np.float32))
)";
    ASSERT_EQ(runPython(script, quote(workDir().string())), 0) << "python3 with onnx and numpy is needed";
  }

  static std::string path(const std::string& name) { return (workDir() / name).string(); }

  // Builds tiny.onnx for batch 1..8 once; later tests reuse the engine.
  static std::string tinyEngine() {
    const std::string engine = path("tiny.kiln");
    if (!fs::exists(engine)) {
      CliResult r = runCli("build " + path("tiny.onnx") + " -o " + engine +
                           " --minShapes=x:1x4 --optShapes=x:4x4 --maxShapes=x:8x4");
      EXPECT_EQ(r.exitCode, 0) << describe(r);
    }
    return engine;
  }

  static void expectUsageError(const std::string& args, const std::string& messagePart = "") {
    CliResult r = runCli(args);
    EXPECT_FALSE(r.signaled);
    EXPECT_EQ(r.exitCode, 2) << "kiln " << args << "\n" << describe(r);
    EXPECT_NE(r.err.find("kiln: usage error:"), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find("--help"), std::string::npos) << "a usage error carries a hint\n" << describe(r);
    if (!messagePart.empty()) EXPECT_NE(r.err.find(messagePart), std::string::npos) << describe(r);
  }

  static CliResult expectError(const std::string& args, const std::vector<std::string>& messageParts) {
    CliResult r = runCli(args);
    EXPECT_FALSE(r.signaled);
    EXPECT_EQ(r.exitCode, 1) << "kiln " << args << "\n" << describe(r);
    EXPECT_EQ(r.err.rfind("kiln: error: ", 0), 0u) << describe(r);
    for (const std::string& part : messageParts)
      EXPECT_NE(r.err.find(part), std::string::npos) << "expected '" << part << "' in\n" << describe(r);
    return r;
  }
};

TEST_F(CliTest, HelpExitsZero) {
  for (const char* args : {"--help", "build --help", "run --help", "inspect --help", "bench --help"}) {
    CliResult r = runCli(args);
    EXPECT_EQ(r.exitCode, 0) << args << "\n" << describe(r);
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << describe(r);
  }
}

TEST_F(CliTest, BadUsageExitsTwo) {
  expectUsageError("");
  expectUsageError("frobnicate");
  expectUsageError("build", "model");
  expectUsageError("build " + path("tiny.onnx"), "--output");
  expectUsageError("run", "engine");
  expectUsageError("inspect");
  expectUsageError("bench");
  expectUsageError("run x.kiln --noSuchFlag");
  expectUsageError("build " + path("tiny.onnx") + " -o y.kiln --device=tpu");
  expectUsageError("bench x.kiln --iterations=0");
  expectUsageError("bench x.kiln --iterations=abc");
}

TEST_F(CliTest, MalformedShapesExitTwo) {
  expectUsageError("run x.kiln --shapes=input:1xAx3", "'A'");
  expectUsageError("run x.kiln --shapes=input:1xx3", "dimension 1 is empty");
  expectUsageError("run x.kiln --shapes=input:-1x3", "not a non-negative integer");
  expectUsageError("run x.kiln --shapes=input", "no ':'");
  expectUsageError("run x.kiln --shapes=:1x3", "empty input name");
  expectUsageError("run x.kiln --shapes=input:", "empty value");
  expectUsageError("run x.kiln --shapes=a:1x3,a:1x3", "given twice");
  expectUsageError("run x.kiln --shapes=a:99999999999999999999999", "too large");
  expectUsageError("run x.kiln --shapes=\"'a:0:1x3\"", "unterminated quote");
  expectUsageError("bench x.kiln --shapes=input:1x3x", "empty");
  expectUsageError("build m.onnx -o m.kiln --minShapes=x:1x4 --optShapes=x:4xB --maxShapes=x:8x4", "'B'");
  expectUsageError("build m.onnx -o m.kiln --minShapes=x:1x4 --optShapes=x:4x4", "--maxShapes");
  expectUsageError("build m.onnx -o m.kiln --minShapes=x:4x4 --optShapes=x:2x4 --maxShapes=x:8x4",
                   "min <= opt <= max");
  expectUsageError("build m.onnx -o m.kiln --minShapes=x:1x4 --optShapes=x:2x4 --maxShapes=x:8x4x1", "rank");
  expectUsageError("build m.onnx -o m.kiln --shapes=x:1x4 --minShapes=x:1x4 --optShapes=x:2x4 --maxShapes=x:8x4",
                   "either");
  expectUsageError("run x.kiln --loadInputs=x", "no ':'");
}

TEST_F(CliTest, MissingFilesNameThePath) {
  const std::string missing = path("no_such_dir/missing_model.onnx");
  expectError("build " + missing + " -o " + path("out.kiln"), {missing});
  expectError("run " + path("missing.kiln"), {path("missing.kiln")});
  expectError("bench " + path("missing.kiln") + " --duration=0", {path("missing.kiln")});
  expectError("inspect " + path("missing.kiln"), {path("missing.kiln")});
  expectError("inspect " + workDir().string(), {"directory"});
  expectError("run " + tinyEngine() + " --loadInputs=x:" + path("missing.npy"), {"'x'", path("missing.npy")});
  expectError("run " + tinyEngine() + " --shapes=x:2x4 --compare=" + path("missing.onnx"), {path("missing.onnx")});
}

TEST_F(CliTest, RandomBytesAreRefused) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::string junk = path("junk" + std::to_string(seed));
    writeBytes(junk, randomBytes(100 + 700 * seed, seed));
    expectError("run " + junk, {junk});
    expectError("bench " + junk + " --duration=0", {junk});
    expectError("inspect " + junk, {junk});
    expectError("build " + junk + " -o " + path("junk.kiln"), {junk});
    // The right magic followed by garbage: the engine reader must refuse it, not crash.
    const std::string fake = path("fake" + std::to_string(seed) + ".kiln");
    writeBytes(fake, std::string("KILNENG\0", 8) + randomBytes(64 * seed, seed + 10));
    expectError("run " + fake, {fake});
    expectError("inspect " + fake, {fake});
  }
  const std::string empty = path("empty.kiln");
  writeBytes(empty, "");
  expectError("run " + empty, {empty});
  expectError("inspect " + empty, {empty});
  // An ONNX model where an engine belongs: the message says to build it first.
  expectError("run " + path("tiny.onnx"), {"kiln build"});
}

TEST_F(CliTest, TruncatedEngineIsRefused) {
  const std::string engine = tinyEngine();
  const std::string bytes = readText(engine);
  ASSERT_GT(bytes.size(), 64u);
  for (size_t cut : {size_t{8}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string cutPath = path("cut.kiln");
    writeBytes(cutPath, bytes.substr(0, cut));
    expectError("run " + cutPath, {cutPath});
    expectError("inspect " + cutPath, {cutPath});
  }
}

TEST_F(CliTest, BadNpyInputsNameTheInputDtypeAndShape) {
  const std::string engine = tinyEngine();
  expectError("run " + engine + " --loadInputs=x:" + path("x5_i64.npy"), {"'x'", "float32", "int64"});
  expectError("run " + engine + " --loadInputs=x:" + path("x6_f32.npy"), {"'x'", "float32", "6x3", "x6_f32.npy"});
  expectError("run " + engine + " --shapes=x:7x4 --loadInputs=x:" + path("x5_f32.npy"),
              {"'x'", "7x4", "5x4", "--shapes"});
  expectError("run " + engine + " --loadInputs=nosuch:" + path("x5_f32.npy"), {"'nosuch'", "'x'"});
  const std::string corrupt = path("corrupt.npy");
  writeBytes(corrupt, readText(path("x5_f32.npy")).substr(0, 100));
  expectError("run " + engine + " --loadInputs=x:" + corrupt, {"'x'", corrupt, "truncated"});
  const std::string junk = path("junk.npy");
  writeBytes(junk, randomBytes(300, 9));
  expectError("run " + engine + " --loadInputs=x:" + junk, {junk});
}

TEST_F(CliTest, ShapeOutsideProfileOrUnknownInputIsAnError) {
  const std::string engine = tinyEngine();
  expectError("run " + engine + " --shapes=x:9x4", {"'x'", "9"});
  expectError("run " + engine + " --shapes=x:2x5", {"'x'"});
  expectError("run " + engine + " --shapes=y:2x4", {"'y'", "not an input"});
  expectError("run " + engine + " --profile=3", {"profile"});
  expectError("bench " + engine + " --shapes=x:9x4 --duration=0", {"'x'", "9"});
  expectError("build " + path("tiny.onnx") + " -o " + path("t.kiln"), {"'x'", "dynamic"});
  expectError("build " + path("tiny.onnx") + " -o " + path("t.kiln") + " --shapes=z:1x4", {"'z'", "not an input"});
}

// The CLI's outputs for inputs loaded from .npy agree with onnxruntime (FP32 on the CPU backend: max relative
// error 1e-4 with an absolute floor of 1e-5), at the profile's min, max and an odd batch between.
TEST_F(CliTest, RunMatchesOnnxruntime) {
  const std::string engine = tinyEngine();
  for (int batch : {1, 5, 8}) {
    const std::string input = path("in" + std::to_string(batch) + ".npy");
    const std::string outDir = path("out" + std::to_string(batch));
    ASSERT_EQ(runPython("import numpy as np, sys\n"
                        "np.save(sys.argv[1], np.random.default_rng(int(sys.argv[2])).uniform(-1, 1, (int(sys.argv[2]), "
                        "4)).astype(np.float32))\n",
                        quote(input) + " " + std::to_string(batch)),
              0);
    CliResult r = runCli("run " + engine + " --loadInputs=x:" + input + " --saveOutputs=" + outDir);
    ASSERT_EQ(r.exitCode, 0) << describe(r);
    EXPECT_NE(r.out.find("output 'y' float32 [" + std::to_string(batch) + "x3]"), std::string::npos) << describe(r);
    auto saved = kiln::readNpyFile(outDir + "/y.npy");
    ASSERT_TRUE(saved.hasValue()) << saved.status().toString();
    EXPECT_EQ(saved->dims(), (kiln::Dims{batch, 3}));
    EXPECT_EQ(runPython("import numpy as np, onnxruntime as ort, sys\n"
                        "s = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])\n"
                        "x = np.load(sys.argv[2]); got = np.load(sys.argv[3])\n"
                        "ref = s.run(None, {'x': x})[0]\n"
                        "assert got.shape == ref.shape, (got.shape, ref.shape)\n"
                        "assert np.allclose(got, ref, rtol=1e-4, atol=1e-5), np.abs(got - ref).max()\n"
                        "assert np.count_nonzero(ref) > 0\n",
                        quote(path("tiny.onnx")) + " " + quote(input) + " " + quote(outDir + "/y.npy")),
              0)
        << "batch " << batch;
  }
}

TEST_F(CliTest, CompareWithTheOnnxModel) {
  const std::string engine = tinyEngine();
  CliResult ok = runCli("run " + engine + " --shapes=x:7x4 --seed=11 --compare=" + path("tiny.onnx"));
  ASSERT_EQ(ok.exitCode, 0) << describe(ok);
  EXPECT_NE(ok.out.find("seed    11"), std::string::npos) << describe(ok);
  EXPECT_NE(ok.out.find("'y': max abs"), std::string::npos) << describe(ok);
  EXPECT_NE(ok.out.find("cosine"), std::string::npos) << describe(ok);
  EXPECT_NE(ok.out.find("PASS"), std::string::npos) << describe(ok);
  // Different weights, same interface: the comparison must fail with exit 1 and name the output.
  CliResult bad = expectError("run " + engine + " --shapes=x:7x4 --seed=11 --compare=" + path("tiny2.onnx"),
                              {"--compare", "'y'"});
  EXPECT_NE(bad.out.find("FAIL"), std::string::npos) << describe(bad);
}

TEST_F(CliTest, CompareWithReferenceFiles) {
  const std::string engine = tinyEngine(), refs = path("refs");
  CliResult saved = runCli("run " + engine + " --shapes=x:5x4 --seed=3 --saveOutputs=" + refs);
  ASSERT_EQ(saved.exitCode, 0) << describe(saved);
  CliResult same = runCli("run " + engine + " --shapes=x:5x4 --seed=3 --compareOutputs=" + refs);
  ASSERT_EQ(same.exitCode, 0) << describe(same);
  EXPECT_NE(same.out.find("compare PASS"), std::string::npos) << describe(same);
  // Other inputs, same references: every value differs, exit 1 naming the output.
  CliResult other = expectError("run " + engine + " --shapes=x:5x4 --seed=4 --compareOutputs=" + refs,
                                {"reference files", "'y'"});
  EXPECT_NE(other.out.find("FAIL"), std::string::npos) << describe(other);
  expectError("run " + engine + " --shapes=x:5x4 --compareOutputs=" + path("no_such_dir"), {"y.npy"});
}

// Builds `name`.onnx (x: [batch, 4]) for batch 1..8 once.
std::string smallEngine(const std::string& name) {
  const std::string engine = (workDir() / (name + ".kiln")).string();
  if (!fs::exists(engine)) {
    CliResult r = runCli("build " + (workDir() / (name + ".onnx")).string() + " -o " + engine +
                         " --minShapes=x:1x4 --optShapes=x:4x4 --maxShapes=x:8x4");
    EXPECT_EQ(r.exitCode, 0) << describe(r);
  }
  return engine;
}

// Writes DIR/y.npy from a numpy expression of `y` (the saved outputs in `from`/y.npy) or of the shape (5, 3).
void writeReference(const std::string& dir, const std::string& expression, const std::string& from = "") {
  fs::create_directories(dir);
  ASSERT_EQ(runPython("import numpy as np, sys\n"
                      "y = np.load(sys.argv[2] + '/y.npy') if len(sys.argv) > 2 else None\n"
                      "np.save(sys.argv[1] + '/y.npy', np.asarray(" + expression + ", dtype=np.float32))\n",
                      quote(dir) + (from.empty() ? "" : " " + quote(from))),
            0)
      << expression;
}

// The verdict is relative to the reference's scale, never an absolute tolerance: outputs of scale 1e-9 that agree
// pass; zeros against them fail (an atol of 1e-5 used to call that PASS); an error of 1e-3 of the scale fails a
// strict FP32 engine's default bound (1e-4 x max|ref|) and passes a looser bound given on the command line.
TEST_F(CliTest, CompareIsRelativeToTheReferenceScale) {
  const std::string scaled = smallEngine("scaled"), zero = smallEngine("zero"), refs = path("refs_scaled");
  ASSERT_EQ(runCli("run " + scaled + " --shapes=x:5x4 --seed=8 --saveOutputs=" + refs).exitCode, 0);
  CliResult same = runCli("run " + scaled + " --shapes=x:5x4 --seed=8 --compareOutputs=" + refs);
  ASSERT_EQ(same.exitCode, 0) << describe(same);
  for (const char* part : {"max abs 0", "err/scale 0", "cosine 1.0000", "PASS", "0.0001 x max|ref|", "compare PASS"})
    EXPECT_NE(same.out.find(part), std::string::npos) << part << "\n" << describe(same);
  CliResult zeros = expectError("run " + zero + " --shapes=x:5x4 --seed=8 --compareOutputs=" + refs,
                                {"differ", "'y'"});
  EXPECT_NE(zeros.out.find("cosine 0.0000"), std::string::npos) << describe(zeros);
  EXPECT_NE(zeros.out.find("err/scale 1 "), std::string::npos) << describe(zeros);
  EXPECT_NE(zeros.out.find("compare FAIL"), std::string::npos) << describe(zeros);

  const std::string tiny = tinyEngine(), saved = path("refs_tiny"), off = path("refs_tiny_off");
  ASSERT_EQ(runCli("run " + tiny + " --shapes=x:5x4 --seed=9 --saveOutputs=" + saved).exitCode, 0);
  writeReference(off, "y + 1e-3 * np.abs(y).max() * np.sign(np.arange(y.size).reshape(y.shape) % 2 - 0.5)", saved);
  CliResult strict = expectError("run " + tiny + " --shapes=x:5x4 --seed=9 --compareOutputs=" + off, {"'y'"});
  EXPECT_NE(strict.out.find("FAIL (max abs err"), std::string::npos) << describe(strict);
  // The error is 1e-3 of the scale (within float32 rounding): a bound just below fails, one just above passes.
  expectError("run " + tiny + " --shapes=x:5x4 --seed=9 --maxErrorToScale=9.5e-4 --compareOutputs=" + off, {"'y'"});
  CliResult loose =
      runCli("run " + tiny + " --shapes=x:5x4 --seed=9 --maxErrorToScale=1.05e-3 --compareOutputs=" + off);
  EXPECT_EQ(loose.exitCode, 0) << describe(loose);
  EXPECT_NE(loose.out.find("compare PASS"), std::string::npos) << describe(loose);
  // The cosine is judged too: a bound on the error alone does not let a sign flip through.
  writeReference(off, "-y", saved);
  CliResult flipped = runCli("run " + tiny + " --shapes=x:5x4 --seed=9 --maxErrorToScale=3 --compareOutputs=" + off);
  EXPECT_EQ(flipped.exitCode, 1) << describe(flipped);
  EXPECT_NE(flipped.out.find("cosine -1"), std::string::npos) << describe(flipped);
  EXPECT_NE(flipped.out.find("FAIL (cosine"), std::string::npos) << describe(flipped);
}

// A reference that cannot tell right from wrong is DEGENERATE, never PASS, and the run exits 1: all zero (from
// files, and from --compare with a model whose output is zero), constant, holding a NaN. Each would match an engine
// that computes the same nothing; here the engine's outputs even equal the degenerate reference.
TEST_F(CliTest, DegenerateReferencesAreNotAPass) {
  const std::string zero = smallEngine("zero"), scaled = smallEngine("scaled"), tiny = tinyEngine();
  const std::string zeroRefs = path("refs_zero");
  ASSERT_EQ(runCli("run " + zero + " --shapes=x:5x4 --seed=2 --saveOutputs=" + zeroRefs).exitCode, 0);
  struct Case {
    std::string args, reason;
  };
  const std::string constant = path("refs_constant"), withNan = path("refs_nan"), saved = path("refs_tiny_nan");
  writeReference(constant, "np.full((5, 3), 0.75)");
  ASSERT_EQ(runCli("run " + tiny + " --shapes=x:5x4 --seed=2 --saveOutputs=" + saved).exitCode, 0);
  writeReference(withNan, "np.where(np.arange(y.size).reshape(y.shape) == 7, np.nan, y)", saved);
  for (const Case& c : {Case{zero + " --compareOutputs=" + zeroRefs, "all zero"},
                        Case{scaled + " --compare=" + path("zero.onnx"), "all zero"},
                        Case{tiny + " --compareOutputs=" + constant, "constant (every value 0.75)"},
                        Case{tiny + " --compareOutputs=" + withNan, "1 NaN/Inf value(s)"}}) {
    CliResult r = expectError("run " + c.args + " --shapes=x:5x4 --seed=2", {"degenerate reference", "'y'"});
    EXPECT_NE(r.out.find("DEGENERATE (the reference "), std::string::npos) << describe(r);
    EXPECT_NE(r.out.find(c.reason), std::string::npos) << describe(r);
    EXPECT_NE(r.out.find("compare DEGENERATE"), std::string::npos) << describe(r);
    EXPECT_EQ(r.out.find("PASS"), std::string::npos) << describe(r);
  }
}

// NaN in the engine's output against a clean reference is a FAIL that says so (y = x * 1e-9, one x is NaN).
TEST_F(CliTest, NonFiniteOutputFails) {
  const std::string scaled = smallEngine("scaled"), input = path("x_nan.npy"), refs = path("refs_clean");
  ASSERT_EQ(runPython("import numpy as np, sys\n"
                      "x = np.random.default_rng(3).uniform(-1, 1, (5, 4)).astype(np.float32)\n"
                      "np.save(sys.argv[1] + '/x_clean.npy', x); x[2, 1] = np.nan\n"
                      "np.save(sys.argv[1] + '/x_nan.npy', x)\n",
                      quote(workDir().string())),
            0);
  ASSERT_EQ(runCli("run " + scaled + " --loadInputs=x:" + path("x_clean.npy") + " --saveOutputs=" + refs).exitCode, 0);
  CliResult r = expectError("run " + scaled + " --loadInputs=x:" + input + " --compareOutputs=" + refs, {"'y'"});
  EXPECT_NE(r.out.find("FAIL (1 NaN/Inf value(s) in the output)"), std::string::npos) << describe(r);
}

TEST_F(CliTest, WrongRankIsAnError) {
  CliResult r = runCli("run " + tinyEngine() + " --shapes=x:5x4x1");
  EXPECT_FALSE(r.signaled);
  EXPECT_NE(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.err.find("'x'"), std::string::npos) << describe(r);
}

// Documented random inputs: floats in [-1,-0.1] U [0.1,1]; int64 "mask" inputs 0/1; other int64 inputs 1..9.
TEST_F(CliTest, RandomInputsFollowTheDocumentedRanges) {
  const std::string engine = path("types.kiln");
  CliResult b = runCli("build " + path("types.onnx") + " -o " + engine + " --shapes=x:3x64,attention_mask:3x64,ids:3x64");
  ASSERT_EQ(b.exitCode, 0) << describe(b);
  const std::string outDir = path("types_out");
  CliResult r = runCli("run " + engine + " --seed=5 --saveOutputs=" + outDir);
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  auto xo = kiln::readNpyFile(outDir + "/xo.npy");
  auto mo = kiln::readNpyFile(outDir + "/mo.npy");
  auto io = kiln::readNpyFile(outDir + "/io.npy");
  ASSERT_TRUE(xo.hasValue() && mo.hasValue() && io.hasValue());
  ASSERT_EQ(xo->elementCount(), 192);
  ASSERT_EQ(mo->dtype(), kiln::DataType::kInt64);
  bool sawZero = false, sawOne = false, sawNegative = false;
  for (int64_t i = 0; i < 192; ++i) {
    const float x = xo->dataAs<float>()[i];
    EXPECT_TRUE(std::fabs(x) >= 0.1f && std::fabs(x) <= 1.0f) << x;
    sawNegative = sawNegative || x < 0;
    const int64_t m = mo->dataAs<int64_t>()[i];
    EXPECT_TRUE(m == 0 || m == 1) << m;
    sawZero = sawZero || m == 0, sawOne = sawOne || m == 1;
    const int64_t id = io->dataAs<int64_t>()[i];
    EXPECT_TRUE(id >= 1 && id <= 9) << id;
  }
  EXPECT_TRUE(sawZero && sawOne && sawNegative);
  // The same seed gives the same inputs.
  CliResult again = runCli("run " + engine + " --seed=5 --saveOutputs=" + outDir + "2");
  ASSERT_EQ(again.exitCode, 0) << describe(again);
  auto xo2 = kiln::readNpyFile(outDir + "2/xo.npy");
  ASSERT_TRUE(xo2.hasValue());
  EXPECT_EQ(std::memcmp(xo2->data(), xo->data(), xo->byteSize()), 0);
}

TEST_F(CliTest, InspectOnnxAndEngine) {
  CliResult onnx = runCli("inspect " + path("tiny.onnx"));
  ASSERT_EQ(onnx.exitCode, 0) << describe(onnx);
  EXPECT_NE(onnx.out.find("opset    17"), std::string::npos) << describe(onnx);
  EXPECT_NE(onnx.out.find("'x' float32 [batchx4]"), std::string::npos) << describe(onnx);
  EXPECT_NE(onnx.out.find("MatMul"), std::string::npos) << describe(onnx);

  CliResult json = runCli("inspect " + path("tiny.onnx") + " --json");
  ASSERT_EQ(json.exitCode, 0) << describe(json);
  auto j = nlohmann::json::parse(json.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_EQ(j["kind"], "onnx");
  EXPECT_EQ(j["opset"], 17);
  EXPECT_EQ(j["op_counts"]["MatMul"], 1);
  EXPECT_EQ(j["op_counts"]["Relu"], 1);
  EXPECT_EQ(j["inputs"][0]["dims"][0], "batch");
  EXPECT_EQ(j["inputs"][0]["dims"][1], 4);
  EXPECT_EQ(j["weights_bytes"], (12 + 3) * 4);

  // Detection is by magic bytes: an engine named .onnx is still inspected as an engine.
  const std::string disguised = path("engine_named.onnx");
  fs::copy_file(tinyEngine(), disguised, fs::copy_options::overwrite_existing);
  CliResult e = runCli("inspect " + disguised + " --json");
  ASSERT_EQ(e.exitCode, 0) << describe(e);
  auto ej = nlohmann::json::parse(e.out, nullptr, false);
  ASSERT_FALSE(ej.is_discarded()) << e.out;
  EXPECT_EQ(ej["kind"], "engine");
  EXPECT_EQ(ej["device"], "cpu");
  ASSERT_EQ(ej["profiles"].size(), 1u);
  EXPECT_EQ(ej["profiles"][0][0]["name"], "x");
  EXPECT_EQ(ej["profiles"][0][0]["min"], nlohmann::json({1, 4}));
  EXPECT_EQ(ej["profiles"][0][0]["max"], nlohmann::json({8, 4}));
  EXPECT_GE(ej["layers"].size(), 1u);
  EXPECT_TRUE(ej["metadata"].contains("kiln.version")) << e.out;
  CliResult text = runCli("inspect " + tinyEngine());
  ASSERT_EQ(text.exitCode, 0) << describe(text);
  EXPECT_NE(text.out.find("min 1x4  opt 4x4  max 8x4"), std::string::npos) << describe(text);
  EXPECT_NE(text.out.find("tactic"), std::string::npos) << describe(text);
}

TEST_F(CliTest, BenchReportsThroughputAndLatency) {
  const std::string json = path("bench.json");
  CliResult r = runCli("bench " + tinyEngine() + " --shapes=x:6x4 --iterations=50 --warmUp=10 --duration=0.2 --json=" +
                       json);
  ASSERT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("inferences/s"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("median"), std::string::npos) << describe(r);
  auto j = nlohmann::json::parse(readText(json), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_GE(j["iterations"].get<int64_t>(), 50);
  EXPECT_GE(j["total_s"].get<double>(), 0.2);
  EXPECT_EQ(j["batch"], 6);
  const auto& l = j["latency_ms"];
  EXPECT_LE(l["min"].get<double>(), l["median"].get<double>());
  EXPECT_LE(l["median"].get<double>(), l["p99"].get<double>());
  EXPECT_LE(l["p99"].get<double>(), l["max"].get<double>());
  EXPECT_NEAR(j["items_per_s"].get<double>(), 6 * j["inferences_per_s"].get<double>(), 1e-6 * j["items_per_s"].get<double>());
  CliResult t = runCli("bench " + tinyEngine() + " --iterations=5 --duration=0 --includeDataTransfers");
  EXPECT_EQ(t.exitCode, 0) << describe(t);
  EXPECT_NE(t.out.find("transfers"), std::string::npos) << describe(t);
  // Several streams: one context each, results pooled.
  CliResult multi = runCli("bench " + tinyEngine() + " --streams=3 --iterations=5 --duration=0 --warmUp=0");
  ASSERT_EQ(multi.exitCode, 0) << describe(multi);
  EXPECT_NE(multi.out.find("3 stream(s)"), std::string::npos) << describe(multi);
  EXPECT_NE(multi.out.find("compute"), std::string::npos) << describe(multi);
  expectError("bench " + tinyEngine() + " --streams=65 --duration=0", {"--streams"});
}

}  // namespace
