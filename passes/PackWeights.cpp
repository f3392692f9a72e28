//===- PackWeights.cpp - linear weights in K-major panels -----------------===//
//
// The layout is a property of the weight archive, so it is chosen on the
// chimera IR, before weights are bound: the param's type says how the
// archive stores it, the linear's `panel` how to read it. A checkpoint name
// is packed everywhere or nowhere, since every function views one archive.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/IR/Builders.h"

#include <map>

namespace mlir::chimera {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "passes/Passes.h.inc"

namespace {

/// Whether `use` reads the param as a linear's float, unquantised weight of
/// a whole number of `panel`-row panels.
bool isPackableUse(OpOperand &use, int64_t panel) {
  auto linear = dyn_cast<LinearOp>(use.getOwner());
  if (!linear || use.getOperandNumber() != 1 || linear.getQuantAttr() ||
      linear.getPanelAttr())
    return false;
  auto type = cast<RankedTensorType>(use.get().getType());
  return type.getRank() == 2 && isa<FloatType>(type.getElementType()) &&
         type.getDimSize(0) % panel == 0;
}

struct PackWeightsPass : public impl::PackWeightsBase<PackWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (panel < 1) {
      module.emitError("chimera-pack-weights: panel must be >= 1, got ")
          << panel;
      return signalPassFailure();
    }
    // By checkpoint name: packable only if every use of every op is.
    std::map<std::string, SmallVector<ParamOp>> byName;
    std::map<std::string, bool> packable;
    module.walk([&](ParamOp param) {
      std::string name = param.getName().str();
      byName[name].push_back(param);
      auto [it, fresh] = packable.try_emplace(name, true);
      for (OpOperand &use : param->getUses())
        it->second = it->second && isPackableUse(use, panel);
      it->second = it->second && !param->use_empty();
    });
    Builder b(&getContext());
    for (auto &[name, params] : byName) {
      if (!packable[name])
        continue;
      for (ParamOp param : params) {
        auto type = param.getType();
        int64_t n = type.getDimSize(0), k = type.getDimSize(1);
        param.getResult().setType(RankedTensorType::get(
            {n / panel, k, panel}, type.getElementType()));
        param->setAttr("chimera.panel", b.getI64IntegerAttr(panel));
        for (Operation *user : param->getUsers())
          cast<LinearOp>(user).setPanel(panel);
      }
    }
  }
};

} // namespace
} // namespace mlir::chimera
