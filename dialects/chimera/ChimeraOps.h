//===- ChimeraOps.h - chimera operations ------------------------*- C++ -*-===//
#ifndef CHIMERA_DIALECT_CHIMERAOPS_H
#define CHIMERA_DIALECT_CHIMERAOPS_H

#include "dialects/chimera/ChimeraAttrs.h"
#include "dialects/chimera/ChimeraDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/chimera/ChimeraOps.h.inc"

#endif // CHIMERA_DIALECT_CHIMERAOPS_H
