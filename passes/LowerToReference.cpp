//===- LowerToReference.cpp - chimera ops to their reference formulas -----===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_LOWERTOREFERENCE
#include "passes/Passes.h.inc"

namespace {
struct LowerToReferencePass
    : public impl::LowerToReferenceBase<LowerToReferencePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateReferenceLinearPatterns(patterns);
    populateReferenceNormPatterns(patterns);
    populateReferenceRopePatterns(patterns);
    populateReferenceAttentionPatterns(patterns);
    populateReferenceCachePatterns(patterns);
    populateReferenceSsmPatterns(patterns);
    populateReferenceMoePatterns(patterns);
    populateReferenceDepthRoutePatterns(patterns);
    populateReferenceScalePatterns(patterns);
    populateReferenceImagePatterns(patterns);
    populateReferenceSamplePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();

    // `chimera.param` has no formula: its data comes from the weight archive.
    // Everything else must be gone.
    WalkResult left = getOperation()->walk([](Operation *op) {
      if (op->getDialect() &&
          op->getDialect()->getNamespace() ==
              ChimeraDialect::getDialectNamespace() &&
          !isa<ParamOp, ParamStackOp>(op)) {
        op->emitOpError("has no reference lowering for these operand types");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
} // namespace mlir::chimera
