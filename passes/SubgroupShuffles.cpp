//===- SubgroupShuffles.cpp - subgroup reductions as shuffle butterflies --===//
//
// `chimera-gpu-cooperative-reductions` sums a subgroup's partials with
// `gpu.subgroup_reduce`. SPIR-V has a group instruction for it; NVVM has
// none for f32, so on CUDA it becomes log2(32) shuffle-and-add steps, which
// need no workgroup memory and no barrier.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_SUBGROUPSHUFFLES
#include "passes/Passes.h.inc"

namespace {

struct SubgroupShufflesPass
    : public impl::SubgroupShufflesBase<SubgroupShufflesPass> {
  using Base::Base;

  void runOnOperation() override {
    if (subgroupSize < 1 || !llvm::isPowerOf2_64(subgroupSize)) {
      getOperation()->emitError("chimera-gpu-subgroup-shuffles: "
                                "subgroup-size must be a power of two, got ")
          << static_cast<int64_t>(subgroupSize);
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateGpuLowerSubgroupReduceToShufflePatterns(patterns, subgroupSize);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
