//===- ResultsToDestinations.cpp - results into caller-owned buffers ------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_RESULTSTODESTINATIONS
#include "passes/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kName = "chimera.name";

/// True when `value` is `arg` after a chain of `chimera.cache_write`s (or a
/// selective scan's state, or a state a depth route carries row by row): the
/// same buffer, written in place. Materialising it
/// into `arg` would read `arg` after that write (a conflict), and is not
/// needed.
bool isInPlaceUpdateOf(Value value, Value arg) {
  while (true) {
    if (auto write = value.getDefiningOp<CacheWriteOp>()) {
      value = write.getCache();
      continue;
    }
    // The scan updates its initial state where it lies.
    auto scan = value.getDefiningOp<SelectiveScanOp>();
    if (scan && value == scan.getFinalState() && scan.getInitialState()) {
      value = scan.getInitialState();
      continue;
    }
    // A depth route updates each row of its states where it lies.
    if (auto route = value.getDefiningOp<DepthRouteOp>()) {
      ResultRange states = route.getNewStates();
      auto it = llvm::find(states, value);
      if (it != states.end()) {
        value = route.getStates()[std::distance(states.begin(), it)];
        continue;
      }
    }
    return value == arg;
  }
}

struct ResultsToDestinationsPass
    : public impl::ResultsToDestinationsBase<ResultsToDestinationsPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.isPublic() || func.getNumResults() == 0)
        continue;
      // Arguments by name: a result named like one is that buffer, updated.
      llvm::StringMap<unsigned> argByName;
      for (unsigned i = 0; i < func.getNumArguments(); ++i)
        if (auto name = func.getArgAttrOfType<StringAttr>(i, kName))
          argByName[name.getValue()] = i;

      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      SmallVector<Value> destinations;
      for (unsigned i = 0; i < func.getNumResults(); ++i) {
        Type type = func.getResultTypes()[i];
        if (!isa<RankedTensorType>(type)) {
          func.emitOpError("result ")
              << i << " is not a ranked tensor; cannot give it a destination";
          return signalPassFailure();
        }
        auto name = func.getResultAttrOfType<StringAttr>(i, kName);
        auto it = name ? argByName.find(name.getValue()) : argByName.end();
        if (it != argByName.end()) {
          if (func.getArgument(it->second).getType() != type) {
            func.emitOpError("result '")
                << name.getValue() << "' has type " << type
                << " but the argument of that name has type "
                << func.getArgument(it->second).getType();
            return signalPassFailure();
          }
          destinations.push_back(func.getArgument(it->second));
          continue;
        }
        DictionaryAttr attrs =
            name ? DictionaryAttr::get(ctx, {NamedAttribute(
                                                StringAttr::get(ctx, kName),
                                                name)})
                 : DictionaryAttr::get(ctx);
        unsigned index = func.getNumArguments();
        if (failed(func.insertArgument(index, type, attrs, func.getLoc())))
          return signalPassFailure();
        destinations.push_back(func.getArgument(index));
      }
      OpBuilder b(ret);
      SmallVector<Value> results;
      for (auto [value, dest] : llvm::zip(ret.getOperands(), destinations)) {
        if (isInPlaceUpdateOf(value, dest)) {
          results.push_back(value);
          continue;
        }
        auto op = bufferization::MaterializeInDestinationOp::create(
            b, ret.getLoc(), value, dest);
        results.push_back(op.getResult());
      }
      ret->setOperands(results);
      // The runtime calls the C interface (one descriptor pointer per
      // buffer) through a packed entry point.
      func->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    }
  }
};

} // namespace
} // namespace mlir::chimera
