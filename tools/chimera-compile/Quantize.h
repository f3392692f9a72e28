//===- Quantize.h - weights into the #chimera.quant formats -----*- C++ -*-===//
//
// The archive writer's side of `--quant`: a float matrix [N, K] becomes
// the stored codes and scales (and offsets) whose dequantisation is the
// formula of `#chimera.quant` (docs/dialect.md). Round to nearest; scales
// from each row's (int8) or group's absolute maximum, or its range
// (fp4_m0e4).
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TOOLS_CHIMERA_COMPILE_QUANTIZE_H
#define CHIMERA_TOOLS_CHIMERA_COMPILE_QUANTIZE_H

#include "dialects/chimera/ChimeraAttrs.h"

#include <cstdint>
#include <vector>

namespace chimera {

struct QuantizedMatrix {
  std::vector<uint8_t> codes;      // [N, K] (int8) or [N, K/2] (4-bit)
  std::vector<float> scales;       // [N] or [N, K/G]
  std::vector<uint8_t> scaleBytes; // mxfp4: E8M0 [N, K/32]
  std::vector<float> offsets;      // fp4_m0e4: [N, K/G]
};

QuantizedMatrix quantize(mlir::chimera::QuantScheme scheme, int64_t group,
                         const float *w, int64_t n, int64_t k);

} // namespace chimera

#endif // CHIMERA_TOOLS_CHIMERA_COMPILE_QUANTIZE_H
