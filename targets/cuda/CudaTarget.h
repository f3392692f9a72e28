//===- CudaTarget.h - CUDA SM targets ---------------------------*- C++ -*-===//
//
// `--target=cuda[:sm_XX]`: the kernels go through upstream's NVVM path
// (gpu -> nvvm -> LLVM NVPTX) to PTX for the chosen SM, embedded in the
// artifact; the runtime JIT-compiles it with the driver it loads.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TARGETS_CUDA_CUDATARGET_H
#define CHIMERA_TARGETS_CUDA_CUDATARGET_H

#include "passes/Passes.h"

#include "llvm/Support/Error.h"

namespace chimera::cuda {

/// "sm_80" (the default when `sm` is empty), "sm_86", "sm_89", "sm_90",
/// "sm_90a", "sm_100", "sm_120": the chip and the PTX version it needs.
llvm::Expected<mlir::chimera::KernelTarget> parseSm(llvm::StringRef sm);

} // namespace chimera::cuda

#endif // CHIMERA_TARGETS_CUDA_CUDATARGET_H
