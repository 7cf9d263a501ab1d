// Conv, ConvTranspose, Gemm, MatMul and the pools: attribute validation and output dtype/shape inference.
#include <string>

#include "ops/families.h"
#include "ops/window_geometry.h"

namespace kiln::ops {
namespace {

using ir::OpKind;

std::string inputName(const InferenceCall& call, size_t i) {
  if (i < call.node.inputs.size()) return "input " + std::to_string(i) + " '" + call.graph.valueName(call.node.inputs[i]) + "'";
  return "input " + std::to_string(i);
}

// Checks the node has inputs [min, max] (an omitted optional one counts as absent) of dtype float32.
Status checkFloatInputs(const InferenceCall& call, size_t required, size_t maximum) {
  if (call.inputs.size() < required || call.inputs.size() > maximum) {
    return invalidModel(call.where() + "has " + std::to_string(call.inputs.size()) + " inputs, expected " +
                        std::to_string(required) + (required == maximum ? "" : " to " + std::to_string(maximum)));
  }
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const TensorInfo& in = call.inputs[i];
    if (!in.present()) {
      if (i < required) return invalidModel(call.where() + inputName(call, i) + " is required");
      continue;
    }
    // Float tensors only; FP16 engines carry float16 throughout (backends decide what they run).
    if (in.dtype != DataType::kFloat32 && in.dtype != DataType::kFloat16 && in.dtype != DataType::kBFloat16) {
      return unsupported(call.where() + inputName(call, i) + " has dtype " + dataTypeName(in.dtype) +
                         ", only float32, float16 and bfloat16 are supported");
    }
    if (in.dtype != call.inputs[0].dtype) {
      return invalidModel(call.where() + inputName(call, i) + " has dtype " + dataTypeName(in.dtype) + ", input 0 has " +
                          dataTypeName(call.inputs[0].dtype) + ": they must match");
    }
  }
  if (call.node.outputs.size() != 1) {
    return unsupported(call.where() + "has " + std::to_string(call.node.outputs.size()) +
                       " outputs; kiln produces only the first (Y)");
  }
  return Status::ok();
}

bool hasInput(const InferenceCall& call, size_t i) { return i < call.inputs.size() && call.inputs[i].present(); }

Status checkRank(const InferenceCall& call, size_t i, size_t minRank, size_t maxRank) {
  const size_t r = call.inputs[i].dims.size();
  if (r < minRank || r > maxRank) {
    return (r < minRank ? invalidModel : unsupported)(
        call.where() + inputName(call, i) + " has rank " + std::to_string(r) + " (" + dimsToString(call.inputs[i].dims) +
        "), expected rank " + std::to_string(minRank) + (minRank == maxRank ? "" : " to " + std::to_string(maxRank)));
  }
  return Status::ok();
}

Expected<int64_t> readGroup(const InferenceCall& call) {
  const int64_t group = call.node.attrs.getInt("group", 1);
  if (group < 1) return invalidModel(call.where() + "attribute 'group' is " + std::to_string(group) + ", expected >= 1");
  return group;
}

Status checkBias(const InferenceCall& call, size_t i, int64_t channels) {
  if (!hasInput(call, i)) return Status::ok();
  const Dims& b = call.inputs[i].dims;
  if (b.size() != 1 || b[0] != channels) {
    return invalidModel(call.where() + inputName(call, i) + " (bias) has shape " + dimsToString(b) + ", expected " +
                        std::to_string(channels));
  }
  return Status::ok();
}

/// X and W of a Conv or ConvTranspose: float inputs (a 4th, the residual, only with a fused activation), X of rank
/// 3 to 5, W of X's rank.
Status checkConvOperands(const InferenceCall& call) {
  // A 4th input (a residual added before the activation) exists only after kiln's fuse_conv_epilogue pass.
  const bool fused = call.node.attrs.has("activation");
  KILN_RETURN_IF_ERROR(checkFloatInputs(call, 2, fused ? 4 : 3));
  KILN_RETURN_IF_ERROR(checkRank(call, 0, 3, 5));
  const Dims& x = call.inputs[0].dims;
  const Dims& w = call.inputs[1].dims;
  if (w.size() != x.size()) {
    return invalidModel(call.where() + inputName(call, 1) + " (weights) has shape " + dimsToString(w) +
                        ", expected rank " + std::to_string(x.size()) + " like X " + dimsToString(x));
  }
  return Status::ok();
}

InferResult inferConv(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkConvOperands(call));
  const Dims& x = call.inputs[0].dims;
  const Dims& w = call.inputs[1].dims;
  KILN_ASSIGN_OR_RETURN(const int64_t group, readGroup(call));
  if (x[1] % group != 0 || w[1] * group != x[1]) {
    return invalidModel(call.where() + "X has " + std::to_string(x[1]) + " channels; with group " +
                        std::to_string(group) + " the weights' dim 1 must be " +
                        (x[1] % group ? "a divisor (channels not divisible by group)" : std::to_string(x[1] / group)) +
                        ", found " + std::to_string(w[1]));
  }
  if (w[0] < 1 || w[0] % group != 0) {
    return invalidModel(call.where() + "weights' dim 0 (output channels) is " + std::to_string(w[0]) +
                        ", expected a positive multiple of group " + std::to_string(group));
  }
  KILN_RETURN_IF_ERROR(checkBias(call, 2, w[0]));
  const std::span<const int64_t> spatial(x.begin() + 2, x.end());
  const std::span<const int64_t> kernel(w.begin() + 2, w.end());
  KILN_ASSIGN_OR_RETURN(auto g, resolveWindow(call.where(), call.node.attrs, WindowOp::kConv, spatial, kernel));
  Dims out{x[0], w[0]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  if (call.inputs.size() > 3 && call.inputs[3].present() && call.inputs[3].dims != out)
    return invalidModel(call.where() + "the fused residual " + inputName(call, 3) + " has shape " +
                        dimsToString(call.inputs[3].dims) + ", expected the output's " + dimsToString(out));
  return std::vector<TensorInfo>{{call.inputs[0].dtype, out}};
}

InferResult inferConvTranspose(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkConvOperands(call));
  const Dims& x = call.inputs[0].dims;
  const Dims& w = call.inputs[1].dims;
  KILN_ASSIGN_OR_RETURN(const int64_t group, readGroup(call));
  if (w[0] != x[1] || x[1] % group != 0) {
    return invalidModel(call.where() + "weights' dim 0 is " + std::to_string(w[0]) + ", expected X's channel count " +
                        std::to_string(x[1]) + " (divisible by group " + std::to_string(group) + ")");
  }
  if (w[1] < 1) return invalidModel(call.where() + "weights' dim 1 (output channels per group) must be >= 1");
  const int64_t outChannels = w[1] * group;
  KILN_RETURN_IF_ERROR(checkBias(call, 2, outChannels));
  const std::span<const int64_t> spatial(x.begin() + 2, x.end());
  const std::span<const int64_t> kernel(w.begin() + 2, w.end());
  KILN_ASSIGN_OR_RETURN(auto g, resolveTransposedWindow(call.where(), call.node.attrs, spatial, kernel));
  Dims out{x[0], outChannels};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return std::vector<TensorInfo>{{call.inputs[0].dtype, out}};
}

InferResult inferPool(const InferenceCall& call) {
  if (call.node.op == OpKind::kMaxPool && call.node.outputs.size() > 1) {
    return unsupported(call.where() + "the second output (Indices) of MaxPool is not supported");
  }
  KILN_RETURN_IF_ERROR(checkFloatInputs(call, 1, 1));
  KILN_RETURN_IF_ERROR(checkRank(call, 0, 3, 5));
  const Dims& x = call.inputs[0].dims;
  if (call.node.op == OpKind::kMaxPool && call.node.attrs.getInt("storage_order", 0) != 0) {
    return unsupported(call.where() + "attribute 'storage_order' = 1 is not supported (it only affects Indices)");
  }
  if (call.node.op == OpKind::kAveragePool) {
    const int64_t cip = call.node.attrs.getInt("count_include_pad", 0);
    if (cip != 0 && cip != 1) {
      return invalidModel(call.where() + "attribute 'count_include_pad' is " + std::to_string(cip) + ", expected 0 or 1");
    }
  }
  const std::span<const int64_t> spatial(x.begin() + 2, x.end());
  KILN_ASSIGN_OR_RETURN(auto g, resolveWindow(call.where(), call.node.attrs, WindowOp::kPool, spatial, {}));
  Dims out{x[0], x[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return std::vector<TensorInfo>{{call.inputs[0].dtype, out}};
}

InferResult inferGlobalPool(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkFloatInputs(call, 1, 1));
  KILN_RETURN_IF_ERROR(checkRank(call, 0, 3, 8));
  Dims out = call.inputs[0].dims;
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  return std::vector<TensorInfo>{{call.inputs[0].dtype, out}};
}

InferResult inferGemm(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(checkFloatInputs(call, 2, 3));
  KILN_RETURN_IF_ERROR(checkRank(call, 0, 2, 2));
  KILN_RETURN_IF_ERROR(checkRank(call, 1, 2, 2));
  const Dims& a = call.inputs[0].dims;
  const Dims& b = call.inputs[1].dims;
  const int64_t transA = call.node.attrs.getInt("transA", 0), transB = call.node.attrs.getInt("transB", 0);
  const int64_t m = transA ? a[1] : a[0], k = transA ? a[0] : a[1];
  const int64_t kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1];
  if (k != kb) {
    return invalidModel(call.where() + "inner dims differ: A " + dimsToString(a) + (transA ? " (transposed)" : "") +
                        " gives K=" + std::to_string(k) + ", B " + dimsToString(b) + (transB ? " (transposed)" : "") +
                        " gives K=" + std::to_string(kb));
  }
  if (hasInput(call, 2)) {
    const Dims& c = call.inputs[2].dims;
    const Dims target{m, n};
    bool ok = c.size() <= 2;
    for (size_t i = 0; ok && i < c.size(); ++i) {
      const int64_t want = target[2 - c.size() + i];
      ok = c[i] == 1 || c[i] == want;
    }
    if (!ok) {
      return invalidModel(call.where() + inputName(call, 2) + " (C) has shape " + dimsToString(c) +
                          ", which does not broadcast to the output " + dimsToString(target));
    }
  }
  return std::vector<TensorInfo>{{call.inputs[0].dtype, Dims{m, n}}};
}

InferResult inferMatMul(const InferenceCall& call) {
  // Input 2 is kiln's fused bias (passes/fuse_gemm_epilogue.cpp); the importer refuses it in ONNX files.
  KILN_RETURN_IF_ERROR(checkFloatInputs(call, 2, 3));
  KILN_RETURN_IF_ERROR(checkRank(call, 0, 1, 64));
  KILN_RETURN_IF_ERROR(checkRank(call, 1, 1, 64));
  Dims a = call.inputs[0].dims, b = call.inputs[1].dims;
  const bool aVector = a.size() == 1, bVector = b.size() == 1;
  if (aVector) a.insert(a.begin(), 1);
  if (bVector) b.push_back(1);
  if (a.back() != b[b.size() - 2]) {
    return invalidModel(call.where() + "inner dims differ: A " + dimsToString(call.inputs[0].dims) + " has K=" +
                        std::to_string(a.back()) + ", B " + dimsToString(call.inputs[1].dims) + " has K=" +
                        std::to_string(b[b.size() - 2]));
  }
  const size_t batchRank = std::max(a.size(), b.size()) - 2;
  Dims out(batchRank);
  for (size_t i = 0; i < batchRank; ++i) {
    const ptrdiff_t ia = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(batchRank - (a.size() - 2));
    const ptrdiff_t ib = static_cast<ptrdiff_t>(i) - static_cast<ptrdiff_t>(batchRank - (b.size() - 2));
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      return invalidModel(call.where() + "batch dims do not broadcast: A " + dimsToString(call.inputs[0].dims) +
                          " and B " + dimsToString(call.inputs[1].dims) + " differ at output batch dim " +
                          std::to_string(i) + " (" + std::to_string(da) + " vs " + std::to_string(db) + ")");
    }
    out[i] = da == 1 ? db : da;
  }
  if (!aVector) out.push_back(a[a.size() - 2]);
  if (!bVector) out.push_back(b.back());
  if (hasInput(call, 2)) {  // bias added to every row: [N], or [1,N] when the output has a row dim
    const Dims& c = call.inputs[2].dims;
    const int64_t n = b.back();
    const bool ok = !bVector && ((c.size() == 1 && c[0] == n) || (c.size() == 2 && c[0] == 1 && c[1] == n && !aVector));
    if (!ok) {
      return invalidModel(call.where() + inputName(call, 2) + " (bias) has shape " + dimsToString(c) + "; expected [" +
                          std::to_string(n) + "] or [1," + std::to_string(n) + "] for the output " + dimsToString(out) +
                          (bVector ? " (B is a vector, so there is no N to add a bias along)" : ""));
    }
  }
  return std::vector<TensorInfo>{{call.inputs[0].dtype, out}};
}

}  // namespace

namespace {

Dims nhwcToNchw(const Dims& d) { return d.size() == 4 ? Dims{d[0], d[3], d[1], d[2]} : d; }
Dims nchwToNhwc(const Dims& d) { return d.size() == 4 ? Dims{d[0], d[2], d[3], d[1]} : d; }

InferResult inferNchw(const InferenceCall& call);

// data_format="NHWC" (set by kiln's layout pass for CUDA FP16 builds): X, the residual and Y are [N,H,W,C] and
// Conv weights are [K,R,S,C]. The rules are the NCHW ones over permuted dims.
InferResult inferNhwc(const InferenceCall& call) {
  if (call.inputs.empty() || call.inputs[0].dims.size() != 4)
    return invalidModel(call.where() + "data_format NHWC needs a rank-4 input 0");
  std::vector<TensorInfo> inputs(call.inputs.begin(), call.inputs.end());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].present()) continue;
    const bool spatial = i == 0 || i == 3 || (i == 1 && call.node.op == OpKind::kConv);
    if (spatial) {
      inputs[i].dims = nhwcToNchw(inputs[i].dims);
      inputs[i].value = nullptr;
    }
  }
  KILN_ASSIGN_OR_RETURN(auto outputs, inferNchw(InferenceCall{call.graph, call.node, inputs}));
  for (auto& o : outputs) o.dims = nchwToNhwc(o.dims);
  return outputs;
}

}  // namespace

InferResult inferLinalg(const InferenceCall& call) {
  const std::string format = call.node.attrs.getString("data_format", "NCHW");
  if (format == "NHWC") {
    switch (call.node.op) {
      case OpKind::kConv: case OpKind::kMaxPool: case OpKind::kAveragePool: case OpKind::kGlobalAveragePool:
      case OpKind::kGlobalMaxPool:
        return inferNhwc(call);
      default:
        return invalidModel(call.where() + "data_format NHWC is not defined for this operator");
    }
  }
  if (format != "NCHW") return invalidModel(call.where() + "unknown data_format '" + format + "'");
  return inferNchw(call);
}

namespace {

InferResult inferNchw(const InferenceCall& call) {
  switch (call.node.op) {
    case OpKind::kConv: return inferConv(call);
    case OpKind::kConvTranspose: return inferConvTranspose(call);
    case OpKind::kGemm: return inferGemm(call);
    case OpKind::kMatMul: return inferMatMul(call);
    case OpKind::kMaxPool:
    case OpKind::kAveragePool: return inferPool(call);
    case OpKind::kGlobalAveragePool:
    case OpKind::kGlobalMaxPool: return inferGlobalPool(call);
    default: break;
  }
  return internalError(call.where() + "not a linalg op");
}

}  // namespace

bool linalgImplements(ir::OpKind kind) {
  switch (kind) {
    case OpKind::kConv: case OpKind::kConvTranspose: case OpKind::kGemm: case OpKind::kMatMul:
    case OpKind::kMaxPool: case OpKind::kAveragePool: case OpKind::kGlobalAveragePool: case OpKind::kGlobalMaxPool:
      return true;
    default: return false;
  }
}

}  // namespace kiln::ops
