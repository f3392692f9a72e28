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
  if (auto shaped = dyn_cast<ShapedType>(type))
    return arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(
            shaped, b.getIntegerAttr(shaped.getElementType(), value)));
  return arith::ConstantOp::create(b, loc, b.getIntegerAttr(type, value));
}

/// `type`'s shape with element type `element`.
static Type withElement(Type type, Type element) {
  if (auto vec = dyn_cast<VectorType>(type))
    return vec.clone(element);
  return element;
}

Value reference::m0e4ToF32(OpBuilder &b, Location loc, Value code) {
  Type i32 = code.getType();
  Value bits = arith::OrIOp::create(
      b, loc, intConst(b, loc, i32, 0x3F800000),
      arith::ShLIOp::create(b, loc, code, intConst(b, loc, i32, 19)));
  return arith::BitcastOp::create(b, loc, withElement(i32, b.getF32Type()),
                                  bits);
}

Value reference::e2m1ToF32(OpBuilder &b, Location loc, Value code) {
  // Assembled as f32 bits with integer ops: exponent e = bits 2..1 (bias
  // 1) becomes e + 126, mantissa bit 0 the top mantissa bit, bit 3 the
  // sign; e = 0 is 0 or 0.5 (0x3F000000).
  Type i32 = code.getType();
  auto c = [&](int64_t v) { return intConst(b, loc, i32, v); };
  Value e = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, code, c(1)), c(3));
  Value m = arith::AndIOp::create(b, loc, code, c(1));
  Value normal = arith::OrIOp::create(
      b, loc,
      arith::ShLIOp::create(b, loc, arith::AddIOp::create(b, loc, e, c(126)),
                            c(23)),
      arith::ShLIOp::create(b, loc, m, c(22)));
  Value small = arith::MulIOp::create(b, loc, m, c(0x3F000000));
  Value isSmall =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, e, c(0));
  Value bits = arith::SelectOp::create(b, loc, isSmall, small, normal);
  Value sign = arith::ShLIOp::create(
      b, loc, arith::AndIOp::create(b, loc, code, c(8)), c(28));
  return arith::BitcastOp::create(b, loc, withElement(i32, b.getF32Type()),
                                  arith::OrIOp::create(b, loc, bits, sign));
}

Value reference::e8m0ToF32(OpBuilder &b, Location loc, Value byte) {
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

/// A 4-bit code from its byte, as an i32: the low nibble (even element) or
/// the high one (odd element); in [-8, 7] when `isSigned`. Computed in i32
/// with masks and a compare, so targets that widen i8 arithmetic (SPIR-V
/// without Int8) get the same codes.
Value reference::nibble(OpBuilder &b, Location loc, Value byte, bool high,
                        bool isSigned) {
  Type i32 = b.getI32Type();
  Value word = arith::ExtUIOp::create(b, loc, i32, byte);
  if (high)
    word = arith::ShRUIOp::create(b, loc, word, intConst(b, loc, i32, 4));
  Value u = arith::AndIOp::create(b, loc, word, intConst(b, loc, i32, 0xF));
  if (!isSigned)
    return u;
  Value negative = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, u,
                                         intConst(b, loc, i32, 8));
  return arith::SelectOp::create(
      b, loc, negative,
      arith::SubIOp::create(b, loc, u, intConst(b, loc, i32, 16)), u);
}

/// The dequantised weight element `w[n, k]` by the formulas of
/// `#chimera.quant`, from its stored byte (`code`: the int8 value, or the
/// byte whose low (even `k`) or `high` (odd `k`) nibble it is), its scale
/// and offset. Emitted inside the consuming matmul's body: no dequantised
/// copy exists.
Value reference::dequantise(OpBuilder &b, Location loc, QuantAttr quant,
                            Value code, Value scale, Value offset, bool high) {
  Type f32 = b.getF32Type();
  switch (quant.getScheme()) {
  case QuantScheme::Int8:
    return arith::MulFOp::create(b, loc, castFloat(b, loc, scale, f32),
                                 arith::SIToFPOp::create(b, loc, f32, code));
  case QuantScheme::Int4: {
    Value q = nibble(b, loc, code, high, /*isSigned=*/true);
    return arith::MulFOp::create(b, loc, castFloat(b, loc, scale, f32),
                                 arith::SIToFPOp::create(b, loc, f32, q));
  }
  case QuantScheme::Fp4M0E4:
  case QuantScheme::MxFp4:
    return decodeFp4(b, loc, quant,
                     nibble(b, loc, code, high, /*isSigned=*/false), scale,
                     offset);
  }
  llvm_unreachable("unknown quant scheme");
}

Value reference::decodeFp4(OpBuilder &b, Location loc, QuantAttr quant,
                           Value code, Value scale, Value offset) {
  Type f32 = b.getF32Type();
  if (quant.getScheme() == QuantScheme::Fp4M0E4)
    return arith::AddFOp::create(
        b, loc,
        arith::MulFOp::create(b, loc, castFloat(b, loc, scale, f32),
                              m0e4ToF32(b, loc, code)),
        castFloat(b, loc, offset, f32));
  return arith::MulFOp::create(b, loc, e2m1ToF32(b, loc, code),
                               e8m0ToF32(b, loc, scale));
}
