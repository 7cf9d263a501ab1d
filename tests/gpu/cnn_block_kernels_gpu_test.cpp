// Which kernel of a MobileNet/EfficientNet block (unit/cnn_block_graphs.h) is wrong on CUDA, one block per test.
// Each block goes through the CUDA passes (channels-last, fused epilogues, elementwise chains; cnnblocks::
// runCudaPasses) and runs on the CPU in float32 in its plain-op meaning (unit/lower_for_cpu.h), which gives every
// value of the rewritten graph at realistic scales. Then, for float32 (TF32 off), float16 and bfloat16:
//  - CnnBlockLayers: every node of the rewritten graph alone on CUDA (its kernel as the backend makes it), fed the
//    CPU's values of its inputs rounded to the type, against the CPU run of the node on the same rounded values.
//    No error accumulates from earlier layers, so a failing line names the kernel.
//  - CnnBlockConvCandidates: each conv with every kernel the tuner may pick (each cuDNN legacy algorithm and math
//    type cuDNN offers at the shape, each graph-API engine configuration cuDNN ranks, the heuristic split form,
//    cuBLASLt for 1x1). The tuner times kernels on zeros and never looks at their answers, so a wrong candidate would
//    be picked silently wherever it is fastest.
// Tolerances (inputs already in the type on both sides; the error is the kernel's own: output rounding and
// accumulation order): float32 cosine >= 0.99999, max abs error <= 1e-4 * max|reference|; float16 0.9999, 1e-2;
// bfloat16 0.999, 2e-2 (bfloat16's 8-bit mantissa).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "backends/cuda/conv1x1_cublaslt.h"
#include "backends/cuda/conv_cudnn.h"
#include "backends/cuda/conv_cudnn_graph.h"
#include "backends/cuda/cuda_common.h"
#include "gpu/cnn_block_gpu_util.h"
#include "test_util/gpu.h"
#include "unit/lower_for_cpu.h"

namespace kiln {
namespace {

using namespace cnnblocks;
using ir::OpKind;

struct Tolerance {
  double cosine, relative;
};
Tolerance toleranceFor(DataType t) {
  if (t == DataType::kFloat16) return {0.9999, 1e-2};
  if (t == DataType::kBFloat16) return {0.999, 2e-2};
  return {0.99999, 1e-4};
}

/// A block after the CUDA passes and the CPU's float32 value of each of its values.
struct BlockRun {
  std::string name;
  ir::Graph rewritten;
  std::map<ir::ValueId, Tensor> values;
};

Expected<BlockRun> runOnCpu(backends::Backend& cpu, Block block) {
  BlockRun r{block.name, std::move(block.graph), {}};
  KILN_RETURN_IF_ERROR(runCudaPasses(r.rewritten));
  KILN_ASSIGN_OR_RETURN(ir::Graph lowered, lowering::lowerForCpu(r.rewritten));
  // Every value a node of the rewritten graph writes becomes an output of the lowered graph (same ids).
  std::set<std::string> names;
  lowered.outputs.clear();
  for (const ir::Node& n : r.rewritten.nodes)
    for (ir::ValueId v : n.outputs) {
      lowered.outputs.push_back(v);
      if (!names.insert(lowered.values[v].name).second)
        return internalError("two values named " + lowered.values[v].name);
    }
  const auto inputs = fusedtest::randomInputs(lowered, 4242, {{r.rewritten.values[r.rewritten.inputs[0]].name, {-1.5, 1.5}}});
  KILN_ASSIGN_OR_RETURN(auto results, fusedtest::runGraph(cpu, lowered, inputs));
  for (ir::ValueId in : r.rewritten.inputs) r.values[in] = inputs.at(r.rewritten.values[in].name);
  for (ir::ValueId v : lowered.outputs) r.values[v] = results.at(lowered.values[v].name);
  return r;
}

/// One node of a block, alone: the graph in `type` (float32 data and constants converted, others kept), its inputs
/// by name, the input tensors in node order (absent ones empty), and the CPU's float32 result on the same values.
struct Isolated {
  ir::Graph graph;
  std::map<std::string, Tensor> inputs;
  std::vector<Tensor> ordered;
  Tensor reference;
};

Expected<Isolated> isolate(backends::Backend& cpu, const BlockRun& run, const ir::Node& node, DataType type) {
  Isolated iso;
  ir::Graph wide;
  ir::Node narrowNode = node, wideNode = node;
  narrowNode.name = wideNode.name = "node";
  narrowNode.inputs.clear(), wideNode.inputs.clear();
  std::map<std::string, Tensor> wideInputs;
  for (size_t k = 0; k < node.inputs.size(); ++k) {
    const ir::ValueId v = node.inputs[k];
    if (v == ir::kNoValue) {
      narrowNode.inputs.push_back(ir::kNoValue), wideNode.inputs.push_back(ir::kNoValue);
      iso.ordered.emplace_back();
      continue;
    }
    const std::string name = "in" + std::to_string(k);
    const Tensor* constant = run.rewritten.constantOf(v);
    Tensor values = constant ? constant->clone().value() : run.values.at(v).clone().value();
    Tensor narrow = values.dtype() == DataType::kFloat32 ? narrowed(values, type) : values.clone().value();
    iso.ordered.push_back(narrow.clone().value());
    if (constant) {
      narrowNode.inputs.push_back(iso.graph.addConstant(name, std::move(narrow)));
      wideNode.inputs.push_back(wide.addConstant(name, std::move(values)));
      continue;
    }
    for (ir::Graph* g : {&iso.graph, &wide}) {
      const ir::ValueId id = g->addValue(name, g == &wide ? values.dtype() : narrow.dtype());
      g->values[id].rankKnown = true;
      g->values[id].dims = values.dims();
      g->inputs.push_back(id);
      (g == &wide ? wideNode : narrowNode).inputs.push_back(id);
    }
    iso.inputs[name] = std::move(narrow);
    wideInputs[name] = std::move(values);
  }
  for (ir::Graph* g : {&iso.graph, &wide}) {
    ir::Node& n = g == &wide ? wideNode : narrowNode;
    n.outputs.clear();
    for (size_t k = 0; k < node.outputs.size(); ++k) {
      const DataType t = run.rewritten.values[node.outputs[k]].dtype;
      n.outputs.push_back(g->addValue("out" + std::to_string(k), g == &wide || t != DataType::kFloat32 ? t : type));
      g->outputs.push_back(n.outputs.back());
    }
    g->nodes.push_back(n);
  }
  KILN_ASSIGN_OR_RETURN(ir::Graph lowered, lowering::lowerForCpu(wide));
  KILN_ASSIGN_OR_RETURN(auto want, fusedtest::runGraph(cpu, lowered, wideInputs));
  iso.reference = std::move(want.at("out0"));
  return iso;
}

std::string describe(const ir::Node& n) {
  std::string s = std::string(ir::opKindName(n.op));
  if (n.attrs.has("activation")) s += "[" + n.attrs.getString("activation", "") + "]";
  if (n.op == OpKind::kConv) s += " group " + std::to_string(n.attrs.getInt("group", 1));
  return s + " '" + n.name + "'";
}

/// KILN_CNN_BLOCK_SELF_CHECK=1 checks the tests' own plumbing on a machine without a GPU: CnnBlockLayers runs each
/// isolated node, lowered, on the CPU in float32 (it must match exactly what isolate() computed).
bool selfCheck() { return std::getenv("KILN_CNN_BLOCK_SELF_CHECK") != nullptr; }

class CnnBlockKernels : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!test::haveGpu() && !selfCheck())
      GTEST_SKIP() << "no CUDA device: GPU tests run on the GPU machine (scripts/gpu-check.sh)";
    cpu_ = std::move(backends::createBackend(DeviceKind::kCpu).value());
    if (!selfCheck()) {
      backends::BackendOptions options;
      options.allowTF32 = false;
      cuda_ = std::move(backends::createBackend(DeviceKind::kCuda, options).value());
    }
    auto run = runOnCpu(*cpu_, std::move(allBlocks(kBatch, kSize)[static_cast<size_t>(GetParam())]));
    ASSERT_TRUE(run.hasValue()) << run.status().toString();
    run_ = std::move(*run);
  }
  std::unique_ptr<backends::Backend> cuda_, cpu_;
  BlockRun run_;
};

class CnnBlockLayers : public CnnBlockKernels {};

TEST_P(CnnBlockLayers, EachNodeMatchesCpu) {
  for (DataType type : {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}) {
    if (selfCheck() && type != DataType::kFloat32) continue;
    for (size_t i = 0; i < run_.rewritten.nodes.size(); ++i) {
      const ir::Node& node = run_.rewritten.nodes[i];
      const std::string label = run_.name + " node " + std::to_string(i) + " " + describe(node) + " " +
                                dataTypeName(type);
      auto iso = isolate(*cpu_, run_, node, type);
      ASSERT_TRUE(iso.hasValue()) << label << ": " << iso.status().toString();
      std::vector<std::string> tactics;
      Expected<std::map<std::string, Tensor>> got = internalError("not run");
      if (selfCheck()) {
        auto lowered = lowering::lowerForCpu(iso->graph);
        ASSERT_TRUE(lowered.hasValue()) << lowered.status().toString();
        got = fusedtest::runGraph(*cpu_, *lowered, iso->inputs, nullptr, &tactics);
      } else {
        got = fusedtest::runGraph(*cuda_, iso->graph, iso->inputs, nullptr, &tactics);
      }
      EXPECT_TRUE(got.hasValue()) << label << ": " << got.status().toString();
      if (!got) continue;
      const Tolerance tol = toleranceFor(type);
      expectClose(statsOf(got->at("out0"), iso->reference), tol.cosine, tol.relative,
                  label + " (" + (tactics.empty() ? "" : tactics[0]) + ")");
    }
  }
}

class CnnBlockConvCandidates : public CnnBlockKernels {
 protected:
  void SetUp() override {
    CnnBlockKernels::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (selfCheck()) GTEST_SKIP() << "CUDA only";
    ASSERT_EQ(cublasLtCreate(&lt_), CUBLAS_STATUS_SUCCESS);
    cudaDeviceProp props{};
    ASSERT_EQ(cudaGetDeviceProperties(&props, 0), cudaSuccess);
    ctx_.options.allowTF32 = false;
    ctx_.cudnn = &pool_;
    ctx_.cublasLt = lt_;
    ctx_.multiProcessorCount = props.multiProcessorCount;
  }
  void TearDown() override {
    if (lt_) cublasLtDestroy(lt_);
  }

  /// Runs `kernel` on device copies of `inputs` (empty tensors are absent inputs); the output as float32.
  Expected<Tensor> runKernel(const backends::Kernel& kernel, const std::vector<Tensor>& inputs, const Dims& outDims,
                             DataType type) {
    std::vector<void*> owned;
    struct Free {
      std::vector<void*>& p;
      ~Free() {
        for (void* q : p) cudaFree(q);
      }
    } release{owned};
    const auto alloc = [&](size_t bytes) -> Expected<void*> {
      void* p = nullptr;
      if (cudaMalloc(&p, std::max<size_t>(bytes, 256)) != cudaSuccess) return internalError("cudaMalloc failed");
      owned.push_back(p);
      return p;
    };
    std::vector<backends::DeviceTensor> in;
    for (const Tensor& t : inputs) {
      if (!t.data()) {
        in.push_back({});
        continue;
      }
      KILN_ASSIGN_OR_RETURN(void* p, alloc(t.byteSize()));
      if (cudaMemcpy(p, t.data(), t.byteSize(), cudaMemcpyHostToDevice) != cudaSuccess)
        return internalError("cudaMemcpy failed");
      in.push_back({t.dtype(), t.dims(), p});
    }
    Tensor out = Tensor::allocate(type, outDims).value();
    KILN_ASSIGN_OR_RETURN(void* y, alloc(out.byteSize()));
    if (cudaMemset(y, 0xff, out.byteSize()) != cudaSuccess)  // NaN bits: an element the kernel skips shows
      return internalError("cudaMemset failed");
    const backends::DeviceTensor outs[1] = {{type, outDims, y}};
    void* workspace = nullptr;
    if (const size_t bytes = kernel.workspaceBytes(in, outs)) {
      KILN_ASSIGN_OR_RETURN(workspace, alloc(bytes));
    }
    KILN_RETURN_IF_ERROR(kernel.run(in, outs, workspace, nullptr));
    if (cudaDeviceSynchronize() != cudaSuccess) return internalError("the kernel failed: " + kernel.tactic());
    if (cudaMemcpy(out.data(), y, out.byteSize(), cudaMemcpyDeviceToHost) != cudaSuccess)
      return internalError("cudaMemcpy failed");
    return out;
  }

  backends::cuda::CudnnPool pool_;
  cublasLtHandle_t lt_ = nullptr;
  backends::cuda::CudaContext ctx_;
};

TEST_P(CnnBlockConvCandidates, EveryCandidateMatchesCpu) {
  using namespace backends::cuda;
  int convs = 0;
  for (size_t i = 0; i < run_.rewritten.nodes.size(); ++i) {
    const ir::Node& node = run_.rewritten.nodes[i];
    if (node.op != OpKind::kConv) continue;
    ++convs;
    for (DataType type : {DataType::kFloat16, DataType::kBFloat16, DataType::kFloat32}) {
      const std::string label = run_.name + " node " + std::to_string(i) + " " + describe(node) + " " +
                                dataTypeName(type);
      auto iso = isolate(*cpu_, run_, node, type);
      ASSERT_TRUE(iso.hasValue()) << label << ": " << iso.status().toString();
      const ir::Graph& g = iso->graph;
      const ir::Node& conv = g.nodes[0];
      const Dims& outDims = run_.values.at(node.outputs[0]).dims();
      std::vector<std::pair<std::string, std::unique_ptr<backends::Kernel>>> candidates;
      if (!convActivationNeedsGraph(conv))
        for (int algo = 0; algo < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; ++algo)
          for (int math : {CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH, CUDNN_FMA_MATH}) {
            const std::string t = "cudnn:algo=" + std::to_string(algo) + ":mathtype=" + std::to_string(math);
            candidates.emplace_back(t, makeLegacyConvKernel(ctx_, g, conv, t));
          }
      if (convGraphQualifies(g, conv).isOk()) {
        std::vector<backends::DeviceTensor> shapesIn;
        for (const Tensor& t : iso->ordered)
          shapesIn.push_back(t.data() ? backends::DeviceTensor{t.dtype(), t.dims(), nullptr} : backends::DeviceTensor{});
        const backends::DeviceTensor shapesOut[1] = {{type, outDims, nullptr}};
        auto tactics = convGraphCandidates(ctx_, g, conv, shapesIn, shapesOut, 64);
        ASSERT_TRUE(tactics.hasValue()) << label << ": " << tactics.status().toString();
        std::vector<std::string> all = *tactics;
        all.push_back("cudnn-graph:engine=999999:knobs=");  // no such engine: cuDNN's heuristic choice
        if (!conv.attrs.getString("activation", "").empty() && conv.attrs.getString("activation", "") != "Identity")
          all.push_back("cudnn-graph:engine=999999:knobs=:activation=kernel");  // the heuristic split form
        for (const std::string& t : all) {
          auto kernel = makeConvGraphKernel(ctx_, g, conv, t, nullptr);
          ASSERT_TRUE(kernel.hasValue()) << label << ": " << kernel.status().toString();
          candidates.emplace_back(t, std::move(*kernel));
        }
      }
      if (conv1x1GemmQualifies(g, conv).isOk()) {
        auto kernel = makeConv1x1Kernel(ctx_, g, conv, nullptr);
        ASSERT_TRUE(kernel.hasValue()) << label << ": " << kernel.status().toString();
        candidates.emplace_back(kConv1x1Tactic, std::move(*kernel));
      }
      int ran = 0;
      const Tolerance tol = toleranceFor(type);
      for (auto& [tactic, kernel] : candidates) {
        auto got = runKernel(*kernel, iso->ordered, outDims, type);
        const std::string used = kernel->tactic();
        // A legacy algorithm cuDNN does not offer here runs cuDNN's heuristic choice instead: not this candidate.
        if (tactic.rfind("cudnn:algo=", 0) == 0 && used.find("(tuned)") == std::string::npos) continue;
        if (!got) {  // cuDNN refusing a configuration at run time is not a wrong answer; say so
          std::printf("[  REFUSED ] %s %s: %s\n", label.c_str(), tactic.c_str(), got.status().toString().c_str());
          continue;
        }
        ++ran;
        expectClose(statsOf(*got, iso->reference), tol.cosine, tol.relative, label + " " + tactic + " -> " + used);
      }
      EXPECT_GT(ran, 0) << label << ": no candidate ran";
    }
  }
  if (convs == 0) GTEST_SKIP() << run_.name << " has no conv";
}

std::string nameOf(const ::testing::TestParamInfo<int>& info) { return testName(static_cast<size_t>(info.param)); }
INSTANTIATE_TEST_SUITE_P(Blocks, CnnBlockLayers, ::testing::Range(0, static_cast<int>(blockCount())), nameOf);
INSTANTIATE_TEST_SUITE_P(Blocks, CnnBlockConvCandidates, ::testing::Range(0, static_cast<int>(blockCount())), nameOf);

}  // namespace
}  // namespace kiln
