//===- ReassociateReductions.cpp - fast-math flags on reduction bodies ----===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_REASSOCIATEREDUCTIONS
#include "passes/Passes.h.inc"

namespace {

struct ReassociateReductionsPass
    : public impl::ReassociateReductionsBase<ReassociateReductionsPass> {
  void runOnOperation() override {
    auto flags = arith::FastMathFlagsAttr::get(
        &getContext(),
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
    getOperation()->walk([&](linalg::GenericOp op) {
      if (op.getNumReductionLoops() == 0)
        return;
      op.getBody()->walk([&](arith::ArithFastMathInterface math) {
        math->setAttr(math.getFastMathAttrName(), flags);
      });
    });
  }
};

} // namespace
} // namespace mlir::chimera
