//===- ForallToParallelLoops.cpp - scf.forall -> scf.parallel, tags kept --===//
//
// Upstream's conversion (scf::forallToParallelLoop) builds a new loop and
// drops the forall's discardable attributes; a kernel's tag
// (chimera.kernel_tag, set where FlashAttention and ChannelScan build their
// grids) must reach chimera-outline-kernels, which names kernels by it.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_FORALLTOPARALLELLOOPS
#include "passes/Passes.h.inc"

namespace {

struct ForallToParallelLoopsPass
    : public impl::ForallToParallelLoopsBase<ForallToParallelLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<scf::ForallOp> loops;
    getOperation()->walk([&](scf::ForallOp op) { loops.push_back(op); });
    IRRewriter rewriter(&getContext());
    for (scf::ForallOp forall : loops) {
      SmallVector<NamedAttribute> attrs(forall->getDiscardableAttrs());
      rewriter.setInsertionPoint(forall);
      scf::ParallelOp parallel;
      if (failed(scf::forallToParallelLoop(rewriter, forall, &parallel))) {
        forall.emitOpError("with results cannot become an scf.parallel; "
                           "bufferize first");
        return signalPassFailure();
      }
      for (NamedAttribute attr : attrs)
        parallel->setAttr(attr.getName(), attr.getValue());
    }
  }
};

} // namespace
} // namespace mlir::chimera
