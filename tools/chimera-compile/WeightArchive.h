//===- WeightArchive.h - the weights file an artifact maps ------*- C++ -*-===//
//
// `weights.bin` holds every entry of a bound module's `chimera.weights`
// layout at its offset, in the layout the kernels read: converted to the
// entry's element type, quantised (`quant_part`), or transposed into
// panels (`panel`). The golden tests fill their weight buffer with it too.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TOOLS_CHIMERA_COMPILE_WEIGHTARCHIVE_H
#define CHIMERA_TOOLS_CHIMERA_COMPILE_WEIGHTARCHIVE_H

#include "frontends/hf/Checkpoint.h"

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

namespace chimera {

/// Writes the weight archive at `path`: every entry of the module's
/// `chimera.weights` layout, read from the checkpoint tensor it names (the
/// part of the name before any `:`), at its offset. Reads one tensor at a
/// time; runs of zeros are left as holes.
llvm::Error writeWeightArchive(mlir::ModuleOp module,
                               const hf::Checkpoint &ckpt,
                               llvm::StringRef path);

/// The same from the module's `chimera.weights_size` and `chimera.weights`
/// attributes alone: attributes are immutable, so this may run on another
/// thread while the module itself is translated.
llvm::Error writeWeightArchive(mlir::IntegerAttr size, mlir::ArrayAttr layout,
                               const hf::Checkpoint &ckpt,
                               llvm::StringRef path);

} // namespace chimera

#endif // CHIMERA_TOOLS_CHIMERA_COMPILE_WEIGHTARCHIVE_H
