//===- Flops.cpp - the arithmetic a model does per prefill ----------------===//
#include "tools/chimera-compile/Flops.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <algorithm>
#include <cmath>

using namespace chimera;
namespace ch = mlir::chimera;

namespace {

/// Elements of `type` with the batch dim as 1 and other dynamic dims as
/// `tokens`, leaving out the last `drop` dims.
double rowsOf(mlir::Type type, double tokens, unsigned drop = 1) {
  auto shaped = llvm::cast<mlir::RankedTensorType>(type);
  double n = 1;
  for (int64_t d = 0; d + drop < uint64_t(shaped.getRank()); ++d) {
    int64_t size = shaped.getDimSize(d);
    n *= d == 0 ? 1.0 : mlir::ShapedType::isDynamic(size) ? tokens : size;
  }
  return n;
}

double dim(mlir::Value v, int64_t d) {
  return double(llvm::cast<mlir::RankedTensorType>(v.getType()).getDimSize(d));
}

/// The FLOPs of one op with `tokens` tokens in its sequence.
double flopsOf(mlir::Operation *op, double tokens) {
  if (auto linear = llvm::dyn_cast<ch::LinearOp>(op)) {
    auto in = linear.getInput().getType();
    double k = double(in.getDimSize(in.getRank() - 1));
    return 2 * rowsOf(in, tokens) * dim(linear.getWeight(), 0) * k;
  }
  if (auto experts = llvm::dyn_cast<ch::ExpertFfnOp>(op)) {
    double t = rowsOf(experts.getInput().getType(), tokens);
    double k = dim(experts.getWeights(), 1);
    double inter = dim(experts.getWUp(), 1), hidden = dim(experts.getWUp(), 2);
    double mats = experts.getWGate() ? 3 : 2;
    return 2 * t * k * mats * inter * hidden;
  }
  if (auto attn = llvm::dyn_cast<ch::AttentionOp>(op)) {
    auto q = llvm::cast<mlir::RankedTensorType>(attn.getQuery().getType());
    double sq = q.isDynamicDim(1) ? tokens : q.getDimSize(1);
    double heads = q.getDimSize(2), d = q.getDimSize(3);
    // QKᵀ and PV over the visible keys: causal, half of the square.
    return 2 * 2 * heads * d * sq * (sq + 1) / 2;
  }
  if (auto scan = llvm::dyn_cast<ch::SelectiveScanOp>(op)) {
    double steps = rowsOf(scan.getU().getType(), tokens);
    double d = dim(scan.getA(), 0), n = dim(scan.getA(), 1);
    // exp(Δ·A), h = decay·h + Δu·B, y += h·C: about 6 per state element.
    return 6 * steps * d * n;
  }
  if (auto conv = llvm::dyn_cast<ch::CausalConv1dOp>(op))
    return 2 * rowsOf(conv.getInput().getType(), tokens) *
           dim(conv.getWeight(), 0) * dim(conv.getWeight(), 1);
  return 0;
}

} // namespace

FlopCount chimera::countFlops(mlir::ModuleOp module, int64_t tokens) {
  FlopCount count;
  auto forward = module.lookupSymbol<mlir::func::FuncOp>("forward");
  if (!forward)
    return count;
  double s = double(tokens);
  forward.walk([&](mlir::Operation *op) {
    auto route = op->getParentOfType<ch::DepthRouteOp>();
    double t = s;
    if (route) {
      count.capacity = route.getCapacity().convertToDouble();
      t = std::max(1.0, std::floor(count.capacity * s));
    }
    double f = flopsOf(op, t);
    count.total += f;
    if (route)
      count.routed += f;
  });
  return count;
}
