//===- OutlineKernels.cpp - parallel loops -> kernels over a grid ---------===//
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/SetVector.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_OUTLINEKERNELS
#include "passes/Passes.h.inc"

namespace {

bool isConstant(Value v) {
  Operation *def = v.getDefiningOp();
  return def && def->hasTrait<OpTrait::ConstantLike>();
}

/// Lanes of one AVX-512 register of f32: a vector op counts once per this
/// many elements.
constexpr int64_t kWorkLanes = 16;

/// Estimated operations one execution of `block` runs: each op once (a
/// vector op once per kWorkLanes elements), loops times their trip count,
/// the costlier branch of an `scf.if`. None when a loop's trip count is not
/// a constant: the work then depends on runtime sizes.
std::optional<int64_t> blockWork(Block &block) {
  int64_t work = 0;
  for (Operation &op : block.without_terminator()) {
    if (auto loop = dyn_cast<scf::ForOp>(op)) {
      std::optional<int64_t> body = blockWork(*loop.getBody());
      std::optional<APInt> trips = loop.getStaticTripCount();
      if (!body || !trips)
        return std::nullopt;
      work += trips->getSExtValue() * *body;
      continue;
    }
    if (auto branch = dyn_cast<scf::IfOp>(op)) {
      int64_t most = 0;
      for (Region &region : branch->getRegions()) {
        if (region.empty())
          continue;
        std::optional<int64_t> w = blockWork(region.front());
        if (!w)
          return std::nullopt;
        most = std::max(most, *w);
      }
      work += 1 + most;
      continue;
    }
    if (op.getNumRegions())
      return std::nullopt; // while loops, nested parallel loops, scopes
    int64_t elements = 1;
    for (Type t :
         llvm::concat<const Type>(op.getResultTypes(), op.getOperandTypes()))
      if (auto v = dyn_cast<VectorType>(t))
        elements = std::max(elements, v.getNumElements());
    work += llvm::divideCeil(elements, kWorkLanes);
  }
  return work;
}

struct OutlineKernelsPass
    : public impl::OutlineKernelsBase<OutlineKernelsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (blockSize < 1) {
      module.emitError("chimera-outline-kernels: block-size must be >= 1");
      return signalPassFailure();
    }
    SymbolTable symbols(module);
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isExternal() || func->hasAttr("chimera.kernel"))
        continue;
      // Parallel loops the host reaches through its own control flow (a
      // depth route's per-row loop, its branch on "any token selected")
      // are kernels too; loops nested in a parallel loop are its body.
      SmallVector<scf::ParallelOp> loops;
      func.walk<WalkOrder::PreOrder>([&](scf::ParallelOp loop) {
        if (loop.getNumResults() == 0 && onHost(loop, func) &&
            (!gpuBuffers || loop->getParentOp() == func ||
             gpuTakesOperands(loop)))
          loops.push_back(loop);
        return WalkResult::skip();
      });
      unsigned index = 0;
      for (scf::ParallelOp loop : loops)
        outline(loop, func, symbols, index++);
    }
    dedupKernels(module);
    // Loops that stay on the host (nested in a sequential loop) run their
    // iterations one after another too: their static stack buffers move to
    // the function entry instead of being allocated once per iteration.
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      Block &entry = func.getBody().front();
      SmallVector<memref::AllocaOp> nested;
      func.walk([&](memref::AllocaOp alloca) {
        if (alloca->getBlock() != &entry && alloca->getNumOperands() == 0 &&
            !alloca->getParentOfType<memref::AllocaScopeOp>())
          nested.push_back(alloca);
      });
      for (memref::AllocaOp alloca : nested)
        alloca->moveBefore(&entry, entry.begin());
    }
  }

  /// True when only sequential host control flow lies between `op` and
  /// `func`.
  static bool onHost(Operation *op, func::FuncOp func) {
    for (Operation *p = op->getParentOp(); p != func; p = p->getParentOp())
      if (!isa<scf::ForOp, scf::IfOp, scf::ExecuteRegionOp>(p))
        return false;
    return true;
  }

  /// True when a GPU kernel could take every value `loop` uses: buffers of
  /// whole-byte ints and floats (not i1 masks or index lists) and index,
  /// i32, i1 or f32 scalars (what chimera-kernels-to-gpu passes).
  static bool gpuTakesOperands(scf::ParallelOp loop) {
    llvm::SetVector<Value> used;
    getUsedValuesDefinedAbove(loop.getRegion(), used);
    return llvm::all_of(used, [](Value v) {
      Type t = v.getType();
      if (auto m = dyn_cast<MemRefType>(t)) {
        Type e = m.getElementType();
        return e.isIntOrFloat() && e.getIntOrFloatBitWidth() % 8 == 0;
      }
      return isConstant(v) || t.isIndex() || t.isInteger(32) ||
             t.isInteger(1) || t.isF32();
    });
  }

  /// Layers repeat: their kernels differ only in the buffers passed to
  /// them. Kernels with identical bodies and signatures are merged into the
  /// first, so code generation sees each distinct kernel once.
  void dedupKernels(ModuleOp module) {
    llvm::StringMap<FlatSymbolRefAttr> canonical;
    llvm::DenseMap<StringAttr, FlatSymbolRefAttr> replace;
    SmallVector<func::FuncOp> dead;
    for (auto kernel : module.getOps<func::FuncOp>()) {
      if (!kernel->hasAttr("chimera.kernel"))
        continue;
      std::string key;
      llvm::raw_string_ostream os(key);
      os << kernel.getFunctionType();
      OpPrintingFlags flags;
      flags.printGenericOpForm();
      // One naming state for the whole kernel: printing ops one by one
      // would renumber the function for each.
      AsmState state(kernel, flags);
      for (Operation &op : kernel.getBody().front())
        op.print(os, state);
      auto [it, inserted] = canonical.try_emplace(
          key, FlatSymbolRefAttr::get(kernel.getSymNameAttr()));
      if (!inserted) {
        replace[kernel.getSymNameAttr()] = it->second;
        dead.push_back(kernel);
      }
    }
    module.walk([&](LaunchOp launch) {
      auto it = replace.find(launch.getKernelAttr().getRootReference());
      if (it != replace.end())
        launch.setKernelAttr(it->second);
    });
    for (func::FuncOp kernel : dead)
      kernel.erase();
  }

  void outline(scf::ParallelOp loop, func::FuncOp host, SymbolTable &symbols,
               unsigned index) {
    MLIRContext *ctx = &getContext();
    Location loc = loop.getLoc();
    unsigned rank = loop.getNumLoops();
    OpBuilder b(loop);

    // Host: iteration counts per dim and the grid size.
    SmallVector<Value> counts;
    for (unsigned d = 0; d < rank; ++d) {
      Value extent = arith::SubIOp::create(b, loc, loop.getUpperBound()[d],
                                           loop.getLowerBound()[d]);
      counts.push_back(
          arith::CeilDivSIOp::create(b, loc, extent, loop.getStep()[d]));
    }
    // A loop whose iterations are already work items says so.
    int64_t itemSize = blockSize;
    if (auto attr = loop->getAttrOfType<IntegerAttr>("chimera.block_size"))
      itemSize = std::max<int64_t>(1, attr.getInt());
    Value bs = arith::ConstantIndexOp::create(b, loc, itemSize);
    Value blocks = arith::CeilDivSIOp::create(b, loc, counts.back(), bs);
    Value grid = blocks;
    for (unsigned d = 0; d + 1 < rank; ++d)
      grid = arith::MulIOp::create(b, loc, grid, counts[d]);

    // Everything the kernel reads from the host: counts, bounds, captures.
    llvm::SetVector<Value> needed;
    for (Value v : counts)
      needed.insert(v);
    for (Value v : loop.getLowerBound())
      needed.insert(v);
    for (Value v : loop.getStep())
      needed.insert(v);
    getUsedValuesDefinedAbove(loop.getRegion(), needed);
    SmallVector<Value> passed;
    for (Value v : needed)
      if (!isConstant(v))
        passed.push_back(v);

    // The kernel function.
    auto indexType = b.getIndexType();
    SmallVector<Type> argTypes = {indexType, indexType};
    for (Value v : passed)
      argTypes.push_back(v.getType());
    std::string name = (host.getName() + "_kernel_" + Twine(index)).str();
    if (auto tag = loop->getAttrOfType<StringAttr>(kKernelTag))
      name += ("_" + tag.getValue()).str();
    OpBuilder mb = OpBuilder::atBlockEnd(getOperation().getBody());
    auto kernel = func::FuncOp::create(mb, loc, name,
                                       FunctionType::get(ctx, argTypes, {}));
    kernel.setPrivate();
    kernel->setAttr("chimera.kernel", UnitAttr::get(ctx));
    kernel->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    symbols.insert(kernel);
    Block *entry = kernel.addEntryBlock();
    OpBuilder kb = OpBuilder::atBlockBegin(entry);
    IRMapping map;
    for (auto [v, arg] : llvm::zip(passed, entry->getArguments().drop_front(2)))
      map.map(v, arg);
    for (Value v : needed)
      if (isConstant(v))
        map.map(v, kb.clone(*v.getDefiningOp())->getResult(0));
    auto lookup = [&](Value v) { return map.lookupOrDefault(v); };

    // Static stack buffers at the top of the body (scratch of one grid
    // item) are allocated once per kernel call: its items run one after
    // another, and an alloca inside the item loop would grow the stack per
    // item.
    llvm::SmallPtrSet<Operation *, 2> perCall;
    for (Operation &op : loop.getBody()->without_terminator())
      if (auto alloca = dyn_cast<memref::AllocaOp>(op);
          alloca && alloca->getNumOperands() == 0) {
        map.map(alloca.getResult(), kb.clone(op)->getResult(0));
        perCall.insert(&op);
      }

    Value c0 = arith::ConstantIndexOp::create(kb, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(kb, loc, 1);
    Value kbs = arith::ConstantIndexOp::create(kb, loc, itemSize);
    Value nLast = lookup(counts.back());
    Value kBlocks = arith::CeilDivSIOp::create(kb, loc, nLast, kbs);
    auto items = scf::ForOp::create(kb, loc, entry->getArgument(0),
                                    entry->getArgument(1), c1);
    {
      OpBuilder ib = OpBuilder::atBlockBegin(items.getBody());
      Value item = items.getInductionVar();
      Value block = arith::RemUIOp::create(ib, loc, item, kBlocks);
      Value outer = arith::DivUIOp::create(ib, loc, item, kBlocks);
      SmallVector<Value> ivs(rank);
      for (int d = int(rank) - 2; d >= 0; --d) {
        Value n = lookup(counts[d]);
        Value idx = d == 0 ? outer : arith::RemUIOp::create(ib, loc, outer, n);
        if (d > 0)
          outer = arith::DivUIOp::create(ib, loc, outer, n);
        ivs[d] = arith::AddIOp::create(
            ib, loc, lookup(loop.getLowerBound()[d]),
            arith::MulIOp::create(ib, loc, idx, lookup(loop.getStep()[d])));
      }
      Value jlo = arith::MulIOp::create(ib, loc, block, kbs);
      Value jhi = arith::MinSIOp::create(
          ib, loc, arith::AddIOp::create(ib, loc, jlo, kbs), nLast);
      auto inner = scf::ForOp::create(ib, loc, jlo, jhi, c1);
      OpBuilder bb = OpBuilder::atBlockBegin(inner.getBody());
      ivs[rank - 1] = arith::AddIOp::create(
          bb, loc, lookup(loop.getLowerBound()[rank - 1]),
          arith::MulIOp::create(bb, loc, inner.getInductionVar(),
                                lookup(loop.getStep()[rank - 1])));
      for (unsigned d = 0; d < rank; ++d)
        map.map(loop.getInductionVars()[d], ivs[d]);
      for (Operation &op : loop.getBody()->without_terminator())
        if (!perCall.contains(&op))
          bb.clone(op, map);
    }
    func::ReturnOp::create(kb, loc);
    (void)c0;

    // What one grid item costs, for the runtime to keep small grids on one
    // thread (decode's zero fills, norms and residual adds).
    IntegerAttr work;
    if (std::optional<int64_t> body = blockWork(*loop.getBody());
        body && *body > 0)
      work = b.getI64IntegerAttr(itemSize * *body);
    LaunchOp::create(b, loc, FlatSymbolRefAttr::get(kernel.getNameAttr()), grid,
                     passed, work);
    loop.erase();
  }
};

} // namespace
} // namespace mlir::chimera
