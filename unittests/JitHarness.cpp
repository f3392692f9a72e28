//===- JitHarness.cpp - run a function through the reference lowering -----===//
#include "unittests/JitHarness.h"

#include "dialects/chimera/ChimeraDialect.h"
#include "passes/Passes.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"

#include "runtime/internal.h"

#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/TargetSelect.h"

using namespace chimera::testing;

HostTensor HostTensor::zeros(std::vector<int64_t> shape) {
  HostTensor t;
  t.shape = std::move(shape);
  t.data.assign(t.numElements(), 0.0f);
  return t;
}

int64_t HostTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string chimera::testing::tensorType(const std::vector<int64_t> &shape) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + "f32>";
}

/// A strided memref descriptor {alloc, aligned, offset, sizes[], strides[]}.
static std::vector<int64_t> descriptorFor(void *data,
                                          const std::vector<int64_t> &shape) {
  std::vector<int64_t> d;
  d.push_back(reinterpret_cast<int64_t>(data));
  d.push_back(reinterpret_cast<int64_t>(data));
  d.push_back(0);
  for (int64_t s : shape)
    d.push_back(s);
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = int(shape.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * shape[i + 1];
  d.insert(d.end(), strides.begin(), strides.end());
  return d;
}


static void initialiseNativeTarget() {
  static bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
}

void chimera::testing::registerJitDialects(mlir::DialectRegistry &registry) {
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  registry.insert<mlir::chimera::ChimeraDialect>();
  mlir::registerBuiltinDialectTranslation(registry);
  mlir::registerLLVMDialectTranslation(registry);
}

llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
chimera::testing::jitCompile(mlir::ModuleOp module) {
  initialiseNativeTarget();
  std::function<llvm::Error(llvm::Module *)> optimize =
      mlir::makeOptimizingTransformer(2, 0, nullptr);
  mlir::ExecutionEngineOptions options;
  options.transformer = optimize;
  llvm::SmallVector<llvm::StringRef, 1> libs = {CHIMERA_C_RUNNER_UTILS};
  options.sharedLibPaths = libs;
  auto engine = mlir::ExecutionEngine::create(module, options);
  if (!engine)
    return engine.takeError();
  // Kernel launches call the runtime's thread pool, linked into this test.
  (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    map[interner("chimera_parallel_for")] = {
        llvm::orc::ExecutorAddr::fromPtr(&chimera_parallel_for),
        llvm::JITSymbolFlags::Exported};
    map[interner("_mlir_memref_to_llvm_alloc")] = {
        llvm::orc::ExecutorAddr::fromPtr(&_mlir_memref_to_llvm_alloc),
        llvm::JITSymbolFlags::Exported};
    map[interner("_mlir_memref_to_llvm_aligned_alloc")] = {
        llvm::orc::ExecutorAddr::fromPtr(&_mlir_memref_to_llvm_aligned_alloc),
        llvm::JITSymbolFlags::Exported};
    map[interner("_mlir_memref_to_llvm_free")] = {
        llvm::orc::ExecutorAddr::fromPtr(&_mlir_memref_to_llvm_free),
        llvm::JITSymbolFlags::Exported};
    return map;
  });
  return engine;
}

llvm::Error chimera::testing::invokeWithMemrefs(
    mlir::ExecutionEngine &engine, const std::string &function,
    const std::vector<MemrefArg> &args) {
  std::vector<std::vector<int64_t>> descriptors;
  for (const MemrefArg &a : args)
    descriptors.push_back(descriptorFor(a.data, a.shape));
  std::vector<void *> descPtrs;
  for (auto &d : descriptors)
    descPtrs.push_back(d.data());
  std::vector<void *> packed;
  for (void *&p : descPtrs)
    packed.push_back(&p);
  return engine.invokePacked("_mlir_ciface_" + function, packed);
}

llvm::Error chimera::testing::runReference(const std::string &mlirSource,
                                           const std::string &function,
                                           std::vector<HostTensor> &inputs,
                                           std::vector<HostTensor> &outputs) {
  mlir::DialectRegistry registry;
  registerJitDialects(registry);
  mlir::MLIRContext context(registry);

  std::string diagnostics;
  llvm::raw_string_ostream diagStream(diagnostics);
  mlir::ScopedDiagnosticHandler handler(&context, [&](mlir::Diagnostic &diag) {
    diagStream << diag.getLocation() << ": " << diag.str() << "\n";
    return mlir::success();
  });

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(mlirSource, &context);
  if (!module)
    return llvm::createStringError("parse failed:\n" + diagnostics);
  mlir::PassManager pm(&context);
  mlir::chimera::buildReferenceToLLVMPipeline(pm, /*resultsAsOutParams=*/true);
  if (mlir::failed(pm.run(*module)))
    return llvm::createStringError("lowering failed:\n" + diagnostics);
  auto engine = jitCompile(*module);
  if (!engine)
    return engine.takeError();
  std::vector<MemrefArg> args;
  for (HostTensor &t : inputs)
    args.push_back({t.data.data(), t.shape});
  for (HostTensor &t : outputs)
    args.push_back({t.data.data(), t.shape});
  return invokeWithMemrefs(**engine, function, args);
}
