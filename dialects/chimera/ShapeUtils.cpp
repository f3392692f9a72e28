//===- ShapeUtils.cpp - shape checks shared by chimera ops ----------------===//
#include "dialects/chimera/ShapeUtils.h"

using namespace mlir;
using namespace mlir::chimera;

static std::string dimString(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

LogicalResult ShapeChecker::error(const llvm::Twine &message) const {
  return emitOptionalError(loc, "'", opName, "' op ", message);
}

LogicalResult ShapeChecker::rank(Value value, llvm::StringRef name,
                                 int64_t rank) const {
  int64_t got = rankedType(value).getRank();
  if (got == rank)
    return success();
  return error("operand '" + name + "' must have rank " + llvm::Twine(rank) +
               ", got rank " + llvm::Twine(got));
}

LogicalResult ShapeChecker::minRank(Value value, llvm::StringRef name,
                                    int64_t rank) const {
  int64_t got = rankedType(value).getRank();
  if (got >= rank)
    return success();
  return error("operand '" + name + "' must have rank >= " +
               llvm::Twine(rank) + ", got rank " + llvm::Twine(got));
}

LogicalResult ShapeChecker::dim(Value value, llvm::StringRef name, int64_t d,
                                int64_t expected,
                                const llvm::Twine &what) const {
  int64_t got = rankedType(value).getDimSize(d);
  if (dimsCompatible(got, expected))
    return success();
  return error("operand '" + name + "' dim " + llvm::Twine(d) + " is " +
               dimString(got) + ", expected " + dimString(expected) + " (" +
               what + ")");
}

LogicalResult ShapeChecker::sameElementType(Value a, llvm::StringRef aName,
                                            Value b,
                                            llvm::StringRef bName) const {
  Type ta = rankedType(a).getElementType();
  Type tb = rankedType(b).getElementType();
  if (ta == tb)
    return success();
  std::string sa, sb;
  llvm::raw_string_ostream(sa) << ta;
  llvm::raw_string_ostream(sb) << tb;
  return error("operand '" + bName + "' has element type " + sb +
               ", expected " + sa + " to match '" + aName + "'");
}
