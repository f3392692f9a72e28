//===- ReferenceScale.cpp - VAR's resizing and scale schedule -------------===//
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

/// The [out, in] matrix R of one axis: out = R · in, following PyTorch's
/// F.interpolate with align_corners = False.
static std::vector<float> interpMatrix(InterpMode mode, int64_t in,
                                       int64_t out) {
  std::vector<double> r(out * in, 0.0);
  double scale = double(in) / double(out);
  for (int64_t i = 0; i < out; ++i) {
    switch (mode) {
    case InterpMode::Nearest: {
      int64_t src = std::min<int64_t>(
          int64_t(std::floor(float(i) * float(scale))), in - 1);
      r[i * in + src] = 1.0;
      break;
    }
    case InterpMode::Area: {
      int64_t start = (i * in) / out;
      int64_t end = ((i + 1) * in + out - 1) / out;
      for (int64_t p = start; p < end; ++p)
        r[i * in + p] = 1.0 / double(end - start);
      break;
    }
    case InterpMode::Bicubic: {
      const double a = -0.75;
      auto near = [&](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };
      auto far = [&](double x) {
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
      };
      double src = scale * (i + 0.5) - 0.5;
      double i0 = std::floor(src);
      double t = src - i0;
      double coeff[4] = {far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)};
      for (int m = 0; m < 4; ++m) {
        int64_t p = std::clamp<int64_t>(int64_t(i0) - 1 + m, 0, in - 1);
        r[i * in + p] += coeff[m];
      }
      break;
    }
    }
  }
  return std::vector<float>(r.begin(), r.end());
}

namespace {

/// out = Ry · x · Rxᵀ with constant per-axis matrices.
struct LowerScaleInterp : OpRewritePattern<ScaleInterpOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaleInterpOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = op.getContext();
    Value x = op.getInput();
    Type elt = op.getType().getElementType();
    Type f32 = rewriter.getF32Type();
    ArrayRef<int64_t> xs = op.getInput().getType().getShape();
    int64_t outH = op.getSize()[0], outW = op.getSize()[1];
    auto matrix = [&](int64_t in, int64_t out) {
      std::vector<float> m = interpMatrix(op.getMode(), in, out);
      return arith::ConstantOp::create(
          rewriter, loc,
          DenseElementsAttr::get(RankedTensorType::get({out, in}, f32),
                                 ArrayRef<float>(m)));
    };
    Value ry = matrix(xs[2], outH), rx = matrix(xs[3], outW);
    OpFoldResult bSz = tensor::getMixedSize(rewriter, loc, x, 0);
    OpFoldResult cSz = tensor::getMixedSize(rewriter, loc, x, 1);
    auto body = [&](OpBuilder &b, Location l, ValueRange a) {
      Value p = arith::MulFOp::create(b, l, castFloat(b, l, a[0], elt),
                                      castFloat(b, l, a[1], elt));
      linalg::YieldOp::create(b, l, Value(arith::AddFOp::create(b, l, a[2], p)));
    };
    // rows[b, c, i, q] = Σ_p Ry[i, p] x[b, c, p, q]     over (b, c, i, q, p)
    Value rows = generic(
        rewriter, loc, ValueRange{ry, x},
        filledTensor(rewriter, loc,
                     {bSz, cSz, rewriter.getIndexAttr(outH), rewriter.getIndexAttr(xs[3])},
                     elt, 0.0),
        {dimsMap(ctx, 5, {2, 4}), dimsMap(ctx, 5, {0, 1, 4, 3}),
         dimsMap(ctx, 5, {0, 1, 2, 3})},
        iterators(4, 1), body);
    // out[b, c, i, j] = Σ_q rows[b, c, i, q] Rx[j, q]   over (b, c, i, j, q)
    Value out = generic(
        rewriter, loc, ValueRange{rows, rx},
        filledTensor(rewriter, loc,
                     {bSz, cSz, rewriter.getIndexAttr(outH), rewriter.getIndexAttr(outW)},
                     elt, 0.0),
        {dimsMap(ctx, 5, {0, 1, 2, 4}), dimsMap(ctx, 5, {3, 4}),
         dimsMap(ctx, 5, {0, 1, 2, 3})},
        iterators(4, 1), body);
    rewriter.replaceOp(op, out);
    return success();
  }
};

/// Unrolls the static schedule: the steps inlined in order, each on the
/// values the previous one yielded.
struct UnrollNextScaleGenerate : OpRewritePattern<NextScaleGenerateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(NextScaleGenerateOp op,
                                PatternRewriter &rewriter) const override {
    SmallVector<Value> carried(op.getInits());
    for (Region &step : op.getSteps()) {
      Block &body = step.front();
      IRMapping mapping;
      mapping.map(body.getArguments(), carried);
      for (Operation &inner : body.without_terminator())
        rewriter.clone(inner, mapping);
      for (auto [i, v] : llvm::enumerate(
               cast<YieldOp>(body.getTerminator()).getValues()))
        carried[i] = mapping.lookupOrDefault(v);
    }
    rewriter.replaceOp(op, carried);
    return success();
  }
};

} // namespace

void mlir::chimera::populateReferenceScalePatterns(RewritePatternSet &patterns) {
  patterns.add<LowerScaleInterp, UnrollNextScaleGenerate>(patterns.getContext());
}
