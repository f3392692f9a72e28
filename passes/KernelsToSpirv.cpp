//===- KernelsToSpirv.cpp - gpu.module of kernels -> spirv.module ---------===//
//
// Upstream's convert-gpu-to-spirv converts GPU, SCF, arith, memref and func
// ops but not math (exp, rsqrt, tanh, ...), which every model kernel uses.
// This pass is the same conversion with math added: memrefs of the default
// memory space become storage buffers (function-local allocas stay in the
// Function class), then one full conversion per gpu.module into a
// spirv.module beside it, for the target environment
// `spirv-attach-target` put on the module.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/GpuItems.h"

#include "mlir/Conversion/ArithToSPIRV/ArithToSPIRV.h"
#include "mlir/Conversion/ControlFlowToSPIRV/ControlFlowToSPIRV.h"
#include "mlir/Conversion/FuncToSPIRV/FuncToSPIRV.h"
#include "mlir/Conversion/GPUToSPIRV/GPUToSPIRV.h"
#include "mlir/Conversion/MathToSPIRV/MathToSPIRV.h"
#include "mlir/Conversion/MemRefToSPIRV/MemRefToSPIRV.h"
#include "mlir/Conversion/SCFToSPIRV/SCFToSPIRV.h"
#include "mlir/Conversion/VectorToSPIRV/VectorToSPIRV.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVAttributes.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/SPIRV/IR/TargetAndABI.h"
#include "mlir/Dialect/SPIRV/Transforms/SPIRVConversion.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_KERNELSTOSPIRV
#include "passes/Passes.h.inc"

namespace {

spirv::TargetEnvAttr targetEnvOf(gpu::GPUModuleOp module) {
  if (ArrayAttr targets = module.getTargetsAttr())
    for (Attribute t : targets)
      if (auto env = dyn_cast<spirv::TargetEnvAttr>(t))
        return env;
  return spirv::lookupTargetEnvOrDefault(module);
}

struct KernelsToSpirvPass
    : public impl::KernelsToSpirvBase<KernelsToSpirvPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    for (auto gpuModule :
         llvm::to_vector(module.getBody()->getOps<gpu::GPUModuleOp>())) {
      // A kernel's scratch lives in its invocation.
      auto function = spirv::StorageClassAttr::get(ctx,
                                                   spirv::StorageClass::Function);
      gpuModule.walk([&](memref::AllocaOp alloca) {
        MemRefType t = alloca.getType();
        if (!t.getMemorySpace())
          alloca.getResult().setType(MemRefType::get(
              t.getShape(), t.getElementType(), t.getLayout(), function));
      });
      // Workgroup memory (the partials of
      // chimera-gpu-cooperative-reductions): a static alloc in that space,
      // which the memref conversion makes a Workgroup variable.
      auto workgroup = spirv::StorageClassAttr::get(
          ctx, spirv::StorageClass::Workgroup);
      gpuModule.walk([&](memref::AllocOp alloc) {
        MemRefType t = alloc.getType();
        auto space = dyn_cast_or_null<gpu::AddressSpaceAttr>(t.getMemorySpace());
        if (space && space.getValue() == gpu::AddressSpace::Workgroup)
          alloc.getResult().setType(MemRefType::get(
              t.getShape(), t.getElementType(), t.getLayout(), workgroup));
      });
      // A vector alias of an argument (chimera-gpu-vectorize-lane-loads)
      // is bound where the argument is; the others where their position
      // says, as the conversion would.
      gpuModule.walk([&](gpu::GPUFuncOp func) {
        if (!func.isKernel())
          return;
        for (unsigned i = 0; i < func.getNumArguments(); ++i) {
          auto of = func.getArgAttrOfType<IntegerAttr>(i, kAliasOfAttr);
          func.setArgAttr(i, spirv::getInterfaceVarABIAttrName(),
                          spirv::getInterfaceVarABIAttr(
                              0, of ? of.getInt() : i, std::nullopt, ctx));
        }
      });
      spirv::MemorySpaceToStorageClassConverter memorySpaces(
          spirv::mapMemorySpaceToVulkanStorageClass);
      spirv::convertMemRefTypesAndAttrs(gpuModule, memorySpaces);

      spirv::TargetEnvAttr env = targetEnvOf(gpuModule);
      std::unique_ptr<ConversionTarget> target =
          SPIRVConversionTarget::get(env);
      SPIRVTypeConverter types(env);
      RewritePatternSet patterns(ctx);
      populateGPUToSPIRVPatterns(types, patterns);
      ScfToSPIRVContext scf;
      populateSCFToSPIRVPatterns(types, scf, patterns);
      arith::populateArithToSPIRVPatterns(types, patterns);
      cf::populateControlFlowToSPIRVPatterns(types, patterns);
      populateMathToSPIRVPatterns(types, patterns);
      populateMemRefToSPIRVPatterns(types, patterns);
      populateVectorToSPIRVPatterns(types, patterns);
      populateFuncToSPIRVPatterns(types, patterns);
      // The conversion turns the gpu.module itself into the spirv.module.
      if (failed(applyFullConversion(gpuModule.getOperation(), *target,
                                     std::move(patterns))))
        return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::chimera
