// Host side of kiln's NHWC depthwise convolution (conv_depthwise.h): which nodes it takes, its tactics, and the
// Kernel that checks shapes and launches conv_depthwise.cu.
#include "backends/cuda/conv_depthwise.h"

#include <algorithm>
#include <climits>
#include <optional>

#include "backends/cuda/conv_epilogue_activation.h"

namespace kiln::backends::cuda {
namespace {

/// A tile shape: output pixels per thread along W, and the most channel vectors per block.
struct DepthwiseTile {
  int pixels = 2;
  int channelVectors = 32;
};

/// Raced tile shapes, the default first. Narrow channel blocks give a block more pixels and fewer taps to stage.
constexpr DepthwiseTile kTiles[] = {{2, 32}, {1, 32}, {4, 32}, {2, 8}, {4, 8}};

std::string formatTactic(const DepthwiseTile& t) {
  return std::string(kDepthwiseTacticPrefix) + "px" + std::to_string(t.pixels) + ":cv" + std::to_string(t.channelVectors);
}

/// The tile of a tactic, or nothing when it is not one of kTiles (an engine from another kiln version).
std::optional<DepthwiseTile> parseTactic(const std::string& text) {
  for (const DepthwiseTile& t : kTiles)
    if (formatTactic(t) == text) return t;
  return std::nullopt;
}

bool allEqual(const std::vector<int64_t>& v, int64_t want) {
  return std::all_of(v.begin(), v.end(), [&](int64_t e) { return e == want; });
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

class DepthwiseConvKernel final : public Kernel {
 public:
  DepthwiseConvKernel(const ir::Graph& graph, const ir::Node& node, DepthwiseTile tile, EpilogueActivation activation)
      : where_(graph.describe(node) + ": "), tile_(tile), activation_(std::move(activation)),
        dtype_(inputType(graph, node, 0)) {
    const auto& at = node.attrs;
    const auto strides = at.getInts("strides");
    stride_ = strides.empty() ? 1 : static_cast<int32_t>(strides[0]);
    autoPad_ = at.getString("auto_pad", "NOTSET");
    const auto pads = at.getInts("pads");  // [top, left, bottom, right]
    if (pads.size() == 4) {
      for (size_t k = 0; k < 4; ++k) pads_[k] = pads[k];
    }
    const ir::Value& w = graph.values[node.inputs[1]];
    kernel_ = static_cast<int32_t>(w.dims[1]);
    hasBias_ = node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue;
    hasResidual_ = node.inputs.size() > 3 && node.inputs[3] != ir::kNoValue;
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void* workspace,
             void* stream) const override {
    (void)workspace;
    KILN_ASSIGN_OR_RETURN(DepthwiseConvArgs a, describe(in, out));
    if (out[0].elementCount() == 0) return Status::ok();
    const int vector = depthwiseVectorWidth(dtype_);
    a.vectorized = a.channels % vector == 0 && aligned16(a.x) && aligned16(a.y) && (!a.bias || aligned16(a.bias)) &&
                   (!a.z || aligned16(a.z));
    KILN_CUDA_CHECK(launchDepthwiseConv(a, dtype_, static_cast<cudaStream_t>(stream)), where_ + formatTactic(tile_) + ": ");
    return Status::ok();
  }

  std::string tactic() const override {
    std::string epilogue = hasBias_ ? "bias" : "";
    if (hasResidual_) epilogue += epilogue.empty() ? "add" : "+add";
    if (activation_.present()) epilogue += (epilogue.empty() ? "" : "+") + activation_.name;
    const std::string k = std::to_string(kernel_);
    return formatTactic(tile_) + " depthwise " + k + "x" + k + "/s" + std::to_string(stride_) + " nhwc " +
           dataTypeName(dtype_) + (epilogue.empty() ? "" : " " + epilogue);
  }

 private:
  /// Launch arguments from the tensors, every dim checked against the others and the node's attributes.
  Expected<DepthwiseConvArgs> describe(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out) const {
    if (in.size() < 2 || out.empty()) return invalidArgument(where_ + "the depthwise conv needs X, W and Y");
    const Dims &x = in[0].dims, &w = in[1].dims, &y = out[0].dims;
    if (x.size() != 4 || w.size() != 4 || y.size() != 4 || w[0] != x[3] || w[1] != kernel_ || w[2] != kernel_ ||
        w[3] != 1 || y[0] != x[0] || y[3] != x[3])
      return invalidArgument(where_ + "expected X [N,H,W,C], W [C," + std::to_string(kernel_) + "," +
                             std::to_string(kernel_) + ",1] and Y [N,P,Q,C]; found X " + dimsToString(x) + ", W " +
                             dimsToString(w) + ", Y " + dimsToString(y));
    for (int64_t d : {x[0], x[1], x[2], x[3], y[1], y[2]})
      if (d > INT_MAX) return unsupported(where_ + "dim " + std::to_string(d) + " exceeds 32 bits");
    const bool bias = in.size() > 2 && in[2].present();
    const bool residual = in.size() > 3 && in[3].present();
    if (bias && in[2].dims != Dims{x[3]})
      return invalidArgument(where_ + "bias dims " + dimsToString(in[2].dims) + "; expected [" + std::to_string(x[3]) + "]");
    if (residual && in[3].dims != y)
      return invalidArgument(where_ + "residual dims " + dimsToString(in[3].dims) + " differ from output " +
                             dimsToString(y));
    for (size_t i = 0; i < in.size() && i < 4; ++i)
      if (in[i].present() && in[i].dtype != dtype_)
        return invalidArgument(where_ + "input " + std::to_string(i) + " has type " + dataTypeName(in[i].dtype) +
                               "; expected " + dataTypeName(dtype_));
    if (out[0].dtype != dtype_)
      return invalidArgument(where_ + "output type " + std::string(dataTypeName(out[0].dtype)) + "; expected " +
                             dataTypeName(dtype_));
    // Padding before each axis, as ops/window_geometry.cpp resolves it, and the output size it implies.
    int64_t before[2] = {0, 0};
    for (int axis = 0; axis < 2; ++axis) {
      const int64_t size = x[1 + axis], outSize = y[1 + axis];
      int64_t expected = 0;
      if (autoPad_ == "SAME_UPPER" || autoPad_ == "SAME_LOWER") {
        expected = (size + stride_ - 1) / stride_;
        const int64_t total = std::max<int64_t>(0, (outSize - 1) * stride_ + kernel_ - size);
        before[axis] = autoPad_ == "SAME_UPPER" ? total / 2 : total - total / 2;
      } else {
        const bool valid = autoPad_ == "VALID";
        before[axis] = valid ? 0 : pads_[axis];
        const int64_t after = valid ? 0 : pads_[axis + 2];
        expected = (size + before[axis] + after - kernel_) / stride_ + 1;
      }
      if (outSize != expected)
        return invalidArgument(where_ + "output " + dimsToString(y) + " does not match a " + std::to_string(kernel_) +
                               "x" + std::to_string(kernel_) + " stride-" + std::to_string(stride_) +
                               " convolution of " + dimsToString(x) + " (spatial dim " + std::to_string(axis) +
                               ": expected " + std::to_string(expected) + ")");
    }
    DepthwiseConvArgs a;
    a.x = in[0].data;
    a.w = in[1].data;
    a.bias = bias ? in[2].data : nullptr;
    a.z = residual ? in[3].data : nullptr;
    a.y = out[0].data;
    a.n = static_cast<int32_t>(x[0]);
    a.height = static_cast<int32_t>(x[1]);
    a.width = static_cast<int32_t>(x[2]);
    a.channels = static_cast<int32_t>(x[3]);
    a.outHeight = static_cast<int32_t>(y[1]);
    a.outWidth = static_cast<int32_t>(y[2]);
    a.kernel = kernel_;
    a.stride = stride_;
    a.padTop = static_cast<int32_t>(before[0]);
    a.padLeft = static_cast<int32_t>(before[1]);
    a.pixels = tile_.pixels;
    a.channelVectors = tile_.channelVectors;
    a.activation = activation_.inPlace;
    return a;
  }

  std::string where_;
  DepthwiseTile tile_;
  EpilogueActivation activation_;
  DataType dtype_;
  int32_t stride_ = 1, kernel_ = 3;
  std::string autoPad_;
  int64_t pads_[4] = {0, 0, 0, 0};
  bool hasBias_ = false, hasResidual_ = false;
};

}  // namespace

Status depthwiseConvQualifies(const ir::Graph& graph, const ir::Node& node) {
  const std::string where = graph.describe(node) + ": kiln's depthwise conv needs ";
  if (node.op != ir::OpKind::kConv || node.inputs.size() < 2) return unsupported(where + "a Conv with X and W");
  const auto& at = node.attrs;
  if (at.getString("data_format", "NCHW") != "NHWC") return unsupported(where + "data_format NHWC");
  const DataType t = inputType(graph, node, 0);
  if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kBFloat16)
    return unsupported(where + "float32, float16 or bfloat16 data");
  for (size_t i = 1; i < std::min<size_t>(node.inputs.size(), 4); ++i)
    if (node.inputs[i] != ir::kNoValue && inputType(graph, node, i) != t)
      return unsupported(where + "every input of type " + dataTypeName(t));
  const ir::Value& x = graph.values[node.inputs[0]];
  const ir::Value& w = graph.values[node.inputs[1]];  // KRSC: [C, K, K, C / group]
  if (!w.rankKnown || w.dims.size() != 4)
    return unsupported(where + "rank-4 weights [C,K,K,1]; found " + (w.rankKnown ? dimsToString(w.dims) : "unknown rank"));
  const int64_t group = at.getInt("group", 1);
  if (w.dims[3] != 1 || w.dims[0] != group || group < 1)
    return unsupported(where + "group == input channels == output channels (weights [C,K,K,1] with C = group " +
                       std::to_string(group) + "); found weights " + dimsToString(w.dims));
  if (x.rankKnown && (x.dims.size() != 4 || (x.dims[3] != kDynamicDim && x.dims[3] != group)))
    return unsupported(where + "X [N,H,W," + std::to_string(group) + "]; found " + dimsToString(x.dims));
  const int64_t k = w.dims[1];
  if (w.dims[2] != k || (k != 3 && k != 5 && k != 7))
    return unsupported(where + "a 3x3, 5x5 or 7x7 kernel; found " + std::to_string(w.dims[1]) + "x" +
                       std::to_string(w.dims[2]));
  const auto kernelShape = at.getInts("kernel_shape");
  if (!kernelShape.empty() && kernelShape != std::vector<int64_t>{k, k})
    return unsupported(where + "kernel_shape equal to the weights' " + std::to_string(k) + "x" + std::to_string(k));
  const auto strides = at.getInts("strides");
  if (!strides.empty() && (strides.size() != 2 || strides[0] != strides[1] || (strides[0] != 1 && strides[0] != 2)))
    return unsupported(where + "equal strides 1 or 2 on both axes");
  if (!allEqual(at.getInts("dilations"), 1)) return unsupported(where + "dilations 1");
  const std::string autoPad = at.getString("auto_pad", "NOTSET");
  if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
    return unsupported(where + "auto_pad NOTSET, VALID, SAME_UPPER or SAME_LOWER; found '" + autoPad + "'");
  const auto pads = at.getInts("pads");
  if (!pads.empty() && (pads.size() != 4 || std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; })))
    return unsupported(where + "four non-negative pads");
  if (auto activation = epilogueActivationOf(graph, node); !activation) return activation.status();
  return Status::ok();
}

std::vector<std::string> depthwiseConvTactics(std::span<const DeviceTensor> inputs) {
  const int64_t channels = !inputs.empty() && inputs[0].dims.size() == 4 ? inputs[0].dims[3] : 0;
  const int vector = depthwiseVectorWidth(inputs.empty() ? DataType::kFloat32 : inputs[0].dtype);
  const int64_t vectors = channels > 0 && channels % vector == 0 ? channels / vector : std::max<int64_t>(channels, 1);
  std::vector<std::string> tactics;
  for (const DepthwiseTile& t : kTiles) {
    // A cap at or above the channel vectors there are gives the same blocks as any larger cap.
    if (t.channelVectors != kTiles[0].channelVectors && vectors <= t.channelVectors) continue;
    tactics.push_back(formatTactic(t));
  }
  return tactics;
}

KernelResult makeDepthwiseConvKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node,
                                     const std::string& tactic) {
  (void)ctx;
  KILN_RETURN_IF_ERROR(depthwiseConvQualifies(graph, node));
  KILN_ASSIGN_OR_RETURN(EpilogueActivation activation, epilogueActivationOf(graph, node));
  const DepthwiseTile tile = parseTactic(tactic).value_or(kTiles[0]);
  return std::unique_ptr<Kernel>(std::make_unique<DepthwiseConvKernel>(graph, node, tile, std::move(activation)));
}

}  // namespace kiln::backends::cuda
