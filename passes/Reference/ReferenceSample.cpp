//===- ReferenceSample.cpp - compiled top-k / top-p sampling --------------===//
//
// `chimera.sample` without sorting: every order statistic the filters need
// (how many logits beat this one, the probability mass below it, the
// cumulative mass up to it) is a pairwise reduction over the vocabulary,
// O(V²) per row. For VAR's vocabularies (4096) that is a few percent of a
// scale's transformer work and needs no data-dependent control flow, so
// the same kernels serve every target.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// SplitMix64's finaliser (Steele et al. 2014).
Value mix64(OpBuilder &b, Location loc, Value x) {
  Type i64 = b.getI64Type();
  auto c = [&](uint64_t v) { return intConst(b, loc, i64, int64_t(v)); };
  auto xorShift = [&](Value v, int s) {
    return arith::XOrIOp::create(b, loc, v, arith::ShRUIOp::create(b, loc, v, c(s)));
  };
  x = xorShift(x, 30);
  x = arith::MulIOp::create(b, loc, x, c(0xBF58476D1CE4E5B9ull));
  x = xorShift(x, 27);
  x = arith::MulIOp::create(b, loc, x, c(0x94D049BB133111EBull));
  return xorShift(x, 31);
}

struct LowerSample : OpRewritePattern<SampleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SampleOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value logits = op.getLogits();
    auto lt = llvm::cast<RankedTensorType>(logits.getType());
    unsigned lead = lt.getRank() - 1;
    Type f32 = rewriter.getF32Type(), i64 = rewriter.getI64Type();
    Type idx = rewriter.getIndexType();

    // Iteration spaces: rows (lead), ids (lead, v), pairs (lead, v, u).
    SmallVector<unsigned> leadDims, vDims, uDims;
    for (unsigned i = 0; i < lead; ++i)
      leadDims.push_back(i);
    vDims = leadDims;
    vDims.push_back(lead);
    uDims = leadDims;
    uDims.push_back(lead + 1);
    unsigned nv = lead + 1, np = lead + 2;
    AffineMap pU = dimsMap(ctx, np, uDims), pV = dimsMap(ctx, np, vDims);
    AffineMap vId = AffineMap::getMultiDimIdentityMap(nv, ctx);
    AffineMap vRow = dimsMap(ctx, nv, leadDims);
    AffineMap vScalar = AffineMap::get(nv, 0, {}, ctx);
    SmallVector<OpFoldResult> idSizes = sizesOf(rewriter, loc, logits);
    SmallVector<OpFoldResult> rowSizes(idSizes.begin(), idSizes.end() - 1);
    auto pairIters = iterators(nv, 1);

    auto ids = [&](Type t, double init) {
      return filledTensor(rewriter, loc, idSizes, t, init);
    };
    auto rows = [&](Type t, double init) {
      return filledTensor(rewriter, loc, rowSizes, t, init);
    };
    auto yield = [](OpBuilder &b, Location l, Value v) {
      linalg::YieldOp::create(b, l, v);
    };
    // u before-or-at v in the (logit, id) order.
    auto orderedBefore = [&](OpBuilder &b, Location l, Value mu, Value mv,
                             bool orEqual) {
      Value u = linalg::IndexOp::create(b, l, lead + 1);
      Value v = linalg::IndexOp::create(b, l, lead);
      Value less = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLT, mu, mv);
      Value tie = arith::AndIOp::create(
          b, l, arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, mu, mv),
          arith::CmpIOp::create(b, l,
                                orEqual ? arith::CmpIPredicate::ule
                                        : arith::CmpIPredicate::ult,
                                u, v));
      return Value(arith::OrIOp::create(b, l, less, tie));
    };

    // greater[v] = #{u : l[u] > l[v]}
    Value greater = generic(
        rewriter, loc, ValueRange{logits, logits}, ids(i64, 0),
        {pU, pV, pV}, pairIters,
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value gt = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT,
                                           castFloat(b, l, a[0], f32),
                                           castFloat(b, l, a[1], f32));
          Value one = arith::ExtUIOp::create(b, l, i64, gt);
          yield(b, l, arith::AddIOp::create(b, l, a[2], one));
        });
    // m[v] = top-k kept ? l[v] : -inf
    const double inf = std::numeric_limits<double>::infinity();
    Value masked = generic(
        rewriter, loc, ValueRange{logits, greater, op.getTopK()},
        emptyTensor(rewriter, loc, idSizes, f32), {vId, vId, vScalar, vId},
        iterators(nv), [&](OpBuilder &b, Location l, ValueRange a) {
          Value k = a[2];
          Value off = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sle, k,
                                            intConst(b, l, i64, 0));
          Value within =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, a[1], k);
          Value keep = arith::OrIOp::create(b, l, off, within);
          yield(b, l,
                arith::SelectOp::create(b, l, keep, castFloat(b, l, a[0], f32),
                                        floatConst(b, l, f32, -inf)));
        });
    auto rowReduce = [&](Value in, Type t, double init,
                         function_ref<Value(OpBuilder &, Location, Value, Value)> f) {
      return generic(rewriter, loc, in, rows(t, init), {vId, vRow},
                     iterators(lead, 1),
                     [&](OpBuilder &b, Location l, ValueRange a) {
                       yield(b, l, f(b, l, a[0], a[1]));
                     });
    };
    Value mx = rowReduce(masked, f32, -inf, [](OpBuilder &b, Location l,
                                               Value v, Value acc) {
      return Value(arith::MaximumFOp::create(b, l, v, acc));
    });
    // e[v] = exp(m[v] - max): the unnormalised probabilities.
    Value e = generic(rewriter, loc, ValueRange{masked, mx},
                      emptyTensor(rewriter, loc, idSizes, f32), {vId, vRow, vId},
                      iterators(nv), [&](OpBuilder &b, Location l, ValueRange a) {
                        yield(b, l,
                              math::ExpOp::create(
                                  b, l, arith::SubFOp::create(b, l, a[0], a[1])));
                      });
    Value z = rowReduce(e, f32, 0.0, [](OpBuilder &b, Location l, Value v,
                                        Value acc) {
      return Value(arith::AddFOp::create(b, l, acc, v));
    });
    // below[v] = Σ e[u] over u before-or-at v in ascending order.
    Value below = generic(
        rewriter, loc, ValueRange{e, masked, masked}, ids(f32, 0.0),
        {pU, pU, pV, pV}, pairIters, [&](OpBuilder &b, Location l, ValueRange a) {
          Value in = orderedBefore(b, l, a[1], a[2], /*orEqual=*/true);
          Value add = arith::SelectOp::create(b, l, in, a[0],
                                              floatConst(b, l, f32, 0.0));
          yield(b, l, arith::AddFOp::create(b, l, a[3], add));
        });
    // The row's largest in that order: the highest id holding the maximum.
    Value largest = generic(
        rewriter, loc, ValueRange{masked, mx}, rows(i64, -1), {vId, vRow, vRow},
        iterators(lead, 1), [&](OpBuilder &b, Location l, ValueRange a) {
          Value v = arith::IndexCastOp::create(
              b, l, i64, linalg::IndexOp::create(b, l, lead));
          Value isMax =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0], a[1]);
          yield(b, l,
                arith::SelectOp::create(
                    b, l, isMax, arith::MaxSIOp::create(b, l, a[2], v), a[2]));
        });
    // p[v]: e[v] unless top-p drops it.
    Value p = generic(
        rewriter, loc, ValueRange{e, below, z, largest, op.getTopP()},
        emptyTensor(rewriter, loc, idSizes, f32),
        {vId, vId, vRow, vRow, vScalar, vId}, iterators(nv),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value topP = a[4];
          Value on = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, topP,
                                           floatConst(b, l, f32, 0.0));
          Value frac = arith::DivFOp::create(b, l, a[1], a[2]);
          Value low = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OLE, frac,
              arith::SubFOp::create(b, l, floatConst(b, l, f32, 1.0), topP));
          Value v = arith::IndexCastOp::create(
              b, l, i64, linalg::IndexOp::create(b, l, lead));
          Value notLargest =
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::ne, v, a[3]);
          Value drop = arith::AndIOp::create(
              b, l, on, arith::AndIOp::create(b, l, low, notLargest));
          yield(b, l,
                arith::SelectOp::create(b, l, drop, floatConst(b, l, f32, 0.0),
                                        a[0]));
        });
    // cum[v] = Σ_{u ≤ v} p[u]; total = Σ p (the same additions in the same
    // order as cum[V-1]).
    Value cum = generic(
        rewriter, loc, ValueRange{p}, ids(f32, 0.0), {pU, pV}, pairIters,
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value u = linalg::IndexOp::create(b, l, lead + 1);
          Value v = linalg::IndexOp::create(b, l, lead);
          Value in = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ule, u, v);
          yield(b, l,
                arith::AddFOp::create(
                    b, l, a[1],
                    arith::SelectOp::create(b, l, in, a[0],
                                            floatConst(b, l, f32, 0.0))));
        });
    Value total = rowReduce(p, f32, 0.0, [](OpBuilder &b, Location l, Value v,
                                            Value acc) {
      return Value(arith::AddFOp::create(b, l, acc, v));
    });
    Value lastPositive = generic(
        rewriter, loc, ValueRange{p}, rows(i64, 0), {vId, vRow},
        iterators(lead, 1), [&](OpBuilder &b, Location l, ValueRange a) {
          Value v = arith::IndexCastOp::create(
              b, l, i64, linalg::IndexOp::create(b, l, lead));
          Value pos = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, a[0],
                                            floatConst(b, l, f32, 0.0));
          yield(b, l,
                arith::SelectOp::create(b, l, pos,
                                        arith::MaxSIOp::create(b, l, a[1], v),
                                        a[1]));
        });

    // The draw: u from (seed, stream, row), id = #{v : cum[v] <= u · total}.
    SmallVector<Value> rowExtents;
    for (unsigned d = 0; d < lead; ++d)
      rowExtents.push_back(tensor::DimOp::create(rewriter, loc, logits, d));
    int64_t stream = op.getStream();
    Value count = generic(
        rewriter, loc, ValueRange{cum, total, op.getSeed()}, rows(i64, 0),
        {vId, vRow, vScalar, vRow}, iterators(lead, 1),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value row = intConst(b, l, idx, 0);
          for (unsigned d = 0; d < lead; ++d)
            row = arith::AddIOp::create(
                b, l, arith::MulIOp::create(b, l, row, rowExtents[d]),
                linalg::IndexOp::create(b, l, d));
          Value key = arith::AddIOp::create(
              b, l,
              arith::MulIOp::create(b, l, a[2],
                                    intConst(b, l, i64, int64_t(0x9E3779B97F4A7C15ull))),
              arith::AddIOp::create(
                  b, l, arith::IndexCastOp::create(b, l, i64, row),
                  intConst(b, l, i64, int64_t(uint64_t(stream) << 32))));
          Value bits = arith::ShRUIOp::create(b, l, mix64(b, l, key),
                                              intConst(b, l, i64, 40));
          Value u = arith::MulFOp::create(
              b, l, arith::UIToFPOp::create(b, l, f32, bits),
              floatConst(b, l, f32, 1.0 / double(1 << 24)));
          Value target = arith::MulFOp::create(b, l, u, a[1]);
          Value le = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OLE, a[0],
                                           target);
          yield(b, l,
                arith::AddIOp::create(b, l, a[3],
                                      arith::ExtUIOp::create(b, l, i64, le)));
        });
    AffineMap rId = AffineMap::getMultiDimIdentityMap(lead, ctx);
    Value result = generic(
        rewriter, loc, ValueRange{count, lastPositive},
        emptyTensor(rewriter, loc, rowSizes, i64), {rId, rId, rId},
        iterators(lead), [&](OpBuilder &b, Location l, ValueRange a) {
          yield(b, l, arith::MinSIOp::create(b, l, a[0], a[1]));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceSamplePatterns(RewritePatternSet &patterns) {
  patterns.add<LowerSample>(patterns.getContext());
}
