//===- PackWeights.cpp - linear weights in K-major panels -----------------===//
//
// The layout is a property of the weight archive, so it is chosen on the
// chimera IR, before weights are bound: the param's type says how the
// archive stores it, the linear's `panel` how to read it. A checkpoint name
// is packed everywhere or nowhere, since every function views one archive;
// a packed copy is named `<tensor>:panel`, which the archive writer reads
// from `<tensor>`.
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

/// Whether `use` reads the param as a linear's float, unquantised weight.
bool isPackableUse(OpOperand &use) {
  auto linear = dyn_cast<LinearOp>(use.getOwner());
  if (!linear || use.getOperandNumber() != 1 || linear.getQuantAttr() ||
      linear.getPanelAttr())
    return false;
  auto type = cast<RankedTensorType>(use.get().getType());
  return type.getRank() == 2 && isa<FloatType>(type.getElementType());
}

struct PackWeightsPass : public impl::PackWeightsBase<PackWeightsPass> {
  using Base::Base;

  /// Retypes `param` (a [N, K] float weight) to its panels and points the
  /// linears among `uses` at them. A ragged N gets a zero-padded last
  /// panel, which the linears' `rows` cuts off.
  void pack(ParamOp param, ArrayRef<OpOperand *> uses) {
    auto type = param.getType();
    int64_t n = type.getDimSize(0), k = type.getDimSize(1);
    Builder b(&getContext());
    param.getResult().setType(
        RankedTensorType::get({int64_t(llvm::divideCeil(n, panel)), k, panel},
                              type.getElementType()));
    param->setAttr("chimera.panel", b.getI64IntegerAttr(panel));
    for (OpOperand *use : uses) {
      auto linear = cast<LinearOp>(use->getOwner());
      linear.setPanel(panel);
      if (n % panel)
        linear.setRows(n);
    }
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (panel < 1) {
      module.emitError("chimera-pack-weights: panel must be >= 1, got ")
          << panel;
      return signalPassFailure();
    }
    // By checkpoint name: a name is packed in place if every use of every
    // op is a linear's; read otherwise too (a tied embedding table gathers
    // rows), its linears get a packed copy, as a quantised format gives
    // them a quantised one.
    std::map<std::string, SmallVector<ParamOp>> byName;
    std::map<std::string, bool> onlyLinears;
    module.walk([&](ParamOp param) {
      std::string name = param.getName().str();
      byName[name].push_back(param);
      auto [it, fresh] = onlyLinears.try_emplace(name, true);
      for (OpOperand &use : param->getUses())
        it->second = it->second && isPackableUse(use);
    });
    for (auto &[name, params] : byName) {
      for (ParamOp param : params) {
        SmallVector<OpOperand *> uses;
        for (OpOperand &use : param->getUses())
          if (isPackableUse(use))
            uses.push_back(&use);
        if (uses.empty())
          continue;
        if (onlyLinears[name]) {
          pack(param, uses);
          continue;
        }
        OpBuilder b(param);
        b.setInsertionPointAfter(param);
        auto copy = ParamOp::create(b, param.getLoc(), param.getType(),
                                    b.getStringAttr(name + ":panel"));
        for (OpOperand *use : uses)
          use->set(copy);
        pack(copy, uses);
      }
    }
  }
};

} // namespace
} // namespace mlir::chimera
