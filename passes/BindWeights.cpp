//===- BindWeights.cpp - chimera.param -> views of the weight archive -----===//
//
// The weight archive is one byte buffer the runtime maps; every weight is a
// static-shaped view at a fixed offset in it. Binding happens on tensors, so
// bufferization sees read-only tensors over a function argument and never
// copies a weight.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

#include "llvm/Support/MathExtras.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_BINDWEIGHTS
#include "passes/Passes.h.inc"

namespace {

/// The checkpoint names a param or param_stack reads, as one key.
SmallVector<StringRef> namesOf(Operation *op) {
  if (auto param = dyn_cast<ParamOp>(op))
    return {param.getName()};
  auto stack = cast<ParamStackOp>(op);
  return llvm::to_vector(stack.getNames().getAsValueRange<StringAttr>());
}

struct Slot {
  int64_t offset;
  RankedTensorType type;
};

struct BindWeightsPass : public impl::BindWeightsBase<BindWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    if (alignment <= 0 || !llvm::isPowerOf2_64(alignment)) {
      module.emitError("chimera-bind-weights: alignment must be a power of "
                       "two, got ")
          << alignment;
      return signalPassFailure();
    }
    // One layout for the module: every function views the same archive.
    std::map<std::vector<std::string>, Slot> slots;
    SmallVector<Attribute> layout;
    int64_t size = 0;
    auto slotFor = [&](Operation *op) -> FailureOr<Slot> {
      auto type = cast<RankedTensorType>(op->getResult(0).getType());
      SmallVector<StringRef> names = namesOf(op);
      std::vector<std::string> key(names.begin(), names.end());
      auto it = slots.find(key);
      if (it != slots.end()) {
        if (it->second.type != type)
          return op->emitOpError("reads the same weights as an earlier op with "
                                 "type ")
                 << it->second.type << ", but with type " << type;
        return it->second;
      }
      unsigned bits = type.getElementTypeBitWidth();
      if (bits % 8 != 0)
        return op->emitOpError("element type ")
               << type.getElementType()
               << " is not byte-sized; pack it before binding weights";
      int64_t offset = llvm::alignTo(size, alignment);
      size = offset + type.getNumElements() * (bits / 8);
      Slot slot{offset, type};
      slots[key] = slot;
      Builder b(ctx);
      SmallVector<Attribute> nameAttrs;
      for (StringRef n : names)
        nameAttrs.push_back(b.getStringAttr(n));
      SmallVector<NamedAttribute> entry = {
          b.getNamedAttr("names", b.getArrayAttr(nameAttrs)),
          b.getNamedAttr("offset", b.getI64IntegerAttr(offset)),
          b.getNamedAttr("shape", b.getDenseI64ArrayAttr(type.getShape())),
          b.getNamedAttr("element_type", TypeAttr::get(type.getElementType())),
      };
      // A quantised weight's part: the archive writer quantises the
      // checkpoint tensor it names; a packed one's panel: the writer
      // transposes it (chimera-pack-weights).
      for (StringRef key :
           {"chimera.quant", "chimera.quant_part", "chimera.panel"})
        if (Attribute attr = op->getAttr(key))
          entry.push_back(b.getNamedAttr(key.drop_front(8), attr));
      layout.push_back(b.getDictionaryAttr(entry));
      return slot;
    };

    for (auto func : module.getOps<func::FuncOp>()) {
      SmallVector<Operation *> params;
      func.walk([&](Operation *op) {
        if (isa<ParamOp, ParamStackOp>(op))
          params.push_back(op);
      });
      if (params.empty() || func.isExternal())
        continue;
      auto bufferType = MemRefType::get({ShapedType::kDynamic},
                                        IntegerType::get(ctx, 8));
      if (failed(func.insertArgument(
              0, bufferType,
              DictionaryAttr::get(ctx, {NamedAttribute(
                                           StringAttr::get(ctx, "chimera.name"),
                                           StringAttr::get(ctx, "weights"))}),
              func.getLoc())))
        return signalPassFailure();
      Value buffer = func.getArgument(0);
      OpBuilder b(ctx);
      b.setInsertionPointToStart(&func.getBody().front());
      for (Operation *op : params) {
        FailureOr<Slot> slot = slotFor(op);
        if (failed(slot))
          return signalPassFailure();
        b.setInsertionPoint(op);
        Location loc = op->getLoc();
        auto viewType = MemRefType::get(slot->type.getShape(),
                                        slot->type.getElementType());
        Value offset = arith::ConstantIndexOp::create(b, loc, slot->offset);
        Value view = memref::ViewOp::create(b, loc, viewType, buffer, offset,
                                            ValueRange());
        // The archive is mapped read-only: nothing may write through it.
        auto tensor = bufferization::ToTensorOp::create(
            b, loc, slot->type, view, /*restrict=*/true, /*writable=*/false);
        op->getResult(0).replaceAllUsesWith(tensor.getResult());
        op->erase();
      }
    }
    Builder b(ctx);
    module->setAttr("chimera.weights", b.getArrayAttr(layout));
    module->setAttr("chimera.weights_size", b.getI64IntegerAttr(size));
  }
};

} // namespace
} // namespace mlir::chimera
