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
    double n = double(linear.getType().getShape().back());
    return 2 * rowsOf(in, tokens) * n * k;
  }
  if (auto experts = llvm::dyn_cast<ch::ExpertFfnOp>(op)) {
    double t = rowsOf(experts.getInput().getType(), tokens);
    double k = dim(experts.getWeights(), 1);
    double inter = double(experts.getIntermediateSize()),
           hidden = dim(experts.getInput(), 1);
    double mats = experts.getWGate() ? 3 : 2;
    return 2 * t * k * mats * inter * hidden;
  }
  if (auto attn = llvm::dyn_cast<ch::AttentionOp>(op)) {
    auto q = llvm::cast<mlir::RankedTensorType>(attn.getQuery().getType());
    auto k = llvm::cast<mlir::RankedTensorType>(attn.getKey().getType());
    double sq = q.isDynamicDim(1) ? tokens : q.getDimSize(1);
    double heads = q.getDimSize(2), d = q.getDimSize(3);
    // QKᵀ and PV over the visible keys.
    double pairs = sq * (sq + 1) / 2; // causal: half of the square
    if (attn.getMask() == ch::MaskKind::None)
      pairs = sq * (k.isDynamicDim(1) ? tokens : k.getDimSize(1));
    if (auto segments = attn.getSegments()) {
      // block-causal: each segment sees itself and the ones before it.
      pairs = 0;
      double seen = 0;
      for (int64_t n : *segments) {
        seen += double(n);
        pairs += double(n) * seen;
      }
    }
    return 2 * 2 * heads * d * pairs;
  }
  if (auto conv = llvm::dyn_cast<ch::Conv2dOp>(op)) {
    auto out = conv.getType();
    double w = dim(conv.getWeight(), 1) * dim(conv.getWeight(), 2) *
               dim(conv.getWeight(), 3);
    return 2 * w * double(out.getDimSize(1) * out.getDimSize(2) *
                          out.getDimSize(3));
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

/// The FLOPs of `fn`'s ops, following calls into the model's own
/// functions (VAR's per-scale block), each call counted once per call.
static void countIn(mlir::func::FuncOp fn, double s, FlopCount &count,
                    mlir::SymbolTable &symbols, double multiple) {
  fn.walk([&](mlir::Operation *op) {
    double m = multiple;
    // Ops on rows that are a multiple of the batch (VAR's guidance runs
    // the transformer on a conditional and an unconditional row per image).
    if (auto a = op->getAttrOfType<mlir::IntegerAttr>("chimera.batch_multiple"))
      m = double(a.getInt());
    if (auto call = llvm::dyn_cast<mlir::func::CallOp>(op)) {
      if (auto callee = symbols.lookup<mlir::func::FuncOp>(call.getCallee()))
        countIn(callee, s, count, symbols, m);
      return;
    }
    auto route = op->getParentOfType<ch::DepthRouteOp>();
    double t = s;
    if (route) {
      count.capacity = route.getCapacity().convertToDouble();
      count.thresholdRouting |=
          route.getSelection() == ch::DepthSelection::Threshold;
      t = std::max(1.0, std::floor(count.capacity * s));
    }
    double f = flopsOf(op, t) * m;
    count.total += f;
    if (route)
      count.routed += f;
  });
}

FlopCount chimera::countFlops(mlir::ModuleOp module, int64_t tokens) {
  FlopCount count;
  auto forward = module.lookupSymbol<mlir::func::FuncOp>("forward");
  if (!forward)
    return count;
  mlir::SymbolTable symbols(module);
  countIn(forward, double(tokens), count, symbols, 1.0);
  return count;
}
