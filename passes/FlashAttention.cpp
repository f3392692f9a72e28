//===- FlashAttention.cpp - one pass over the visible keys per query ------===//
//
// The reference attention materialises the [B, H, S, T] score tensor and
// walks it five times (scores, mask, max, exp, sum) before a PV product
// whose reduction runs across rows of V. This pass rewrites a
// `chimera.attention` (no mask, or a positional one) into a single sweep per
// (batch, head, query) with the online softmax (Milakov & Gimelshein 2018,
// as used by FlashAttention): only keys in the query's visible range
// [lo, hi) are touched, K and V rows are read once as vectors of D, and the
// running max, denominator and output accumulator live in registers.
//
//   scf.forall (b, h, i):
//     (m, l, acc) = (-inf, 0, 0)
//     for t in [lo(p), hi(p)):
//       s = scale · <q[b,i,h], k[b,t,h/g]>
//       m' = max(m, s); c = exp(m - m'); e = exp(s - m')
//       l = l·c + e;  acc = acc·c + e·v[b,t,h/g]
//     out[b,i,h] = acc / l
//
// The loop nest is (b, h, i) with the query innermost, so the kernel grid
// blocks queries of one head together (they share K/V rows in cache), and a
// decode step still spreads its heads over the threads.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <cmath>
#include <limits>

namespace mlir::chimera {
#define GEN_PASS_DEF_FLASHATTENTION
#include "passes/Passes.h.inc"

namespace {

struct FlashAttentionPattern : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Keys per step of the sweep (one f32 vector of scores).
  static constexpr int64_t kKeyBlock = 16;

  /// The lane sums of kKeyBlock vectors of kKeyBlock lanes, as one vector
  /// (lane j: the sum of vector j): a tree of shuffles and adds that halves
  /// the lanes per vector and the vectors per level (15 adds and 30
  /// shuffles for 16 vectors, against 16 horizontal reductions and
  /// inserts), then one permutation back to key order.
  static Value sumEach(OpBuilder &b, Location loc, ArrayRef<Value> vectors) {
    int64_t n = kKeyBlock;
    // Each vector holds n / width segments of `width` lanes, segment s
    // summing to the key order[s].
    SmallVector<Value> level(vectors);
    SmallVector<SmallVector<int64_t>> orders;
    for (int64_t j = 0; j < n; ++j)
      orders.push_back({j});
    for (int64_t width = n; width > 1; width /= 2) {
      SmallVector<Value> next;
      SmallVector<SmallVector<int64_t>> nextOrders;
      int64_t half = width / 2;
      for (size_t v = 0; v + 1 < level.size(); v += 2) {
        SmallVector<int64_t> lo, hi, order;
        for (int64_t sgm = 0; sgm < n / width; ++sgm) {
          for (int64_t i = 0; i < half; ++i)
            lo.push_back(sgm * width + i);
          for (int64_t i = 0; i < half; ++i)
            lo.push_back(n + sgm * width + i);
          for (int64_t i = 0; i < half; ++i)
            hi.push_back(sgm * width + half + i);
          for (int64_t i = 0; i < half; ++i)
            hi.push_back(n + sgm * width + half + i);
          order.push_back(orders[v][sgm]);
          order.push_back(orders[v + 1][sgm]);
        }
        next.push_back(arith::AddFOp::create(
            b, loc,
            vector::ShuffleOp::create(b, loc, level[v], level[v + 1], lo),
            vector::ShuffleOp::create(b, loc, level[v], level[v + 1], hi)));
        nextOrders.push_back(order);
      }
      level = next;
      orders = nextOrders;
    }
    SmallVector<int64_t> toKeys(n);
    for (int64_t lane = 0; lane < n; ++lane)
      toKeys[orders[0][lane]] = lane;
    return vector::ShuffleOp::create(b, loc, level[0], level[0], toKeys);
  }

  /// Queries per tile of the tiled sweep (a lane each) and keys per step.
  static constexpr int64_t kQueryTile = 16, kTileKeys = 16;

  /// The tiled sweep: a grid over (b, h, tile of kQueryTile queries) whose
  /// items run the online softmax with a lane per query, so K and V rows
  /// are read once per tile rather than once per query, and no step needs
  /// a horizontal sum. Per step of kTileKeys keys t:
  ///
  ///   s_t  = Σ_d Qᵀ[d] · k[t, d]         (Qᵀ: the tile's scaled queries,
  ///                                        transposed once to the stack)
  ///   s_t  = -inf where t is outside a query's [lo, hi)
  ///   m'   = max(m, s_t...);  c = exp(m - m');  p_t = exp(s_t - m')
  ///   l    = l·c + Σ p_t;     Oᵀ[e] = Oᵀ[e]·c + Σ p_t · v[t, e]
  ///
  /// with Oᵀ [Dv, kQueryTile] on the stack. A lane whose queries have seen
  /// no visible key yet keeps m = -inf; it rescales against 0, not -inf.
  Value emitTiled(PatternRewriter &rewriter, AttentionOp op, Value init,
                  OpFoldResult bSz, Value tiles, Value tSz, int64_t group,
                  double scale) const {
    Location loc = op.getLoc();
    MaskKind mask = op.getMask();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue(),
          positions = op.getPositions();
    int64_t hq = op.getQuery().getType().getDimSize(2);
    int64_t d = op.getQuery().getType().getDimSize(3);
    int64_t dv = op.getValue().getType().getDimSize(3);
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    auto lanes = VectorType::get({kQueryTile}, f32);
    auto laneIdx = VectorType::get({kQueryTile}, i32);
    auto fast = arith::FastMathFlags::nnan;
    auto index = [&](OpBuilder &b, int64_t c) -> Value {
      return arith::ConstantIndexOp::create(b, loc, c);
    };
    auto splat = [&](OpBuilder &b, VectorType type, Attribute a) -> Value {
      return arith::ConstantOp::create(b, loc, type,
                                       DenseElementsAttr::get(type, a));
    };
    auto forEach = [&](OpBuilder &b, int64_t n,
                       function_ref<void(OpBuilder &, Value)> body) {
      auto loop = scf::ForOp::create(b, loc, index(b, 0), index(b, n),
                                     index(b, 1));
      OpBuilder lb = OpBuilder::atBlockBegin(loop.getBody());
      body(lb, loop.getInductionVar());
    };
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        SmallVector<OpFoldResult>{bSz, rewriter.getIndexAttr(hq), tiles},
        ValueRange{init}, std::nullopt);
    forall->setAttr(kKernelTag, rewriter.getStringAttr("attention"));
    OpBuilder b = OpBuilder::atBlockBegin(forall.getBody());
    SmallVector<Value> ivs(forall.getInductionVars());
    Value bi = ivs[0], h = ivs[1];
    Value i0 = arith::MulIOp::create(b, loc, ivs[2], index(b, kQueryTile));
    Value hk = arith::DivUIOp::create(b, loc, h, index(b, group));
    Value negInf = splat(b, lanes,
                         b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    Value zeros = splat(b, lanes, b.getF32FloatAttr(0));

    // Qᵀ scaled, and Oᵀ = 0, on the stack.
    auto stack = [&](int64_t rows) -> Value {
      return memref::AllocaOp::create(
          b, loc, MemRefType::get({rows, kQueryTile}, f32), ValueRange{},
          b.getI64IntegerAttr(64));
    };
    Value qt = stack(d), ot = stack(dv);
    Value scaleC = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(scale)));
    forEach(b, kQueryTile, [&](OpBuilder &lb, Value qi) {
      Value row = arith::AddIOp::create(lb, loc, i0, qi);
      forEach(lb, d, [&](OpBuilder &db, Value dd) {
        Value x = tensor::ExtractOp::create(db, loc, q, ValueRange{bi, row, h, dd});
        memref::StoreOp::create(db, loc, arith::MulFOp::create(db, loc, x, scaleC),
                                qt, ValueRange{dd, qi});
      });
    });
    forEach(b, dv, [&](OpBuilder &lb, Value e) {
      vector::StoreOp::create(lb, loc, zeros, ot, ValueRange{e, index(lb, 0)});
    });

    // Each lane's visible keys [lo, hi), and the tile's union of them.
    Value tI32 = arith::IndexCastOp::create(b, loc, i32, tSz);
    Value hiV = vector::BroadcastOp::create(b, loc, laneIdx, tI32);
    Value loV = splat(b, laneIdx, b.getI32IntegerAttr(0));
    Value hiMax = tSz, loMin = index(b, 0);
    if (mask != MaskKind::None) {
      auto posType = cast<RankedTensorType>(positions.getType());
      Type posElt = posType.getElementType();
      Value p = vector::TransferReadOp::create(
          b, loc, VectorType::get({kQueryTile}, posElt), positions,
          ValueRange{bi, i0},
          arith::ConstantOp::create(b, loc, b.getIntegerAttr(posElt, 0)),
          ArrayRef<bool>{true});
      if (posElt.getIntOrFloatBitWidth() > 32)
        p = arith::TruncIOp::create(b, loc, laneIdx, p);
      else if (posElt.getIntOrFloatBitWidth() < 32)
        p = arith::ExtSIOp::create(b, loc, laneIdx, p);
      Value zeroV = splat(b, laneIdx, b.getI32IntegerAttr(0));
      hiV = arith::MinSIOp::create(
          b, loc,
          arith::AddIOp::create(b, loc, p, splat(b, laneIdx, b.getI32IntegerAttr(1))),
          hiV);
      hiV = arith::MaxSIOp::create(b, loc, hiV, zeroV);
      if (mask == MaskKind::SlidingWindow)
        loV = arith::MaxSIOp::create(
            b, loc,
            arith::SubIOp::create(
                b, loc, p,
                splat(b, laneIdx, b.getI32IntegerAttr(*op.getWindow() - 1))),
            zeroV);
      auto reduce = [&](Value vec, vector::CombiningKind kind) -> Value {
        return arith::IndexCastOp::create(
            b, loc, b.getIndexType(),
            vector::ReductionOp::create(b, loc, kind, vec));
      };
      hiMax = reduce(hiV, vector::CombiningKind::MAXSI);
      if (mask == MaskKind::SlidingWindow)
        loMin = reduce(loV, vector::CombiningKind::MINSI);
    }
    Value hiLast = arith::SubIOp::create(b, loc, hiMax, index(b, 1));

    auto sweep = scf::ForOp::create(
        b, loc, loMin, hiMax, index(b, kTileKeys), ValueRange{negInf, zeros},
        [&](OpBuilder &lb, Location, Value t0, ValueRange it) {
          Value m = it[0], l = it[1];
          // Keys past the union's end read its last row, at weight 0.
          SmallVector<Value> rows;
          for (int64_t j = 0; j < kTileKeys; ++j)
            rows.push_back(arith::MinSIOp::create(
                lb, loc, arith::AddIOp::create(lb, loc, t0, index(lb, j)),
                hiLast));
          auto dot = scf::ForOp::create(
              lb, loc, index(lb, 0), index(lb, d), index(lb, 1),
              SmallVector<Value>(kTileKeys, zeros),
              [&](OpBuilder &db, Location, Value dd, ValueRange acc) {
                Value qd = vector::LoadOp::create(db, loc, lanes, qt,
                                                  ValueRange{dd, index(db, 0)});
                SmallVector<Value> next;
                for (int64_t j = 0; j < kTileKeys; ++j) {
                  Value kx = tensor::ExtractOp::create(
                      db, loc, k, ValueRange{bi, rows[j], hk, dd});
                  next.push_back(vector::FMAOp::create(
                      db, loc, vector::BroadcastOp::create(db, loc, lanes, kx),
                      qd, acc[j]));
                }
                scf::YieldOp::create(db, loc, next);
              });
          SmallVector<Value> scores;
          Value mNew = m;
          for (int64_t j = 0; j < kTileKeys; ++j) {
            Value t = arith::IndexCastOp::create(
                lb, loc, i32, arith::AddIOp::create(lb, loc, t0, index(lb, j)));
            Value tv = vector::BroadcastOp::create(lb, loc, laneIdx, t);
            Value ok = arith::AndIOp::create(
                lb, loc,
                arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::slt, tv, hiV),
                arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::sge, tv, loV));
            scores.push_back(
                arith::SelectOp::create(lb, loc, ok, dot.getResult(j), negInf));
            mNew = arith::MaxNumFOp::create(lb, loc, mNew, scores.back(), fast);
          }
          Value seen = arith::CmpFOp::create(lb, loc, arith::CmpFPredicate::ONE,
                                             mNew, negInf);
          Value base = arith::SelectOp::create(lb, loc, seen, mNew, zeros);
          Value corr = math::ExpOp::create(
              lb, loc, arith::SubFOp::create(lb, loc, m, base));
          Value lNew = arith::MulFOp::create(lb, loc, l, corr);
          SmallVector<Value> probs;
          for (Value sj : scores) {
            probs.push_back(math::ExpOp::create(
                lb, loc, arith::SubFOp::create(lb, loc, sj, base)));
            lNew = arith::AddFOp::create(lb, loc, lNew, probs.back());
          }
          forEach(lb, dv, [&](OpBuilder &eb, Value e) {
            SmallVector<Value> at = {e, index(eb, 0)};
            Value o = arith::MulFOp::create(
                eb, loc, vector::LoadOp::create(eb, loc, lanes, ot, at), corr);
            for (int64_t j = 0; j < kTileKeys; ++j) {
              Value vx = tensor::ExtractOp::create(
                  eb, loc, v, ValueRange{bi, rows[j], hk, e});
              o = vector::FMAOp::create(
                  eb, loc, probs[j],
                  vector::BroadcastOp::create(eb, loc, lanes, vx), o);
            }
            vector::StoreOp::create(eb, loc, o, ot, at);
          });
          scf::YieldOp::create(lb, loc, ValueRange{mNew, lNew});
        });

    // out[i0 + qi, e] = Oᵀ[e, qi] / l[qi].
    Value inv = arith::DivFOp::create(
        b, loc, splat(b, lanes, b.getF32FloatAttr(1)), sweep.getResult(1));
    Value tile = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{kQueryTile, dv}, f32);
    auto rowsLoop = scf::ForOp::create(
        b, loc, index(b, 0), index(b, dv), index(b, 1), ValueRange{tile},
        [&](OpBuilder &eb, Location, Value e, ValueRange acc) {
          Value o = arith::MulFOp::create(
              eb, loc,
              vector::LoadOp::create(eb, loc, lanes, ot, ValueRange{e, index(eb, 0)}),
              inv);
          Value t = acc[0];
          for (int64_t qi = 0; qi < kQueryTile; ++qi)
            t = tensor::InsertOp::create(
                eb, loc, vector::ExtractOp::create(eb, loc, o, ArrayRef<int64_t>{qi}),
                t, ValueRange{index(eb, qi), e});
          scf::YieldOp::create(eb, loc, t);
        });
    OpBuilder ib = OpBuilder::atBlockEnd(forall.getTerminator().getBody());
    OpFoldResult one = ib.getIndexAttr(1);
    tensor::ParallelInsertSliceOp::create(
        ib, loc, rowsLoop.getResult(0), forall.getRegionIterArgs()[0],
        SmallVector<OpFoldResult>{bi, i0, h, ib.getIndexAttr(0)},
        SmallVector<OpFoldResult>{one, ib.getIndexAttr(kQueryTile), one,
                                  ib.getIndexAttr(dv)},
        SmallVector<OpFoldResult>(4, one));
    return forall.getResult(0);
  }

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    MaskKind mask = op.getMask();
    if (mask == MaskKind::BlockCausal ||
        (mask != MaskKind::None && !op.getPositions()))
      return rewriter.notifyMatchFailure(op, "needs a positional mask");
    auto qType = op.getQuery().getType();
    auto kType = op.getKey().getType();
    auto vType = op.getValue().getType();
    Type f32 = rewriter.getF32Type();
    if (qType.getElementType() != f32 || kType.getElementType() != f32 ||
        vType.getElementType() != f32 || op.getType().getElementType() != f32)
      return rewriter.notifyMatchFailure(op, "f32 only");
    int64_t hq = qType.getDimSize(2), hkv = kType.getDimSize(2);
    int64_t d = qType.getDimSize(3), dv = vType.getDimSize(3);
    if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(hkv) ||
        ShapedType::isDynamic(d) || ShapedType::isDynamic(dv))
      return rewriter.notifyMatchFailure(op, "static heads and head dims");
    int64_t group = hq / hkv;
    double scale = op.getScale() ? op.getScale()->convertToDouble()
                                 : 1.0 / std::sqrt(double(d));

    Location loc = op.getLoc();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue(),
          positions = op.getPositions();
    auto index = [&](OpBuilder &b, int64_t c) -> Value {
      return arith::ConstantIndexOp::create(b, loc, c);
    };
    OpFoldResult bSz = tensor::getMixedSize(rewriter, loc, q, 0);
    OpFoldResult sSz = tensor::getMixedSize(rewriter, loc, q, 1);
    Value tSz = tensor::DimOp::create(rewriter, loc, k, 1);
    Value init = tensor::EmptyOp::create(
        rewriter, loc,
        SmallVector<OpFoldResult>{bSz, sSz, rewriter.getIndexAttr(hq),
                                  rewriter.getIndexAttr(dv)},
        f32);
    auto qVec = VectorType::get({d}, f32);
    auto vVec = VectorType::get({dv}, f32);
    auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;

    // Whole tiles of queries first, then the rest one query per item (all
    // of a decode step's).
    Value sVal = getValueOrCreateConstantIndexOp(rewriter, loc, sSz);
    Value tiles = arith::DivUIOp::create(
        rewriter, loc, sVal,
        arith::ConstantIndexOp::create(rewriter, loc, kQueryTile));
    init = emitTiled(rewriter, op, init, bSz, tiles, tSz, group, scale);
    Value begin = arith::MulIOp::create(
        rewriter, loc, tiles,
        arith::ConstantIndexOp::create(rewriter, loc, kQueryTile));
    SmallVector<OpFoldResult> ubs = {
        bSz, rewriter.getIndexAttr(hq),
        OpFoldResult(arith::SubIOp::create(rewriter, loc, sVal, begin)
                         .getResult())};
    auto forall = scf::ForallOp::create(rewriter, loc, ubs, ValueRange{init},
                                        std::nullopt);
    forall->setAttr(kKernelTag, rewriter.getStringAttr("attention"));
    {
          OpBuilder b = OpBuilder::atBlockBegin(forall.getBody());
          SmallVector<Value> ivs(forall.getInductionVars());
          Value bi = ivs[0], h = ivs[1],
                i = arith::AddIOp::create(b, loc, begin, ivs[2]);
          Value hk = arith::DivUIOp::create(b, loc, h, index(b, group));
          Value c0 = index(b, 0), c1 = index(b, 1);
          Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));

          // Visible keys [lo, hi) of the query at position p (all of
          // them without a mask).
          Value hi = tSz, lo = c0, p;
          if (mask != MaskKind::None) {
            p = tensor::ExtractOp::create(b, loc, positions, ValueRange{bi, i});
            p = arith::IndexCastOp::create(b, loc, b.getIndexType(), p);
            hi = arith::MinSIOp::create(
                b, loc, arith::AddIOp::create(b, loc, p, c1), tSz);
            hi = arith::MaxSIOp::create(b, loc, hi, c0);
          }
          if (mask == MaskKind::SlidingWindow) {
            lo = arith::SubIOp::create(
                b, loc, p, index(b, *op.getWindow() - 1));
            lo = arith::MaxSIOp::create(b, loc, lo, c0);
          }

          Value qv = vector::TransferReadOp::create(
              b, loc, qVec, q, ValueRange{bi, i, h, c0}, zero,
              ArrayRef<bool>{true});
          Value scaleC = arith::ConstantOp::create(
              b, loc, b.getF32FloatAttr(float(scale)));
          Value negInf = arith::ConstantOp::create(
              b, loc,
              b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
          Value acc0 = arith::ConstantOp::create(
              b, loc, vVec, DenseElementsAttr::get(vVec, b.getF32FloatAttr(0)));
          // Keys in blocks of kKeyBlock: the block's scores form one
          // vector, so the softmax's exponentials are one vector exp and
          // one rescale per block, not two scalar exps per key. Keys past
          // `hi` in the last block score -inf (weight 0); their rows are
          // read at `hi - 1`, which is visible.
          auto sVec = VectorType::get({kKeyBlock}, f32);
          Value hiLast = arith::SubIOp::create(b, loc, hi, c1);
          Value negInfV = arith::ConstantOp::create(
              b, loc, sVec,
              DenseElementsAttr::get(
                  sVec, b.getF32FloatAttr(
                            -std::numeric_limits<float>::infinity())));
          // D in whole vectors: q's chunks, loaded once per query.
          SmallVector<Value> qChunks;
          Value iota;
          if (d % kKeyBlock == 0) {
            for (int64_t ci = 0; ci < d / kKeyBlock; ++ci)
              qChunks.push_back(vector::TransferReadOp::create(
                  b, loc, sVec, q, ValueRange{bi, i, h, index(b, ci * kKeyBlock)},
                  zero, ArrayRef<bool>{true}));
            SmallVector<APInt> lanes;
            for (int64_t j = 0; j < kKeyBlock; ++j)
              lanes.push_back(APInt(64, j));
            auto iVec = VectorType::get({kKeyBlock}, b.getIndexType());
            iota = arith::ConstantOp::create(
                b, loc, iVec, DenseElementsAttr::get(iVec, lanes));
          }
          auto sweep = scf::ForOp::create(
              b, loc, lo, hi, index(b, kKeyBlock),
              ValueRange{negInf, zero, acc0},
              [&](OpBuilder &lb, Location, Value t0, ValueRange it) {
                Value m = it[0], l = it[1], acc = it[2];
                Value scores = negInfV;
                SmallVector<Value> rows, valid;
                if (qChunks.size()) {
                  // Per key, the lane-wise products of q and the key row
                  // summed over D's chunks; the block's 16 sums then come
                  // out of one transposing add tree, in key order.
                  SmallVector<Value> partial;
                  for (int64_t j = 0; j < kKeyBlock; ++j) {
                    Value t = arith::AddIOp::create(lb, loc, t0, index(lb, j));
                    t = arith::MinSIOp::create(lb, loc, t, hiLast);
                    rows.push_back(t);
                    Value sum;
                    for (auto [ci, qc] : llvm::enumerate(qChunks)) {
                      Value kc = vector::TransferReadOp::create(
                          lb, loc, sVec, k,
                          ValueRange{bi, t, hk, index(lb, ci * kKeyBlock)},
                          zero, ArrayRef<bool>{true});
                      sum = sum ? Value(vector::FMAOp::create(lb, loc, qc, kc,
                                                              sum))
                                : Value(arith::MulFOp::create(lb, loc, qc, kc));
                    }
                    partial.push_back(sum);
                  }
                  scores = arith::MulFOp::create(
                      lb, loc, sumEach(lb, loc, partial),
                      vector::BroadcastOp::create(lb, loc, sVec, scaleC));
                  // Keys at or past `hi` weigh nothing.
                  auto iVec = VectorType::get({kKeyBlock}, lb.getIndexType());
                  Value keys = arith::AddIOp::create(
                      lb, loc, vector::BroadcastOp::create(lb, loc, iVec, t0),
                      iota);
                  Value ok = arith::CmpIOp::create(
                      lb, loc, arith::CmpIPredicate::slt, keys,
                      vector::BroadcastOp::create(lb, loc, iVec, hi));
                  scores =
                      arith::SelectOp::create(lb, loc, ok, scores, negInfV);
                }
                for (int64_t j = 0; j < kKeyBlock && qChunks.empty(); ++j) {
                  Value t = arith::AddIOp::create(lb, loc, t0, index(lb, j));
                  Value ok = arith::CmpIOp::create(
                      lb, loc, arith::CmpIPredicate::slt, t, hi);
                  t = arith::MinSIOp::create(lb, loc, t, hiLast);
                  Value kv = vector::TransferReadOp::create(
                      lb, loc, qVec, k, ValueRange{bi, t, hk, c0}, zero,
                      ArrayRef<bool>{true});
                  Value prod = arith::MulFOp::create(lb, loc, qv, kv, fast);
                  Value sj = vector::ReductionOp::create(
                      lb, loc, vector::CombiningKind::ADD, prod, Value(), fast);
                  sj = arith::SelectOp::create(
                      lb, loc, ok, arith::MulFOp::create(lb, loc, sj, scaleC),
                      negInf);
                  scores = vector::InsertOp::create(lb, loc, sj, scores,
                                                    ArrayRef<int64_t>{j});
                  rows.push_back(t);
                }
                // maxnum with nnan lowers to a vector shuffle tree;
                // maximumf (NaN-propagating) to a scalar compare chain.
                Value blockMax = vector::ReductionOp::create(
                    lb, loc, vector::CombiningKind::MAXNUMF, scores, Value(),
                    arith::FastMathFlags::nnan);
                Value m2 = arith::MaximumFOp::create(lb, loc, m, blockMax);
                Value corr = math::ExpOp::create(
                    lb, loc, arith::SubFOp::create(lb, loc, m, m2));
                Value p = math::ExpOp::create(
                    lb, loc,
                    arith::SubFOp::create(
                        lb, loc, scores,
                        vector::BroadcastOp::create(lb, loc, sVec, m2)));
                Value l2 = arith::AddFOp::create(
                    lb, loc, arith::MulFOp::create(lb, loc, l, corr),
                    vector::ReductionOp::create(
                        lb, loc, vector::CombiningKind::ADD, p, Value(), fast));
                Value acc2 = arith::MulFOp::create(
                    lb, loc, acc,
                    vector::BroadcastOp::create(lb, loc, vVec, corr));
                for (int64_t j = 0; j < kKeyBlock; ++j) {
                  Value vv = vector::TransferReadOp::create(
                      lb, loc, vVec, v, ValueRange{bi, rows[j], hk, c0}, zero,
                      ArrayRef<bool>{true});
                  Value pj = vector::ExtractOp::create(lb, loc, p,
                                                       ArrayRef<int64_t>{j});
                  acc2 = vector::FMAOp::create(
                      lb, loc, vector::BroadcastOp::create(lb, loc, vVec, pj),
                      vv, acc2);
                }
                scf::YieldOp::create(lb, loc, ValueRange{m2, l2, acc2});
              });
          Value l = sweep.getResult(1);
          Value out = arith::DivFOp::create(
              b, loc, sweep.getResult(2),
              vector::BroadcastOp::create(b, loc, vVec, l));

          // The row [dv] written into the shared output at [b, i, h, :].
          Value row = tensor::EmptyOp::create(
              b, loc, ArrayRef<int64_t>{dv}, f32);
          row = vector::TransferWriteOp::create(b, loc, out, row,
                                                ValueRange{c0},
                                                ArrayRef<bool>{true})
                    .getResult();
          OpBuilder ib = OpBuilder::atBlockEnd(forall.getTerminator().getBody());
          OpFoldResult one = ib.getIndexAttr(1);
          tensor::ParallelInsertSliceOp::create(
              ib, loc, row, forall.getRegionIterArgs()[0],
              SmallVector<OpFoldResult>{bi, i, h, ib.getIndexAttr(0)},
              SmallVector<OpFoldResult>{one, one, one, ib.getIndexAttr(dv)},
              SmallVector<OpFoldResult>(4, one));
    }
    rewriter.replaceOp(op, forall.getResults());
    return success();
  }
};

struct FlashAttentionPass
    : public impl::FlashAttentionBase<FlashAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FlashAttentionPattern>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
} // namespace mlir::chimera
