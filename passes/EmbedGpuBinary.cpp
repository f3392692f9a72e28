//===- EmbedGpuBinary.cpp - lowered kernels -> LLVM globals ---------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Target/SPIRV/Serialization.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_EMBEDGPUBINARY
#include "passes/Passes.h.inc"

namespace {

struct EmbedGpuBinaryPass
    : public impl::EmbedGpuBinaryBase<EmbedGpuBinaryPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<spirv::ModuleOp> spirvModules;
    SmallVector<gpu::BinaryOp> binaries;
    for (Operation &op : *module.getBody()) {
      if (auto m = dyn_cast<spirv::ModuleOp>(op))
        spirvModules.push_back(m);
      else if (auto bin = dyn_cast<gpu::BinaryOp>(op))
        binaries.push_back(bin);
    }
    if (spirvModules.size() + binaries.size() == 0)
      return;
    if (spirvModules.size() + binaries.size() != 1) {
      module.emitError("chimera-embed-gpu-binary: expected one spirv.module "
                       "or one gpu.binary, found ")
          << spirvModules.size() << " and " << binaries.size();
      return signalPassFailure();
    }

    std::string bytes, target;
    if (!spirvModules.empty()) {
      SmallVector<uint32_t> words;
      if (failed(spirv::serialize(spirvModules.front(), words)))
        return signalPassFailure();
      bytes.assign(reinterpret_cast<const char *>(words.data()),
                   words.size() * sizeof(uint32_t));
      target = "vulkan";
      spirvModules.front().erase();
    } else {
      gpu::BinaryOp binary = binaries.front();
      if (binary.getObjects().size() != 1) {
        binary.emitError("expected one object (one target) in the binary");
        return signalPassFailure();
      }
      auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
      if (object.getFormat() != gpu::CompilationTarget::Assembly) {
        binary.emitError("expected PTX (gpu-module-to-binary format=isa)");
        return signalPassFailure();
      }
      bytes = object.getObject().getValue().str();
      bytes.push_back('\0'); // cuModuleLoadData reads PTX as a C string
      target = "cuda";
      binary.erase();
    }
    for (auto gpuModule :
         llvm::to_vector(module.getBody()->getOps<gpu::GPUModuleOp>()))
      gpuModule.erase();

    MLIRContext *ctx = &getContext();
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = module.getLoc();
    auto i8 = IntegerType::get(ctx, 8);
    auto global = [&](StringRef name, const std::string &value) {
      LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(i8, value.size()),
                             /*isConstant=*/true, LLVM::Linkage::External, name,
                             b.getStringAttr(value), /*alignment=*/16);
    };
    global("chimera_gpu_binary", bytes);
    global("chimera_gpu_target", target + '\0');
    auto i64 = IntegerType::get(ctx, 64);
    LLVM::GlobalOp::create(b, loc, i64, /*isConstant=*/true,
                           LLVM::Linkage::External, "chimera_gpu_binary_size",
                           b.getI64IntegerAttr(int64_t(bytes.size())));
    auto wg = module->getAttrOfType<IntegerAttr>("chimera.workgroup_size");
    if (!wg) {
      module.emitError("chimera-embed-gpu-binary: no chimera.workgroup_size "
                       "(run chimera-kernels-to-gpu first)");
      return signalPassFailure();
    }
    LLVM::GlobalOp::create(b, loc, i64, /*isConstant=*/true,
                           LLVM::Linkage::External, "chimera_gpu_workgroup_size",
                           b.getI64IntegerAttr(wg.getInt()));
  }
};

} // namespace
} // namespace mlir::chimera
