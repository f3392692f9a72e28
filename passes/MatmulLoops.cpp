//===- MatmulLoops.cpp - loop shapes shared by the matmul kernels ---------===//
#include "passes/MatmulLoops.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Matchers.h"

namespace mlir::chimera {

void markWorkItems(Operation *loop, StringRef tag) {
  Builder b(loop->getContext());
  loop->setAttr("chimera.block_size", b.getI64IntegerAttr(1));
  loop->setAttr(kKernelTag, b.getStringAttr(tag));
}

bool isDims(AffineMap map, ArrayRef<unsigned> dims) {
  if (map.getNumResults() != dims.size())
    return false;
  for (auto [expr, d] : llvm::zip(map.getResults(), dims)) {
    auto dim = dyn_cast<AffineDimExpr>(expr);
    if (!dim || dim.getPosition() != d)
      return false;
  }
  return true;
}

void forTilesThenRest(OpBuilder &b, Location loc, Value count, int64_t tile,
                      function_ref<void(OpBuilder &, Value, int64_t)> body) {
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value rem = arith::RemUIOp::create(b, loc, count, c(tile));
  Value full = arith::SubIOp::create(b, loc, count, rem);
  auto tiles = scf::ForOp::create(b, loc, c(0), full, c(tile));
  OpBuilder tb = OpBuilder::atBlockBegin(tiles.getBody());
  body(tb, tiles.getInductionVar(), tile);
  if (tile == 1)
    return;
  // The rest is one tile of as many rows, not that many tiles of one row:
  // a one-row tile loads a weight vector per FMA, and a routed expert's
  // few dozen rows leave a rest every time (jamba-tiny: about 64 rows per
  // expert and tile of 6).
  SmallVector<int64_t> sizes;
  for (int64_t r = 1; r < tile; ++r)
    sizes.push_back(r);
  auto rest =
      scf::IndexSwitchOp::create(b, loc, TypeRange{}, rem, sizes, sizes.size());
  OpBuilder db =
      OpBuilder::atBlockBegin(&rest.getDefaultRegion().emplaceBlock());
  scf::YieldOp::create(db, loc);
  for (auto [region, r] : llvm::zip(rest.getCaseRegions(), sizes)) {
    OpBuilder rb = OpBuilder::atBlockBegin(&region.emplaceBlock());
    body(rb, full, r);
    scf::YieldOp::create(rb, loc);
  }
}

void forChunks(OpBuilder &b, Location loc, int64_t total, int64_t chunk,
               function_ref<void(OpBuilder &, Value, int64_t)> body) {
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  int64_t full = total / chunk, tail = total % chunk;
  if (full == 1) {
    body(b, c(0), chunk);
  } else if (full > 1) {
    auto chunks = scf::ForOp::create(b, loc, c(0), c(full * chunk), c(chunk));
    OpBuilder cb = OpBuilder::atBlockBegin(chunks.getBody());
    body(cb, chunks.getInductionVar(), chunk);
  }
  if (tail)
    body(b, c(full * chunk), tail);
}

void tileRows(OpBuilder &b, Location loc, Value m0, int64_t count,
              Value rowList, int64_t xRowDiv, SmallVectorImpl<Value> &xRows,
              SmallVectorImpl<Value> &outRows) {
  auto c = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  for (int64_t i = 0; i < count; ++i) {
    Value p = i ? arith::AddIOp::create(b, loc, m0, c(i)) : m0;
    if (!rowList) {
      xRows.push_back(p);
      outRows.push_back(p);
      continue;
    }
    Value slot = memref::LoadOp::create(b, loc, rowList, ValueRange{p});
    outRows.push_back(slot);
    xRows.push_back(xRowDiv == 1
                        ? slot
                        : Value(arith::DivUIOp::create(b, loc, slot, c(xRowDiv))));
  }
}

linalg::FillOp zeroFillOfInit(linalg::LinalgOp op) {
  if (op.getNumDpsInits() != 1)
    return {};
  auto fill = dyn_cast_or_null<linalg::FillOp>(op->getPrevNode());
  if (!fill || !fill.hasPureBufferSemantics() ||
      fill.getOutputs()[0] != op.getDpsInits()[0] ||
      !matchPattern(fill.getInputs()[0], m_AnyZeroFloat()))
    return {};
  return fill;
}

Value isFirstChunk(OpBuilder &b, Location loc, bool zeroInit, Value k0) {
  if (!zeroInit)
    return {};
  if (std::optional<int64_t> k = getConstantIntValue(k0))
    return arith::ConstantIntOp::create(b, loc, *k == 0, 1);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, k0,
                               arith::ConstantIndexOp::create(b, loc, 0));
}

void addInto(OpBuilder &b, Location loc, Value value, Value out, ValueRange at,
             Value first) {
  auto vec = dyn_cast<VectorType>(value.getType());
  auto add = [&](OpBuilder &ab) {
    Value old = vec ? Value(vector::LoadOp::create(ab, loc, vec, out, at))
                    : Value(memref::LoadOp::create(ab, loc, out, at));
    return arith::AddFOp::create(ab, loc, old, value).getResult();
  };
  auto store = [&](OpBuilder &sb, Value v) {
    if (vec)
      vector::StoreOp::create(sb, loc, v, out, at);
    else
      memref::StoreOp::create(sb, loc, v, out, at);
  };
  std::optional<int64_t> known =
      first ? getConstantIntValue(first) : std::optional<int64_t>(0);
  if (known) {
    store(b, *known ? value : add(b));
    return;
  }
  auto branch = scf::IfOp::create(b, loc, first, /*withElse=*/true);
  OpBuilder tb = branch.getThenBodyBuilder();
  store(tb, value);
  OpBuilder eb = branch.getElseBodyBuilder();
  store(eb, add(eb));
}

SlotList collectSlots(OpBuilder &gb, Location loc, Value ids, Value slots,
                      Value expert) {
  auto c = [&](OpBuilder &bb, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(bb, loc, v);
  };
  auto scope = memref::AllocaScopeOp::create(gb, loc, TypeRange{});
  Block *body = new Block();
  scope.getBodyRegion().push_back(body);
  OpBuilder b = OpBuilder::atBlockBegin(body);
  Value list = memref::AllocaOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getIndexType()),
      ValueRange{slots});
  auto collect = scf::ForOp::create(
      b, loc, c(b, 0), slots, c(b, 1), ValueRange{c(b, 0)},
      [&](OpBuilder &lb, Location, Value slot, ValueRange it) {
        Value id = memref::LoadOp::create(lb, loc, ids, ValueRange{slot});
        Value hit = arith::CmpIOp::create(
            lb, loc, arith::CmpIPredicate::eq,
            arith::IndexCastOp::create(lb, loc, lb.getIndexType(), id), expert);
        auto branch = scf::IfOp::create(lb, loc, lb.getIndexType(), hit,
                                        /*withElse=*/true);
        OpBuilder tb = branch.getThenBodyBuilder();
        memref::StoreOp::create(tb, loc, slot, list, ValueRange{it[0]});
        scf::YieldOp::create(
            tb, loc, Value(arith::AddIOp::create(tb, loc, it[0], c(tb, 1))));
        OpBuilder eb = branch.getElseBodyBuilder();
        scf::YieldOp::create(eb, loc, it[0]);
        scf::YieldOp::create(lb, loc, branch.getResult(0));
      });
  return {b, list, collect.getResult(0)};
}

std::optional<bool> routedInputPerSlot(linalg::GenericOp op) {
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps.size() != 3 || !isDims(maps[1], {0, 1}) ||
      !isDims(maps[2], {0, 1, 2}))
    return std::nullopt;
  if (isDims(maps[0], {0, 1, 3}))
    return true;
  if (isDims(maps[0], {0, 3}))
    return false;
  return std::nullopt;
}

RoutedViews routedViews(OpBuilder &b, Location loc, Value in, Value ids,
                        Value out, bool inPerSlot) {
  SmallVector<ReassociationIndices> flat = {{0, 1}, {2}};
  RoutedViews views;
  views.out = memref::CollapseShapeOp::create(b, loc, out, flat);
  views.x =
      inPerSlot ? Value(memref::CollapseShapeOp::create(b, loc, in, flat)) : in;
  views.ids = memref::CollapseShapeOp::create(
      b, loc, ids, SmallVector<ReassociationIndices>{{0, 1}});
  views.slots = memref::DimOp::create(b, loc, views.ids, 0);
  return views;
}

Value expertSlice(OpBuilder &b, Location loc, Value stack, Value expert) {
  auto type = cast<MemRefType>(stack.getType());
  ArrayRef<int64_t> shape = type.getShape().drop_front();
  SmallVector<OpFoldResult> offsets = {expert}, sizes = {b.getIndexAttr(1)};
  for (int64_t size : shape) {
    offsets.push_back(b.getIndexAttr(0));
    sizes.push_back(b.getIndexAttr(size));
  }
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  auto viewType = memref::SubViewOp::inferRankReducedResultType(
      shape, type, offsets, sizes, strides);
  return memref::SubViewOp::create(b, loc, viewType, stack, offsets, sizes,
                                   strides);
}

} // namespace mlir::chimera
