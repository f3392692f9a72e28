//===- Artifact.h - write an artifact directory atomically ------*- C++ -*-===//
//
// An artifact is built in a temporary sibling directory and renamed into
// place only when every file is complete, so a failed compile leaves no
// partial artifact and an existing one is replaced in one step.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TOOLS_CHIMERA_COMPILE_ARTIFACT_H
#define CHIMERA_TOOLS_CHIMERA_COMPILE_ARTIFACT_H

#include "frontends/hf/Checkpoint.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <string>

namespace chimera {

class ArtifactDir {
public:
  /// Creates `<out>.tmp-<pid>` beside `out`.
  static llvm::Expected<ArtifactDir> create(llvm::StringRef out);
  ArtifactDir(ArtifactDir &&other);
  ~ArtifactDir(); // removes the temporary directory unless committed

  std::string path(llvm::StringRef file) const;
  /// Renames the temporary directory to the output. An existing output is
  /// replaced only if it is an artifact (has manifest.json).
  llvm::Error commit();

private:
  ArtifactDir() = default;
  std::string out, tmp;
  bool committed = false;
};

/// "name:dtype:rank;..." for every argument of the bound entry: embedded in
/// model.so (`chimera_model_signature`) and rebuilt by the runtime from
/// manifest.json, so a manifest that does not describe this library's
/// buffers is refused instead of crashing the caller.
std::string entrySignature(mlir::func::FuncOp entry);

struct ManifestInfo {
  std::string modelName, target, targetCpu, dtype;
  std::string quant; // "" or the #chimera.quant scheme ("int8", ...)
  int64_t groupSize = 0;
  /// What the quantised matmuls multiply: "f32" or "int8".
  std::string quantActivations = "f32";
  int64_t maxSeqLen = 0, maxBatch = 0;
};

/// Writes manifest.json for `entry` (the bound @forward, before lowering:
/// its argument names and tensor types give the buffers' roles and shapes).
llvm::Error writeManifest(mlir::ModuleOp module, mlir::func::FuncOp entry,
                          const hf::Checkpoint &ckpt, const ManifestInfo &info,
                          llvm::StringRef path);

} // namespace chimera

#endif // CHIMERA_TOOLS_CHIMERA_COMPILE_ARTIFACT_H
