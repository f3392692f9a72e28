//===- ApproximateMath.cpp - inline polynomials for transcendentals -------===//
//
// `math.exp` and friends otherwise become calls to libm: one opaque call per
// element that LLVM cannot vectorise, which made `expf` a third of a Mamba
// prefill (the scan's exp(Δ·A) per state element) and the largest cost of
// softmax and SiLU. Upstream's polynomial approximations are plain
// arith/math ops that vectorise with the loop around them. Only functions
// whose approximation covers the whole f32 range are expanded; sin and cos
// (RoPE angles reach thousands of radians) keep libm.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "passes/Passes.h.inc"

namespace {

struct ApproximateMathPass
    : public impl::ApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    auto expanded = [](StringRef name) {
      return llvm::is_contained(
          {math::ExpOp::getOperationName(), math::ExpM1Op::getOperationName(),
           math::LogOp::getOperationName(), math::Log1pOp::getOperationName(),
           math::TanhOp::getOperationName(), math::ErfOp::getOperationName()},
          name);
    };
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, expanded);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
