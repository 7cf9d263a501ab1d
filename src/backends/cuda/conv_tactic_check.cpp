#include "backends/cuda/conv_tactic_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "backends/cuda/conv_epilogue_activation.h"
#include "backends/cuda/conv_reference.h"
#include "ops/window_geometry.h"

namespace kiln::backends::cuda {
namespace {

constexpr int64_t kSamples = 8192;

struct Tolerance {
  double cosine, relative;
};

Tolerance toleranceFor(DataType t, bool tf32) {
  if (t == DataType::kFloat16) return {0.999, 2e-2};
  if (t == DataType::kBFloat16) return {0.999, 4e-2};
  return tf32 ? Tolerance{0.999, 2e-2} : Tolerance{0.99999, 1e-3};
}

bool verbose() { return std::getenv("KILN_CONV_CHECK_VERBOSE") != nullptr; }

}  // namespace

std::optional<ReferenceConvArgs> referenceConvArgsFor(const ir::Node& node, std::span<const DeviceTensor> in,
                                            std::span<const DeviceTensor> out) {
  const bool nhwc = node.attrs.getString("data_format", "NCHW") == "NHWC";
  const Dims &x = in[0].dims, &w = in[1].dims, &y = out[0].dims;
  if (x.size() < 3 || x.size() > 5 || w.size() != x.size() || y.size() != x.size() || (nhwc && x.size() != 4))
    return std::nullopt;
  const size_t spatial = x.size() - 2;
  std::vector<int64_t> inSpatial, kernel, outSpatial;
  for (size_t d = 0; d < spatial; ++d) {
    inSpatial.push_back(nhwc ? x[1 + d] : x[2 + d]);
    kernel.push_back(nhwc ? w[1 + d] : w[2 + d]);
    outSpatial.push_back(nhwc ? y[1 + d] : y[2 + d]);
  }
  auto geo = ops::resolveWindow("", node.attrs, ops::WindowOp::kConv, inSpatial, kernel);
  if (!geo || geo->output != outSpatial) return std::nullopt;
  ReferenceConvArgs a;
  a.channelsLast = nhwc;
  a.channels = nhwc ? x[3] : x[1];
  a.outChannels = nhwc ? y[3] : y[1];
  a.group = node.attrs.getInt("group", 1);
  const int64_t perGroup = nhwc ? w[3] : w[1];
  if (a.group <= 0 || a.channels != perGroup * a.group || w[0] != a.outChannels || y[0] != x[0]) return std::nullopt;
  const size_t offset = 3 - spatial;  // leading size-1 dims
  for (size_t d = 0; d < spatial; ++d) {
    a.in[offset + d] = inSpatial[d];
    a.out[offset + d] = outSpatial[d];
    a.kernel[offset + d] = kernel[d];
    a.stride[offset + d] = geo->strides[d];
    a.dilation[offset + d] = geo->dilations[d];
    a.pad[offset + d] = geo->padsBegin[d];
  }
  return a;
}

Expected<ConvCheck> checkConvEntrants(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                      std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs,
                                      const std::vector<RaceEntrant>& entrants) {
  ConvCheck result;
  result.accurate.assign(entrants.size(), true);
  result.notes.assign(entrants.size(), "not checked");
  if (entrants.empty() || inputs.size() < 2 || outputs.empty()) return result;
  const DataType type = inputs[0].dtype;
  if (type != DataType::kFloat32 && type != DataType::kFloat16 && type != DataType::kBFloat16) return result;
  auto args = referenceConvArgsFor(node, inputs, outputs);
  auto activation = epilogueActivationOf(graph, node);
  if (!args || !activation) return result;
  args->activation = activation->inPlace;

  // Deterministic random operands at the node's shapes; weights scaled so that outputs spread over a few units
  // (through Relu6/HardSwish/Clip bounds), whatever the fan-in.
  Scratch scratch;
  std::vector<DeviceTensor> in(inputs.begin(), inputs.end()), out(outputs.begin(), outputs.end());
  int64_t fanIn = args->channels / args->group;
  for (int64_t k : args->kernel) fanIn *= k;
  const float scales[4] = {2.f, 6.f / std::sqrt(static_cast<float>(std::max<int64_t>(fanIn, 1))), 0.5f, 2.f};
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].present()) continue;
    const size_t bytes = static_cast<size_t>(in[i].elementCount()) * dataTypeSize(in[i].dtype);
    if (!(in[i].data = scratch.allocate(bytes))) return result;
    if (launchRandomFill(in[i].data, in[i].dtype, in[i].elementCount(), 77 + i, i < 4 ? scales[i] : 1.f, nullptr) !=
        cudaSuccess)
      return result;
  }
  const int64_t count = out[0].elementCount();
  const size_t outBytes = static_cast<size_t>(count) * dataTypeSize(out[0].dtype);
  if (count == 0 || !(out[0].data = scratch.allocate(outBytes))) return result;
  size_t workspaceBytes = 0;
  for (const RaceEntrant& e : entrants) workspaceBytes = std::max(workspaceBytes, e.kernel->workspaceBytes(in, out));
  void* workspace = workspaceBytes ? scratch.allocate(workspaceBytes) : nullptr;
  if (workspaceBytes && !workspace) return result;

  // Samples spread over the whole output (every batch entry, channel and position class gets some).
  const int64_t samples = std::min(count, kSamples);
  std::vector<int64_t> index(static_cast<size_t>(samples));
  const int64_t stride = count / samples;
  for (int64_t j = 0; j < samples; ++j) index[static_cast<size_t>(j)] = std::min(count - 1, j * stride + (j * 7919) % stride);
  auto* deviceIndex = static_cast<int64_t*>(scratch.allocate(index.size() * sizeof(int64_t)));
  auto* reference = static_cast<float*>(scratch.allocate(index.size() * sizeof(float)));
  auto* gathered = static_cast<float*>(scratch.allocate(index.size() * sizeof(float)));
  if (!deviceIndex || !reference || !gathered ||
      cudaMemcpy(deviceIndex, index.data(), index.size() * sizeof(int64_t), cudaMemcpyHostToDevice) != cudaSuccess) {
    (void)cudaGetLastError();
    return result;
  }
  args->x = in[0].data;
  args->w = in[1].data;
  args->bias = in.size() > 2 && in[2].present() ? in[2].data : nullptr;
  args->z = in.size() > 3 && in[3].present() ? in[3].data : nullptr;
  args->y = reference;
  args->sampleIndex = deviceIndex;
  args->samples = samples;
  std::vector<float> want(index.size()), got(index.size());
  if (launchReferenceConv(*args, type, nullptr) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess ||
      cudaMemcpy(want.data(), reference, want.size() * sizeof(float), cudaMemcpyDeviceToHost) != cudaSuccess) {
    (void)cudaGetLastError();
    return result;
  }
  double scale = 0;
  for (float v : want) {
    if (!std::isfinite(v)) return result;  // the reference itself overflowed: nothing to judge by
    scale = std::max(scale, static_cast<double>(std::fabs(v)));
  }

  const Tolerance tol = toleranceFor(type, ctx.options.allowTF32);
  for (size_t e = 0; e < entrants.size(); ++e) {
    (void)cudaMemset(out[0].data, 0xff, outBytes);  // NaN bits: an element the kernel does not write shows
    const Status ran = entrants[e].kernel->run(in, out, workspace, nullptr);
    const bool done = ran.isOk() && cudaDeviceSynchronize() == cudaSuccess &&
                      launchGatherSamples(out[0].data, out[0].dtype, deviceIndex, samples, gathered, nullptr) ==
                          cudaSuccess &&
                      cudaMemcpy(got.data(), gathered, got.size() * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess;
    (void)cudaGetLastError();
    if (!done) {  // a kernel that fails is the race's business (it never wins), not a wrong answer
      result.notes[e] = "did not run: " + (ran.isOk() ? std::string("CUDA error") : ran.message());
      continue;
    }
    double dot = 0, ng = 0, nw = 0, maxAbs = 0;
    bool finite = true;
    for (size_t j = 0; j < got.size(); ++j) {
      const double a = got[j], b = want[j];
      finite = finite && std::isfinite(a);
      maxAbs = std::max(maxAbs, std::fabs(a - b));
      dot += a * b, ng += a * a, nw += b * b;
    }
    const double cosine = ng > 0 && nw > 0 ? dot / std::sqrt(ng * nw) : (ng == nw ? 1.0 : 0.0);
    result.accurate[e] = finite && cosine >= tol.cosine && maxAbs <= tol.relative * std::max(scale, 1e-30);
    char note[160];
    std::snprintf(note, sizeof note, "%s: cosine %.6f, max error %.3g of scale %.3g", finite ? "finite" : "NOT FINITE",
                  cosine, maxAbs, scale);
    result.notes[e] = note;
    if (verbose())
      std::fprintf(stderr, "[kiln] %s %s %s: %s\n", graph.describe(node).c_str(), entrants[e].tactic.c_str(),
                   result.accurate[e] ? "ok" : "WRONG", note);
  }
  result.checked = true;
  return result;
}

}  // namespace kiln::backends::cuda
