// Parses a chimera op, verifies it and runs the reference lowering, using
// only the installed headers and libraries.
#include "dialects/chimera/ChimeraDialect.h"
#include "dialects/chimera/ChimeraOps.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <cstdio>

int main() {
  mlir::MLIRContext context;
  context.loadDialect<mlir::chimera::ChimeraDialect, mlir::func::FuncDialect>();
  const char *src = R"(
    func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      %y = chimera.silu %x : tensor<4xf32>
      return %y : tensor<4xf32>
    })";
  auto module = mlir::parseSourceString<mlir::ModuleOp>(src, &context);
  if (!module)
    return 1;
  mlir::PassManager pm(&context);
  pm.addPass(mlir::chimera::createLowerToReference());
  if (mlir::failed(pm.run(*module)))
    return 2;
  bool lowered = false;
  module->walk([&](mlir::linalg::GenericOp) { lowered = true; });
  std::printf("consumer: chimera.silu lowered to linalg: %s\n", lowered ? "yes" : "no");
  return lowered ? 0 : 3;
}
