//===- JitHarness.h - run a function through the reference lowering -*- C++ -*-===//
//
// Parses MLIR text, runs `chimera-reference-to-llvm` with results as out
// params, JIT-compiles it with the ExecutionEngine and calls one function on
// host f32 tensors.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_UNITTESTS_JITHARNESS_H
#define CHIMERA_UNITTESTS_JITHARNESS_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace chimera::testing {

struct HostTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  static HostTensor zeros(std::vector<int64_t> shape);
  int64_t numElements() const;
};

/// Runs `function` of `mlirSource` on `inputs`; `outputs` must be shaped
/// (their data is overwritten).
llvm::Error runReference(const std::string &mlirSource,
                         const std::string &function,
                         std::vector<HostTensor> &inputs,
                         std::vector<HostTensor> &outputs);

/// A host buffer passed as a memref argument: `data` points at the first
/// element of a row-major array of `shape`.
struct MemrefArg {
  void *data;
  std::vector<int64_t> shape;
};

/// JIT-compiles a module already lowered to the LLVM dialect.
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
jitCompile(mlir::ModuleOp module);

/// Calls `_mlir_ciface_<function>` with one memref descriptor per argument.
llvm::Error invokeWithMemrefs(mlir::ExecutionEngine &engine,
                              const std::string &function,
                              const std::vector<MemrefArg> &args);

/// Registers everything a JIT test context needs (dialects, translations).
void registerJitDialects(mlir::DialectRegistry &registry);

/// "tensor<2x3x4xf32>"
std::string tensorType(const std::vector<int64_t> &shape);

} // namespace chimera::testing

#endif // CHIMERA_UNITTESTS_JITHARNESS_H
