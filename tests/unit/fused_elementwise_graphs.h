// Shared by fuse_elementwise_test.cpp (CPU) and gpu/fused_elementwise_gpu_test.cpp: small graphs of elementwise
// chains, a runner that executes an ir::Graph node by node on any backend, and an independent float64 evaluator of
// the same graphs (numpy broadcasting by index arithmetic, formulas from the ONNX specs). Header-only.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/half.h"
#include "ir/graph.h"
#include "runtime/shape_program.h"

namespace kiln::fusedtest {

using ir::OpKind;
using ir::ValueId;

/// Builds a graph node by node; values get their dtype here and their dims from annotate().
struct GraphBuilder {
  ir::Graph g;
  DataType dtype = DataType::kFloat32;
  int counter = 0;

  ValueId input(const std::string& name, Dims dims) {
    const ValueId v = g.addValue(name, dtype);
    g.values[v].rankKnown = true;
    g.values[v].dims = std::move(dims);
    g.inputs.push_back(v);
    return v;
  }
  /// A constant of the graph's float dtype with these values.
  ValueId constant(const std::vector<double>& values, Dims dims) {
    Tensor t = Tensor::allocate(dtype, dims).value();
    for (size_t i = 0; i < values.size(); ++i) {
      if (dtype == DataType::kFloat16)
        t.dataAs<uint16_t>()[i] = floatToHalfBits(static_cast<float>(values[i]));
      else
        t.dataAs<float>()[i] = static_cast<float>(values[i]);
    }
    return g.addConstant("c" + std::to_string(counter++), std::move(t));
  }
  ValueId scalar(double v) { return constant({v}, {}); }
  ValueId op(OpKind kind, std::vector<ValueId> inputs, ir::Attributes attrs = {}, std::string name = "") {
    ir::Node n;
    n.name = name.empty() ? std::string(ir::opKindName(kind)) + "_" + std::to_string(counter++) : name;
    n.op = kind;
    n.inputs = std::move(inputs);
    n.attrs = std::move(attrs);
    const ValueId out = g.addValue(n.name + "_out", dtype);
    n.outputs = {out};
    g.values[out].producer = static_cast<int32_t>(g.nodes.size());
    g.nodes.push_back(std::move(n));
    return out;
  }
  void output(ValueId v) { g.outputs.push_back(v); }
  /// Clip(v, lo, hi); kiln's Clip takes no float16, so float16 graphs get Min(Max(v, lo), hi) instead.
  ValueId clip(ValueId v, double lo, double hi) {
    if (dtype == DataType::kFloat16) return op(OpKind::kMin, {op(OpKind::kMax, {v, scalar(lo)}), scalar(hi)});
    return op(OpKind::kClip, {v, scalar(lo), scalar(hi)});
  }
};

inline ir::Attributes attrs(std::initializer_list<std::pair<std::string, ir::AttributeValue>> list) {
  ir::Attributes a;
  for (auto& [k, v] : list) a.set(k, v);
  return a;
}

inline std::map<ValueId, Dims> inputDims(const ir::Graph& g) {
  std::map<ValueId, Dims> dims;
  for (ValueId in : g.inputs) dims[in] = g.values[in].dims;
  return dims;
}

/// Sets every value's dtype and dims from shape inference, as the builder does before its passes.
inline Status annotate(ir::Graph& g) {
  KILN_RETURN_IF_ERROR(g.topologicalSort());
  auto shapes = runtime::resolveShapes(g, runtime::analyzeShapeProgram(g), inputDims(g));
  if (!shapes) return shapes.status();
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (shapes->dtypes[v] == DataType::kUndefined || g.isConstant(static_cast<ValueId>(v))) continue;
    g.values[v].rankKnown = true;
    g.values[v].dims = shapes->dims[v];
    g.values[v].dtype = shapes->dtypes[v];
  }
  return Status::ok();
}

inline double elementOf(const Tensor& t, int64_t i) {
  if (t.dtype() == DataType::kFloat16) return halfBitsToFloat(t.dataAs<uint16_t>()[i]);
  if (t.dtype() == DataType::kFloat32) return t.dataAs<float>()[i];
  if (t.dtype() == DataType::kInt64) return static_cast<double>(t.dataAs<int64_t>()[i]);
  return std::nan("");
}

/// Random non-zero values in [lo, hi] (|v| >= 0.05), in `dtype` (float16 values are rounded to half).
inline Tensor randomTensor(DataType dtype, const Dims& dims, uint32_t seed, double lo = -2, double hi = 2) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  Tensor t = Tensor::allocate(dtype, dims).value();
  for (int64_t i = 0; i < t.elementCount(); ++i) {
    double v;
    do v = dist(rng);
    while (std::fabs(v) < 0.05);
    if (dtype == DataType::kFloat16)
      t.dataAs<uint16_t>()[i] = floatToHalfBits(static_cast<float>(v));
    else
      t.dataAs<float>()[i] = static_cast<float>(v);
  }
  return t;
}

inline std::map<std::string, Tensor> randomInputs(const ir::Graph& g, uint32_t seed,
                                                  const std::map<std::string, std::pair<double, double>>& ranges = {}) {
  std::map<std::string, Tensor> m;
  for (ValueId in : g.inputs) {
    const std::string& name = g.values[in].name;
    auto r = ranges.count(name) ? ranges.at(name) : std::pair<double, double>{-2, 2};
    m[name] = randomTensor(g.values[in].dtype, g.values[in].dims, seed++, r.first, r.second);
  }
  return m;
}

/// Runs every node of `g` on `backend` (all data through device memory, each kernel with the workspace it asks
/// for); returns the graph outputs by name. `kernelsFrom`, when given, is the same graph annotated for other shapes:
/// kernels are made from it, so they meet shapes they were not prepared for. `tactics`, when given, receives each
/// kernel's tactic() after its run, in node order.
inline Expected<std::map<std::string, Tensor>> runGraph(backends::Backend& backend, const ir::Graph& g,
                                                        const std::map<std::string, Tensor>& inputs,
                                                        const ir::Graph* kernelsFrom = nullptr,
                                                        std::vector<std::string>* tactics = nullptr) {
  KILN_ASSIGN_OR_RETURN(auto shapes, runtime::resolveShapes(g, runtime::analyzeShapeProgram(g), inputDims(g)));
  std::vector<void*> buffers(g.values.size(), nullptr);
  std::vector<void*> owned;
  struct Release {
    backends::Backend& b;
    std::vector<void*>& owned;
    ~Release() {
      for (void* p : owned) b.release(p);
    }
  } release{backend, owned};
  auto device = [&](ValueId v) -> Expected<void*> {
    if (buffers[v]) return buffers[v];
    const size_t bytes = std::max<size_t>(1, elementCount(shapes.dims[v]) * dataTypeSize(shapes.dtypes[v]));
    KILN_ASSIGN_OR_RETURN(void* p, backend.allocate(bytes));
    owned.push_back(p);
    buffers[v] = p;
    return p;
  };
  for (auto& [id, t] : g.constants) {
    KILN_ASSIGN_OR_RETURN(void* p, device(id));
    KILN_RETURN_IF_ERROR(backend.copyToDevice(p, t.data(), t.byteSize(), nullptr));
  }
  for (ValueId in : g.inputs) {
    auto it = inputs.find(g.values[in].name);
    if (it == inputs.end()) return invalidArgument("no input '" + g.values[in].name + "'");
    KILN_ASSIGN_OR_RETURN(void* p, device(in));
    KILN_RETURN_IF_ERROR(backend.copyToDevice(p, it->second.data(), it->second.byteSize(), nullptr));
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const ir::Node& n = g.nodes[i];
    const ir::Graph& source = kernelsFrom ? *kernelsFrom : g;
    KILN_RETURN_IF_ERROR(backend.supports(source, source.nodes.at(i)));
    KILN_ASSIGN_OR_RETURN(auto kernel, backend.createKernel(source, source.nodes.at(i), ""));
    std::vector<backends::DeviceTensor> ins, outs;
    for (ValueId v : n.inputs) {
      if (v == ir::kNoValue) {  // an absent optional input
        ins.push_back({});
        continue;
      }
      KILN_ASSIGN_OR_RETURN(void* p, device(v));
      const Tensor* c = g.constantOf(v);
      ins.push_back({shapes.dtypes[v], shapes.dims[v], p, c ? c->data() : nullptr});
    }
    for (ValueId v : n.outputs) {
      KILN_ASSIGN_OR_RETURN(void* p, device(v));
      outs.push_back({shapes.dtypes[v], shapes.dims[v], p});
    }
    void* workspace = nullptr;
    if (const size_t bytes = kernel->workspaceBytes(ins, outs)) {
      KILN_ASSIGN_OR_RETURN(workspace, backend.allocate(bytes));
      owned.push_back(workspace);
    }
    KILN_RETURN_IF_ERROR(kernel->run(ins, outs, workspace, nullptr));
    if (tactics) tactics->push_back(kernel->tactic());
  }
  KILN_RETURN_IF_ERROR(backend.synchronize(nullptr));
  std::map<std::string, Tensor> result;
  for (ValueId out : g.outputs) {
    KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(shapes.dtypes[out], shapes.dims[out]));
    KILN_RETURN_IF_ERROR(backend.copyToHost(t.data(), buffers[out], t.byteSize(), nullptr));
    result[g.values[out].name] = std::move(t);
  }
  KILN_RETURN_IF_ERROR(backend.synchronize(nullptr));
  return result;
}

// ---- float64 reference: evaluates the original (unfused) ops straight from the ONNX definitions.

struct RefTensor {
  Dims dims;
  std::vector<double> v;
};

inline RefTensor broadcastApply(const std::vector<const RefTensor*>& ins,
                                const std::function<double(const std::vector<double>&)>& f) {
  size_t rank = 0;
  for (auto* t : ins) rank = std::max(rank, t->dims.size());
  Dims out(rank, 1);
  for (auto* t : ins)
    for (size_t j = 0; j < t->dims.size(); ++j) {
      const int64_t d = t->dims[j];
      int64_t& o = out[rank - t->dims.size() + j];
      if (d != 1) o = d;
    }
  RefTensor r{out, std::vector<double>(static_cast<size_t>(elementCount(out)))};
  std::vector<double> args(ins.size());
  std::vector<int64_t> index(rank);
  for (size_t flat = 0; flat < r.v.size(); ++flat) {
    int64_t rest = static_cast<int64_t>(flat);
    for (size_t d = rank; d-- > 0;) {
      index[d] = rest % out[d];
      rest /= out[d];
    }
    for (size_t k = 0; k < ins.size(); ++k) {
      const Dims& dk = ins[k]->dims;
      int64_t offset = 0;
      for (size_t j = 0; j < dk.size(); ++j) {
        const int64_t i = dk[j] == 1 ? 0 : index[rank - dk.size() + j];
        offset = offset * dk[j] + i;
      }
      args[k] = ins[k]->v[static_cast<size_t>(offset)];
    }
    r.v[flat] = f(args);
  }
  return r;
}

inline double sigmoid64(double x) { return 1.0 / (1.0 + std::exp(-x)); }

/// Evaluates `g` in float64; only the elementwise ops the fusion pass handles (and Shape/Cast for the host test).
inline std::map<std::string, RefTensor> evaluateReference(const ir::Graph& g,
                                                          const std::map<std::string, Tensor>& inputs) {
  std::map<ValueId, RefTensor> vals;
  auto fromTensor = [](const Tensor& t) {
    RefTensor r{t.dims(), std::vector<double>(static_cast<size_t>(t.elementCount()))};
    for (int64_t i = 0; i < t.elementCount(); ++i) r.v[static_cast<size_t>(i)] = elementOf(t, i);
    return r;
  };
  for (auto& [id, t] : g.constants) vals[id] = fromTensor(t);
  for (ValueId in : g.inputs) vals[in] = fromTensor(inputs.at(g.values[in].name));
  for (const ir::Node& n : g.nodes) {
    std::vector<const RefTensor*> ins;
    for (ValueId v : n.inputs) ins.push_back(v == ir::kNoValue ? nullptr : &vals.at(v));
    const auto& at = n.attrs;
    auto un = [&](auto f) { return broadcastApply({ins[0]}, [&](const std::vector<double>& a) { return f(a[0]); }); };
    auto bin = [&](auto f) {
      return broadcastApply({ins[0], ins[1]}, [&](const std::vector<double>& a) { return f(a[0], a[1]); });
    };
    RefTensor r;
    switch (n.op) {
      case OpKind::kAdd: r = bin([](double a, double b) { return a + b; }); break;
      case OpKind::kSub: r = bin([](double a, double b) { return a - b; }); break;
      case OpKind::kMul: r = bin([](double a, double b) { return a * b; }); break;
      case OpKind::kDiv: r = bin([](double a, double b) { return a / b; }); break;
      case OpKind::kPow: r = bin([](double a, double b) { return std::pow(a, b); }); break;
      case OpKind::kMax: r = bin([](double a, double b) { return std::max(a, b); }); break;
      case OpKind::kMin: r = bin([](double a, double b) { return std::min(a, b); }); break;
      case OpKind::kRelu: r = un([](double x) { return x > 0 ? x : 0.0; }); break;
      case OpKind::kSigmoid: r = un(sigmoid64); break;
      case OpKind::kTanh: r = un([](double x) { return std::tanh(x); }); break;
      case OpKind::kErf: r = un([](double x) { return std::erf(x); }); break;
      case OpKind::kExp: r = un([](double x) { return std::exp(x); }); break;
      case OpKind::kLog: r = un([](double x) { return std::log(x); }); break;
      case OpKind::kSqrt: r = un([](double x) { return std::sqrt(x); }); break;
      case OpKind::kReciprocal: r = un([](double x) { return 1.0 / x; }); break;
      case OpKind::kAbs: r = un([](double x) { return std::fabs(x); }); break;
      case OpKind::kNeg: r = un([](double x) { return -x; }); break;
      case OpKind::kSoftplus: r = un([](double x) { return std::log(1.0 + std::exp(x)); }); break;
      case OpKind::kHardSwish: r = un([](double x) { return x * std::clamp(x / 6.0 + 0.5, 0.0, 1.0); }); break;
      case OpKind::kHardSigmoid: {
        const double alpha = at.getFloat("alpha", 0.2f), beta = at.getFloat("beta", 0.5f);
        r = un([&](double x) { return std::clamp(alpha * x + beta, 0.0, 1.0); });
        break;
      }
      case OpKind::kLeakyRelu: {
        const double alpha = at.getFloat("alpha", 0.01f);
        r = un([&](double x) { return x < 0 ? alpha * x : x; });
        break;
      }
      case OpKind::kElu: {
        const double alpha = at.getFloat("alpha", 1.0f);
        r = un([&](double x) { return x < 0 ? alpha * (std::exp(x) - 1.0) : x; });
        break;
      }
      case OpKind::kGelu:
        if (at.getString("approximate", "none") == "tanh")
          r = un([](double x) {
            return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
          });
        else
          r = un([](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); });
        break;
      case OpKind::kClip: {
        const double lo = ins.size() > 1 && ins[1] ? ins[1]->v[0] : -INFINITY;
        const double hi = ins.size() > 2 && ins[2] ? ins[2]->v[0] : INFINITY;
        r = un([&](double x) { return std::min(std::max(x, lo), hi); });
        break;
      }
      case OpKind::kShape: {
        const Dims& d = ins[0]->dims;
        r.dims = {static_cast<int64_t>(d.size())};
        for (int64_t x : d) r.v.push_back(static_cast<double>(x));
        break;
      }
      case OpKind::kCast: r = *ins[0]; break;
      default: ADD_FAILURE() << "reference has no " << ir::opKindName(n.op); return {};
    }
    vals[n.outputs[0]] = std::move(r);
  }
  std::map<std::string, RefTensor> out;
  for (ValueId o : g.outputs) out[g.values[o].name] = vals.at(o);
  return out;
}

/// Per element |got - want| <= rtol * |want| + atol; reports the first few misses and returns their count.
inline int expectClose(const Tensor& got, const RefTensor& want, double rtol, double atol, const std::string& what) {
  EXPECT_EQ(got.dims(), want.dims) << what;
  if (got.dims() != want.dims) return 1;
  int bad = 0;
  for (int64_t i = 0; i < got.elementCount(); ++i) {
    const double g = elementOf(got, i), w = want.v[static_cast<size_t>(i)];
    if (!(std::fabs(g - w) <= rtol * std::fabs(w) + atol) && bad++ < 5)
      ADD_FAILURE() << what << ": element " << i << " got " << g << ", want " << w;
  }
  return bad;
}

inline RefTensor toRef(const Tensor& t) {
  RefTensor r{t.dims(), std::vector<double>(static_cast<size_t>(t.elementCount()))};
  for (int64_t i = 0; i < t.elementCount(); ++i) r.v[static_cast<size_t>(i)] = elementOf(t, i);
  return r;
}

// ---- the graphs

/// torch's GELU: x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5.
inline GraphBuilder geluDecomposition(DataType dtype, Dims dims) {
  GraphBuilder b{.dtype = dtype};
  const ValueId x = b.input("x", dims);
  ValueId v = b.op(OpKind::kDiv, {x, b.scalar(1.4142135381698608)}, {}, "gelu_div");
  v = b.op(OpKind::kErf, {v}, {}, "gelu_erf");
  v = b.op(OpKind::kAdd, {v, b.scalar(1.0)}, {}, "gelu_add");
  v = b.op(OpKind::kMul, {x, v}, {}, "gelu_mul");
  v = b.op(OpKind::kMul, {v, b.scalar(0.5)}, {}, "gelu_half");
  b.output(v);
  return b;
}

/// SiLU: x * sigmoid(x).
inline GraphBuilder silu(DataType dtype, Dims dims) {
  GraphBuilder b{.dtype = dtype};
  const ValueId x = b.input("x", dims);
  b.output(b.op(OpKind::kMul, {x, b.op(OpKind::kSigmoid, {x}, {}, "silu_sigmoid")}, {}, "silu_mul"));
  return b;
}

/// y = relu(x + bias[C]) with a constant bias broadcast along the last axis.
inline GraphBuilder biasRelu(DataType dtype, Dims dims) {
  GraphBuilder b{.dtype = dtype};
  const ValueId x = b.input("x", dims);
  const int64_t c = dims.back();
  std::vector<double> bias;
  for (int64_t i = 0; i < c; ++i) bias.push_back(0.37 * static_cast<double>(i % 7) - 1.1);
  b.output(b.op(OpKind::kRelu, {b.op(OpKind::kAdd, {x, b.constant(bias, {c})}, {}, "bias_add")}, {}, "bias_relu"));
  return b;
}

/// Three graph inputs broadcast against each other: tanh(a[5,1,7] * b[3,1]) + c[7], then * 0.25 and clipped.
inline GraphBuilder broadcastInputs(DataType dtype) {
  GraphBuilder b{.dtype = dtype};
  const ValueId a = b.input("a", {5, 1, 7});
  const ValueId bb = b.input("b", {3, 1});
  const ValueId c = b.input("c", {7});
  ValueId v = b.op(OpKind::kTanh, {b.op(OpKind::kMul, {a, bb})});
  v = b.op(OpKind::kAdd, {v, c});
  v = b.op(OpKind::kMul, {b.scalar(0.25), v});
  b.output(b.clip(v, -0.3, 0.35));
  return b;
}

/// Every opcode once, in a chain whose values stay finite on inputs in [-2, 2]: x, y, z inputs.
inline GraphBuilder activationZoo(DataType dtype, Dims dims) {
  GraphBuilder b{.dtype = dtype};
  const ValueId x = b.input("x", dims);
  const ValueId y = b.input("y", dims);
  const ValueId z = b.input("z", {dims.back()});
  ValueId v = b.op(OpKind::kLeakyRelu, {x}, attrs({{"alpha", 0.1f}}));
  v = b.op(OpKind::kElu, {v}, attrs({{"alpha", 0.7f}}));
  v = b.op(OpKind::kSoftplus, {v});  // > 0
  v = b.op(OpKind::kSqrt, {v});
  v = b.op(OpKind::kLog, {v});
  v = b.op(OpKind::kAbs, {v});
  v = b.op(OpKind::kHardSwish, {v});
  v = b.op(OpKind::kHardSigmoid, {v}, attrs({{"alpha", 0.6f}, {"beta", 0.4f}}));
  v = b.clip(v, 0.42, 0.66);
  v = b.op(OpKind::kReciprocal, {v});
  v = b.op(OpKind::kPow, {v, b.scalar(2.0)});
  v = b.op(OpKind::kMax, {v, y});
  v = b.op(OpKind::kMin, {v, b.scalar(4.0)});
  v = b.op(OpKind::kNeg, {v});
  v = b.op(OpKind::kExp, {v});
  v = b.op(OpKind::kTanh, {v});
  v = b.op(OpKind::kGelu, {v});
  v = b.op(OpKind::kGelu, {v}, attrs({{"approximate", std::string("tanh")}}));
  v = b.op(OpKind::kSub, {b.scalar(1.5), v});
  v = b.op(OpKind::kAdd, {b.op(OpKind::kMul, {v, b.scalar(0.9)}), b.scalar(0.1)});
  v = b.op(OpKind::kDiv, {v, z});
  v = b.op(OpKind::kPow, {b.op(OpKind::kRelu, {v}), b.scalar(1.5)});
  v = b.op(OpKind::kErf, {b.op(OpKind::kSigmoid, {v})});
  b.output(v);
  return b;
}

/// One op of each kind the pass fuses, followed by * 1.25 so that it forms a group of two: x (and y of shape
/// [last dim] for binary ops) in `range`.
struct SingleOpCase {
  std::string label;
  OpKind op;
  ir::Attributes attrs;
  std::pair<double, double> range{-2, 2};
  double exponent = 0;  // Pow: the constant exponent
};

inline std::vector<SingleOpCase> singleOpCases() {
  const std::pair<double, double> positive{0.1, 3}, wide{-4, 4};
  return {
      {"Add", OpKind::kAdd, {}},
      {"Sub", OpKind::kSub, {}},
      {"Mul", OpKind::kMul, {}},
      {"Div", OpKind::kDiv, {}, positive},
      {"Max", OpKind::kMax, {}},
      {"Min", OpKind::kMin, {}},
      {"Pow 1.7", OpKind::kPow, {}, positive, 1.7},
      {"Pow 2", OpKind::kPow, {}, wide, 2.0},
      {"Pow 0.5", OpKind::kPow, {}, positive, 0.5},
      {"Relu", OpKind::kRelu, {}},
      {"Sigmoid", OpKind::kSigmoid, {}, wide},
      {"Tanh", OpKind::kTanh, {}},
      {"Erf", OpKind::kErf, {}},
      {"Exp", OpKind::kExp, {}},
      {"Log", OpKind::kLog, {}, positive},
      {"Sqrt", OpKind::kSqrt, {}, positive},
      {"Reciprocal", OpKind::kReciprocal, {}},
      {"Abs", OpKind::kAbs, {}},
      {"Neg", OpKind::kNeg, {}},
      {"HardSwish", OpKind::kHardSwish, {}, wide},
      {"Gelu", OpKind::kGelu, {}, wide},
      {"Gelu tanh", OpKind::kGelu, attrs({{"approximate", std::string("tanh")}}), wide},
      {"Softplus", OpKind::kSoftplus, {}, wide},
      {"LeakyRelu", OpKind::kLeakyRelu, attrs({{"alpha", 0.2f}})},
      {"Elu", OpKind::kElu, attrs({{"alpha", 0.7f}})},
      {"HardSigmoid", OpKind::kHardSigmoid, attrs({{"alpha", 0.3f}, {"beta", 0.45f}}), wide},
      {"Clip", OpKind::kClip, {}},
  };
}

inline GraphBuilder singleOpChain(DataType dtype, Dims dims, const SingleOpCase& c) {
  GraphBuilder b{.dtype = dtype};
  const ValueId x = b.input("x", dims);
  ValueId v;
  if (c.op == OpKind::kPow) {
    v = b.op(c.op, {x, b.scalar(c.exponent)});
  } else if (c.op == OpKind::kClip) {
    v = b.clip(x, -0.5, 0.8);
  } else if (c.op == OpKind::kAdd || c.op == OpKind::kSub || c.op == OpKind::kMul || c.op == OpKind::kDiv ||
             c.op == OpKind::kMax || c.op == OpKind::kMin) {
    v = b.op(c.op, {x, b.input("y", {dims.back()})});
  } else {
    v = b.op(c.op, {x}, c.attrs);
  }
  b.output(b.op(OpKind::kMul, {v, b.scalar(1.25)}));
  return b;
}

/// `length` alternating Mul/Add by constants: longer than one program holds.
inline GraphBuilder longChain(DataType dtype, Dims dims, int length) {
  GraphBuilder b{.dtype = dtype};
  ValueId v = b.input("x", dims);
  for (int i = 0; i < length; ++i)
    v = i % 2 ? b.op(OpKind::kAdd, {v, b.scalar(0.01 * i - 0.2)}) : b.op(OpKind::kMul, {v, b.scalar(0.97)});
  b.output(v);
  return b;
}

/// x0 + x1 + ... + x{n-1}: more inputs than one program holds.
inline GraphBuilder manyInputs(DataType dtype, Dims dims, int n) {
  GraphBuilder b{.dtype = dtype};
  ValueId v = b.input("x0", dims);
  for (int i = 1; i < n; ++i) v = b.op(OpKind::kAdd, {v, b.input("x" + std::to_string(i), dims)});
  b.output(v);
  return b;
}

}  // namespace kiln::fusedtest
