#include "backends/cuda/kernel_race.h"

#include <algorithm>
#include <cmath>

namespace kiln::backends::cuda {

Scratch::~Scratch() {
  for (void* p : owned_) cudaFree(p);
}

void* Scratch::allocate(size_t bytes) {
  void* p = nullptr;
  bytes = std::max<size_t>(bytes, 256);
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  owned_.push_back(p);
  if (cudaMemset(p, 0, bytes) != cudaSuccess) (void)cudaGetLastError();
  return p;
}

namespace {

/// The stream tuning runs on: created once per process, so each kernel's cuDNN handle pool sees one stream.
cudaStream_t tuningStream() {
  static cudaStream_t stream = [] {
    cudaStream_t s = nullptr;
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) {
      (void)cudaGetLastError();
      return static_cast<cudaStream_t>(nullptr);
    }
    return s;
  }();
  return stream;
}

/// `count` runs of `kernel` captured into one CUDA graph on `s`; nullptr when capture is not possible.
cudaGraphExec_t captureRuns(const Kernel& kernel, std::span<const DeviceTensor> in, std::span<const DeviceTensor> out,
                            void* workspace, cudaStream_t s, int count) {
  if (!s || cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  bool ok = true;
  for (int i = 0; i < count && ok; ++i) ok = kernel.run(in, out, workspace, s).isOk();
  cudaGraph_t graph = nullptr;
  ok = cudaStreamEndCapture(s, &graph) == cudaSuccess && ok;
  cudaGraphExec_t exec = nullptr;
  if (ok && cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) exec = nullptr;
  if (graph) cudaGraphDestroy(graph);
  (void)cudaGetLastError();
  return exec;
}

}  // namespace

float medianMilliseconds(const Kernel& kernel, std::span<const DeviceTensor> in, std::span<const DeviceTensor> out,
                         void* workspace, cudaEvent_t start, cudaEvent_t stop) {
  constexpr int kWarmUp = 3, kBatches = 7, kPerBatch = 10;
  const cudaStream_t s = tuningStream();
  for (int i = 0; i < kWarmUp; ++i)
    if (!kernel.run(in, out, workspace, s).isOk()) return NAN;
  if (cudaStreamSynchronize(s) != cudaSuccess) return NAN;
  // Replaying the runs from a CUDA graph times the GPU work alone, as engines run it (CUDA graphs by default);
  // launched one by one, a small layer would be timed by its host-side launch cost instead.
  cudaGraphExec_t exec = captureRuns(kernel, in, out, workspace, s, kPerBatch);
  std::vector<float> perRun;
  for (int b = 0; b < kBatches; ++b) {
    bool ok = cudaEventRecord(start, s) == cudaSuccess;
    if (exec) {
      ok = ok && cudaGraphLaunch(exec, s) == cudaSuccess;
    } else {
      for (int i = 0; i < kPerBatch && ok; ++i) ok = kernel.run(in, out, workspace, s).isOk();
    }
    float ms = 0;
    ok = ok && cudaEventRecord(stop, s) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess &&
         cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
    if (!ok) {
      if (exec) cudaGraphExecDestroy(exec);
      return NAN;
    }
    perRun.push_back(ms / kPerBatch);
  }
  if (exec) cudaGraphExecDestroy(exec);
  std::sort(perRun.begin(), perRun.end());
  return perRun[perRun.size() / 2];
}

int race(std::vector<RaceEntrant>& entrants, std::span<const DeviceTensor> inputs, std::span<const DeviceTensor> outputs) {
  if (entrants.empty()) return -1;
  Scratch scratch;
  std::vector<DeviceTensor> in(inputs.begin(), inputs.end()), out(outputs.begin(), outputs.end());
  for (auto* list : {&in, &out})
    for (DeviceTensor& t : *list) {
      if (!t.present()) continue;
      if (!(t.data = scratch.allocate(static_cast<size_t>(t.elementCount()) * dataTypeSize(t.dtype)))) return -1;
    }
  size_t workspaceBytes = 0;
  for (const RaceEntrant& e : entrants) workspaceBytes = std::max(workspaceBytes, e.kernel->workspaceBytes(in, out));
  void* workspace = workspaceBytes ? scratch.allocate(workspaceBytes) : nullptr;
  if (workspaceBytes && !workspace) return -1;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    (void)cudaGetLastError();
    if (start) cudaEventDestroy(start);
    return -1;
  }
  // The first entrant runs twice: once to bring the GPU to its clocks, then for real.
  (void)medianMilliseconds(*entrants[0].kernel, in, out, workspace, start, stop);
  int best = -1;
  for (size_t i = 0; i < entrants.size(); ++i) {
    entrants[i].ms = medianMilliseconds(*entrants[i].kernel, in, out, workspace, start, stop);
    (void)cudaGetLastError();  // a failed candidate must not leave a sticky error for the rest of the build
    if (!std::isnan(entrants[i].ms) && (best < 0 || entrants[i].ms < entrants[best].ms)) best = static_cast<int>(i);
  }
  (void)cudaDeviceSynchronize();
  (void)cudaGetLastError();
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

}  // namespace kiln::backends::cuda
