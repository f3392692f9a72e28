//===- VectorizeMatmuls.cpp - register-blocked kernels for x·Wᵀ -----------===//
//
// A linear layer after bufferization is a `linalg.generic` computing
// out[..., n] += Σ_k x[..., k] · w[n, k] with w in the checkpoint's [N, K]
// layout. Lowered loop by loop, every output re-reads its x row and w row:
// a prefill GEMM degenerates into one GEMV per token. This pass replaces it
// with a register-blocked kernel in the dot-product form that layout allows:
//
//   parallel over blocks of `rows` W rows (one grid item each):
//     for each K chunk of at most `k-chunk` (the block's W rows stay in L1):
//       for each tile of `cols` x rows:      (x streams from L2)
//         rows×cols vector accumulators, one FMA per pair per K vector,
//         then one horizontal sum each, added into out.
//
// W rows are the operand kept in L1 because a decode step has one x row and
// a prefill has hundreds: the L2 traffic per FMA is 1/rows vectors. Ragged
// edges (M, N not multiples of the tile, K not a multiple of the vector)
// use 1-wide tiles and masked loads.
//
//===----------------------------------------------------------------------===//
#include "passes/MatmulLoops.h"
#include "passes/Passes.h"
#include "passes/Reference/ReferenceUtils.h"

#include "dialects/chimera/ChimeraAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_VECTORIZEMATMULS
#include "passes/Passes.h.inc"

namespace {

/// The operands of a matched x·Wᵀ generic, as 2-D memrefs.
struct Matmul {
  Value x, w, out; // [M, K], [N, K], [M, N]
  int64_t n, k;
  /// When set, row i of the product is out row `rowList[i]` and x row
  /// `rowList[i] / xRowDiv` (the tokens routed to one expert).
  Value rowList = {};
  int64_t xRowDiv = 1;
  /// int8 weights (`#chimera.quant<int8>`): w holds the codes, and product
  /// column n is scaled by scales[n] ([N] f32) after its sum over K.
  Value scales = {};
  /// The output's zero fill was dropped: the first K chunk stores.
  bool zeroInit = false;
  /// w is stored in panels, [N/panel, K, panel] (chimera-pack-weights).
  bool panelled = false;
  /// A contiguous copy of a strided x, freed after the kernel.
  Value xCopy = {};
};

/// Whether the body is `out + x * ext(w)` (either operand order).
static bool isMulAddBody(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  Value acc = body.getArgument(2), x = body.getArgument(0),
        w = body.getArgument(1);
  Value prod = add.getLhs() == acc ? add.getRhs() : add.getLhs();
  if ((add.getLhs() == acc) == (add.getRhs() == acc))
    return false;
  auto mul = prod.getDefiningOp<arith::MulFOp>();
  if (!mul || mul->getBlock() != &body)
    return false;
  auto isW = [&](Value v) {
    if (v == w)
      return true;
    auto ext = v.getDefiningOp<arith::ExtFOp>();
    return ext && ext.getIn() == w;
  };
  bool ok = (mul.getLhs() == x && isW(mul.getRhs())) ||
            (mul.getRhs() == x && isW(mul.getLhs()));
  // Nothing else in the body: the kernel reproduces exactly these ops.
  return ok && body.getOperations().size() <= 4;
}

/// Whether the body is `out + x * (scale * sitofp(q))` (operands of each op
/// in either order): the reference's int8 matmul, scale per output column.
static bool isInt8MulAddBody(linalg::GenericOp op) {
  Block &body = op.getRegion().front();
  if (body.getOperations().size() > 5)
    return false;
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  Value x = body.getArgument(0), q = body.getArgument(1),
        scale = body.getArgument(2), acc = body.getArgument(3);
  if (!add || (add.getLhs() == acc) == (add.getRhs() == acc))
    return false;
  auto mul = (add.getLhs() == acc ? add.getRhs() : add.getLhs())
                 .getDefiningOp<arith::MulFOp>();
  if (!mul || (mul.getLhs() != x && mul.getRhs() != x))
    return false;
  auto w = (mul.getLhs() == x ? mul.getRhs() : mul.getLhs())
               .getDefiningOp<arith::MulFOp>();
  if (!w || (w.getLhs() != scale && w.getRhs() != scale))
    return false;
  auto conv = (w.getLhs() == scale ? w.getRhs() : w.getLhs())
                  .getDefiningOp<arith::SIToFPOp>();
  return conv && conv.getIn() == q;
}

static bool isRowMajor(MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return false;
  return !strides.empty() && strides.back() == 1;
}

/// Transposes the square matrix held as `rows` (n vectors of n lanes, n a
/// power of two) in place: log2(n) stages of two-source shuffles, stage b
/// swapping the off-diagonal b×b blocks of each 2b×2b block.
static void transposeSquare(OpBuilder &b, Location loc,
                            SmallVectorImpl<Value> &rows) {
  int64_t n = rows.size();
  for (int64_t blk = n / 2; blk >= 1; blk /= 2) {
    SmallVector<int64_t> lo, hi;
    for (int64_t l = 0; l < n; ++l) {
      lo.push_back((l & blk) ? n + l - blk : l);
      hi.push_back((l & blk) ? n + l : l + blk);
    }
    for (int64_t i = 0; i < n; ++i) {
      if (i & blk)
        continue;
      Value x = rows[i], y = rows[i + blk];
      rows[i] = vector::ShuffleOp::create(b, loc, x, y, lo);
      rows[i + blk] = vector::ShuffleOp::create(b, loc, x, y, hi);
    }
  }
}

struct VectorizeMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeMatmul(MLIRContext *ctx, int64_t width, int64_t rows,
                  int64_t cols, int64_t kChunk)
      : OpRewritePattern(ctx), width(width), rows(rows), cols(cols),
        kChunk(kChunk) {}

  int64_t width, rows, cols, kChunk;

  FailureOr<Matmul> match(linalg::GenericOp op, PatternRewriter &rewriter) const {
    bool int8 = op.getNumDpsInputs() == 3;
    if (!op.hasPureBufferSemantics() || (op.getNumDpsInputs() != 2 && !int8) ||
        op.getNumDpsInits() != 1)
      return failure();
    // A panel-stored weight (chimera-pack-weights) splits out's columns
    // into (panel, row in panel): out[..., p, j] += x[..., k] · w[p, k, j].
    bool panelled =
        !int8 &&
        cast<MemRefType>(op.getDpsInputs()[1].getType()).getRank() == 3;
    unsigned loops = op.getNumLoops();
    unsigned minLoops = panelled ? 4 : 3;
    if (loops < minLoops || loops > minLoops + 1 ||
        op.getNumReductionLoops() != 1 ||
        op.getIteratorTypesArray().back() != utils::IteratorType::reduction)
      return failure();
    unsigned r = loops - 1; // rank of out; k is dim r
    unsigned xRank = panelled ? r - 1 : r;
    SmallVector<unsigned> xDims, outDims;
    for (unsigned d = 0; d + 1 < xRank; ++d)
      xDims.push_back(d);
    xDims.push_back(r);
    for (unsigned d = 0; d < r; ++d)
      outDims.push_back(d);
    SmallVector<unsigned> wDims = panelled
                                      ? SmallVector<unsigned>{r - 2, r, r - 1}
                                      : SmallVector<unsigned>{r - 1, r};
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    if (!isDims(maps[0], xDims) || !isDims(maps[1], wDims) ||
        !isDims(maps.back(), outDims))
      return failure();
    if (int8 ? !isDims(maps[2], {r - 1}) || !isInt8MulAddBody(op)
             : !isMulAddBody(op))
      return failure();

    Value x = op.getDpsInputs()[0], w = op.getDpsInputs()[1],
          out = op.getDpsInits()[0];
    auto xType = cast<MemRefType>(x.getType());
    auto wType = cast<MemRefType>(w.getType());
    auto outType = cast<MemRefType>(out.getType());
    Type f32 = rewriter.getF32Type();
    if (xType.getElementType() != f32 || outType.getElementType() != f32)
      return failure();
    if (int8 ? !wType.getElementType().isInteger(8) ||
                   cast<MemRefType>(op.getDpsInputs()[2].getType())
                           .getElementType() != f32
             : !isa<FloatType>(wType.getElementType()) ||
                   wType.getElementType().getIntOrFloatBitWidth() > 32)
      return failure();
    if (!wType.hasStaticShape() || !isRowMajor(wType) ||
        (panelled &&
         (!wType.getLayout().isIdentity() || wType.getDimSize(2) != panel())))
      return failure();
    // Leading dims collapse into M, and out's (panel, row in panel) into
    // N, only for contiguous buffers.
    if ((r == 3 || panelled) && !outType.getLayout().isIdentity())
      return failure();
    if (!isRowMajor(xType) || !isRowMajor(outType))
      return failure();

    Location loc = op.getLoc();
    Value xCopy;
    if (xRank == 3 && !xType.getLayout().isIdentity()) {
      // A view of a wider buffer (Mamba's dt_proj reads the first dt_rank
      // columns of x_proj's output): its batch stride is not provably
      // rows × row stride, so it cannot be collapsed. A contiguous copy
      // costs M·K moves against the product's M·N·K FMAs; the scalar loops
      // it replaces took 15% of mamba-130m's prefill.
      SmallVector<Value> dynSizes;
      for (unsigned d = 0; d < 3; ++d)
        if (xType.isDynamicDim(d))
          dynSizes.push_back(memref::DimOp::create(rewriter, loc, x, d));
      auto copyType = MemRefType::get(xType.getShape(), f32);
      xCopy = memref::AllocOp::create(rewriter, loc, copyType, dynSizes,
                                      rewriter.getI64IntegerAttr(64));
      linalg::CopyOp::create(rewriter, loc, x, xCopy);
      x = xCopy;
    }
    if (xRank == 3)
      x = memref::CollapseShapeOp::create(
          rewriter, loc, x, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    if (r == 3 || panelled) {
      SmallVector<ReassociationIndices> groups =
          !panelled ? SmallVector<ReassociationIndices>{{0, 1}, {2}}
          : r == 4  ? SmallVector<ReassociationIndices>{{0, 1}, {2, 3}}
                    : SmallVector<ReassociationIndices>{{0}, {1, 2}};
      out = memref::CollapseShapeOp::create(rewriter, loc, out, groups);
    }
    int64_t n = wType.getDimSize(0) * (panelled ? panel() : 1);
    Matmul mm{x, w, out, n, wType.getDimSize(1)};
    mm.panelled = panelled;
    mm.xCopy = xCopy;
    if (int8)
      mm.scales = op.getDpsInputs()[2];
    return mm;
  }

  /// A weight vector (or scalar) as f32: float weights are extended, int8
  /// codes converted (their scale comes after the sum over K).
  static Value toF32(OpBuilder &b, Location loc, Value v, Type f32Type) {
    Type elt = getElementTypeOrSelf(v.getType());
    if (elt.isF32())
      return v;
    if (isa<IntegerType>(elt))
      return arith::SIToFPOp::create(b, loc, f32Type, v);
    return arith::ExtFOp::create(b, loc, f32Type, v);
  }

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    // Before anything is created in front of `op`.
    linalg::FillOp fill = zeroFillOfInit(op);
    FailureOr<Matmul> mm = match(op, rewriter);
    if (failed(mm))
      return failure();
    if (fill) {
      mm->zeroInit = true;
      rewriter.eraseOp(fill);
    }
    Location loc = op.getLoc();
    Value m = memref::DimOp::create(rewriter, loc, mm->x, 0);
    Value c0 = arith::ConstantIndexOp::create(rewriter, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rewriter, loc, 1);
    // Prefill items take kItemPanels panels; decode keeps one per item,
    // as many items as there are panels to spread over the threads.
    Value few = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::slt, m,
        arith::ConstantIndexOp::create(
            rewriter, loc, mm->panelled ? kPackRows : kPackMinRows));
    Value items = panelItems(rewriter, loc, mm->n, few);
    auto grid = scf::ParallelOp::create(rewriter, loc, ValueRange{c0},
                                        ValueRange{items}, ValueRange{c1});
    // Each iteration is already a sizeable work item: no further blocking.
    markWorkItems(grid, "matmul");
    OpBuilder b = OpBuilder::atBlockBegin(grid.getBody());
    Value item = grid.getInductionVars()[0];
    if (mm->panelled)
      emitPanelledItem(b, *mm, m, few, item);
    else
      emitItem(b, *mm, m, item, few, packBuffer(b, loc));
    if (mm->xCopy) {
      rewriter.setInsertionPointAfter(grid);
      memref::DeallocOp::create(rewriter, loc, mm->xCopy);
    }
    rewriter.eraseOp(op);
    return success();
  }

  /// Weight rows per grid item: two vectors' worth, the panel the packed
  /// kernel below works on.
  int64_t panel() const { return 2 * width; }
  /// Prefills of at least this many x rows use the packed kernel. The
  /// dot-product tiles read the item's weight rows again for every 2 x
  /// rows (from L2: a panel of 32 rows × K = 768 is 96 KiB), the packed
  /// one once per 256 K, transposed in registers. From 256 rows (when the
  /// packing scattered scalars) to 24 (session 18, alternated runs on a
  /// noisy VM): the routed experts, which see about T·top-k/E rows each,
  /// and int8 prefills gained most: mixtral-tiny int8 pp512 447 -> 538
  /// tokens/s, jamba-tiny int8 923 -> 1068, llama-125m int8 pp128
  /// 469 -> 702, jamba-tiny f32 expert kernels 12-16% less time.
  static constexpr int64_t kPackMinRows = 24;
  /// x rows per packed tile (6 × 2 accumulators + 2 weight vectors + a
  /// broadcast fit the registers) and K per packed chunk (a 32 KiB panel).
  static constexpr int64_t kPackRows = 6, kPackK = 256;

  /// A grid item's part for `nr` weight rows from `first`, or for
  /// `panels` whole panels from `n0`.
  using RowBlock = function_ref<void(OpBuilder &, Value first, int64_t nr)>;
  using WholePanels = function_ref<void(OpBuilder &, Value n0, int64_t panels)>;

  /// The number of grid items over N of the f32 and 4-bit kernels: a panel
  /// each when `perPanel` (decode: as many items as there are panels to
  /// spread over the threads), else kItemPanels panels each.
  Value panelItems(OpBuilder &b, Location loc, int64_t n,
                   Value perPanel) const {
    auto c = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    return arith::SelectOp::create(
        b, loc, perPanel, c(llvm::divideCeil(n, panel())),
        c(llvm::divideCeil(n, kItemPanels * panel())));
  }

  /// The item shape the f32 and 4-bit kernels share, for a grid of
  /// panelItems(perPanel) items against `count` x rows.
  ///   - perPanel (the step has fewer than `minRows` rows, so count has
  ///     too): weight rows [item·panel, (item+1)·panel) by `blockRows` on
  ///     blocks of `rows` weight rows in a loop (unrolled copies of the
  ///     tile cost llama-125m int4 a fifth of its decode speed);
  ///   - else kItemPanels panels, by `packed` when count ≥ `minRows`, else
  ///     by `blockRows`; only a routed expert's share of the step
  ///     (`routed`) can be smaller than the step.
  /// The last item of a ragged N takes its rows `rows` at a time, then
  /// singly.
  void emitPanelItem(OpBuilder &b, Location loc, int64_t n, Value item,
                     Value perPanel, Value count, bool routed, int64_t minRows,
                     WholePanels packed, RowBlock blockRows) const {
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    int64_t p = panel();
    auto at = [&](OpBuilder &ob, Value n0, int64_t offset) -> Value {
      return offset ? arith::AddIOp::create(ob, loc, n0, c(ob, offset)) : n0;
    };
    // Weight rows [n0, n0 + len) by blocks of `rows`, then singly.
    auto blocked = [&](OpBuilder &ob, Value n0, int64_t len) {
      int64_t whole = len / rows * rows;
      if (whole > rows) {
        auto blocks =
            scf::ForOp::create(ob, loc, c(ob, 0), c(ob, whole), c(ob, rows));
        OpBuilder lb = OpBuilder::atBlockBegin(blocks.getBody());
        blockRows(lb,
                  arith::AddIOp::create(lb, loc, n0, blocks.getInductionVar()),
                  rows);
      } else if (whole == rows) {
        blockRows(ob, n0, rows);
      }
      if (whole < len)
        blockRows(ob, at(ob, n0, whole), len - whole);
    };
    // `len` weight rows from n0: the whole panels packed (when `mayPack`;
    // a routed item checks its count first), else blocked; the ragged
    // rest `rows` at a time, then singly.
    auto run = [&](OpBuilder &ob, Value n0, int64_t len, bool mayPack) {
      int64_t whole = len / p;
      if (whole && mayPack && !routed) {
        packed(ob, n0, whole);
      } else if (whole && mayPack) {
        Value many = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::sge,
                                           count, c(ob, minRows));
        auto branch = scf::IfOp::create(ob, loc, many, /*withElse=*/true);
        OpBuilder tb = branch.getThenBodyBuilder();
        packed(tb, n0, whole);
        OpBuilder eb = branch.getElseBodyBuilder();
        blocked(eb, n0, whole * p);
      } else if (whole) {
        blocked(ob, n0, whole * p);
      }
      Value rest = at(ob, n0, whole * p);
      int64_t ragged = len - whole * p;
      for (int64_t g = 0; g < ragged; g += rows) {
        int64_t nr = ragged - g >= rows ? rows : 1;
        for (int64_t r = g; r < std::min(ragged, g + rows); r += nr)
          blockRows(ob, at(ob, rest, r), nr);
      }
    };
    // Items of `span` rows; the last of a ragged N has fewer.
    auto items = [&](OpBuilder &ob, int64_t span, bool mayPack) {
      Value n0 = arith::MulIOp::create(ob, loc, item, c(ob, span));
      int64_t fullItems = n / span;
      if (fullItems * span == n)
        return run(ob, n0, span, mayPack);
      if (fullItems == 0)
        return run(ob, n0, n, mayPack);
      Value isFull = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt,
                                           item, c(ob, fullItems));
      auto branch = scf::IfOp::create(ob, loc, isFull, /*withElse=*/true);
      OpBuilder tb = branch.getThenBodyBuilder();
      run(tb, n0, span, mayPack);
      OpBuilder eb = branch.getElseBodyBuilder();
      run(eb, n0, n - fullItems * span, mayPack);
    };
    auto mode = scf::IfOp::create(b, loc, perPanel, /*withElse=*/true);
    OpBuilder tb = mode.getThenBodyBuilder();
    items(tb, p, /*mayPack=*/false);
    OpBuilder eb = mode.getElseBodyBuilder();
    items(eb, kItemPanels * p, /*mayPack=*/true);
  }

  /// Grid item `item` of panelItems(perPanel) against all `m` x rows.
  /// Many x rows: pack the item's panels and reuse each weight vector for
  /// kPackRows rows. Few (decode): stream the weights, `rows` at a time.
  void emitItem(OpBuilder &b, const Matmul &mm, Value m, Value item,
                Value perPanel, Value buf) const {
    Location loc = item.getLoc();
    emitPanelItem(
        b, loc, mm.n, item, perPanel, m, bool(mm.rowList), kPackMinRows,
        [&](OpBuilder &pb, Value n0, int64_t panels) {
          emitPacked(pb, mm, m, n0, buf, {}, {}, panels);
        },
        [&](OpBuilder &rb, Value first, int64_t nr) {
          if (!mm.scales)
            return emitRows(rb, mm, m, first, nr);
          Value one =
              arith::CmpIOp::create(rb, loc, arith::CmpIPredicate::eq, m,
                                    arith::ConstantIndexOp::create(rb, loc, 1));
          auto branch = scf::IfOp::create(rb, loc, one, /*withElse=*/true);
          OpBuilder tb = branch.getThenBodyBuilder();
          emitRowDots(tb, mm, first, nr);
          OpBuilder eb = branch.getElseBodyBuilder();
          emitRows(eb, mm, m, first, nr);
        });
  }

  /// Decode (one x row) of int8 codes: out[n] (+)= scale[n] · x · w[n] for
  /// n in [n0, n0 + nr), one weight row after the other, each over all of
  /// K with kDotChains independent accumulators. The item's rows are one
  /// contiguous run of the codes, read front to back: a tile of `rows` rows
  /// read side by side is that many streams of K bytes, too short (768 for
  /// llama-125m) for the hardware prefetcher to follow, and decoded int8
  /// llama-125m at 63-78 tokens/s against 119-121 one row at a time. f32
  /// rows are 4x longer, and the tile's reuse of x wins there (mixtral-tiny
  /// f32 experts: 43-46 tokens/s tiled, 38-40 one row at a time).
  void emitRowDots(OpBuilder &b, const Matmul &mm, Value n0, int64_t nr) const {
    Location loc = n0.getLoc();
    Type f32 = b.getF32Type();
    auto vec = VectorType::get({width}, f32);
    auto wElt = cast<MemRefType>(mm.w.getType()).getElementType();
    auto wVec = VectorType::get({width}, wElt);
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    auto fast = arith::FastMathFlagsAttr::get(
        b.getContext(),
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
    SmallVector<Value> xRows, oRows;
    tileRows(b, loc, c(b, 0), 1, mm.rowList, mm.xRowDiv, xRows, oRows);
    Value first = isFirstChunk(b, loc, mm.zeroInit, c(b, 0));
    Value zero = arith::ConstantOp::create(
        b, loc, vec, DenseElementsAttr::get(vec, b.getF32FloatAttr(0)));
    auto rowsLoop = scf::ForOp::create(b, loc, c(b, 0), c(b, nr), c(b, 1));
    OpBuilder rb = OpBuilder::atBlockBegin(rowsLoop.getBody());
    Value n = arith::AddIOp::create(rb, loc, n0, rowsLoop.getInductionVar());
    // acc[u] += x[k + u·width] · w[n, k + u·width] for u < count.
    auto step = [&](OpBuilder &sb, Value k, ValueRange acc,
                    Value mask) -> SmallVector<Value> {
      SmallVector<Value> next;
      for (auto [u, a] : llvm::enumerate(acc)) {
        Value ku = u ? arith::AddIOp::create(sb, loc, k, c(sb, u * width)) : k;
        Value xv, wv;
        if (!mask) {
          xv = vector::LoadOp::create(sb, loc, vec, mm.x,
                                      ValueRange{xRows[0], ku});
          wv = vector::LoadOp::create(sb, loc, wVec, mm.w, ValueRange{n, ku});
        } else {
          Value wZero = arith::ConstantOp::create(
              sb, loc, wVec,
              DenseElementsAttr::get(wVec, sb.getZeroAttr(wElt)));
          xv = vector::MaskedLoadOp::create(
              sb, loc, vec, mm.x, ValueRange{xRows[0], ku}, mask, zero);
          wv = vector::MaskedLoadOp::create(sb, loc, wVec, mm.w,
                                            ValueRange{n, ku}, mask, wZero);
        }
        next.push_back(
            vector::FMAOp::create(sb, loc, xv, toF32(sb, loc, wv, vec), a));
      }
      return next;
    };
    int64_t block = kDotChains * width;
    int64_t kBlocks = mm.k / block * block, kFull = mm.k / width * width;
    SmallVector<Value> acc(kDotChains, zero);
    if (kBlocks > 0) {
      auto loop = scf::ForOp::create(
          rb, loc, c(rb, 0), c(rb, kBlocks), c(rb, block), acc,
          [&](OpBuilder &lb, Location, Value k, ValueRange iter) {
            scf::YieldOp::create(lb, loc, step(lb, k, iter, Value()));
          });
      acc.assign(loop.getResults().begin(), loop.getResults().end());
    }
    for (int64_t k = kBlocks; k < kFull; k += width)
      acc[0] = step(rb, c(rb, k), ValueRange{acc[0]}, Value())[0];
    if (kFull < mm.k) {
      Value mask = vector::ConstantMaskOp::create(
          rb, loc, VectorType::get({width}, rb.getI1Type()),
          ArrayRef<int64_t>{mm.k - kFull});
      acc[0] = step(rb, c(rb, kFull), ValueRange{acc[0]}, mask)[0];
    }
    Value total = acc[0];
    for (int64_t u = 1; u < kDotChains; ++u)
      total = arith::AddFOp::create(rb, loc, total, acc[u]);
    Value sum = vector::ReductionOp::create(rb, loc, vector::CombiningKind::ADD,
                                            total, Value(), fast.getValue());
    if (mm.scales)
      sum = arith::MulFOp::create(
          rb, loc, sum, memref::LoadOp::create(rb, loc, mm.scales, n));
    addInto(rb, loc, sum, mm.out, ValueRange{oRows[0], n}, first);
  }
  /// Independent accumulators per weight row in emitRowDots, so that the
  /// FMA latency is not what a row waits on.
  static constexpr int64_t kDotChains = 4;

  /// Grid item `item` of a panel-stored weight: the archive holds the
  /// panels K-major already, so from kPackRows x rows the broadcast form
  /// reads the item's kItemPanels panels in place (no packing, no
  /// horizontal sums), and fewer rows (decode) stream the item's one panel
  /// once per row.
  void emitPanelledItem(OpBuilder &b, const Matmul &mm, Value m, Value few,
                        Value item) const {
    Location loc = item.getLoc();
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    int64_t panels = cast<MemRefType>(mm.w.getType()).getDimSize(0);
    // The item's panels p0 .. p0 + count - 1: all kItemPanels but in the
    // last item of an odd panel count.
    auto forPanels = [&](OpBuilder &ob,
                         function_ref<void(OpBuilder &, int64_t count)> fn) {
      if (panels % kItemPanels == 0)
        return fn(ob, kItemPanels);
      Value whole = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt,
                                          item, c(ob, panels / kItemPanels));
      auto branch = scf::IfOp::create(ob, loc, whole, /*withElse=*/true);
      OpBuilder tb = branch.getThenBodyBuilder();
      fn(tb, kItemPanels);
      OpBuilder eb = branch.getElseBodyBuilder();
      fn(eb, panels % kItemPanels);
    };
    // `few` (m < kPackRows) also sized the grid.
    auto branch = scf::IfOp::create(b, loc, few, /*withElse=*/true);
    OpBuilder tb = branch.getThenBodyBuilder();
    auto rowLoop = scf::ForOp::create(tb, loc, c(tb, 0), m, c(tb, 1));
    OpBuilder rb = OpBuilder::atBlockBegin(rowLoop.getBody());
    emitStreamedRow(rb, mm, rowLoop.getInductionVar(), item,
                    arith::MulIOp::create(rb, loc, item, c(rb, panel())));
    OpBuilder eb = branch.getElseBodyBuilder();
    Value p0 = arith::MulIOp::create(eb, loc, item, c(eb, kItemPanels));
    forPanels(eb, [&](OpBuilder &pb, int64_t count) {
      emitPacked(pb, mm, m, arith::MulIOp::create(pb, loc, p0, c(pb, panel())),
                 mm.w, {}, p0, count);
    });
  }
  /// Panels per prefill grid item of a panel-stored weight: a tile of
  /// kPackRows x rows by two panels keeps 24 accumulators, and each x
  /// value broadcast feeds four FMAs (two with one panel).
  static constexpr int64_t kItemPanels = 2;

  /// out[row, n0 : n0+panel] (+)= x[row] · panel `item`, over all of K at
  /// once, with K split into `segments` runs read side by side: one x row
  /// has no weight reuse, so what matters is keeping loads in flight (a
  /// stream per segment) and FMA chains independent (two accumulators per
  /// segment). One stream with two chains decoded llama-125m 10% slower
  /// than the row-major kernel's eight rows.
  void emitStreamedRow(OpBuilder &b, const Matmul &mm, Value row, Value item,
                       Value n0) const {
    Location loc = row.getLoc();
    auto vec = VectorType::get({width}, b.getF32Type());
    auto wVec = VectorType::get(
        {width}, cast<MemRefType>(mm.w.getType()).getElementType());
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    int64_t segments = 8;
    while (mm.k % segments)
      segments /= 2;
    int64_t run = mm.k / segments;
    SmallVector<Value> xRows, oRows;
    tileRows(b, loc, row, 1, mm.rowList, mm.xRowDiv, xRows, oRows);
    Value zero = arith::ConstantOp::create(
        b, loc, vec, DenseElementsAttr::get(vec, b.getF32FloatAttr(0)));
    SmallVector<Value> init(2 * segments, zero);
    auto ks = scf::ForOp::create(
        b, loc, c(b, 0), c(b, run), c(b, 1), init,
        [&](OpBuilder &lb, Location, Value kk, ValueRange acc) {
          SmallVector<Value> next;
          for (int64_t s = 0; s < segments; ++s) {
            Value k =
                s ? arith::AddIOp::create(lb, loc, kk, c(lb, s * run)) : kk;
            Value xb = vector::BroadcastOp::create(
                lb, loc, vec,
                memref::LoadOp::create(lb, loc, mm.x, ValueRange{xRows[0], k}));
            for (int64_t h = 0; h < 2; ++h) {
              Value wv = toF32(
                  lb, loc,
                  vector::LoadOp::create(lb, loc, wVec, mm.w,
                                         ValueRange{item, k, c(lb, h * width)}),
                  vec);
              next.push_back(
                  vector::FMAOp::create(lb, loc, xb, wv, acc[2 * s + h]));
            }
          }
          scf::YieldOp::create(lb, loc, next);
        });
    Value first = isFirstChunk(b, loc, mm.zeroInit, c(b, 0));
    for (int64_t h = 0; h < 2; ++h) {
      Value sum = ks.getResult(h);
      for (int64_t s = 1; s < segments; ++s)
        sum = arith::AddFOp::create(b, loc, sum, ks.getResult(2 * s + h));
      Value col = h ? arith::AddIOp::create(b, loc, n0, c(b, width)) : n0;
      addInto(b, loc, sum, mm.out, ValueRange{oRows[0], col}, first);
    }
  }
  /// Fills the packing buffer with the panel's weights for K in [k0, k0 +
  /// kc): buf[k - k0][col0 + j] = w[n0 + j, k] as f32.
  using PackPanel = function_ref<void(OpBuilder &b, Value n0, Value k0,
                                      int64_t kc, int64_t col0)>;

  /// out[:, n0 : n0 + panels·panel] += x · w[n0 : n0 + panels·panel]ᵀ in
  /// the broadcast form: per K chunk the `panels` panels are packed K-major
  /// side by side into a stack buffer (buf[k][j] = w[n0+j, k], upcast to
  /// f32; by `pack` where given, else from mm.w by packPanel), then each
  /// tile of kPackRows x rows keeps kPackRows × 2·panels vector
  /// accumulators over output columns: per k, 2·panels contiguous loads
  /// and one broadcast x value per row, no horizontal sums.
  ///
  /// With `panelIndex`, `buf` is a weight the archive already stores in
  /// panels ([N/panel, K, panel], chimera-pack-weights) and its panels
  /// `panelIndex` .. `panelIndex + panels - 1` are read in place: nothing
  /// is packed.
  void emitPacked(OpBuilder &b, const Matmul &mm, Value m, Value n0, Value buf,
                  PackPanel pack = {}, Value panelIndex = {},
                  int64_t panels = 1) const {
    Location loc = n0.getLoc();
    Type f32 = b.getF32Type();
    auto vec = VectorType::get({width}, f32);
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    auto chunk = [&](OpBuilder &sb, Value k0, int64_t kc) {
      for (int64_t q = 0; q < panels && !panelIndex; ++q) {
        Value nq =
            q ? arith::AddIOp::create(sb, loc, n0, c(sb, q * panel())) : n0;
        if (pack)
          pack(sb, nq, k0, kc, q * panel());
        else
          packPanel(sb, mm, nq, k0, kc, buf, q * panel());
      }
      // Panel row k (kk within the chunk), columns [col, col + width) of
      // the item's panel q.
      auto panelLoad = [&](OpBuilder &lb, Value kk, Value k, int64_t q,
                           int64_t col) -> Value {
        if (!panelIndex)
          return vector::LoadOp::create(
              lb, loc, vec, buf, ValueRange{kk, c(lb, q * panel() + col)});
        auto wVec = VectorType::get(
            {width}, cast<MemRefType>(buf.getType()).getElementType());
        Value pi = q ? arith::AddIOp::create(lb, loc, panelIndex, c(lb, q))
                     : panelIndex;
        return toF32(lb, loc,
                     vector::LoadOp::create(lb, loc, wVec, buf,
                                            ValueRange{pi, k, c(lb, col)}),
                     vec);
      };
      // Tiles of kPackRows x rows, then the rest one by one.
      Value first = isFirstChunk(sb, loc, mm.zeroInit, k0);

      auto tile = [&](OpBuilder &tb, Value m0, int64_t mr) {
        SmallVector<Value> xRows, oRows;
        tileRows(tb, loc, m0, mr, mm.rowList, mm.xRowDiv, xRows, oRows);
        Value zero = arith::ConstantOp::create(
            tb, loc, vec, DenseElementsAttr::get(vec, tb.getF32FloatAttr(0)));
        int64_t vecs = 2 * panels; // accumulators per x row
        SmallVector<Value> init(vecs * mr, zero);
        auto ks = scf::ForOp::create(
            tb, loc, c(tb, 0), c(tb, kc), c(tb, 1), init,
            [&](OpBuilder &lb, Location, Value kk, ValueRange acc) {
              Value kx = arith::AddIOp::create(lb, loc, kk, k0);
              SmallVector<Value> w;
              for (int64_t v = 0; v < vecs; ++v)
                w.push_back(panelLoad(lb, kk, kx, v / 2, v % 2 * width));
              SmallVector<Value> next;
              for (int64_t i = 0; i < mr; ++i) {
                Value xs = memref::LoadOp::create(lb, loc, mm.x,
                                                  ValueRange{xRows[i], kx});
                Value xb = vector::BroadcastOp::create(lb, loc, vec, xs);
                for (int64_t v = 0; v < vecs; ++v)
                  next.push_back(vector::FMAOp::create(lb, loc, xb, w[v],
                                                       acc[vecs * i + v]));
              }
              scf::YieldOp::create(lb, loc, next);
            });
        for (int64_t i = 0; i < mr; ++i)
          for (int64_t v = 0; v < vecs; ++v) {
            Value col =
                v ? arith::AddIOp::create(tb, loc, n0, c(tb, v * width)) : n0;
            addInto(tb, loc, ks.getResult(vecs * i + v), mm.out,
                    ValueRange{oRows[i], col}, first);
          }
      };
      forTilesThenRest(sb, loc, m, kPackRows, tile);
    };
    forChunks(b, loc, mm.k, kPackK, chunk);
  }

  /// The default panel packing, from `mm.w`: blocks of `width` rows by
  /// `width` columns of K, loaded as row vectors and transposed in
  /// registers (a shuffle network), then the K tail one element at a time.
  /// int8: the panel holds the dequantised weights (one scale per row, a
  /// lane after transposing).
  void packPanel(OpBuilder &sb, const Matmul &mm, Value n0, Value k0,
                 int64_t kc, Value buf, int64_t col0) const {
    Location loc = n0.getLoc();
    Type f32 = sb.getF32Type();
    auto wElt = cast<MemRefType>(mm.w.getType()).getElementType();
    auto vec = VectorType::get({width}, f32);
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    int64_t p = panel();
    int64_t kFull = kc / width * width;

    for (int64_t jb = 0; jb < p && kFull > 0; jb += width) {
      Value rowBase = arith::AddIOp::create(sb, loc, n0, c(sb, jb));
      Value scales = mm.scales
                         ? Value(vector::LoadOp::create(sb, loc, vec, mm.scales,
                                                        ValueRange{rowBase}))
                         : Value();
      auto ks =
          scf::ForOp::create(sb, loc, c(sb, 0), c(sb, kFull), c(sb, width));
      OpBuilder kb = OpBuilder::atBlockBegin(ks.getBody());
      Value kk = ks.getInductionVar();
      Value kw = arith::AddIOp::create(kb, loc, kk, k0);
      SmallVector<Value> block;
      for (int64_t r = 0; r < width; ++r) {
        Value row = arith::AddIOp::create(kb, loc, rowBase, c(kb, r));
        block.push_back(toF32(
            kb, loc,
            vector::LoadOp::create(kb, loc, VectorType::get({width}, wElt),
                                   mm.w, ValueRange{row, kw}),
            vec));
      }
      transposeSquare(kb, loc, block);
      for (int64_t i = 0; i < width; ++i) {
        Value col = block[i];
        if (scales)
          col = arith::MulFOp::create(kb, loc, col, scales);
        vector::StoreOp::create(
            kb, loc, col, buf,
            ValueRange{arith::AddIOp::create(kb, loc, kk, c(kb, i)),
                       c(kb, col0 + jb)});
      }
    }
    if (kFull < kc) {
      auto pack = scf::ForOp::create(sb, loc, c(sb, 0), c(sb, p), c(sb, 1));
      OpBuilder pb = OpBuilder::atBlockBegin(pack.getBody());
      Value j = pack.getInductionVar();
      Value row = arith::AddIOp::create(pb, loc, n0, j);
      Value scale = mm.scales ? Value(memref::LoadOp::create(pb, loc, mm.scales,
                                                             ValueRange{row}))
                              : Value();
      for (int64_t kk = kFull; kk < kc; ++kk) {
        Value v = memref::LoadOp::create(
            pb, loc, mm.w,
            ValueRange{row, arith::AddIOp::create(pb, loc, k0, c(pb, kk))});
        v = toF32(pb, loc, v, f32);
        if (scale)
          v = arith::MulFOp::create(pb, loc, v, scale);
        memref::StoreOp::create(
            pb, loc, v, buf,
            ValueRange{c(pb, kk), col0 ? Value(arith::AddIOp::create(
                                             pb, loc, j, c(pb, col0)))
                                       : j});
      }
    }
  }

  /// The packing buffer of one grid item (its kItemPanels panels side by
  /// side): a static stack allocation at the top of the grid body, which
  /// chimera-outline-kernels makes one per kernel call (its items run one
  /// after another).
  Value packBuffer(OpBuilder &b, Location loc) const {
    return memref::AllocaOp::create(
        b, loc,
        MemRefType::get({kPackK, kItemPanels * panel()}, b.getF32Type()),
        ValueRange{}, b.getI64IntegerAttr(64));
  }

  /// Builds a routed item's work: expert `e`, item `item` of
  /// panelItems(perPanel), the slots routed to e (`list`, `count` of them)
  /// and the packing buffer.
  using RoutedItem =
      function_ref<void(OpBuilder &, Value e, Value item, Value perPanel,
                        Value list, Value count, Value buf)>;

  /// The grid of a routed matmul with `experts` stacked [E, n, K] weights:
  /// one item per (expert, panelItems), each with the list of slots routed
  /// to its expert (on the stack for one item) and, when it `packs`, the
  /// packing buffer.
  void emitRoutedGrid(OpBuilder &b, Location loc, int64_t experts, int64_t n,
                      int64_t minRows, const RoutedViews &views,
                      RoutedItem item, bool packs = true) const {
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    // Items of one panel when the whole step routes too few slots for the
    // packed kernel (then so does every expert), else of kItemPanels.
    Value perPanel = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                           views.slots, c(b, minRows));
    auto grid = scf::ParallelOp::create(
        b, loc, ValueRange{c(b, 0), c(b, 0)},
        ValueRange{c(b, experts), panelItems(b, loc, n, perPanel)},
        ValueRange{c(b, 1), c(b, 1)});
    markWorkItems(grid, "expert_matmul");
    OpBuilder gb = OpBuilder::atBlockBegin(grid.getBody());
    Value buf = packs ? packBuffer(gb, loc) : Value();
    Value e = grid.getInductionVars()[0];
    SlotList slots = collectSlots(gb, loc, views.ids, views.slots, e);
    item(slots.inside, e, grid.getInductionVars()[1], perPanel, slots.list,
         slots.count, buf);
    memref::AllocaScopeReturnOp::create(slots.inside, loc, ValueRange{});
  }

  /// The grid of a routed matmul whose stacked weights are stored in
  /// panels ([E, N/panel, K, panel], chimera-pack-weights): emitRoutedGrid's
  /// items from kPackRows slots (the panelled kernel's threshold), each
  /// reading its expert's panels in place for the slots routed to it.
  void emitRoutedPanelledGrid(OpBuilder &b, Location loc, Value w,
                              int64_t xRowDiv, const RoutedViews &views) const {
    auto wType = cast<MemRefType>(w.getType());
    int64_t n = wType.getDimSize(1) * panel(), k = wType.getDimSize(2);
    emitRoutedGrid(
        b, loc, wType.getDimSize(0), n, kPackRows, views,
        [&](OpBuilder &ib, Value e, Value item, Value perPanel, Value list,
            Value count, Value) {
          Matmul mm{views.x, expertSlice(ib, loc, w, e), views.out, n, k, list,
                    xRowDiv};
          mm.panelled = true;
          emitPanelledItem(ib, mm, count, perPanel, item);
        },
        /*packs=*/false);
  }

  /// out[:, n0 : n0+nr] += x · w[n0 : n0+nr]ᵀ, chunk by chunk of K.
  void emitRows(OpBuilder &b, const Matmul &mm, Value m, Value n0,
                int64_t nr) const {
    Location loc = n0.getLoc();
    // Per chunk of K (a loop, so code size is independent of K, then the
    // tail): full tiles of `cols` x rows, then the rest one by one.
    forChunks(b, loc, mm.k, kChunk, [&](OpBuilder &cb, Value k0, int64_t len) {
      forTilesThenRest(cb, loc, m, cols,
                       [&](OpBuilder &tb, Value m0, int64_t mr) {
                         emitTile(tb, mm, m0, mr, n0, nr, k0, len);
                       });
    });
  }

  /// One mr × nr tile over K in [k0, k0 + len).
  void emitTile(OpBuilder &b, const Matmul &mm, Value m0, int64_t mr, Value n0,
                int64_t nr, Value k0, int64_t len) const {
    Location loc = m0.getLoc();
    Type f32 = b.getF32Type();
    auto accType = VectorType::get({width}, f32);
    auto wElt = cast<MemRefType>(mm.w.getType()).getElementType();
    auto wType = VectorType::get({width}, wElt);
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    auto fast = arith::FastMathFlagsAttr::get(
        b.getContext(),
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract);
    SmallVector<Value> mIdx, oIdx, nIdx;
    tileRows(b, loc, m0, mr, mm.rowList, mm.xRowDiv, mIdx, oIdx);
    for (int64_t j = 0; j < nr; ++j)
      nIdx.push_back(j ? arith::AddIOp::create(b, loc, n0, c(b, j)) : n0);

    // acc[i*nr+j] += x[i] * w[j] over one K vector; `mask` for the tail.
    auto step = [&](OpBuilder &bb, Value k, ValueRange accs,
                    Value mask) -> SmallVector<Value> {
      auto load = [&](Value mem, Value row, VectorType type) -> Value {
        if (!mask)
          return vector::LoadOp::create(bb, loc, type, mem,
                                        ValueRange{row, k});
        Value zero = arith::ConstantOp::create(
            bb, loc, type, DenseElementsAttr::get(type, bb.getZeroAttr(type.getElementType())));
        return vector::MaskedLoadOp::create(bb, loc, type, mem,
                                            ValueRange{row, k}, mask, zero);
      };
      SmallVector<Value> xs, ws;
      for (Value row : mIdx)
        xs.push_back(load(mm.x, row, accType));
      for (Value row : nIdx)
        ws.push_back(toF32(bb, loc, load(mm.w, row, wType), accType));
      SmallVector<Value> next;
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j)
          next.push_back(vector::FMAOp::create(bb, loc, xs[i], ws[j],
                                               accs[i * nr + j]));
      return next;
    };

    Value zero = arith::ConstantOp::create(
        b, loc, accType, DenseElementsAttr::get(accType, b.getF32FloatAttr(0)));
    SmallVector<Value> init(mr * nr, zero);
    int64_t fullLen = len / width * width;
    Value kFull = arith::AddIOp::create(b, loc, k0, c(b, fullLen));
    SmallVector<Value> accs = init;
    if (fullLen > 0) {
      auto loop = scf::ForOp::create(
          b, loc, k0, kFull, c(b, width), init,
          [&](OpBuilder &lb, Location, Value k, ValueRange iter) {
            scf::YieldOp::create(lb, loc, step(lb, k, iter, Value()));
          });
      accs.assign(loop.getResults().begin(), loop.getResults().end());
    }
    if (fullLen < len) {
      auto maskType = VectorType::get({width}, b.getI1Type());
      Value mask = vector::ConstantMaskOp::create(
          b, loc, maskType, ArrayRef<int64_t>{len - fullLen});
      accs = step(b, kFull, ValueRange(accs), mask);
    }
    Value first = isFirstChunk(b, loc, mm.zeroInit, k0);
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) {
        Value sum = vector::ReductionOp::create(
            b, loc, vector::CombiningKind::ADD, accs[i * nr + j], Value(),
            fast.getValue());
        if (mm.scales)
          sum = arith::MulFOp::create(
              b, loc, sum,
              memref::LoadOp::create(b, loc, mm.scales, ValueRange{nIdx[j]}));
        addInto(b, loc, sum, mm.out, ValueRange{oIdx[i], nIdx[j]}, first);
      }
  }
};

/// The mixture-of-experts form: h[t, j, i] += in[t, (j,) x] · W[ids[t, j], i, x]
/// with W loaded in the body (the reference's routed matmul), as a grouped
/// GEMM: a grid over (expert, blocks of `rows` weight rows); each item
/// lists the slots (t, j) routed to its expert and runs the kernel above on
/// those rows, so an expert's weights are read once per prefill, and a
/// decode step reads only the routed experts' (the other items find no
/// slot).
struct VectorizeRoutedMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeRoutedMatmul(MLIRContext *ctx, const VectorizeMatmul &kernel)
      : OpRewritePattern(ctx), kernel(kernel) {}

  const VectorizeMatmul &kernel;

  /// The expert weight load `W[e, i, x]` if `op`'s body is
  /// out + in · ext?(W[e, i, x]), or, for int8 experts,
  /// out + in · (S[e, i] · sitofp(W[e, i, x])) (then `scales` is S), or,
  /// for panel-stored float experts, out + in · ext?(W[e, i / P, x, i % P])
  /// (then `panel` is P).
  static memref::LoadOp matchBody(linalg::GenericOp op, Value &scales,
                                  int64_t &panel) {
    Block &body = op.getRegion().front();
    if (body.getOperations().size() > 12)
      return {};
    auto yield = cast<linalg::YieldOp>(body.getTerminator());
    auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
    if (!add)
      return {};
    Value acc = body.getArgument(2), in = body.getArgument(0),
          ids = body.getArgument(1);
    Value prod = add.getLhs() == acc ? add.getRhs() : add.getLhs();
    if ((add.getLhs() == acc) == (add.getRhs() == acc))
      return {};
    auto mul = prod.getDefiningOp<arith::MulFOp>();
    if (!mul)
      return {};
    Value w = mul.getLhs() == in ? mul.getRhs() : mul.getLhs();
    if (mul.getLhs() != in && mul.getRhs() != in)
      return {};
    memref::LoadOp scaleLoad;
    if (auto scaled = w.getDefiningOp<arith::MulFOp>()) {
      auto conv = scaled.getRhs().getDefiningOp<arith::SIToFPOp>();
      scaleLoad = scaled.getLhs().getDefiningOp<memref::LoadOp>();
      if (!conv || !scaleLoad || scaleLoad.getIndices().size() != 2)
        return {};
      w = conv.getIn();
    } else if (auto ext = w.getDefiningOp<arith::ExtFOp>()) {
      w = ext.getIn();
    }
    auto load = w.getDefiningOp<memref::LoadOp>();
    if (!load || load->getBlock() != &body)
      return {};
    ValueRange at = load.getIndices();
    panel = 0;
    if (at.size() == 4 && !scaleLoad) {
      // (e, i / P, x, i % P) with one constant P.
      auto div = at[1].getDefiningOp<arith::DivUIOp>();
      auto rem = at[3].getDefiningOp<arith::RemUIOp>();
      std::optional<int64_t> p =
          div ? getConstantIntValue(div.getRhs()) : std::nullopt;
      if (!div || !rem || !p || *p <= 0 || rem.getLhs() != div.getLhs() ||
          getConstantIntValue(rem.getRhs()) != p)
        return {};
      panel = *p;
      at = ValueRange{at[0], div.getLhs(), at[2]};
    } else if (at.size() != 3) {
      return {};
    }
    auto cast = at[0].getDefiningOp<arith::IndexCastOp>();
    auto i = at[1].getDefiningOp<linalg::IndexOp>();
    auto x = at[2].getDefiningOp<linalg::IndexOp>();
    if (!cast || cast.getIn() != ids || !i || i.getDim() != 2 || !x ||
        x.getDim() != 3)
      return {};
    // The weight must be defined outside the op (a view of the archive).
    if (op->isAncestor(load.getMemRef().getParentRegion()->getParentOp()))
      return {};
    if (scaleLoad) {
      // S[e, i] with the same expert and row, defined outside.
      if (scaleLoad.getIndices()[0] != load.getIndices()[0] ||
          scaleLoad.getIndices()[1] != load.getIndices()[1] ||
          op->isAncestor(
              scaleLoad.getMemRef().getParentRegion()->getParentOp()))
        return {};
      scales = scaleLoad.getMemRef();
    }
    return load;
  }

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || op.getNumLoops() != 4 ||
        op.getNumReductionLoops() != 1 ||
        op.getIteratorTypesArray().back() != utils::IteratorType::reduction)
      return failure();
    std::optional<bool> perSlot = routedInputPerSlot(op);
    if (!perSlot)
      return failure();
    bool inPerSlot = *perSlot;
    Value scales;
    int64_t panel = 0;
    memref::LoadOp load = matchBody(op, scales, panel);
    if (!load)
      return failure();
    Value in = op.getDpsInputs()[0], ids = op.getDpsInputs()[1],
          out = op.getDpsInits()[0], w = load.getMemRef();
    auto wType = cast<MemRefType>(w.getType());
    auto inType = cast<MemRefType>(in.getType());
    auto outType = cast<MemRefType>(out.getType());
    Type f32 = rewriter.getF32Type();
    if (inType.getElementType() != f32 || outType.getElementType() != f32 ||
        !wType.hasStaticShape() || !isRowMajor(wType) || !isRowMajor(inType) ||
        !isRowMajor(outType))
      return failure();
    if (scales ? !wType.getElementType().isInteger(8) ||
                     !cast<MemRefType>(scales.getType()).getElementType().isF32()
               : !isa<FloatType>(wType.getElementType()))
      return failure();
    // Panels as the kernel's: [E, N/P, K, P] with P its panel.
    if (panel && (panel != kernel.panel() || !wType.getLayout().isIdentity()))
      return failure();
    int64_t n = wType.getDimSize(1), k = wType.getDimSize(2);

    // Slots (t, j) flatten to s = t·J + j over contiguous buffers.
    if (!outType.getLayout().isIdentity() || !inType.getLayout().isIdentity() ||
        !cast<MemRefType>(ids.getType()).getLayout().isIdentity())
      return failure();
    Location loc = op.getLoc();
    int64_t experts = wType.getDimSize(0);
    int64_t slotsPerToken = cast<MemRefType>(ids.getType()).getDimSize(1);
    if (ShapedType::isDynamic(slotsPerToken))
      return failure();
    RoutedViews views = routedViews(rewriter, loc, in, ids, out, inPerSlot);
    if (panel) {
      kernel.emitRoutedPanelledGrid(rewriter, loc, w,
                                    inPerSlot ? 1 : slotsPerToken, views);
      rewriter.eraseOp(op);
      return success();
    }
    kernel.emitRoutedGrid(
        rewriter, loc, experts, n, VectorizeMatmul::kPackMinRows, views,
        [&](OpBuilder &b, Value e, Value item, Value perPanel, Value list,
            Value count, Value buf) {
          Matmul mm{views.x, expertSlice(b, loc, w, e),    views.out, n, k,
                    list,    inPerSlot ? 1 : slotsPerToken};
          if (scales)
            mm.scales = expertSlice(b, loc, scales, e);
          kernel.emitItem(b, mm, count, item, perPanel, buf);
        });
    rewriter.eraseOp(op);
    return success();
  }
};

/// 4-bit weights in groups (`#chimera.quant<int4|fp4_m0e4|mxfp4, group_size
/// = G>`, G a multiple of two vectors): the reference's generic over
/// (rows..., n, g, j) that the lowering tags with its `chimera.quant`.
/// Grid items of a panel of weight rows, as the f32 kernel's:
///   - few x rows (decode): dot-product tiles of `cols` x rows by `rows`
///     weight rows. Per group and 2·width elements, one vector of codes per
///     weight row unpacks into the even (low nibble) and odd (high nibble)
///     elements, scaled by the group's scale; the x row is split into its
///     even and odd elements once and reused by every weight row.
///   - many (prefill): the f32 kernel's packed broadcast tiles, the panel
///     decoded as it is packed, so the nibbles are unpacked once per
///     K chunk instead of once per tile of x rows.
struct VectorizeNibbleMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeNibbleMatmul(MLIRContext *ctx, const VectorizeMatmul &f32Kernel,
                        bool tableLookups)
      : OpRewritePattern(ctx), f32Kernel(f32Kernel), width(f32Kernel.width),
        rows(f32Kernel.rows), cols(f32Kernel.cols),
        tableLookups(tableLookups && width == 16) {}

  const VectorizeMatmul &f32Kernel;
  int64_t width, rows, cols;
  /// mxfp4 codes decode by vpermps over E2M1's values (AVX-512).
  bool tableLookups;

  /// Prefills of at least this many x rows decode the panel into the
  /// packed kernel: the tiles unpack every code once per tile of x rows.
  /// 64 until session 18; at 24 a routed expert's few dozen rows take it
  /// too (jamba-tiny int4 pp512 861 -> 980 tokens/s, mixtral-tiny 466 ->
  /// 511, alternated on a noisy VM).
  static constexpr int64_t kPackMinRows = 24;

  /// What a grid item reads: x [M, K], codes [N, K/2], scales (and
  /// offsets) [N, K/G], out [M', N]. With `rowList`, tile row p is out row
  /// rowList[p] and x row rowList[p] / xRowDiv (the slots routed to one
  /// expert).
  struct Operands {
    QuantAttr quant;
    Value x, codes, scales, offsets, out;
    int64_t n, k;
    Value rowList = {};
    int64_t xRowDiv = 1;
  };

  /// Whether the format's group fits the tile (two vectors of elements
  /// per step).
  bool takes(QuantAttr quant) const {
    return quant && quant.getScheme() != QuantScheme::Int8 &&
           quant.getGroupSize() % (2 * width) == 0;
  }

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    auto quant = op->getAttrOfType<QuantAttr>("chimera.quant");
    if (!takes(quant) || !op.hasPureBufferSemantics() ||
        op.getNumDpsInputs() != (quant.hasOffsets() ? 5u : 4u) ||
        op.getNumDpsInits() != 1)
      return failure();
    Value x = op.getDpsInputs()[0], codes = op.getDpsInputs()[2],
          scales = op.getDpsInputs()[3], out = op.getDpsInits()[0];
    Value offsets = quant.hasOffsets() ? op.getDpsInputs()[4] : Value();
    auto xType = cast<MemRefType>(x.getType());
    auto outType = cast<MemRefType>(out.getType());
    auto codesType = cast<MemRefType>(codes.getType());
    unsigned r = outType.getRank();
    if (op.getDpsInputs()[1] != x || (r != 2 && r != 3) ||
        xType.getRank() != r + 1 || codesType.getRank() != 3 ||
        !codesType.hasStaticShape() || !xType.getLayout().isIdentity() ||
        !outType.getLayout().isIdentity() ||
        !codesType.getLayout().isIdentity() ||
        !xType.getElementType().isF32() || !outType.getElementType().isF32())
      return failure();
    Location loc = op.getLoc();
    // x [rows..., K/G, G] and codes [N, K/G, G/2] as rows of K and K/2.
    SmallVector<ReassociationIndices> xRows = {{0}, {1, 2}};
    if (r == 3) {
      xRows = {{0, 1}, {2, 3}};
      out = memref::CollapseShapeOp::create(
          rewriter, loc, out, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    }
    x = memref::CollapseShapeOp::create(rewriter, loc, x, xRows);
    codes = memref::CollapseShapeOp::create(
        rewriter, loc, codes, SmallVector<ReassociationIndices>{{0}, {1, 2}});
    int64_t n = codesType.getDimSize(0);
    auto c = [&](OpBuilder &b, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value m = memref::DimOp::create(rewriter, loc, x, 0);
    Value few = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::slt,
                                      m, c(rewriter, kPackMinRows));
    auto grid = scf::ParallelOp::create(
        rewriter, loc, ValueRange{c(rewriter, 0)},
        ValueRange{f32Kernel.panelItems(rewriter, loc, n, few)},
        ValueRange{c(rewriter, 1)});
    markWorkItems(grid, "matmul");
    OpBuilder b = OpBuilder::atBlockBegin(grid.getBody());
    Operands ops{
        quant,   x,   codes, scales,
        offsets, out, n,     codesType.getDimSize(1) * quant.getGroupSize()};
    emitItem(b, loc, ops, grid.getInductionVars()[0], few, m,
             f32Kernel.packBuffer(b, loc));
    rewriter.eraseOp(op);
    return success();
  }

  /// One grid item of panelItems(perPanel) against `count` tile rows:
  /// from kPackMinRows its panels decoded into the packed kernel, else the
  /// nibble tiles.
  void emitItem(OpBuilder &b, Location loc, const Operands &ops, Value item,
                Value perPanel, Value count, Value buf) const {
    auto packed = [&](OpBuilder &tb, Value n0, int64_t panels) {
      Matmul mm{ops.x, Value(),     ops.out,    ops.n,
                ops.k, ops.rowList, ops.xRowDiv};
      f32Kernel.emitPacked(
          tb, mm, count, n0, buf,
          [&](OpBuilder &pb, Value n0, Value k0, int64_t kc, int64_t col0) {
            packPanel(pb, loc, ops, n0, k0, kc, buf, col0);
          },
          {}, panels);
    };
    // Weight rows [first, first + nr) against the tile rows, in tiles of
    // `cols` rows and then singly.
    auto tiles = [&](OpBuilder &wb, Value first, int64_t nr) {
      forTilesThenRest(
          wb, loc, count, cols, [&](OpBuilder &tb, Value m0, int64_t mr) {
            SmallVector<Value> xRows, outRows;
            tileRows(tb, loc, m0, mr, ops.rowList, ops.xRowDiv, xRows, outRows);
            emitTile(tb, loc, ops, xRows, outRows, first, nr);
          });
    };
    f32Kernel.emitPanelItem(b, loc, ops.n, item, perPanel, count,
                            bool(ops.rowList), kPackMinRows, packed, tiles);
  }

  /// A vector of `width` bytes, each `v`.
  Value byteSplat(OpBuilder &b, Location loc, int64_t v) const {
    auto bytes = VectorType::get({width}, b.getI8Type());
    return arith::ConstantOp::create(
        b, loc, bytes, DenseElementsAttr::get(bytes, b.getI8IntegerAttr(v)));
  }

  /// buf[k - k0][j] = the decoded weight (n0 + j, k) for K in [k0, k0 +
  /// kc): per `width` weight rows and 2·width elements of K (within one
  /// group), each row's `width` code bytes decode into its even and odd
  /// elements, interleave into two row vectors in K order, and each set of
  /// `width` row vectors is transposed in registers into columns of buf.
  void packPanel(OpBuilder &b, Location loc, const Operands &ops, Value n0,
                 Value k0, int64_t kc, Value buf, int64_t col0) const {
    auto vec = VectorType::get({width}, b.getF32Type());
    auto bytes = VectorType::get({width}, b.getI8Type());
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    auto splat8 = [&](OpBuilder &bb, int64_t v) {
      return byteSplat(bb, loc, v);
    };
    int64_t group = ops.quant.getGroupSize();
    SmallVector<int64_t> low, high;
    for (int64_t i = 0; i < width / 2; ++i) {
      low.append({i, width + i});
      high.append({width / 2 + i, width + width / 2 + i});
    }
    for (int64_t jb = 0; jb < f32Kernel.panel(); jb += width) {
      Value rowBase = arith::AddIOp::create(b, loc, n0, c(b, jb));
      auto ks = scf::ForOp::create(b, loc, c(b, 0), c(b, kc), c(b, 2 * width));
      OpBuilder kb = OpBuilder::atBlockBegin(ks.getBody());
      Value kk = ks.getInductionVar();
      Value k = arith::AddIOp::create(kb, loc, kk, k0);
      Value g = arith::DivUIOp::create(kb, loc, k, c(kb, group));
      Value byte = arith::DivUIOp::create(kb, loc, k, c(kb, 2));
      SmallVector<Value> first, second;
      for (int64_t r = 0; r < width; ++r) {
        Value row = arith::AddIOp::create(kb, loc, rowBase, c(kb, r));
        Value scale =
            memref::LoadOp::create(kb, loc, ops.scales, ValueRange{row, g});
        if (ops.quant.getScheme() == QuantScheme::MxFp4)
          scale = reference::e8m0ToF32(kb, loc, scale);
        scale = vector::BroadcastOp::create(kb, loc, vec, scale);
        Value offset = ops.offsets
                           ? Value(vector::BroadcastOp::create(
                                 kb, loc, vec,
                                 memref::LoadOp::create(kb, loc, ops.offsets,
                                                        ValueRange{row, g})))
                           : Value();
        Value q = vector::LoadOp::create(kb, loc, bytes, ops.codes,
                                         ValueRange{row, byte});
        Value even = decode(kb, loc, ops.quant,
                            arith::AndIOp::create(kb, loc, q, splat8(kb, 15)),
                            scale, offset);
        Value odd = decode(kb, loc, ops.quant,
                           arith::ShRUIOp::create(kb, loc, q, splat8(kb, 4)),
                           scale, offset);
        first.push_back(vector::ShuffleOp::create(kb, loc, even, odd, low));
        second.push_back(vector::ShuffleOp::create(kb, loc, even, odd, high));
      }
      for (auto [half, block] : llvm::enumerate(
               std::array<SmallVector<Value> *, 2>{&first, &second})) {
        transposeSquare(kb, loc, *block);
        for (int64_t i = 0; i < width; ++i)
          vector::StoreOp::create(
              kb, loc, (*block)[i], buf,
              ValueRange{
                  arith::AddIOp::create(kb, loc, kk, c(kb, half * width + i)),
                  c(kb, col0 + jb)});
      }
    }
  }

  /// table[index & 15] per lane (vpermps): `table` 16 f32, `index` i32.
  Value lookup(OpBuilder &b, Value table, Value index) const {
    return LLVM::CallIntrinsicOp::create(
               b, table.getLoc(), table.getType(),
               b.getStringAttr("llvm.x86.avx512.permvar.sf.512"),
               ValueRange{table, index})
        .getResult(0);
  }

  /// The weights of 4-bit codes `u` (vector of i8 in
  /// [0, 15]) by the formulas of `#chimera.quant`, given the group's scale
  /// (and offset) broadcast.
  Value decode(OpBuilder &b, Location loc, QuantAttr quant, Value u,
               Value scale, Value offset) const {
    Value w = arith::ExtUIOp::create(
        b, loc, VectorType::get({width}, b.getI32Type()), u);
    switch (quant.getScheme()) {
    case QuantScheme::Fp4M0E4:
      // w = scale·(1 + u/16) + offset.
      return vector::FMAOp::create(b, loc, reference::m0e4ToF32(b, loc, w),
                                   scale, offset);
    case QuantScheme::MxFp4: {
      if (!tableLookups)
        return arith::MulFOp::create(b, loc, reference::e2m1ToF32(b, loc, w),
                                     scale);
      // The code indexes E2M1's 16 values: one vpermps instead of the
      // dozen integer ops that assemble the bits.
      auto vec = cast<VectorType>(scale.getType());
      SmallVector<float> values = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
      for (int64_t i = 0; i < 8; ++i)
        values.push_back(-values[i]);
      Value table = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vec, ArrayRef<float>(values)));
      return arith::MulFOp::create(b, loc, lookup(b, table, w), scale);
    }
    case QuantScheme::Int4: {
      // The signed code u ^ 8 − 8, times the scale.
      auto eight = arith::ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(cast<ShapedType>(w.getType()),
                                 b.getI32IntegerAttr(8)));
      Value q = arith::SubIOp::create(
          b, loc, arith::XOrIOp::create(b, loc, w, eight), eight);
      return arith::MulFOp::create(
          b, loc, arith::SIToFPOp::create(b, loc, scale.getType(), q), scale);
    }
    case QuantScheme::Int8:
      break;
    }
    llvm_unreachable("4-bit formats only");
  }

  void emitTile(OpBuilder &b, Location loc, const Operands &ops,
                ArrayRef<Value> xRows, ArrayRef<Value> outRows, Value n0,
                int64_t nr) const {
    QuantAttr quant = ops.quant;
    Value x = ops.x, codes = ops.codes, scales = ops.scales,
          offsets = ops.offsets, out = ops.out;
    int64_t mr = xRows.size(), group = quant.getGroupSize();
    auto vec = VectorType::get({width}, b.getF32Type());
    auto bytes = VectorType::get({width}, b.getI8Type());
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    auto splat8 = [&](OpBuilder &bb, int64_t v) {
      return byteSplat(bb, loc, v);
    };
    SmallVector<Value> ns;
    for (int64_t j = 0; j < nr; ++j)
      ns.push_back(j ? arith::AddIOp::create(b, loc, n0, c(b, j)) : n0);
    SmallVector<int64_t> even, odd;
    for (int64_t i = 0; i < width; ++i) {
      even.push_back(2 * i);
      odd.push_back(2 * i + 1);
    }
    Value zero = arith::ConstantOp::create(
        b, loc, vec, DenseElementsAttr::get(vec, b.getF32FloatAttr(0)));
    // int4's 16 values, for vpermps (table lookups).
    Value int4Values;
    if (tableLookups && quant.getScheme() == QuantScheme::Int4) {
      SmallVector<float> values;
      for (int64_t u = 0; u < 16; ++u)
        values.push_back(float(u < 8 ? u : u - 16));
      int4Values = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vec, ArrayRef<float>(values)));
    }
    SmallVector<Value> init(mr * nr, zero);
    auto loop = scf::ForOp::create(
        b, loc, c(b, 0), c(b, ops.k / group), c(b, 1), init,
        [&](OpBuilder &lb, Location, Value g, ValueRange acc) {
          SmallVector<Value> next(acc.begin(), acc.end());
          // The group's first element and code byte.
          Value gk = arith::MulIOp::create(lb, loc, g, c(lb, group));
          Value gb = arith::MulIOp::create(lb, loc, g, c(lb, group / 2));
          auto plus = [&](Value base, int64_t v) -> Value {
            return v ? arith::AddIOp::create(lb, loc, base, c(lb, v)) : base;
          };
          SmallVector<Value> s, o;
          for (Value row : ns) {
            Value scale =
                memref::LoadOp::create(lb, loc, scales, ValueRange{row, g});
            if (quant.getScheme() == QuantScheme::MxFp4)
              scale = reference::e8m0ToF32(lb, loc, scale);
            s.push_back(vector::BroadcastOp::create(lb, loc, vec, scale));
            if (offsets)
              o.push_back(vector::BroadcastOp::create(
                  lb, loc, vec,
                  memref::LoadOp::create(lb, loc, offsets, ValueRange{row, g})));
          }
          for (int64_t sub = 0; sub < group / (2 * width); ++sub) {
            // The tile reads its nr rows side by side, width code bytes
            // each per sub-step: with K = 768 a row is 6 cache lines, too
            // short a stream for the hardware prefetchers, so the loads
            // wait on memory (5 GB/s per core where the panel-stored f32
            // decode streams 14). The rows after the tile's are contiguous
            // with them: prefetch them at the rate this tile reads its own,
            // nr·width bytes (two lines) per sub-step, the last row's line
            // standing in past the end of N.
            // Bytes the tile has read per row before this sub-step, times
            // nr: where the next rows' prefetch stands.
            Value read = arith::MulIOp::create(
                lb, loc,
                plus(arith::MulIOp::create(lb, loc, g,
                                           c(lb, group / (2 * width))),
                     sub),
                c(lb, nr * width));
            Value rowBytes = c(lb, ops.k / 2);
            for (int64_t line = 0; line < nr * width; line += 64) {
              Value ahead = plus(read, line);
              Value row = arith::MinUIOp::create(
                  lb, loc,
                  arith::AddIOp::create(
                      lb, loc, plus(ns[0], nr),
                      arith::DivUIOp::create(lb, loc, ahead, rowBytes)),
                  c(lb, ops.n - 1));
              memref::PrefetchOp::create(
                  lb, loc, codes,
                  ValueRange{row,
                             arith::RemUIOp::create(lb, loc, ahead, rowBytes)},
                  /*isWrite=*/false, /*localityHint=*/3,
                  /*isDataCache=*/true);
            }
            SmallVector<Value> xe, xo;
            for (Value row : xRows) {
              Value a = vector::LoadOp::create(
                  lb, loc, vec, x, ValueRange{row, plus(gk, sub * 2 * width)});
              Value bv = vector::LoadOp::create(
                  lb, loc, vec, x,
                  ValueRange{row, plus(gk, sub * 2 * width + width)});
              xe.push_back(vector::ShuffleOp::create(lb, loc, a, bv, even));
              xo.push_back(vector::ShuffleOp::create(lb, loc, a, bv, odd));
            }
            // int4: with u = nibble ^ 8 in [0, 15] (one xor flips both
            // nibbles of a byte), the code is u − 8, and
            // Σ x·s·(u − 8) = s·(Σ x·u − 8·Σ x). The −8·(xe + xo)
            // term is per x row, shared by the weight rows, and the scale
            // multiplies the group's partial sum once: no sign fix-up or
            // scaling per weight vector.
            bool int4 = quant.getScheme() == QuantScheme::Int4;
            SmallVector<Value> bias;
            if (int4 && !int4Values)
              for (int64_t i = 0; i < mr; ++i)
                bias.push_back(arith::MulFOp::create(
                    lb, loc, arith::AddFOp::create(lb, loc, xe[i], xo[i]),
                    arith::ConstantOp::create(
                        lb, loc, vec,
                        DenseElementsAttr::get(vec, lb.getF32FloatAttr(-8)))));
            for (int64_t j = 0; j < nr; ++j) {
              Value q = vector::LoadOp::create(
                  lb, loc, bytes, codes,
                  ValueRange{ns[j], plus(gb, sub * width)});
              if (int4Values) {
                // vpermps reads the low 4 bits of each lane: the byte
                // widened to i32 indexes its low nibble as is and its high
                // one after a shift. No mask, sign fix-up or conversion:
                // 7 vector ops per 32 weights instead of 10.
                Value w = arith::ExtUIOp::create(
                    lb, loc, VectorType::get({width}, lb.getI32Type()), q);
                Value lo = lookup(lb, int4Values, w);
                Value hi = lookup(lb, int4Values,
                                  arith::ShRUIOp::create(
                                      lb, loc, w,
                                      arith::ConstantOp::create(
                                          lb, loc, w.getType(),
                                          DenseElementsAttr::get(
                                              cast<ShapedType>(w.getType()),
                                              lb.getI32IntegerAttr(4)))));
                for (int64_t i = 0; i < mr; ++i) {
                  Value t = arith::MulFOp::create(lb, loc, xe[i], lo);
                  t = vector::FMAOp::create(lb, loc, xo[i], hi, t);
                  Value &a = next[i * nr + j];
                  a = vector::FMAOp::create(lb, loc, s[j], t, a);
                }
                continue;
              }
              if (int4) {
                q = arith::XOrIOp::create(lb, loc, q, splat8(lb, 0x88));
                Value lo = arith::SIToFPOp::create(
                    lb, loc, vec,
                    arith::AndIOp::create(lb, loc, q, splat8(lb, 15)));
                Value hi = arith::UIToFPOp::create(
                    lb, loc, vec,
                    arith::ShRUIOp::create(lb, loc, q, splat8(lb, 4)));
                for (int64_t i = 0; i < mr; ++i) {
                  Value t = vector::FMAOp::create(lb, loc, xe[i], lo, bias[i]);
                  t = vector::FMAOp::create(lb, loc, xo[i], hi, t);
                  Value &a = next[i * nr + j];
                  a = vector::FMAOp::create(lb, loc, s[j], t, a);
                }
                continue;
              }
              Value offset = offsets ? o[j] : Value();
              Value lo = decode(
                  lb, loc, quant,
                  arith::AndIOp::create(lb, loc, q, splat8(lb, 15)), s[j],
                  offset);
              Value hi = decode(
                  lb, loc, quant,
                  arith::AndIOp::create(
                      lb, loc, arith::ShRUIOp::create(lb, loc, q, splat8(lb, 4)),
                      splat8(lb, 15)),
                  s[j], offset);
              for (int64_t i = 0; i < mr; ++i) {
                Value &a = next[i * nr + j];
                a = vector::FMAOp::create(lb, loc, xe[i], lo, a);
                a = vector::FMAOp::create(lb, loc, xo[i], hi, a);
              }
            }
          }
          scf::YieldOp::create(lb, loc, next);
        });
    auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) {
        Value sum = vector::ReductionOp::create(
            b, loc, vector::CombiningKind::ADD, loop.getResult(i * nr + j),
            Value(), fast);
        SmallVector<Value, 2> at = {outRows[i], ns[j]};
        Value old = memref::LoadOp::create(b, loc, out, at);
        memref::StoreOp::create(b, loc, arith::AddFOp::create(b, loc, old, sum),
                                out, at);
      }
  }
};

/// The routed 4-bit matmul of the reference's expert FFN (h[t, j, i] +=
/// in[t, (j,) x] · W[ids[t, j], i, x], the nibble of byte x/2 decoded with
/// its group's scale (and offset) in the body, the generic tagged with its
/// `chimera.quant`) as a grouped GEMM of the nibble tiles above: a grid
/// over (expert, blocks of `rows` weight rows) whose items list the slots
/// routed to their expert, so a decode step reads only the routed experts'
/// codes.
struct VectorizeRoutedNibbleMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeRoutedNibbleMatmul(MLIRContext *ctx,
                              const VectorizeNibbleMatmul &kernel)
      : OpRewritePattern(ctx), kernel(kernel) {}

  const VectorizeNibbleMatmul &kernel;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    auto quant = op->getAttrOfType<QuantAttr>("chimera.quant");
    if (!kernel.takes(quant) || !op.hasPureBufferSemantics() ||
        op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
        op.getNumLoops() != 4)
      return failure();
    std::optional<bool> perSlot = routedInputPerSlot(op);
    if (!perSlot)
      return failure();
    bool inPerSlot = *perSlot;
    Value in = op.getDpsInputs()[0], ids = op.getDpsInputs()[1],
          out = op.getDpsInits()[0];
    auto inType = cast<MemRefType>(in.getType());
    auto outType = cast<MemRefType>(out.getType());
    auto idsType = cast<MemRefType>(ids.getType());
    int64_t k = inType.getShape().back(), group = quant.getGroupSize();
    if (ShapedType::isDynamic(k) || k % group != 0 ||
        !inType.getLayout().isIdentity() || !outType.getLayout().isIdentity() ||
        !idsType.getLayout().isIdentity() || !inType.getElementType().isF32() ||
        !outType.getElementType().isF32() ||
        ShapedType::isDynamic(idsType.getDimSize(1)))
      return failure();
    // The body loads the codes [E, N, K/2], then the group scales [E, N,
    // K/G] (f32, or i8 exponents for mxfp4), then fp4_m0e4's offsets shaped
    // as the scales; all are views of the archive defined outside the op.
    Value codes;
    SmallVector<Value, 2> perGroup;
    for (auto load : op.getRegion().front().getOps<memref::LoadOp>()) {
      auto type = cast<MemRefType>(load.getMemRef().getType());
      if (type.getRank() != 3 || !type.hasStaticShape() ||
          !type.getLayout().isIdentity() ||
          op->isAncestor(load.getMemRef().getParentRegion()->getParentOp()))
        return failure();
      if (!codes && type.getElementType().isInteger(8) &&
          type.getDimSize(2) == k / 2)
        codes = load.getMemRef();
      else if (type.getDimSize(2) == k / group)
        perGroup.push_back(load.getMemRef());
      else
        return failure();
    }
    if (!codes || perGroup.size() != (quant.hasOffsets() ? 2u : 1u))
      return failure();
    auto codesType = cast<MemRefType>(codes.getType());
    int64_t experts = codesType.getDimSize(0), n = codesType.getDimSize(1);
    for (Value v : perGroup) {
      auto type = cast<MemRefType>(v.getType());
      if (type.getDimSize(0) != experts || type.getDimSize(1) != n)
        return failure();
    }

    Location loc = op.getLoc();
    RoutedViews views = routedViews(rewriter, loc, in, ids, out, inPerSlot);
    auto item = [&](OpBuilder &b, Value e, Value item, Value perPanel,
                    Value list, Value count, Value buf) {
      VectorizeNibbleMatmul::Operands ops{
          quant,
          views.x,
          expertSlice(b, loc, codes, e),
          expertSlice(b, loc, perGroup[0], e),
          quant.hasOffsets() ? expertSlice(b, loc, perGroup[1], e) : Value(),
          views.out,
          n,
          k,
          list,
          inPerSlot ? 1 : idsType.getDimSize(1)};
      kernel.emitItem(b, loc, ops, item, perPanel, count, buf);
    };
    kernel.f32Kernel.emitRoutedGrid(rewriter, loc, experts, n,
                                    VectorizeNibbleMatmul::kPackMinRows, views,
                                    item);
    rewriter.eraseOp(op);
    return success();
  }
};

struct VectorizeMatmulsPass
    : public impl::VectorizeMatmulsBase<VectorizeMatmulsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (vectorWidth < 1 || rows < 1 || cols < 1 || kChunk < vectorWidth) {
      getOperation()->emitError(
          "chimera-vectorize-matmuls: vector-width, rows and cols must be "
          ">= 1 and k-chunk >= vector-width");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    int64_t chunk = kChunk / vectorWidth * vectorWidth;
    VectorizeMatmul kernel(&getContext(), vectorWidth, rows, cols, chunk);
    patterns.add<VectorizeMatmul>(&getContext(), vectorWidth, rows, cols,
                                  chunk);
    patterns.add<VectorizeRoutedMatmul>(&getContext(), kernel);
    VectorizeNibbleMatmul nibble(&getContext(), kernel, tableLookups);
    patterns.add<VectorizeNibbleMatmul>(&getContext(), kernel, tableLookups);
    patterns.add<VectorizeRoutedNibbleMatmul>(&getContext(), nibble);
    if (int8Activations)
      populateVnniMatmulPatterns(patterns, rows, cols);
    // One rewrite per matmul; the kernels it creates never match again.
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace
} // namespace mlir::chimera
