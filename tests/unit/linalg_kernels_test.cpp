// Conv, ConvTranspose, Gemm, MatMul and pools: shape inference + CPU kernels on one-node graphs, against float64
// references written here directly from the ONNX definitions (no im2col, no BLAS), on random non-zero inputs.
// Tolerance: |kiln - ref| <= 1e-4 * (|ref| + rms(ref)), i.e. a relative error of 1e-4 of the output's scale.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>

#include "backends/cpu/cpu_kernels.h"
#include "ops/shape_inference.h"
#include "unit/one_node_harness.h"

namespace kiln {
namespace {

using ir::OpKind;

using test::expectClose;
using test::HostTensor;
using test::randomTensor;
using test::runOp;

// Row-major strides and flat-index unravelling for the references.
std::vector<int64_t> unravel(int64_t flat, const Dims& dims) {
  std::vector<int64_t> idx(dims.size());
  for (size_t i = dims.size(); i-- > 0;) {
    idx[i] = flat % dims[i];
    flat /= dims[i];
  }
  return idx;
}
int64_t ravel(const std::vector<int64_t>& idx, const Dims& dims) {
  int64_t flat = 0;
  for (size_t i = 0; i < dims.size(); ++i) flat = flat * dims[i] + idx[i];
  return flat;
}

struct Window {
  std::vector<int64_t> strides, dilations, padsBegin, padsEnd;
};

// Direct convolution from the definition, any spatial rank.
std::vector<double> referenceConv(const HostTensor& x, const HostTensor& w, const std::optional<HostTensor>& b,
                                  int64_t group, const Window& win, const Dims& outDims) {
  const size_t r = x.dims.size() - 2;
  const int64_t cPerGroup = w.dims[1], mPerGroup = w.dims[0] / group;
  const Dims kDims(w.dims.begin() + 2, w.dims.end());
  const int64_t kCount = elementCount(kDims);
  std::vector<double> y(static_cast<size_t>(elementCount(outDims)));
  if (r == 2) {  // the same definition as plain loops, fast enough for ResNet-sized layers
    const int64_t H = x.dims[2], W = x.dims[3], kH = kDims[0], kW = kDims[1], oH = outDims[2], oW = outDims[3];
    size_t f = 0;
    for (int64_t n = 0; n < outDims[0]; ++n)
      for (int64_t m = 0; m < outDims[1]; ++m)
        for (int64_t oh = 0; oh < oH; ++oh)
          for (int64_t ow = 0; ow < oW; ++ow, ++f) {
            double acc = b ? b->data[m] : 0.0;
            const int64_t g = m / mPerGroup;
            for (int64_t c = 0; c < cPerGroup; ++c)
              for (int64_t kh = 0; kh < kH; ++kh) {
                const int64_t ih = oh * win.strides[0] - win.padsBegin[0] + kh * win.dilations[0];
                if (ih < 0 || ih >= H) continue;
                for (int64_t kw = 0; kw < kW; ++kw) {
                  const int64_t iw = ow * win.strides[1] - win.padsBegin[1] + kw * win.dilations[1];
                  if (iw < 0 || iw >= W) continue;
                  acc += static_cast<double>(x.data[((n * x.dims[1] + g * cPerGroup + c) * H + ih) * W + iw]) *
                         w.data[((m * cPerGroup + c) * kH + kh) * kW + kw];
                }
              }
            y[f] = acc;
          }
    return y;
  }
  for (size_t flat = 0; flat < y.size(); ++flat) {
    const auto o = unravel(static_cast<int64_t>(flat), outDims);
    const int64_t n = o[0], m = o[1], g = m / mPerGroup;
    double acc = b ? b->data[m] : 0.0;
    for (int64_t c = 0; c < cPerGroup; ++c) {
      for (int64_t kf = 0; kf < kCount; ++kf) {
        const auto k = unravel(kf, kDims);
        std::vector<int64_t> xi{n, g * cPerGroup + c};
        bool inside = true;
        for (size_t a = 0; a < r; ++a) {
          const int64_t pos = o[2 + a] * win.strides[a] - win.padsBegin[a] + k[a] * win.dilations[a];
          inside = inside && pos >= 0 && pos < x.dims[2 + a];
          xi.push_back(pos);
        }
        if (!inside) continue;
        std::vector<int64_t> wi{m, c};
        wi.insert(wi.end(), k.begin(), k.end());
        acc += static_cast<double>(x.data[ravel(xi, x.dims)]) * w.data[ravel(wi, w.dims)];
      }
    }
    y[flat] = acc;
  }
  return y;
}

ir::Attributes convAttrs(const Window& win, int64_t group, const std::string& autoPad = "NOTSET") {
  ir::Attributes a;
  a.set("strides", win.strides);
  a.set("dilations", win.dilations);
  std::vector<int64_t> pads = win.padsBegin;
  pads.insert(pads.end(), win.padsEnd.begin(), win.padsEnd.end());
  if (autoPad == "NOTSET") a.set("pads", pads);
  else a.set("auto_pad", autoPad);
  a.set("group", group);
  return a;
}

Dims convOutDims(const Dims& x, int64_t m, const Dims& k, const Window& win) {
  Dims out{x[0], m};
  for (size_t a = 0; a + 2 < x.size(); ++a) {
    const int64_t ek = (k[a] - 1) * win.dilations[a] + 1;
    out.push_back((x[2 + a] + win.padsBegin[a] + win.padsEnd[a] - ek) / win.strides[a] + 1);
  }
  return out;
}

void checkConv(Dims xDims, Dims wDims, int64_t group, Window win, bool bias, uint32_t seed) {
  SCOPED_TRACE("Conv X " + dimsToString(xDims) + " W " + dimsToString(wDims) + " group " + std::to_string(group));
  const auto x = randomTensor(xDims, seed), w = randomTensor(wDims, seed + 1);
  std::optional<HostTensor> b;
  if (bias) b = randomTensor({wDims[0]}, seed + 2);
  auto got = runOp(OpKind::kConv, convAttrs(win, group), {x, w, b ? std::optional<HostTensor>(*b) : std::nullopt});
  ASSERT_TRUE(got.hasValue()) << got.status().toString();
  const Dims k(wDims.begin() + 2, wDims.end());
  const Dims outDims = convOutDims(xDims, wDims[0], k, win);
  expectClose((*got)[0], outDims, referenceConv(x, w, b, group, win, outDims));
}

Window plain(size_t r, int64_t s = 1, int64_t d = 1, int64_t p = 0) {
  return {std::vector<int64_t>(r, s), std::vector<int64_t>(r, d), std::vector<int64_t>(r, p), std::vector<int64_t>(r, p)};
}

TEST(LinalgConv, TwoDimensionalVariants) {
  checkConv({1, 3, 7, 9}, {5, 3, 3, 3}, 1, plain(2), true, 1);
  checkConv({2, 4, 13, 11}, {6, 4, 3, 2}, 1, plain(2, 2, 1, 1), false, 2);
  checkConv({1, 6, 10, 10}, {4, 3, 3, 3}, 2, {{1, 2}, {2, 1}, {2, 0}, {1, 3}}, true, 3);  // group, asymmetric pads
  checkConv({2, 8, 9, 7}, {8, 1, 3, 3}, 8, plain(2, 1, 1, 1), true, 4);                  // depthwise
  checkConv({1, 4, 12, 11}, {8, 1, 5, 3}, 4, {{2, 3}, {2, 1}, {2, 1}, {0, 2}}, true, 5);  // depthwise x2 multiplier
  checkConv({2, 16, 7, 5}, {9, 16, 1, 1}, 1, plain(2), true, 6);                          // pointwise fast path
  checkConv({1, 16, 9, 9}, {12, 16, 1, 1}, 1, plain(2, 2), true, 7);                      // strided 1x1
  checkConv({1, 3, 8, 8}, {2, 3, 3, 3}, 1, {{3, 3}, {1, 1}, {0, 0}, {0, 0}}, false, 8);   // stride > output
}

TEST(LinalgConv, OneAndThreeDimensional) {
  checkConv({2, 3, 17}, {4, 3, 5}, 1, {{2}, {2}, {1}, {3}}, true, 11);
  checkConv({1, 4, 15}, {4, 1, 3}, 4, plain(1, 1, 1, 1), true, 12);
  checkConv({1, 2, 5, 6, 7}, {3, 2, 2, 3, 3}, 1, {{1, 2, 1}, {1, 1, 2}, {1, 0, 1}, {0, 1, 2}}, true, 13);
}

TEST(LinalgConv, AutoPadModes) {
  const Dims xDims{1, 3, 7, 10}, wDims{4, 3, 3, 4};
  const auto x = randomTensor(xDims, 21), w = randomTensor(wDims, 22);
  // Stride 2: out = ceil(in / 2) = 4x5; total pads = (out-1)*2 + k - in = 2 (H) and 2 (W).
  struct Mode {
    std::string name;
    Window win;
    Dims out;
  };
  const std::vector<Mode> modes = {
      {"SAME_UPPER", {{2, 2}, {1, 1}, {1, 1}, {1, 1}}, {1, 4, 4, 5}},
      {"SAME_LOWER", {{2, 2}, {1, 1}, {1, 1}, {1, 1}}, {1, 4, 4, 5}},
      {"VALID", {{2, 2}, {1, 1}, {0, 0}, {0, 0}}, {1, 4, 3, 4}},
  };
  for (const auto& mode : modes) {
    SCOPED_TRACE(mode.name);
    auto got = runOp(OpKind::kConv, convAttrs(mode.win, 1, mode.name), {x, w});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    expectClose((*got)[0], mode.out, referenceConv(x, w, std::nullopt, 1, mode.win, mode.out));
  }
  // Stride 1 with an even kernel: total pad 3 along W; SAME_UPPER puts 2 at the end, SAME_LOWER 2 at the start.
  const auto w4 = randomTensor({2, 3, 1, 4}, 23);
  for (const auto& [name, win] : std::vector<std::pair<std::string, Window>>{
           {"SAME_UPPER", {{1, 1}, {1, 1}, {0, 1}, {0, 2}}}, {"SAME_LOWER", {{1, 1}, {1, 1}, {0, 2}, {0, 1}}}}) {
    SCOPED_TRACE(name);
    auto got = runOp(OpKind::kConv, convAttrs(win, 1, name), {x, w4});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    expectClose((*got)[0], {1, 2, 7, 10}, referenceConv(x, w4, std::nullopt, 1, win, {1, 2, 7, 10}));
  }
}

// ResNet-50-sized layers (stem, bottleneck 1x1/3x3/1x1, strided downsample, last stage), checked element-wise.
TEST(LinalgConv, ResNetSizedStack) {
  checkConv({1, 3, 224, 224}, {64, 3, 7, 7}, 1, plain(2, 2, 1, 3), true, 31);
  checkConv({1, 64, 56, 56}, {64, 64, 3, 3}, 1, plain(2, 1, 1, 1), true, 32);
  checkConv({1, 256, 56, 56}, {64, 256, 1, 1}, 1, plain(2), true, 33);
  checkConv({1, 128, 56, 56}, {128, 128, 3, 3}, 1, plain(2, 2, 1, 1), true, 34);
  checkConv({1, 1024, 14, 14}, {512, 1024, 1, 1}, 1, plain(2, 2), true, 35);
  checkConv({1, 512, 7, 7}, {512, 512, 3, 3}, 1, plain(2, 1, 1, 1), true, 36);
}

// ConvTranspose from its definition: every X element scatters W into Y.
std::vector<double> referenceConvTranspose(const HostTensor& x, const HostTensor& w, const std::optional<HostTensor>& b,
                                           int64_t group, const Window& win, const Dims& outDims) {
  const size_t r = x.dims.size() - 2;
  const int64_t cPerGroup = x.dims[1] / group, mPerGroup = w.dims[1];
  const Dims kDims(w.dims.begin() + 2, w.dims.end());
  std::vector<double> y(static_cast<size_t>(elementCount(outDims)), 0.0);
  const Dims outSpatial(outDims.begin() + 2, outDims.end());
  for (int64_t xf = 0; xf < elementCount(x.dims); ++xf) {
    const auto xi = unravel(xf, x.dims);
    const int64_t n = xi[0], c = xi[1], g = c / cPerGroup;
    for (int64_t m = 0; m < mPerGroup; ++m) {
      for (int64_t kf = 0; kf < elementCount(kDims); ++kf) {
        const auto k = unravel(kf, kDims);
        std::vector<int64_t> yi{n, g * mPerGroup + m};
        bool inside = true;
        for (size_t a = 0; a < r; ++a) {
          const int64_t pos = xi[2 + a] * win.strides[a] - win.padsBegin[a] + k[a] * win.dilations[a];
          inside = inside && pos >= 0 && pos < outSpatial[a];
          yi.push_back(pos);
        }
        if (!inside) continue;
        std::vector<int64_t> wi{c, m};
        wi.insert(wi.end(), k.begin(), k.end());
        y[ravel(yi, outDims)] += static_cast<double>(x.data[xf]) * w.data[ravel(wi, w.dims)];
      }
    }
  }
  if (b) {
    for (size_t f = 0; f < y.size(); ++f) y[f] += b->data[unravel(static_cast<int64_t>(f), outDims)[1]];
  }
  return y;
}

TEST(LinalgConvTranspose, Variants) {
  struct Case {
    Dims x, w;
    int64_t group;
    ir::Attributes attrs;
    Window win;  // pads the reference uses
    Dims out;
  };
  std::vector<Case> cases;
  auto attrs = [](std::initializer_list<std::pair<std::string, ir::AttributeValue>> kv) {
    ir::Attributes a;
    for (const auto& [k, v] : kv) a.set(k, v);
    return a;
  };
  using V = std::vector<int64_t>;
  // out = s*(in-1) + output_padding + (k-1)*d + 1 - pads
  cases.push_back({{1, 3, 5, 7}, {3, 4, 3, 3}, 1, attrs({}), {{1, 1}, {1, 1}, {0, 0}, {0, 0}}, {1, 4, 7, 9}});
  cases.push_back({{2, 4, 5, 6}, {4, 2, 3, 4}, 2,
                   attrs({{"strides", V{2, 3}}, {"pads", V{1, 0, 2, 1}}, {"output_padding", V{1, 2}}, {"group", int64_t{2}}}),
                   {{2, 3}, {1, 1}, {1, 0}, {2, 1}}, {2, 4, 9, 20}});
  cases.push_back({{1, 2, 4, 5}, {2, 3, 3, 2}, 1, attrs({{"strides", V{2, 2}}, {"dilations", V{2, 3}}}),
                   {{2, 2}, {2, 3}, {0, 0}, {0, 0}}, {1, 3, 11, 12}});
  // output_shape 10x11 with stride 2, k 3: full = 11 and 11, total pads 1 and 0; NOTSET puts the odd one first.
  cases.push_back({{1, 3, 5, 5}, {3, 2, 3, 3}, 1, attrs({{"strides", V{2, 2}}, {"output_shape", V{10, 11}}}),
                   {{2, 2}, {1, 1}, {1, 0}, {0, 0}}, {1, 2, 10, 11}});
  // SAME_UPPER: out = in * stride = 10x12, full = 11 and 13, the odd pad goes to the end.
  cases.push_back({{1, 3, 5, 6}, {3, 2, 3, 3}, 1, attrs({{"strides", V{2, 2}}, {"auto_pad", std::string("SAME_UPPER")}}),
                   {{2, 2}, {1, 1}, {0, 0}, {1, 1}}, {1, 2, 10, 12}});
  cases.push_back({{1, 3, 5, 6}, {3, 2, 3, 3}, 1, attrs({{"strides", V{2, 2}}, {"auto_pad", std::string("SAME_LOWER")}}),
                   {{2, 2}, {1, 1}, {1, 1}, {0, 0}}, {1, 2, 10, 12}});
  cases.push_back({{2, 3, 9}, {3, 5, 4}, 1, attrs({{"strides", V{3}}, {"pads", V{1, 2}}}), {{3}, {1}, {1}, {2}}, {2, 5, 25}});
  uint32_t seed = 40;
  for (const auto& c : cases) {
    SCOPED_TRACE("ConvTranspose X " + dimsToString(c.x) + " W " + dimsToString(c.w));
    const auto x = randomTensor(c.x, ++seed), w = randomTensor(c.w, ++seed);
    const auto b = randomTensor({c.w[1] * c.group}, ++seed);
    auto got = runOp(OpKind::kConvTranspose, c.attrs, {x, w, b});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    expectClose((*got)[0], c.out, referenceConvTranspose(x, w, b, c.group, c.win, c.out));
  }
}

std::vector<double> referenceMatMul(const HostTensor& a, const HostTensor& b, Dims& outDims) {
  Dims ad = a.dims, bd = b.dims;
  const bool av = ad.size() == 1, bv = bd.size() == 1;
  if (av) ad.insert(ad.begin(), 1);
  if (bv) bd.push_back(1);
  const size_t br = std::max(ad.size(), bd.size()) - 2;
  Dims pa(br - (ad.size() - 2), 1), pb(br - (bd.size() - 2), 1);
  pa.insert(pa.end(), ad.begin(), ad.end() - 2);
  pb.insert(pb.end(), bd.begin(), bd.end() - 2);
  Dims batch(br);
  for (size_t i = 0; i < br; ++i) batch[i] = std::max(pa[i], pb[i]);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  std::vector<double> y;
  for (int64_t bf = 0; bf < elementCount(batch); ++bf) {
    auto idx = unravel(bf, batch);
    std::vector<int64_t> ia(br), ib(br);
    for (size_t i = 0; i < br; ++i) {
      ia[i] = pa[i] == 1 ? 0 : idx[i];
      ib[i] = pb[i] == 1 ? 0 : idx[i];
    }
    const int64_t oa = ravel(ia, pa) * m * k, ob = ravel(ib, pb) * k * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) acc += static_cast<double>(a.data[oa + i * k + q]) * b.data[ob + q * n + j];
        y.push_back(acc);
      }
    }
  }
  outDims = batch;
  if (!av) outDims.push_back(m);
  if (!bv) outDims.push_back(n);
  return y;
}

TEST(LinalgMatMul, NumpySemantics) {
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{7, 13}, {13, 5}},       {{13}, {13, 5}},           {{7, 13}, {13}},        {{13}, {13}},
      {{3, 7, 13}, {13, 5}},    {{2, 3, 7, 13}, {3, 13, 5}}, {{2, 1, 7, 4}, {1, 3, 4, 6}},
      {{4, 5}, {2, 5, 3}},      {{1, 1, 1}, {5, 1, 2}},     {{2, 3, 6}, {6}},        {{6}, {2, 3, 6, 2}},
  };
  uint32_t seed = 60;
  for (const auto& [ad, bd] : shapes) {
    SCOPED_TRACE("MatMul " + dimsToString(ad) + " x " + dimsToString(bd));
    const auto a = randomTensor(ad, ++seed), b = randomTensor(bd, ++seed);
    auto got = runOp(OpKind::kMatMul, {}, {a, b});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    Dims outDims;
    const auto want = referenceMatMul(a, b, outDims);
    expectClose((*got)[0], outDims, want);
  }
}

TEST(LinalgGemm, AttributesAndBroadcastC) {
  struct Case {
    int64_t m, n, k, transA, transB;
    float alpha, beta;
    std::optional<Dims> c;
  };
  const std::vector<Case> cases = {
      {7, 5, 13, 0, 0, 1.0f, 1.0f, Dims{7, 5}}, {7, 5, 13, 1, 0, 0.5f, 2.0f, Dims{5}},
      {7, 5, 13, 0, 1, 1.5f, -1.0f, Dims{7, 1}}, {3, 9, 4, 1, 1, 1.0f, 0.25f, Dims{}},
      {3, 9, 4, 1, 1, 1.0f, 0.25f, Dims{1, 9}}, {1, 1000, 512, 0, 1, 1.0f, 1.0f, Dims{1000}},
      {6, 4, 3, 0, 0, 2.0f, 1.0f, std::nullopt}, {6, 4, 3, 0, 0, 1.0f, 0.0f, Dims{6, 4}},
  };
  uint32_t seed = 80;
  for (const auto& c : cases) {
    SCOPED_TRACE("Gemm m" + std::to_string(c.m) + " n" + std::to_string(c.n) + " transA" +
                 std::to_string(c.transA) + " transB" + std::to_string(c.transB));
    const auto a = randomTensor(c.transA ? Dims{c.k, c.m} : Dims{c.m, c.k}, ++seed);
    const auto b = randomTensor(c.transB ? Dims{c.n, c.k} : Dims{c.k, c.n}, ++seed);
    std::optional<HostTensor> cc;
    if (c.c) cc = randomTensor(*c.c, ++seed);
    ir::Attributes attrs;
    attrs.set("transA", c.transA);
    attrs.set("transB", c.transB);
    attrs.set("alpha", c.alpha);
    attrs.set("beta", c.beta);
    auto got = runOp(OpKind::kGemm, attrs, {a, b, cc});
    ASSERT_TRUE(got.hasValue()) << got.status().toString();
    std::vector<double> want;
    for (int64_t i = 0; i < c.m; ++i) {
      for (int64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < c.k; ++q) {
          const float av = c.transA ? a.data[q * c.m + i] : a.data[i * c.k + q];
          const float bv = c.transB ? b.data[j * c.k + q] : b.data[q * c.n + j];
          acc += static_cast<double>(av) * bv;
        }
        double cv = 0;
        if (cc) {
          const Dims& d = cc->dims;
          const int64_t rows = d.size() == 2 ? d[0] : 1, cols = d.empty() ? 1 : d.back();
          cv = cc->data[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
        }
        want.push_back(c.alpha * acc + c.beta * cv);
      }
    }
    expectClose((*got)[0], {c.m, c.n}, want);
  }
}

// Pools from the definition; `out` and the pads come from the case (hand-computed, ceil_mode included).
std::vector<double> referencePool(const HostTensor& x, bool isMax, bool includePad, const Window& win,
                                  const Dims& kernel, const Dims& outDims) {
  const size_t r = kernel.size();
  std::vector<double> y(static_cast<size_t>(elementCount(outDims)));
  for (size_t f = 0; f < y.size(); ++f) {
    const auto o = unravel(static_cast<int64_t>(f), outDims);
    double best = -INFINITY, sum = 0;
    int64_t count = 0, padded = 0;
    for (int64_t kf = 0; kf < elementCount(kernel); ++kf) {
      const auto k = unravel(kf, kernel);
      std::vector<int64_t> xi{o[0], o[1]};
      bool inside = true, inPadded = true;
      for (size_t a = 0; a < r; ++a) {
        const int64_t pos = o[2 + a] * win.strides[a] - win.padsBegin[a] + k[a] * win.dilations[a];
        inside = inside && pos >= 0 && pos < x.dims[2 + a];
        inPadded = inPadded && pos >= -win.padsBegin[a] && pos < x.dims[2 + a] + win.padsEnd[a];
        xi.push_back(pos);
      }
      padded += inPadded;
      if (!inside) continue;
      const double v = x.data[ravel(xi, x.dims)];
      best = std::max(best, v);
      sum += v;
      ++count;
    }
    y[f] = isMax ? best : sum / static_cast<double>(includePad ? padded : count);
  }
  return y;
}

TEST(LinalgPool, MaxAndAverage) {
  struct Case {
    Dims x, kernel;
    Window win;
    int64_t ceil;
    Dims out;
    std::string autoPad = "NOTSET";
  };
  const std::vector<Case> cases = {
      {{1, 3, 7, 9}, {3, 3}, plain(2, 2, 1, 1), 0, {1, 3, 4, 5}},
      {{2, 2, 13, 11}, {2, 3}, {{2, 2}, {1, 1}, {0, 1}, {1, 1}}, 0, {2, 2, 7, 6}},
      // ceil_mode: 5 with k2 s2 -> 3 windows (last one clipped); with pads 1 the 4th would start in the end pad.
      {{1, 2, 5, 5}, {2, 2}, plain(2, 2), 1, {1, 2, 3, 3}},
      {{1, 2, 6, 6}, {3, 3}, plain(2, 2, 1, 1), 1, {1, 2, 4, 4}},
      {{1, 2, 5, 5}, {3, 3}, plain(2, 2, 1, 1), 1, {1, 2, 3, 3}},
      {{1, 2, 9, 8}, {2, 2}, {{1, 2}, {2, 3}, {1, 0}, {0, 1}}, 0, {1, 2, 8, 3}},  // dilations
      {{2, 3, 11}, {3}, {{2}, {1}, {1}, {1}}, 1, {2, 3, 6}},
      {{1, 2, 4, 5, 6}, {2, 2, 3}, {{2, 1, 2}, {1, 1, 1}, {0, 1, 1}, {1, 0, 1}}, 0, {1, 2, 2, 5, 3}},
      {{1, 3, 7, 10}, {3, 3}, {{2, 3}, {1, 1}, {1, 1}, {1, 1}}, 0, {1, 3, 4, 4}, "SAME_UPPER"},
      {{1, 3, 7, 10}, {2, 2}, {{2, 3}, {1, 1}, {0, 0}, {1, 1}}, 0, {1, 3, 4, 4}, "SAME_UPPER"},
      {{1, 3, 7, 10}, {2, 2}, {{2, 3}, {1, 1}, {1, 1}, {0, 0}}, 0, {1, 3, 4, 4}, "SAME_LOWER"},
      {{1, 64, 112, 112}, {3, 3}, plain(2, 2, 1, 1), 0, {1, 64, 56, 56}},  // ResNet stem pool
  };
  uint32_t seed = 100;
  for (const auto& c : cases) {
    const auto x = randomTensor(c.x, ++seed);
    for (OpKind op : {OpKind::kMaxPool, OpKind::kAveragePool}) {
      for (int64_t includePad : {0, 1}) {
        if (op == OpKind::kMaxPool && includePad) continue;
        SCOPED_TRACE((op == OpKind::kMaxPool ? "MaxPool X " : "AveragePool X ") + dimsToString(c.x) +
                     " include_pad " + std::to_string(includePad) + " ceil " + std::to_string(c.ceil) + " " + c.autoPad);
        if (op == OpKind::kAveragePool && c.win.dilations != std::vector<int64_t>(c.kernel.size(), 1)) continue;
        ir::Attributes attrs = convAttrs(c.win, 1, c.autoPad);
        attrs.erase("group");
        attrs.set("kernel_shape", c.kernel);
        attrs.set("ceil_mode", c.ceil);
        if (op == OpKind::kAveragePool) attrs.set("count_include_pad", includePad);
        auto got = runOp(op, attrs, {x});
        ASSERT_TRUE(got.hasValue()) << got.status().toString();
        expectClose((*got)[0], c.out, referencePool(x, op == OpKind::kMaxPool, includePad, c.win, c.kernel, c.out));
      }
    }
  }
}

TEST(LinalgPool, Global) {
  for (const Dims& d : {Dims{2, 3, 7, 9}, Dims{1, 5, 13}, Dims{1, 2, 3, 4, 5}, Dims{1, 2048, 7, 7}}) {
    SCOPED_TRACE(dimsToString(d));
    const auto x = randomTensor(d, 7);
    Dims outDims = d;
    for (size_t i = 2; i < d.size(); ++i) outDims[i] = 1;
    const int64_t planes = d[0] * d[1], size = elementCount(d) / planes;
    std::vector<double> wantAvg, wantMax;
    for (int64_t p = 0; p < planes; ++p) {
      double s = 0, mx = -INFINITY;
      for (int64_t i = 0; i < size; ++i) {
        s += x.data[p * size + i];
        mx = std::max<double>(mx, x.data[p * size + i]);
      }
      wantAvg.push_back(s / static_cast<double>(size));
      wantMax.push_back(mx);
    }
    auto avg = runOp(OpKind::kGlobalAveragePool, {}, {x});
    ASSERT_TRUE(avg.hasValue()) << avg.status().toString();
    expectClose((*avg)[0], outDims, wantAvg);
    auto mx = runOp(OpKind::kGlobalMaxPool, {}, {x});
    ASSERT_TRUE(mx.hasValue()) << mx.status().toString();
    expectClose((*mx)[0], outDims, wantMax);
  }
}

Status statusOf(OpKind op, const ir::Attributes& attrs, const std::vector<std::optional<HostTensor>>& inputs,
                int outputs = 1) {
  return runOp(op, attrs, inputs, outputs).status();
}

TEST(LinalgErrors, ReportedAsValuesWithThePlace) {
  const auto x = randomTensor({1, 4, 6, 6}, 1);
  ir::Attributes group3;
  group3.set("group", int64_t{3});
  Status s = statusOf(OpKind::kConv, group3, {x, randomTensor({6, 2, 3, 3}, 2)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("node 'n0' (Conv)"), std::string::npos) << s.message();

  ir::Attributes badKernel;
  badKernel.set("kernel_shape", std::vector<int64_t>{5, 5});
  s = statusOf(OpKind::kConv, badKernel, {x, randomTensor({2, 4, 3, 3}, 2)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("kernel_shape"), std::string::npos) << s.message();

  ir::Attributes badPads;
  badPads.set("pads", std::vector<int64_t>{1, 1});
  s = statusOf(OpKind::kConv, badPads, {x, randomTensor({2, 4, 3, 3}, 2)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("'pads'"), std::string::npos) << s.message();

  ir::Attributes badAutoPad;
  badAutoPad.set("auto_pad", std::string("SAME"));
  EXPECT_EQ(statusOf(OpKind::kConv, badAutoPad, {x, randomTensor({2, 4, 3, 3}, 2)}).code(), StatusCode::kInvalidModel);

  // Kernel larger than the padded input.
  EXPECT_EQ(statusOf(OpKind::kConv, {}, {x, randomTensor({2, 4, 7, 3}, 2)}).code(), StatusCode::kInvalidModel);
  ir::Attributes zeroStride;
  zeroStride.set("strides", std::vector<int64_t>{0, 1});
  EXPECT_EQ(statusOf(OpKind::kConv, zeroStride, {x, randomTensor({2, 4, 3, 3}, 2)}).code(), StatusCode::kInvalidModel);

  ir::Attributes pool;
  pool.set("kernel_shape", std::vector<int64_t>{2, 2});
  s = statusOf(OpKind::kMaxPool, pool, {x}, 2);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Indices"), std::string::npos) << s.message();
  EXPECT_EQ(statusOf(OpKind::kMaxPool, {}, {x}).code(), StatusCode::kInvalidModel);  // kernel_shape missing

  s = statusOf(OpKind::kGemm, {}, {randomTensor({3, 4}, 1), randomTensor({5, 6}, 2)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidModel);
  EXPECT_NE(s.message().find("K=4"), std::string::npos) << s.message();
  EXPECT_EQ(statusOf(OpKind::kGemm, {}, {randomTensor({3, 4}, 1), randomTensor({4, 6}, 2), randomTensor({3, 2}, 3)}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(statusOf(OpKind::kMatMul, {}, {randomTensor({2, 3, 4}, 1), randomTensor({3, 4, 5}, 2)}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(statusOf(OpKind::kMatMul, {}, {randomTensor({3, 4}, 1), randomTensor({5, 6}, 2)}).code(),
            StatusCode::kInvalidModel);

  ir::Attributes ct;
  ct.set("output_shape", std::vector<int64_t>{40, 40});
  EXPECT_EQ(statusOf(OpKind::kConvTranspose, ct, {x, randomTensor({4, 2, 3, 3}, 2)}).code(), StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace kiln
