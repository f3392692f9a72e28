//===- chimera-opt.cpp - the chimera optimizer driver ---------------------===//
//
// mlir-opt with the chimera dialect, its passes and pipelines registered
// beside every upstream dialect and pass.
//
//===----------------------------------------------------------------------===//
#include "dialects/chimera/ChimeraDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::chimera::registerChimeraPasses();
  mlir::chimera::registerChimeraPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::chimera::ChimeraDialect>();

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv,
      "Chimera optimizer driver (chimera " CHIMERA_VERSION ")\n", registry));
}
