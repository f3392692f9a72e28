//===- SynchronizeHostAccesses.cpp - wait for the device before host access ===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_SYNCHRONIZEHOSTACCESSES
#include "passes/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kSync = "chimera_gpu_sync";

/// Whether `op` itself reads or writes memory (allocation and freeing do
/// not touch the contents). Unknown ops and calls count as accesses.
bool accessesMemory(Operation *op) {
  if (isa<LaunchOp>(op))
    return false;
  if (isa<CallOpInterface>(op))
    return true;
  auto effects = dyn_cast<MemoryEffectOpInterface>(op);
  if (!effects)
    return !op->hasTrait<OpTrait::HasRecursiveMemoryEffects>() &&
           op->getNumRegions() == 0 && !isPure(op);
  return effects.hasEffect<MemoryEffects::Read>() ||
         effects.hasEffect<MemoryEffects::Write>();
}

struct SynchronizeHostAccessesPass
    : public impl::SynchronizeHostAccessesBase<SynchronizeHostAccessesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp sync;
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isExternal() || func.getName() == kSync)
        continue;
      bool launches = false;
      func.walk([&](LaunchOp) { launches = true; });
      if (!launches)
        continue;
      if (!sync) {
        sync = module.lookupSymbol<func::FuncOp>(kSync);
        if (!sync) {
          OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
          sync = func::FuncOp::create(b, module.getLoc(), kSync,
                                      b.getFunctionType({}, {}));
          sync.setPrivate();
        }
      }
      synchronize(func.getBody().front(), /*dirty=*/false, sync);
    }
  }

  /// Walks `block` in order; `dirty` says whether a launch may be pending.
  /// Returns whether one may be pending at its end.
  bool synchronize(Block &block, bool dirty, func::FuncOp sync) {
    for (Operation &op : llvm::make_early_inc_range(block)) {
      if (isa<LaunchOp>(op)) {
        dirty = true;
        continue;
      }
      if (op.getNumRegions() == 0) {
        if (dirty && accessesMemory(&op)) {
          wait(&op, sync);
          dirty = false;
        }
        continue;
      }
      bool launches = false, accesses = false;
      op.walk([&](Operation *nested) {
        launches |= isa<LaunchOp>(nested);
        accesses |= nested != &op && nested->getNumRegions() == 0 &&
                    accessesMemory(nested);
      });
      if (!launches) {
        // Host work only: one wait before it, if anything is pending.
        if (dirty && (accesses || accessesMemory(&op))) {
          wait(&op, sync);
          dirty = false;
        }
        continue;
      }
      // Launches inside: each block may run after any of them.
      for (Region &region : op.getRegions())
        for (Block &nested : region)
          synchronize(nested, /*dirty=*/true, sync);
      dirty = true;
    }
    return dirty;
  }

  void wait(Operation *before, func::FuncOp sync) {
    OpBuilder b(before);
    func::CallOp::create(b, before->getLoc(), sync, ValueRange());
  }
};

} // namespace
} // namespace mlir::chimera
