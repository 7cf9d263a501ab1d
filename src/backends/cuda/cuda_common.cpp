#include "backends/cuda/cuda_common.h"

#include <algorithm>

namespace kiln::backends::cuda {

CudnnPool::~CudnnPool() {
  for (cudnnHandle_t h : all_) cudnnDestroy(h);
}

Expected<CudnnPool::Lease> CudnnPool::borrow(cudaStream_t stream, const std::string& where) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& idle = idle_[stream];
    if (!idle.empty()) {
      cudnnHandle_t h = idle.back();
      idle.pop_back();
      return Lease(this, stream, h);
    }
  }
  // First use of this stream (or one more concurrent caller on it): create outside the lock, it is slow.
  cudnnHandle_t h = nullptr;
  KILN_CUDNN_CHECK(cudnnCreate(&h), where);
  const cudnnStatus_t bound = cudnnSetStream(h, stream);
  if (bound != CUDNN_STATUS_SUCCESS) {
    cudnnDestroy(h);
    return fromCudnn(bound, "cudnnSetStream", where);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  all_.push_back(h);
  return Lease(this, stream, h);
}

void CudnnPool::giveBack(cudaStream_t stream, cudnnHandle_t handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  idle_[stream].push_back(handle);
}

bool isFloatType(DataType type) { return type == DataType::kFloat32 || type == DataType::kFloat16; }
bool isFloatOrBFloat16Type(DataType type) { return isFloatType(type) || type == DataType::kBFloat16; }

DataType inputType(const ir::Graph& graph, const ir::Node& node, size_t index) {
  if (index >= node.inputs.size() || node.inputs[index] == ir::kNoValue) return DataType::kUndefined;
  return graph.values[node.inputs[index]].dtype;
}

Status requireInputType(const ir::Graph& graph, const ir::Node& node, size_t index,
                        std::initializer_list<DataType> allowed) {
  const DataType t = inputType(graph, node, index);
  if (std::find(allowed.begin(), allowed.end(), t) != allowed.end()) return Status::ok();
  std::string names;
  for (DataType a : allowed) names += (names.empty() ? "" : " or ") + dataTypeName(a);
  const std::string name = index < node.inputs.size() ? graph.valueName(node.inputs[index]) : "<missing>";
  return unsupported(graph.describe(node) + ": input " + std::to_string(index) + " ('" + name + "') has type " +
                     dataTypeName(t) + "; the CUDA backend handles " + names + " here");
}

const Tensor* constantInput(const ir::Graph& graph, const ir::Node& node, size_t index) {
  if (index >= node.inputs.size() || node.inputs[index] == ir::kNoValue) return nullptr;
  return graph.constantOf(node.inputs[index]);
}

std::vector<int64_t> readInts(const Tensor& tensor) {
  std::vector<int64_t> out;
  const int64_t n = tensor.elementCount();
  if (n <= 0) return out;
  out.reserve(static_cast<size_t>(n));
  if (tensor.dtype() == DataType::kInt64) {
    const int64_t* p = tensor.dataAs<int64_t>();
    out.assign(p, p + n);
  } else if (tensor.dtype() == DataType::kInt32) {
    const int32_t* p = tensor.dataAs<int32_t>();
    for (int64_t i = 0; i < n; ++i) out.push_back(p[i]);
  }
  return out;
}

bool hostKnown(const ir::Graph& graph, ir::ValueId value) {
  if (value == ir::kNoValue || value < 0 || static_cast<size_t>(value) >= graph.values.size()) return false;
  if (graph.isConstant(value)) return true;
  // Walk back through producers; the graph is acyclic and topologically sorted, so this terminates.
  std::vector<ir::ValueId> pending{value};
  std::vector<char> seen(graph.values.size(), 0);
  while (!pending.empty()) {
    const ir::ValueId v = pending.back();
    pending.pop_back();
    if (seen[static_cast<size_t>(v)]) continue;
    seen[static_cast<size_t>(v)] = 1;
    if (graph.isConstant(v)) continue;
    const int32_t producer = graph.values[static_cast<size_t>(v)].producer;
    if (producer < 0 || static_cast<size_t>(producer) >= graph.nodes.size()) return false;  // a graph input
    const ir::Node& n = graph.nodes[static_cast<size_t>(producer)];
    if (n.op == ir::OpKind::kShape || n.op == ir::OpKind::kSize) continue;
    for (ir::ValueId in : n.inputs)
      if (in != ir::kNoValue) pending.push_back(in);
  }
  return true;
}

Status requireHostKnown(const ir::Graph& graph, const ir::Node& node, size_t index, const char* what) {
  if (index >= node.inputs.size() || node.inputs[index] == ir::kNoValue) return Status::ok();
  if (hostKnown(graph, node.inputs[index])) return Status::ok();
  return unsupported(graph.describe(node) + ": input " + std::to_string(index) + " ('" +
                     graph.valueName(node.inputs[index]) + "', " + what +
                     ") is computed on the device from tensor data; the CUDA kernel needs it from a constant or "
                     "the host-side shape program");
}

Expected<std::vector<int64_t>> hostInts(const DeviceTensor& t, const std::string& where, const char* what) {
  std::vector<int64_t> out;
  if (!t.present()) return out;
  if (!t.hostData)
    return unsupported(where + what + " are not known on the host (DeviceTensor::hostData is null)");
  const int64_t n = t.elementCount();
  if (t.dtype == DataType::kInt64) {
    const auto* p = static_cast<const int64_t*>(t.hostData);
    out.assign(p, p + n);
  } else if (t.dtype == DataType::kInt32) {
    const auto* p = static_cast<const int32_t*>(t.hostData);
    out.assign(p, p + n);
  } else {
    return invalidArgument(where + what + " have type " + dataTypeName(t.dtype) + "; expected int64 or int32");
  }
  return out;
}

Expected<BroadcastWalk> broadcastWalk(std::span<const Dims> inputs, const Dims& out, const std::string& where) {
  const size_t rank = out.size();
  std::vector<std::vector<int64_t>> strides(inputs.size(), std::vector<int64_t>(rank, 0));
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Dims& d = inputs[k];
    if (d.size() > rank)
      return invalidArgument(where + "input " + std::to_string(k) + " has rank " + std::to_string(d.size()) +
                             ", above the output's " + std::to_string(rank));
    const std::vector<int64_t> s = contiguousStrides(d);
    const size_t offset = rank - d.size();
    for (size_t j = 0; j < d.size(); ++j) {
      if (d[j] != 1 && d[j] != out[offset + j])
        return invalidArgument(where + "input " + std::to_string(k) + " dims " + dimsToString(d) +
                               " do not broadcast to " + dimsToString(out));
      strides[k][offset + j] = d[j] == 1 ? 0 : s[j];
    }
  }
  // Merge dim j into the previous kept one when every input walks them as one run.
  BroadcastWalk walk;
  walk.strides.resize(inputs.size());
  for (size_t j = 0; j < rank; ++j) {
    if (out[j] == 1) continue;
    bool merge = !walk.dims.empty();
    for (size_t k = 0; k < inputs.size() && merge; ++k) merge = walk.strides[k].back() == strides[k][j] * out[j];
    if (merge) {
      walk.dims.back() *= out[j];
      for (size_t k = 0; k < inputs.size(); ++k) walk.strides[k].back() = strides[k][j];
    } else {
      walk.dims.push_back(out[j]);
      for (size_t k = 0; k < inputs.size(); ++k) walk.strides[k].push_back(strides[k][j]);
    }
  }
  if (walk.dims.empty()) {
    walk.dims.push_back(1);
    for (auto& s : walk.strides) s.push_back(0);
  }
  return walk;
}

std::vector<int64_t> contiguousStrides(const Dims& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) strides[d - 1] = strides[d] * dims[d];
  return strides;
}

unsigned int gridFor(int64_t count, int threads) {
  const int64_t blocks = (count + threads - 1) / threads;
  return static_cast<unsigned int>(std::clamp<int64_t>(blocks, 1, 65536));
}

int64_t normalizeAxis(int64_t axis, int64_t rank) {
  if (axis < 0) axis += rank;
  return (axis < 0 || axis >= std::max<int64_t>(rank, 1)) ? -1 : axis;
}

void simplifyStridedCopy(StridedCopy& c) {
  // Drop size-1 dims, then merge dim d into d-1 when both views step contiguously across them.
  int r = 0;
  for (int d = 0; d < c.rank; ++d) {
    if (c.dims[d] == 1 && c.rank > 1) continue;
    c.dims[r] = c.dims[d];
    c.srcStrides[r] = c.srcStrides[d];
    c.dstStrides[r] = c.dstStrides[d];
    c.srcModulo[r] = c.srcModulo[d];
    ++r;
  }
  if (r == 0) {  // every dim was 1
    r = 1;
    c.dims[0] = 1;
    c.srcStrides[0] = c.dstStrides[0] = 1;
    c.srcModulo[0] = 0;
  }
  int w = 0;
  for (int d = 1; d < r; ++d) {
    const bool mergeable = c.srcModulo[w] == 0 && c.srcModulo[d] == 0 &&
                           c.srcStrides[w] == c.srcStrides[d] * c.dims[d] &&
                           c.dstStrides[w] == c.dstStrides[d] * c.dims[d];
    if (mergeable) {
      c.dims[w] *= c.dims[d];
      c.srcStrides[w] = c.srcStrides[d];
      c.dstStrides[w] = c.dstStrides[d];
    } else {
      ++w;
      c.dims[w] = c.dims[d];
      c.srcStrides[w] = c.srcStrides[d];
      c.dstStrides[w] = c.dstStrides[d];
      c.srcModulo[w] = c.srcModulo[d];
    }
  }
  c.rank = w + 1;
}

Status broadcastCopy(const DeviceTensor& src, const DeviceTensor& dst, cudaStream_t stream, const std::string& where) {
  const size_t rank = dst.dims.size();
  if (rank > static_cast<size_t>(kMaxRank) || src.dims.size() > rank)
    return unsupported(where + "broadcast of " + dimsToString(src.dims) + " to " + dimsToString(dst.dims) +
                       " needs rank <= 8");
  StridedCopy c;
  c.rank = static_cast<int32_t>(std::max<size_t>(rank, 1));
  const auto dstStrides = contiguousStrides(dst.dims);
  const auto srcStrides = contiguousStrides(src.dims);
  const size_t offset = rank - src.dims.size();
  for (size_t d = 0; d < rank; ++d) {
    c.dims[d] = dst.dims[d];
    c.dstStrides[d] = dstStrides[d];
    if (d >= offset) {
      const int64_t s = src.dims[d - offset];
      if (s != 1 && s != dst.dims[d])
        return invalidArgument(where + "cannot broadcast " + dimsToString(src.dims) + " to " + dimsToString(dst.dims));
      c.srcStrides[d] = s == 1 ? 0 : srcStrides[d - offset];
    }
  }
  if (rank == 0) {
    c.dims[0] = 1;
    c.dstStrides[0] = 1;
  }
  c.src = src.data;
  c.dst = dst.data;
  if (dst.elementCount() == 0) return Status::ok();
  simplifyStridedCopy(c);
  KILN_CUDA_CHECK(launchStridedCopy(c, dataTypeSize(dst.dtype), stream), where);
  return Status::ok();
}

}  // namespace kiln::backends::cuda
