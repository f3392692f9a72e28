//===- ReferenceMoe.cpp - router top-k and routed expert FFNs -------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

static constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// Σ (or max) over dim 1 of a [T, X] tensor → [T].
static Value reduceRows(OpBuilder &b, Location loc, Value x, bool isMax) {
  MLIRContext *ctx = b.getContext();
  Type elt = llvm::cast<RankedTensorType>(x.getType()).getElementType();
  Value init = filledTensor(b, loc, {tensor::getMixedSize(b, loc, x, 0)}, elt,
                            isMax ? kNegInf : 0.0);
  return generic(b, loc, x, init,
                 {AffineMap::getMultiDimIdentityMap(2, ctx), dimsMap(ctx, 2, {0})},
                 iterators(1, 1), [&](OpBuilder &nb, Location l, ValueRange a) {
                   Value r = isMax ? Value(arith::MaximumFOp::create(nb, l, a[0], a[1]))
                                   : Value(arith::AddFOp::create(nb, l, a[0], a[1]));
                   linalg::YieldOp::create(nb, l, r);
                 });
}

/// out[t, x] = f(x[t, x], row[t]).
static Value withRow(OpBuilder &b, Location loc, Value x, Value row,
                     function_ref<Value(OpBuilder &, Location, Value, Value)> f) {
  MLIRContext *ctx = b.getContext();
  auto id = AffineMap::getMultiDimIdentityMap(2, ctx);
  Type elt = llvm::cast<RankedTensorType>(x.getType()).getElementType();
  return generic(b, loc, ValueRange{x, row},
                 emptyTensor(b, loc, sizesOf(b, loc, x), elt),
                 {id, dimsMap(ctx, 2, {0}), id}, iterators(2),
                 [&](OpBuilder &nb, Location l, ValueRange a) {
                   linalg::YieldOp::create(nb, l, f(nb, l, a[0], a[1]));
                 });
}

/// softmax over dim 1 of a [T, X] tensor.
static Value softmaxRows(OpBuilder &b, Location loc, Value x) {
  Value mx = reduceRows(b, loc, x, /*isMax=*/true);
  Value e = withRow(b, loc, x, mx, [](OpBuilder &nb, Location l, Value v, Value m) {
    return Value(math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, v, m)));
  });
  Value sum = reduceRows(b, loc, e, /*isMax=*/false);
  return withRow(b, loc, e, sum, [](OpBuilder &nb, Location l, Value v, Value s) {
    return Value(arith::DivFOp::create(nb, l, v, s));
  });
}

namespace {

/// k rounds of "take the row maximum (lowest index on ties), then knock it
/// out", followed by the mode's normalisation.
struct LowerRouteTopK : OpRewritePattern<RouteTopKOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RouteTopKOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Type elt = op.getWeights().getType().getElementType();
    Type i64 = rewriter.getI64Type();
    int64_t k = op.getK();
    Value work = op.getLogits();
    if (op.getMode() == RouteMode::SoftmaxTopK)
      work = softmaxRows(rewriter, loc, work);
    OpFoldResult tSz = tensor::getMixedSize(rewriter, loc, work, 0);
    Value weights = emptyTensor(rewriter, loc, {tSz, rewriter.getIndexAttr(k)}, elt);
    Value ids = emptyTensor(rewriter, loc, {tSz, rewriter.getIndexAttr(k)}, i64);
    auto id = AffineMap::getMultiDimIdentityMap(2, ctx);
    auto row = dimsMap(ctx, 2, {0});

    auto loop = scf::ForOp::create(
        rewriter, loc, indexConst(rewriter, loc, 0), indexConst(rewriter, loc, k),
        indexConst(rewriter, loc, 1), ValueRange{work, weights, ids},
        [&](OpBuilder &b, Location l, Value j, ValueRange iter) {
          Value maxInit = filledTensor(b, l, {tSz}, elt, kNegInf);
          Value argInit = filledTensor(b, l, {tSz}, i64, 0);
          auto arg = linalg::GenericOp::create(
              b, l, TypeRange{maxInit.getType(), argInit.getType()}, iter[0],
              ValueRange{maxInit, argInit}, {id, row, row}, iterators(1, 1),
              [&](OpBuilder &nb, Location nl, ValueRange a) {
                Value e = arith::IndexCastOp::create(
                    nb, nl, i64, linalg::IndexOp::create(nb, nl, 1));
                Value better = arith::CmpFOp::create(
                    nb, nl, arith::CmpFPredicate::OGT, a[0], a[1]);
                Value tie = arith::AndIOp::create(
                    nb, nl,
                    arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, a[0], a[1]),
                    arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, e, a[2]));
                Value take = arith::OrIOp::create(nb, nl, better, tie);
                linalg::YieldOp::create(
                    nb, nl,
                    ValueRange{arith::SelectOp::create(nb, nl, take, a[0], a[1]),
                               arith::SelectOp::create(nb, nl, take, e, a[2])});
              });
          Value w = insertAt(b, l, arg.getResult(0), iter[1], 1, j);
          Value e = insertAt(b, l, arg.getResult(1), iter[2], 1, j);
          Value knocked = generic(
              b, l, ValueRange{iter[0], arg.getResult(1)},
              emptyTensor(b, l, sizesOf(b, l, iter[0]), elt), {id, row, id},
              iterators(2), [&](OpBuilder &nb, Location nl, ValueRange a) {
                Value col = arith::IndexCastOp::create(
                    nb, nl, i64, linalg::IndexOp::create(nb, nl, 1));
                Value hit = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq,
                                                  col, a[1]);
                linalg::YieldOp::create(
                    nb, nl,
                    Value(arith::SelectOp::create(
                        nb, nl, hit, floatConst(nb, nl, elt, kNegInf), a[0])));
              });
          scf::YieldOp::create(b, l, ValueRange{knocked, w, e});
        });
    Value selWeights = loop.getResult(1);
    if (op.getMode() == RouteMode::TopKSoftmax) {
      selWeights = softmaxRows(rewriter, loc, selWeights);
    } else if (op.getRenormalize()) {
      Value sum = reduceRows(rewriter, loc, selWeights, /*isMax=*/false);
      selWeights = withRow(rewriter, loc, selWeights, sum,
                           [](OpBuilder &nb, Location l, Value v, Value s) {
                             return Value(arith::DivFOp::create(nb, l, v, s));
                           });
    }
    rewriter.replaceOp(op, {selWeights, loop.getResult(2)});
    return success();
  }
};

/// h[t, j, i] = Σ_x in[t, j?, x] · W[ids[t, j], i, x] over the routed expert.
/// `inputPerSlot` says whether the input is per (t, j) or shared by token.
/// Quantised experts are decoded element by element in the body (no
/// dequantised copy): int8 as code × row scale; int4 as the signed nibble
/// of byte x/2 times its group's scale, fp4_m0e4 and mxfp4 as that nibble
/// decoded with its group's scale (and offset); the generic is tagged with its
/// `chimera.quant` for the x86 kernels. A panel-stored float weight
/// (`panel` > 0, [E, N/panel, K, panel]) is read at W[e, i / panel, x,
/// i % panel].
static Value routedMatmul(OpBuilder &b, Location loc, Value in,
                          bool inputPerSlot, Value ids, Value w, Value scales,
                          Value offsets, QuantAttr quant, int64_t panel,
                          OpFoldResult tSz, OpFoldResult kSz, Type elt) {
  MLIRContext *ctx = b.getContext();
  OpFoldResult outSz =
      panel ? OpFoldResult(b.getIndexAttr(
                  cast<RankedTensorType>(w.getType()).getDimSize(1) * panel))
            : tensor::getMixedSize(b, loc, w, 1);
  Value init = filledTensor(b, loc, {tSz, kSz, outSz}, elt, 0.0);
  bool fourBit = quant && quant.getElementsPerByte() == 2;
  // (t, j, i, x)
  AffineMap inMap = inputPerSlot ? dimsMap(ctx, 4, {0, 1, 3})
                                 : dimsMap(ctx, 4, {0, 3});
  Value result = generic(
      b, loc, ValueRange{in, ids}, init,
      {inMap, dimsMap(ctx, 4, {0, 1}), dimsMap(ctx, 4, {0, 1, 2})},
      iterators(3, 1), [&](OpBuilder &nb, Location l, ValueRange a) {
        Value e = toIndex(nb, l, a[1]);
        Value i = linalg::IndexOp::create(nb, l, 2);
        Value x = linalg::IndexOp::create(nb, l, 3);
        Value wv;
        if (fourBit) {
          Type i32 = nb.getI32Type();
          Value byteAt =
              arith::ShRUIOp::create(nb, l, x, indexConst(nb, l, 1));
          Value code =
              tensor::ExtractOp::create(nb, l, w, ValueRange{e, i, byteAt});
          // Element x is the low nibble for even x, the high one for odd.
          Value shift = arith::IndexCastOp::create(
              nb, l, i32,
              arith::MulIOp::create(
                  nb, l, arith::AndIOp::create(nb, l, x, indexConst(nb, l, 1)),
                  indexConst(nb, l, 4)));
          Value u = arith::AndIOp::create(
              nb, l,
              arith::ShRUIOp::create(
                  nb, l, arith::ExtUIOp::create(nb, l, i32, code), shift),
              intConst(nb, l, i32, 0xF));
          Value g = arith::DivUIOp::create(
              nb, l, x, indexConst(nb, l, quant.getGroupSize()));
          Value scale =
              tensor::ExtractOp::create(nb, l, scales, ValueRange{e, i, g});
          if (quant.getScheme() == QuantScheme::Int4) {
            Value q = arith::SubIOp::create(
                nb, l,
                arith::XOrIOp::create(nb, l, u, intConst(nb, l, i32, 8)),
                intConst(nb, l, i32, 8));
            wv = arith::MulFOp::create(nb, l, castFloat(nb, l, scale, elt),
                                       arith::SIToFPOp::create(nb, l, elt, q));
          } else {
            Value offset =
                offsets ? tensor::ExtractOp::create(nb, l, offsets,
                                                    ValueRange{e, i, g})
                              .getResult()
                        : Value();
            wv = decodeFp4(nb, l, quant, u, scale, offset);
          }
        } else if (panel) {
          Value p = indexConst(nb, l, panel);
          wv = tensor::ExtractOp::create(
              nb, l, w,
              ValueRange{e, arith::DivUIOp::create(nb, l, i, p), x,
                         arith::RemUIOp::create(nb, l, i, p)});
        } else {
          wv = tensor::ExtractOp::create(nb, l, w, ValueRange{e, i, x});
          // int8: the code times its row's scale, in the body (no copy).
          if (scales)
            wv = arith::MulFOp::create(
                nb, l,
                castFloat(nb, l,
                          tensor::ExtractOp::create(nb, l, scales,
                                                    ValueRange{e, i}),
                          elt),
                arith::SIToFPOp::create(nb, l, elt, wv));
        }
        Value p = arith::MulFOp::create(nb, l, a[0], castFloat(nb, l, wv, elt));
        linalg::YieldOp::create(nb, l, Value(arith::AddFOp::create(nb, l, a[2], p)));
      });
  if (quant)
    result.getDefiningOp()->setAttr("chimera.quant", quant);
  return result;
}

/// out[t] = Σ_j weights[t, j] · FFN_{ids[t, j]}(x[t]), one dense pass per slot.
struct LowerExpertFfn : OpRewritePattern<ExpertFfnOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ExpertFfnOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput(), ids = op.getIds();
    Type elt = op.getType().getElementType();
    OpFoldResult tSz = tensor::getMixedSize(rewriter, loc, x, 0);
    OpFoldResult kSz = tensor::getMixedSize(rewriter, loc, ids, 1);
    OpFoldResult hSz = tensor::getMixedSize(rewriter, loc, x, 1);
    Activation act = op.getActivation();

    QuantAttr quant = op.getQuantAttr();
    int64_t panel = op.getPanel().value_or(0);
    Value up = routedMatmul(rewriter, loc, x, false, ids, op.getWUp(),
                            op.getUpScales(), op.getUpOffsets(), quant, panel,
                            tSz, kSz, elt);
    Value gate = op.getWGate()
                     ? routedMatmul(rewriter, loc, x, false, ids, op.getWGate(),
                                    op.getGateScales(), op.getGateOffsets(),
                                    quant, panel, tSz, kSz, elt)
                     : Value();
    auto id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
    SmallVector<Value> ins = {up};
    if (gate)
      ins.push_back(gate);
    SmallVector<AffineMap> maps(ins.size() + 1, id3);
    Value hidden = generic(
        rewriter, loc, ins, emptyTensor(rewriter, loc, sizesOf(rewriter, loc, up), elt),
        maps, iterators(3), [&](OpBuilder &b, Location l, ValueRange a) {
          Value v = gate ? Value(arith::MulFOp::create(
                               b, l, activation(b, l, act, a[1]), a[0]))
                         : activation(b, l, act, a[0]);
          linalg::YieldOp::create(b, l, v);
        });
    Value down = routedMatmul(rewriter, loc, hidden, true, ids, op.getWDown(),
                              op.getDownScales(), op.getDownOffsets(), quant,
                              panel, tSz, kSz, elt);
    // out[t, h] = Σ_j weights[t, j] · down[t, j, h]   over (t, h, j)
    Value out = generic(
        rewriter, loc, ValueRange{op.getWeights(), down},
        filledTensor(rewriter, loc, {tSz, hSz}, elt, 0.0),
        {dimsMap(ctx, 3, {0, 2}), dimsMap(ctx, 3, {0, 2, 1}), dimsMap(ctx, 3, {0, 1})},
        iterators(2, 1), [](OpBuilder &b, Location l, ValueRange a) {
          Value p = arith::MulFOp::create(b, l, a[0], a[1]);
          linalg::YieldOp::create(b, l, Value(arith::AddFOp::create(b, l, a[2], p)));
        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceMoePatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRouteTopK, LowerExpertFfn>(patterns.getContext());
}
