//===- ChimeraDialect.h - chimera dialect -----------------------*- C++ -*-===//
#ifndef CHIMERA_DIALECT_CHIMERADIALECT_H
#define CHIMERA_DIALECT_CHIMERADIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/chimera/ChimeraDialect.h.inc"

#endif // CHIMERA_DIALECT_CHIMERADIALECT_H
