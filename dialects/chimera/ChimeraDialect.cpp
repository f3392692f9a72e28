//===- ChimeraDialect.cpp - chimera dialect registration ------------------===//
#include "dialects/chimera/ChimeraDialect.h"
#include "dialects/chimera/ChimeraOps.h"

using namespace mlir;
using namespace mlir::chimera;

#include "dialects/chimera/ChimeraDialect.cpp.inc"

void ChimeraDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/chimera/ChimeraOps.cpp.inc"
      >();
  registerAttributes();
}
