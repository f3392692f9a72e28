//===- ReferenceSsm.cpp - causal conv1d and selective scan ----------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// xe = concat_time(state, x); y[b,t,c] = act(bias[c] + Σ_i w[c,i] xe[b,t+i,c]);
/// new_state = xe[:, L:, :].
struct LowerCausalConv1d : OpRewritePattern<CausalConv1dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CausalConv1dOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    Type elt = op.getResult().getType().getElementType();
    int64_t width = op.getWeight().getType().getDimSize(1);
    OpFoldResult bSz = tensor::getMixedSize(rewriter, loc, x, 0);
    OpFoldResult cSz = tensor::getMixedSize(rewriter, loc, x, 2);
    // Static sizes stay static so the result types match the op's.
    OpFoldResult len = tensor::getMixedSize(rewriter, loc, x, 1);
    OpFoldResult extLen;
    if (std::optional<int64_t> l = getConstantIntValue(len))
      extLen = rewriter.getIndexAttr(*l + width - 1);
    else
      extLen = Value(arith::AddIOp::create(
          rewriter, loc, cast<Value>(len), indexConst(rewriter, loc, width - 1)));

    Value state = op.getState();
    if (!state)
      state = filledTensor(rewriter, loc,
                           {bSz, rewriter.getIndexAttr(width - 1), cSz}, elt, 0.0);
    Value xe = emptyTensor(rewriter, loc, {bSz, extLen, cSz}, elt);
    auto one = rewriter.getIndexAttr(1), zero = rewriter.getIndexAttr(0);
    SmallVector<OpFoldResult> unit(3, one);
    xe = tensor::InsertSliceOp::create(
        rewriter, loc, state, xe, {zero, zero, zero},
        {bSz, rewriter.getIndexAttr(width - 1), cSz}, unit);
    xe = tensor::InsertSliceOp::create(
        rewriter, loc, x, xe, {zero, rewriter.getIndexAttr(width - 1), zero},
        {bSz, len, cSz}, unit);

    SmallVector<OpFoldResult> ySizes = {bSz, len, cSz};
    Value init;
    auto id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
    if (Value bias = op.getBias()) {
      init = generic(rewriter, loc, bias, emptyTensor(rewriter, loc, ySizes, elt),
                     {dimsMap(ctx, 3, {2}), id3}, iterators(3),
                     [](OpBuilder &b, Location l, ValueRange args) {
                       linalg::YieldOp::create(b, l, args[0]);
                     });
    } else {
      init = filledTensor(rewriter, loc, ySizes, elt, 0.0);
    }
    AffineExpr d0, d1, d2, d3;
    bindDims(ctx, d0, d1, d2, d3);
    Value y = generic(rewriter, loc, ValueRange{xe, op.getWeight()}, init,
                      {mapOf(ctx, 4, {d0, d1 + d3, d2}), mapOf(ctx, 4, {d2, d3}),
                       mapOf(ctx, 4, {d0, d1, d2})},
                      iterators(3, 1), [](OpBuilder &b, Location l, ValueRange a) {
                        Value p = arith::MulFOp::create(b, l, a[0], a[1]);
                        linalg::YieldOp::create(
                            b, l, Value(arith::AddFOp::create(b, l, a[2], p)));
                      });
    Activation act = op.getActivation();
    if (act != Activation::Identity)
      y = generic(rewriter, loc, y, emptyTensor(rewriter, loc, ySizes, elt),
                  {id3, id3}, iterators(3),
                  [&](OpBuilder &b, Location l, ValueRange a) {
                    linalg::YieldOp::create(b, l, activation(b, l, act, a[0]));
                  });
    Value newState;
    if (Value lengths = op.getLengths()) {
      // Row b's state ends at its own length: a gather from xe.
      SmallVector<OpFoldResult> stateSizes = {
          bSz, rewriter.getIndexAttr(width - 1), cSz};
      newState = generic(
          rewriter, loc, lengths,
          emptyTensor(rewriter, loc, stateSizes, elt),
          {dimsMap(ctx, 3, {0}), AffineMap::getMultiDimIdentityMap(3, ctx)},
          iterators(3), [&](OpBuilder &b, Location l, ValueRange a) {
            Value bi = linalg::IndexOp::create(b, l, 0);
            Value i = linalg::IndexOp::create(b, l, 1);
            Value c = linalg::IndexOp::create(b, l, 2);
            Value t = arith::AddIOp::create(b, l, toIndex(b, l, a[0]), i);
            linalg::YieldOp::create(
                b, l, Value(tensor::ExtractOp::create(b, l, xe,
                                                      ValueRange{bi, t, c})));
          });
    } else {
      newState = tensor::ExtractSliceOp::create(
          rewriter, loc, xe, {zero, len, zero},
          {bSz, rewriter.getIndexAttr(width - 1), cSz}, unit);
    }
    rewriter.replaceOp(op, {y, newState});
    return success();
  }
};

/// Δ = softplus?(delta + bias); x_t = exp(Δ_t A) x_{t-1} + Δ_t B_t u_t;
/// y_t = <x_t, C_t> + D u_t; y · silu(z).
struct LowerSelectiveScan : OpRewritePattern<SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SelectiveScanOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value u = op.getU();
    Type elt = op.getResult().getType().getElementType();
    auto id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
    SmallVector<OpFoldResult> bldSizes = sizesOf(rewriter, loc, u);
    OpFoldResult bSz = bldSizes[0], dSz = bldSizes[2];
    OpFoldResult nSz = tensor::getMixedSize(rewriter, loc, op.getA(), 1);

    // Δ, once for all steps.
    Value delta = op.getDelta();
    Value bias = op.getDeltaBias();
    bool doSoftplus = op.getDeltaSoftplus();
    if (bias || doSoftplus) {
      SmallVector<Value> ins = {delta};
      SmallVector<AffineMap> maps = {id3};
      if (bias) {
        ins.push_back(bias);
        maps.push_back(dimsMap(ctx, 3, {2}));
      }
      maps.push_back(id3);
      delta = generic(rewriter, loc, ins, emptyTensor(rewriter, loc, bldSizes, elt),
                      maps, iterators(3),
                      [&](OpBuilder &b, Location l, ValueRange a) {
                        Value v = a[0];
                        if (bias)
                          v = arith::AddFOp::create(b, l, v, a[1]);
                        if (doSoftplus)
                          v = softplus(b, l, v);
                        linalg::YieldOp::create(b, l, v);
                      });
    }

    Value state = op.getInitialState();
    if (!state)
      state = filledTensor(rewriter, loc, {bSz, dSz, nSz}, elt, 0.0);
    Value yInit = emptyTensor(rewriter, loc, bldSizes, elt);
    Value len = tensor::DimOp::create(rewriter, loc, u, 1);
    Value A = op.getA(), Bm = op.getB(), Cm = op.getC();
    Value lengths = op.getLengths();

    auto loop = scf::ForOp::create(
        rewriter, loc, indexConst(rewriter, loc, 0), len,
        indexConst(rewriter, loc, 1), ValueRange{state, yInit},
        [&](OpBuilder &b, Location l, Value t, ValueRange iter) {
          Value dt = sliceAt(b, l, delta, 1, t); // [B, D]
          Value ut = sliceAt(b, l, u, 1, t);     // [B, D]
          Value bt = sliceAt(b, l, Bm, 1, t);    // [B, N]
          Value ct = sliceAt(b, l, Cm, 1, t);    // [B, N]
          // The state is updated in its own buffer (outs = the carried
          // state): the final state is the initial state's buffer, so a
          // decode step copies no state.
          SmallVector<Value> ins = {dt, A, bt, ut};
          SmallVector<AffineMap> maps = {
              dimsMap(ctx, 3, {0, 1}), dimsMap(ctx, 3, {1, 2}),
              dimsMap(ctx, 3, {0, 2}), dimsMap(ctx, 3, {0, 1})};
          if (lengths) {
            ins.push_back(lengths);
            maps.push_back(dimsMap(ctx, 3, {0}));
          }
          maps.push_back(id3);
          Value next = generic(
              b, l, ins, iter[0], maps, iterators(3),
              [&](OpBuilder &nb, Location nl, ValueRange a) {
                Value prev = a.back();
                Value decay = math::ExpOp::create(
                    nb, nl, arith::MulFOp::create(nb, nl, a[0], a[1]));
                Value input = arith::MulFOp::create(
                    nb, nl, arith::MulFOp::create(nb, nl, a[0], a[2]), a[3]);
                Value s = arith::AddFOp::create(
                    nb, nl, arith::MulFOp::create(nb, nl, decay, prev), input);
                if (lengths) {
                  // Past its length a row's state stays as it was.
                  Value valid = arith::CmpIOp::create(
                      nb, nl, arith::CmpIPredicate::slt, t,
                      toIndex(nb, nl, a[4]));
                  s = arith::SelectOp::create(nb, nl, valid, s, prev);
                }
                linalg::YieldOp::create(nb, nl, s);
              });
          Value yt = generic(
              b, l, ValueRange{next, ct}, filledTensor(b, l, {bSz, dSz}, elt, 0.0),
              {id3, dimsMap(ctx, 3, {0, 2}), dimsMap(ctx, 3, {0, 1})},
              iterators(2, 1), [](OpBuilder &nb, Location nl, ValueRange a) {
                Value p = arith::MulFOp::create(nb, nl, a[0], a[1]);
                linalg::YieldOp::create(
                    nb, nl, Value(arith::AddFOp::create(nb, nl, a[2], p)));
              });
          Value y = insertAt(b, l, yt, iter[1], 1, t);
          scf::YieldOp::create(b, l, ValueRange{next, y});
        });
    Value y = loop.getResult(1);

    Value D = op.getD(), z = op.getZ();
    if (D || z) {
      SmallVector<Value> ins = {y, u};
      SmallVector<AffineMap> maps = {id3, id3};
      if (D) {
        ins.push_back(D);
        maps.push_back(dimsMap(ctx, 3, {2}));
      }
      if (z) {
        ins.push_back(z);
        maps.push_back(id3);
      }
      maps.push_back(id3);
      y = generic(rewriter, loc, ins, emptyTensor(rewriter, loc, bldSizes, elt),
                  maps, iterators(3), [&](OpBuilder &b, Location l, ValueRange a) {
                    Value v = a[0];
                    unsigned next = 2;
                    if (D)
                      v = arith::AddFOp::create(
                          b, l, v, arith::MulFOp::create(b, l, a[1], a[next++]));
                    if (z)
                      v = arith::MulFOp::create(
                          b, l, v, activation(b, l, Activation::Silu, a[next++]));
                    linalg::YieldOp::create(b, l, v);
                  });
    }
    rewriter.replaceOp(op, {y, loop.getResult(0)});
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceSsmPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCausalConv1d, LowerSelectiveScan>(patterns.getContext());
}
