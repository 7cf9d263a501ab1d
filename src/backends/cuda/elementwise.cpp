// Host side of the elementwise family: attribute parsing at load, broadcast strides per call, one launch.
#include <algorithm>

#include "backends/cuda/cuda_common.h"
#include "backends/cuda/elementwise.h"

namespace kiln::backends::cuda {
namespace {

using ir::OpKind;

enum class Shape { kFloatUnary, kNumericUnary, kBoolUnary, kFloatPredicate, kArithmetic, kCompare, kLogical,
                   kVariadic, kWhere, kCast, kIdentity, kBitwise, kNone };

Shape shapeOf(OpKind op) {
  switch (op) {
    case OpKind::kRelu: case OpKind::kAbs: case OpKind::kNeg: case OpKind::kSign: case OpKind::kClip:
      return Shape::kNumericUnary;
    case OpKind::kSigmoid: case OpKind::kTanh: case OpKind::kErf: case OpKind::kExp: case OpKind::kLog:
    case OpKind::kSqrt: case OpKind::kReciprocal: case OpKind::kHardSigmoid: case OpKind::kHardSwish:
    case OpKind::kLeakyRelu: case OpKind::kGelu: case OpKind::kElu: case OpKind::kSelu: case OpKind::kCelu:
    case OpKind::kSoftplus: case OpKind::kSoftsign: case OpKind::kMish: case OpKind::kThresholdedRelu:
    case OpKind::kCeil: case OpKind::kFloor: case OpKind::kRound: case OpKind::kSin: case OpKind::kCos:
    case OpKind::kTan: case OpKind::kAsin: case OpKind::kAcos: case OpKind::kAtan: case OpKind::kSinh:
    case OpKind::kCosh: case OpKind::kAsinh: case OpKind::kAcosh: case OpKind::kAtanh: case OpKind::kShrink:
    case OpKind::kSwish:
      return Shape::kFloatUnary;
    case OpKind::kBitShift: case OpKind::kBitwiseAnd: case OpKind::kBitwiseOr: case OpKind::kBitwiseXor:
    case OpKind::kBitwiseNot:
      return Shape::kBitwise;
    case OpKind::kNot: return Shape::kBoolUnary;
    case OpKind::kIsNaN: case OpKind::kIsInf: return Shape::kFloatPredicate;
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kPow:
    case OpKind::kMod: case OpKind::kPRelu:
      return Shape::kArithmetic;
    case OpKind::kMax: case OpKind::kMin: case OpKind::kSum: case OpKind::kMean: return Shape::kVariadic;
    case OpKind::kEqual: case OpKind::kGreater: case OpKind::kGreaterOrEqual: case OpKind::kLess:
    case OpKind::kLessOrEqual:
      return Shape::kCompare;
    case OpKind::kAnd: case OpKind::kOr: case OpKind::kXor: return Shape::kLogical;
    case OpKind::kWhere: return Shape::kWhere;
    case OpKind::kCast: case OpKind::kCastLike: return Shape::kCast;
    case OpKind::kIdentity: return Shape::kIdentity;
    default: return Shape::kNone;
  }
}

// bfloat16 and float16 compute in float32 (elementwise.cu).
constexpr std::initializer_list<DataType> kFloats = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                                     DataType::kFloat64};
constexpr std::initializer_list<DataType> kIntegers = {DataType::kInt64,  DataType::kInt32,  DataType::kInt16,
                                                       DataType::kInt8,   DataType::kUInt64, DataType::kUInt32,
                                                       DataType::kUInt16, DataType::kUInt8};
constexpr std::initializer_list<DataType> kNumbers = {
    DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt64,
    DataType::kInt32,   DataType::kInt16,   DataType::kInt8,     DataType::kUInt64,  DataType::kUInt32,
    DataType::kUInt16,  DataType::kUInt8};
constexpr std::initializer_list<DataType> kPowBases = {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16,
                                                       DataType::kFloat64, DataType::kInt64,   DataType::kInt32};
constexpr std::initializer_list<DataType> kPowExponents = {
    DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16, DataType::kFloat64, DataType::kInt64,
    DataType::kInt32,   DataType::kInt16,   DataType::kInt8,     DataType::kUInt64,  DataType::kUInt32,
    DataType::kUInt16,  DataType::kUInt8};

/// Fills dims/strides of `a` for inputs broadcast to `out`, merging dims that are contiguous for every operand.
Status fillBroadcast(ElementwiseArgs& a, std::span<const DeviceTensor> ins, const Dims& out, const std::string& where) {
  std::vector<Dims> inputDims;
  a.sameShape = true;
  for (const DeviceTensor& t : ins) {
    inputDims.push_back(t.dims);
    a.sameShape = a.sameShape && t.dims == out;
  }
  if (a.sameShape) {
    a.rank = 1;
    a.dims[0] = a.count;
    return Status::ok();
  }
  KILN_ASSIGN_OR_RETURN(BroadcastWalk walk, broadcastWalk(inputDims, out, where));
  const std::vector<int64_t>& mergedDims = walk.dims;
  if (mergedDims.size() > static_cast<size_t>(kMaxRank))
    return unsupported(where + "broadcast over " + dimsToString(out) + " needs more than 8 dims");
  a.rank = static_cast<int32_t>(mergedDims.size());
  for (size_t j = 0; j < mergedDims.size(); ++j) {
    a.dims[j] = mergedDims[j];
    for (size_t k = 0; k < ins.size(); ++k) a.strides[k][j] = walk.strides[k][j];
  }
  return Status::ok();
}

class ElementwiseKernel final : public Kernel {
 public:
  ElementwiseKernel(const ir::Graph& graph, const ir::Node& node) : where_(graph.describe(node) + ": "), op_(node.op) {
    const auto& at = node.attrs;
    switch (op_) {
      case OpKind::kLeakyRelu: alpha_ = at.getFloat("alpha", 0.01f); break;
      case OpKind::kHardSigmoid:
        alpha_ = at.getFloat("alpha", 0.2f);
        beta_ = at.getFloat("beta", 0.5f);
        break;
      case OpKind::kElu: case OpKind::kCelu: case OpKind::kThresholdedRelu: alpha_ = at.getFloat("alpha", 1.f); break;
      case OpKind::kSelu:
        alpha_ = at.getFloat("alpha", 1.67326319217681884765625f);
        gamma_ = at.getFloat("gamma", 1.05070102214813232421875f);
        break;
      case OpKind::kGelu: flag_ = at.getString("approximate", "none") == "tanh" ? 1 : 0; break;
      case OpKind::kMod: flag_ = static_cast<int32_t>(at.getInt("fmod", 0)); break;
      case OpKind::kIsInf:
        flag_ = (at.getInt("detect_negative", 1) ? 1 : 0) | (at.getInt("detect_positive", 1) ? 2 : 0);
        break;
      case OpKind::kShrink:
        alpha_ = at.getFloat("lambd", 0.5f);
        beta_ = at.getFloat("bias", 0.f);
        break;
      case OpKind::kSwish: alpha_ = at.getFloat("alpha", 1.f); break;
      case OpKind::kBitShift: flag_ = at.getString("direction", "") == "LEFT" ? 1 : 0; break;
      default: break;
    }
  }

  Status run(std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs, void*,
             void* stream) const override {
    const auto s = static_cast<cudaStream_t>(stream);
    const DeviceTensor& out = outputs[0];
    const Shape shape = shapeOf(op_);
    if (shape == Shape::kIdentity || (shape == Shape::kCast && inputs[0].dtype == out.dtype))
      return copy(inputs[0], out, s);
    if (shape == Shape::kCast) {
      KILN_CUDA_CHECK(launchCast(inputs[0].data, inputs[0].dtype, out.data, out.dtype, out.elementCount(), s), where_);
      return Status::ok();
    }
    ElementwiseArgs a = baseArgs(out);
    if (shape == Shape::kVariadic) {
      if (inputs.size() == 2 || inputs.size() == 3) {  // one pass, one rounding (float32 sums for 16-bit floats)
        a.alpha = 1.f / static_cast<float>(inputs.size());
        KILN_RETURN_IF_ERROR(prepare(a, inputs, out));
        KILN_CUDA_CHECK(launchElementwise(a, inputs[0].dtype, out.dtype, s), where_);
        return Status::ok();
      }
      if (inputs.size() == 1) {
        KILN_RETURN_IF_ERROR(broadcastCopy(inputs[0], out, s, where_));
      } else {
        // Fold pairwise into the output: out = op(in0, in1), then out = op(out, in_k).
        for (size_t k = 1; k < inputs.size(); ++k) {
          const DeviceTensor pair[2] = {k == 1 ? inputs[0] : out, inputs[k]};
          ElementwiseArgs step = a;
          if (op_ == OpKind::kMean) step.op = OpKind::kSum;
          KILN_RETURN_IF_ERROR(prepare(step, std::span<const DeviceTensor>(pair, 2), out));
          KILN_CUDA_CHECK(launchElementwise(step, inputs[k].dtype, out.dtype, s), where_);
        }
      }
      if (op_ == OpKind::kMean) {  // out *= 1/n, in place
        ElementwiseArgs scale = a;
        scale.alpha = 1.f / static_cast<float>(inputs.size());
        KILN_RETURN_IF_ERROR(prepare(scale, std::span<const DeviceTensor>(&out, 1), out));
        KILN_CUDA_CHECK(launchElementwise(scale, out.dtype, out.dtype, s), where_);
      }
      return Status::ok();
    }
    if (op_ == OpKind::kPow && inputs[1].dtype != inputs[0].dtype) {
      KILN_RETURN_IF_ERROR(prepare(a, inputs.first(2), out));
      KILN_CUDA_CHECK(launchPow(a, inputs[0].dtype, inputs[1].dtype, s), where_);
      return Status::ok();
    }
    size_t used = inputs.size();
    if (op_ == OpKind::kCastLike) used = 1;  // input 1 only names the target type
    if (op_ == OpKind::kClip) {
      a.clipMin = inputs.size() > 1 && inputs[1].present() ? inputs[1].data : nullptr;
      a.clipMax = inputs.size() > 2 && inputs[2].present() ? inputs[2].data : nullptr;
      used = 1;
    }
    KILN_RETURN_IF_ERROR(prepare(a, inputs.first(used), out));
    const DataType inType = op_ == OpKind::kWhere ? inputs[1].dtype : inputs[0].dtype;
    KILN_CUDA_CHECK(launchElementwise(a, inType, out.dtype, s), where_);
    return Status::ok();
  }

  std::string tactic() const override { return "cuda:elementwise"; }

 private:
  ElementwiseArgs baseArgs(const DeviceTensor& out) const {
    ElementwiseArgs a;
    a.op = op_;
    a.count = out.elementCount();
    a.output = out.data;
    a.alpha = alpha_;
    a.beta = beta_;
    a.gamma = gamma_;
    a.flag = flag_;
    return a;
  }

  Status prepare(ElementwiseArgs& a, std::span<const DeviceTensor> ins, const DeviceTensor& out) const {
    if (ins.size() > 3) return internalError(where_ + "more than 3 operands in one launch");
    a.inputCount = static_cast<int32_t>(ins.size());
    for (size_t k = 0; k < ins.size(); ++k) a.inputs[k] = ins[k].data;
    return fillBroadcast(a, ins, out.dims, where_);
  }

  Status copy(const DeviceTensor& in, const DeviceTensor& out, cudaStream_t s) const {
    const size_t bytes = static_cast<size_t>(out.elementCount()) * dataTypeSize(out.dtype);
    if (in.data != out.data && bytes)
      KILN_CUDA_CHECK(cudaMemcpyAsync(out.data, in.data, bytes, cudaMemcpyDeviceToDevice, s), where_);
    return Status::ok();
  }

  std::string where_;
  OpKind op_;
  float alpha_ = 0.f, beta_ = 0.f, gamma_ = 0.f;
  int32_t flag_ = 0;
};

Status sameTypes(const ir::Graph& graph, const ir::Node& node, size_t first) {
  const DataType t = inputType(graph, node, first);
  for (size_t k = first + 1; k < node.inputs.size(); ++k) {
    if (node.inputs[k] == ir::kNoValue) continue;
    if (inputType(graph, node, k) != t)
      return unsupported(graph.describe(node) + ": input " + std::to_string(k) + " has type " +
                         dataTypeName(inputType(graph, node, k)) + " but input " + std::to_string(first) + " has " +
                         dataTypeName(t) + "; the CUDA kernels need equal types");
  }
  return Status::ok();
}

}  // namespace

Status elementwiseSupports(const ir::Graph& graph, const ir::Node& node) {
  if (node.inputs.empty()) return unsupported(graph.describe(node) + ": no inputs");
  switch (shapeOf(node.op)) {
    case Shape::kFloatUnary: return requireInputType(graph, node, 0, kFloats);
    case Shape::kNumericUnary:
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kNumbers));
      return sameTypes(graph, node, 0);  // Clip bounds have the input's type
    case Shape::kBoolUnary: return requireInputType(graph, node, 0, {DataType::kBool});
    case Shape::kFloatPredicate:
      return requireInputType(graph, node, 0, {DataType::kFloat32, DataType::kFloat16, DataType::kBFloat16});
    case Shape::kArithmetic:
    case Shape::kVariadic:
      if (node.op != OpKind::kPRelu && shapeOf(node.op) == Shape::kArithmetic && node.inputs.size() != 2)
        return invalidModel(graph.describe(node) + ": expected 2 inputs, found " + std::to_string(node.inputs.size()));
      if (node.op == OpKind::kPow && inputType(graph, node, 1) != inputType(graph, node, 0)) {
        KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kPowBases));
        return requireInputType(graph, node, 1, kPowExponents);
      }
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, node.op == OpKind::kMean ? kFloats : kNumbers));
      return sameTypes(graph, node, 0);
    case Shape::kBitwise:
      if (node.inputs.size() != (node.op == OpKind::kBitwiseNot ? 1u : 2u))
        return invalidModel(graph.describe(node) + ": wrong number of inputs (" + std::to_string(node.inputs.size()) + ")");
      if (node.op == OpKind::kBitShift) {
        const std::string d = node.attrs.getString("direction", "");
        if (d != "LEFT" && d != "RIGHT")
          return invalidModel(graph.describe(node) + ": direction must be LEFT or RIGHT, found '" + d + "'");
      }
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kIntegers));
      return sameTypes(graph, node, 0);
    case Shape::kCompare:
      if (inputType(graph, node, 0) != DataType::kBool) KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, kNumbers));
      return sameTypes(graph, node, 0);
    case Shape::kLogical:
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kBool}));
      return sameTypes(graph, node, 0);
    case Shape::kWhere: {
      if (node.inputs.size() != 3) return invalidModel(graph.describe(node) + ": Where needs 3 inputs");
      KILN_RETURN_IF_ERROR(requireInputType(graph, node, 0, {DataType::kBool}));
      const size_t bytes = dataTypeSize(inputType(graph, node, 1));
      if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
        return unsupported(graph.describe(node) + ": Where on " + dataTypeName(inputType(graph, node, 1)));
      return sameTypes(graph, node, 1);
    }
    case Shape::kCast: {
      const DataType from = inputType(graph, node, 0);
      const auto to = node.op == OpKind::kCastLike ? inputType(graph, node, 1)
                                                   : static_cast<DataType>(node.attrs.getInt("to", 0));
      if (from == to) return Status::ok();
      if (!castSupported(from) || !castSupported(to))
        return unsupported(graph.describe(node) + ": Cast from " + dataTypeName(from) + " to " + dataTypeName(to));
      return Status::ok();
    }
    case Shape::kIdentity: return Status::ok();
    case Shape::kNone: break;
  }
  return unsupported(graph.describe(node) + ": no CUDA kernel for this operator yet");
}

KernelResult makeElementwiseKernel(const CudaContext&, const ir::Graph& graph, const ir::Node& node) {
  return std::unique_ptr<Kernel>(std::make_unique<ElementwiseKernel>(graph, node));
}

}  // namespace kiln::backends::cuda
