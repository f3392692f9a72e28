//===- GpuItems.h - the grid-item shape of chimera's GPU kernels -*- C++ -*-===//
//
// `chimera-kernels-to-gpu` builds every kernel the same way: the operands'
// views rebuilt from an i32 parameter buffer, then one grid item per
// invocation. The passes that give items more than one invocation
// (workgroup reductions, tiled matmuls) read that shape back.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_PASSES_GPUITEMS_H
#define CHIMERA_PASSES_GPUITEMS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <optional>

namespace mlir::chimera {

/// Marks the loop over a reduction's iterations that
/// `chimera-gpu-cooperative-reductions` deals to a workgroup's lanes
/// round robin (`lane, lane + W, ...`), with the workgroup width W.
inline constexpr llvm::StringLiteral kLaneLoopAttr = "chimera.lane_loop";

/// Marks a gpu.func argument that reads another (the attribute's value:
/// its index) as vectors: the same buffer, bound once.
inline constexpr llvm::StringLiteral kAliasOfAttr = "chimera.alias_of";

/// The item loop `scf.for %i = id to min(id + 1, n)`, with `id` the
/// invocation's index `(block) * width + thread_id.x`.
struct ItemLoop {
  scf::ForOp loop;
  Value block; // the linear workgroup index
  Value count; // n, the launch's grid size (parameter word 0)
};
std::optional<ItemLoop> matchItemLoop(gpu::GPUFuncOp func, int64_t width);

/// The parameter buffer's layout, which `chimera-kernels-to-gpu` builds and
/// the runtime fills (runtime/device.c): word 0 is the grid size, then each
/// launch operand in order takes `parameterWords` words; a memref's are its
/// offset, its sizes and its strides, a scalar's its value.
int64_t parameterWords(Type t);
/// Within the words of a memref operand that start at `first`.
inline int64_t offsetWord(int64_t first) { return first; }
inline int64_t sizeWord(int64_t first, int64_t dim) { return first + 1 + dim; }
inline int64_t strideWord(int64_t first, int64_t rank, int64_t dim) {
  return first + 1 + rank + dim;
}

/// The parameter word `v` is read from (`index_cast(load params[c])`), if
/// it is one.
std::optional<int64_t> parameterWordOf(Value v, gpu::GPUFuncOp func);

/// A workgroup-memory buffer of `type`'s shape: a static alloc in the
/// workgroup address space (SPIR-V) or an attribution of `func` (NVVM).
Value workgroupBuffer(gpu::GPUFuncOp func, MemRefType type, bool alloc,
                      Location loc);

} // namespace mlir::chimera

#endif // CHIMERA_PASSES_GPUITEMS_H
