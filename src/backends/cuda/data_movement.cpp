// Host side of data movement: each op becomes a strided copy (or Gather/Pad/Resize kernel) computed from the call's
// dims. Parameters that are tensors (Slice starts, Pad pads, Resize scales) are read once at load when constant;
// otherwise the host shape program computes them and run() reads DeviceTensor::hostData. Either way the same
// ops::compute* functions as shape inference turn them into bounds, so kernel and inferred shape agree.
#include <algorithm>
#include <cmath>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/data_movement.h"
#include "backends/cuda/stem_pack.h"
#include "ops/data_movement_params.h"
#include "ops/space_to_depth_packed.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

/// Copies `count` bytes device to device unless source and destination coincide (the runtime may alias views).
Status copyBytes(void* dst, const void* src, size_t bytes, cudaStream_t s, const std::string& where) {
  if (dst != src && bytes) KILN_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), where);
  return Status::ok();
}

size_t bytesOf(const DeviceTensor& t) { return static_cast<size_t>(t.elementCount()) * dataTypeSize(t.dtype); }

class DataMovementKernel final : public Kernel {
 public:
  DataMovementKernel(const ir::Graph& graph, const ir::Node& node)
      : where_(graph.describe(node) + ": "), op_(node.op), node_(node) {
    const auto& at = node.attrs;
    axis_ = at.getInt("axis", 0);
    perm_ = at.getInts("perm");
    blockSize_ = at.getInt("blocksize", 1);
    crd_ = at.getString("mode", "DCR") == "CRD";
    for (size_t k = 1; k < node.inputs.size() && k < kParams; ++k) {
      const Tensor* t = constantInput(graph, node, k);
      if (!t) continue;
      constant_[k] = true;
      if (t->dtype() == DataType::kFloat32 || t->dtype() == DataType::kFloat64 || t->dtype() == DataType::kFloat16 ||
          t->dtype() == DataType::kBFloat16) {
        if (auto f = ops::readFloats(t->dtype(), t->data(), t->elementCount(), where_)) constFloats_[k] = *f;
      } else {
        constInts_[k] = readInts(*t);
      }
    }
    if (op_ == OpKind::kPad) {
      const std::string mode = at.getString("mode", "constant");
      padMode_ = mode == "reflect" ? PadMode::kReflect : mode == "edge" ? PadMode::kEdge
                                                        : mode == "wrap" ? PadMode::kWrap : PadMode::kConstant;
    } else if (op_ == OpKind::kResize) {
      const std::string mode = at.getString("mode", "nearest");
      mode_ = mode == "linear" ? ResizeMode::kLinear : mode == "cubic" ? ResizeMode::kCubic : ResizeMode::kNearest;
      cubicA_ = at.getFloat("cubic_coeff_a", -0.75f);
      excludeOutside_ = at.getInt("exclude_outside", 0) != 0;
      extrapolation_ = at.getFloat("extrapolation_value", 0.f);
      const std::string c = at.getString("coordinate_transformation_mode", "half_pixel");
      coordinates_ = c == "pytorch_half_pixel" ? ResizeCoordinates::kPytorchHalfPixel
                     : c == "align_corners"    ? ResizeCoordinates::kAlignCorners
                     : c == "asymmetric"       ? ResizeCoordinates::kAsymmetric
                     : c == "tf_half_pixel_for_nearest" ? ResizeCoordinates::kTfHalfPixelForNearest
                     : c == "half_pixel_symmetric"      ? ResizeCoordinates::kHalfPixelSymmetric
                     : c == "tf_crop_and_resize"        ? ResizeCoordinates::kTfCropAndResize
                                                        : ResizeCoordinates::kHalfPixel;
      const std::string n = at.getString("nearest_mode", "round_prefer_floor");
      rounding_ = n == "round_prefer_ceil" ? NearestRounding::kRoundPreferCeil
                  : n == "floor"           ? NearestRounding::kFloor
                  : n == "ceil"            ? NearestRounding::kCeil
                                           : NearestRounding::kRoundPreferFloor;
    }
  }

  Status run(std::span<const DeviceTensor> in, std::span<const DeviceTensor> out, void*, void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& x = in[0];
    const size_t elem = dataTypeSize(x.dtype);
    if (x.dims.size() > static_cast<size_t>(kMaxRank) || out[0].dims.size() > static_cast<size_t>(kMaxRank))
      return unsupported(where_ + "tensors of rank above 8");
    switch (op_) {
      case OpKind::kReshape: case OpKind::kFlatten: case OpKind::kSqueeze: case OpKind::kUnsqueeze:
      case OpKind::kIdentity:
        if (bytesOf(x) != bytesOf(out[0]))
          return invalidArgument(where_ + "input " + dimsToString(x.dims) + " and output " +
                                 dimsToString(out[0].dims) + " differ in size");
        return copyBytes(out[0].data, x.data, bytesOf(x), s, where_);
      case OpKind::kExpand: return broadcastCopy(x, out[0], s, where_);
      case OpKind::kTranspose: return transpose(x, out[0], s);
      case OpKind::kConcat: return concat(in, out[0], s);
      case OpKind::kSplit: return split(x, out, s);
      case OpKind::kSlice: return slice(in, out[0], s);
      case OpKind::kTile: {
        StridedCopy c = view(x, out[0]);
        const auto st = contiguousStrides(x.dims);
        for (int k = 0; k < c.rank; ++k) {
          c.srcStrides[k] = st[k];
          c.srcModulo[k] = x.dims[k];
        }
        return launch(c, elem, s);
      }
      case OpKind::kGather: {
        const int64_t axis = normalizeAxis(axis_, static_cast<int64_t>(x.dims.size()));
        if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(x.dims.size()));
        GatherArgs g;
        g.data = x.data;
        g.indices = in[1].data;
        g.out = out[0].data;
        g.indices64 = in[1].dtype == DataType::kInt64;
        g.axisDim = x.dims[static_cast<size_t>(axis)];
        g.indexCount = in[1].elementCount();
        for (int64_t k = 0; k < axis; ++k) g.outer *= x.dims[static_cast<size_t>(k)];
        for (size_t k = static_cast<size_t>(axis) + 1; k < x.dims.size(); ++k) g.inner *= x.dims[k];
        if (g.outer * g.indexCount * g.inner != out[0].elementCount())
          return invalidArgument(where_ + "output " + dimsToString(out[0].dims) + " does not match the gather of " +
                                 dimsToString(x.dims) + " by " + dimsToString(in[1].dims));
        KILN_CUDA_CHECK(launchGather(g, elem, s), where_);
        return Status::ok();
      }
      case OpKind::kPad: return pad(in, out[0], s);
      case OpKind::kResize: return resize(in, out[0], s);
      case OpKind::kDepthToSpace: case OpKind::kSpaceToDepth: return depthSpace(x, out[0], s);
      default: return internalError(where_ + "not a data-movement op");
    }
  }

  std::string tactic() const override { return "cuda:strided-copy"; }

 private:
  /// A copy whose iteration dims are `dst`'s, with contiguous destination strides and no source strides yet.
  static StridedCopy view(const DeviceTensor& src, const DeviceTensor& dst) {
    StridedCopy c;
    c.rank = static_cast<int32_t>(std::max<size_t>(dst.dims.size(), 1));
    const auto st = contiguousStrides(dst.dims);
    c.dims[0] = 1;
    c.dstStrides[0] = 1;
    for (size_t k = 0; k < dst.dims.size(); ++k) {
      c.dims[k] = dst.dims[k];
      c.dstStrides[k] = st[k];
    }
    c.src = src.data;
    c.dst = dst.data;
    return c;
  }

  Status launch(StridedCopy& c, size_t elem, cudaStream_t s) const {
    for (int k = 0; k < c.rank; ++k)
      if (c.dims[k] == 0) return Status::ok();
    simplifyStridedCopy(c);
    KILN_CUDA_CHECK(launchStridedCopy(c, elem, s), where_);
    return Status::ok();
  }

  Status transpose(const DeviceTensor& x, const DeviceTensor& y, cudaStream_t s) const {
    const size_t rank = x.dims.size();
    std::vector<int64_t> perm = perm_;
    if (perm.empty())
      for (size_t k = 0; k < rank; ++k) perm.push_back(static_cast<int64_t>(rank - 1 - k));
    if (perm.size() != rank) return invalidArgument(where_ + "perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
    StridedCopy c = view(x, y);
    const auto st = contiguousStrides(x.dims);
    for (size_t k = 0; k < rank; ++k) {
      const int64_t p = perm[k] < 0 ? perm[k] + static_cast<int64_t>(rank) : perm[k];
      if (p < 0 || p >= static_cast<int64_t>(rank) || x.dims[static_cast<size_t>(p)] != y.dims[k])
        return invalidArgument(where_ + "perm[" + std::to_string(k) + "] = " + std::to_string(perm[k]) +
                               " does not map " + dimsToString(x.dims) + " to " + dimsToString(y.dims));
      c.srcStrides[k] = st[static_cast<size_t>(p)];
    }
    return launch(c, dataTypeSize(x.dtype), s);
  }

  Status concat(std::span<const DeviceTensor> in, const DeviceTensor& y, cudaStream_t s) const {
    const int64_t axis = normalizeAxis(axis_, static_cast<int64_t>(y.dims.size()));
    if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(y.dims.size()));
    const auto outStrides = contiguousStrides(y.dims);
    int64_t offset = 0;
    for (const DeviceTensor& part : in) {
      if (part.dims.size() != y.dims.size())
        return invalidArgument(where_ + "input " + dimsToString(part.dims) + " has another rank than output " + dimsToString(y.dims));
      StridedCopy c;
      c.rank = static_cast<int32_t>(std::max<size_t>(y.dims.size(), 1));
      c.dims[0] = 1;
      const auto st = contiguousStrides(part.dims);
      for (size_t k = 0; k < part.dims.size(); ++k) {
        c.dims[k] = part.dims[k];
        c.srcStrides[k] = st[k];
        c.dstStrides[k] = outStrides[k];
      }
      c.dstBase = offset * outStrides[static_cast<size_t>(axis)];
      c.src = part.data;
      c.dst = y.data;
      offset += part.dims.empty() ? 1 : part.dims[static_cast<size_t>(axis)];
      KILN_RETURN_IF_ERROR(launch(c, dataTypeSize(y.dtype), s));
    }
    if (!y.dims.empty() && offset != y.dims[static_cast<size_t>(axis)])
      return invalidArgument(where_ + "inputs add up to " + std::to_string(offset) + " along axis " +
                             std::to_string(axis) + "; the output has " + std::to_string(y.dims[static_cast<size_t>(axis)]));
    return Status::ok();
  }

  Status split(const DeviceTensor& x, std::span<const DeviceTensor> out, cudaStream_t s) const {
    const int64_t axis = normalizeAxis(axis_, static_cast<int64_t>(x.dims.size()));
    if (axis < 0) return invalidArgument(where_ + "axis " + std::to_string(axis_) + " is outside rank " + std::to_string(x.dims.size()));
    const auto inStrides = contiguousStrides(x.dims);
    int64_t offset = 0;
    for (const DeviceTensor& part : out) {
      StridedCopy c = view(x, part);
      for (size_t k = 0; k < part.dims.size(); ++k) c.srcStrides[k] = inStrides[k];
      c.srcBase = offset * inStrides[static_cast<size_t>(axis)];
      offset += part.dims[static_cast<size_t>(axis)];
      if (offset > x.dims[static_cast<size_t>(axis)])
        return invalidArgument(where_ + "outputs exceed the input's " + std::to_string(x.dims[static_cast<size_t>(axis)]) + " along axis " + std::to_string(axis));
      KILN_RETURN_IF_ERROR(launch(c, dataTypeSize(x.dtype), s));
    }
    return Status::ok();
  }

  /// Integer parameter input k: the constant read at load, else the host copy the runtime supplies.
  Expected<std::vector<int64_t>> ints(std::span<const DeviceTensor> in, size_t k, const char* what) const {
    if (k >= in.size() || !in[k].present()) return std::vector<int64_t>();
    if (k < kParams && constant_[k]) return constInts_[k];
    return hostInts(in[k], where_, what);
  }
  Expected<std::vector<float>> floats(std::span<const DeviceTensor> in, size_t k, const char* what) const {
    if (k >= in.size() || !in[k].present()) return std::vector<float>();
    if (k < kParams && constant_[k]) return constFloats_[k];
    if (!in[k].hostData) return unsupported(where_ + what + " are not known on the host (DeviceTensor::hostData is null)");
    return ops::readFloats(in[k].dtype, in[k].hostData, in[k].elementCount(), where_ + what);
  }

  Status slice(std::span<const DeviceTensor> in, const DeviceTensor& y, cudaStream_t s) const {
    const DeviceTensor& x = in[0];
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> starts, ints(in, 1, "input 1 (starts)"));
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> ends, ints(in, 2, "input 2 (ends)"));
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> axes, ints(in, 3, "input 3 (axes)"));
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> steps, ints(in, 4, "input 4 (steps)"));
    KILN_ASSIGN_OR_RETURN(const ops::SliceParams p, ops::computeSlice(x.dims, starts, ends, axes, steps, where_));
    if (p.outDims != y.dims)
      return invalidArgument(where_ + "slicing " + dimsToString(x.dims) + " gives " + dimsToString(p.outDims) +
                             ", the output is " + dimsToString(y.dims));
    StridedCopy c = view(x, y);
    const auto st = contiguousStrides(x.dims);
    for (size_t k = 0; k < x.dims.size(); ++k) {
      c.srcBase += p.start[k] * st[k];
      c.srcStrides[k] = st[k] * p.step[k];
    }
    return launch(c, dataTypeSize(x.dtype), s);
  }

  Status pad(std::span<const DeviceTensor> in, const DeviceTensor& y, cudaStream_t s) const {
    const DeviceTensor& x = in[0];
    const auto rank = static_cast<int64_t>(x.dims.size());
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> pads, ints(in, 1, "input 1 (pads)"));
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> axes, ints(in, 3, "input 3 (axes)"));
    KILN_ASSIGN_OR_RETURN(const ops::PadParams p, ops::computePads(x.dims, pads, axes, where_));
    if (p.outDims != y.dims)
      return invalidArgument(where_ + "padding " + dimsToString(x.dims) + " gives " + dimsToString(p.outDims) +
                             ", the output is " + dimsToString(y.dims));
    PadArgs a;
    a.rank = static_cast<int32_t>(rank);
    a.mode = padMode_;
    a.src = x.data;
    a.dst = y.data;
    a.count = y.elementCount();
    a.constantValue = in.size() > 2 && in[2].present() && in[2].elementCount() > 0 ? in[2].data : nullptr;
    const auto st = contiguousStrides(x.dims);
    for (int64_t k = 0; k < rank; ++k) {
      a.inDims[k] = x.dims[static_cast<size_t>(k)];
      a.outDims[k] = y.dims[static_cast<size_t>(k)];
      a.inStrides[k] = st[static_cast<size_t>(k)];
      a.padBegin[k] = p.before[static_cast<size_t>(k)];
      if (a.inDims[k] == 0 && a.mode != PadMode::kConstant && a.outDims[k] > 0)
        return invalidArgument(where_ + "cannot " + (a.mode == PadMode::kReflect ? "reflect" : "extend") + " an empty dim " + std::to_string(k));
    }
    KILN_CUDA_CHECK(launchPad(a, dataTypeSize(x.dtype), s), where_);
    return Status::ok();
  }

  Status resize(std::span<const DeviceTensor> in, const DeviceTensor& y, cudaStream_t s) const {
    const DeviceTensor& x = in[0];
    const auto rank = static_cast<int64_t>(x.dims.size());
    if (y.dims.size() != x.dims.size()) return invalidArgument(where_ + "output rank differs from input rank");
    std::vector<float> roi;
    if (coordinates_ == ResizeCoordinates::kTfCropAndResize) {
      KILN_ASSIGN_OR_RETURN(roi, floats(in, 1, "input 1 (roi)"));
    }
    KILN_ASSIGN_OR_RETURN(const std::vector<float> scales, floats(in, 2, "input 2 (scales)"));
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> sizes, ints(in, 3, "input 3 (sizes)"));
    KILN_ASSIGN_OR_RETURN(const ops::ResizeParams p, ops::computeResize(x.dims, roi, scales, sizes, node_, where_));
    if (p.outDims != y.dims)
      return invalidArgument(where_ + "resizing " + dimsToString(x.dims) + " gives " + dimsToString(p.outDims) +
                             ", the output is " + dimsToString(y.dims));
    if (y.elementCount() == 0) return Status::ok();
    if (x.elementCount() == 0) return invalidArgument(where_ + "cannot resize an empty input to a non-empty output");
    ResizeArgs a;
    a.rank = static_cast<int32_t>(rank);
    a.coordinates = coordinates_;
    a.rounding = rounding_;
    a.mode = mode_;
    a.cubicA = cubicA_;
    a.excludeOutside = excludeOutside_;
    a.extrapolation = extrapolation_;
    a.src = x.data;
    a.dst = y.data;
    a.count = y.elementCount();
    const bool crop = coordinates_ == ResizeCoordinates::kTfCropAndResize;
    for (int64_t k = 0; k < rank; ++k) {
      const auto u = static_cast<size_t>(k);
      a.inDims[k] = x.dims[u];
      a.outDims[k] = y.dims[u];
      a.scales[k] = p.scales[u];
      a.roiStart[k] = p.roiStart[u];
      a.roiEnd[k] = p.roiEnd[u];
      // A dim that keeps its size at scale 1 maps every output coordinate onto itself (every mode and coordinate
      // transform but tf_crop_and_resize): it needs no interpolation.
      const bool identity = a.inDims[k] == a.outDims[k] && a.scales[k] == 1.f &&
                            (!crop || (a.roiStart[k] == 0.f && a.roiEnd[k] == 1.f));
      if (!identity) {
        if (mode_ != ResizeMode::kNearest && a.interpolatedCount == 3)
          return unsupported(where_ + "interpolating resize of more than 3 dims of " + dimsToString(x.dims));
        if (a.interpolatedCount < 3) a.interpolated[a.interpolatedCount] = static_cast<int32_t>(k);
        ++a.interpolatedCount;
      }
    }
    if (mode_ == ResizeMode::kNearest) a.interpolatedCount = 0;  // nearest walks every dim itself
    KILN_CUDA_CHECK(launchResize(a, x.dtype, s), where_);
    return Status::ok();
  }

  Status depthSpace(const DeviceTensor& x, const DeviceTensor& y, cudaStream_t s) const {
    if (x.dims.size() != 4 || y.dims.size() != 4) return invalidArgument(where_ + "expects rank-4 NCHW tensors");
    const int64_t b = blockSize_, n = x.dims[0], c = x.dims[1], h = x.dims[2], w = x.dims[3];
    StridedCopy copy;
    copy.rank = 6;
    copy.src = x.data;
    copy.dst = y.data;
    int64_t dims[6], src[6];
    if (op_ == OpKind::kDepthToSpace) {
      const int64_t cp = c / (b * b);
      if (cp * b * b != c) return invalidArgument(where_ + "channels " + std::to_string(c) + " are not divisible by blocksize^2");
      // Output viewed as [N, C', H, b, W, b].
      const int64_t d[6] = {n, cp, h, b, w, b};
      const int64_t dcr[6] = {c * h * w, h * w, w, b * cp * h * w, 1, cp * h * w};
      const int64_t crd[6] = {c * h * w, b * b * h * w, w, b * h * w, 1, h * w};
      std::copy(d, d + 6, dims);
      std::copy(crd_ ? crd : dcr, (crd_ ? crd : dcr) + 6, src);
    } else {
      const int64_t hp = h / b, wp = w / b;
      if (hp * b != h || wp * b != w) return invalidArgument(where_ + "H and W must be divisible by blocksize");
      // Output viewed as [N, b, b, C, H', W'] (DCR) or [N, C, b, b, H', W'] (CRD: channel c * b * b + bh * b + bw),
      // reading x[n, c, h' * b + bh, w' * b + bw].
      const int64_t dcrDims[6] = {n, b, b, c, hp, wp};
      const int64_t dcrStrides[6] = {c * h * w, w, 1, h * w, b * w, b};
      const int64_t crdDims[6] = {n, c, b, b, hp, wp};
      const int64_t crdStrides[6] = {c * h * w, h * w, w, 1, b * w, b};
      std::copy(crd_ ? crdDims : dcrDims, (crd_ ? crdDims : dcrDims) + 6, dims);
      std::copy(crd_ ? crdStrides : dcrStrides, (crd_ ? crdStrides : dcrStrides) + 6, src);
    }
    int64_t stride = 1;
    for (int k = 5; k >= 0; --k) {
      copy.dims[k] = dims[k];
      copy.srcStrides[k] = src[k];
      copy.dstStrides[k] = stride;
      stride *= dims[k];
    }
    if (stride != y.elementCount()) return invalidArgument(where_ + "output " + dimsToString(y.dims) + " has the wrong size");
    return launch(copy, dataTypeSize(x.dtype), s);
  }

  static constexpr size_t kParams = 5;  // parameter inputs 1..4 (Slice starts/ends/axes/steps, Pad, Resize)
  std::string where_;
  OpKind op_;
  ir::Node node_;  // attributes for ops::computeResize
  int64_t axis_ = 0;
  std::vector<int64_t> perm_;
  bool constant_[kParams] = {};
  std::vector<int64_t> constInts_[kParams];
  std::vector<float> constFloats_[kParams];
  int64_t blockSize_ = 1;
  bool crd_ = false, excludeOutside_ = false;
  float cubicA_ = -0.75f, extrapolation_ = 0.f;
  PadMode padMode_ = PadMode::kConstant;
  ResizeMode mode_ = ResizeMode::kNearest;
  ResizeCoordinates coordinates_ = ResizeCoordinates::kHalfPixel;
  NearestRounding rounding_ = NearestRounding::kRoundPreferFloor;
};

}  // namespace

Status dataMovementSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty() || node.inputs[0] == ir::kNoValue) return invalidModel(graph.describe(node) + ": no data input");
  const DataType t = inputType(graph, node, 0);
  const size_t bytes = dataTypeSize(t);
  if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
    return unsupported(graph.describe(node) + ": data of type " + dataTypeName(t));
  switch (node.op) {
    case OpKind::kSpaceToDepth:  // kiln's extended form (the stem's packing node) has its own kernel
      if (ops::hasSpaceToDepthExtensions(node.attrs)) return packedSpaceToDepthSupports(graph, node);
      return Status::ok();
    case OpKind::kReshape: case OpKind::kFlatten: case OpKind::kSqueeze: case OpKind::kUnsqueeze:
    case OpKind::kTranspose: case OpKind::kSplit: case OpKind::kExpand: case OpKind::kTile:
    case OpKind::kDepthToSpace:
      return Status::ok();
    case OpKind::kConcat:  // elements move by the output's size: every part must have it
      for (size_t k = 1; k < node.inputs.size(); ++k) KILN_RETURN_IF_ERROR(requireInputType(graph, node, k, {t}));
      return Status::ok();
    case OpKind::kGather:
      return requireInputType(graph, node, 1, {DataType::kInt64, DataType::kInt32});
    case OpKind::kSlice:
      if (node.inputs.size() < 3) return invalidModel(graph.describe(node) + ": Slice needs starts and ends");
      for (size_t k = 1; k <= 4; ++k) {
        KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, k, "a slice parameter"));
        if (k < node.inputs.size() && node.inputs[k] != ir::kNoValue)
          KILN_RETURN_IF_ERROR(requireInputType(graph, node, k, {DataType::kInt64, DataType::kInt32}));
      }
      return Status::ok();
    case OpKind::kPad: {
      if (node.inputs.size() < 2) return invalidModel(graph.describe(node) + ": Pad needs its pads input");
      KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, 1, "pads"));
      KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, 3, "axes"));
      if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue)  // constant_value is read as one data element
        KILN_RETURN_IF_ERROR(requireInputType(graph, node, 2, {t}));
      const std::string mode = node.attrs.getString("mode", "constant");
      if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
        return unsupported(graph.describe(node) + ": pad mode '" + mode + "'");
      return Status::ok();
    }
    case OpKind::kResize: {
      const std::string mode = node.attrs.getString("mode", "nearest");
      if (mode != "nearest" && mode != "linear" && mode != "cubic")
        return unsupported(graph.describe(node) + ": Resize mode '" + mode + "'");
      const std::string c = node.attrs.getString("coordinate_transformation_mode", "half_pixel");
      if ((mode != "nearest" || c == "tf_crop_and_resize") && !isFloatOrBFloat16Type(t))
        return requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16});
      if (node.attrs.getInt("antialias", 0) != 0) return unsupported(graph.describe(node) + ": antialias=1");
      for (size_t k = 1; k <= 3; ++k) KILN_RETURN_IF_ERROR(requireHostKnown(graph, node, k, "a resize parameter"));
      for (size_t k = 1; k <= 2; ++k)  // roi, scales: read on the host (ops::readFloats)
        if (k < node.inputs.size() && node.inputs[k] != ir::kNoValue)
          KILN_RETURN_IF_ERROR(requireInputType(graph, node, k, {DataType::kFloat32, DataType::kFloat64,
                                                                 DataType::kFloat16, DataType::kBFloat16}));
      return Status::ok();
    }
    default: return indexingSupports(graph, node);
  }
}

KernelResult makeDataMovementKernel(const CudaContext& ctx, const ir::Graph& graph, const ir::Node& node) {
  if (isIndexingOp(node.op)) return makeIndexingKernel(ctx, graph, node);
  if (node.op == OpKind::kSpaceToDepth && ops::hasSpaceToDepthExtensions(node.attrs))
    return makePackedSpaceToDepthKernel(ctx, graph, node);
  return std::unique_ptr<Kernel>(std::make_unique<DataMovementKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
