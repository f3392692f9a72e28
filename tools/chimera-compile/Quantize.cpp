//===- Quantize.cpp - weights into the #chimera.quant formats -------------===//
#include "tools/chimera-compile/Quantize.h"

#include <algorithm>
#include <cmath>

using namespace chimera;
using mlir::chimera::QuantScheme;

namespace {

/// The E2M1 values in code order (bit 3 is the sign).
constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

uint8_t nearestE2M1(float v) {
  float a = std::fabs(v);
  int best = 0;
  for (int i = 1; i < 8; ++i)
    if (std::fabs(kE2M1[i] - a) < std::fabs(kE2M1[best] - a))
      best = i;
  return uint8_t(best | (v < 0 && best ? 8 : 0));
}

void putNibble(std::vector<uint8_t> &codes, int64_t row, int64_t k,
               int64_t col, uint8_t nibble) {
  uint8_t &byte = codes[size_t(row * (k / 2) + col / 2)];
  byte = col % 2 ? uint8_t((byte & 0x0F) | (nibble << 4))
                 : uint8_t((byte & 0xF0) | (nibble & 0x0F));
}

} // namespace

QuantizedMatrix chimera::quantize(QuantScheme scheme, int64_t group,
                                  const float *w, int64_t n, int64_t k) {
  QuantizedMatrix q;
  if (scheme == QuantScheme::Int8) {
    q.codes.resize(size_t(n * k));
    q.scales.resize(size_t(n));
    for (int64_t r = 0; r < n; ++r) {
      float amax = 0;
      for (int64_t c = 0; c < k; ++c)
        amax = std::max(amax, std::fabs(w[r * k + c]));
      float s = amax / 127.0f;
      q.scales[r] = s;
      for (int64_t c = 0; c < k; ++c) {
        float v = s > 0 ? std::nearbyint(w[r * k + c] / s) : 0.0f;
        q.codes[size_t(r * k + c)] =
            uint8_t(int8_t(std::clamp(v, -127.0f, 127.0f)));
      }
    }
    return q;
  }

  int64_t groups = k / group;
  q.codes.assign(size_t(n * (k / 2)), 0);
  if (scheme == QuantScheme::MxFp4)
    q.scaleBytes.resize(size_t(n * groups));
  else
    q.scales.resize(size_t(n * groups));
  if (scheme == QuantScheme::Fp4M0E4)
    q.offsets.resize(size_t(n * groups));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      const float *v = w + r * k + g * group;
      size_t at = size_t(r * groups + g);
      float amax = 0, lo = v[0], hi = v[0];
      for (int64_t i = 0; i < group; ++i) {
        amax = std::max(amax, std::fabs(v[i]));
        lo = std::min(lo, v[i]);
        hi = std::max(hi, v[i]);
      }
      for (int64_t i = 0; i < group; ++i) {
        int64_t col = g * group + i;
        uint8_t code = 0;
        switch (scheme) {
        case QuantScheme::Int4: {
          // Symmetric: q in [-7, 7] of the range [-8, 7].
          float s = amax / 7.0f;
          q.scales[at] = s;
          float x = s > 0 ? std::nearbyint(v[i] / s) : 0.0f;
          code = uint8_t(int8_t(std::clamp(x, -8.0f, 7.0f)) & 0x0F);
          break;
        }
        case QuantScheme::Fp4M0E4: {
          // w = s * (1 + q/16) + o spans [lo, hi] for q in [0, 15].
          float s = (hi - lo) * 16.0f / 15.0f;
          q.scales[at] = s;
          q.offsets[at] = lo - s;
          float x = s > 0 ? std::nearbyint((v[i] - lo) / s * 16.0f) : 0.0f;
          code = uint8_t(std::clamp(x, 0.0f, 15.0f));
          break;
        }
        case QuantScheme::MxFp4: {
          // The shared exponent puts the largest element in E2M1's top
          // binade (OCP MX spec: floor(log2(amax)) - emax, emax = 2).
          int e = amax > 0 ? int(std::floor(std::log2(amax))) - 2 : -127;
          e = std::clamp(e, -127, 127);
          q.scaleBytes[at] = uint8_t(e + 127);
          code = nearestE2M1(std::ldexp(v[i], -e));
          break;
        }
        case QuantScheme::Int8:
          break;
        }
        putNibble(q.codes, r, k, col, code);
      }
    }
  return q;
}
