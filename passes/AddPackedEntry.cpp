//===- AddPackedEntry.cpp - void entry(void **args) over the C interface --===//
#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_ADDPACKEDENTRY
#include "passes/Passes.h.inc"

namespace {

struct AddPackedEntryPass
    : public impl::AddPackedEntryBase<AddPackedEntryPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::string cifaceName = "_mlir_ciface_" + function;
    auto callee = module.lookupSymbol<LLVM::LLVMFuncOp>(cifaceName);
    if (!callee) {
      module.emitError("chimera-add-packed-entry: no LLVM function '")
          << cifaceName << "' (does '" << function
          << "' carry llvm.emit_c_interface?)";
      return signalPassFailure();
    }
    if (module.lookupSymbol(symbol)) {
      module.emitError("chimera-add-packed-entry: symbol '")
          << symbol << "' already exists";
      return signalPassFailure();
    }
    LLVM::LLVMFunctionType calleeType = callee.getFunctionType();
    auto ptr = LLVM::LLVMPointerType::get(&getContext());
    for (Type t : calleeType.getParams())
      if (t != ptr) {
        callee.emitError("chimera-add-packed-entry: every parameter of the C "
                         "interface must be a pointer, got ")
            << t;
        return signalPassFailure();
      }
    if (!isa<LLVM::LLVMVoidType>(calleeType.getReturnType())) {
      callee.emitError("chimera-add-packed-entry: the entry must return "
                       "nothing (results live in argument buffers)");
      return signalPassFailure();
    }

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = callee.getLoc();
    auto voidType = LLVM::LLVMVoidType::get(&getContext());
    auto entry = LLVM::LLVMFuncOp::create(
        b, loc, symbol, LLVM::LLVMFunctionType::get(voidType, {ptr}));
    Block *body = entry.addEntryBlock(b);
    b.setInsertionPointToStart(body);
    Value args = body->getArgument(0);
    SmallVector<Value> operands;
    for (unsigned i = 0; i < calleeType.getNumParams(); ++i) {
      Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, args,
                                       ArrayRef<LLVM::GEPArg>{int32_t(i)});
      operands.push_back(LLVM::LoadOp::create(b, loc, ptr, slot));
    }
    LLVM::CallOp::create(b, loc, callee, operands);
    LLVM::ReturnOp::create(b, loc, ValueRange());
  }
};

} // namespace
} // namespace mlir::chimera
