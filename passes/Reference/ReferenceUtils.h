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

/// Scalar constants.
Value floatConst(OpBuilder &b, Location loc, Type type, double value);
Value intConst(OpBuilder &b, Location loc, Type type, int64_t value);
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
