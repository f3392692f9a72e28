//===- ReferenceUtils.h - builders shared by the reference lowering -*- C++ -*-===//
//
// Small builders that keep each reference pattern close to its formula:
// empty/filled tensors with the sizes of a value, generic ops from maps and
// a body, scalar constants and activations.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_PASSES_REFERENCE_REFERENCEUTILS_H
#define CHIMERA_PASSES_REFERENCE_REFERENCEUTILS_H

#include "dialects/chimera/ChimeraAttrs.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::chimera::reference {

using BodyFn = function_ref<void(OpBuilder &, Location, ValueRange)>;

/// The sizes of `tensor` as static attrs or `tensor.dim` values.
SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Location loc, Value tensor);

/// `tensor.empty` of the given sizes.
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                  Type elementType);

/// `tensor.empty` + `linalg.fill` with a float or integer constant.
Value filledTensor(OpBuilder &b, Location loc, ArrayRef<OpFoldResult> sizes,
                   Type elementType, double value);

/// Constants; a vector type gets a splat, so the scalar formulas serve
/// vectorised kernels.
Value floatConst(OpBuilder &b, Location loc, Type type, double value);
Value intConst(OpBuilder &b, Location loc, Type type, int64_t value);

/// The 4-bit weight formats' decoders, on an i32 (or vector of i32) code
/// in [0, 15], for the reference lowering and the vector kernels alike.
/// fp4_m0e4: 1 + q/16, by splicing q into the top mantissa bits of 1.0f
/// (0x3F800000 | q << 19: two integer ops, no int->float conversion; the
/// paper's f16 splice 0x3C00 | q << 6 is the same value).
Value m0e4ToF32(OpBuilder &b, Location loc, Value code);
/// mxfp4: the E2M1 value (bit 3 sign, bits 2..1 exponent with bias 1, bit 0
/// mantissa) in arithmetic: no table, so a GPU kernel needs no constant
/// memory.
Value e2m1ToF32(OpBuilder &b, Location loc, Value code);
/// mxfp4: 2^(e - 127) for a scalar E8M0 scale byte (0 is 2^-127, 0xFF NaN).
Value e8m0ToF32(OpBuilder &b, Location loc, Value byte);
/// A 4-bit code from its byte, as an i32: the low nibble (even element) or
/// the `high` one (odd element); in [-8, 7] when `isSigned`.
Value nibble(OpBuilder &b, Location loc, Value byte, bool high,
             bool isSigned);
/// A weight element dequantised by the formulas of `#chimera.quant`, from
/// its stored byte (the int8 value, or the byte whose low or `high` nibble
/// it is), its scale and offset (fp4_m0e4), as f32. For the consuming
/// kernel's body: no dequantised copy exists.
Value dequantise(OpBuilder &b, Location loc, QuantAttr quant, Value code,
                 Value scale, Value offset, bool high);
/// An fp4_m0e4 or mxfp4 code in [0, 15] (i32) with its group's scale (and
/// fp4_m0e4's offset), as f32.
Value decodeFp4(OpBuilder &b, Location loc, QuantAttr quant, Value code,
                Value scale, Value offset);
Value indexConst(OpBuilder &b, Location loc, int64_t value);

/// `d_i` of an `n`-dim iteration space; expression lists for maps.
AffineMap mapOf(MLIRContext *ctx, unsigned numDims, ArrayRef<AffineExpr> exprs);
AffineMap dimsMap(MLIRContext *ctx, unsigned numDims, ArrayRef<unsigned> dims);

/// `n` parallel iterators followed by `r` reductions.
SmallVector<utils::IteratorType> iterators(unsigned parallel,
                                           unsigned reduction = 0);

/// One `linalg.generic` with a single result.
Value generic(OpBuilder &b, Location loc, ValueRange inputs, Value init,
              ArrayRef<AffineMap> maps,
              ArrayRef<utils::IteratorType> iteratorTypes, BodyFn body);

/// Converts a scalar float to `type` (extf/truncf) or keeps it.
Value castFloat(OpBuilder &b, Location loc, Value v, Type type);

/// Converts an integer or index scalar to `index`.
Value toIndex(OpBuilder &b, Location loc, Value v);

/// act(x) for a scalar float.
Value activation(OpBuilder &b, Location loc, Activation act, Value x);

/// softplus as PyTorch computes it: log(1 + exp(x)), x above 20 passes
/// through.
Value softplus(OpBuilder &b, Location loc, Value x);

/// Extracts the rank-reduced slice `source[..., i, ...]` at `dim` (all other
/// dims whole).
Value sliceAt(OpBuilder &b, Location loc, Value source, unsigned dim,
              OpFoldResult index);

/// Inserts `slice` (rank-reduced at `dim`) into `dest` at index `i` of `dim`.
Value insertAt(OpBuilder &b, Location loc, Value slice, Value dest,
               unsigned dim, OpFoldResult index);

} // namespace mlir::chimera::reference

#endif // CHIMERA_PASSES_REFERENCE_REFERENCEUTILS_H
