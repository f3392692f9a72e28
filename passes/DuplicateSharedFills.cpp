//===- DuplicateSharedFills.cpp - one zero-filled init per consumer -------===//
//
// Every linear layer accumulates into `linalg.fill(0)` of its output shape.
// CSE merges the fills of equal shapes (the k and v projections, or the
// same projection of every layer), and one-shot bufferization must then
// keep the filled buffer intact for the next reader: each consumer gets an
// alloc and a memref.copy of it (a host memcpy of the whole output, per
// linear layer). A fill is cheaper than that copy (it only writes), so each
// further use of a multi-use fill gets its own fill of a fresh empty
// tensor, which bufferizes in place.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_DUPLICATESHAREDFILLS
#include "passes/Passes.h.inc"

namespace {

struct DuplicateSharedFillsPass
    : public impl::DuplicateSharedFillsBase<DuplicateSharedFillsPass> {
  void runOnOperation() override {
    SmallVector<linalg::FillOp> fills;
    getOperation()->walk([&](linalg::FillOp fill) {
      if (fill.hasPureTensorSemantics() && !fill->getResult(0).hasOneUse() &&
          fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>())
        fills.push_back(fill);
    });
    for (linalg::FillOp fill : fills) {
      auto empty = fill.getOutputs()[0].getDefiningOp<tensor::EmptyOp>();
      Value result = fill->getResult(0);
      // The first user in program order keeps the original.
      SmallVector<OpOperand *> uses;
      for (OpOperand &use : result.getUses())
        uses.push_back(&use);
      OpOperand *keep = uses.front();
      for (OpOperand *use : uses)
        if (use->getOwner()->getBlock() == keep->getOwner()->getBlock() &&
            use->getOwner()->isBeforeInBlock(keep->getOwner()))
          keep = use;
      for (OpOperand *use : uses) {
        if (use == keep)
          continue;
        OpBuilder b(use->getOwner());
        Operation *dest = b.clone(*empty);
        IRMapping map;
        map.map(empty.getResult(), dest->getResult(0));
        use->set(b.clone(*fill, map)->getResult(0));
      }
    }
  }
};

} // namespace
} // namespace mlir::chimera
