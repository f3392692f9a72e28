//===- X86Target.h - x86-64 code generation and linking ---------*- C++ -*-===//
//
// From a module in the LLVM dialect to a shared library, in process: MLIR ->
// LLVM IR translation, the O3 pipeline for the chosen CPU, object emission
// with LLVM's TargetMachine. Linking is the one step outside the process:
// the system linker `ld.lld` (from Debian's lld-22) joins the object with
// the runtime archive into model.so.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TARGETS_X86_X86TARGET_H
#define CHIMERA_TARGETS_X86_X86TARGET_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <string>
#include <vector>

namespace chimera::x86 {

/// A TargetMachine for x86-64 Linux. `cpu` is "host", "x86-64-v3",
/// "x86-64-v4" or any CPU name LLVM knows ("znver4", "sapphirerapids").
llvm::Expected<std::unique_ptr<llvm::TargetMachine>>
createTargetMachine(llvm::StringRef cpu);

/// Translates `module` (LLVM dialect) to LLVM IR for `tm` and optimises it
/// at O3.
llvm::Expected<std::unique_ptr<llvm::Module>>
translateAndOptimize(mlir::ModuleOp module, llvm::LLVMContext &context,
                     llvm::TargetMachine &tm);

/// The object file of `module`.
llvm::Expected<std::string> emitObject(llvm::Module &module,
                                       llvm::TargetMachine &tm);

/// Translates `module` to LLVM IR, splits it into up to `jobs` parts and
/// optimises (O3) and compiles the parts on `jobs` threads, each part in its
/// own LLVMContext and each thread with its own TargetMachine for `cpu` (as
/// createTargetMachine takes it): one object file per part. The kernels are independent functions, so what the split costs is
/// inlining across parts, which none of them needs.
llvm::Expected<std::vector<std::string>>
compileInParallel(mlir::ModuleOp module, llvm::StringRef cpu, unsigned jobs);

/// Links `objectPaths` and the whole of `runtimeArchive` into the shared
/// library `outputPath` with ld.lld; `linker` overrides the linker path.
llvm::Error linkSharedLibrary(llvm::ArrayRef<std::string> objectPaths,
                              llvm::StringRef runtimeArchive,
                              llvm::StringRef outputPath,
                              llvm::StringRef linker = "");

} // namespace chimera::x86

#endif // CHIMERA_TARGETS_X86_X86TARGET_H
