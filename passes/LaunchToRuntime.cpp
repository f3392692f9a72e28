//===- LaunchToRuntime.cpp - chimera.launch -> chimera_parallel_for -------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/MapVector.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_LAUNCHTORUNTIME
#include "passes/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kParallelFor = "chimera_parallel_for";
constexpr llvm::StringLiteral kGpuLaunch = "chimera_gpu_launch";
constexpr llvm::StringLiteral kGpuKernels = "chimera_gpu_kernels";
constexpr llvm::StringLiteral kCpuKernels = "chimera_cpu_kernels";

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
  using Base::Base;

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
    // x86 launches call chimera_parallel_for, GPU ones chimera_gpu_launch.
    LLVM::LLVMFuncOp parallelFor;
    if (!gpu) {
      parallelFor = module.lookupSymbol<LLVM::LLVMFuncOp>(kParallelFor);
      if (!parallelFor)
        parallelFor = LLVM::LLVMFuncOp::create(
            mb, module.getLoc(), kParallelFor,
            LLVM::LLVMFunctionType::get(voidType, {i64, i64, ptr, ptr}));
    }

    // GPU: kernels by index in the table the runtime reads.
    llvm::MapVector<StringAttr, std::string> gpuKernels;
    // x86: each kernel's task, in order of creation.
    SmallVector<std::pair<std::string, std::string>> tasks;
    LLVM::LLVMFuncOp gpuLaunch;
    if (gpu) {
      gpuLaunch = module.lookupSymbol<LLVM::LLVMFuncOp>(kGpuLaunch);
      if (!gpuLaunch)
        gpuLaunch = LLVM::LLVMFuncOp::create(
            mb, module.getLoc(), kGpuLaunch,
            LLVM::LLVMFunctionType::get(voidType, {i64, i64, ptr}));
    }

    for (LaunchOp launch : launches) {
      Location loc = launch.getLoc();
      StringRef kernelName = launch.getKernelAttr().getLeafReference();
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

      OpBuilder b(launch);
      auto packOperands = [&]() {
        Value one =
            LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(1));
        Value context = LLVM::AllocaOp::create(b, loc, ptr, structType, one);
        for (auto [k, f] : llvm::enumerate(fields)) {
          Value slot =
              LLVM::GEPOp::create(b, loc, ptr, structType, context,
                                  ArrayRef<LLVM::GEPArg>{0, int32_t(k)});
          LLVM::StoreOp::create(b, loc, f, slot);
        }
        return context;
      };

      if (gpu) {
        auto signature = gpuSignature(launch);
        if (!signature)
          return signalPassFailure();
        auto [it, inserted] = gpuKernels.try_emplace(
            launch.getKernelAttr().getLeafReference(), *signature);
        if (!inserted && it->second != *signature) {
          launch.emitOpError("launches of one kernel with different operand "
                             "types");
          return signalPassFailure();
        }
        int64_t index = std::distance(gpuKernels.begin(), it);
        Value context = packOperands();
        Value kernel =
            LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(index));
        LLVM::CallOp::create(b, loc, gpuLaunch,
                             ValueRange{kernel, grid, context});
        launch.erase();
        continue;
      }

      std::string cifaceName = ("_mlir_ciface_" + kernelName).str();
      auto ciface = module.lookupSymbol<LLVM::LLVMFuncOp>(cifaceName);
      if (!ciface) {
        launch.emitOpError("kernel has no LLVM C interface '")
            << cifaceName << "'; run after the conversion to LLVM";
        return signalPassFailure();
      }
      auto params = ciface.getFunctionType().getParams();
      if (params.size() != fields.size() + 2) {
        launch.emitOpError("kernel C interface takes ")
            << params.size() << " parameters, expected " << fields.size() + 2;
        return signalPassFailure();
      }

      // <kernel>_task(begin, end, ctx): unpack and call the kernel.
      // Launches of one kernel (layers share kernels) share its task.
      std::string taskName = (kernelName + "_task").str();
      if (!module.lookupSymbol<LLVM::LLVMFuncOp>(taskName)) {
      auto task = LLVM::LLVMFuncOp::create(
          mb, loc, taskName,
          LLVM::LLVMFunctionType::get(voidType, {i64, i64, ptr}));
      task.setLinkage(LLVM::Linkage::Internal);
      tasks.emplace_back(taskName, kernelName.str());
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

      // Host: pack the operands on the stack and run the grid, with the
      // work of one item (0: not known) for the runtime's choice of threads.
      Value context = packOperands();
      Value fn = LLVM::AddressOfOp::create(b, loc, ptr, taskName);
      Value work = LLVM::ConstantOp::create(
          b, loc, i64, b.getI64IntegerAttr(launch.getItemWork().value_or(0)));
      LLVM::CallOp::create(b, loc, parallelFor,
                           ValueRange{grid, work, fn, context});
      launch.erase();
    }

    if (!gpu)
      emitTaskTable(mb, module.getLoc(), tasks);
    if (gpu) {
      std::string table;
      for (auto &[name, signature] : gpuKernels)
        table += (name.getValue() + "(" + signature + ");").str();
      table.push_back('\0');
      auto i8 = IntegerType::get(ctx, 8);
      LLVM::GlobalOp::create(mb, module.getLoc(),
                             LLVM::LLVMArrayType::get(i8, table.size()),
                             /*isConstant=*/true, LLVM::Linkage::External,
                             kGpuKernels, mb.getStringAttr(table));
    }
  }

  /// `chimera_cpu_kernels`: {task, name} per kernel, then {null, null}, for
  /// the runtime's kernel profile.
  void emitTaskTable(OpBuilder &mb, Location loc,
                     ArrayRef<std::pair<std::string, std::string>> tasks) {
    MLIRContext *ctx = &getContext();
    auto ptr = LLVM::LLVMPointerType::get(ctx);
    auto i8 = IntegerType::get(ctx, 8);
    SmallVector<std::string> names;
    for (const auto &[task, kernel] : tasks) {
      std::string text = kernel + '\0';
      names.push_back(task + "_name");
      LLVM::GlobalOp::create(mb, loc, LLVM::LLVMArrayType::get(i8, text.size()),
                             /*isConstant=*/true, LLVM::Linkage::Private,
                             names.back(), mb.getStringAttr(text));
    }
    auto entry = LLVM::LLVMStructType::getLiteral(ctx, {ptr, ptr});
    auto tableType = LLVM::LLVMArrayType::get(entry, tasks.size() + 1);
    auto table = LLVM::GlobalOp::create(mb, loc, tableType, /*isConstant=*/true,
                                        LLVM::Linkage::External, kCpuKernels,
                                        Attribute());
    OpBuilder ib =
        OpBuilder::atBlockBegin(&table.getInitializerRegion().emplaceBlock());
    Value value = LLVM::ZeroOp::create(ib, loc, tableType);
    for (auto [i, task] : llvm::enumerate(tasks)) {
      Value fn = LLVM::AddressOfOp::create(ib, loc, ptr, task.first);
      Value name = LLVM::AddressOfOp::create(ib, loc, ptr, names[i]);
      value = LLVM::InsertValueOp::create(ib, loc, value, fn,
                                          ArrayRef<int64_t>{int64_t(i), 0});
      value = LLVM::InsertValueOp::create(ib, loc, value, name,
                                          ArrayRef<int64_t>{int64_t(i), 1});
    }
    LLVM::ReturnOp::create(ib, loc, value);
  }

  /// How the runtime reads a launch's operand struct (see the pass doc).
  std::optional<std::string> gpuSignature(LaunchOp launch) {
    std::string sig;
    for (Value v : launch.getKernelOperands()) {
      Type t = v.getType();
      if (!sig.empty())
        sig += ",";
      if (auto memref = dyn_cast<MemRefType>(t)) {
        Type element = memref.getElementType();
        if (!element.isIntOrFloat() || element.getIntOrFloatBitWidth() % 8) {
          launch.emitOpError("GPU kernels cannot take memrefs of ") << element;
          return std::nullopt;
        }
        sig += "m" + std::to_string(element.getIntOrFloatBitWidth() / 8) +
               "." + std::to_string(memref.getRank());
      } else if (t.isIndex()) {
        sig += "x";
      } else if (t.isInteger(32)) {
        sig += "i";
      } else if (t.isF32()) {
        sig += "f";
      } else if (t.isInteger(1)) {
        sig += "b";
      } else {
        launch.emitOpError("GPU kernels cannot take operands of type ") << t;
        return std::nullopt;
      }
    }
    return sig;
  }
};

} // namespace
} // namespace mlir::chimera
