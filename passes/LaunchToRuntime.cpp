//===- LaunchToRuntime.cpp - chimera.launch -> chimera_parallel_for -------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_LAUNCHTORUNTIME
#include "passes/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kParallelFor = "chimera_parallel_for";

/// The LLVM value behind `v`: the conversion to LLVM left the launch's
/// operands as casts of converted values.
Value llvmValue(Value v) {
  if (auto cast = v.getDefiningOp<UnrealizedConversionCastOp>())
    if (cast.getNumOperands() == 1 &&
        LLVM::isCompatibleType(cast.getOperand(0).getType()))
      return cast.getOperand(0);
  return LLVM::isCompatibleType(v.getType()) ? v : Value();
}

struct LaunchToRuntimePass
    : public impl::LaunchToRuntimeBase<LaunchToRuntimePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i64 = IntegerType::get(ctx, 64);
    auto voidType = LLVM::LLVMVoidType::get(ctx);
    SmallVector<LaunchOp> launches;
    module.walk([&](LaunchOp op) { launches.push_back(op); });
    if (launches.empty())
      return;

    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto parallelFor = module.lookupSymbol<LLVM::LLVMFuncOp>(kParallelFor);
    if (!parallelFor)
      parallelFor = LLVM::LLVMFuncOp::create(
          mb, module.getLoc(), kParallelFor,
          LLVM::LLVMFunctionType::get(voidType, {i64, ptr, ptr}));

    for (LaunchOp launch : launches) {
      Location loc = launch.getLoc();
      std::string cifaceName = ("_mlir_ciface_" + launch.getKernel()).str();
      auto ciface = module.lookupSymbol<LLVM::LLVMFuncOp>(cifaceName);
      if (!ciface) {
        launch.emitOpError("kernel has no LLVM C interface '")
            << cifaceName << "'; run after the conversion to LLVM";
        return signalPassFailure();
      }
      Value grid = llvmValue(launch.getGrid());
      SmallVector<Value> fields;
      for (Value v : launch.getKernelOperands()) {
        Value lv = llvmValue(v);
        if (!lv) {
          launch.emitOpError("operand of type ")
              << v.getType() << " was not converted to the LLVM dialect";
          return signalPassFailure();
        }
        fields.push_back(lv);
      }
      if (!grid || grid.getType() != i64) {
        launch.emitOpError("grid size must convert to i64");
        return signalPassFailure();
      }
      SmallVector<Type> fieldTypes;
      for (Value f : fields)
        fieldTypes.push_back(f.getType());
      auto structType = LLVM::LLVMStructType::getLiteral(ctx, fieldTypes);
      auto params = ciface.getFunctionType().getParams();
      if (params.size() != fields.size() + 2) {
        launch.emitOpError("kernel C interface takes ")
            << params.size() << " parameters, expected " << fields.size() + 2;
        return signalPassFailure();
      }

      // <kernel>_task(begin, end, ctx): unpack and call the kernel.
      // Launches of one kernel (layers share kernels) share its task.
      std::string taskName = (launch.getKernel() + "_task").str();
      if (!module.lookupSymbol<LLVM::LLVMFuncOp>(taskName)) {
      auto task = LLVM::LLVMFuncOp::create(
          mb, loc, taskName,
          LLVM::LLVMFunctionType::get(voidType, {i64, i64, ptr}));
      task.setLinkage(LLVM::Linkage::Internal);
      {
        Block *body = task.addEntryBlock(mb);
        OpBuilder tb = OpBuilder::atBlockBegin(body);
        SmallVector<Value> args = {body->getArgument(0), body->getArgument(1)};
        for (auto [k, type] : llvm::enumerate(fieldTypes)) {
          Value field = LLVM::GEPOp::create(
              tb, loc, ptr, structType, body->getArgument(2),
              ArrayRef<LLVM::GEPArg>{0, int32_t(k)});
          // Memref descriptors go by pointer, scalars by value.
          if (params[k + 2] == ptr && type != ptr)
            args.push_back(field);
          else
            args.push_back(LLVM::LoadOp::create(tb, loc, type, field));
        }
        LLVM::CallOp::create(tb, loc, ciface, args);
        LLVM::ReturnOp::create(tb, loc, ValueRange());
        mb.setInsertionPointToEnd(module.getBody());
      }
      }

      // Host: pack the operands on the stack and run the grid.
      OpBuilder b(launch);
      Value one = LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(1));
      Value context = LLVM::AllocaOp::create(b, loc, ptr, structType, one);
      for (auto [k, f] : llvm::enumerate(fields)) {
        Value slot = LLVM::GEPOp::create(b, loc, ptr, structType, context,
                                         ArrayRef<LLVM::GEPArg>{0, int32_t(k)});
        LLVM::StoreOp::create(b, loc, f, slot);
      }
      Value fn = LLVM::AddressOfOp::create(b, loc, ptr, taskName);
      LLVM::CallOp::create(b, loc, parallelFor, ValueRange{grid, fn, context});
      launch.erase();
    }
  }
};

} // namespace
} // namespace mlir::chimera
