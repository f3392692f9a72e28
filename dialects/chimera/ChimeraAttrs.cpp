//===- ChimeraAttrs.cpp - chimera attributes ------------------------------===//
#include "dialects/chimera/ChimeraAttrs.h"
#include "dialects/chimera/ChimeraDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::chimera;

#include "dialects/chimera/ChimeraEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/chimera/ChimeraAttrs.cpp.inc"

LogicalResult
QuantAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                  QuantScheme scheme, int64_t groupSize) {
  switch (scheme) {
  case QuantScheme::Int8:
    if (groupSize != 0)
      return emitError() << "int8 quantisation is per output channel; "
                            "group_size must be 0, got "
                         << groupSize;
    return success();
  case QuantScheme::MxFp4:
    if (groupSize != 32)
      return emitError() << "mxfp4 uses one E8M0 scale per 32 elements; "
                            "group_size must be 32, got "
                         << groupSize;
    return success();
  case QuantScheme::Int4:
  case QuantScheme::Fp4M0E4:
    if (groupSize <= 0 || groupSize % 2 != 0)
      return emitError() << stringifyQuantScheme(scheme)
                         << " needs a positive even group_size, got "
                         << groupSize;
    return success();
  }
  return success();
}

void ChimeraDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/chimera/ChimeraAttrs.cpp.inc"
      >();
}
