//===- PackWeights.cpp - float weights in K-major panels ------------------===//
//
// The layout is a property of the weight archive, so it is chosen on the
// chimera IR, before weights are bound: the param's type says how the
// archive stores it, the consumer's `panel` how to read it. A checkpoint
// name (or an expert stack's list of names) is packed everywhere or
// nowhere, since every function views one archive; a packed copy of a
// linear's weight is named `<tensor>:panel`, which the archive writer reads
// from `<tensor>`.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/IR/Builders.h"

#include <map>
#include <set>

namespace mlir::chimera {
#define GEN_PASS_DEF_PACKWEIGHTS
#include "passes/Passes.h.inc"

namespace {

/// The checkpoint names a param or param_stack reads, as one key.
std::vector<std::string> keyOf(Operation *op) {
  if (auto param = dyn_cast<ParamOp>(op))
    return {param.getName().str()};
  auto names = cast<ParamStackOp>(op).getNames().getAsValueRange<StringAttr>();
  return {names.begin(), names.end()};
}

/// Whether `use` reads the param as a linear's float, unquantised weight.
bool isPackableLinearUse(OpOperand &use) {
  auto linear = dyn_cast<LinearOp>(use.getOwner());
  if (!linear || use.getOperandNumber() != 1 || linear.getQuantAttr() ||
      linear.getPanelAttr())
    return false;
  auto type = cast<RankedTensorType>(use.get().getType());
  return type.getRank() == 2 && isa<FloatType>(type.getElementType());
}

/// The stacked weights of an expert FFN.
SmallVector<OpOperand *, 3> expertWeights(ExpertFfnOp op) {
  SmallVector<OpOperand *, 3> weights = {&op.getWUpMutable(),
                                         &op.getWDownMutable()};
  if (!op.getWGateMutable().empty())
    weights.push_back(&op.getWGateMutable()[0]);
  return weights;
}

struct PackWeightsPass : public impl::PackWeightsBase<PackWeightsPass> {
  using Base::Base;

  /// Whether `op`'s float experts can take panels: static shapes whose
  /// intermediate and hidden sizes are whole panels (an expert stack has
  /// no `rows` to cut a padded panel off).
  bool canPanelExperts(ExpertFfnOp op) const {
    if (op.getQuantAttr() || op.getPanelAttr())
      return false;
    for (OpOperand *w : expertWeights(op)) {
      auto type = cast<RankedTensorType>(w->get().getType());
      if (!type.hasStaticShape() || type.getRank() != 3 ||
          !isa<FloatType>(type.getElementType()) ||
          type.getDimSize(1) % panel != 0)
        return false;
    }
    return true;
  }

  /// Retypes `param` (a [N, K] float weight) to its panels and points the
  /// linears among `uses` at them. A ragged N gets a zero-padded last
  /// panel, which the linears' `rows` cuts off.
  void packLinearWeight(ParamOp param, ArrayRef<OpOperand *> uses) {
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

  /// Retypes an expert stack [E, N, K] to [E, N/panel, K, panel].
  void packExpertStack(Operation *stack) {
    auto type = cast<RankedTensorType>(stack->getResult(0).getType());
    stack->getResult(0).setType(
        RankedTensorType::get({type.getDimSize(0), type.getDimSize(1) / panel,
                               type.getDimSize(2), panel},
                              type.getElementType()));
    stack->setAttr("chimera.panel",
                   Builder(&getContext()).getI64IntegerAttr(panel));
  }

  /// Float expert FFNs whose every weight can be packed: each expert op
  /// that can take panels, less those reading a weight that is not packed
  /// everywhere it is read (another op uses it, or an expert op that
  /// cannot take panels), until no more drop out.
  void packExperts(ModuleOp module) {
    std::map<std::vector<std::string>, SmallVector<Operation *>> byKey;
    module.walk([&](Operation *op) {
      if (isa<ParamOp, ParamStackOp>(op))
        byKey[keyOf(op)].push_back(op);
    });
    std::set<Operation *> experts;
    module.walk([&](ExpertFfnOp op) {
      if (canPanelExperts(op))
        experts.insert(op);
    });
    auto packable = [&](const std::vector<std::string> &key) {
      for (Operation *param : byKey[key])
        for (OpOperand &use : param->getUses())
          if (!experts.count(use.getOwner()) ||
              !llvm::is_contained(
                  expertWeights(cast<ExpertFfnOp>(use.getOwner())), &use))
            return false;
      return true;
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (Operation *op : std::set<Operation *>(experts)) {
        for (OpOperand *w : expertWeights(cast<ExpertFfnOp>(op))) {
          Operation *param = w->get().getDefiningOp();
          if (!param || !isa<ParamOp, ParamStackOp>(param) ||
              !packable(keyOf(param))) {
            experts.erase(op);
            changed = true;
            break;
          }
        }
      }
    }
    std::set<Operation *> packed;
    for (Operation *op : experts) {
      auto ffn = cast<ExpertFfnOp>(op);
      for (OpOperand *w : expertWeights(ffn))
        for (Operation *param : byKey[keyOf(w->get().getDefiningOp())])
          if (packed.insert(param).second)
            packExpertStack(param);
      ffn.setPanel(panel);
    }
  }

  /// Linear weights, by checkpoint name: a name is packed in place if
  /// every use of every op is a linear's; read otherwise too (a tied
  /// embedding table gathers rows), its linears get a packed copy, as a
  /// quantised format gives them a quantised one.
  void packLinears(ModuleOp module) {
    std::map<std::string, SmallVector<ParamOp>> byName;
    std::map<std::string, bool> onlyLinears;
    module.walk([&](ParamOp param) {
      std::string name = param.getName().str();
      byName[name].push_back(param);
      auto [it, fresh] = onlyLinears.try_emplace(name, true);
      for (OpOperand &use : param->getUses())
        it->second = it->second && isPackableLinearUse(use);
    });
    for (auto &[name, params] : byName) {
      for (ParamOp param : params) {
        SmallVector<OpOperand *> uses;
        for (OpOperand &use : param->getUses())
          if (isPackableLinearUse(use))
            uses.push_back(&use);
        if (uses.empty())
          continue;
        if (onlyLinears[name]) {
          packLinearWeight(param, uses);
          continue;
        }
        OpBuilder b(param);
        b.setInsertionPointAfter(param);
        auto copy = ParamOp::create(b, param.getLoc(), param.getType(),
                                    b.getStringAttr(name + ":panel"));
        for (OpOperand *use : uses)
          use->set(copy);
        packLinearWeight(copy, uses);
      }
    }
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (panel < 1) {
      module.emitError("chimera-pack-weights: panel must be >= 1, got ")
          << panel;
      return signalPassFailure();
    }
    // Independent: an expert stack is packed only if no other op reads it.
    packExperts(module);
    packLinears(module);
  }
};

} // namespace
} // namespace mlir::chimera
