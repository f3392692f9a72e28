//===- chimera-compile.cpp - checkpoint -> chimera IR / artifact ----------===//
//
//   chimera-compile MODEL_DIR --emit=mlir [-o FILE]
//
// Imports a HuggingFace checkpoint folder and writes the chimera IR before
// any lowering. Output files are written atomically (a temporary file renamed
// into place); the checkpoint is only read.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/Checkpoint.h"
#include "frontends/hf/Import.h"

#include "dialects/chimera/ChimeraDialect.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Timer.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <sys/resource.h>

namespace cl = llvm::cl;

static cl::OptionCategory category("chimera-compile options");

static cl::opt<std::string> modelDir(cl::Positional, cl::Required,
                                     cl::desc("MODEL_DIR"),
                                     cl::cat(category));

enum class Emit { Mlir };
static cl::opt<Emit> emit(
    "emit", cl::desc("What to write"), cl::init(Emit::Mlir),
    cl::values(clEnumValN(Emit::Mlir, "mlir",
                          "the imported chimera IR, before any lowering")),
    cl::cat(category));

static cl::opt<std::string> output("o", cl::desc("Output file ('-' = stdout)"),
                                   cl::value_desc("FILE"), cl::init("-"),
                                   cl::cat(category));

enum class DTypeOpt { F32, BF16 };
static cl::opt<DTypeOpt> computeDtype(
    "dtype", cl::desc("Compute dtype of the imported graph"),
    cl::init(DTypeOpt::F32),
    cl::values(clEnumValN(DTypeOpt::F32, "f32", "float32 (default)"),
               clEnumValN(DTypeOpt::BF16, "bf16", "bfloat16")),
    cl::cat(category));

static cl::opt<bool> stats(
    "import-stats",
    cl::desc("Print import time, peak memory and weight bytes to stderr"),
    cl::cat(category));

static cl::opt<bool> debugLocs("mlir-print-debuginfo",
                               cl::desc("Print locations in the IR"),
                               cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "chimera-compile") << message << "\n";
  return 1;
}

static double peakRssMiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0; // KiB on Linux
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "chimera-compile " CHIMERA_VERSION "\n";
  });
  cl::ParseCommandLineOptions(
      argc, argv,
      "Chimera model compiler\n\n"
      "Imports a HuggingFace checkpoint folder (config.json + *.safetensors,\n"
      "sharded through model.safetensors.index.json) of a llama, mistral,\n"
      "gemma, mixtral, mamba or jamba model.\n\n"
      "  chimera-compile MODEL_DIR --emit=mlir [-o FILE]\n");

  auto start = std::chrono::steady_clock::now();
  auto ckpt = chimera::hf::Checkpoint::open(modelDir);
  if (!ckpt)
    return fail(llvm::toString(ckpt.takeError()));

  mlir::MLIRContext ctx;
  mlir::Type elt = computeDtype == DTypeOpt::BF16
                       ? mlir::Type(mlir::BFloat16Type::get(&ctx))
                       : mlir::Type(mlir::Float32Type::get(&ctx));
  auto module = chimera::hf::importCheckpoint(ctx, **ckpt, elt);
  if (!module)
    return fail(llvm::toString(module.takeError()));
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();

  mlir::OpPrintingFlags flags;
  if (debugLocs)
    flags.enableDebugInfo();
  if (llvm::Error err = llvm::writeToOutput(
          output, [&](llvm::raw_ostream &os) -> llvm::Error {
            (*module)->print(os, flags);
            os << "\n";
            return llvm::Error::success();
          }))
    return fail(output + ": cannot write: " + llvm::toString(std::move(err)));

  if (stats) {
    uint64_t weightBytes = 0, tensors = 0;
    for (const auto &file : (*ckpt)->files())
      for (const auto &view : file->tensors()) {
        weightBytes += view.bytes.size();
        ++tensors;
      }
    llvm::errs() << llvm::format(
        "chimera-compile: stats: import_seconds=%.3f peak_rss_mib=%.1f "
        "tensors=%llu weight_bytes=%llu\n",
        seconds, peakRssMiB(), (unsigned long long)tensors,
        (unsigned long long)weightBytes);
  }
  return 0;
}
