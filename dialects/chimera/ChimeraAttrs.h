//===- ChimeraAttrs.h - chimera attributes and enums ------------*- C++ -*-===//
#ifndef CHIMERA_DIALECT_CHIMERAATTRS_H
#define CHIMERA_DIALECT_CHIMERAATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "dialects/chimera/ChimeraEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/chimera/ChimeraAttrs.h.inc"

#endif // CHIMERA_DIALECT_CHIMERAATTRS_H
