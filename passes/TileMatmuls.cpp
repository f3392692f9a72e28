//===- TileMatmuls.cpp - workgroup-tiled matmuls for prefill --------------===//
//
// `chimera-kernels-to-gpu` runs one grid item per invocation, so a linear
// layer over M rows is M·N invocations each reading a whole x row and a
// whole weight row: the weights are read M times. This pass gives such a
// kernel a tiled twin: a workgroup computes a TM×TN tile of the output, and
// for each slice of TK reduction steps its invocations first compute the
// tile's x values (TM×TK) and weight values (TN×TK) once into workgroup
// memory (a dequantisation or a fused norm runs once per element, not once
// per output), then each invocation accumulates a RM×RN block of outputs
// from there in registers. The launch picks the twin when the grid has at
// least `min-rows` rows (prefill); decode keeps the original kernel, whose
// item `chimera-gpu-cooperative-reductions` gives a workgroup.
//
// Matched: an item `i` decoded as column `c = i mod N` and row
// `r = i div N` (chimera-outline-kernels' innermost dim and the rest),
// whose one store is `out[idx] = out[idx] + v` in a reduction loop of
// static trip count, where `idx` depends only on the row and the column and
// `v` is a product of factors each depending on the row and the reduction
// index, or the column and the reduction index, but not both: the
// row-by-column dot product of a GEMM, whatever computes its operands.
//
//===----------------------------------------------------------------------===//
#include "passes/GpuItems.h"
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SPIRV/IR/TargetAndABI.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_TILEMATMULS
#include "passes/Passes.h.inc"

namespace {

/// What a value inside the item depends on.
enum Dep : unsigned { kRow = 1, kCol = 2, kRed = 4, kOther = 8 };

/// One product of the summand: prod(a(r, k)) * prod(b(c, k)).
struct Term {
  SmallVector<Value> rowFactors, colFactors;
};

/// A matched kernel: out[idx(r, c)] += sum over terms, over the reduction
/// nest's iterations.
struct Matmul {
  scf::ForOp item;
  SmallVector<scf::ForOp> nest; // the reduction loops, outermost first
  Value row, col, blockCol, n;  // r, c, the column loop's iv, N
  memref::StoreOp store;
  arith::AddFOp combine;
  SmallVector<Term> terms;
  int64_t k = 1; // the nest's trip count
};

class Dependences {
public:
  Dependences(Operation *scope) : scope(scope) {}
  void seed(Value v, unsigned d) { memo[v] = d; }
  unsigned of(Value v) {
    auto it = memo.find(v);
    if (it != memo.end())
      return it->second;
    Operation *def = v.getDefiningOp();
    Operation *owner =
        def ? def : cast<BlockArgument>(v).getOwner()->getParentOp();
    if (!scope->isAncestor(owner))
      return memo[v] = 0; // defined above the item: uniform
    if (!def || def->getNumRegions() ||
        (!isa<memref::LoadOp>(def) && !isMemoryEffectFree(def)))
      return memo[v] = kOther;
    unsigned d = 0;
    for (Value operand : def->getOperands())
      d |= of(operand);
    return memo[v] = d;
  }

private:
  Operation *scope;
  DenseMap<Value, unsigned> memo;
};

/// The leaves of a sum tree of single-use, reassociable addf's.
void collectTerms(Value v, SmallVectorImpl<Value> &terms) {
  auto add = v.getDefiningOp<arith::AddFOp>();
  if (!add || !v.hasOneUse() ||
      !arith::bitEnumContainsAll(add.getFastmath(),
                                 arith::FastMathFlags::reassoc)) {
    terms.push_back(v);
    return;
  }
  collectTerms(add.getLhs(), terms);
  collectTerms(add.getRhs(), terms);
}

/// The factors of a product tree of single-use mulf's.
void collectFactors(Value v, SmallVectorImpl<Value> &factors) {
  auto mul = v.getDefiningOp<arith::MulFOp>();
  if (!mul) {
    factors.push_back(v);
    return;
  }
  for (Value operand : mul->getOperands()) {
    if (operand.getDefiningOp<arith::MulFOp>() && !operand.hasOneUse())
      factors.push_back(operand);
    else
      collectFactors(operand, factors);
  }
}

std::optional<Matmul> matchMatmul(const ItemLoop &itemLoop) {
  Matmul m;
  m.item = itemLoop.loop;
  Value i = m.item.getInductionVar();
  // The item decodes into c = i mod N and r = i div N, and nothing else
  // reads it.
  for (Operation *user : i.getUsers()) {
    if (auto rem = dyn_cast<arith::RemUIOp>(user); rem && rem.getLhs() == i) {
      if (m.col)
        return std::nullopt;
      m.col = rem;
      m.n = rem.getRhs();
    } else if (auto div = dyn_cast<arith::DivUIOp>(user);
               div && div.getLhs() == i) {
      if (m.row)
        return std::nullopt;
      m.row = div;
    } else {
      return std::nullopt;
    }
  }
  if (!m.col || !m.row || m.row.getDefiningOp()->getOperand(1) != m.n)
    return std::nullopt;

  // The item: pure decoding, then the column loop `for j = c to c + 1`.
  scf::ForOp column;
  for (Operation &op : m.item.getBody()->without_terminator()) {
    if (auto f = dyn_cast<scf::ForOp>(op)) {
      if (column || f.getLowerBound() != m.col)
        return std::nullopt;
      column = f;
    } else if (!isMemoryEffectFree(&op) || op.getNumRegions()) {
      return std::nullopt;
    }
  }
  if (!column)
    return std::nullopt;
  m.blockCol = column.getInductionVar();
  // The reduction: a perfect nest of static loops from 0 by 1 whose
  // innermost body holds loads, pure ops and the one accumulating store.
  Block *body = column.getBody();
  for (bool first = true;; first = false) {
    scf::ForOp loop;
    for (Operation &op : body->without_terminator()) {
      if (auto f = dyn_cast<scf::ForOp>(op); f && !loop) {
        loop = f;
      } else if (!first || op.getNumRegions() || !isMemoryEffectFree(&op)) {
        loop = nullptr;
        break;
      }
    }
    if (!loop)
      break;
    std::optional<int64_t> lb = getConstantIntValue(loop.getLowerBound());
    std::optional<int64_t> ub = getConstantIntValue(loop.getUpperBound());
    std::optional<int64_t> step = getConstantIntValue(loop.getStep());
    if (lb != 0 || step != 1 || !ub || *ub < 1 || loop.getNumResults())
      return std::nullopt;
    m.nest.push_back(loop);
    m.k *= *ub;
    body = loop.getBody();
  }
  if (m.nest.empty())
    return std::nullopt;
  for (Operation &op : body->without_terminator()) {
    if (auto store = dyn_cast<memref::StoreOp>(op)) {
      if (m.store)
        return std::nullopt;
      m.store = store;
    } else if (op.getNumRegions() ||
               (!isa<memref::LoadOp>(op) && !isMemoryEffectFree(&op))) {
      return std::nullopt;
    }
  }
  if (!m.store || !m.store.getValueToStore().getType().isF32())
    return std::nullopt;
  m.combine = m.store.getValueToStore().getDefiningOp<arith::AddFOp>();
  if (!m.combine)
    return std::nullopt;
  // The stored sum: the old value once, and the terms.
  Value out = m.store.getMemRef();
  memref::LoadOp old;
  SmallVector<Value> summands, terms;
  collectTerms(m.combine.getLhs(), summands);
  collectTerms(m.combine.getRhs(), summands);
  if (!arith::bitEnumContainsAll(m.combine.getFastmath(),
                                 arith::FastMathFlags::reassoc))
    return std::nullopt;
  for (Value v : summands) {
    auto load = v.getDefiningOp<memref::LoadOp>();
    if (load && load.getMemRef() == out &&
        llvm::equal(load.getIndices(), m.store.getIndices()) &&
        load->hasOneUse() && !old)
      old = load;
    else
      terms.push_back(v);
  }
  if (!old || terms.empty())
    return std::nullopt;

  Dependences deps(m.item);
  deps.seed(i, kOther);
  deps.seed(m.row, kRow);
  deps.seed(m.col, kCol);
  deps.seed(m.blockCol, kCol);
  for (scf::ForOp loop : m.nest)
    deps.seed(loop.getInductionVar(), kRed);
  deps.seed(old, kOther);
  for (Value index : m.store.getIndices())
    if (deps.of(index) & ~unsigned(kRow | kCol))
      return std::nullopt;
  for (Value v : terms) {
    Term term;
    SmallVector<Value> factors;
    collectFactors(v, factors);
    for (Value f : factors) {
      unsigned d = deps.of(f);
      if (d & kOther || (d & kRow && d & kCol))
        return std::nullopt;
      (d & kCol ? term.colFactors : term.rowFactors).push_back(f);
    }
    if (term.rowFactors.empty() || term.colFactors.empty())
      return std::nullopt;
    m.terms.push_back(std::move(term));
  }
  // Nothing in the operands may read what the item writes.
  bool readsOut = false;
  m.nest.front().walk([&](memref::LoadOp load) {
    readsOut |= load != old && load.getMemRef() == out;
  });
  if (readsOut)
    return std::nullopt;
  return m;
}

/// Clones the ops inside `scope` that `roots` need, in program order, with
/// `map` holding the seeds (and everything defined above `scope`).
SmallVector<Value> cloneSlice(OpBuilder &b, ValueRange roots, Operation *scope,
                              IRMapping &map) {
  llvm::SetVector<Operation *> needed;
  SmallVector<Value> work(roots.begin(), roots.end());
  while (!work.empty()) {
    Value v = work.pop_back_val();
    Operation *def = v.getDefiningOp();
    if (map.contains(v) || !def || !scope->isProperAncestor(def) ||
        !needed.insert(def))
      continue;
    llvm::append_range(work, def->getOperands());
  }
  scope->walk<WalkOrder::PreOrder>([&](Operation *op) {
    if (needed.contains(op))
      b.clone(*op, map);
  });
  return llvm::map_to_vector(roots, [&](Value v) { return map.lookup(v); });
}

struct TileMatmulsPass : public impl::TileMatmulsBase<TileMatmulsPass> {
  using Base::Base;

  // Tile shape: invocations in lanesY × 8, each RM × RN outputs.
  static constexpr int64_t kLanesX = 8, kRM = 4, kRN = 4, kTK = 16;

  struct Tiled {
    std::string name;
    std::optional<int64_t> nWord; // N's parameter word, or
    std::optional<int64_t> nConst; // N's value
  };

  void runOnOperation() override {
    ModuleOp module = getOperation();
    int64_t w = workgroupSize;
    if (w < kLanesX || w > 512 || !llvm::isPowerOf2_64(w)) {
      module.emitError("chimera-gpu-tile-matmuls: workgroup-size must be a "
                       "power of two in [8, 512], got ")
          << w;
      return signalPassFailure();
    }
    // The operand types of each kernel's launches, for the words of the
    // parameter the twin adds.
    llvm::StringMap<LaunchOp> launches;
    module.walk([&](LaunchOp launch) {
      ArrayRef<FlatSymbolRefAttr> nested =
          launch.getKernelAttr().getNestedReferences();
      if (!nested.empty())
        launches.try_emplace(nested.back().getValue(), launch);
    });
    llvm::StringMap<Tiled> tiled;
    module.walk([&](gpu::GPUModuleOp gpuModule) {
      SymbolTable symbols(gpuModule);
      for (auto func : llvm::to_vector(gpuModule.getOps<gpu::GPUFuncOp>())) {
        auto launch = launches.find(func.getName());
        if (!func.isKernel() || launch == launches.end())
          continue;
        std::optional<ItemLoop> item = matchItemLoop(func, w);
        if (!item)
          continue;
        std::optional<Matmul> m = matchMatmul(*item);
        if (!m)
          continue;
        Tiled t;
        t.nWord = parameterWordOf(m->n, func);
        t.nConst = getConstantIntValue(m->n);
        // The host needs N too: a constant, or an index operand (launches
        // of one kernel share their operand types).
        Value n = t.nWord ? operandAtWord(launch->second, *t.nWord) : Value();
        if (!t.nConst && !(n && n.getType().isIndex()))
          continue;
        int64_t rowsWord = 1;
        for (Value operand : launch->second.getKernelOperands())
          rowsWord += parameterWords(operand.getType());
        t.name = buildTwin(func, *item, *m, rowsWord, symbols);
        tiled[func.getName()] = t;
      }
    });
    module.walk([&](LaunchOp launch) {
      ArrayRef<FlatSymbolRefAttr> nested =
          launch.getKernelAttr().getNestedReferences();
      if (nested.empty())
        return;
      auto it = tiled.find(nested.back().getValue());
      if (it != tiled.end())
        chooseAtLaunch(launch, it->second);
    });
  }

  /// The launch operand whose parameters start at `word` (null if none).
  static Value operandAtWord(LaunchOp launch, int64_t word) {
    int64_t at = 1;
    for (Value operand : launch.getKernelOperands()) {
      if (at == word)
        return operand;
      at += parameterWords(operand.getType());
    }
    return {};
  }

  int64_t tileRows() const { return workgroupSize / kLanesX * kRM; }
  int64_t tileCols() const { return kLanesX * kRN; }

  /// Host: the twin when the grid has at least min-rows rows.
  void chooseAtLaunch(LaunchOp launch, const Tiled &t) {
    OpBuilder b(launch);
    Location loc = launch.getLoc();
    auto cst = [&](int64_t v) {
      return arith::ConstantIndexOp::create(b, loc, v).getResult();
    };
    Value n = t.nConst ? cst(*t.nConst) : operandAtWord(launch, *t.nWord);
    Value rows = arith::DivUIOp::create(
        b, loc, launch.getGrid(), arith::MaxUIOp::create(b, loc, n, cst(1)));
    Value big = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, rows,
                                      cst(minRows));
    Value tm = cst(tileRows()), tn = cst(tileCols()), w = cst(workgroupSize);
    auto choice = scf::IfOp::create(b, loc, big, /*withElseRegion=*/true);
    OpBuilder tb = choice.getThenBodyBuilder();
    Value tiles =
        arith::MulIOp::create(tb, loc, arith::CeilDivUIOp::create(tb, loc, rows, tm),
                              arith::CeilDivUIOp::create(tb, loc, n, tn));
    Value grid = arith::MulIOp::create(tb, loc, tiles, w);
    SmallVector<Value> operands(launch.getKernelOperands());
    operands.push_back(rows);
    auto ref = SymbolRefAttr::get(
        launch.getKernelAttr().getRootReference(),
        {FlatSymbolRefAttr::get(launch.getContext(), t.name)});
    LaunchOp::create(tb, loc, ref, grid, operands, IntegerAttr());
    launch->moveBefore(choice.elseBlock()->getTerminator());
  }

  /// The tiled twin of `func`, next to it; returns its name.
  std::string buildTwin(gpu::GPUFuncOp func, const ItemLoop &itemLoop,
                        Matmul m, int64_t rowsWord,
                        SymbolTable &symbols) {
    Location loc = m.nest.front().getLoc();
    OpBuilder mb(func);
    mb.setInsertionPointAfter(func);
    auto twin = gpu::GPUFuncOp::create(mb, func.getLoc(),
                                       (func.getName() + "_tiled").str(),
                                       func.getFunctionType());
    // The same launch shape as the original.
    twin->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                  UnitAttr::get(func.getContext()));
    twin.setKnownBlockSizeAttr(func.getKnownBlockSizeAttr());
    if (Attribute abi = func->getAttr(spirv::getEntryPointABIAttrName()))
      twin->setAttr(spirv::getEntryPointABIAttrName(), abi);
    symbols.insert(twin);

    // The original's prologue (parameters, views), then the tiles.
    Block &entry = twin.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    IRMapping map;
    for (auto [a, t] : llvm::zip(func.getArguments(), twin.getArguments()))
      map.map(a, t);
    for (Operation &op : func.getBody().front()) {
      if (&op == m.item.getOperation())
        break;
      b.clone(op, map);
    }
    auto cst = [&](OpBuilder &cb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(cb, loc, v);
    };
    const int64_t w = workgroupSize, tm = tileRows(), tn = tileCols();
    // A row of workgroup memory holds the slice's TK steps for each term,
    // padded by one float to keep a column's reads on distinct banks.
    const int64_t terms = m.terms.size(), span = terms * kTK;
    const int64_t lanesY = w / kLanesX, stride = span + 1;
    Value params = twin.getArguments().back();
    Value rows = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        memref::LoadOp::create(b, loc, params, cst(b, rowsWord)));
    Value n = map.lookupOrDefault(m.n);
    Value group = map.lookup(itemLoop.block);
    Value tilesN = arith::CeilDivUIOp::create(b, loc, n, cst(b, tn));
    Value tiles = arith::MulIOp::create(
        b, loc, arith::CeilDivUIOp::create(b, loc, rows, cst(b, tm)), tilesN);
    auto f32 = b.getF32Type();
    Value xs = workgroupBuffer(twin, MemRefType::get({tm * stride}, f32),
                               workgroupAllocs, loc);
    Value ws = workgroupBuffer(twin, MemRefType::get({tn * stride}, f32),
                               workgroupAllocs, loc);
    Value lane = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
    Value inRange =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, group, tiles);
    auto body = scf::IfOp::create(b, loc, inRange, /*withElseRegion=*/false);
    gpu::ReturnOp::create(b, loc);
    b.setInsertionPoint(body.thenBlock()->getTerminator());

    Value row0 = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, group, tilesN), cst(b, tm));
    Value col0 = arith::MulIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, group, tilesN), cst(b, tn));
    Value ly = arith::DivUIOp::create(b, loc, lane, cst(b, kLanesX));
    Value lx = arith::RemUIOp::create(b, loc, lane, cst(b, kLanesX));
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
    auto fastmath = arith::FastMathFlagsAttr::get(
        b.getContext(), arith::FastMathFlags::contract);

    // Each term's product of one side's factors at reduction step kg, with
    // the item's row or column decoded as `index`.
    auto side = [&](OpBuilder &sb, bool rowSide, Value index, Value kg) {
      IRMapping sm = map;
      if (rowSide) {
        sm.map(m.row, index);
      } else {
        sm.map(m.col, index);
        sm.map(m.blockCol, index);
      }
      // kg over the nest, innermost loop fastest.
      Value rest = kg;
      for (scf::ForOp loop : llvm::reverse(m.nest)) {
        Value extent = cst(sb, *getConstantIntValue(loop.getUpperBound()));
        sm.map(loop.getInductionVar(),
               arith::RemUIOp::create(sb, loc, rest, extent));
        rest = arith::DivUIOp::create(sb, loc, rest, extent);
      }
      SmallVector<Value> roots;
      for (const Term &t : m.terms)
        llvm::append_range(roots, rowSide ? t.rowFactors : t.colFactors);
      SmallVector<Value> values = cloneSlice(sb, roots, m.item, sm);
      SmallVector<Value> products;
      ArrayRef<Value> next = values;
      for (const Term &t : m.terms) {
        size_t count = (rowSide ? t.rowFactors : t.colFactors).size();
        Value p = next.front();
        for (Value v : next.slice(1, count - 1))
          p = arith::MulFOp::create(sb, loc, p, v);
        products.push_back(p);
        next = next.drop_front(count);
      }
      return products;
    };
    // Each invocation computes extent·TK / W of a side's steps into
    // workgroup memory; those outside the matrix are 0.
    auto stage = [&](OpBuilder &sb, bool rowSide, Value buffer, int64_t extent,
                     Value limit, Value base, Value k0) {
      scf::ForOp::create(
          sb, loc, cst(sb, 0), cst(sb, extent * kTK / w), cst(sb, 1),
          ValueRange{}, [&](OpBuilder &lb, Location, Value t, ValueRange) {
            Value e = arith::AddIOp::create(
                lb, loc, arith::MulIOp::create(lb, loc, t, cst(lb, w)), lane);
            Value r = arith::DivUIOp::create(lb, loc, e, cst(lb, kTK));
            Value kk = arith::RemUIOp::create(lb, loc, e, cst(lb, kTK));
            Value index = arith::AddIOp::create(lb, loc, base, r);
            Value kg = arith::AddIOp::create(lb, loc, k0, kk);
            Value ok = arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::ult,
                                             index, limit);
            if (m.k % kTK)
              ok = arith::AndIOp::create(
                  lb, loc, ok,
                  arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::ult, kg,
                                        cst(lb, m.k)));
            auto value = scf::IfOp::create(
                lb, loc, ok,
                [&](OpBuilder &tb, Location) {
                  scf::YieldOp::create(tb, loc, side(tb, rowSide, index, kg));
                },
                [&](OpBuilder &eb, Location) {
                  scf::YieldOp::create(eb, loc,
                                       SmallVector<Value>(terms, zero));
                });
            Value at = arith::AddIOp::create(
                lb, loc, arith::MulIOp::create(lb, loc, r, cst(lb, stride)),
                kk);
            for (int64_t term = 0; term < terms; ++term)
              memref::StoreOp::create(
                  lb, loc, value.getResult(term), buffer,
                  ValueRange{arith::AddIOp::create(lb, loc, at,
                                                   cst(lb, term * kTK))});
            scf::YieldOp::create(lb, loc);
          });
    };

    SmallVector<Value> zeros(kRM * kRN, zero);
    auto kLoop = scf::ForOp::create(
        b, loc, cst(b, 0), cst(b, m.k), cst(b, kTK), zeros,
        [&](OpBuilder &kb, Location, Value k0, ValueRange acc) {
          stage(kb, /*rowSide=*/true, xs, tm, rows, row0, k0);
          stage(kb, /*rowSide=*/false, ws, tn, n, col0, k0);
          gpu::BarrierOp::create(kb, loc);
          auto inner = scf::ForOp::create(
              kb, loc, cst(kb, 0), cst(kb, kTK), cst(kb, 1), acc,
              [&](OpBuilder &ib, Location, Value kk, ValueRange sums) {
                SmallVector<Value> next(sums);
                auto read = [&](Value buffer, Value lane, int64_t offset,
                                int64_t term) -> Value {
                  Value at = arith::MulIOp::create(
                      ib, loc,
                      arith::AddIOp::create(ib, loc, lane, cst(ib, offset)),
                      cst(ib, stride));
                  at = arith::AddIOp::create(
                      ib, loc, arith::AddIOp::create(ib, loc, at, kk),
                      cst(ib, term * kTK));
                  return memref::LoadOp::create(ib, loc, buffer, at);
                };
                for (int64_t term = 0; term < terms; ++term) {
                  SmallVector<Value> xv, wv;
                  for (int64_t i = 0; i < kRM; ++i)
                    xv.push_back(read(xs, ly, i * lanesY, term));
                  for (int64_t j = 0; j < kRN; ++j)
                    wv.push_back(read(ws, lx, j * kLanesX, term));
                  for (int64_t i = 0; i < kRM; ++i)
                    for (int64_t j = 0; j < kRN; ++j)
                      next[i * kRN + j] = arith::AddFOp::create(
                          ib, loc, next[i * kRN + j],
                          arith::MulFOp::create(ib, loc, xv[i], wv[j],
                                                fastmath),
                          fastmath);
                }
                scf::YieldOp::create(ib, loc, next);
              });
          // The next slice overwrites what this one read.
          gpu::BarrierOp::create(kb, loc);
          scf::YieldOp::create(kb, loc, inner.getResults());
        });

    // out[idx(row, col)] += the block's sums.
    for (int64_t i = 0; i < kRM; ++i)
      for (int64_t j = 0; j < kRN; ++j) {
        Value r = arith::AddIOp::create(
            b, loc, row0,
            arith::AddIOp::create(b, loc, ly, cst(b, i * lanesY)));
        Value c = arith::AddIOp::create(
            b, loc, col0,
            arith::AddIOp::create(b, loc, lx, cst(b, j * kLanesX)));
        Value ok = arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, r, rows),
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, c, n));
        auto write = scf::IfOp::create(b, loc, ok, /*withElseRegion=*/false);
        OpBuilder wb = write.getThenBodyBuilder();
        IRMapping sm = map;
        sm.map(m.row, r);
        sm.map(m.col, c);
        sm.map(m.blockCol, c);
        SmallVector<Value> roots(m.store.getIndices());
        roots.push_back(m.store.getMemRef());
        SmallVector<Value> at = cloneSlice(wb, roots, m.item, sm);
        Value out = at.pop_back_val();
        Value old = memref::LoadOp::create(wb, loc, out, at);
        Value sum = arith::AddFOp::create(wb, loc, old,
                                          kLoop.getResult(i * kRN + j),
                                          m.combine.getFastmathAttr());
        memref::StoreOp::create(wb, loc, sum, out, at);
      }
    return twin.getName().str();
  }
};

} // namespace
} // namespace mlir::chimera
