// Which kernel runs a Conv: the CUDA backend's makeConvKernel/chooseConvTactic. Four paths can run one (cuDNN's
// legacy API, conv_cudnn.cpp; cuDNN's graph API, conv_cudnn_graph.cpp; cuBLASLt for 1x1, conv1x1_cublaslt.cpp; kiln's
// NHWC depthwise kernel, conv_depthwise.h); the builder races the ones that apply, and whose answers pass
// conv_tactic_check.h, through their run() at a few batches, and the engine records the winners.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

#include "backends/cuda/conv1x1_cublaslt.h"
#include "backends/cuda/conv_cudnn.h"
#include "backends/cuda/conv_cudnn_graph.h"
#include "backends/cuda/conv_depthwise.h"
#include "backends/cuda/conv_tactic_check.h"
#include "backends/cuda/kernel_race.h"

namespace kiln::backends::cuda {

using ir::OpKind;

Status convSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.op != OpKind::kConv) return unsupported(graph.describe(node) + ": no CUDA kernel yet");
  if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": Conv needs X and W");
  // float16 and bfloat16 accumulate in float32 on every path (legacy, graph API, cuBLASLt).
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16}));
  const DataType t = inputType(graph, node, 0);
  KILN_RETURN_IF_ERROR(requireInputType(graph, node, 1, {t}));
  const bool hasBias = node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
  if (hasBias) KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, {t}));
  // A fused residual is read as X's type by every path.
  if (node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue) KILN_RETURN_IF_ERROR(requireInputType(graph, node, 3, {t}));
  const std::string activation = node.attrs.getString("activation", "");
  if (convActivationNeedsGraph(node)) {
    // Only the graph path fuses activations other than Relu.
    Status graphPath = convGraphQualifies(graph, node);
    if (!graphPath.isOk())
      return unsupported(graph.describe(node) + ": a fused epilogue with activation '" + activation +
                         "' runs only through cuDNN's graph API (" + graphPath.message() + ")");
  }
  if (activation == "Relu" && !hasBias)
    return unsupported(graph.describe(node) + ": fused Relu needs a bias input");
  const ir::Value& x = graph.values[node.inputs[0]];
  if (x.rankKnown && (x.dims.size() < 3 || x.dims.size() > 5))
    return unsupported(graph.describe(node) + ": input rank " + std::to_string(x.dims.size()) + " (1 to 3 spatial dims)");
  const std::string format = node.attrs.getString("data_format", "NCHW");
  if (format != "NCHW" && format != "NHWC")
    return unsupported(graph.describe(node) + ": data_format '" + format + "' (expected NCHW or NHWC)");
  if (format == "NHWC") {
    const ir::Value& w = graph.values[node.inputs[1]];
    if ((x.rankKnown && x.dims.size() != 4) || (w.rankKnown && w.dims.size() != 4))
      return unsupported(graph.describe(node) + ": data_format NHWC needs rank-4 X and W, found ranks " +
                         (x.rankKnown ? std::to_string(x.dims.size()) : "?") + " and " +
                         (w.rankKnown ? std::to_string(w.dims.size()) : "?"));
  }
  // Asymmetric pads are supported: run() pads X explicitly by the asymmetric extra.
  return Status::ok();
}

namespace {

KernelResult makeSingleConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                  const std::string& tactic) {
  // kiln's own depthwise kernel where it was tuned (conv_depthwise.h).
  if (tactic.rfind(kDepthwiseTacticPrefix, 0) == 0 && depthwiseConvQualifies(graph, node).isOk())
    return makeDepthwiseConvKernel(ctx, graph, node, tactic);
  // A 1x1 NHWC conv tuned onto cuBLASLt; cuDNN (heuristics) keeps the shapes cuBLASLt has no algorithm for.
  if (tactic.rfind("cublaslt:", 0) == 0 && conv1x1GemmQualifies(graph, node).isOk())
    return makeConv1x1Kernel(ctx, graph, node, makeLegacyConvKernel(ctx, graph, node, ""));
  // The graph path for its tactics, and for activations only it fuses; the legacy kernel covers other shapes.
  const bool needsGraph = convActivationNeedsGraph(node);
  if ((needsGraph || tactic.rfind(kCudnnGraphTacticPrefix, 0) == 0) && convGraphQualifies(graph, node).isOk())
    return makeConvGraphKernel(ctx, graph, node, tactic,
                               needsGraph ? nullptr : makeLegacyConvKernel(ctx, graph, node, ""));
  return makeLegacyConvKernel(ctx, graph, node, tactic);
}

Expected<std::string> chooseConvTacticAt(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                         std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs) {
  // Candidates from every path that can run this node, raced through their own run() at these shapes.
  std::vector<std::unique_ptr<Kernel>> kernels;
  std::vector<RaceEntrant> entrants;
  const auto enter = [&](std::string tactic, KernelResult kernel) {
    if (!kernel) return;
    kernels.push_back(std::move(*kernel));
    entrants.push_back({std::move(tactic), kernels.back().get()});
  };
  if (!convActivationNeedsGraph(node)) {  // legacy cuDNN: its own timing picks the best algorithm
    KILN_ASSIGN_OR_RETURN(std::string best, tuneLegacyConv(ctx, graph, node, inputs, outputs));
    enter(best, makeLegacyConvKernel(ctx, graph, node, best));
  }
  if (convGraphQualifies(graph, node).isOk()) {  // cuDNN graph API: the engine configurations it ranks highest
    constexpr size_t kGraphCandidates = 8;
    if (auto tactics = convGraphCandidates(ctx, graph, node, inputs, outputs, kGraphCandidates))
      for (const std::string& t : *tactics) enter(t, makeConvGraphKernel(ctx, graph, node, t, nullptr));
  }
  if (conv1x1GemmQualifies(graph, node).isOk())  // a 1x1 conv is a GEMM: cuBLASLt with a fused epilogue
    enter(kConv1x1Tactic, makeConv1x1Kernel(ctx, graph, node, nullptr));
  if (depthwiseConvQualifies(graph, node).isOk())  // kiln's own depthwise kernel, one entrant per tile shape
    for (const std::string& t : depthwiseConvTactics(inputs)) enter(t, makeDepthwiseConvKernel(ctx, graph, node, t));
  // Only candidates whose answer agrees with a direct convolution race (conv_tactic_check.h). When none agrees the
  // check itself is suspect and every candidate races, as before; the builder's accuracy guard judges the layer.
  if (auto check = checkConvEntrants(ctx, graph, node, inputs, outputs, entrants); check && check->checked) {
    std::vector<RaceEntrant> accurate;
    for (size_t i = 0; i < entrants.size(); ++i)
      if (check->accurate[i]) accurate.push_back(entrants[i]);
    if (!accurate.empty()) entrants = std::move(accurate);
  }
  const int best = race(entrants, inputs, outputs);
  if (best >= 0) return entrants[best].tactic;
  return entrants.empty() ? std::string() : entrants[0].tactic;
}

/// A fastest kernel depends on the batch: a tile shape that fills the GPU at batch 256 leaves it idle at batch 1.
/// So convs are tuned at the opt batch and at batches 8x, 64x, ... smaller down to 1, and the engine records
/// "batches:1=<tactic>;4=<tactic>;32=<tactic>;256=<tactic>"; each run uses the tactic tuned nearest its batch.
constexpr const char* kBatchTacticsPrefix = "batches:";

std::vector<int64_t> tuningBatches(int64_t opt) {
  std::vector<int64_t> batches{1};
  for (int64_t n = opt; n > 1; n /= 8) batches.push_back(n);
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  return batches;
}

/// The entries of a "batches:" tactic, ascending by batch; nothing when malformed (the kernel then uses heuristics).
std::optional<std::vector<std::pair<int64_t, std::string>>> parseBatchTactics(const std::string& text) {
  if (text.rfind(kBatchTacticsPrefix, 0) != 0) return std::nullopt;
  std::vector<std::pair<int64_t, std::string>> entries;
  size_t pos = std::string(kBatchTacticsPrefix).size();
  while (pos < text.size()) {
    const size_t end = std::min(text.find(';', pos), text.size());
    const std::string entry = text.substr(pos, end - pos);
    const size_t eq = entry.find('=');
    int64_t batch = 0;
    if (eq == std::string::npos ||
        std::from_chars(entry.data(), entry.data() + eq, batch).ptr != entry.data() + eq || batch < 1 ||
        (!entries.empty() && batch <= entries.back().first) || entries.size() >= 16)
      return std::nullopt;
    entries.emplace_back(batch, entry.substr(eq + 1));
    pos = end + 1;
  }
  if (entries.empty()) return std::nullopt;
  return entries;
}

/// Runs each shape with the kernel tuned at the nearest batch (in ratio).
class BatchTacticsKernel final : public Kernel {
 public:
  explicit BatchTacticsKernel(std::vector<std::pair<int64_t, std::unique_ptr<Kernel>>> byBatch)
      : byBatch_(std::move(byBatch)) {}

  size_t workspaceBytes(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const override {
    return pick(in).workspaceBytes(in, out);
  }
  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    return pick(in).run(in, out, workspace, stream);
  }
  std::string tactic() const override {
    std::string text = "per batch:";
    for (const auto& [batch, kernel] : byBatch_) text += " [" + std::to_string(batch) + "] " + kernel->tactic();
    return text;
  }

 private:
  const Kernel& pick(std::span<const DeviceTensor> in) const {
    const double n = in.empty() || in[0].dims.empty() ? 1.0 : std::max<double>(1.0, static_cast<double>(in[0].dims[0]));
    const Kernel* best = byBatch_.front().second.get();
    double bestDistance = INFINITY;
    for (const auto& [batch, kernel] : byBatch_) {
      const double distance = std::fabs(std::log(n / static_cast<double>(batch)));
      if (distance <= bestDistance) {  // ties go to the larger batch
        bestDistance = distance;
        best = kernel.get();
      }
    }
    return *best;
  }

  std::vector<std::pair<int64_t, std::unique_ptr<Kernel>>> byBatch_;
};

}  // namespace

KernelResult makeConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                            const std::string& tactic) {
  if (tactic.rfind(kBatchTacticsPrefix, 0) != 0) return makeSingleConvKernel(ctx, graph, node, tactic);
  const auto entries = parseBatchTactics(tactic);
  if (!entries) return makeSingleConvKernel(ctx, graph, node, "");  // a tampered tactic: cuDNN's heuristics
  std::vector<std::pair<int64_t, std::unique_ptr<Kernel>>> byBatch;
  for (const auto& [batch, single] : *entries) {
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> kernel, makeSingleConvKernel(ctx, graph, node, single));
    byBatch.emplace_back(batch, std::move(kernel));
  }
  return std::unique_ptr<Kernel>(std::make_unique<BatchTacticsKernel>(std::move(byBatch)));
}

Expected<std::string> chooseConvTactic(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                       std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs) {
  KILN_RETURN_IF_ERROR(convSupports(graph, node));
  if (inputs.empty() || outputs.empty() || inputs[0].dims.empty() || inputs[0].dims[0] <= 1)
    return chooseConvTacticAt(ctx, graph, node, inputs, outputs);
  // Batch is dim 0 of X, Y and the residual in both layouts; the weights and bias do not depend on it.
  std::string composite = kBatchTacticsPrefix;
  std::set<std::string> distinct;
  for (int64_t batch : tuningBatches(inputs[0].dims[0])) {
    std::vector<DeviceTensor> in(inputs.begin(), inputs.end()), out(outputs.begin(), outputs.end());
    for (size_t i : {size_t{0}, size_t{3}})
      if (i < in.size() && in[i].present() && !in[i].dims.empty()) in[i].dims[0] = batch;
    for (DeviceTensor& t : out)
      if (!t.dims.empty()) t.dims[0] = batch;
    KILN_ASSIGN_OR_RETURN(std::string best, chooseConvTacticAt(ctx, graph, node, in, out));
    if (best.find(';') != std::string::npos) return best;  // cannot be composed; never the case today
    distinct.insert(best);
    if (composite.size() > std::string(kBatchTacticsPrefix).size()) composite += ';';
    composite += std::to_string(batch) + "=" + best;
  }
  return distinct.size() == 1 ? *distinct.begin() : composite;
}

}  // namespace kiln::backends::cuda
