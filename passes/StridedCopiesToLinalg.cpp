//===- StridedCopiesToLinalg.cpp - no runtime call for strided copies -----===//
#include "passes/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_STRIDEDCOPIESTOLINALG
#include "passes/Passes.h.inc"

namespace {

struct StridedCopyToLinalg : OpRewritePattern<memref::CopyOp> {
  StridedCopyToLinalg(MLIRContext *ctx, bool all)
      : OpRewritePattern(ctx), all(all) {}
  bool all;

  LogicalResult matchAndRewrite(memref::CopyOp op,
                                PatternRewriter &rewriter) const override {
    auto identity = [](Type t) {
      auto m = dyn_cast<MemRefType>(t);
      return m && m.getLayout().isIdentity();
    };
    if (!all && identity(op.getSource().getType()) &&
        identity(op.getTarget().getType()))
      return failure(); // becomes a memcpy
    rewriter.replaceOpWithNewOp<linalg::CopyOp>(op, op.getSource(),
                                                op.getTarget());
    return success();
  }
};

struct StridedCopiesToLinalgPass
    : public impl::StridedCopiesToLinalgBase<StridedCopiesToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<StridedCopyToLinalg>(&getContext(), all);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
