//===- X86Target.cpp - x86-64 code generation and linking -----------------===//
#include "targets/x86/X86Target.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/Bitcode/BitcodeReader.h"
#include "llvm/Bitcode/BitcodeWriter.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/Transforms/Utils/SplitModule.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <atomic>
#include <thread>

using namespace chimera;
using llvm::Error;
using llvm::Expected;

static Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

Expected<std::unique_ptr<llvm::TargetMachine>>
x86::createTargetMachine(llvm::StringRef cpu) {
  static bool initialised = [] {
    LLVMInitializeX86TargetInfo();
    LLVMInitializeX86Target();
    LLVMInitializeX86TargetMC();
    LLVMInitializeX86AsmPrinter();
    return true;
  }();
  (void)initialised;
  llvm::Triple triple("x86_64-unknown-linux-gnu");
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return fail("x86-64 target unavailable: " + error);
  std::string cpuName = cpu.str(), features;
  if (cpu == "host") {
    cpuName = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures f;
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      f.AddFeature(feature.first(), feature.second);
    features = f.getString();
  }
  // An unknown CPU would silently fall back to generic code.
  if (!target->createMCSubtargetInfo(triple, cpuName, "")
           ->isCPUStringValid(cpuName))
    return fail("--target-cpu: unknown x86-64 CPU '" + cpu +
                "' (try host, x86-64-v3, x86-64-v4, znver4, "
                "sapphirerapids, ...)");
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, cpuName, features, options, llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!tm)
    return fail("cannot create a target machine for CPU '" + cpuName + "'");
  return tm;
}

static Expected<std::unique_ptr<llvm::Module>>
translate(mlir::ModuleOp module, llvm::LLVMContext &context) {
  mlir::DialectRegistry registry;
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
  module->getContext()->appendDialectRegistry(registry);
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, context);
  if (!llvmModule)
    return fail("translation to LLVM IR failed");
  return llvmModule;
}

static Error optimize(llvm::Module &module, llvm::TargetMachine &tm) {
  module.setTargetTriple(tm.getTargetTriple());
  module.setDataLayout(tm.createDataLayout());
  return mlir::makeOptimizingTransformer(3, 0, &tm)(&module);
}

Expected<std::unique_ptr<llvm::Module>>
x86::translateAndOptimize(mlir::ModuleOp module, llvm::LLVMContext &context,
                          llvm::TargetMachine &tm) {
  auto llvmModule = translate(module, context);
  if (!llvmModule)
    return llvmModule.takeError();
  if (Error err = optimize(**llvmModule, tm))
    return std::move(err);
  return llvmModule;
}

Expected<std::vector<std::string>>
x86::compileInParallel(mlir::ModuleOp module, llvm::StringRef cpu,
                       unsigned jobs) {
  // Each part travels as bitcode: a module cannot leave its LLVMContext,
  // and a context is not shared between threads.
  std::vector<llvm::SmallString<0>> parts;
  {
    llvm::LLVMContext context;
    auto whole = translate(module, context);
    if (!whole)
      return whole.takeError();
    // More parts than threads, taken from a queue: the split balances the
    // number of functions, not their size.
    llvm::SplitModule(**whole, jobs > 1 ? 4 * jobs : 1,
                      [&](std::unique_ptr<llvm::Module> part) {
                        // Parts with nothing defined are dropped.
                        if (llvm::all_of(part->global_values(),
                                         [](const llvm::GlobalValue &g) {
                                           return g.isDeclaration();
                                         }))
                          return;
                        parts.emplace_back();
                        llvm::raw_svector_ostream os(parts.back());
                        llvm::WriteBitcodeToFile(*part, os);
                      });
  }
  std::vector<std::string> objects(parts.size()), errors(parts.size());
  auto compile = [&](size_t i, llvm::TargetMachine &tm) {
    llvm::LLVMContext context;
    auto part = llvm::parseBitcodeFile(
        llvm::MemoryBufferRef(parts[i].str(), "part"), context);
    if (!part) {
      errors[i] = llvm::toString(part.takeError());
      return;
    }
    if (Error err = optimize(**part, tm)) {
      errors[i] = llvm::toString(std::move(err));
      return;
    }
    auto object = emitObject(**part, tm);
    if (!object) {
      errors[i] = llvm::toString(object.takeError());
      return;
    }
    objects[i] = std::move(*object);
  };
  std::atomic<size_t> next{0};
  // One TargetMachine per thread, made as the caller's was (`cpu` as the
  // user gave it: "host" takes the host's features, not its CPU's defaults).
  auto worker = [&] {
    auto tm = createTargetMachine(cpu);
    std::string failure = tm ? std::string() : llvm::toString(tm.takeError());
    for (size_t i = next++; i < parts.size(); i = next++) {
      if (failure.empty())
        compile(i, **tm);
      else
        errors[i] = failure;
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::min<size_t>(jobs, parts.size()); ++t)
    threads.emplace_back(worker);
  worker();
  for (std::thread &t : threads)
    t.join();
  for (const std::string &e : errors)
    if (!e.empty())
      return fail("code generation failed: " + e);
  return objects;
}

Expected<std::string> x86::emitObject(llvm::Module &module,
                                      llvm::TargetMachine &tm) {
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CodeGenFileType::ObjectFile))
    return fail("the target cannot emit object files");
  pm.run(module);
  return std::string(buffer.str());
}

Error x86::linkSharedLibrary(llvm::ArrayRef<std::string> objectPaths,
                             llvm::StringRef runtimeArchive,
                             llvm::StringRef outputPath,
                             llvm::StringRef linker) {
  std::string ld = linker.str();
  if (ld.empty()) {
    for (const char *candidate : {"ld.lld-22", "ld.lld"})
      if (auto found = llvm::sys::findProgramByName(candidate)) {
        ld = *found;
        break;
      }
    if (ld.empty())
      return fail("cannot find the linker ld.lld (Debian package lld-22)");
  }
  if (!llvm::sys::fs::exists(runtimeArchive))
    return fail(runtimeArchive + ": runtime archive not found");
  std::string out = outputPath.str(), archive = runtimeArchive.str();
  llvm::SmallVector<llvm::StringRef> args = {ld, "-shared", "--no-undefined",
                                             "-o", out};
  args.append(objectPaths.begin(), objectPaths.end());
  args.append({"--whole-archive",
      archive, "--no-whole-archive", "-L/usr/lib/x86_64-linux-gnu",
      "-L/lib/x86_64-linux-gnu", "-lm", "-lc", "--as-needed",
      "-lpthread", "--no-as-needed", "-soname", "model.so"});
  std::string errors;
  int rc = llvm::sys::ExecuteAndWait(ld, args, std::nullopt, {}, 0, 0, &errors);
  if (rc != 0)
    return fail("linking " + outputPath + " with " + ld + " failed (exit " +
                llvm::Twine(rc) + ")" + (errors.empty() ? "" : ": " + errors));
  return Error::success();
}
