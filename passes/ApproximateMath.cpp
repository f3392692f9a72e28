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
// With `scalef` (AVX-512), exp on 16 lanes takes a shorter form: upstream's
// builds 2^n from integer ops and guards overflow, underflow and NaN with
// four compares and selects, 25 ops in all; vscalefps applies 2^n with
// IEEE overflow to inf, gradual underflow to 0 and NaN passing through, so
// the form below needs 15. It is the scan's exp(Δ·A), 16 per step of 16
// channels, and attention's and SiLU's.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "passes/Passes.h.inc"

namespace {

/// exp(x) = e^r · 2^n with n = roundeven(x · log2 e) and r = x − n · ln 2
/// (ln 2 in two parts, so r is exact to f32 rounding), |r| ≤ ln 2 / 2: e^r
/// by its Taylor polynomial of degree 7 (truncation error below 7e-9
/// relative) and 2^n by vscalefps. x is clamped to [−104, 104] first, past
/// which the result is already 0 or inf, so that ±inf do not make r NaN;
/// the compares keep NaN, and NaN propagates through r.
struct ExpByScalef : OpRewritePattern<math::ExpOp> {
  ExpByScalef(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(math::ExpOp op,
                                PatternRewriter &rewriter) const override {
    auto type = dyn_cast<VectorType>(op.getType());
    if (!type || type.getShape() != ArrayRef<int64_t>{16} ||
        !type.getElementType().isF32())
      return failure();
    Location loc = op.getLoc();
    auto splat = [&](double v) -> Value {
      return arith::ConstantOp::create(rewriter, loc,
                                       DenseElementsAttr::get(type, float(v)));
    };
    auto fma = [&](Value a, Value b, Value c) -> Value {
      return math::FmaOp::create(rewriter, loc, a, b, c);
    };
    Value x = op.getOperand();
    auto clamp = [&](arith::CmpFPredicate beyond, double limit) {
      Value bound = splat(limit);
      x = arith::SelectOp::create(
          rewriter, loc, arith::CmpFOp::create(rewriter, loc, beyond, x, bound),
          bound, x);
    };
    clamp(arith::CmpFPredicate::OLT, -104.0);
    clamp(arith::CmpFPredicate::OGT, 104.0);
    Value n = math::RoundEvenOp::create(
        rewriter, loc,
        arith::MulFOp::create(rewriter, loc, x, splat(1.4426950408889634)));
    // ln 2 = 0.693359375 − 2.12194440e-4: the first part has 11 bits, so
    // n times it is exact for |n| < 2^13.
    Value r = fma(n, splat(-0.693359375), x);
    r = fma(n, splat(2.12194440e-4), r);
    Value p = splat(1.0 / 5040);
    for (double c : {1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0})
      p = fma(p, r, splat(c));
    Value allLanes = arith::ConstantOp::create(rewriter, loc,
                                               rewriter.getI16IntegerAttr(-1));
    Value currentRounding =
        arith::ConstantOp::create(rewriter, loc, rewriter.getI32IntegerAttr(4));
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, type, rewriter.getStringAttr("llvm.x86.avx512.mask.scalef.ps.512"),
        ValueRange{p, n, p, allLanes, currentRounding});
    return success();
  }
};

struct ApproximateMathPass
    : public impl::ApproximateMathBase<ApproximateMathPass> {
  using Base::Base;

  void runOnOperation() override {
    auto expanded = [](StringRef name) {
      return llvm::is_contained(
          {math::ExpOp::getOperationName(), math::ExpM1Op::getOperationName(),
           math::LogOp::getOperationName(), math::Log1pOp::getOperationName(),
           math::TanhOp::getOperationName(), math::ErfOp::getOperationName()},
          name);
    };
    RewritePatternSet patterns(&getContext());
    if (scalef)
      patterns.add<ExpByScalef>(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, expanded);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
