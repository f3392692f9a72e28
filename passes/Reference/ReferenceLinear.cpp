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

/// The 4-bit code of logical element `k` from its byte: low nibble for even
/// `k`, high nibble for odd `k`; sign-extended when `isSigned`.
static Value nibble(OpBuilder &b, Location loc, Value byte, Value k,
                    bool isSigned) {
  Type i8 = b.getI8Type();
  Value four = intConst(b, loc, i8, 4);
  Value odd = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::ne,
      arith::RemUIOp::create(b, loc, k, indexConst(b, loc, 2)),
      indexConst(b, loc, 0));
  if (isSigned) {
    Value hi = arith::ShRSIOp::create(b, loc, byte, four);
    Value lo = arith::ShRSIOp::create(
        b, loc, arith::ShLIOp::create(b, loc, byte, four), four);
    return arith::SelectOp::create(b, loc, odd, hi, lo);
  }
  Value mask = intConst(b, loc, i8, 0xF);
  Value hi = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, byte, four), mask);
  Value lo = arith::AndIOp::create(b, loc, byte, mask);
  return arith::SelectOp::create(b, loc, odd, hi, lo);
}

/// 2^(e - 127) for an E8M0 scale byte (0xFF is NaN).
static Value e8m0ToF32(OpBuilder &b, Location loc, Value byte) {
  Type i32 = b.getI32Type();
  Value e = arith::ExtUIOp::create(b, loc, i32, byte);
  Value bits = arith::ShLIOp::create(b, loc, e, intConst(b, loc, i32, 23));
  Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e,
                                       intConst(b, loc, i32, 0));
  Value isNan = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e,
                                      intConst(b, loc, i32, 255));
  // 2^-127 is the f32 subnormal 0x00400000.
  bits = arith::SelectOp::create(b, loc, isZero,
                                 intConst(b, loc, i32, 0x00400000), bits);
  bits = arith::SelectOp::create(b, loc, isNan,
                                 intConst(b, loc, i32, 0x7FC00000), bits);
  return arith::BitcastOp::create(b, loc, b.getF32Type(), bits);
}

/// The dequantised weight `w[n, k]` as an f32 tensor, by the formulas of
/// `#chimera.quant`. The reference materialises it; fast lowerings fuse it
/// into the matmul.
static Value dequantise(OpBuilder &b, Location loc, LinearOp op,
                        QuantAttr quant, OpFoldResult kSize) {
  MLIRContext *ctx = op.getContext();
  Type f32 = b.getF32Type();
  Value weight = op.getWeight(), scales = op.getScales(),
        offsets = op.getOffsets();
  SmallVector<OpFoldResult> sizes = {
      tensor::getMixedSize(b, loc, weight, 0), kSize};
  Value init = emptyTensor(b, loc, sizes, f32);
  int64_t group = quant.getGroupSize();
  auto mxfp4Table = DenseElementsAttr::get(
      RankedTensorType::get({16}, f32),
      ArrayRef<float>{0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f,
                      -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f});
  Value table;
  if (quant.getScheme() == QuantScheme::MxFp4)
    table = arith::ConstantOp::create(b, loc, mxfp4Table);
  return generic(
      b, loc, ValueRange{}, init, {AffineMap::getMultiDimIdentityMap(2, ctx)},
      iterators(2), [&](OpBuilder &nb, Location l, ValueRange) {
        Value n = linalg::IndexOp::create(nb, l, 0);
        Value k = linalg::IndexOp::create(nb, l, 1);
        Value g = group > 0 ? arith::DivUIOp::create(
                                  nb, l, k, indexConst(nb, l, group))
                            : Value();
        Value w;
        switch (quant.getScheme()) {
        case QuantScheme::Int8: {
          Value q = tensor::ExtractOp::create(nb, l, weight, ValueRange{n, k});
          Value s = tensor::ExtractOp::create(nb, l, scales, ValueRange{n});
          w = arith::MulFOp::create(nb, l, castFloat(nb, l, s, f32),
                                    arith::SIToFPOp::create(nb, l, f32, q));
          break;
        }
        case QuantScheme::Int4:
        case QuantScheme::Fp4M0E4:
        case QuantScheme::MxFp4: {
          Value byteIdx = arith::DivUIOp::create(nb, l, k, indexConst(nb, l, 2));
          Value byte =
              tensor::ExtractOp::create(nb, l, weight, ValueRange{n, byteIdx});
          Value s = tensor::ExtractOp::create(nb, l, scales, ValueRange{n, g});
          if (quant.getScheme() == QuantScheme::Int4) {
            Value q = nibble(nb, l, byte, k, /*isSigned=*/true);
            w = arith::MulFOp::create(nb, l, castFloat(nb, l, s, f32),
                                      arith::SIToFPOp::create(nb, l, f32, q));
          } else if (quant.getScheme() == QuantScheme::Fp4M0E4) {
            // h = as_f16(0x3C00 | q << 6) = 1 + q/16: the bit splice.
            Value q = nibble(nb, l, byte, k, /*isSigned=*/false);
            Type i16 = nb.getI16Type();
            Value q16 = arith::ExtUIOp::create(nb, l, i16, q);
            Value bits = arith::OrIOp::create(
                nb, l, intConst(nb, l, i16, 0x3C00),
                arith::ShLIOp::create(nb, l, q16, intConst(nb, l, i16, 6)));
            Value h = arith::ExtFOp::create(
                nb, l, f32, Value(arith::BitcastOp::create(nb, l, nb.getF16Type(), bits)));
            Value o = tensor::ExtractOp::create(nb, l, offsets, ValueRange{n, g});
            w = arith::AddFOp::create(
                nb, l, arith::MulFOp::create(nb, l, castFloat(nb, l, s, f32), h),
                castFloat(nb, l, o, f32));
          } else {
            Value q = nibble(nb, l, byte, k, /*isSigned=*/false);
            Value v = tensor::ExtractOp::create(
                nb, l, table,
                ValueRange{arith::IndexCastUIOp::create(nb, l, nb.getIndexType(), q)});
            w = arith::MulFOp::create(nb, l, v, e8m0ToF32(nb, l, s));
          }
          break;
        }
        }
        linalg::YieldOp::create(nb, l, w);
      });
}

/// out[..., n] = Σ_k x[..., k] · w[n, k] + bias[n]
struct LowerLinear : OpRewritePattern<LinearOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    RankedTensorType xType = op.getInput().getType();
    RankedTensorType resultType = op.getType();
    Type elt = resultType.getElementType();
    unsigned rank = xType.getRank();

    Value weight = op.getWeight();
    if (QuantAttr quant = op.getQuantAttr()) {
      weight = dequantise(rewriter, loc, op, quant,
                          tensor::getMixedSize(rewriter, loc, x, rank - 1));
    }

    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, x);
    sizes.back() = tensor::getMixedSize(rewriter, loc, weight, 0);
    Value init = filledTensor(rewriter, loc, sizes, elt, 0.0);

    // Iteration space: (batch..., n, k).
    unsigned numDims = rank + 1;
    SmallVector<unsigned> xDims, outDims;
    for (unsigned i = 0; i + 1 < rank; ++i) {
      xDims.push_back(i);
      outDims.push_back(i);
    }
    xDims.push_back(rank);
    outDims.push_back(rank - 1);
    Value result = generic(
        rewriter, loc, ValueRange{x, weight}, init,
        {dimsMap(ctx, numDims, xDims), dimsMap(ctx, numDims, {rank - 1, rank}),
         dimsMap(ctx, numDims, outDims)},
        iterators(rank, 1), [&](OpBuilder &b, Location l, ValueRange args) {
          Value w = castFloat(b, l, args[1], elt);
          Value p = arith::MulFOp::create(b, l, args[0], w);
          linalg::YieldOp::create(b, l,
                                  Value(arith::AddFOp::create(b, l, args[2], p)));
        });

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
