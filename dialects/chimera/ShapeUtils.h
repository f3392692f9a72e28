//===- ShapeUtils.h - shape checks shared by chimera ops --------*- C++ -*-===//
//
// Shape inference and verification of chimera ops share one checker so that
// every rejected operand is named in the same words.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_DIALECT_SHAPEUTILS_H
#define CHIMERA_DIALECT_SHAPEUTILS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/Value.h"

#include <optional>

namespace mlir::chimera {

/// True when two dims may be equal at run time.
inline bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// The more precise of two compatible dims (static wins).
inline int64_t mergeDims(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) ? b : a;
}

/// Emits "'chimera.<op>' op operand '<name>' ..." diagnostics at an optional
/// location. Every check returns failure after emitting.
class ShapeChecker {
public:
  ShapeChecker(std::optional<Location> loc, llvm::StringRef opName)
      : loc(loc), opName(opName) {}

  LogicalResult error(const llvm::Twine &message) const;

  /// `value` is a ranked tensor of exactly `rank` dims.
  LogicalResult rank(Value value, llvm::StringRef name, int64_t rank) const;
  /// `value` has at least `rank` dims.
  LogicalResult minRank(Value value, llvm::StringRef name, int64_t rank) const;
  /// Dim `dim` of `value` is compatible with `expected`; `what` says where the
  /// expectation comes from ("'input' dim 2").
  LogicalResult dim(Value value, llvm::StringRef name, int64_t dim,
                    int64_t expected, const llvm::Twine &what) const;
  /// Both values have the same element type.
  LogicalResult sameElementType(Value a, llvm::StringRef aName, Value b,
                                llvm::StringRef bName) const;

private:
  std::optional<Location> loc;
  llvm::StringRef opName;
};

inline RankedTensorType rankedType(Value v) {
  return llvm::cast<RankedTensorType>(v.getType());
}

} // namespace mlir::chimera

#endif // CHIMERA_DIALECT_SHAPEUTILS_H
