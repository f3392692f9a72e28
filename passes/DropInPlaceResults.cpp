//===- DropInPlaceResults.cpp - void entry points over caller buffers -----===//
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_DROPINPLACERESULTS
#include "passes/Passes.h.inc"

namespace {

struct DropInPlaceResultsPass
    : public impl::DropInPlaceResultsBase<DropInPlaceResultsPass> {
  void runOnOperation() override {
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal() || !func.isPublic() || func.getNumResults() == 0)
        continue;
      auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
      for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
        // A cast of an argument is still that buffer.
        while (auto cast = value.getDefiningOp<memref::CastOp>())
          value = cast.getSource();
        auto arg = dyn_cast<BlockArgument>(value);
        if (!arg || arg.getOwner()->getParentOp() != func) {
          auto name = func.getResultAttrOfType<StringAttr>(i, "chimera.name");
          func.emitOpError("result ")
              << i << (name ? " ('" + name.getValue() + "')" : std::string())
              << " is not written in place into an argument buffer";
          return signalPassFailure();
        }
      }
      ret->setOperands({});
      BitVector all(func.getNumResults(), true);
      if (failed(func.eraseResults(all)))
        return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::chimera
