// CPU kernels of the data-movement family: dispatch, the strided-copy engine, and the layout ops. Elements are
// copied by byte size, never by float type, so float32/int64/int32/bool data all work.
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "backends/cpu/cpu_kernels.h"
#include "backends/cpu/data_movement_kernels.h"
#include "ops/broadcast.h"
#include "ops/data_movement_params.h"
#include "ops/space_to_depth_packed.h"

namespace kiln::backends::cpu {
namespace datamove {

Dims contiguousStrides(std::span<const int64_t> dims) {
  Dims s(dims.size(), 1);
  for (int64_t d = static_cast<int64_t>(dims.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * dims[d + 1];
  return s;
}

bool hasInput(const KernelCall& call, size_t index) {
  return index < call.inputs.size() && call.inputs[index].present();
}

Expected<std::vector<int64_t>> inputIntegers(const KernelCall& call, size_t index, const std::string& name) {
  const DeviceTensor& t = call.inputs[index];
  return ops::readIntegers(t.dtype, t.data, t.elementCount(), call.where() + "input '" + name + "'");
}

namespace {

constexpr int64_t kParallelBytes = 1 << 18;  // below this a copy runs on one thread

template <typename T>
void copyRows(int64_t rowBegin, int64_t rowEnd, const Dims& outer, const Dims& outerStrides, int64_t inner,
              int64_t innerStride, const T* src, T* dst) {
  const int rank = static_cast<int>(outer.size());
  std::vector<int64_t> index(rank, 0);
  int64_t offset = 0;
  int64_t r = rowBegin;
  for (int d = rank - 1; d >= 0; --d) {
    index[d] = r % outer[d];
    r /= outer[d];
    offset += index[d] * outerStrides[d];
  }
  T* out = dst + rowBegin * inner;
  for (int64_t row = rowBegin; row < rowEnd; ++row) {
    const T* in = src + offset;
    if (innerStride == 1) {
      std::memcpy(out, in, static_cast<size_t>(inner) * sizeof(T));
    } else if (innerStride == 0) {
      std::fill(out, out + inner, *in);
    } else {
      for (int64_t i = 0; i < inner; ++i) out[i] = in[i * innerStride];
    }
    out += inner;
    for (int d = rank - 1; d >= 0; --d) {
      offset += outerStrides[d];
      if (++index[d] < outer[d]) break;
      offset -= outer[d] * outerStrides[d];
      index[d] = 0;
    }
  }
}

}  // namespace

void stridedCopy(size_t elemSize, std::span<const int64_t> outDims, const void* src,
                 std::span<const int64_t> srcStrides, void* dst) {
  const int64_t total = elementCount(outDims);
  if (total <= 0) return;
  // Drop size-1 dims and merge neighbours that are contiguous in the source, so the inner loop is as long as
  // possible (a plain copy collapses to one memcpy).
  Dims dims, strides;
  for (size_t d = 0; d < outDims.size(); ++d) {
    if (outDims[d] == 1) continue;
    if (!dims.empty() && strides.back() == srcStrides[d] * outDims[d]) {
      dims.back() *= outDims[d];
      strides.back() = srcStrides[d];
    } else {
      dims.push_back(outDims[d]);
      strides.push_back(srcStrides[d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    strides.push_back(1);
  }
  const int64_t inner = dims.back();
  const int64_t innerStride = strides.back();
  dims.pop_back();
  strides.pop_back();
  const int64_t rows = total / inner;
  const bool parallel = total * static_cast<int64_t>(elemSize) >= kParallelBytes && rows > 1;
  dispatchBySize(elemSize, [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(src);
    T* o = static_cast<T*>(dst);
    if (!parallel) {
      copyRows<T>(0, rows, dims, strides, inner, innerStride, s, o);
      return;
    }
#pragma omp parallel
    {
      const int64_t threads = omp_get_num_threads();
      const int64_t t = omp_get_thread_num();
      const int64_t begin = rows * t / threads;
      const int64_t end = rows * (t + 1) / threads;
      if (begin < end) copyRows<T>(begin, end, dims, strides, inner, innerStride, s, o);
    }
  });
}

namespace {

size_t elemSizeOf(const KernelCall& call) { return dataTypeSize(call.inputs[0].dtype); }

Status copyWhole(const KernelCall& call) {
  const DeviceTensor& in = call.inputs[0];
  const DeviceTensor& out = call.outputs[0];
  const size_t bytes = static_cast<size_t>(out.elementCount()) * dataTypeSize(out.dtype);
  if (in.elementCount() != out.elementCount())
    return internalError(call.where() + "input has " + std::to_string(in.elementCount()) + " elements, output " +
                         std::to_string(out.elementCount()));
  if (bytes && in.data != out.data) std::memcpy(out.data, in.data, bytes);
  return Status::ok();
}

Status runTranspose(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> perm = call.node.attrs.getInts("perm");
  if (!call.node.attrs.has("perm"))
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  KILN_ASSIGN_OR_RETURN(perm, ops::normalizeAxes(perm, rank, call.where() + "attribute 'perm'"));
  const Dims inStrides = contiguousStrides(in);
  Dims strides(rank);
  for (int64_t d = 0; d < rank; ++d) strides[d] = inStrides[perm[d]];
  stridedCopy(elemSizeOf(call), call.outputs[0].dims, call.inputs[0].data, strides, call.outputs[0].data);
  return Status::ok();
}

// Copies between one tensor and its pieces along `axis`: Concat gathers the pieces, Split scatters them.
void concatOrSplit(std::span<const DeviceTensor> pieces, const DeviceTensor& whole, int64_t axis, size_t elem,
                   bool gather) {
  const int64_t outer = elementCount(std::span<const int64_t>(whole.dims.data(), axis));
  const int64_t wholeRow = elementCount(std::span<const int64_t>(whole.dims.data() + axis, whole.dims.size() - axis));
  int64_t offset = 0;
  for (const DeviceTensor& p : pieces) {
    const int64_t row = elementCount(std::span<const int64_t>(p.dims.data() + axis, p.dims.size() - axis));
    const size_t rowBytes = static_cast<size_t>(row) * elem;
    auto* w = static_cast<char*>(whole.data) + offset * static_cast<int64_t>(elem);
    auto* q = static_cast<char*>(p.data);
    const bool parallel = outer * row * static_cast<int64_t>(elem) >= kParallelBytes && outer > 1;
#pragma omp parallel for if (parallel)
    for (int64_t o = 0; o < outer; ++o) {
      char* a = w + o * wholeRow * static_cast<int64_t>(elem);
      char* b = q + o * static_cast<int64_t>(rowBytes);
      if (rowBytes == 0) continue;
      if (gather) std::memcpy(a, b, rowBytes);
      else std::memcpy(b, a, rowBytes);
    }
    offset += row;
  }
}

Status runConcat(const KernelCall& call) {
  const int64_t rank = static_cast<int64_t>(call.outputs[0].dims.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0), rank,
                                                         call.where() + "attribute 'axis'"));
  concatOrSplit(call.inputs, call.outputs[0], axis, elemSizeOf(call), true);
  return Status::ok();
}

Status runSplit(const KernelCall& call) {
  const int64_t rank = static_cast<int64_t>(call.inputs[0].dims.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis, ops::normalizeAxis(call.node.attrs.getInt("axis", 0), rank,
                                                         call.where() + "attribute 'axis'"));
  concatOrSplit(call.outputs, call.inputs[0], axis, elemSizeOf(call), false);
  return Status::ok();
}

Status runSlice(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> starts, inputIntegers(call, 1, "starts"));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> ends, inputIntegers(call, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (hasInput(call, 3)) {
    KILN_ASSIGN_OR_RETURN(axes, inputIntegers(call, 3, "axes"));
  }
  if (hasInput(call, 4)) {
    KILN_ASSIGN_OR_RETURN(steps, inputIntegers(call, 4, "steps"));
  }
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(ops::SliceParams p, ops::computeSlice(in, starts, ends, axes, steps, call.where()));
  if (p.outDims != call.outputs[0].dims)
    return internalError(call.where() + "slice of shape " + dimsToString(p.outDims) + " but output is " +
                         dimsToString(call.outputs[0].dims));
  const Dims inStrides = contiguousStrides(in);
  Dims strides(in.size());
  int64_t base = 0;
  for (size_t d = 0; d < in.size(); ++d) {
    strides[d] = p.step[d] * inStrides[d];
    base += p.start[d] * inStrides[d];
  }
  const size_t elem = elemSizeOf(call);
  stridedCopy(elem, p.outDims, static_cast<const char*>(call.inputs[0].data) + base * static_cast<int64_t>(elem),
              strides, call.outputs[0].data);
  return Status::ok();
}

Status runExpand(const KernelCall& call) {
  const Dims strides = ops::broadcastStrides(call.inputs[0].dims, call.outputs[0].dims);
  stridedCopy(elemSizeOf(call), call.outputs[0].dims, call.inputs[0].data, strides, call.outputs[0].data);
  return Status::ok();
}

// Output index o_d = r_d * in_d + i_d, so the output is the row-major tensor (rep_0, in_0, rep_1, in_1, ...) whose
// repeat dims have source stride 0.
Status runTile(const KernelCall& call) {
  const Dims& in = call.inputs[0].dims;
  const Dims inStrides = contiguousStrides(in);
  Dims dims, strides;
  for (size_t d = 0; d < in.size(); ++d) {
    dims.push_back(in[d] == 0 ? 0 : call.outputs[0].dims[d] / in[d]);
    strides.push_back(0);
    dims.push_back(in[d]);
    strides.push_back(inStrides[d]);
  }
  stridedCopy(elemSizeOf(call), dims, call.inputs[0].data, strides, call.outputs[0].data);
  return Status::ok();
}

Status runDepthSpace(const KernelCall& call, bool toSpace) {
  const Dims& in = call.inputs[0].dims;
  const int64_t bs = call.node.attrs.getInt("blocksize", 1);
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  Dims dims, strides;
  if (toSpace) {
    const int64_t oc = c / (bs * bs);
    // Output viewed as [N, C', H, b1, W, b2]; the source channel depends on the mode.
    const bool dcr = call.node.attrs.getString("mode", "DCR") == "DCR";
    dims = {n, oc, h, bs, w, bs};
    strides = {c * h * w, (dcr ? 1 : bs * bs) * h * w, w, (dcr ? bs * oc : bs) * h * w, 1, (dcr ? oc : 1) * h * w};
  } else {
    // Output viewed as [N, b1, b2, C, H', W'] (DCR) or [N, C, b1, b2, H', W'] (CRD, opset 25's mode attribute),
    // reading in[n, c, h' * bs + b1, w' * bs + b2].
    if (call.node.attrs.getString("mode", "DCR") == "CRD") {
      dims = {n, c, bs, bs, h / bs, w / bs};
      strides = {c * h * w, h * w, w, 1, bs * w, bs};
    } else {
      dims = {n, bs, bs, c, h / bs, w / bs};
      strides = {c * h * w, w, 1, h * w, bs * w, bs};
    }
  }
  stridedCopy(elemSizeOf(call), dims, call.inputs[0].data, strides, call.outputs[0].data);
  return Status::ok();
}

/// SpaceToDepth with kiln's extension attributes (ops/space_to_depth_packed.h): zero padding before blocking,
/// optional NHWC output and zero channels past C * blocksize^2. One output row (n, i) per OpenMP iteration.
Status runPackedSpaceToDepth(const KernelCall& call) {
  KILN_ASSIGN_OR_RETURN(const ops::PackedSpaceToDepth p,
                        ops::resolvePackedSpaceToDepth(call.where(), call.node.attrs, call.inputs[0].dims));
  const DeviceTensor& y = call.outputs[0];
  if (y.dims != p.outputDims())
    return internalError(call.where() + "output buffer " + dimsToString(y.dims) + " differs from the inferred " +
                         dimsToString(p.outputDims()));
  const size_t e = elemSizeOf(call);
  const auto* src = static_cast<const std::byte*>(call.inputs[0].data);
  auto* dst = static_cast<std::byte*>(y.data);
  if (y.elementCount() == 0) return Status::ok();
  std::memset(dst, 0, static_cast<size_t>(y.elementCount()) * e);
  const int64_t bs = p.block, C = p.channels, H = p.height, W = p.width, OH = p.outHeight, OW = p.outWidth,
                OC = p.outChannels;
  const bool parallel = y.elementCount() > (int64_t{1} << 16);
#pragma omp parallel for if (parallel)
  for (int64_t row = 0; row < p.batch * OH; ++row) {
    const int64_t n = row / OH, i = row % OH;
    for (int64_t a = 0; a < bs; ++a) {
      const int64_t h = i * bs + a - p.pads[0];
      if (h < 0 || h >= H) continue;
      for (int64_t j = 0; j < OW; ++j)
        for (int64_t b = 0; b < bs; ++b) {
          const int64_t w = j * bs + b - p.pads[1];
          if (w < 0 || w >= W) continue;
          for (int64_t c = 0; c < C; ++c) {
            const int64_t oc = (a * bs + b) * C + c;
            const int64_t to = p.channelsLast ? ((n * OH + i) * OW + j) * OC + oc : ((n * OC + oc) * OH + i) * OW + j;
            std::memcpy(dst + to * e, src + (((n * C + c) * H + h) * W + w) * e, e);
          }
        }
    }
  }
  return Status::ok();
}

}  // namespace
}  // namespace datamove

Status runDataMovement(const KernelCall& call) {
  using namespace datamove;
  using ir::OpKind;
  if (call.inputs.empty() || call.outputs.empty() || !call.inputs[0].present())
    return internalError(call.where() + "kernel called without data input or output");
  if (dataTypeSize(call.inputs[0].dtype) == 0 || dataTypeSize(call.inputs[0].dtype) > 8)
    return unsupported(call.where() + "data of type " + dataTypeName(call.inputs[0].dtype) + " is not supported");
  switch (call.node.op) {
    case OpKind::kReshape:
    case OpKind::kFlatten:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze: return copyWhole(call);
    case OpKind::kTranspose: return runTranspose(call);
    case OpKind::kConcat: return runConcat(call);
    case OpKind::kSplit: return runSplit(call);
    case OpKind::kSlice: return runSlice(call);
    case OpKind::kGather: return runGather(call);
    case OpKind::kGatherElements: return runGatherElements(call);
    case OpKind::kGatherND: return runGatherND(call);
    case OpKind::kScatterND: return runScatterND(call);
    case OpKind::kScatterElements: return runScatterElements(call);
    case OpKind::kExpand: return runExpand(call);
    case OpKind::kTile: return runTile(call);
    case OpKind::kPad: return runPad(call);
    case OpKind::kResize: return runResize(call);
    case OpKind::kDepthToSpace: return runDepthSpace(call, true);
    case OpKind::kSpaceToDepth:
      return ops::hasSpaceToDepthExtensions(call.node.attrs) ? runPackedSpaceToDepth(call) : runDepthSpace(call, false);
    case OpKind::kTrilu: return runTrilu(call);
    case OpKind::kOneHot: return runOneHot(call);
    case OpKind::kReverseSequence: return runReverseSequence(call);
    case OpKind::kCompress: return runCompress(call);
    default: break;
  }
  return internalError(call.where() + "not a data-movement op");
}

}  // namespace kiln::backends::cpu
