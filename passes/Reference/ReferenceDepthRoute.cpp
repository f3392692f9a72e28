//===- ReferenceDepthRoute.cpp - Mixture-of-Depths token routing ----------===//
//
// Per batch row: decide the selected tokens, gather them (with their
// positions) into a [1, K, H] sequence, inline the block on it with the
// row's slice of each carried state, and scatter the block's output (scaled
// by the router score) back over the input. In threshold mode the block sits
// under an `scf.if` on K > 0: a row that selects nothing does no block work.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// rank[i] = #{j < n : w_j > w_i} + #{j < i : w_j == w_i} (0 = the largest
/// among the first n, the row's valid tokens).
static Value scoreRanks(OpBuilder &b, Location loc, Value w, OpFoldResult sSz,
                        Value n) {
  MLIRContext *ctx = b.getContext();
  Type i64 = b.getI64Type();
  return generic(b, loc, ValueRange{w, w}, filledTensor(b, loc, {sSz}, i64, 0),
                 {dimsMap(ctx, 2, {0}), dimsMap(ctx, 2, {1}), dimsMap(ctx, 2, {0})},
                 iterators(1, 1), [&](OpBuilder &nb, Location l, ValueRange a) {
                   Value i = linalg::IndexOp::create(nb, l, 0);
                   Value j = linalg::IndexOp::create(nb, l, 1);
                   Value gt = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT,
                                                    a[1], a[0]);
                   Value eq = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ,
                                                    a[1], a[0]);
                   Value before = arith::CmpIOp::create(
                       nb, l, arith::CmpIPredicate::ult, j, i);
                   Value ahead = arith::OrIOp::create(
                       nb, l, gt, arith::AndIOp::create(nb, l, eq, before));
                   Value valid = arith::CmpIOp::create(
                       nb, l, arith::CmpIPredicate::ult, j, n);
                   ahead = arith::AndIOp::create(nb, l, ahead, valid);
                   Value inc = arith::ExtUIOp::create(nb, l, i64, ahead);
                   linalg::YieldOp::create(
                       nb, l, Value(arith::AddIOp::create(nb, l, a[2], inc)));
                 });
}

/// Row `bi` of a `[B, ...]` state as a `[1, ...]` slice window.
struct RowWindow {
  SmallVector<OpFoldResult> offsets, sizes, strides;
};
static RowWindow rowWindow(OpBuilder &b, Location loc, Value state, Value bi) {
  RowWindow w;
  w.sizes = sizesOf(b, loc, state);
  w.sizes[0] = b.getIndexAttr(1);
  w.offsets.assign(w.sizes.size(), b.getIndexAttr(0));
  w.offsets[0] = bi;
  w.strides.assign(w.sizes.size(), b.getIndexAttr(1));
  return w;
}

struct LowerDepthRoute : OpRewritePattern<DepthRouteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DepthRouteOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput(), scores = op.getScores(), positions = op.getPositions();
    Type elt = op.getResult().getType().getElementType();
    Type posElt = op.getPositions().getType().getElementType();
    Type i64 = rewriter.getI64Type(), i1 = rewriter.getI1Type();
    Type f64 = rewriter.getF64Type();
    int64_t hidden = op.getInput().getType().getDimSize(2);
    double capacity = op.getCapacity().convertToDouble();
    double threshold = op.getThreshold().convertToDouble();
    DepthSelection selection = op.getSelection();
    bool scale = op.getScaleByScore();
    Value batch = tensor::DimOp::create(rewriter, loc, x, 0);
    Value seqLen = tensor::DimOp::create(rewriter, loc, x, 1);
    OpFoldResult sSz = tensor::getMixedSize(rewriter, loc, x, 1);
    auto id1 = AffineMap::getMultiDimIdentityMap(1, ctx);
    Value maskInit = emptyTensor(rewriter, loc, sizesOf(rewriter, loc, scores), i1);
    Block &body = op.getBody().front();

    SmallVector<Value> inits = {x, maskInit};
    llvm::append_range(inits, op.getStates());
    Value lengths = op.getLengths();

    auto loop = scf::ForOp::create(
        rewriter, loc, indexConst(rewriter, loc, 0), batch,
        indexConst(rewriter, loc, 1), inits,
        [&](OpBuilder &b, Location l, Value bi, ValueRange iter) {
          Value w = sliceAt(b, l, scores, 0, bi); // [S]
          Type wElt = llvm::cast<RankedTensorType>(w.getType()).getElementType();
          // The row's valid tokens: the first n.
          Value n = seqLen;
          if (lengths) {
            Value len = tensor::ExtractOp::create(b, l, lengths, ValueRange{bi});
            n = arith::IndexCastOp::create(b, l, b.getIndexType(), len);
            n = arith::MinSIOp::create(b, l, n, seqLen);
          }

          // k = max(1, floor(capacity · n)).
          Value sF = arith::SIToFPOp::create(
              b, l, f64, arith::IndexCastOp::create(b, l, i64, n));
          Value kI = arith::FPToSIOp::create(
              b, l, i64, arith::MulFOp::create(b, l, sF, floatConst(b, l, f64, capacity)));
          kI = arith::MaxSIOp::create(b, l, kI, intConst(b, l, i64, 1));

          Value ranks = selection == DepthSelection::Threshold
                            ? Value()
                            : scoreRanks(b, l, w, sSz, n);
          // thr = the k-th largest score (rank k - 1), for topk_strict.
          Value thr;
          if (selection == DepthSelection::TopKStrict) {
            Value kth = arith::SubIOp::create(b, l, kI, intConst(b, l, i64, 1));
            Value zeroD = filledTensor(b, l, {}, wElt, 0.0);
            Value thrT = generic(
                b, l, ValueRange{w, ranks}, zeroD,
                {id1, id1, AffineMap::get(1, 0, {}, ctx)}, iterators(0, 1),
                [&](OpBuilder &nb, Location nl, ValueRange a) {
                  Value hit = arith::CmpIOp::create(
                      nb, nl, arith::CmpIPredicate::eq, a[1], kth);
                  Value v = arith::SelectOp::create(nb, nl, hit, a[0],
                                                    floatConst(nb, nl, wElt, 0.0));
                  linalg::YieldOp::create(
                      nb, nl, Value(arith::AddFOp::create(nb, nl, a[2], v)));
                });
            thr = tensor::ExtractOp::create(b, l, thrT, ValueRange{});
          }
          Value kIsOne = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, kI,
                                               intConst(b, l, i64, 1));
          SmallVector<Value> selIns = {w};
          if (ranks)
            selIns.push_back(ranks);
          SmallVector<AffineMap> selMaps(selIns.size() + 1, id1);
          Value sel = generic(
              b, l, selIns, emptyTensor(b, l, {sSz}, i1), selMaps, iterators(1),
              [&](OpBuilder &nb, Location nl, ValueRange a) {
                Value s;
                switch (selection) {
                case DepthSelection::TopK:
                  s = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt,
                                            a[1], kI);
                  break;
                case DepthSelection::TopKStrict: {
                  Value gt = arith::CmpFOp::create(
                      nb, nl, arith::CmpFPredicate::OGT, a[0], thr);
                  Value ge = arith::CmpFOp::create(
                      nb, nl, arith::CmpFPredicate::OGE, a[0], thr);
                  s = arith::SelectOp::create(nb, nl, kIsOne, ge, gt);
                  break;
                }
                case DepthSelection::Threshold:
                  s = arith::CmpFOp::create(
                      nb, nl, arith::CmpFPredicate::OGT, a[0],
                      floatConst(nb, nl, wElt, threshold));
                  break;
                }
                if (lengths) {
                  Value i = linalg::IndexOp::create(nb, nl, 0);
                  s = arith::AndIOp::create(
                      nb, nl, s,
                      arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ult,
                                            i, n));
                }
                linalg::YieldOp::create(nb, nl, s);
              });

          // Compact the selected indices, in sequence order (idx), and give
          // each selected token its rank among them (slot).
          Value idxInit = emptyTensor(b, l, {sSz}, b.getIndexType());
          Value slotInit = emptyTensor(b, l, {sSz}, b.getIndexType());
          auto compact = scf::ForOp::create(
              b, l, indexConst(b, l, 0), seqLen, indexConst(b, l, 1),
              ValueRange{idxInit, slotInit, indexConst(b, l, 0)},
              [&](OpBuilder &nb, Location nl, Value i, ValueRange it) {
                Value s = tensor::ExtractOp::create(nb, nl, sel, ValueRange{i});
                auto ifOp = scf::IfOp::create(
                    nb, nl, s,
                    [&](OpBuilder &tb, Location tl) {
                      Value idx = tensor::InsertOp::create(tb, tl, i, it[0],
                                                           ValueRange{it[2]});
                      Value slot = tensor::InsertOp::create(tb, tl, it[2], it[1],
                                                            ValueRange{i});
                      Value cnt = arith::AddIOp::create(tb, tl, it[2],
                                                        indexConst(tb, tl, 1));
                      scf::YieldOp::create(tb, tl, ValueRange{idx, slot, cnt});
                    },
                    [&](OpBuilder &eb, Location el) {
                      scf::YieldOp::create(eb, el, it);
                    });
                scf::YieldOp::create(nb, nl, ifOp.getResults());
              });
          Value idx = compact.getResult(0);
          Value slots = compact.getResult(1);
          Value count = compact.getResult(2);

          // Gather x_sel [1, K, H] and pos_sel [1, K].
          auto id3 = AffineMap::getMultiDimIdentityMap(3, ctx);
          Value xSel = generic(
              b, l, ValueRange{},
              emptyTensor(b, l, {b.getIndexAttr(1), count, b.getIndexAttr(hidden)}, elt),
              {id3}, iterators(3), [&](OpBuilder &nb, Location nl, ValueRange) {
                Value s = linalg::IndexOp::create(nb, nl, 1);
                Value h = linalg::IndexOp::create(nb, nl, 2);
                Value j = tensor::ExtractOp::create(nb, nl, idx, ValueRange{s});
                linalg::YieldOp::create(
                    nb, nl,
                    Value(tensor::ExtractOp::create(nb, nl, x, ValueRange{bi, j, h})));
              });
          auto id2 = AffineMap::getMultiDimIdentityMap(2, ctx);
          Value posSel = generic(
              b, l, ValueRange{},
              emptyTensor(b, l, {b.getIndexAttr(1), count}, posElt), {id2},
              iterators(2), [&](OpBuilder &nb, Location nl, ValueRange) {
                Value s = linalg::IndexOp::create(nb, nl, 1);
                Value j = tensor::ExtractOp::create(nb, nl, idx, ValueRange{s});
                linalg::YieldOp::create(
                    nb, nl,
                    Value(tensor::ExtractOp::create(nb, nl, positions,
                                                    ValueRange{bi, j})));
              });

          // Row bi of each state.
          SmallVector<Value> rows;
          for (Value state : iter.drop_front(2)) {
            RowWindow w = rowWindow(b, l, state, bi);
            rows.push_back(tensor::ExtractSliceOp::create(
                b, l, DepthRouteOp::rowType(cast<RankedTensorType>(state.getType())),
                state, w.offsets, w.sizes, w.strides));
          }

          // The block, on the selected tokens only.
          auto inlineBlock = [&](OpBuilder &ib, Location il) {
            IRMapping mapping;
            mapping.map(body.getArgument(0), xSel);
            mapping.map(body.getArgument(1), posSel);
            for (auto [arg, row] : llvm::zip(body.getArguments().drop_front(2), rows))
              mapping.map(arg, row);
            for (Operation &inner : body.without_terminator())
              ib.clone(inner, mapping);
            SmallVector<Value> outs;
            for (Value v : cast<YieldOp>(body.getTerminator()).getValues())
              outs.push_back(mapping.lookup(v));
            return outs;
          };
          SmallVector<Value> blockOuts;
          if (selection == DepthSelection::Threshold) {
            // Nothing selected: no block work, states unchanged.
            Value any = arith::CmpIOp::create(b, l, arith::CmpIPredicate::sgt,
                                              count, indexConst(b, l, 0));
            auto ifOp = scf::IfOp::create(
                b, l, any,
                [&](OpBuilder &tb, Location tl) {
                  scf::YieldOp::create(tb, tl, inlineBlock(tb, tl));
                },
                [&](OpBuilder &eb, Location el) {
                  SmallVector<Value> outs = {xSel};
                  outs.append(rows);
                  scf::YieldOp::create(eb, el, outs);
                });
            blockOuts = ifOp.getResults();
          } else {
            blockOuts = inlineBlock(b, l);
          }
          Value ySel = blockOuts[0];

          // Scatter back in one pass over the row: a selected token takes
          // its block output (scaled by its score), the others keep x.
          auto tokenMap = dimsMap(ctx, 2, {0});
          Value xRow = sliceAt(b, l, iter[0], 0, bi); // [S, H]
          Value outRow = generic(
              b, l, ValueRange{sel, slots, w}, xRow,
              {tokenMap, tokenMap, tokenMap, id2}, iterators(2),
              [&](OpBuilder &nb, Location nl, ValueRange a) {
                Value h = linalg::IndexOp::create(nb, nl, 1);
                auto pick = scf::IfOp::create(
                    nb, nl, TypeRange{elt}, a[0],
                    /*addThenBlock=*/true, /*addElseBlock=*/true);
                {
                  OpBuilder tb = pick.getThenBodyBuilder();
                  Value y = tensor::ExtractOp::create(
                      tb, nl, ySel, ValueRange{indexConst(tb, nl, 0), a[1], h});
                  if (scale)
                    y = arith::MulFOp::create(tb, nl, y, castFloat(tb, nl, a[2], elt));
                  scf::YieldOp::create(tb, nl, y);
                }
                {
                  OpBuilder eb = pick.getElseBodyBuilder();
                  scf::YieldOp::create(eb, nl, a[3]);
                }
                linalg::YieldOp::create(nb, nl, pick.getResult(0));
              });
          Value out = insertAt(b, l, outRow, iter[0], 0, bi);
          Value mask = insertAt(b, l, sel, iter[1], 0, bi);
          SmallVector<Value> next = {out, mask};
          for (auto [row, state] : llvm::zip(llvm::drop_begin(blockOuts), iter.drop_front(2))) {
            RowWindow w = rowWindow(b, l, state, bi);
            next.push_back(tensor::InsertSliceOp::create(
                b, l, row, state, w.offsets, w.sizes, w.strides));
          }
          scf::YieldOp::create(b, l, next);
        });
    rewriter.replaceOp(op, loop.getResults());
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceDepthRoutePatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerDepthRoute>(patterns.getContext());
}
