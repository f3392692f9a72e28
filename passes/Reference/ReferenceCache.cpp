//===- ReferenceCache.cpp - in-place cache writes, last-token rows --------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// for b: cache[b, offsets[b] : offsets[b] + S, ...] = update[b]
/// The loop carries the cache value and only inserts slices into it, which
/// one-shot bufferization performs in place on the cache's buffer.
struct LowerCacheWrite : OpRewritePattern<CacheWriteOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CacheWriteOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value update = op.getUpdate(), offsets = op.getOffsets();
    Value batch = tensor::DimOp::create(rewriter, loc, op.getCache(), 0);
    auto loop = scf::ForOp::create(
        rewriter, loc, indexConst(rewriter, loc, 0), batch,
        indexConst(rewriter, loc, 1), ValueRange{op.getCache()},
        [&](OpBuilder &b, Location l, Value bi, ValueRange iter) {
          Value off = toIndex(
              b, l, tensor::ExtractOp::create(b, l, offsets, ValueRange{bi}));
          SmallVector<OpFoldResult> sizes = sizesOf(b, l, update);
          sizes[0] = b.getIndexAttr(1);
          SmallVector<OpFoldResult> srcOffsets(sizes.size(), b.getIndexAttr(0));
          srcOffsets[0] = bi;
          SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
          Value rows = tensor::ExtractSliceOp::create(b, l, update, srcOffsets,
                                                      sizes, strides);
          SmallVector<OpFoldResult> dstOffsets = srcOffsets;
          dstOffsets[1] = off;
          Value written = tensor::InsertSliceOp::create(
              b, l, rows, iter[0], dstOffsets, sizes, strides);
          scf::YieldOp::create(b, l, written);
        });
    rewriter.replaceOp(op, loop.getResult(0));
    return success();
  }
};

/// out[b, 0, h] = input[b, clamp(lengths[b], 1, S) - 1, h]
struct LowerLastToken : OpRewritePattern<LastTokenOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LastTokenOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value input = op.getInput();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, input);
    sizes[1] = rewriter.getIndexAttr(1);
    Value init = emptyTensor(rewriter, loc, sizes,
                             op.getType().getElementType());
    Value steps = tensor::DimOp::create(rewriter, loc, input, 1);
    Value result = generic(
        rewriter, loc, op.getLengths(), init,
        {dimsMap(ctx, 3, {0}), AffineMap::getMultiDimIdentityMap(3, ctx)},
        iterators(3), [&](OpBuilder &b, Location l, ValueRange args) {
          Value one = indexConst(b, l, 1);
          Value n = toIndex(b, l, args[0]);
          n = arith::MaxSIOp::create(b, l, arith::MinSIOp::create(b, l, n, steps),
                                     one);
          Value t = arith::SubIOp::create(b, l, n, one);
          Value row = linalg::IndexOp::create(b, l, 0);
          Value h = linalg::IndexOp::create(b, l, 2);
          linalg::YieldOp::create(
              b, l,
              Value(tensor::ExtractOp::create(b, l, input,
                                              ValueRange{row, t, h})));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceCachePatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCacheWrite, LowerLastToken>(patterns.getContext());
}
