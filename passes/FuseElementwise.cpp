//===- FuseElementwise.cpp - elementwise fusion without recomputation -----===//
#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "passes/Passes.h.inc"

namespace {

struct FuseElementwisePass
    : public impl::FuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::ControlFusionFn control = [](OpOperand *operand) {
      auto consumer = dyn_cast<linalg::LinalgOp>(operand->getOwner());
      // In a consumer with reductions the producer would be recomputed for
      // every point of the reduced-over output.
      if (!consumer || consumer.getNumReductionLoops() != 0)
        return false;
      // A producer with other users stays materialised, so fusing it only
      // moves its reads into the consumer: free for a producer of one input
      // (a cast, an activation), but a residual chain r' = r + f(r) would
      // re-add every earlier layer's output in each later layer.
      auto producer = operand->get().getDefiningOp<linalg::LinalgOp>();
      if (!producer || operand->get().hasOneUse())
        return true;
      return llvm::count_if(producer.getDpsInputOperands(), [](OpOperand *in) {
               return isa<ShapedType>(in->get().getType());
             }) <= 1;
    };
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
