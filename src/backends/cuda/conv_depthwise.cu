// Device side of the NHWC depthwise convolution (conv_depthwise.h).
//
// Work split. A thread computes `Pixels` neighbouring outputs along W of one output row, for one vector of V
// channels (V = 16 bytes of the type when vectorized, else 1). Threads of a block: x over channel vectors (adjacent
// threads read adjacent 16-byte pieces of one pixel's channels: coalesced), y over pixel tiles; grid x over pixel
// tiles, grid y over channel blocks. Per filter row the thread loads its Window = (Pixels - 1) * Stride + K input
// vectors once, one at a time, and adds each into every output of its tile that the tap reaches, so an input vector
// is read once per (output row, filter row) instead of K times. The block's filter taps are copied once into shared
// memory as float32, transposed to [tap][channel] so that a thread's V channels of a tap are contiguous.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "backends/cuda/conv_depthwise.h"
#include "backends/cuda/cuda_device.cuh"
#include "ops/fused_elementwise_math.h"

namespace kiln::backends::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kSharedFloats = 12288;  // 48 KiB of taps: the default dynamic shared memory limit

/// V elements of T moved as one load or store (16 bytes for the vectorized forms).
template <typename T, int V> struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V> __device__ __forceinline__ void loadFloats(const T* p, float (&out)[V]) {
  const Pack<T, V> pack = *reinterpret_cast<const Pack<T, V>*>(p);
#pragma unroll
  for (int i = 0; i < V; ++i) out[i] = toFloat(pack.v[i]);
}

template <typename T, int V> __device__ __forceinline__ void storeFloats(T* p, const float (&in)[V]) {
  Pack<T, V> pack;
#pragma unroll
  for (int i = 0; i < V; ++i) pack.v[i] = fromFloat<T>(in[i]);
  *reinterpret_cast<Pack<T, V>*>(p) = pack;
}

/// The fused activation, as the answer check's reference (conv_reference.h) applies it.
__device__ __forceinline__ float activate(float v, const InPlaceActivation& a) {
  if (!a.present) return v;
  const float f = ops::fused::unary(a.op, v, a.params);
  return a.timesInput ? v * f : f;
}

template <typename T, int V, int K, int Stride, int Pixels>
__global__ void __launch_bounds__(kThreads) depthwiseKernel(DepthwiseConvArgs a, int64_t tiles) {
  extern __shared__ float taps[];  // [K * K][channels of this block]
  const int blockChannels = static_cast<int>(blockDim.x) * V;
  const int c0 = static_cast<int>(blockIdx.y) * blockChannels;
  const int threadIndex = static_cast<int>(threadIdx.y * blockDim.x + threadIdx.x);
  const int threadCount = static_cast<int>(blockDim.x * blockDim.y);
  {
    // W [C, K, K]: this block's channels are one contiguous run of taps; read it coalesced, write it transposed.
    const int count = min(blockChannels, a.channels - c0) * K * K;
    const T* w = static_cast<const T*>(a.w) + static_cast<int64_t>(c0) * K * K;
    for (int i = threadIndex; i < count; i += threadCount) taps[(i % (K * K)) * blockChannels + i / (K * K)] = toFloat(w[i]);
  }
  __syncthreads();
  const int localChannel = static_cast<int>(threadIdx.x) * V;
  const int c = c0 + localChannel;
  const int64_t tile = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y;
  if (c >= a.channels || tile >= tiles) return;  // V divides C when V > 1, so c + V <= C here

  // tile -> (image, output row, first output column of the tile)
  const int tilesPerRow = (a.outWidth + Pixels - 1) / Pixels;
  const int q0 = static_cast<int>(tile % tilesPerRow) * Pixels;
  const int64_t row = tile / tilesPerRow;  // image * outHeight + output row
  const int p = static_cast<int>(row % a.outHeight);
  const int64_t image = row / a.outHeight;
  const int top = p * Stride - a.padTop, left = q0 * Stride - a.padLeft;
  constexpr int kWindow = (Pixels - 1) * Stride + K;

  float acc[Pixels][V];
#pragma unroll
  for (int t = 0; t < Pixels; ++t)
#pragma unroll
    for (int i = 0; i < V; ++i) acc[t][i] = 0.f;

  const T* x = static_cast<const T*>(a.x);
  for (int r = 0; r < K; ++r) {
    const int ih = top + r;
    if (ih < 0 || ih >= a.height) continue;  // zero padding contributes nothing
    float tap[K][V];
#pragma unroll
    for (int s = 0; s < K; ++s)
#pragma unroll
      for (int i = 0; i < V; ++i) tap[s][i] = taps[(r * K + s) * blockChannels + localChannel + i];
    const T* inputRow = x + (image * a.height + ih) * static_cast<int64_t>(a.width) * a.channels + c;
#pragma unroll
    for (int j = 0; j < kWindow; ++j) {
      const int iw = left + j;
      if (iw < 0 || iw >= a.width) continue;
      float in[V];
      loadFloats<T, V>(inputRow + static_cast<int64_t>(iw) * a.channels, in);
#pragma unroll
      for (int t = 0; t < Pixels; ++t) {
        const int s = j - t * Stride;  // output q0 + t reads input column left + t * Stride + s
        if (s < 0 || s >= K) continue;
#pragma unroll
        for (int i = 0; i < V; ++i) acc[t][i] = fmaf(in[i], tap[s][i], acc[t][i]);
      }
    }
  }

  float bias[V];
#pragma unroll
  for (int i = 0; i < V; ++i) bias[i] = 0.f;
  if (a.bias) loadFloats<T, V>(static_cast<const T*>(a.bias) + c, bias);
  const int64_t first = (row * a.outWidth + q0) * static_cast<int64_t>(a.channels) + c;
#pragma unroll
  for (int t = 0; t < Pixels; ++t) {
    if (q0 + t >= a.outWidth) break;
    const int64_t o = first + static_cast<int64_t>(t) * a.channels;
    float residual[V];
    if (a.z) {
      loadFloats<T, V>(static_cast<const T*>(a.z) + o, residual);
    } else {
#pragma unroll
      for (int i = 0; i < V; ++i) residual[i] = 0.f;
    }
    float out[V];
#pragma unroll
    for (int i = 0; i < V; ++i) out[i] = activate(acc[t][i] + bias[i] + residual[i], a.activation);
    storeFloats<T, V>(static_cast<T*>(a.y) + o, out);
  }
}

template <typename T, int V, int K, int Stride, int Pixels>
cudaError_t launchTile(const DepthwiseConvArgs& a, cudaStream_t stream) {
  const int vectors = a.channels / V;
  const int perBlock = std::max(1, std::min({vectors, a.channelVectors, kThreads, kSharedFloats / (K * K * V)}));
  const dim3 block(static_cast<unsigned>(perBlock), static_cast<unsigned>(kThreads / perBlock));
  const int64_t tiles = static_cast<int64_t>(a.n) * a.outHeight * ((a.outWidth + Pixels - 1) / Pixels);
  const int64_t tileBlocks = (tiles + block.y - 1) / block.y;
  const int64_t channelBlocks = (vectors + perBlock - 1) / perBlock;
  if (tileBlocks > 0x7fffffff || channelBlocks > 65535) return cudaErrorInvalidConfiguration;
  const size_t shared = static_cast<size_t>(perBlock) * V * K * K * sizeof(float);
  const dim3 grid(static_cast<unsigned>(tileBlocks), static_cast<unsigned>(channelBlocks));
  depthwiseKernel<T, V, K, Stride, Pixels><<<grid, block, shared, stream>>>(a, tiles);
  return cudaGetLastError();
}

template <typename T, int V, int K, int Stride> cudaError_t launchPixels(const DepthwiseConvArgs& a, cudaStream_t s) {
  switch (a.pixels) {
    case 1: return launchTile<T, V, K, Stride, 1>(a, s);
    case 2: return launchTile<T, V, K, Stride, 2>(a, s);
    case 4: return launchTile<T, V, K, Stride, 4>(a, s);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T, int V, int K> cudaError_t launchStride(const DepthwiseConvArgs& a, cudaStream_t s) {
  switch (a.stride) {
    case 1: return launchPixels<T, V, K, 1>(a, s);
    case 2: return launchPixels<T, V, K, 2>(a, s);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T, int V> cudaError_t launchKernelSize(const DepthwiseConvArgs& a, cudaStream_t s) {
  switch (a.kernel) {
    case 3: return launchStride<T, V, 3>(a, s);
    case 5: return launchStride<T, V, 5>(a, s);
    case 7: return launchStride<T, V, 7>(a, s);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T> cudaError_t launchType(const DepthwiseConvArgs& a, cudaStream_t s) {
  constexpr int kVector = 16 / sizeof(T);
  if (!a.vectorized) return launchKernelSize<T, 1>(a, s);
  if (a.channels % kVector != 0) return cudaErrorInvalidValue;
  return launchKernelSize<T, kVector>(a, s);
}

}  // namespace

int depthwiseVectorWidth(DataType dtype) { return dtype == DataType::kFloat32 ? 4 : 8; }

cudaError_t launchDepthwiseConv(const DepthwiseConvArgs& args, DataType dtype, cudaStream_t stream) {
  if (args.n <= 0 || args.outHeight <= 0 || args.outWidth <= 0 || args.channels <= 0) return cudaSuccess;
  if (args.channelVectors <= 0 || args.height <= 0 || args.width <= 0) return cudaErrorInvalidValue;
  switch (dtype) {
    case DataType::kFloat32: return launchType<float>(args, stream);
    case DataType::kFloat16: return launchType<__half>(args, stream);
    case DataType::kBFloat16: return launchType<__nv_bfloat16>(args, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kiln::backends::cuda
