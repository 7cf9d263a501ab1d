// Host side of FusedElementwise on CUDA: the program is validated and packed into the launch block once at load;
// the broadcast strides are computed then too when the graph's shapes are static, and otherwise for each new shape.
#include <algorithm>
#include <vector>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/elementwise_fused.h"
#include "ops/fused_elementwise_program.h"

namespace kiln::backends::cuda {
namespace {

/// Output dims and per-input strides of `inputs` broadcast to `out`, merging dims every input walks as one run.
Status fillFusedBroadcast(FusedElementwiseArgs& a, const std::vector<Dims>& inputs, const Dims& out,
                          const std::string& where) {
  a.count = elementCount(out);
  a.sameShape = std::all_of(inputs.begin(), inputs.end(), [&](const Dims& d) { return d == out; });
  for (auto& row : a.strides) std::fill(std::begin(row), std::end(row), 0);
  if (a.sameShape) {
    a.rank = 1;
    a.dims[0] = a.count;
    return Status::ok();
  }
  KILN_ASSIGN_OR_RETURN(BroadcastWalk walk, broadcastWalk(inputs, out, where));
  const std::vector<int64_t>& dims = walk.dims;
  if (dims.size() > static_cast<size_t>(kFusedMaxRank))
    return unsupported(where + "broadcast over " + dimsToString(out) + " needs more than 8 dims");
  a.rank = static_cast<int32_t>(dims.size());
  for (size_t j = 0; j < dims.size(); ++j) {
    a.dims[j] = dims[j];
    for (size_t k = 0; k < inputs.size(); ++k) a.strides[k][j] = walk.strides[k][j];
  }
  return Status::ok();
}

bool staticDims(const ir::Value& v) {
  return v.rankKnown && std::none_of(v.dims.begin(), v.dims.end(), [](int64_t d) { return d == kDynamicDim; });
}

class FusedElementwiseKernel final : public Kernel {
 public:
  static Expected<std::unique_ptr<Kernel>> make(const ir::Graph& graph, const ir::Node& node) {
    KILN_ASSIGN_OR_RETURN(ops::FusedProgram program, ops::parseFusedProgram(graph, node));
    auto kernel = std::unique_ptr<FusedElementwiseKernel>(new FusedElementwiseKernel(graph.describe(node) + ": "));
    FusedElementwiseArgs& a = kernel->base_;
    a.inputCount = program.inputCount;
    a.instructionCount = static_cast<int32_t>(program.code.size());
    for (size_t j = 0; j < program.code.size(); ++j) {
      // parseFusedProgram bounds operands by 40 registers and 64 immediates: they fit in int8.
      a.code[j][0] = static_cast<int8_t>(program.code[j].op);
      a.code[j][1] = static_cast<int8_t>(program.code[j].a);
      a.code[j][2] = static_cast<int8_t>(program.code[j].b);
    }
    std::copy(program.immediates.begin(), program.immediates.end(), a.immediates);
    kernel->dtype_ = inputType(graph, node, 0);
    // Static shapes: the strides are ready before the first run.
    bool known = node.outputs.size() == 1 && staticDims(graph.values[node.outputs[0]]);
    for (ir::ValueId v : node.inputs) known = known && staticDims(graph.values[v]);
    if (known) {
      std::vector<Dims> ins;
      for (ir::ValueId v : node.inputs) ins.push_back(graph.values[v].dims);
      const Dims& out = graph.values[node.outputs[0]].dims;
      if (fillFusedBroadcast(a, ins, out, kernel->where_).isOk()) {
        kernel->preparedInputs_ = std::move(ins);
        kernel->preparedOutput_ = out;
        kernel->prepared_ = true;
      }
    }
    return std::unique_ptr<Kernel>(std::move(kernel));
  }

  Status run(std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs, void*,
             void* stream) const override {
    if (inputs.size() != static_cast<size_t>(base_.inputCount) || outputs.size() != 1)
      return internalError(where_ + "expected " + std::to_string(base_.inputCount) + " inputs and 1 output");
    const DeviceTensor& out = outputs[0];
    if (out.dtype != dtype_) return internalError(where_ + "output dtype " + dataTypeName(out.dtype));
    bool samePrepared = prepared_ && out.dims == preparedOutput_;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k].dtype != dtype_)
        return internalError(where_ + "input " + std::to_string(k) + " has dtype " + dataTypeName(inputs[k].dtype));
      samePrepared = samePrepared && inputs[k].dims == preparedInputs_[k];
    }
    FusedElementwiseArgs a = base_;
    if (!samePrepared) {
      std::vector<Dims> ins;
      for (const DeviceTensor& t : inputs) ins.push_back(t.dims);
      KILN_RETURN_IF_ERROR(fillFusedBroadcast(a, ins, out.dims, where_));
    }
    for (size_t k = 0; k < inputs.size(); ++k) a.inputs[k] = inputs[k].data;
    a.output = out.data;
    KILN_CUDA_CHECK(launchFusedElementwise(a, dtype_, static_cast<cudaStream_t>(stream)), where_);
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:fused-elementwise"; }

 private:
  explicit FusedElementwiseKernel(std::string where) : where_(std::move(where)) {}

  std::string where_;
  DataType dtype_ = DataType::kFloat32;
  FusedElementwiseArgs base_;  // program, immediates and (when prepared_) the static shapes' strides
  bool prepared_ = false;
  std::vector<Dims> preparedInputs_;
  Dims preparedOutput_;
};

}  // namespace

Status fusedElementwiseSupports(const ir::Graph& graph, const ir::Node& node) {
  KILN_RETURN_IF_ERROR(ops::parseFusedProgram(graph, node).status());
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  const DataType t = inputType(graph, node, 0);
  for (size_t k = 1; k < node.inputs.size(); ++k)
    if (inputType(graph, node, k) != t)
      return unsupported(graph.describe(node) + ": input " + std::to_string(k) + " has type " +
                         dataTypeName(inputType(graph, node, k)) + " but input 0 has " + dataTypeName(t));
  return Status::ok();
}

Expected<std::unique_ptr<Kernel>> makeFusedElementwiseKernel(const CudaContext&, const ir::Graph& graph,
                                                             const ir::Node& node) {
  return FusedElementwiseKernel::make(graph, node);
}

}  // namespace kiln::backends::cuda
