// Data-movement family: shape inference for the layout ops (Reshape ... SpaceToDepth) and the dispatch for all of
// them; the indexing ops (Slice, Gather*, Scatter*, Pad, Resize, Trilu) live in data_movement_indexing.cpp.
#include <algorithm>

#include "ops/broadcast.h"
#include "ops/data_movement_infer.h"
#include "ops/data_movement_params.h"
#include "ops/families.h"
#include "ops/space_to_depth_packed.h"

namespace kiln::ops {
namespace datamove {

using ir::OpKind;

bool hasInput(const InferenceCall& call, size_t index) {
  return index < call.inputs.size() && call.inputs[index].present();
}

Status requireInputs(const InferenceCall& call, size_t count) {
  for (size_t i = 0; i < count; ++i)
    if (!hasInput(call, i))
      return invalidModel(call.where() + "input " + std::to_string(i) + " is required but missing");
  return Status::ok();
}

Status requireIndexType(const InferenceCall& call, size_t index, const std::string& name) {
  const DataType t = call.inputs[index].dtype;
  if (t != DataType::kInt64 && t != DataType::kInt32)
    return invalidModel(call.where() + "input '" + name + "' must be int64 or int32, found " + dataTypeName(t));
  return Status::ok();
}

Expected<std::vector<int64_t>> knownIntegers(const InferenceCall& call, size_t index, const std::string& name) {
  const TensorInfo& in = call.inputs[index];
  if (!in.value) return unsupported(call.where() + "input '" + name + "' must be a constant or computed from shapes");
  return readIntegers(in.value->dtype(), in.value->data(), in.value->elementCount(),
                      call.where() + "input '" + name + "'");
}

Expected<std::vector<float>> knownFloats(const InferenceCall& call, size_t index, const std::string& name) {
  const TensorInfo& in = call.inputs[index];
  if (!in.value) return unsupported(call.where() + "input '" + name + "' must be a constant or computed from shapes");
  return readFloats(in.value->dtype(), in.value->data(), in.value->elementCount(),
                    call.where() + "input '" + name + "'");
}

namespace {

TensorInfo like(const TensorInfo& in, Dims dims) { return TensorInfo{in.dtype, std::move(dims), nullptr}; }

InferResult inferReshape(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, knownIntegers(call, 1, "shape"));
  const bool allowZero = call.node.attrs.getInt("allowzero", 0) != 0;
  Dims out(shape.size());
  int inferred = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == 0 && !allowZero) {
      if (i >= in.size())
        return invalidModel(call.where() + "'shape'[" + std::to_string(i) + "] = 0 copies a dim the input (shape " +
                            dimsToString(in) + ") does not have");
      d = in[i];
    }
    if (d == -1) {
      if (inferred >= 0) return invalidModel(call.where() + "'shape' has more than one -1");
      inferred = static_cast<int>(i);
      out[i] = 1;
      continue;
    }
    if (d < -1) return invalidModel(call.where() + "'shape'[" + std::to_string(i) + "] = " + std::to_string(d));
    out[i] = d;
    known = elementCount(std::span<const int64_t>(out.data(), i + 1));
    if (known < 0) return invalidModel(call.where() + "'shape' " + dimsToString(shape) + " overflows");
  }
  const int64_t total = elementCount(in);
  known = elementCount(out);
  if (inferred >= 0) {
    if (known == 0 || total % known != 0)
      return invalidModel(call.where() + "cannot reshape " + dimsToString(in) + " (" + std::to_string(total) +
                          " elements) to " + dimsToString(shape));
    out[inferred] = total / known;
  } else if (known != total) {
    return invalidModel(call.where() + "cannot reshape " + dimsToString(in) + " (" + std::to_string(total) +
                        " elements) to " + dimsToString(out) + " (" + std::to_string(known) + " elements)");
  }
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

InferResult inferFlatten(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  int64_t axis = call.node.attrs.getInt("axis", 1);
  if (axis < -rank || axis > rank)
    return invalidModel(call.where() + "attribute 'axis' = " + std::to_string(axis) + " is outside [" +
                        std::to_string(-rank) + ", " + std::to_string(rank) + "]");
  if (axis < 0) axis += rank;
  const int64_t outer = elementCount(std::span<const int64_t>(in.data(), axis));
  const int64_t inner = elementCount(std::span<const int64_t>(in.data() + axis, rank - axis));
  return std::vector<TensorInfo>{like(call.inputs[0], {outer, inner})};
}

InferResult inferSqueeze(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> drop(rank, false);
  if (hasInput(call, 1)) {
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> raw, knownIntegers(call, 1, "axes"));
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(raw, rank, call.where() + "'axes'"));
    for (int64_t a : axes) {
      if (in[a] != 1)
        return invalidModel(call.where() + "cannot squeeze dim " + std::to_string(a) + " of size " +
                            std::to_string(in[a]) + " (input shape " + dimsToString(in) + ")");
      drop[a] = true;
    }
  } else {
    for (int64_t a = 0; a < rank; ++a) drop[a] = in[a] == 1;
  }
  Dims out;
  for (int64_t a = 0; a < rank; ++a)
    if (!drop[a]) out.push_back(in[a]);
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

InferResult inferUnsqueeze(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> raw, knownIntegers(call, 1, "axes"));
  const int64_t outRank = static_cast<int64_t>(in.size() + raw.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, normalizeAxes(raw, outRank, call.where() + "'axes'"));
  std::vector<bool> inserted(outRank, false);
  for (int64_t a : axes) inserted[a] = true;
  Dims out;
  size_t next = 0;
  for (int64_t a = 0; a < outRank; ++a) out.push_back(inserted[a] ? 1 : in[next++]);
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

InferResult inferTranspose(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> perm = call.node.attrs.getInts("perm");
  if (!call.node.attrs.has("perm"))
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != rank)
    return invalidModel(call.where() + "attribute 'perm' has " + std::to_string(perm.size()) +
                        " entries for an input of rank " + std::to_string(rank));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalizeAxes(perm, rank, call.where() + "attribute 'perm'"));
  Dims out;
  for (int64_t p : norm) out.push_back(in[p]);
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

InferResult inferConcat(const InferenceCall& call) {
  if (call.inputs.empty()) return invalidModel(call.where() + "needs at least one input");
  KILN_RETURN_IF_ERROR(requireInputs(call, call.inputs.size()));
  const TensorInfo& first = call.inputs[0];
  const int64_t rank = static_cast<int64_t>(first.dims.size());
  if (!call.node.attrs.has("axis")) return invalidModel(call.where() + "attribute 'axis' is required");
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(call.node.attrs.getInt("axis", 0), rank, call.where() + "attribute 'axis'"));
  Dims out = first.dims;
  out[axis] = 0;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const TensorInfo& in = call.inputs[i];
    if (in.dtype != first.dtype)
      return invalidModel(call.where() + "input " + std::to_string(i) + " is " + dataTypeName(in.dtype) +
                          " but input 0 is " + dataTypeName(first.dtype));
    if (static_cast<int64_t>(in.dims.size()) != rank)
      return invalidModel(call.where() + "input " + std::to_string(i) + " has shape " + dimsToString(in.dims) +
                          ", rank differs from input 0 (" + dimsToString(first.dims) + ")");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && in.dims[d] != first.dims[d])
        return invalidModel(call.where() + "input " + std::to_string(i) + " has shape " + dimsToString(in.dims) +
                            ", dim " + std::to_string(d) + " differs from input 0 (" + dimsToString(first.dims) +
                            ")");
    out[axis] += in.dims[axis];
  }
  return std::vector<TensorInfo>{like(first, out)};
}

InferResult inferSplit(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  const Dims& in = call.inputs[0].dims;
  const int64_t rank = static_cast<int64_t>(in.size());
  KILN_ASSIGN_OR_RETURN(int64_t axis,
                        normalizeAxis(call.node.attrs.getInt("axis", 0), rank, call.where() + "attribute 'axis'"));
  const int64_t outputs = static_cast<int64_t>(call.node.outputs.size());
  const int64_t dim = in[axis];
  std::vector<int64_t> sizes;
  if (hasInput(call, 1)) {
    KILN_ASSIGN_OR_RETURN(sizes, knownIntegers(call, 1, "split"));
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return invalidModel(call.where() + "'split' has a negative size " + std::to_string(s));
      sum += s;
    }
    if (sum != dim)
      return invalidModel(call.where() + "'split' sizes add up to " + std::to_string(sum) + " but axis " +
                          std::to_string(axis) + " has size " + std::to_string(dim));
  } else if (call.node.attrs.has("num_outputs")) {
    const int64_t n = call.node.attrs.getInt("num_outputs", 0);
    if (n < 1) return invalidModel(call.where() + "attribute 'num_outputs' must be positive");
    const int64_t chunk = (dim + n - 1) / n;  // all equal but a smaller last one
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * chunk, 0, chunk));
  } else {
    if (outputs < 1 || dim % outputs != 0)
      return invalidModel(call.where() + "axis " + std::to_string(axis) + " of size " + std::to_string(dim) +
                          " does not split evenly into " + std::to_string(outputs) + " outputs");
    sizes.assign(outputs, dim / outputs);
  }
  if (static_cast<int64_t>(sizes.size()) != outputs)
    return invalidModel(call.where() + "splits into " + std::to_string(sizes.size()) + " parts but the node has " +
                        std::to_string(outputs) + " outputs");
  std::vector<TensorInfo> result;
  for (int64_t s : sizes) {
    Dims d = in;
    d[axis] = s;
    result.push_back(like(call.inputs[0], d));
  }
  return result;
}

InferResult inferExpand(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, knownIntegers(call, 1, "shape"));
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] < 0)
      return invalidModel(call.where() + "'shape'[" + std::to_string(i) + "] = " + std::to_string(shape[i]));
  KILN_ASSIGN_OR_RETURN(Dims out, broadcastShapes(call.inputs[0].dims, Dims(shape.begin(), shape.end()),
                                                  call.where() + "input and 'shape': "));
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

InferResult inferTile(const InferenceCall& call) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 2));
  const Dims& in = call.inputs[0].dims;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, knownIntegers(call, 1, "repeats"));
  if (repeats.size() != in.size())
    return invalidModel(call.where() + "'repeats' has " + std::to_string(repeats.size()) +
                        " values for an input of rank " + std::to_string(in.size()));
  Dims out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (repeats[i] < 0)
      return invalidModel(call.where() + "'repeats'[" + std::to_string(i) + "] = " + std::to_string(repeats[i]));
    out[i] = in[i] * repeats[i];
  }
  if (elementCount(out) < 0) return invalidModel(call.where() + "output shape overflows");
  return std::vector<TensorInfo>{like(call.inputs[0], out)};
}

InferResult inferDepthSpace(const InferenceCall& call, bool toSpace) {
  KILN_RETURN_IF_ERROR(requireInputs(call, 1));
  const Dims& in = call.inputs[0].dims;
  if (in.size() != 4)
    return invalidModel(call.where() + "input must be 4-D NCHW, found shape " + dimsToString(in));
  const int64_t bs = call.node.attrs.getInt("blocksize", 0);
  if (bs < 1) return invalidModel(call.where() + "attribute 'blocksize' must be >= 1, found " + std::to_string(bs));
  if (toSpace) {
    const std::string mode = call.node.attrs.getString("mode", "DCR");
    if (mode != "DCR" && mode != "CRD")
      return invalidModel(call.where() + "attribute 'mode' must be DCR or CRD, found '" + mode + "'");
    if (in[1] % (bs * bs) != 0)
      return invalidModel(call.where() + "channels " + std::to_string(in[1]) + " are not divisible by blocksize^2 = " +
                          std::to_string(bs * bs));
    return std::vector<TensorInfo>{like(call.inputs[0], {in[0], in[1] / (bs * bs), in[2] * bs, in[3] * bs})};
  }
  if (in[2] % bs != 0 || in[3] % bs != 0)
    return invalidModel(call.where() + "height and width of " + dimsToString(in) +
                        " must be divisible by blocksize " + std::to_string(bs));
  return std::vector<TensorInfo>{like(call.inputs[0], {in[0], in[1] * bs * bs, in[2] / bs, in[3] / bs})};
}

}  // namespace
}  // namespace datamove

InferResult inferDataMovement(const InferenceCall& call) {
  using namespace datamove;
  if (!call.inputs.empty() && call.inputs[0].present() && dataTypeSize(call.inputs[0].dtype) == 0)
    return unsupported(call.where() + "data of type " + dataTypeName(call.inputs[0].dtype) + " is not supported");
  switch (call.node.op) {
    case OpKind::kReshape: return inferReshape(call);
    case OpKind::kFlatten: return inferFlatten(call);
    case OpKind::kSqueeze: return inferSqueeze(call);
    case OpKind::kUnsqueeze: return inferUnsqueeze(call);
    case OpKind::kTranspose: return inferTranspose(call);
    case OpKind::kConcat: return inferConcat(call);
    case OpKind::kSplit: return inferSplit(call);
    case OpKind::kSlice: return inferSlice(call);
    case OpKind::kGather: return inferGather(call);
    case OpKind::kGatherElements: return inferGatherElements(call);
    case OpKind::kGatherND: return inferGatherND(call);
    case OpKind::kScatterND: return inferScatterND(call);
    case OpKind::kScatterElements: return inferScatterElements(call);
    case OpKind::kExpand: return inferExpand(call);
    case OpKind::kTile: return inferTile(call);
    case OpKind::kPad: return inferPad(call);
    case OpKind::kResize: return inferResize(call);
    case OpKind::kDepthToSpace: return inferDepthSpace(call, true);
    case OpKind::kSpaceToDepth: {
      if (!hasSpaceToDepthExtensions(call.node.attrs)) return inferDepthSpace(call, false);
      KILN_RETURN_IF_ERROR(requireInputs(call, 1));
      KILN_ASSIGN_OR_RETURN(auto p, resolvePackedSpaceToDepth(call.where(), call.node.attrs, call.inputs[0].dims));
      return std::vector<TensorInfo>{TensorInfo{call.inputs[0].dtype, p.outputDims(), nullptr}};
    }
    case OpKind::kTrilu: return inferTrilu(call);
    case OpKind::kOneHot: return inferOneHot(call);
    case OpKind::kReverseSequence: return inferReverseSequence(call);
    case OpKind::kCompress: return inferCompress(call);
    default: break;
  }
  return internalError(call.where() + "not a data-movement op");
}

bool dataMovementImplements(ir::OpKind kind) { return familyOf(kind) == OpFamily::kDataMovement; }

}  // namespace kiln::ops
