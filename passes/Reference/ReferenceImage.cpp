//===- ReferenceImage.cpp - convolutions and group norms of image models --===//
//
// The VQVAE decoder's building blocks: `chimera.conv2d` as im2col and a
// `chimera.linear` (the GEMM kernels every target already has), and
// `chimera.group_norm` on the map viewed as [B, G, C/G, d...] so that every
// indexing map is a projected permutation.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// out = conv(pad(x), w) + bias as a matrix product: the patches of the
/// padded map laid out as rows (im2col, [B, H, W, Ci·kh·kw]) times the
/// weight viewed as [Co, Ci·kh·kw] is `chimera.linear`, so a convolution
/// runs on the same GEMM kernels as the transformer layers; the [B, H, W,
/// Co] product is transposed back to NCHW.
struct LowerConv2d : OpRewritePattern<Conv2dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(Conv2dOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    RankedTensorType type = op.getType();
    auto xt = llvm::cast<RankedTensorType>(x.getType());
    auto wt = llvm::cast<RankedTensorType>(op.getWeight().getType());
    Type elt = xt.getElementType();
    int64_t ci = wt.getDimSize(1), kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    int64_t co = wt.getDimSize(0), h = type.getDimSize(2), w = type.getDimSize(3);
    int64_t pad = op.getPadding();
    if (pad > 0) {
      SmallVector<OpFoldResult> low = {
          rewriter.getIndexAttr(0), rewriter.getIndexAttr(0),
          rewriter.getIndexAttr(pad), rewriter.getIndexAttr(pad)};
      SmallVector<int64_t> shape(xt.getShape());
      shape[2] += 2 * pad;
      shape[3] += 2 * pad;
      x = tensor::PadOp::create(rewriter, loc, RankedTensorType::get(shape, elt),
                                x, low, low, floatConst(rewriter, loc, elt, 0.0));
    }
    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, x, 0);
    // cols[b, i, j, c, p, q] = x[b, c, i + p, j + q]
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    AffineMap gather = AffineMap::get(6, 0, {d(0), d(3), d(1) + d(4), d(2) + d(5)}, ctx);
    SmallVector<OpFoldResult> colSizes = {batch};
    for (int64_t s : {h, w, ci, kh, kw})
      colSizes.push_back(rewriter.getIndexAttr(s));
    Value cols = generic(rewriter, loc, x, emptyTensor(rewriter, loc, colSizes, elt),
                         {gather, AffineMap::getMultiDimIdentityMap(6, ctx)},
                         iterators(6), [&](OpBuilder &b, Location l, ValueRange a) {
                           linalg::YieldOp::create(b, l, a[0]);
                         });
    Value rows = tensor::CollapseShapeOp::create(
        rewriter, loc, cols,
        SmallVector<ReassociationIndices>{{0}, {1}, {2}, {3, 4, 5}});
    Value weight = tensor::CollapseShapeOp::create(
        rewriter, loc, op.getWeight(),
        SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
    Value product = LinearOp::create(rewriter, loc, rows, weight, Value(),
                                     Value(), op.getBias(), QuantAttr(),
                                     /*panel=*/IntegerAttr(),
                                     /*rows=*/IntegerAttr());
    // [B, H, W, Co] -> [B, Co, H, W]
    SmallVector<OpFoldResult> outSizes = {batch, rewriter.getIndexAttr(co),
                                          rewriter.getIndexAttr(h),
                                          rewriter.getIndexAttr(w)};
    Value out = generic(rewriter, loc, product,
                        emptyTensor(rewriter, loc, outSizes, type.getElementType()),
                        {AffineMap::get(4, 0, {d(0), d(2), d(3), d(1)}, ctx),
                         AffineMap::getMultiDimIdentityMap(4, ctx)},
                        iterators(4), [&](OpBuilder &b, Location l, ValueRange a) {
                          linalg::YieldOp::create(b, l, a[0]);
                        });
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// out = (x - mean_g) / sqrt(var_g + eps) · w[c] + b[c] over [B, G, C/G, d...]
struct LowerGroupNorm : OpRewritePattern<GroupNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GroupNormOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    RankedTensorType type = op.getType();
    Type elt = type.getElementType();
    Type f32 = rewriter.getF32Type();
    unsigned rank = type.getRank();
    int64_t channels = type.getDimSize(1), groups = op.getNumGroups();
    int64_t perGroup = channels / groups;
    double count = double(perGroup);
    // [B, C, d...] -> [B, G, C/G, d...]
    SmallVector<int64_t> shape = {type.getDimSize(0), groups, perGroup};
    SmallVector<OpFoldResult> outSizes = {
        tensor::getMixedSize(rewriter, loc, x, 0), rewriter.getIndexAttr(groups),
        rewriter.getIndexAttr(perGroup)};
    SmallVector<ReassociationIndices> reassoc = {{0}, {1, 2}};
    for (unsigned d = 2; d < rank; ++d) {
      shape.push_back(type.getDimSize(d));
      outSizes.push_back(tensor::getMixedSize(rewriter, loc, x, d));
      reassoc.push_back({d + 1});
      count *= double(type.getDimSize(d));
    }
    unsigned n = rank + 1;
    auto expandedType = RankedTensorType::get(shape, elt);
    Value xg = tensor::ExpandShapeOp::create(rewriter, loc, expandedType, x,
                                             reassoc, outSizes);
    auto id = AffineMap::getMultiDimIdentityMap(n, ctx);
    AffineMap statMap = dimsMap(ctx, n, {0, 1});
    AffineMap channelMap = dimsMap(ctx, n, {1, 2});
    SmallVector<OpFoldResult> statSizes = {outSizes[0], outSizes[1]};
    auto sum = [&](Value v, bool square, Value mean) {
      SmallVector<Value> inputs = {v};
      SmallVector<AffineMap> maps = {id};
      if (mean) {
        inputs.push_back(mean);
        maps.push_back(statMap);
      }
      maps.push_back(statMap);
      return generic(
          rewriter, loc, inputs, filledTensor(rewriter, loc, statSizes, f32, 0.0),
          maps, iterators(2, n - 2), [&](OpBuilder &b, Location l, ValueRange a) {
            Value y = castFloat(b, l, a[0], f32);
            if (mean) {
              Value m = arith::DivFOp::create(b, l, a[1],
                                              floatConst(b, l, f32, count));
              y = arith::SubFOp::create(b, l, y, m);
            }
            if (square)
              y = arith::MulFOp::create(b, l, y, y);
            linalg::YieldOp::create(
                b, l, Value(arith::AddFOp::create(b, l, a.back(), y)));
          });
    };
    Value total = sum(xg, false, nullptr);
    Value squares = sum(xg, true, total);
    auto weights = [&](Value w) {
      return tensor::ExpandShapeOp::create(
          rewriter, loc,
          RankedTensorType::get({groups, perGroup},
                                llvm::cast<RankedTensorType>(w.getType())
                                    .getElementType()),
          w, SmallVector<ReassociationIndices>{{0, 1}});
    };
    double eps = op.getEpsilon().convertToDouble();
    Value yg = generic(
        rewriter, loc,
        ValueRange{xg, total, squares, weights(op.getWeight()),
                   weights(op.getBias())},
        emptyTensor(rewriter, loc, outSizes, elt),
        {id, statMap, statMap, channelMap, channelMap, id}, iterators(n),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value c = floatConst(b, l, f32, count);
          Value mean = arith::DivFOp::create(b, l, a[1], c);
          Value var = arith::DivFOp::create(b, l, a[2], c);
          Value inv = math::RsqrtOp::create(
              b, l, arith::AddFOp::create(b, l, var, floatConst(b, l, f32, eps)));
          Value y = arith::MulFOp::create(
              b, l, arith::SubFOp::create(b, l, castFloat(b, l, a[0], f32), mean),
              inv);
          y = arith::AddFOp::create(
              b, l, arith::MulFOp::create(b, l, y, castFloat(b, l, a[3], f32)),
              castFloat(b, l, a[4], f32));
          linalg::YieldOp::create(b, l, castFloat(b, l, y, elt));
        });
    rewriter.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, type, yg, reassoc);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceImagePatterns(RewritePatternSet &patterns) {
  patterns.add<LowerConv2d, LowerGroupNorm>(patterns.getContext());
}
