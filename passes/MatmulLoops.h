//===- MatmulLoops.h - loop shapes shared by the matmul kernels -*- C++ -*-===//
//
// The f32 and VNNI matmul kernels (VectorizeMatmuls.cpp,
// VectorizeVnniMatmuls.cpp) walk their operands the same ways: x rows in
// tiles and then singly, K in chunks and then a tail, and a routed expert's
// slots gathered into a list.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_PASSES_MATMULLOOPS_H
#define CHIMERA_PASSES_MATMULLOOPS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"

namespace mlir::chimera {

/// Marks `loop` as a grid whose iterations are already work items
/// (`chimera.block_size` = 1: chimera-outline-kernels does not block them)
/// and names its kernel for what it computes (`chimera.kernel_tag`).
void markWorkItems(Operation *loop, StringRef tag);

/// Whether `map` is (d_dims[0], d_dims[1], ...).
bool isDims(AffineMap map, ArrayRef<unsigned> dims);

/// body(m0, tile) for m0 over [0, count) in steps of `tile` while a whole
/// tile fits, then body(m0, count % tile) once for the rest.
void forTilesThenRest(OpBuilder &b, Location loc, Value count, int64_t tile,
                      function_ref<void(OpBuilder &, Value, int64_t)> body);

/// body(k0, len) over [0, total) in chunks of `chunk` (a loop when there
/// are several, inline when one), then the tail of total % chunk.
void forChunks(OpBuilder &b, Location loc, int64_t total, int64_t chunk,
               function_ref<void(OpBuilder &, Value, int64_t)> body);

/// The slots routed to one expert, for one grid item: an alloca_scope
/// opened at the builder holds `list`, the slots s in [0, slots) with
/// ids[s] == expert in order, and `count` of them. Build the item with
/// `inside` and end it with a memref.alloca_scope.return.
struct SlotList {
  OpBuilder inside;
  Value list, count;
};
SlotList collectSlots(OpBuilder &b, Location loc, Value ids, Value slots,
                      Value expert);

/// The x rows and out rows of tile rows [m0, m0 + count): the rows
/// themselves, or, through a routed item's slot list, out row rowList[p]
/// and x row rowList[p] / xRowDiv.
void tileRows(OpBuilder &b, Location loc, Value m0, int64_t count,
              Value rowList, int64_t xRowDiv, SmallVectorImpl<Value> &xRows,
              SmallVectorImpl<Value> &outRows);

/// The fill of zeros into `op`'s init right before it, if any. A dense
/// matmul that writes every output element can drop it and store its first
/// K chunk instead of adding it: the fill is a whole pass over the output
/// (5-8% of a llama-125m prefill), and the first chunk's loads another.
linalg::FillOp zeroFillOfInit(linalg::LinalgOp op);

/// Whether the K chunk starting at `k0` is the first one into an output
/// whose zero fill was dropped: null when `zeroInit` is false (always add).
Value isFirstChunk(OpBuilder &b, Location loc, bool zeroInit, Value k0);

/// out[at] += value (a vector or a scalar), or out[at] = value where
/// `first` (from isFirstChunk) holds.
void addInto(OpBuilder &b, Location loc, Value value, Value out, ValueRange at,
             Value first);

/// Whether `op` has the routed expert matmul's maps, (t, j, i, x) with ids
/// (t, j) and out (t, j, i): the input per token (t, x) gives false, per
/// slot (t, j, x) true, anything else none.
std::optional<bool> routedInputPerSlot(linalg::GenericOp op);

/// The 2-D views a routed expert matmul works on: x [T(·J), K] (the input
/// per token, or per slot when `inPerSlot`), out [T·J, N], the routed
/// expert ids flattened to [T·J], and that slot count.
struct RoutedViews {
  Value x, out, ids, slots;
};
RoutedViews routedViews(OpBuilder &b, Location loc, Value in, Value ids,
                        Value out, bool inPerSlot);

/// stack[expert] of a static [E, ...] buffer, as a rank-reduced view.
Value expertSlice(OpBuilder &b, Location loc, Value stack, Value expert);

} // namespace mlir::chimera

#endif // CHIMERA_PASSES_MATMULLOOPS_H
