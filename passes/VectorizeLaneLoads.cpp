//===- VectorizeLaneLoads.cpp - a lane's iterations in runs of four -------===//
//
// `chimera-gpu-cooperative-reductions` deals a reduction's iterations to a
// workgroup's lanes round robin: lane l takes k = l, l + W, ... Every load
// of a warp then coalesces, but each lane has one 4-byte load in flight per
// operand, and a decode GEMV is all loads: HBM wants wider ones. Here lane l
// takes the runs k = 4l .. 4l + 3, 4l + 4W .. 4l + 4W + 3, ..., so an
// operand read at `x + k` (a row of a weight, the activation vector) is one
// 16-byte `vector.load` per run, which NVPTX emits as `ld.global.v4.f32`.
//
// A vector load needs its address aligned to the vector, and views of the
// runtime's buffers carry their offsets in parameter words: the alignment
// of each such address is tested in the kernel, before the loop, from
// values fixed for the item (so every lane of the workgroup takes the same
// side), and an item whose operands are not aligned runs the original loop.
// The runs go to the lanes round robin; the (at most three) iterations
// past the last whole run, one to a lane.
//
// SPIR-V's logical addressing cannot cast a pointer to f32 into one to a
// vec4, so there the vector is read through a second view of the same
// descriptor: one more kernel argument typed as vec4s, bound where the
// operand is (SPIR-V allows two variables on one binding). Its element i is
// the operand's elements 4i .. 4i+3 from the binding's start, so the test
// is on the offset alone.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"
#include "passes/GpuItems.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_VECTORIZELANELOADS
#include "passes/Passes.h.inc"

namespace {

constexpr int64_t kRun = 4;

/// A load of a flat global buffer at `offset + k`, `offset` fixed over the
/// loop and the same for every lane.
struct ContiguousLoad {
  memref::LoadOp load;
  Value offset; // null: the index is k itself
};

/// Whether `v` is computed from the invocation's id within its workgroup.
bool dependsOnLane(Value v) {
  if (isa<BlockArgument>(v))
    return false;
  SetVector<Operation *> slice;
  BackwardSliceOptions options;
  options.omitBlockArguments = true;
  (void)getBackwardSlice(v, &slice, options);
  slice.insert(v.getDefiningOp());
  return llvm::any_of(slice, [](Operation *op) {
    return isa<gpu::ThreadIdOp, gpu::LaneIdOp, gpu::SubgroupIdOp>(op);
  });
}

std::optional<ContiguousLoad> matchContiguous(memref::LoadOp load,
                                              scf::ForOp loop) {
  auto type = load.getMemRefType();
  if (type.getRank() != 1 || !type.getLayout().isIdentity() ||
      type.getMemorySpace() || type.getElementTypeBitWidth() % 8 != 0 ||
      !loop.isDefinedOutsideOfLoop(load.getMemRef()))
    return std::nullopt;
  Value iv = loop.getInductionVar();
  Value index = load.getIndices().front();
  if (index == iv)
    return ContiguousLoad{load, Value()};
  auto add = index.getDefiningOp<arith::AddIOp>();
  if (!add)
    return std::nullopt;
  for (unsigned i = 0; i < 2; ++i) {
    Value offset = add->getOperand(1 - i);
    if (add->getOperand(i) == iv && loop.isDefinedOutsideOfLoop(offset) &&
        !dependsOnLane(offset))
      return ContiguousLoad{load, offset};
  }
  return std::nullopt;
}

struct RunsOfFour : OpRewritePattern<scf::ForOp> {
  RunsOfFour(MLIRContext *ctx, bool vectorLoads, bool aliasBindings)
      : OpRewritePattern(ctx), vectorLoads(vectorLoads),
        aliasBindings(aliasBindings) {}

  /// The kernel argument that reads the flat buffer argument `flat` as
  /// `vector`s: one more argument of the gpu.func, marked with the index
  /// of the argument it aliases (chimera-kernels-to-spirv binds both to
  /// one descriptor).
  static Value aliasOf(PatternRewriter &rewriter, Value flat,
                       VectorType vector) {
    auto arg = cast<BlockArgument>(flat);
    auto func = cast<gpu::GPUFuncOp>(arg.getOwner()->getParentOp());
    for (unsigned i = 0; i < func.getNumArguments(); ++i)
      if (auto of = func.getArgAttrOfType<IntegerAttr>(i, kAliasOfAttr))
        if (of.getInt() == arg.getArgNumber())
          return func.getArgument(i);
    auto type = cast<MemRefType>(flat.getType());
    auto aliasType = MemRefType::get({ShapedType::kDynamic}, vector,
                                     MemRefLayoutAttrInterface(),
                                     type.getMemorySpace());
    unsigned at = func.getNumArguments();
    rewriter.modifyOpInPlace(func, [&] {
      (void)func.insertArgument(
          at, aliasType,
          rewriter.getDictionaryAttr(rewriter.getNamedAttr(
              kAliasOfAttr, rewriter.getI64IntegerAttr(arg.getArgNumber()))),
          flat.getLoc());
    });
    return func.getArgument(at);
  }

  LogicalResult matchAndRewrite(scf::ForOp loop,
                                PatternRewriter &rewriter) const override {
    auto width = loop->getAttrOfType<IntegerAttr>(kLaneLoopAttr);
    if (!width)
      return failure();
    // Runs of four need the lanes to take consecutive iterations: a step
    // of W (one per lane), over a body of plain ops and loads.
    std::optional<int64_t> step = getConstantIntValue(loop.getStep());
    bool flat = llvm::all_of(loop.getBody()->without_terminator(),
                             [](Operation &op) {
                               return op.getNumRegions() == 0 &&
                                      (isa<memref::LoadOp>(op) ||
                                       isMemoryEffectFree(&op));
                             });
    if (!step || *step != width.getInt() || !flat) {
      rewriter.modifyOpInPlace(loop, [&] { loop->removeAttr(kLaneLoopAttr); });
      return success();
    }
    SmallVector<ContiguousLoad> vectors;
    if (vectorLoads)
      for (auto load : loop.getBody()->getOps<memref::LoadOp>())
        if (std::optional<ContiguousLoad> c = matchContiguous(load, loop))
          // An alias reads 32-bit elements (no 8- or 16-bit storage
          // capabilities needed) of a kernel argument.
          if (!aliasBindings ||
              (isa<BlockArgument>(load.getMemRef()) &&
               load.getMemRefType().getElementTypeBitWidth() == 32))
            vectors.push_back(*c);

    llvm::SmallPtrSet<Operation *, 4> vectorized;
    for (ContiguousLoad &c : vectors)
      vectorized.insert(c.load);

    Location loc = loop.getLoc();
    rewriter.setInsertionPoint(loop);
    auto cst = [&](int64_t v) {
      return arith::ConstantIndexOp::create(rewriter, loc, v).getResult();
    };
    // The loop is `for k = base + lane to hi step W`.
    Value lane = loop.getLowerBound();
    auto id = lane.getDefiningOp<gpu::ThreadIdOp>();
    if (!id || id.getDimension() != gpu::Dimension::x)
      lane = gpu::ThreadIdOp::create(rewriter, loc, gpu::Dimension::x);
    Value base =
        arith::SubIOp::create(rewriter, loc, loop.getLowerBound(), lane);
    Value hi = loop.getUpperBound();
    Value runStep = cst(kRun * *step);
    // Runs of four go round robin up to base + ⌊(hi − base) / 4⌋·4; the
    // last (hi − base) mod 4 iterations, one per lane.
    Value runs = arith::MulIOp::create(
        rewriter, loc,
        arith::DivSIOp::create(
            rewriter, loc, arith::SubIOp::create(rewriter, loc, hi, base),
            cst(kRun)),
        cst(kRun));
    Value runsEnd = arith::AddIOp::create(rewriter, loc, base, runs);
    Value runsStart = arith::AddIOp::create(
        rewriter, loc, base, arith::MulIOp::create(rewriter, loc, lane, cst(kRun)));

    // Each vector load's address is aligned to the vector's size: the
    // runs start at offset + base + 4·(lane + W·m). With aliased bindings
    // the alias indexes whole vectors from the binding's start.
    Value aligned;
    for (ContiguousLoad &c : vectors) {
      MemRefType type = c.load.getMemRefType();
      int64_t bytes = type.getElementTypeBitWidth() / 8;
      Value first = c.offset ? arith::AddIOp::create(rewriter, loc, c.offset,
                                                     base).getResult()
                             : base;
      Value address =
          arith::MulIOp::create(rewriter, loc, first, cst(bytes));
      if (!aliasBindings)
        address = arith::AddIOp::create(
            rewriter, loc,
            memref::ExtractAlignedPointerAsIndexOp::create(rewriter, loc,
                                                           c.load.getMemRef()),
            address);
      Value ok = arith::CmpIOp::create(
          rewriter, loc, arith::CmpIPredicate::eq,
          arith::RemUIOp::create(rewriter, loc, address, cst(kRun * bytes)),
          cst(0));
      aligned = aligned ? arith::AndIOp::create(rewriter, loc, aligned, ok)
                              .getResult()
                        : ok;
    }

    auto body = loop.getBody();
    auto yield = cast<scf::YieldOp>(body->getTerminator());
    // The runs, then the rest.
    auto buildRuns = [&](OpBuilder &b, Location l) -> SmallVector<Value> {
      auto runLoop = scf::ForOp::create(
          b, l, runsStart, runsEnd, runStep, loop.getInitArgs(),
          [&](OpBuilder &nb, Location nl, Value k0, ValueRange acc) {
            IRMapping map;
            SmallVector<Value> vecs;
            for (ContiguousLoad &c : vectors) {
              Value at = c.offset ? arith::AddIOp::create(nb, nl, c.offset, k0)
                                        .getResult()
                                  : k0;
              auto type = VectorType::get({kRun},
                                          c.load.getMemRefType().getElementType());
              int64_t bytes = c.load.getMemRefType().getElementTypeBitWidth() / 8;
              if (aliasBindings) {
                Value alias = aliasOf(rewriter, c.load.getMemRef(), type);
                Value v = arith::DivUIOp::create(
                    nb, nl, at, arith::ConstantIndexOp::create(nb, nl, kRun));
                vecs.push_back(
                    memref::LoadOp::create(nb, nl, alias, ValueRange{v}));
                continue;
              }
              vecs.push_back(vector::LoadOp::create(
                  nb, nl, type, c.load.getMemRef(), ValueRange{at},
                  /*nontemporal=*/false, llvm::Align(kRun * bytes)));
            }
            SmallVector<Value> carried(acc);
            for (int64_t j = 0; j < kRun; ++j) {
              map.clear();
              map.map(body->getArguments().drop_front(), carried);
              map.map(loop.getInductionVar(),
                      j ? arith::AddIOp::create(
                              nb, nl, k0,
                              arith::ConstantIndexOp::create(nb, nl, j))
                              .getResult()
                        : k0);
              for (auto [c, v] : llvm::zip(vectors, vecs))
                map.map(c.load.getResult(),
                        vector::ExtractOp::create(nb, nl, v, j).getResult());
              for (Operation &op : body->without_terminator())
                if (!vectorized.contains(&op))
                  nb.clone(op, map);
              carried = llvm::map_to_vector(
                  yield.getOperands(), [&](Value v) { return map.lookupOrDefault(v); });
            }
            scf::YieldOp::create(nb, nl, carried);
          });
      Value restStart = arith::AddIOp::create(b, l, runsEnd, lane);
      auto rest = scf::ForOp::create(b, l, restStart, hi, loop.getStep(),
                                     runLoop.getResults());
      IRMapping map;
      map.map(body->getArguments(), rest.getBody()->getArguments());
      rest.getBody()->clear();
      OpBuilder rb = OpBuilder::atBlockEnd(rest.getBody());
      for (Operation &op : *body)
        rb.clone(op, map);
      return SmallVector<Value>(rest.getResults());
    };

    if (!aligned) {
      SmallVector<Value> results = buildRuns(rewriter, loc);
      rewriter.replaceOp(loop, results);
      return success();
    }
    auto branch = scf::IfOp::create(
        rewriter, loc, aligned,
        [&](OpBuilder &b, Location l) {
          scf::YieldOp::create(b, l, buildRuns(b, l));
        },
        [&](OpBuilder &b, Location l) {
          Operation *original = b.clone(*loop);
          original->removeAttr(kLaneLoopAttr);
          scf::YieldOp::create(b, l, original->getResults());
        });
    rewriter.replaceOp(loop, branch.getResults());
    return success();
  }

  bool vectorLoads;
  bool aliasBindings;
};

struct VectorizeLaneLoadsPass
    : public impl::VectorizeLaneLoadsBase<VectorizeLaneLoadsPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<RunsOfFour>(&getContext(), vectorLoads, aliasBindings);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
