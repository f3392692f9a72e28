//===- CooperativeReductions.cpp - a workgroup per reducing grid item -----===//
//
// `chimera-kernels-to-gpu` runs one grid item per invocation. For a kernel
// whose item is a reduction (a linear layer's dot product, a norm's sum of
// squares, a softmax's max and sum), that leaves one invocation walking a
// whole row alone while the other 63 of its workgroup walk theirs: a decode
// GEMV then has as many busy invocations as outputs, each streaming a row.
// This pass gives such an item a workgroup: invocation `lane` takes the
// reduction's iterations lane, lane + W, ...; the W partial results are
// combined in workgroup memory by a tree of W/2, W/4, ... adds (a barrier
// per level); lane 0 folds the total into the output. The grid becomes
// items × W invocations, so the runtime launches one workgroup per item.
//
// Matched: an item whose only store is the reduction's `out[idx] =
// combine(out[idx], v)` (combine: addf, maximumf, minimumf, maxnumf,
// minnumf; or a chain of one combiner, `combine(combine(out[idx], a), b)`,
// as a 4-bit byte's two nibbles give) inside an `scf.for` whose other ops
// are pure or loads, with `idx` fixed over the loop (a nest of two static
// loops, a quantised layer's groups and the bytes of a group, is first made
// one loop), and a static trip count of at least 2·W (a linear
// layer's or a norm's reduction over the hidden size; not a head-dim dot
// product) or, with `data-dependent`, a trip count only the data knows
// (attention's max, sum and weighted sum over however many keys there are
// so far: a decode step over a long context has few items and long ones).
// The tree reassociates the reduction, which `chimera-reassociate-reductions`
// has already allowed.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/GpuItems.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/StringSet.h"

#include <functional>

namespace mlir::chimera {
#define GEN_PASS_DEF_COOPERATIVEREDUCTIONS
#include "passes/Passes.h.inc"

namespace {

/// out[idx] = combine(...combine(out[idx], v1)..., vn) accumulated over
/// `loop`: `combine` is the op that reads out[idx], `top` the one stored.
struct Reduction {
  scf::ForOp loop;
  memref::LoadOp load;
  memref::StoreOp store;
  Operation *combine;
  Operation *top;
};

/// The combiner's identity, or null for an op that is not a combiner.
static TypedAttr identityOf(Operation *op, FloatType type) {
  const llvm::fltSemantics &sem = type.getFloatSemantics();
  if (isa<arith::AddFOp>(op))
    return FloatAttr::get(type, llvm::APFloat::getZero(sem));
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(op))
    return FloatAttr::get(type, llvm::APFloat::getInf(sem, /*Negative=*/true));
  if (isa<arith::MinimumFOp, arith::MinNumFOp>(op))
    return FloatAttr::get(type, llvm::APFloat::getInf(sem));
  return {};
}

static std::optional<Reduction> matchReduction(scf::ForOp loop, int64_t width,
                                               bool dataDependent) {
  if (loop.getNumResults() != 0)
    return std::nullopt;
  // A static reduction only if it gives every lane at least two
  // iterations: a short one (a head-dim dot product) would mostly wait at
  // the barriers. One whose length only the data knows (attention over the
  // keys so far, a routing rank over the sequence) only when asked: it may
  // be as short, or thousands of keys long.
  std::optional<int64_t> step = getConstantIntValue(loop.getStep());
  if (!step || *step <= 0)
    return std::nullopt;
  std::optional<APInt> trips = loop.getStaticTripCount();
  if (trips ? trips->getSExtValue() < 2 * width : !dataDependent)
    return std::nullopt;
  memref::StoreOp store;
  for (Operation &op : loop.getBody()->without_terminator()) {
    if (auto s = dyn_cast<memref::StoreOp>(op)) {
      if (store)
        return std::nullopt;
      store = s;
      continue;
    }
    if (op.getNumRegions() || (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(&op)))
      return std::nullopt;
  }
  if (!store)
    return std::nullopt;
  Operation *combine = store.getValueToStore().getDefiningOp();
  auto type = dyn_cast<FloatType>(store.getValueToStore().getType());
  if (!combine || !type || !identityOf(combine, type) ||
      combine->getBlock() != loop.getBody())
    return std::nullopt;
  for (Value index : store.getIndices())
    if (!loop.isDefinedOutsideOfLoop(index))
      return std::nullopt;
  if (!loop.isDefinedOutsideOfLoop(store.getMemRef()))
    return std::nullopt;
  // Down a chain of the same combiner, each value used once, to out[idx].
  Operation *top = combine;
  std::function<Operation *(Operation *)> reading =
      [&](Operation *c) -> Operation * {
    for (Value operand : c->getOperands()) {
      if (auto load = operand.getDefiningOp<memref::LoadOp>()) {
        if (load.getMemRef() == store.getMemRef() &&
            llvm::equal(load.getIndices(), store.getIndices()) &&
            load->hasOneUse() && load->getBlock() == loop.getBody())
          return c;
        continue;
      }
      Operation *next = operand.getDefiningOp();
      if (next && next->getName() == top->getName() &&
          next->getAttrDictionary() == top->getAttrDictionary() &&
          next->hasOneUse() && next->getBlock() == loop.getBody())
        if (Operation *found = reading(next))
          return found;
    }
    return nullptr;
  };
  combine = reading(top);
  if (!combine)
    return std::nullopt;
  memref::LoadOp load;
  for (Value operand : combine->getOperands())
    if (auto l = operand.getDefiningOp<memref::LoadOp>();
        l && l.getMemRef() == store.getMemRef() &&
        llvm::equal(l.getIndices(), store.getIndices()))
      load = l;
  // The loop may read the output nowhere else.
  bool readsOut = false;
  loop.getBody()->walk([&](memref::LoadOp other) {
    readsOut |= other != load && other.getMemRef() == store.getMemRef();
  });
  if (readsOut || llvm::all_of(combine->getOperands(), [&](Value v) {
        return v == load.getResult();
      }))
    return std::nullopt;
  return Reduction{loop, load, store, combine, top};
}

/// A reduction over two static loops (a quantised layer's groups, and the
/// values within a group), each too short for the workgroup alone, as one
/// loop over both: `for t in [0, To·Ti)` with the group `t / Ti` and the
/// value `t mod Ti`. The outer loop may hold only pure ops (its index
/// arithmetic) besides the inner one. Returns the new loop, or null.
static scf::ForOp flattenNest(scf::ForOp inner, scf::ForOp item,
                              int64_t width) {
  auto outer = dyn_cast<scf::ForOp>(inner->getParentOp());
  if (!outer || outer == item || outer.getNumResults() ||
      inner.getNumResults())
    return {};
  std::optional<APInt> outerTrips = outer.getStaticTripCount();
  std::optional<APInt> innerTrips = inner.getStaticTripCount();
  if (!outerTrips || !innerTrips)
    return {};
  int64_t to = outerTrips->getSExtValue(), ti = innerTrips->getSExtValue();
  if (to * ti < 2 * width)
    return {};
  for (Operation &op : outer.getBody()->without_terminator())
    if (&op != inner.getOperation() &&
        (op.getNumRegions() || !isMemoryEffectFree(&op)))
      return {};
  OpBuilder b(outer);
  Location loc = outer.getLoc();
  auto cst = [&](OpBuilder &nb, int64_t v) {
    return arith::ConstantIndexOp::create(nb, loc, v).getResult();
  };
  auto flat = scf::ForOp::create(
      b, loc, cst(b, 0), cst(b, to * ti), cst(b, 1), ValueRange{},
      [&](OpBuilder &nb, Location nl, Value t, ValueRange) {
        IRMapping map;
        auto index = [&](scf::ForOp l, Value position) {
          return arith::AddIOp::create(
                     nb, nl, l.getLowerBound(),
                     arith::MulIOp::create(nb, nl, position, l.getStep()))
              .getResult();
        };
        Value tiv = cst(nb, ti);
        map.map(outer.getInductionVar(),
                index(outer, arith::DivUIOp::create(nb, nl, t, tiv)));
        map.map(inner.getInductionVar(),
                index(inner, arith::RemUIOp::create(nb, nl, t, tiv)));
        for (Operation &op : outer.getBody()->without_terminator())
          if (&op != inner.getOperation())
            nb.clone(op, map);
        for (Operation &op : inner.getBody()->without_terminator())
          nb.clone(op, map);
        scf::YieldOp::create(nb, nl);
      });
  outer.erase();
  return flat;
}

struct CooperativeReductionsPass
    : public impl::CooperativeReductionsBase<CooperativeReductionsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (workgroupSize < 2 || !llvm::isPowerOf2_64(workgroupSize)) {
      module.emitError("chimera-gpu-cooperative-reductions: workgroup-size "
                       "must be a power of two >= 2, got ")
          << static_cast<int64_t>(workgroupSize);
      return signalPassFailure();
    }
    llvm::StringSet<> cooperative;
    module.walk([&](gpu::GPUFuncOp func) {
      if (func.isKernel() && rewrite(func))
        cooperative.insert(func.getName());
    });
    // One workgroup per item: the launches count invocations.
    module.walk([&](LaunchOp launch) {
      ArrayRef<FlatSymbolRefAttr> nested =
          launch.getKernelAttr().getNestedReferences();
      if (nested.empty() || !cooperative.contains(nested.back().getValue()))
        return;
      OpBuilder b(launch);
      Value w = arith::ConstantIndexOp::create(b, launch.getLoc(), workgroupSize);
      launch.getGridMutable().assign(
          arith::MulIOp::create(b, launch.getLoc(), launch.getGrid(), w));
    });
  }

  bool rewrite(gpu::GPUFuncOp func) {
    int64_t width = workgroupSize;
    std::optional<ItemLoop> itemLoop = matchItemLoop(func, width);
    if (!itemLoop)
      return false;
    auto [item, block, count] = *itemLoop;
    // The item's one store must be the reduction's.
    SmallVector<memref::StoreOp> stores;
    item.walk([&](memref::StoreOp s) { stores.push_back(s); });
    if (stores.size() != 1)
      return false;
    auto loop = stores.front()->getParentOfType<scf::ForOp>();
    std::optional<Reduction> r;
    if (loop && loop != item) {
      r = matchReduction(loop, width, dataDependent);
      if (!r)
        if (scf::ForOp flat = flattenNest(loop, item, width))
          r = matchReduction(flat, width, dataDependent);
    }
    if (!r)
      return false;
    // Nothing else in the item may write (calls, barriers, atomics).
    bool other = false;
    item.walk([&](Operation *op) {
      if (op == r->store.getOperation() || isa<memref::LoadOp>(op) ||
          op->hasTrait<OpTrait::IsTerminator>())
        return;
      if (op->getNumRegions() == 0 && !isMemoryEffectFree(op))
        other = true;
    });
    if (other)
      return false;

    Location loc = r->loop.getLoc();
    auto type = cast<FloatType>(r->store.getValueToStore().getType());

    // The item loop: one item per workgroup, its invocations together.
    {
      OpBuilder b(item);
      Value w = arith::ConstantIndexOp::create(b, loc, width);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      Value items = arith::DivUIOp::create(b, loc, count, w);
      Value end = arith::MinUIOp::create(
          b, loc, arith::AddIOp::create(b, loc, block, one), items);
      item.getLowerBoundMutable().assign(block);
      item.getUpperBoundMutable().assign(end);
    }

    // SPIR-V's conversion makes a Workgroup variable of a static alloc in
    // that space; NVVM's makes a shared global of an attribution.
    Value shared = workgroupBuffer(func, MemRefType::get({width}, type),
                                   workgroupAllocs, loc);

    OpBuilder b(r->loop);
    Value lane = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    Value w = arith::ConstantIndexOp::create(b, loc, width);
    Value step = r->loop.getStep();
    Value lower = arith::AddIOp::create(
        b, loc, r->loop.getLowerBound(),
        arith::MulIOp::create(b, loc, lane, step));
    Value identity =
        arith::ConstantOp::create(b, loc, identityOf(r->combine, type));
    auto partial = scf::ForOp::create(
        b, loc, lower, r->loop.getUpperBound(),
        arith::MulIOp::create(b, loc, step, w), ValueRange{identity},
        [&](OpBuilder &nb, Location nl, Value k, ValueRange acc) {
          IRMapping map;
          map.map(r->loop.getInductionVar(), k);
          for (Operation &op : r->loop.getBody()->without_terminator()) {
            if (&op == r->load.getOperation() || &op == r->store.getOperation())
              continue;
            if (&op == r->combine) {
              Operation *c = nb.clone(op, map);
              unsigned accIdx = op.getOperand(0) == r->load.getResult() ? 0 : 1;
              c->setOperand(accIdx, acc[0]);
              map.map(op.getResult(0), c->getResult(0));
              continue;
            }
            nb.clone(op, map);
          }
          scf::YieldOp::create(nb, nl, map.lookup(r->top->getResult(0)));
        });
    // chimera-gpu-vectorize-lane-loads may deal these iterations in runs.
    partial->setAttr(kLaneLoopAttr, b.getI64IntegerAttr(width));
    auto combine = [&](OpBuilder &cb, Value x, Value y) {
      OperationState state(loc, r->combine->getName());
      state.addOperands({x, y});
      state.addTypes(type);
      state.addAttributes(r->combine->getAttrs());
      return cb.create(state)->getResult(0);
    };
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    // What invocation 0 reads as the item's total, once the partials are
    // combined in workgroup memory.
    std::function<Value(OpBuilder &, Location)> total;
    if (subgroupReduce && isa<arith::AddFOp>(r->combine)) {
      // Each subgroup sums its lanes in registers and leaves the sum in
      // workgroup memory; invocation 0 adds the subgroups' sums (however
      // many the device's subgroup size makes): two barriers.
      // With a known subgroup size (CUDA's warps of 32: contiguous lanes),
      // subgroup g is lanes [g·size, (g+1)·size), every lane takes part
      // (uniform: NVVM lowers it to a butterfly of shuffles).
      // Otherwise non-uniform group ops (SPIR-V's uniform ones are
      // Kernel-only), and the subgroup's lowest invocation writes its sum:
      // subgroups need not be contiguous ranges of invocations.
      bool known = subgroupSize > 0 && width % subgroupSize == 0;
      Value sum = gpu::SubgroupReduceOp::create(
          b, loc, partial.getResult(0), gpu::AllReduceOperation::ADD,
          /*uniform=*/known);
      Value leader, subgroup;
      if (known) {
        Value size = arith::ConstantIndexOp::create(b, loc, subgroupSize);
        leader = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::eq,
            arith::RemUIOp::create(b, loc, lane, size), zero);
        subgroup = arith::DivUIOp::create(b, loc, lane, size);
      } else {
        Type i32 = b.getI32Type();
        Value tid = arith::IndexCastUIOp::create(b, loc, i32, lane);
        Value lowest = gpu::SubgroupReduceOp::create(
            b, loc, tid, gpu::AllReduceOperation::MINUI, /*uniform=*/false);
        leader = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                       lowest);
      }
      scf::IfOp::create(b, loc, leader, [&](OpBuilder &tb, Location tl) {
        Value at = subgroup ? subgroup
                            : gpu::SubgroupIdOp::create(tb, tl,
                                                        /*upperBound=*/nullptr)
                                  .getResult();
        memref::StoreOp::create(tb, tl, sum, shared, ValueRange{at});
        scf::YieldOp::create(tb, tl);
      });
      gpu::BarrierOp::create(b, loc);
      total = [&](OpBuilder &tb, Location tl) {
        Value groups =
            known ? arith::ConstantIndexOp::create(tb, tl, width / subgroupSize)
                        .getResult()
                  : gpu::NumSubgroupsOp::create(tb, tl, /*upperBound=*/nullptr)
                        .getResult();
        auto fold = scf::ForOp::create(
            tb, tl, zero, groups, arith::ConstantIndexOp::create(tb, tl, 1),
            ValueRange{identity},
            [&](OpBuilder &lb, Location ll, Value g, ValueRange acc) {
              Value v = memref::LoadOp::create(lb, ll, shared, ValueRange{g});
              scf::YieldOp::create(lb, ll, combine(lb, acc[0], v));
            });
        return fold.getResult(0);
      };
    } else {
      // A tree: W/2, W/4, ..., 1 lanes each fold a partner's partial.
      memref::StoreOp::create(b, loc, partial.getResult(0), shared, lane);
      gpu::BarrierOp::create(b, loc);
      for (int64_t s = width / 2; s >= 1; s /= 2) {
        Value sv = arith::ConstantIndexOp::create(b, loc, s);
        Value active = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             lane, sv);
        scf::IfOp::create(b, loc, active, [&](OpBuilder &tb, Location tl) {
          Value mine = memref::LoadOp::create(tb, tl, shared, lane);
          Value theirs = memref::LoadOp::create(
              tb, tl, shared, ValueRange{arith::AddIOp::create(tb, tl, lane, sv)});
          memref::StoreOp::create(tb, tl, combine(tb, mine, theirs), shared, lane);
          scf::YieldOp::create(tb, tl);
        });
        gpu::BarrierOp::create(b, loc);
      }
      total = [&](OpBuilder &tb, Location tl) -> Value {
        return memref::LoadOp::create(tb, tl, shared, ValueRange{zero});
      };
    }
    // Invocation 0 folds the total into the output.
    Value first =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, zero);
    scf::IfOp::create(b, loc, first, [&](OpBuilder &tb, Location tl) {
      Value old = memref::LoadOp::create(tb, tl, r->store.getMemRef(),
                                         r->store.getIndices());
      memref::StoreOp::create(tb, tl, combine(tb, old, total(tb, tl)),
                              r->store.getMemRef(), r->store.getIndices());
      scf::YieldOp::create(tb, tl);
    });
    // The next item's (or block iteration's) partials reuse the memory.
    gpu::BarrierOp::create(b, loc);
    r->loop.erase();
    return true;
  }
};

} // namespace
} // namespace mlir::chimera
