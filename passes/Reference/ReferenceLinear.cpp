//===- ReferenceLinear.cpp - embed and linear (incl. dequantisation) ------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

namespace {

/// out[..., h] = table[ids[...], h]
struct LowerEmbed : OpRewritePattern<EmbedOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(EmbedOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    auto resultType = op.getType();
    unsigned rank = resultType.getRank();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, op.getIds());
    sizes.push_back(rewriter.getIndexAttr(resultType.getShape().back()));
    Value init = emptyTensor(rewriter, loc, sizes, resultType.getElementType());
    SmallVector<unsigned> idDims;
    for (unsigned i = 0; i + 1 < rank; ++i)
      idDims.push_back(i);
    Value table = op.getTable();
    std::optional<double> scale;
    if (FloatAttr attr = op.getScaleAttr())
      scale = attr.getValueAsDouble();
    Value result = generic(
        rewriter, loc, op.getIds(), init,
        {dimsMap(ctx, rank, idDims), AffineMap::getMultiDimIdentityMap(rank, ctx)},
        iterators(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value row = toIndex(b, l, args[0]);
          Value col = linalg::IndexOp::create(b, l, rank - 1);
          Value v = tensor::ExtractOp::create(b, l, table, ValueRange{row, col});
          if (scale)
            v = arith::MulFOp::create(b, l, v,
                                      floatConst(b, l, v.getType(), *scale));
          linalg::YieldOp::create(b, l, v);
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// out[..., n] = Σ_k x[..., k] · w[n, k] + bias[n]
struct LowerLinear : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Over (batch..., n, k): a float weight, or int8 with one scale per row.
  static Value matmul(OpBuilder &rewriter, Location loc, LinearOp op,
                      QuantAttr quant, Value init) {
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    unsigned rank = op.getInput().getType().getRank();
    Type elt = op.getType().getElementType();
    unsigned numDims = rank + 1;
    SmallVector<unsigned> xDims, outDims;
    for (unsigned i = 0; i + 1 < rank; ++i) {
      xDims.push_back(i);
      outDims.push_back(i);
    }
    xDims.push_back(rank);
    outDims.push_back(rank - 1);
    SmallVector<Value> inputs = {x, op.getWeight()};
    SmallVector<AffineMap> maps = {dimsMap(ctx, numDims, xDims),
                                   dimsMap(ctx, numDims, {rank - 1, rank})};
    if (quant) {
      inputs.push_back(op.getScales());
      maps.push_back(dimsMap(ctx, numDims, {rank - 1}));
    }
    maps.push_back(dimsMap(ctx, numDims, outDims));
    Value result = generic(
        rewriter, loc, inputs, init, maps, iterators(rank, 1),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value w = quant ? dequantise(b, l, quant, args[1], args[2], Value(),
                                       /*high=*/false)
                          : args[1];
          Value p = arith::MulFOp::create(b, l, args[0], castFloat(b, l, w, elt));
          linalg::YieldOp::create(
              b, l, Value(arith::AddFOp::create(b, l, args.back(), p)));
        });
    // Tagged like the grouped form, for kernels that read the codes.
    if (quant)
      result.getDefiningOp()->setAttr("chimera.quant", quant);
    return result;
  }

  /// A panel-stored float weight ([ceil(N/P), K, P]) over (batch..., p, j,
  /// k): out viewed as [..., ceil(N/P), P], so every map is a projection
  /// and output column p·P + j reads weight[p, k, j]; a zero-padded last
  /// panel's columns past N are computed, then sliced off.
  static Value panelMatmul(OpBuilder &b0, Location loc, LinearOp op,
                           int64_t panel, ArrayRef<OpFoldResult> sizes) {
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    unsigned rank = op.getInput().getType().getRank();
    Type elt = op.getType().getElementType();
    int64_t panels =
        cast<RankedTensorType>(op.getWeight().getType()).getDimSize(0);
    SmallVector<OpFoldResult> panelSizes(sizes);
    panelSizes.back() = b0.getIndexAttr(panels);
    panelSizes.push_back(b0.getIndexAttr(panel));
    Value init = filledTensor(b0, loc, panelSizes, elt, 0.0);
    // Dims: batch 0..rank-2, p = rank-1, j = rank, k = rank+1.
    unsigned numDims = rank + 2;
    SmallVector<unsigned> xDims, outDims;
    for (unsigned i = 0; i + 1 < rank; ++i) {
      xDims.push_back(i);
      outDims.push_back(i);
    }
    xDims.push_back(rank + 1);
    outDims.append({rank - 1, rank});
    Value product = generic(
        b0, loc, ValueRange{x, op.getWeight()}, init,
        {dimsMap(ctx, numDims, xDims),
         dimsMap(ctx, numDims, {rank - 1, rank + 1, rank}),
         dimsMap(ctx, numDims, outDims)},
        iterators(rank + 1, 1), [&](OpBuilder &b, Location l, ValueRange args) {
          Value p = arith::MulFOp::create(b, l, args[0],
                                          castFloat(b, l, args[1], elt));
          linalg::YieldOp::create(
              b, l, Value(arith::AddFOp::create(b, l, args.back(), p)));
        });
    SmallVector<ReassociationIndices> groups;
    for (unsigned i = 0; i + 1 < rank; ++i)
      groups.push_back({int64_t(i)});
    groups.push_back({int64_t(rank - 1), int64_t(rank)});
    Value padded = tensor::CollapseShapeOp::create(b0, loc, product, groups);
    if (!op.getRows())
      return padded;
    SmallVector<OpFoldResult> offsets(rank, b0.getIndexAttr(0)),
        strides(rank, b0.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(b0, loc, padded, offsets, sizes,
                                          strides);
  }

  /// Grouped formats over (batch..., n, g, j): group g's scale and offset
  /// are invariant in the inner loop, and a 4-bit step j takes both
  /// elements of stored byte j of the group (x[..., g, 2j] and
  /// x[..., g, 2j + 1]), so the inner loop has no division and no parity
  /// test. Each weight element is dequantised in the body: no dequantised
  /// copy exists.
  static Value groupedMatmul(OpBuilder &b0, Location loc, LinearOp op,
                             QuantAttr quant, Value init) {
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    auto xType = op.getInput().getType();
    unsigned rank = xType.getRank();
    Type elt = op.getType().getElementType();
    int64_t group = quant.getGroupSize();
    int64_t perByte = quant.getElementsPerByte();
    int64_t k = xType.getShape().back();
    // x [..., K] -> [..., K/G, G]; codes [N, K/perByte] -> [N, K/G, G/perByte].
    SmallVector<ReassociationIndices> xAssoc;
    for (unsigned i = 0; i + 1 < rank; ++i)
      xAssoc.push_back({int64_t(i)});
    xAssoc.push_back({int64_t(rank - 1), int64_t(rank)});
    SmallVector<OpFoldResult> xSizes = sizesOf(b0, loc, x);
    xSizes.back() = b0.getIndexAttr(k / group);
    xSizes.push_back(b0.getIndexAttr(group));
    SmallVector<int64_t> xShape(xType.getShape());
    xShape.back() = k / group;
    xShape.push_back(group);
    Value xg = tensor::ExpandShapeOp::create(
        b0, loc, RankedTensorType::get(xShape, xType.getElementType()), x,
        xAssoc, xSizes);
    auto wType = cast<RankedTensorType>(op.getWeight().getType());
    int64_t n = wType.getShape()[0];
    Value codes = tensor::ExpandShapeOp::create(
        b0, loc,
        RankedTensorType::get({n, k / group, group / perByte},
                              wType.getElementType()),
        op.getWeight(), SmallVector<ReassociationIndices>{{0}, {1, 2}});

    // Dims: batch 0..rank-2, n = rank-1, g = rank, j = rank+1.
    unsigned numDims = rank + 2;
    AffineExpr dn = b0.getAffineDimExpr(rank - 1), dg = b0.getAffineDimExpr(rank),
               dj = b0.getAffineDimExpr(rank + 1);
    SmallVector<AffineExpr> batch, outExprs;
    for (unsigned i = 0; i + 1 < rank; ++i)
      batch.push_back(b0.getAffineDimExpr(i));
    outExprs = batch;
    outExprs.push_back(dn);
    auto xMap = [&](AffineExpr last) {
      SmallVector<AffineExpr> e = batch;
      e.push_back(dg);
      e.push_back(last);
      return AffineMap::get(numDims, 0, e, ctx);
    };
    SmallVector<Value> inputs;
    SmallVector<AffineMap> maps;
    if (perByte == 2) {
      inputs = {xg, xg};
      maps = {xMap(dj * 2), xMap(dj * 2 + 1)};
    } else {
      inputs = {xg};
      maps = {xMap(dj)};
    }
    inputs.push_back(codes);
    maps.push_back(AffineMap::get(numDims, 0, {dn, dg, dj}, ctx));
    AffineMap groupMap = AffineMap::get(numDims, 0, {dn, dg}, ctx);
    inputs.push_back(op.getScales());
    maps.push_back(groupMap);
    if (Value offsets = op.getOffsets()) {
      inputs.push_back(offsets);
      maps.push_back(groupMap);
    }
    maps.push_back(AffineMap::get(numDims, 0, outExprs, ctx));
    Value result = generic(
        b0, loc, inputs, init, maps, iterators(rank, 2),
        [&](OpBuilder &b, Location l, ValueRange args) {
          unsigned code = unsigned(perByte);
          Value scale = args[code + 1];
          Value offset = op.getOffsets() ? args[code + 2] : Value();
          Value acc = args.back();
          for (int64_t half = 0; half < perByte; ++half) {
            Value w = castFloat(
                b, l,
                dequantise(b, l, quant, args[code], scale, offset, half == 1),
                elt);
            acc = arith::AddFOp::create(
                b, l, acc, arith::MulFOp::create(b, l, args[half], w));
          }
          linalg::YieldOp::create(b, l, acc);
        });
    // Says what the generic computes, for target kernels that replace it
    // (chimera-vectorize-matmuls) without matching its body op by op.
    result.getDefiningOp()->setAttr("chimera.quant", quant);
    return result;
  }

  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    RankedTensorType xType = op.getInput().getType();
    RankedTensorType resultType = op.getType();
    Type elt = resultType.getElementType();
    unsigned rank = xType.getRank();

    QuantAttr quant = op.getQuantAttr();
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, x);
    sizes.back() =
        op.getPanel()
            ? OpFoldResult(rewriter.getIndexAttr(resultType.getShape().back()))
            : tensor::getMixedSize(rewriter, loc, op.getWeight(), 0);

    Value result;
    if (std::optional<uint64_t> panel = op.getPanel()) {
      result = panelMatmul(rewriter, loc, op, int64_t(*panel), sizes);
    } else {
      Value init = filledTensor(rewriter, loc, sizes, elt, 0.0);
      result = quant && quant.getGroupSize() > 0
                   ? groupedMatmul(rewriter, loc, op, quant, init)
                   : matmul(rewriter, loc, op, quant, init);
    }

    if (Value bias = op.getBias()) {
      auto id = AffineMap::getMultiDimIdentityMap(rank, ctx);
      result = generic(
          rewriter, loc, ValueRange{result, bias},
          emptyTensor(rewriter, loc, sizes, elt),
          {id, dimsMap(ctx, rank, {rank - 1}), id}, iterators(rank),
          [&](OpBuilder &b, Location l, ValueRange args) {
            linalg::YieldOp::create(
                b, l,
                Value(arith::AddFOp::create(b, l, args[0],
                                            castFloat(b, l, args[1], elt))));
          });
    }
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceLinearPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerEmbed, LowerLinear>(patterns.getContext());
}
