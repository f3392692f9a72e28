//===- ChannelScan.cpp - the selective scan as a grid of channels ---------===//
//
// The reference scan is a time loop around whole-tensor steps: each step is
// a few [B, D, N] kernels launched from the host, L times per layer, and
// the loop itself runs serially on the host thread. But the recurrence is
// independent per (batch, channel): this pass rewrites a
// `chimera.selective_scan` (f32) into an `scf.forall` over (b, d) whose
// body runs the whole time loop with the channel's state in one
// `vector<N>` register:
//
//   h = state[b, d]                                  (vector<N>)
//   for t < L:
//     Δ = softplus?(delta[b,t,d] + bias[d])
//     h' = exp(Δ·A[d]) ⊙ h + (Δ·u[b,t,d]) · B[b,t]   (t < lengths[b]; else h)
//     y[b,t,d] = <h', C[b,t]> + D[d]·u[b,t,d], times silu(z[b,t,d])
//   state[b, d] = h
//
// The state is read from and written to the op's initial state (the
// runtime's buffer, in place); a decode step (L = 1) is the same grid.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_CHANNELSCAN
#include "passes/Passes.h.inc"

namespace {

struct ChannelScanPattern : OpRewritePattern<SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Channels per grid item in the blocked form (one AVX-512 vector).
  static constexpr int64_t kBlock = 16;
  /// Steps between the prefetch of a step's Δ, u and z and their use.
  static constexpr int64_t kAhead = 4;

  /// `tensor`'s buffer, for prefetches: any layout, read only.
  static Value readOnlyBuffer(OpBuilder &b, Location loc, Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    int64_t dyn = ShapedType::kDynamic;
    auto layout = StridedLayoutAttr::get(
        b.getContext(), dyn, SmallVector<int64_t>(type.getRank(), dyn));
    auto buffer =
        MemRefType::get(type.getShape(), type.getElementType(), layout);
    return bufferization::ToBufferOp::create(b, loc, buffer, tensor,
                                             /*read_only=*/true);
  }

  /// The blocked form, for D a multiple of kBlock: one grid item per
  /// (b, kBlock channels), the state as N vectors across the channels, so Δ,
  /// u, z and y move as contiguous vectors, softplus and SiLU are vector
  /// ops, and <h, C> needs no horizontal sum (B[t, n] and C[t, n] are
  /// broadcast scalars).
  ValueRange blockedScan(PatternRewriter &rewriter, SelectiveScanOp op,
                         Value yInit, Value state, Value steps,
                         OpFoldResult bSz, int64_t channels, int64_t n) const {
    Location loc = op.getLoc();
    Type f32 = rewriter.getF32Type();
    Value u = op.getU(), delta = op.getDelta(), A = op.getA(), Bm = op.getB(),
          Cm = op.getC(), D = op.getD(), z = op.getZ(),
          bias = op.getDeltaBias(), lengths = op.getLengths();
    auto vec = VectorType::get({kBlock}, f32);
    auto index = [&](OpBuilder &b, int64_t c) -> Value {
      return arith::ConstantIndexOp::create(b, loc, c);
    };
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        SmallVector<OpFoldResult>{bSz,
                                  rewriter.getIndexAttr(channels / kBlock)},
        ValueRange{yInit, state}, std::nullopt);
    forall->setAttr(kKernelTag, rewriter.getStringAttr("selective_scan"));
    OpBuilder b = OpBuilder::atBlockBegin(forall.getBody());
    Value bi = forall.getInductionVars()[0];
    Value d0 = arith::MulIOp::create(b, loc, forall.getInductionVars()[1],
                                     index(b, kBlock));
    Value yOut = forall.getRegionIterArgs()[0];
    Value stateOut = forall.getRegionIterArgs()[1];
    Value c0 = index(b, 0), c1 = index(b, 1);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
    auto read = [&](OpBuilder &bb, Value src, ValueRange at) -> Value {
      return vector::TransferReadOp::create(bb, loc, vec, src, at, zero,
                                            ArrayRef<bool>{true});
    };
    // The [kBlock, N] tile of a [D, N] (or [B, D, N]) tensor at channel d0
    // as N column vectors across the block's channels: kBlock row reads,
    // transposed in registers. Tensor-level extracts per element made
    // bufferization's pairwise analysis take minutes on mamba-130m; vector
    // extracts cost it nothing.
    auto rowType = VectorType::get({n}, f32);
    auto columns = [&](Value src, ValueRange prefix) {
      SmallVector<Value> rows;
      for (int64_t i = 0; i < kBlock; ++i) {
        SmallVector<Value> at(prefix);
        at.push_back(arith::AddIOp::create(b, loc, d0, index(b, i)));
        at.push_back(c0);
        rows.push_back(vector::TransferReadOp::create(
            b, loc, rowType, src, at, zero, ArrayRef<bool>{true}));
      }
      SmallVector<Value> cols;
      for (int64_t j = 0; j < n; ++j) {
        SmallVector<Value> elems;
        for (int64_t i = 0; i < kBlock; ++i)
          elems.push_back(vector::ExtractOp::create(b, loc, rows[i],
                                                    ArrayRef<int64_t>{j}));
        cols.push_back(vector::FromElementsOp::create(b, loc, vec, elems));
      }
      return cols;
    };

    Value len = steps;
    if (lengths) {
      len = reference::toIndex(
          b, loc, tensor::ExtractOp::create(b, loc, lengths, ValueRange{bi}));
      len = arith::MinSIOp::create(b, loc, len, steps);
    }
    SmallVector<Value> aCols = columns(A, {}), h0 = columns(stateOut, {bi});
    Value dd = D ? read(b, D, {d0}) : Value();
    Value db = bias ? read(b, bias, {d0}) : Value();
    // y[b, :, d0 : d0 + kBlock], written a row per step.
    Value yTile = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({ShapedType::kDynamic, kBlock}, f32),
        yOut, SmallVector<OpFoldResult>{bi, b.getIndexAttr(0), d0},
        SmallVector<OpFoldResult>{b.getIndexAttr(1), steps,
                                  b.getIndexAttr(kBlock)},
        SmallVector<OpFoldResult>(3, b.getIndexAttr(1)));
    SmallVector<Value> inits(h0);
    inits.push_back(yTile);

    // Δ, u and z of step t are rows of [B, L, D] buffers: one cache line
    // each, a row (often a page) apart, which the hardware prefetchers do
    // not follow; the recurrence stalled on their loads (a sixth of
    // mamba-130m's scan samples on the load of Δ alone). Reading them
    // ahead in registers did not help: the scan's state and A columns
    // fill the registers, so the values were spilled, and each spill
    // waited on its load. A prefetch has no result to wait on.
    SmallVector<Value> prefetched;
    for (Value s : {delta, u, z})
      if (s)
        prefetched.push_back(readOnlyBuffer(b, loc, s));
    Value last = arith::SubIOp::create(b, loc, steps, c1);

    auto time = scf::ForOp::create(
        b, loc, c0, steps, c1, inits,
        [&](OpBuilder &lb, Location, Value t, ValueRange it) {
          Value ahead = arith::MinSIOp::create(
              lb, loc, arith::AddIOp::create(lb, loc, t, index(lb, kAhead)),
              last);
          for (Value buffer : prefetched)
            memref::PrefetchOp::create(lb, loc, buffer,
                                       ValueRange{bi, ahead, d0},
                                       /*isWrite=*/false, /*localityHint=*/3,
                                       /*isDataCache=*/true);
          SmallVector<Value, 3> at = {bi, t, d0};
          Value dt = read(lb, delta, at);
          if (db)
            dt = arith::AddFOp::create(lb, loc, dt, db);
          if (op.getDeltaSoftplus())
            dt = reference::softplus(lb, loc, dt);
          Value ut = read(lb, u, at);
          Value dtu = arith::MulFOp::create(lb, loc, dt, ut);
          Value valid = arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::slt,
                                              t, len);
          Value y = dd ? Value(arith::MulFOp::create(lb, loc, ut, dd))
                       : Value(arith::ConstantOp::create(
                             lb, loc, vec,
                             DenseElementsAttr::get(vec, lb.getF32FloatAttr(0))));
          SmallVector<Value> next;
          for (int64_t j = 0; j < n; ++j) {
            SmallVector<Value, 3> btj = {bi, t, index(lb, j)};
            Value bj = vector::BroadcastOp::create(
                lb, loc, vec, tensor::ExtractOp::create(lb, loc, Bm, btj));
            Value cj = vector::BroadcastOp::create(
                lb, loc, vec, tensor::ExtractOp::create(lb, loc, Cm, btj));
            Value decay = math::ExpOp::create(
                lb, loc, arith::MulFOp::create(lb, loc, dt, aCols[j]));
            Value hj = vector::FMAOp::create(
                lb, loc, dtu, bj, arith::MulFOp::create(lb, loc, decay, it[j]));
            // Past its length a row's state stays as it was.
            hj = arith::SelectOp::create(lb, loc, valid, hj, it[j]);
            y = vector::FMAOp::create(lb, loc, hj, cj, y);
            next.push_back(hj);
          }
          if (z)
            y = arith::MulFOp::create(
                lb, loc, y,
                reference::activation(lb, loc, Activation::Silu,
                                      read(lb, z, at)));
          Value tile = vector::TransferWriteOp::create(
                           lb, loc, y, it[n], ValueRange{t, index(lb, 0)},
                           ArrayRef<bool>{true})
                           .getResult();
          next.push_back(tile);
          scf::YieldOp::create(lb, loc, next);
        });

    // The final state back into [1, kBlock, N] of the state buffer: the
    // columns transposed in registers, one row write per channel.
    Value stateTile = tensor::EmptyOp::create(
        b, loc, ArrayRef<int64_t>{kBlock, n}, f32);
    for (int64_t i = 0; i < kBlock; ++i) {
      SmallVector<Value> elems;
      for (int64_t j = 0; j < n; ++j)
        elems.push_back(vector::ExtractOp::create(b, loc, time.getResult(j),
                                                  ArrayRef<int64_t>{i}));
      Value row = vector::FromElementsOp::create(b, loc, rowType, elems);
      stateTile = vector::TransferWriteOp::create(
                      b, loc, row, stateTile, ValueRange{index(b, i), c0},
                      ArrayRef<bool>{true})
                      .getResult();
    }
    OpBuilder ib = OpBuilder::atBlockEnd(forall.getTerminator().getBody());
    OpFoldResult one = ib.getIndexAttr(1);
    tensor::ParallelInsertSliceOp::create(
        ib, loc, time.getResult(n), yOut,
        SmallVector<OpFoldResult>{bi, ib.getIndexAttr(0), d0},
        SmallVector<OpFoldResult>{one, steps, ib.getIndexAttr(kBlock)},
        SmallVector<OpFoldResult>(3, one));
    tensor::ParallelInsertSliceOp::create(
        ib, loc, stateTile, stateOut,
        SmallVector<OpFoldResult>{bi, d0, ib.getIndexAttr(0)},
        SmallVector<OpFoldResult>{one, ib.getIndexAttr(kBlock),
                                  ib.getIndexAttr(n)},
        SmallVector<OpFoldResult>(3, one));
    return forall.getResults();
  }

  LogicalResult matchAndRewrite(SelectiveScanOp op,
                                PatternRewriter &rewriter) const override {
    Type f32 = rewriter.getF32Type();
    for (Value v : op->getOperands())
      if (auto t = dyn_cast<RankedTensorType>(v.getType());
          t && !t.getElementType().isInteger() && t.getElementType() != f32)
        return rewriter.notifyMatchFailure(op, "f32 only");
    int64_t n = op.getA().getType().getDimSize(1);
    if (ShapedType::isDynamic(n))
      return rewriter.notifyMatchFailure(op, "static state size");

    Location loc = op.getLoc();
    Value u = op.getU(), delta = op.getDelta(), A = op.getA(),
          Bm = op.getB(), Cm = op.getC(), D = op.getD(), z = op.getZ(),
          bias = op.getDeltaBias(), lengths = op.getLengths();
    auto index = [&](OpBuilder &b, int64_t c) -> Value {
      return arith::ConstantIndexOp::create(b, loc, c);
    };
    OpFoldResult bSz = tensor::getMixedSize(rewriter, loc, u, 0);
    OpFoldResult dSz = tensor::getMixedSize(rewriter, loc, u, 2);
    Value steps = tensor::DimOp::create(rewriter, loc, u, 1);
    Value yInit = tensor::EmptyOp::create(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, u), f32);
    Value state = op.getInitialState();
    if (!state)
      state = reference::filledTensor(rewriter, loc,
                                      {bSz, dSz, rewriter.getIndexAttr(n)},
                                      f32, 0.0);
    int64_t channels = cast<RankedTensorType>(u.getType()).getDimSize(2);
    if (!ShapedType::isDynamic(channels) && channels % kBlock == 0) {
      rewriter.replaceOp(op, blockedScan(rewriter, op, yInit, state, steps,
                                         bSz, channels, n));
      return success();
    }
    auto vec = VectorType::get({n}, f32);
    auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;

    auto forall = scf::ForallOp::create(
        rewriter, loc, SmallVector<OpFoldResult>{bSz, dSz},
        ValueRange{yInit, state}, std::nullopt);
    forall->setAttr(kKernelTag, rewriter.getStringAttr("selective_scan"));
    OpBuilder b = OpBuilder::atBlockBegin(forall.getBody());
    Value bi = forall.getInductionVars()[0], d = forall.getInductionVars()[1];
    Value yOut = forall.getRegionIterArgs()[0];
    Value stateOut = forall.getRegionIterArgs()[1];
    Value c0 = index(b, 0), c1 = index(b, 1);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));

    Value len = steps;
    if (lengths) {
      len = reference::toIndex(
          b, loc, tensor::ExtractOp::create(b, loc, lengths, ValueRange{bi}));
      len = arith::MinSIOp::create(b, loc, len, steps);
    }
    Value aRow = vector::TransferReadOp::create(b, loc, vec, A,
                                                ValueRange{d, c0}, zero,
                                                ArrayRef<bool>{true});
    Value h0 = vector::TransferReadOp::create(b, loc, vec, stateOut,
                                              ValueRange{bi, d, c0}, zero,
                                              ArrayRef<bool>{true});
    Value dd = D ? Value(tensor::ExtractOp::create(b, loc, D, ValueRange{d}))
                 : Value();
    Value db = bias ? Value(tensor::ExtractOp::create(b, loc, bias,
                                                      ValueRange{d}))
                    : Value();
    // The channel's outputs over time, inserted into y[b, :, d] at the end.
    Value column = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({ShapedType::kDynamic}, f32), yOut,
        SmallVector<OpFoldResult>{bi, b.getIndexAttr(0), d},
        SmallVector<OpFoldResult>{b.getIndexAttr(1), steps, b.getIndexAttr(1)},
        SmallVector<OpFoldResult>(3, b.getIndexAttr(1)));

    auto time = scf::ForOp::create(
        b, loc, c0, steps, c1, ValueRange{h0, column},
        [&](OpBuilder &lb, Location, Value t, ValueRange it) {
          Value h = it[0];
          SmallVector<Value, 3> btd = {bi, t, d};
          Value dt = tensor::ExtractOp::create(lb, loc, delta, btd);
          if (db)
            dt = arith::AddFOp::create(lb, loc, dt, db);
          if (op.getDeltaSoftplus())
            dt = reference::softplus(lb, loc, dt);
          Value ut = tensor::ExtractOp::create(lb, loc, u, btd);
          Value bRow = vector::TransferReadOp::create(
              lb, loc, vec, Bm, ValueRange{bi, t, c0}, zero,
              ArrayRef<bool>{true});
          Value cRow = vector::TransferReadOp::create(
              lb, loc, vec, Cm, ValueRange{bi, t, c0}, zero,
              ArrayRef<bool>{true});
          Value dtV = vector::BroadcastOp::create(lb, loc, vec, dt);
          Value decay = math::ExpOp::create(
              lb, loc, arith::MulFOp::create(lb, loc, dtV, aRow));
          Value dtu = vector::BroadcastOp::create(
              lb, loc, vec, arith::MulFOp::create(lb, loc, dt, ut));
          Value next = vector::FMAOp::create(
              lb, loc, dtu, bRow, arith::MulFOp::create(lb, loc, decay, h));
          // Past its length a row's state stays as it was.
          Value valid = arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::slt,
                                              t, len);
          next = arith::SelectOp::create(lb, loc, valid, next, h);
          Value y = vector::ReductionOp::create(
              lb, loc, vector::CombiningKind::ADD,
              arith::MulFOp::create(lb, loc, next, cRow, fast), Value(), fast);
          if (dd)
            y = arith::AddFOp::create(lb, loc, y,
                                      arith::MulFOp::create(lb, loc, ut, dd));
          if (z)
            y = arith::MulFOp::create(
                lb, loc, y,
                reference::activation(
                    lb, loc, Activation::Silu,
                    tensor::ExtractOp::create(lb, loc, z, btd)));
          Value col = tensor::InsertOp::create(lb, loc, y, it[1], ValueRange{t});
          scf::YieldOp::create(lb, loc, ValueRange{next, col});
        });

    Value stateRow = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{n}, f32);
    stateRow = vector::TransferWriteOp::create(b, loc, time.getResult(0),
                                               stateRow, ValueRange{c0},
                                               ArrayRef<bool>{true})
                   .getResult();
    OpBuilder ib = OpBuilder::atBlockEnd(forall.getTerminator().getBody());
    OpFoldResult one = ib.getIndexAttr(1);
    tensor::ParallelInsertSliceOp::create(
        ib, loc, time.getResult(1), yOut,
        SmallVector<OpFoldResult>{bi, ib.getIndexAttr(0), d},
        SmallVector<OpFoldResult>{one, steps, one},
        SmallVector<OpFoldResult>(3, one));
    tensor::ParallelInsertSliceOp::create(
        ib, loc, stateRow, stateOut,
        SmallVector<OpFoldResult>{bi, d, ib.getIndexAttr(0)},
        SmallVector<OpFoldResult>{one, one, ib.getIndexAttr(n)},
        SmallVector<OpFoldResult>(3, one));
    rewriter.replaceOp(op, forall.getResults());
    return success();
  }
};

struct ChannelScanPass : public impl::ChannelScanBase<ChannelScanPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ChannelScanPattern>(&getContext());
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
} // namespace mlir::chimera
