#include "runtime/shape_program.h"

#include "backends/cpu/cpu_kernels.h"
#include "runtime/control_flow_shapes.h"
#include "ops/shape_inference.h"

#include <cstring>

namespace kiln::runtime {

ShapeProgram analyzeShapeProgram(const ir::Graph& graph) {
  ShapeProgram p;
  p.hostNode.assign(graph.nodes.size(), false);
  p.hostValue.assign(graph.values.size(), false);
  for (auto& [id, t] : graph.constants) p.hostValue[id] = true;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    bool host = n.op == ir::OpKind::kShape || n.op == ir::OpKind::kSize;
    if (!host) {
      host = true;
      for (ir::ValueId in : n.inputs)
        if (in != ir::kNoValue && !p.hostValue[in]) host = false;
    }
    p.hostNode[i] = host;
    if (host)
      for (ir::ValueId out : n.outputs) p.hostValue[out] = true;
  }
  return p;
}

Expected<ResolvedShapes> resolveShapes(const ir::Graph& graph, const ShapeProgram& program,
                                       const std::map<ir::ValueId, Dims>& inputDims,
                                       const std::map<size_t, int64_t>& counts) {
  ResolvedShapes r;
  r.dtypes.assign(graph.values.size(), DataType::kUndefined);
  r.dims.assign(graph.values.size(), Dims{});
  for (auto& [id, t] : graph.constants) {
    r.dtypes[id] = t.dtype();
    r.dims[id] = t.dims();
  }
  for (ir::ValueId in : graph.inputs) {
    auto it = inputDims.find(in);
    if (it == inputDims.end()) return invalidArgument("input '" + graph.values[in].name + "' has no shape set");
    r.dtypes[in] = graph.values[in].dtype;
    r.dims[in] = it->second;
  }
  std::vector<ops::TensorInfo> infos;
  std::vector<backends::DeviceTensor> ins, outs;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const ir::Node& n = graph.nodes[i];
    infos.clear();
    for (ir::ValueId in : n.inputs) {
      ops::TensorInfo info;
      if (in != ir::kNoValue) {
        info.dtype = r.dtypes[in];
        info.dims = r.dims[in];
        if (const Tensor* c = graph.constantOf(in)) info.value = c;
        else if (auto h = r.hostValues.find(in); h != r.hostValues.end()) info.value = &h->second;
      }
      infos.push_back(std::move(info));
    }
    if (n.op == ir::OpKind::kIf || n.op == ir::OpKind::kLoop) {  // If: its chosen branch, host values included (runtime/control_flow_shapes.cpp)
      KILN_RETURN_IF_ERROR(resolveIf(graph, n, infos, r));
      continue;
    }
    KILN_ASSIGN_OR_RETURN(auto outInfos, ops::inferOutputs(graph, n, infos));
    if (outInfos.size() != n.outputs.size())
      return internalError(graph.describe(n) + ": shape inference gave " + std::to_string(outInfos.size()) +
                           " outputs, the node has " + std::to_string(n.outputs.size()));
    KILN_ASSIGN_OR_RETURN(auto counted, ops::dataDependentSize({graph, n, infos}));
    if (counted && !program.hostNode[i]) {
      if (auto c = counts.find(i); c != counts.end()) {
        if (c->second < 0 || c->second > counted->bound)
          return invalidArgument(graph.describe(n) + ": its kernel counted " + std::to_string(c->second) +
                                 " output entries, outside [0, " + std::to_string(counted->bound) +
                                 "] (e.g. TopK's K larger than the axis)");
        for (size_t k = 0; k < outInfos.size(); ++k)
          outInfos[k].dims = ops::dimsAtCount(*counted, k, outInfos[k].dims, c->second);
      }
      r.counted.push_back({i, *counted});
    }
    for (size_t k = 0; k < outInfos.size(); ++k) {
      r.dtypes[n.outputs[k]] = outInfos[k].dtype;
      r.dims[n.outputs[k]] = outInfos[k].dims;
    }
    if (!program.hostNode[i]) continue;
    ins.clear();
    outs.clear();
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      backends::DeviceTensor t;
      if (infos[k].present()) {
        t.dtype = infos[k].dtype;
        t.dims = infos[k].dims;
        // Shape/Size read only dims; their input may live on the device.
        t.data = infos[k].value ? const_cast<void*>(infos[k].value->data()) : nullptr;
      }
      ins.push_back(std::move(t));
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(outInfos[k].dtype, outInfos[k].dims));
      outs.push_back({t.dtype(), t.dims(), t.data()});
      r.hostValues[n.outputs[k]] = std::move(t);
    }
    if (!counted) {
      KILN_RETURN_IF_ERROR(backends::cpu::executeNode(graph, n, ins, outs));
      continue;
    }
    // A data-dependent node on the host: run it at its bound, then keep the dense prefix its count says.
    int64_t count = 0;
    outs.push_back({DataType::kInt64, {}, &count});
    KILN_RETURN_IF_ERROR(backends::cpu::executeNode(graph, n, ins, outs));
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      const Tensor& atBound = r.hostValues[n.outputs[k]];
      KILN_ASSIGN_OR_RETURN(Tensor t,
                            Tensor::allocate(atBound.dtype(), ops::dimsAtCount(*counted, k, atBound.dims(), count)));
      if (t.byteSize()) std::memcpy(t.data(), atBound.data(), t.byteSize());
      r.dims[n.outputs[k]] = t.dims();
      r.hostValues[n.outputs[k]] = std::move(t);
    }
  }
  return r;
}

}  // namespace kiln::runtime
