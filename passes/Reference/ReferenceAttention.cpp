//===- ReferenceAttention.cpp - attention with GQA and masks --------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// Index of the segment containing `pos` (i64): the number of segment ends
/// ≤ pos. In i32 (positions are far below 2^31): lavapipe's Vulkan driver
/// miscompiles this chain of 64-bit compares and selects.
static Value segmentOf(OpBuilder &b, Location loc, Value pos,
                       ArrayRef<int64_t> segments) {
  Type i32 = b.getI32Type();
  Value p = arith::TruncIOp::create(b, loc, i32, pos);
  Value seg = intConst(b, loc, i32, 0);
  int64_t end = 0;
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    end += segments[i];
    Value past = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, p,
                                       intConst(b, loc, i32, end));
    seg = arith::SelectOp::create(b, loc, past,
                                  intConst(b, loc, i32, int64_t(i + 1)), seg);
  }
  return seg;
}

struct LowerAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    Type elt = op.getType().getElementType();
    Type f32 = rewriter.getF32Type();
    int64_t hq = op.getQuery().getType().getDimSize(2);
    int64_t hkv = op.getKey().getType().getDimSize(2);
    int64_t group = hq / hkv;
    int64_t headDim = op.getQuery().getType().getDimSize(3);
    double scale = op.getScale() ? op.getScale()->convertToDouble()
                                 : 1.0 / std::sqrt(double(headDim));
    OpFoldResult bSz = tensor::getMixedSize(rewriter, loc, q, 0);
    OpFoldResult sSz = tensor::getMixedSize(rewriter, loc, q, 1);
    OpFoldResult tSz = tensor::getMixedSize(rewriter, loc, k, 1);
    OpFoldResult hSz = rewriter.getIndexAttr(hq);
    OpFoldResult eSz = tensor::getMixedSize(rewriter, loc, v, 3);

    AffineExpr d0, d1, d2, d3, d4;
    bindDims(ctx, d0, d1, d2, d3, d4);

    // With a causal or sliding-window mask no query sees a key past the
    // largest query position: attend over keys [0, max(positions) + 1) only,
    // not the whole preallocated cache.
    MaskKind maskKind = op.getMask();
    if (op.getPositions() &&
        (maskKind == MaskKind::Causal || maskKind == MaskKind::SlidingWindow)) {
      Type i64 = rewriter.getI64Type();
      Value positions = op.getPositions();
      Value maxPos = generic(
          rewriter, loc, positions, filledTensor(rewriter, loc, {}, i64, -1.0),
          {AffineMap::getMultiDimIdentityMap(2, ctx),
           AffineMap::get(2, 0, {}, ctx)},
          iterators(0, 2), [&](OpBuilder &b, Location l, ValueRange args) {
            Value p = args[0].getType() == i64
                          ? args[0]
                          : Value(arith::ExtSIOp::create(b, l, i64, args[0]));
            linalg::YieldOp::create(
                b, l, Value(arith::MaxSIOp::create(b, l, p, args[1])));
          });
      Value last = tensor::ExtractOp::create(rewriter, loc, maxPos, ValueRange{});
      Value used = arith::IndexCastOp::create(
          rewriter, loc, rewriter.getIndexType(),
          arith::AddIOp::create(rewriter, loc, last, intConst(rewriter, loc, i64, 1)));
      Value total = getValueOrCreateConstantIndexOp(rewriter, loc, tSz);
      used = arith::MinSIOp::create(rewriter, loc, used, total);
      used = arith::MaxSIOp::create(rewriter, loc, used, indexConst(rewriter, loc, 0));
      auto prefix = [&](Value t) {
        SmallVector<OpFoldResult> offsets(4, rewriter.getIndexAttr(0));
        SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, t);
        sizes[1] = used;
        SmallVector<OpFoldResult> strides(4, rewriter.getIndexAttr(1));
        return Value(tensor::ExtractSliceOp::create(rewriter, loc, t, offsets,
                                                    sizes, strides));
      };
      k = prefix(k);
      v = prefix(v);
      tSz = used;
    }
    // scores[b, h, i, t] = scale · Σ_d q[b, i, h, d] k[b, t, h / g, d]
    Value scores = generic(
        rewriter, loc, ValueRange{q, k},
        filledTensor(rewriter, loc, {bSz, hSz, sSz, tSz}, f32, 0.0),
        {mapOf(ctx, 5, {d0, d2, d1, d4}),
         mapOf(ctx, 5, {d0, d3, d1.floorDiv(group), d4}),
         mapOf(ctx, 5, {d0, d1, d2, d3})},
        iterators(4, 1), [&](OpBuilder &b, Location l, ValueRange args) {
          Value p = arith::MulFOp::create(b, l, castFloat(b, l, args[0], f32),
                                          castFloat(b, l, args[1], f32));
          linalg::YieldOp::create(b, l,
                                  Value(arith::AddFOp::create(b, l, args[2], p)));
        });

    // Scale and mask: invisible keys get -inf.
    MaskKind mask = op.getMask();
    std::optional<int64_t> window = op.getWindow();
    SmallVector<int64_t> segments;
    if (auto segs = op.getSegments())
      segments.assign(segs->begin(), segs->end());
    auto id4 = AffineMap::getMultiDimIdentityMap(4, ctx);
    SmallVector<Value> maskInputs = {scores};
    SmallVector<AffineMap> maskMaps = {id4};
    if (op.getPositions()) {
      maskInputs.push_back(op.getPositions());
      maskMaps.push_back(dimsMap(ctx, 4, {0, 2}));
    }
    maskMaps.push_back(id4);
    double negInf = -std::numeric_limits<double>::infinity();
    Value masked = generic(
        rewriter, loc, maskInputs,
        emptyTensor(rewriter, loc, {bSz, hSz, sSz, tSz}, f32), maskMaps,
        iterators(4), [&](OpBuilder &b, Location l, ValueRange args) {
          Value s = arith::MulFOp::create(b, l, args[0],
                                          floatConst(b, l, f32, scale));
          if (mask == MaskKind::None) {
            linalg::YieldOp::create(b, l, s);
            return;
          }
          Type i64 = b.getI64Type();
          Value p = args[1].getType() == i64
                        ? args[1]
                        : Value(arith::ExtSIOp::create(b, l, i64, args[1]));
          Value t = arith::IndexCastOp::create(
              b, l, i64, linalg::IndexOp::create(b, l, 3));
          Value visible;
          if (mask == MaskKind::BlockCausal) {
            visible = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle,
                                            segmentOf(b, l, t, segments),
                                            segmentOf(b, l, p, segments));
          } else {
            visible = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, t, p);
            if (mask == MaskKind::SlidingWindow) {
              Value lo = arith::SubIOp::create(b, l, p,
                                               intConst(b, l, i64, *window));
              visible = arith::AndIOp::create(
                  b, l, visible,
                  arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt, t, lo));
            }
          }
          linalg::YieldOp::create(
              b, l,
              Value(arith::SelectOp::create(b, l, visible, s,
                                            floatConst(b, l, f32, negInf))));
        });

    // Softmax over t.
    auto lead3 = dimsMap(ctx, 4, {0, 1, 2});
    Value rowMax = generic(
        rewriter, loc, masked,
        filledTensor(rewriter, loc, {bSz, hSz, sSz}, f32, negInf), {id4, lead3},
        iterators(3, 1), [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(
              b, l, Value(arith::MaximumFOp::create(b, l, args[0], args[1])));
        });
    Value expd = generic(
        rewriter, loc, ValueRange{masked, rowMax},
        emptyTensor(rewriter, loc, {bSz, hSz, sSz, tSz}, f32),
        {id4, lead3, id4}, iterators(4),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(
              b, l,
              Value(math::ExpOp::create(
                  b, l, arith::SubFOp::create(b, l, args[0], args[1]))));
        });
    Value rowSum = generic(
        rewriter, loc, expd, filledTensor(rewriter, loc, {bSz, hSz, sSz}, f32, 0.0),
        {id4, lead3}, iterators(3, 1),
        [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(
              b, l, Value(arith::AddFOp::create(b, l, args[0], args[1])));
        });

    // out[b, i, h, e] = Σ_t p[b, h, i, t] v[b, t, h / g, e]
    Value out = generic(
        rewriter, loc, ValueRange{expd, rowSum, v},
        filledTensor(rewriter, loc, {bSz, sSz, hSz, eSz}, f32, 0.0),
        {mapOf(ctx, 5, {d0, d2, d1, d4}), mapOf(ctx, 5, {d0, d2, d1}),
         mapOf(ctx, 5, {d0, d4, d2.floorDiv(group), d3}),
         mapOf(ctx, 5, {d0, d1, d2, d3})},
        iterators(4, 1), [&](OpBuilder &b, Location l, ValueRange args) {
          Value p = arith::DivFOp::create(b, l, args[0], args[1]);
          Value pv = arith::MulFOp::create(b, l, p, castFloat(b, l, args[2], f32));
          linalg::YieldOp::create(b, l,
                                  Value(arith::AddFOp::create(b, l, args[3], pv)));
        });
    if (elt != f32) {
      auto id = AffineMap::getMultiDimIdentityMap(4, ctx);
      out = generic(rewriter, loc, out,
                    emptyTensor(rewriter, loc, {bSz, sSz, hSz, eSz}, elt),
                    {id, id}, iterators(4),
                    [&](OpBuilder &b, Location l, ValueRange args) {
                      linalg::YieldOp::create(b, l, castFloat(b, l, args[0], elt));
                    });
    }
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerAttention>(patterns.getContext());
}
