//===- ReferenceUtils.cpp - builders shared by the reference lowering -----===//
#include "passes/Reference/ReferenceUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::chimera;
using namespace mlir::chimera::reference;

SmallVector<OpFoldResult> reference::sizesOf(OpBuilder &b, Location loc,
                                             Value tensor) {
  return tensor::getMixedSizes(b, loc, tensor);
}

Value reference::emptyTensor(OpBuilder &b, Location loc,
                             ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

Value reference::filledTensor(OpBuilder &b, Location loc,
                              ArrayRef<OpFoldResult> sizes, Type elementType,
                              double value) {
  Value empty = emptyTensor(b, loc, sizes, elementType);
  Value scalar = llvm::isa<FloatType>(elementType)
                     ? floatConst(b, loc, elementType, value)
                     : intConst(b, loc, elementType, int64_t(value));
  return linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
}

Value reference::floatConst(OpBuilder &b, Location loc, Type type,
                            double value) {
  // Vectors get a splat, so the scalar formulas serve vectorised kernels.
  if (auto shaped = dyn_cast<ShapedType>(type))
    return arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(
            shaped, b.getFloatAttr(shaped.getElementType(), value)));
  return arith::ConstantOp::create(b, loc, b.getFloatAttr(type, value));
}

Value reference::intConst(OpBuilder &b, Location loc, Type type,
                          int64_t value) {
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, value));
}

Value reference::indexConst(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

AffineMap reference::mapOf(MLIRContext *ctx, unsigned numDims,
                           ArrayRef<AffineExpr> exprs) {
  return AffineMap::get(numDims, 0, exprs, ctx);
}

AffineMap reference::dimsMap(MLIRContext *ctx, unsigned numDims,
                             ArrayRef<unsigned> dims) {
  SmallVector<AffineExpr> exprs;
  for (unsigned d : dims)
    exprs.push_back(getAffineDimExpr(d, ctx));
  return mapOf(ctx, numDims, exprs);
}

SmallVector<utils::IteratorType> reference::iterators(unsigned parallel,
                                                      unsigned reduction) {
  SmallVector<utils::IteratorType> its(parallel, utils::IteratorType::parallel);
  its.append(reduction, utils::IteratorType::reduction);
  return its;
}

Value reference::generic(OpBuilder &b, Location loc, ValueRange inputs,
                         Value init, ArrayRef<AffineMap> maps,
                         ArrayRef<utils::IteratorType> iteratorTypes,
                         BodyFn body) {
  auto op = linalg::GenericOp::create(b, loc, TypeRange{init.getType()},
                                      inputs, ValueRange{init}, maps,
                                      iteratorTypes, body);
  return op.getResult(0);
}

Value reference::castFloat(OpBuilder &b, Location loc, Value v, Type type) {
  unsigned from = v.getType().getIntOrFloatBitWidth();
  unsigned to = type.getIntOrFloatBitWidth();
  if (v.getType() == type)
    return v;
  if (from < to)
    return arith::ExtFOp::create(b, loc, type, v);
  return arith::TruncFOp::create(b, loc, type, v);
}

Value reference::toIndex(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isIndex())
    return v;
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

Value reference::activation(OpBuilder &b, Location loc, Activation act,
                            Value x) {
  Type t = x.getType();
  switch (act) {
  case Activation::Identity:
    return x;
  case Activation::Silu: {
    // x / (1 + exp(-x))
    Value neg = arith::NegFOp::create(b, loc, x);
    Value e = math::ExpOp::create(b, loc, neg);
    Value den = arith::AddFOp::create(b, loc, floatConst(b, loc, t, 1.0), e);
    return arith::DivFOp::create(b, loc, x, den);
  }
  case Activation::Gelu: {
    // 0.5 x (1 + erf(x / sqrt 2))
    Value s = arith::MulFOp::create(b, loc, x,
                                    floatConst(b, loc, t, M_SQRT1_2));
    Value erf = math::ErfOp::create(b, loc, s);
    Value one = arith::AddFOp::create(b, loc, floatConst(b, loc, t, 1.0), erf);
    Value half = arith::MulFOp::create(b, loc, x, floatConst(b, loc, t, 0.5));
    return arith::MulFOp::create(b, loc, half, one);
  }
  case Activation::GeluTanh: {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    Value x3 = arith::MulFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, x, x));
    Value inner = arith::AddFOp::create(
        b, loc, x,
        arith::MulFOp::create(b, loc, x3, floatConst(b, loc, t, 0.044715)));
    Value scaled = arith::MulFOp::create(
        b, loc, inner, floatConst(b, loc, t, 0.7978845608028654));
    Value th = math::TanhOp::create(b, loc, scaled);
    Value one = arith::AddFOp::create(b, loc, floatConst(b, loc, t, 1.0), th);
    Value half = arith::MulFOp::create(b, loc, x, floatConst(b, loc, t, 0.5));
    return arith::MulFOp::create(b, loc, half, one);
  }
  case Activation::Relu:
    return arith::MaximumFOp::create(b, loc, x, floatConst(b, loc, t, 0.0));
  }
  llvm_unreachable("unknown activation");
}

static SmallVector<OpFoldResult> wholeExcept(OpBuilder &b, Location loc,
                                             Value tensor, unsigned dim,
                                             OpFoldResult index,
                                             SmallVector<OpFoldResult> &offsets) {
  SmallVector<OpFoldResult> sizes = sizesOf(b, loc, tensor);
  offsets.assign(sizes.size(), b.getIndexAttr(0));
  offsets[dim] = index;
  sizes[dim] = b.getIndexAttr(1);
  return sizes;
}

Value reference::sliceAt(OpBuilder &b, Location loc, Value source,
                         unsigned dim, OpFoldResult index) {
  auto type = llvm::cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> offsets;
  SmallVector<OpFoldResult> sizes =
      wholeExcept(b, loc, source, dim, index, offsets);
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  SmallVector<int64_t> shape(type.getShape());
  shape.erase(shape.begin() + dim);
  auto resultType = RankedTensorType::get(shape, type.getElementType());
  return tensor::ExtractSliceOp::create(b, loc, resultType, source, offsets,
                                        sizes, strides);
}

Value reference::insertAt(OpBuilder &b, Location loc, Value slice, Value dest,
                          unsigned dim, OpFoldResult index) {
  SmallVector<OpFoldResult> offsets;
  SmallVector<OpFoldResult> sizes =
      wholeExcept(b, loc, dest, dim, index, offsets);
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  return tensor::InsertSliceOp::create(b, loc, slice, dest, offsets, sizes,
                                       strides);
}

Value reference::softplus(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value big = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                                    floatConst(b, loc, t, 20.0));
  Value sp = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, x));
  return arith::SelectOp::create(b, loc, big, x, sp);
}
