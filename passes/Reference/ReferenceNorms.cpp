//===- ReferenceNorms.cpp - norms and activations -------------------------===//
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

/// Σ over the last dim of f(x) as an f32 tensor of the leading dims.
static Value reduceLast(OpBuilder &b, Location loc, Value x,
                        function_ref<Value(OpBuilder &, Location, Value)> f) {
  MLIRContext *ctx = b.getContext();
  unsigned rank = llvm::cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, x);
  sizes.pop_back();
  Type f32 = b.getF32Type();
  Value init = filledTensor(b, loc, sizes, f32, 0.0);
  SmallVector<unsigned> lead;
  for (unsigned i = 0; i + 1 < rank; ++i)
    lead.push_back(i);
  return generic(b, loc, x, init,
                 {AffineMap::getMultiDimIdentityMap(rank, ctx),
                  dimsMap(ctx, rank, lead)},
                 iterators(rank - 1, 1),
                 [&](OpBuilder &nb, Location l, ValueRange args) {
                   Value v = f(nb, l, castFloat(nb, l, args[0], f32));
                   linalg::YieldOp::create(
                       nb, l, Value(arith::AddFOp::create(nb, l, args[1], v)));
                 });
}

/// The size of the last dim as an f32 scalar.
static Value lastDimAsF32(OpBuilder &b, Location loc, Value x) {
  unsigned rank = llvm::cast<RankedTensorType>(x.getType()).getRank();
  Value n = tensor::DimOp::create(b, loc, x, rank - 1);
  Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), n);
  return arith::SIToFPOp::create(b, loc, b.getF32Type(), i);
}

/// out = x / sqrt(mean(x²) + eps) · (unit_offset ? 1 + w : w)
struct LowerRmsNorm : OpRewritePattern<RmsNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(RmsNormOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    unsigned rank = op.getType().getRank();
    Type elt = op.getType().getElementType();
    Type f32 = rewriter.getF32Type();
    Value sumsq = reduceLast(rewriter, loc, x, [](OpBuilder &b, Location l, Value v) {
      return Value(arith::MulFOp::create(b, l, v, v));
    });
    Value n = lastDimAsF32(rewriter, loc, x);
    double eps = op.getEpsilon().convertToDouble();
    bool unitOffset = op.getUnitOffset();
    SmallVector<unsigned> lead;
    for (unsigned i = 0; i + 1 < rank; ++i)
      lead.push_back(i);
    auto id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    Value result = generic(
        rewriter, loc, ValueRange{x, sumsq, op.getWeight()},
        emptyTensor(rewriter, loc, sizesOf(rewriter, loc, x), elt),
        {id, dimsMap(ctx, rank, lead), dimsMap(ctx, rank, {rank - 1}), id},
        iterators(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value mean = arith::DivFOp::create(b, l, args[1], n);
          Value inv = math::RsqrtOp::create(
              b, l, arith::AddFOp::create(b, l, mean, floatConst(b, l, f32, eps)));
          Value y = arith::MulFOp::create(b, l, castFloat(b, l, args[0], f32), inv);
          Value w = castFloat(b, l, args[2], f32);
          if (unitOffset)
            w = arith::AddFOp::create(b, l, floatConst(b, l, f32, 1.0), w);
          Value out = arith::MulFOp::create(b, l, y, w);
          linalg::YieldOp::create(b, l, castFloat(b, l, out, elt));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// out = (x - mean) / sqrt(var + eps) · w + b
struct LowerLayerNorm : OpRewritePattern<LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LayerNormOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    unsigned rank = op.getType().getRank();
    Type elt = op.getType().getElementType();
    Type f32 = rewriter.getF32Type();
    Value n = lastDimAsF32(rewriter, loc, x);
    Value sum = reduceLast(rewriter, loc, x,
                           [](OpBuilder &, Location, Value v) { return v; });
    SmallVector<unsigned> lead;
    for (unsigned i = 0; i + 1 < rank; ++i)
      lead.push_back(i);
    auto id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap leadMap = dimsMap(ctx, rank, lead);
    AffineMap lastMap = dimsMap(ctx, rank, {rank - 1});
    SmallVector<OpFoldResult> sizes = sizesOf(rewriter, loc, x);
    // centered = x - mean, in f32.
    Value centered = generic(
        rewriter, loc, ValueRange{x, sum}, emptyTensor(rewriter, loc, sizes, f32),
        {id, leadMap, id}, iterators(rank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Value mean = arith::DivFOp::create(b, l, args[1], n);
          linalg::YieldOp::create(
              b, l,
              Value(arith::SubFOp::create(b, l, castFloat(b, l, args[0], f32),
                                          mean)));
        });
    Value sumsq = reduceLast(rewriter, loc, centered,
                             [](OpBuilder &b, Location l, Value v) {
                               return Value(arith::MulFOp::create(b, l, v, v));
                             });
    double eps = op.getEpsilon().convertToDouble();
    SmallVector<Value> inputs = {centered, sumsq};
    SmallVector<AffineMap> maps = {id, leadMap};
    Value weight = op.getWeight(), bias = op.getBias();
    if (weight) {
      inputs.push_back(weight);
      maps.push_back(lastMap);
    }
    if (bias) {
      inputs.push_back(bias);
      maps.push_back(lastMap);
    }
    maps.push_back(id);
    Value result = generic(
        rewriter, loc, inputs, emptyTensor(rewriter, loc, sizes, elt), maps,
        iterators(rank), [&](OpBuilder &b, Location l, ValueRange args) {
          Value var = arith::DivFOp::create(b, l, args[1], n);
          Value inv = math::RsqrtOp::create(
              b, l, arith::AddFOp::create(b, l, var, floatConst(b, l, f32, eps)));
          Value y = arith::MulFOp::create(b, l, args[0], inv);
          unsigned next = 2;
          if (weight)
            y = arith::MulFOp::create(b, l, y, castFloat(b, l, args[next++], f32));
          if (bias)
            y = arith::AddFOp::create(b, l, y, castFloat(b, l, args[next++], f32));
          linalg::YieldOp::create(b, l, castFloat(b, l, y, elt));
        });
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// Elementwise activations: silu, gelu and the gated glu.
static Value elementwise(PatternRewriter &rewriter, Operation *op,
                         ValueRange inputs,
                         function_ref<Value(OpBuilder &, Location, ValueRange)> f) {
  Location loc = op->getLoc();
  auto type = llvm::cast<RankedTensorType>(op->getResult(0).getType());
  unsigned rank = type.getRank();
  auto id = AffineMap::getMultiDimIdentityMap(rank, op->getContext());
  SmallVector<AffineMap> maps(inputs.size() + 1, id);
  Value init = emptyTensor(rewriter, loc, sizesOf(rewriter, loc, inputs[0]),
                           type.getElementType());
  return generic(rewriter, loc, inputs, init, maps, iterators(rank),
                 [&](OpBuilder &b, Location l, ValueRange args) {
                   linalg::YieldOp::create(b, l, f(b, l, args));
                 });
}

struct LowerSilu : OpRewritePattern<SiluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SiluOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, elementwise(rewriter, op, op.getInput(),
                                       [](OpBuilder &b, Location l, ValueRange a) {
                                         return activation(b, l, Activation::Silu,
                                                           a[0]);
                                       }));
    return success();
  }
};

struct LowerGelu : OpRewritePattern<GeluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GeluOp op,
                                PatternRewriter &rewriter) const override {
    Activation act = op.getApproximate() ? Activation::GeluTanh : Activation::Gelu;
    rewriter.replaceOp(op, elementwise(rewriter, op, op.getInput(),
                                       [&](OpBuilder &b, Location l, ValueRange a) {
                                         return activation(b, l, act, a[0]);
                                       }));
    return success();
  }
};

struct LowerGlu : OpRewritePattern<GluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(GluOp op,
                                PatternRewriter &rewriter) const override {
    Activation act = op.getActivation();
    rewriter.replaceOp(
        op, elementwise(rewriter, op, ValueRange{op.getGate(), op.getUp()},
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          Value g = activation(b, l, act, a[0]);
                          return Value(arith::MulFOp::create(b, l, g, a[1]));
                        }));
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceNormPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerRmsNorm, LowerLayerNorm, LowerSilu, LowerGelu, LowerGlu>(
      patterns.getContext());
}
