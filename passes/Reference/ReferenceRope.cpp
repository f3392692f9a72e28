//===- ReferenceRope.cpp - rotary position embedding ----------------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// Pair (a, c) rotates by θ_j = pos · theta^(-2j/r):
/// out[a] = x[a] cos − x[c] sin, out[c] = x[c] cos + x[a] sin.
struct LowerRope : OpRewritePattern<RopeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RopeOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    Type elt = op.getType().getElementType();
    Type f32 = rewriter.getF32Type();
    int64_t headDim = op.getType().getDimSize(3);
    int64_t rotary = op.getRotaryDim().value_or(headDim);
    int64_t half = rotary / 2;
    bool interleaved = op.getStyle() == RopeStyle::Interleaved;

    // inv_freq as HF computes it: 1 / theta^(2j / r), rounded to f32.
    SmallVector<float> invFreq;
    double theta = op.getTheta().convertToDouble();
    for (int64_t j = 0; j < half; ++j)
      invFreq.push_back(float(1.0 / std::pow(theta, double(2 * j) / rotary)));
    Value freqs = arith::ConstantOp::create(
        rewriter, loc,
        DenseElementsAttr::get(RankedTensorType::get({half}, f32),
                               ArrayRef<float>(invFreq)));

    // cos and sin of every (row, token, pair) once, not once per head.
    SmallVector<OpFoldResult> tableSizes = sizesOf(rewriter, loc, op.getPositions());
    tableSizes.push_back(rewriter.getIndexAttr(half));
    auto id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
    auto table = [&](bool isCos) {
      return generic(
          rewriter, loc, ValueRange{op.getPositions(), freqs},
          emptyTensor(rewriter, loc, tableSizes, f32),
          {dimsMap(ctx, 3, {0, 1}), dimsMap(ctx, 3, {2}), id3}, iterators(3),
          [&](OpBuilder &b, Location l, ValueRange args) {
            Value pos = arith::SIToFPOp::create(b, l, f32, args[0]);
            Value angle = arith::MulFOp::create(b, l, pos, args[1]);
            Value v = isCos ? Value(math::CosOp::create(b, l, angle))
                            : Value(math::SinOp::create(b, l, angle));
            linalg::YieldOp::create(b, l, v);
          });
    };
    Value cosTable = table(true), sinTable = table(false);

    auto id = AffineMap::getMultiDimIdentityMap(4, ctx);
    Value result = generic(
        rewriter, loc, ValueRange{x},
        emptyTensor(rewriter, loc, sizesOf(rewriter, loc, x), elt),
        {id, id}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value d = linalg::IndexOp::create(b, l, 3);
          auto cIdx = [&](int64_t v) { return indexConst(b, l, v); };
          Value inRotary = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                                 d, cIdx(rotary));
          // Frequency index j, partner lane and the sign of the partner term.
          Value j, partner, first;
          if (interleaved) {
            j = arith::DivUIOp::create(b, l, d, cIdx(2));
            Value odd = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::ne,
                arith::RemUIOp::create(b, l, d, cIdx(2)), cIdx(0));
            first = arith::XOrIOp::create(
                b, l, odd, arith::ConstantIntOp::create(b, l, 1, 1));
            partner = arith::SelectOp::create(
                b, l, odd, arith::SubIOp::create(b, l, d, cIdx(1)),
                arith::AddIOp::create(b, l, d, cIdx(1)));
          } else {
            first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, d,
                                          cIdx(half));
            j = arith::SelectOp::create(
                b, l, first, d, arith::SubIOp::create(b, l, d, cIdx(half)));
            partner = arith::SelectOp::create(
                b, l, first, arith::AddIOp::create(b, l, d, cIdx(half)),
                arith::SubIOp::create(b, l, d, cIdx(half)));
          }
          // Lanes past the rotary dims read themselves and pass through.
          partner = arith::SelectOp::create(b, l, inRotary, partner, d);
          j = arith::SelectOp::create(b, l, inRotary, j, cIdx(0));
          Value bi = linalg::IndexOp::create(b, l, 0);
          Value li = linalg::IndexOp::create(b, l, 1);
          Value hi = linalg::IndexOp::create(b, l, 2);
          Value other = castFloat(
              b, l, tensor::ExtractOp::create(b, l, x, ValueRange{bi, li, hi, partner}),
              f32);
          Value self = castFloat(b, l, args[0], f32);
          Value cos = tensor::ExtractOp::create(b, l, cosTable,
                                                ValueRange{bi, li, j});
          Value sin = tensor::ExtractOp::create(b, l, sinTable,
                                                ValueRange{bi, li, j});
          Value otherSin = arith::MulFOp::create(b, l, other, sin);
          Value signed_ = arith::SelectOp::create(
              b, l, first, arith::NegFOp::create(b, l, otherSin), otherSin);
          Value rotated = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, self, cos), signed_);
          Value out = arith::SelectOp::create(b, l, inRotary, rotated, self);
          linalg::YieldOp::create(b, l, castFloat(b, l, out, elt));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceRopePatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRope>(patterns.getContext());
}
