//===- Outputs.h - files chimera-run writes ----------------------*- C++ -*-===//
//
// Every file is written atomically: a temporary beside it, then a rename.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TOOLS_CHIMERA_RUN_OUTPUTS_H
#define CHIMERA_TOOLS_CHIMERA_RUN_OUTPUTS_H

#include <cstdint>
#include <string>
#include <vector>

namespace chimera::tools {

/// One tensor of a safetensors file: `dtype` is "F32" or "I64".
struct DumpTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  const void *data;
  size_t bytes;
};

/// Writes `tensors` (sorted by name, as the reference's files are).
void writeSafetensors(const std::string &path, std::vector<DumpTensor> tensors);

/// Writes `images` ([count, channels, h, w] in [0, 1]) side by side as one
/// 8-bit PNG (grey for 1 channel, RGB for 3), the grid the reference's
/// `torchvision.utils.make_grid` would give for one row.
void writePngGrid(const std::string &path, const float *images, int64_t count,
                  int64_t channels, int64_t h, int64_t w);

} // namespace chimera::tools

#endif // CHIMERA_TOOLS_CHIMERA_RUN_OUTPUTS_H
