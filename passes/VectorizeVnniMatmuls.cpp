//===- VectorizeVnniMatmuls.cpp - int4/int8 x int8 kernels with VNNI -----===//
//
// The int4 and int8 matmuls of `chimera-vectorize-matmuls` with int8
// activations, the form llama.cpp's Q4_0/Q8_0 kernels take: converting
// every code to f32 costs a conversion and an FMA per weight (and an unpack
// per pair of 4-bit ones), while AVX512-VNNI's `vpdpbusd` multiplies 64
// unsigned bytes by 64 signed bytes and adds each four products into an
// i32 lane in one instruction.
//
// Before the grid, one kernel quantises each x row in blocks of 32 (scale
// max|x|/127, codes rounded to even), per 64 elements ("step") in the order
// the weights load: a step's 32 int4 code bytes hold elements 2c (low
// nibble) and 2c+1 (high nibble), so the weight vector is [low nibbles,
// high nibbles] and x is stored as [even elements, odd elements]; int8
// weights are in order and so is x. An i32 lane then covers 4 elements of
// one x block and one weight group (groups are multiples of 32), and per
// step the kernel stores beside the codes
//   * the lanes' x scales (int4: [d0 ×4, d1 ×4, d0 ×4, d1 ×4]; int8:
//     [d0 ×8, d1 ×8]), and
//   * −o·Σ of each lane's four codes: the weights are read as unsigned
//     u = code + o (int4: o = 8, one xor with 0x88 flips both nibbles;
//     int8: o = 128, an xor with 0x80), and starting vpdpbusd from that
//     lane bias gives Σ x·(u − o) with no further work.
// The tile loop is the dot-product tile of the f32 kernel: per step and
// weight row one load (and for int4 an unpack), per pair of rows one
// vpdpbusd, a conversion and one FMA with the lanes' scale (int4: weight ×
// x scale per group; int8: x scale, the row's scale multiplying its sum).
// One x row (decode) takes the item's weight rows one at a time, so that
// they are read as one contiguous stream, each row prefetching the one
// kAheadBytes further on.
//
// From 32 x rows (N a multiple of 32) a packed broadcast-form kernel takes
// over: x is quantised in order with a scale and bias per block of 32, each
// grid item unpacks its 32 weight rows into a stack panel of i32 words (4
// weights of one row; the 32 rows side by side), and per word of x one
// broadcast meets two panel vectors in two vpdpbusd: 16 outputs each, no
// horizontal sums, one conversion per block. Routed experts use it for the
// experts with 32 slots or more of a prefill.
//
//===----------------------------------------------------------------------===//
#include "passes/MatmulLoops.h"
#include "passes/Passes.h"

#include "dialects/chimera/ChimeraAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::chimera {
namespace {

constexpr int64_t kStep = 64;  // K elements per vpdpbusd
constexpr int64_t kBlock = 32; // x elements per scale
constexpr int64_t kLanes = 16; // i32 / f32 lanes of a 512-bit vector

struct VectorizeInt4DotMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeInt4DotMatmul(MLIRContext *ctx, int64_t rows, int64_t cols)
      : OpRewritePattern(ctx, /*benefit=*/2), rows(rows), cols(cols) {}

  int64_t rows, cols;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    // Before anything is created in front of `op`.
    linalg::FillOp fill = zeroFillOfInit(op);
    auto quant = op->getAttrOfType<QuantAttr>("chimera.quant");
    if (!quant || quant.getScheme() != QuantScheme::Int4 ||
        quant.hasOffsets() || !op.hasPureBufferSemantics() ||
        op.getNumDpsInputs() != 4 || op.getNumDpsInits() != 1)
      return failure();
    int64_t group = quant.getGroupSize();
    if (group != kBlock && group % kStep != 0)
      return failure();
    Value x = op.getDpsInputs()[0], codes = op.getDpsInputs()[2],
          scales = op.getDpsInputs()[3], out = op.getDpsInits()[0];
    auto xType = cast<MemRefType>(x.getType());
    auto outType = cast<MemRefType>(out.getType());
    auto codesType = cast<MemRefType>(codes.getType());
    unsigned r = outType.getRank();
    if (op.getDpsInputs()[1] != x || (r != 2 && r != 3) ||
        xType.getRank() != r + 1 || codesType.getRank() != 3 ||
        !codesType.hasStaticShape() || !codesType.getLayout().isIdentity() ||
        !xType.getLayout().isIdentity() || !outType.getLayout().isIdentity() ||
        !xType.getElementType().isF32() || !outType.getElementType().isF32())
      return failure();
    int64_t n = codesType.getDimSize(0);
    int64_t k = codesType.getDimSize(1) * group;
    // K is a multiple of the group, so of 32; a last half step (K = 64·s +
    // 32, groups of 32) is read with masks and its missing x block is 0.
    int64_t steps = llvm::divideCeil(k, kStep);
    bool halfTail = k % kStep != 0;

    Location loc = op.getLoc();
    // x as [M, K], out as [M, N], codes as [N, K/2].
    SmallVector<ReassociationIndices> xGroups =
        r == 3 ? SmallVector<ReassociationIndices>{{0, 1}, {2, 3}}
               : SmallVector<ReassociationIndices>{{0}, {1, 2}};
    x = memref::CollapseShapeOp::create(rewriter, loc, x, xGroups);
    if (r == 3)
      out = memref::CollapseShapeOp::create(
          rewriter, loc, out, SmallVector<ReassociationIndices>{{0, 1}, {2}});
    codes = memref::CollapseShapeOp::create(
        rewriter, loc, codes, SmallVector<ReassociationIndices>{{0}, {1, 2}});
    Value m = memref::DimOp::create(rewriter, loc, x, 0);
    Operands ops{{}, {}, {}, codes, scales, out, steps, group, halfTail, n};
    ops.k = k;
    if (fill) {
      ops.zeroInit = true;
      rewriter.eraseOp(fill);
    }
    emitDense(rewriter, loc, x, m, ops);
    rewriter.eraseOp(op);
    return success();
  }

  struct Operands {
    Value xq, bias, xScale, codes, scales, out;
    int64_t steps, group;
    bool halfTail;
    int64_t n;
    /// When set, tile row p is out row rowList[p] and x row
    /// rowList[p] / xRowDiv (the slots routed to one expert).
    Value rowList = {};
    int64_t xRowDiv = 1;
    /// int8 weights [N, K] with `scales` [N] (one per output row, applied
    /// to each output's sum) instead of int4 codes [N, K/2] in groups.
    bool int8Weights = false;
    /// K (elements).
    int64_t k = 0;
    /// x was quantised in order (not as [even, odd] per step): int4 tiles
    /// then interleave the unpacked nibbles back into order.
    bool inOrder = false;
    /// The output's zero fill was dropped: the first K chunk stores.
    bool zeroInit = false;
  };

  /// The packed kernel's panel (weight rows per grid item, two vectors of
  /// lanes), x rows per tile, K per packed chunk, and the fewest x rows
  /// that take it.
  static constexpr int64_t kPanel = 32, kPackRows = 6, kPackK = 256,
                           kPackMinRows = 32;
  /// How far ahead of the row it reads a decode item prefetches, in code
  /// bytes (rounded up to whole rows). 4 rows (1 KiB for jamba-tiny's K =
  /// 512) left the loads waiting: its int4a8 decode went 325 → 350
  /// tokens/s with 12 to 48 rows (medians of 6 alternated, session 18).
  static constexpr int64_t kAheadBytes = 4096;

  /// A dense matmul: x quantised, then the dot-product grid, or, for at
  /// least kPackMinRows x rows (and N a multiple of the panel), the packed
  /// broadcast-form grid. `ops` holds the weights and out; the x buffers
  /// are made here.
  void emitDense(OpBuilder &rewriter, Location loc, Value x, Value m,
                 Operands ops) const {
    auto c = [&](OpBuilder &b, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Type i32 = rewriter.getI32Type(), f32 = rewriter.getF32Type();
    auto alloc = [&](OpBuilder &b, ArrayRef<int64_t> shape,
                     Type type) -> Value {
      return memref::AllocOp::create(b, loc, MemRefType::get(shape, type),
                                     ValueRange{m});
    };
    int64_t dyn = ShapedType::kDynamic;
    ops.xq = alloc(rewriter, {dyn, ops.steps, kLanes}, i32);
    ops.bias = alloc(rewriter, {dyn, ops.steps, kLanes}, i32);
    ops.xScale = alloc(rewriter, {dyn, ops.steps, kLanes}, f32);
    auto grid = [&](OpBuilder &b, int64_t items) {
      auto loop =
          scf::ParallelOp::create(b, loc, ValueRange{c(b, 0)},
                                  ValueRange{c(b, items)}, ValueRange{c(b, 1)});
      markWorkItems(loop, "matmul");
      return loop;
    };
    auto dot = [&](OpBuilder &b) {
      quantizeRows(b, loc, x, m, ops.steps, ops.halfTail, ops.xq, ops.bias,
                   ops.xScale, ops.int8Weights);
      auto g = grid(b, llvm::divideCeil(ops.n, rows));
      OpBuilder ib = OpBuilder::atBlockBegin(g.getBody());
      emitItem(ib, loc, ops, g.getInductionVars()[0], m);
    };
    if (ops.n % kPanel != 0) {
      dot(rewriter);
    } else {
      Value many =
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sge, m,
                                c(rewriter, kPackMinRows));
      auto branch = scf::IfOp::create(rewriter, loc, many, /*withElse=*/true);
      OpBuilder tb = branch.getThenBodyBuilder();
      Value blockScale = alloc(tb, {dyn, 2 * ops.steps}, f32);
      Value blockBias = alloc(tb, {dyn, 2 * ops.steps}, i32);
      quantizeRows(tb, loc, x, m, ops.steps, ops.halfTail, ops.xq, ops.bias,
                   ops.xScale, ops.int8Weights, blockScale, blockBias,
                   /*inOrder=*/true);
      auto g = grid(tb, ops.n / kPanel);
      OpBuilder ib = OpBuilder::atBlockBegin(g.getBody());
      emitPackedItem(ib, loc, ops, g.getInductionVars()[0], m, blockScale,
                     blockBias);
      memref::DeallocOp::create(tb, loc, blockScale);
      memref::DeallocOp::create(tb, loc, blockBias);
      OpBuilder eb = branch.getElseBodyBuilder();
      dot(eb);
    }
    for (Value buffer : {ops.xq, ops.bias, ops.xScale})
      memref::DeallocOp::create(rewriter, loc, buffer);
  }

  /// Grid item `item` of the packed kernel: out[:, n0 : n0+32] for all m x
  /// rows, n0 = 32·item. Per K chunk the panel's codes are unpacked to one
  /// unsigned byte per weight (int4: the offset-binary nibbles, int8: the
  /// code xor 0x80) and stored 4 consecutive K per i32 word, the 32 rows of
  /// a word side by side: one 64-byte load then holds 4 weights of 16 rows.
  /// Each tile of kPackRows x rows keeps per block of 32 two i32 vectors per
  /// row, started from the row's block bias, and per word of x (4 codes,
  /// broadcast) one vpdpbusd per vector: 16 outputs per instruction, no
  /// horizontal sums. At the block's end the i32 sums are converted and
  /// scaled into f32 accumulators (int4: weight × x scale; int8: x scale,
  /// the rows' scales on the chunk's sums).
  void emitPackedItem(OpBuilder &b, Location loc, const Operands &ops,
                      Value item, Value m, Value blockScale,
                      Value blockBias) const {
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    Type f32 = b.getF32Type(), i32 = b.getI32Type(), i8 = b.getI8Type();
    auto vec = VectorType::get({kLanes}, f32);
    auto ivec = VectorType::get({kLanes}, i32);
    auto bytes64 = VectorType::get({kStep}, i8);
    auto bytes32 = VectorType::get({kBlock}, i8);
    auto bytes16 = VectorType::get({kBlock / 2}, i8);
    Value n0 = arith::MulIOp::create(b, loc, item, c(b, kPanel));
    constexpr int64_t kWords = kBlock / 4; // i32 words of x per block
    Value wbuf = memref::AllocaOp::create(
        b, loc, MemRefType::get({kPackK / 4, kPanel}, i32), ValueRange{},
        b.getI64IntegerAttr(64));
    Value sbuf =
        ops.int8Weights
            ? Value()
            : Value(memref::AllocaOp::create(
                  b, loc, MemRefType::get({kPackK / kBlock, kPanel}, f32),
                  ValueRange{}, b.getI64IntegerAttr(64)));
    SmallVector<int64_t> interleave;
    for (int64_t i = 0; i < kBlock / 2; ++i) {
      interleave.push_back(i);
      interleave.push_back(i + kBlock / 2);
    }
    auto chunk = [&](OpBuilder &sb, Value k0, int64_t kc) {
      int64_t blocks = kc / kBlock;
      Value block0 = arith::DivUIOp::create(sb, loc, k0, c(sb, kBlock));
      // Pack: per weight row and block, one load, the unpack, 8 stores.
      auto pack =
          scf::ForOp::create(sb, loc, c(sb, 0), c(sb, kPanel), c(sb, 1));
      {
        OpBuilder pb = OpBuilder::atBlockBegin(pack.getBody());
        Value j = pack.getInductionVar();
        Value row = arith::AddIOp::create(pb, loc, n0, j);
        auto bl =
            scf::ForOp::create(pb, loc, c(pb, 0), c(pb, blocks), c(pb, 1));
        OpBuilder kb = OpBuilder::atBlockBegin(bl.getBody());
        Value at = arith::AddIOp::create(
            kb, loc, k0,
            arith::MulIOp::create(kb, loc, bl.getInductionVar(),
                                  c(kb, kBlock)));
        Value w;
        if (ops.int8Weights) {
          w = vector::LoadOp::create(kb, loc, bytes32, ops.codes,
                                     ValueRange{row, at});
          w = arith::XOrIOp::create(
              kb, loc, w, splat(kb, loc, bytes32, kb.getI8IntegerAttr(-128)));
        } else {
          Value q = vector::LoadOp::create(
              kb, loc, bytes16, ops.codes,
              ValueRange{row, arith::DivUIOp::create(kb, loc, at, c(kb, 2))});
          w = unpackNibbles(kb, loc, q, interleave);
          Value scale = memref::LoadOp::create(
              kb, loc, ops.scales,
              ValueRange{
                  row, arith::DivUIOp::create(kb, loc, at, c(kb, ops.group))});
          memref::StoreOp::create(kb, loc, scale, sbuf,
                                  ValueRange{bl.getInductionVar(), j});
        }
        Value words = vector::BitCastOp::create(
            kb, loc, VectorType::get({kWords}, i32), w);
        Value word0 =
            arith::MulIOp::create(kb, loc, bl.getInductionVar(), c(kb, kWords));
        for (int64_t i = 0; i < kWords; ++i)
          memref::StoreOp::create(
              kb, loc,
              vector::ExtractOp::create(kb, loc, words, ArrayRef<int64_t>{i}),
              wbuf,
              ValueRange{arith::AddIOp::create(kb, loc, word0, c(kb, i)), j});
      }
      auto tile = [&](OpBuilder &tb, Value m0, int64_t mr) {
        // x rows (of xq and the block scales and biases) and out rows,
        // through the routing list when there is one.
        SmallVector<Value> xr, outRows;
        tileRows(tb, loc, m0, mr, ops.rowList, ops.xRowDiv, xr, outRows);
        Value zero = splat(tb, loc, vec, tb.getF32FloatAttr(0));
        SmallVector<Value> init(2 * mr, zero);
        auto blockLoop = scf::ForOp::create(
            tb, loc, c(tb, 0), c(tb, blocks), c(tb, 1), init,
            [&](OpBuilder &lb, Location, Value bl, ValueRange acc) {
              Value blk = arith::AddIOp::create(lb, loc, block0, bl);
              Value step = arith::DivUIOp::create(lb, loc, blk, c(lb, 2));
              Value wordBase = arith::MulIOp::create(
                  lb, loc, arith::RemUIOp::create(lb, loc, blk, c(lb, 2)),
                  c(lb, kWords));
              // x row i's value for this block (its bias or scale), in
              // every lane.
              auto perBlock = [&](Value buf, VectorType type, int64_t i) {
                return vector::BroadcastOp::create(
                    lb, loc, type,
                    memref::LoadOp::create(lb, loc, buf,
                                           ValueRange{xr[i], blk}));
              };
              SmallVector<Value> sums;
              for (int64_t i = 0; i < mr; ++i) {
                Value bias = perBlock(blockBias, ivec, i);
                sums.push_back(bias);
                sums.push_back(bias);
              }
              Value wordRow = arith::MulIOp::create(lb, loc, bl, c(lb, kWords));
              for (int64_t wd = 0; wd < kWords; ++wd) {
                Value kw = arith::AddIOp::create(lb, loc, wordRow, c(lb, wd));
                Value w[2];
                for (int64_t h = 0; h < 2; ++h)
                  w[h] = vector::BitCastOp::create(
                      lb, loc, bytes64,
                      vector::LoadOp::create(
                          lb, loc, ivec, wbuf,
                          ValueRange{kw, c(lb, h * kLanes)}));
                Value xw = arith::AddIOp::create(lb, loc, wordBase, c(lb, wd));
                for (int64_t i = 0; i < mr; ++i) {
                  Value xs = vector::BitCastOp::create(
                      lb, loc, bytes64,
                      vector::BroadcastOp::create(
                          lb, loc, ivec,
                          memref::LoadOp::create(lb, loc, ops.xq,
                                                 ValueRange{xr[i], step, xw})));
                  for (int64_t h = 0; h < 2; ++h)
                    sums[2 * i + h] =
                        dotBytes(lb, loc, sums[2 * i + h], w[h], xs);
                }
              }
              Value sw[2];
              if (!ops.int8Weights)
                for (int64_t h = 0; h < 2; ++h)
                  sw[h] = vector::LoadOp::create(
                      lb, loc, vec, sbuf, ValueRange{bl, c(lb, h * kLanes)});
              SmallVector<Value> next;
              for (int64_t i = 0; i < mr; ++i) {
                Value sx = perBlock(blockScale, vec, i);
                for (int64_t h = 0; h < 2; ++h) {
                  Value scale =
                      ops.int8Weights
                          ? sx
                          : Value(arith::MulFOp::create(lb, loc, sw[h], sx));
                  next.push_back(vector::FMAOp::create(
                      lb, loc,
                      arith::SIToFPOp::create(lb, loc, vec, sums[2 * i + h]),
                      scale, acc[2 * i + h]));
                }
              }
              scf::YieldOp::create(lb, loc, next);
            });
        for (int64_t h = 0; h < 2; ++h) {
          Value col =
              h ? arith::AddIOp::create(tb, loc, n0, c(tb, kLanes)) : n0;
          Value rowScale = ops.int8Weights
                               ? Value(vector::LoadOp::create(
                                     tb, loc, vec, ops.scales, ValueRange{col}))
                               : Value();
          for (int64_t i = 0; i < mr; ++i) {
            Value sum = blockLoop.getResult(2 * i + h);
            if (rowScale)
              sum = arith::MulFOp::create(tb, loc, sum, rowScale);
            addInto(tb, loc, sum, ops.out, ValueRange{outRows[i], col},
                    isFirstChunk(tb, loc, ops.zeroInit, k0));
          }
        }
      };
      forTilesThenRest(sb, loc, m, kPackRows, tile);
    };
    forChunks(b, loc, ops.k, kPackK, chunk);
  }

  /// Grid item `item`: weight rows [item·rows, +rows) against x rows
  /// [0, count), in tiles of `cols` x rows and then singly.
  void emitItem(OpBuilder &b, Location loc, const Operands &ops, Value item,
                Value count) const {
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    Value n0 = arith::MulIOp::create(b, loc, item, c(b, rows));
    auto weightRows = [&](OpBuilder &wb, int64_t nr, int64_t total) {
      for (int64_t g0 = 0; g0 < total; g0 += nr) {
        Value first = g0 ? arith::AddIOp::create(wb, loc, n0, c(wb, g0)) : n0;
        Value rem = arith::RemUIOp::create(wb, loc, count, c(wb, cols));
        Value full = arith::SubIOp::create(wb, loc, count, rem);
        auto tiles = scf::ForOp::create(wb, loc, c(wb, 0), full, c(wb, cols));
        OpBuilder tb = OpBuilder::atBlockBegin(tiles.getBody());
        emitTile(tb, loc, ops, tiles.getInductionVar(), cols, first, nr);
        auto tail = scf::ForOp::create(wb, loc, full, count, c(wb, 1));
        OpBuilder lb = OpBuilder::atBlockBegin(tail.getBody());
        emitTile(lb, loc, ops, tail.getInductionVar(), 1, first, nr);
      }
    };
    // Decode (one x row) takes the item's weight rows one after the other:
    // they are one contiguous run, read front to back, where a tile's
    // `rows` rows read side by side are as many streams of K bytes, too
    // short for the hardware prefetcher (int4a8 llama-125m: 384 bytes).
    auto wholeItem = [&](OpBuilder &wb) {
      Value one = arith::CmpIOp::create(wb, loc, arith::CmpIPredicate::eq,
                                        count, c(wb, 1));
      auto branch = scf::IfOp::create(wb, loc, one, /*withElse=*/true);
      OpBuilder tb = branch.getThenBodyBuilder();
      auto each = scf::ForOp::create(tb, loc, c(tb, 0), c(tb, rows), c(tb, 1));
      OpBuilder lb = OpBuilder::atBlockBegin(each.getBody());
      Value row = arith::AddIOp::create(lb, loc, n0, each.getInductionVar());
      // An item is `rows` rows: a few KiB, over before the hardware
      // prefetcher has ramped up. Prefetch the row kAheadBytes further on,
      // which runs into the next items (the same thread's next, within its
      // share of the grid).
      int64_t rowBytes = ops.int8Weights ? ops.k : ops.k / 2;
      Value ahead = arith::MinUIOp::create(
          lb, loc,
          arith::AddIOp::create(lb, loc, row,
                                c(lb, llvm::divideCeil(kAheadBytes, rowBytes))),
          c(lb, ops.n - 1));
      auto lines =
          scf::ForOp::create(lb, loc, c(lb, 0), c(lb, rowBytes), c(lb, 64));
      OpBuilder pb = OpBuilder::atBlockBegin(lines.getBody());
      memref::PrefetchOp::create(pb, loc, ops.codes,
                                 ValueRange{ahead, lines.getInductionVar()},
                                 /*isWrite=*/false, /*localityHint=*/3,
                                 /*isDataCache=*/true);
      emitTile(lb, loc, ops, c(lb, 0), 1, row, 1);
      OpBuilder eb = branch.getElseBodyBuilder();
      weightRows(eb, rows, rows);
    };
    int64_t fullItems = ops.n / rows;
    if (fullItems * rows == ops.n) {
      wholeItem(b);
      return;
    }
    Value isFull = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                         item, c(b, fullItems));
    auto branch = scf::IfOp::create(b, loc, isFull, /*withElse=*/true);
    OpBuilder tb = branch.getThenBodyBuilder();
    wholeItem(tb);
    OpBuilder eb = branch.getElseBodyBuilder();
    weightRows(eb, 1, ops.n - fullItems * rows);
  }

  static Value splat(OpBuilder &b, Location loc, VectorType type,
                     Attribute value) {
    return arith::ConstantOp::create(b, loc, type,
                                     DenseElementsAttr::get(type, value));
  }

  /// The offset-binary weights of int4 codes `q` (two per byte): both
  /// nibbles xor 8 with one xor by 0x88, split into [low nibbles, high
  /// nibbles] and put in `order` (indices into that concatenation).
  static Value unpackNibbles(OpBuilder &b, Location loc, Value q,
                             ArrayRef<int64_t> order) {
    auto type = cast<VectorType>(q.getType());
    q = arith::XOrIOp::create(b, loc, q,
                              splat(b, loc, type, b.getI8IntegerAttr(0x88)));
    Value lo = arith::AndIOp::create(
        b, loc, q, splat(b, loc, type, b.getI8IntegerAttr(15)));
    Value hi = arith::ShRUIOp::create(
        b, loc, q, splat(b, loc, type, b.getI8IntegerAttr(4)));
    return vector::ShuffleOp::create(b, loc, lo, hi, order);
  }

  /// acc + Σ over each lane's four byte pairs of u[i]·s[i] (u unsigned,
  /// s signed): AVX512-VNNI's vpdpbusd.
  static Value dotBytes(OpBuilder &b, Location loc, Value acc, Value u,
                        Value s) {
    return LLVM::CallIntrinsicOp::create(
               b, loc, acc.getType(),
               b.getStringAttr("llvm.x86.avx512.vpdpbusd.512"),
               ValueRange{acc, u, s})
        .getResult(0);
  }

  /// The x rows as int8 steps, their lane biases and lane scales.
  void quantizeRows(OpBuilder &rewriter, Location loc, Value x, Value m,
                    int64_t steps, bool halfTail, Value xq, Value bias,
                    Value xScale, bool int8Weights = false,
                    Value blockScale = {}, Value blockBias = {},
                    bool inOrder = false) const {
    // x is stored in order for int8 weights and for the packed kernel, as
    // [even, odd] elements per step for the int4 dot-product tiles.
    inOrder = inOrder || int8Weights;
    auto c = [&](OpBuilder &b, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    auto rowsLoop =
        scf::ParallelOp::create(rewriter, loc, ValueRange{c(rewriter, 0)},
                                ValueRange{m}, ValueRange{c(rewriter, 1)});
    markWorkItems(rowsLoop, "quantize_x");
    OpBuilder rb = OpBuilder::atBlockBegin(rowsLoop.getBody());
    Value row = rowsLoop.getInductionVars()[0];
    auto stepLoop =
        scf::ForOp::create(rb, loc, c(rb, 0), c(rb, steps), c(rb, 1));
    OpBuilder b = OpBuilder::atBlockBegin(stepLoop.getBody());
    Value s = stepLoop.getInductionVar();
    Type f32 = b.getF32Type();
    auto vec = VectorType::get({kLanes}, f32);
    auto ivec = VectorType::get({kLanes}, b.getI32Type());
    auto bytes16 = VectorType::get({kLanes}, b.getI8Type());
    auto bytes64 = VectorType::get({kStep}, b.getI8Type());
    Value base = arith::MulIOp::create(b, loc, s, c(b, kStep));
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
    // In a last half step, the second block's loads are masked off.
    Value inSecond;
    if (halfTail)
      inSecond = vector::BroadcastOp::create(
          b, loc, VectorType::get({kLanes}, b.getI1Type()),
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, s,
                                c(b, steps - 1)));
    SmallVector<Value> v;
    for (int64_t i = 0; i < kStep / kLanes; ++i) {
      Value at = arith::AddIOp::create(b, loc, base, c(b, i * kLanes));
      if (halfTail && i >= 2)
        v.push_back(vector::MaskedLoadOp::create(
            b, loc, vec, x, ValueRange{row, at}, inSecond,
            vector::BroadcastOp::create(b, loc, vec, zero)));
      else
        v.push_back(
            vector::LoadOp::create(b, loc, vec, x, ValueRange{row, at}));
    }
    // No NaN: x86's vmaxps is not maxnum on NaN, so without nnan the
    // reduction lowers to a scalar chain of compares and blends.
    auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::nnan;
    Value limit = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(127));
    SmallVector<Value> scale, inverse;
    for (int64_t h = 0; h < 2; ++h) {
      Value amax = arith::MaximumFOp::create(
          b, loc, math::AbsFOp::create(b, loc, v[2 * h]),
          math::AbsFOp::create(b, loc, v[2 * h + 1]));
      amax = vector::ReductionOp::create(b, loc, vector::CombiningKind::MAXNUMF,
                                         amax, Value(), fast);
      scale.push_back(arith::DivFOp::create(b, loc, amax, limit));
      // An all-zero block has scale 0 and codes 0.
      Value isZero =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, amax, zero);
      inverse.push_back(arith::SelectOp::create(
          b, loc, isZero, zero, arith::DivFOp::create(b, loc, limit, amax)));
    }
    SmallVector<int64_t> even, odd, low, concat;
    for (int64_t i = 0; i < kLanes; ++i) {
      even.push_back(2 * i);
      odd.push_back(2 * i + 1);
    }
    for (int64_t i = 0; i < 2 * kLanes; ++i)
      low.push_back(i);
    for (int64_t i = 0; i < kStep; ++i)
      concat.push_back(i);
    auto quantize = [&](Value values, Value inv) -> Value {
      Value scaled = arith::MulFOp::create(
          b, loc, values, vector::BroadcastOp::create(b, loc, vec, inv));
      Value rounded = math::RoundEvenOp::create(b, loc, scaled);
      return arith::TruncIOp::create(
          b, loc, bytes16, arith::FPToSIOp::create(b, loc, ivec, rounded));
    };
    // Block 0 is elements [0, 32), block 1 [32, 64) of the step. int4
    // weights unpack as [even elements, odd elements], int8 weights are in
    // order.
    Value codes;
    if (inOrder) {
      Value first = vector::ShuffleOp::create(
          b, loc, quantize(v[0], inverse[0]), quantize(v[1], inverse[0]), low);
      Value second = vector::ShuffleOp::create(
          b, loc, quantize(v[2], inverse[1]), quantize(v[3], inverse[1]), low);
      codes = vector::ShuffleOp::create(b, loc, first, second, concat);
    } else {
      Value evens = vector::ShuffleOp::create(
          b, loc,
          quantize(vector::ShuffleOp::create(b, loc, v[0], v[1], even),
                   inverse[0]),
          quantize(vector::ShuffleOp::create(b, loc, v[2], v[3], even),
                   inverse[1]),
          low);
      Value odds = vector::ShuffleOp::create(
          b, loc,
          quantize(vector::ShuffleOp::create(b, loc, v[0], v[1], odd),
                   inverse[0]),
          quantize(vector::ShuffleOp::create(b, loc, v[2], v[3], odd),
                   inverse[1]),
          low);
      codes = vector::ShuffleOp::create(b, loc, evens, odds, concat);
    }
    Value zeroIdx = c(b, 0);
    vector::StoreOp::create(b, loc,
                            vector::BitCastOp::create(b, loc, ivec, codes), xq,
                            ValueRange{row, s, zeroIdx});
    // −o·Σ per lane, o the weights' offset (int4: 8; int8: 128, the codes
    // read as unsigned after an xor with 0x80): vpdpbusd of the codes with
    // bytes of o, from 0, negated.
    Value offsets =
        splat(b, loc, bytes64, b.getI8IntegerAttr(int8Weights ? -128 : 8));
    Value izero = splat(b, loc, ivec, b.getI32IntegerAttr(0));
    Value laneBias = arith::SubIOp::create(
        b, loc, izero, dotBytes(b, loc, izero, offsets, codes));
    vector::StoreOp::create(b, loc, laneBias, bias,
                            ValueRange{row, s, zeroIdx});
    // [even, odd] order: lanes 0-3 and 8-11 are block 0's, 4-7 and 12-15
    // block 1's; in order: lanes 0-7 block 0's.
    SmallVector<int64_t> pick;
    for (int64_t i = 0; i < kLanes; ++i)
      pick.push_back((inOrder ? i / 8 : (i / 4) % 2) ? kLanes : 0);
    Value laneScale = vector::ShuffleOp::create(
        b, loc, vector::BroadcastOp::create(b, loc, vec, scale[0]),
        vector::BroadcastOp::create(b, loc, vec, scale[1]), pick);
    vector::StoreOp::create(b, loc, laneScale, xScale,
                            ValueRange{row, s, zeroIdx});
    if (!blockScale)
      return;
    // Per block of 32 (the packed kernel's operands, x in order): its scale
    // and −o·Σ of its codes.
    for (int64_t h = 0; h < 2; ++h) {
      Value block = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, s, c(b, 2)), c(b, h));
      memref::StoreOp::create(b, loc, scale[h], blockScale,
                              ValueRange{row, block});
      Value half = vector::ExtractStridedSliceOp::create(
          b, loc, laneBias, ArrayRef<int64_t>{h * kLanes / 2},
          ArrayRef<int64_t>{kLanes / 2}, ArrayRef<int64_t>{1});
      memref::StoreOp::create(
          b, loc,
          vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, half),
          blockBias, ValueRange{row, block});
    }
  }

  /// `mr` x rows from `m0` by `nr` weight rows from `n0`, added into out.
  void emitTile(OpBuilder &b, Location loc, const Operands &ops, Value m0,
                int64_t mr, Value n0, int64_t nr) const {
    Type f32 = b.getF32Type(), i8 = b.getI8Type();
    auto vec = VectorType::get({kLanes}, f32);
    auto ivec = VectorType::get({kLanes}, b.getI32Type());
    auto bytes32 = VectorType::get({kStep / 2}, i8);
    auto bytes64 = VectorType::get({kStep}, i8);
    auto c = [&](OpBuilder &bb, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(bb, loc, v);
    };
    SmallVector<Value> ms, outRows, ns;
    tileRows(b, loc, m0, mr, ops.rowList, ops.xRowDiv, ms, outRows);
    for (int64_t j = 0; j < nr; ++j)
      ns.push_back(j ? arith::AddIOp::create(b, loc, n0, c(b, j)) : n0);
    // The weight bytes' order: [low nibbles, high nibbles], or, against x
    // in order, the two interleaved.
    SmallVector<int64_t> unpacked, pick;
    for (int64_t i = 0; i < kStep / 2; ++i)
      unpacked.push_back(i);
    for (int64_t i = 0; i < kStep / 2; ++i)
      unpacked.push_back(kStep / 2 + i);
    if (ops.inOrder)
      for (int64_t i = 0; i < kStep; ++i)
        unpacked[i] = i % 2 ? kStep / 2 + i / 2 : i / 2;
    for (int64_t i = 0; i < kLanes; ++i)
      pick.push_back(ops.inOrder ? i / 8 : (i / 4) % 2);
    Value zero = splat(b, loc, vec, b.getF32FloatAttr(0));
    SmallVector<Value> init(mr * nr, zero);
    // One step of every accumulator; `half`: only the step's first 32
    // weights exist (the masked tail).
    auto step = [&](OpBuilder &lb, Value s, ValueRange acc,
                    bool half) -> SmallVector<Value> {
      SmallVector<Value> next(acc.begin(), acc.end());
      Value zeroIdx = c(lb, 0);
      SmallVector<Value> xv, bv, sv;
      for (Value row : ms) {
        xv.push_back(vector::BitCastOp::create(
            lb, loc, bytes64,
            vector::LoadOp::create(lb, loc, ivec, ops.xq,
                                   ValueRange{row, s, zeroIdx})));
        bv.push_back(vector::LoadOp::create(lb, loc, ivec, ops.bias,
                                            ValueRange{row, s, zeroIdx}));
        sv.push_back(vector::LoadOp::create(lb, loc, vec, ops.xScale,
                                            ValueRange{row, s, zeroIdx}));
      }
      Value byteAt = arith::MulIOp::create(lb, loc, s, c(lb, kStep / 2));
      // The scale of the step's first element's group, and for groups
      // of 32 the next group's too.
      Value group0 = arith::DivUIOp::create(
          lb, loc, arith::MulIOp::create(lb, loc, s, c(lb, kStep)),
          c(lb, ops.group));
      auto halfMask = [&](int64_t lanes, int64_t on) -> Value {
        return vector::ConstantMaskOp::create(
            lb, loc, VectorType::get({lanes}, lb.getI1Type()),
            ArrayRef<int64_t>{on});
      };
      for (int64_t j = 0; j < nr; ++j) {
        if (ops.int8Weights) {
          // 64 codes, read as unsigned (w + 128) after one xor; the row's
          // scale multiplies its sum at the end.
          Value at = arith::MulIOp::create(lb, loc, s, c(lb, kStep));
          Value q =
              half ? Value(vector::MaskedLoadOp::create(
                         lb, loc, bytes64, ops.codes, ValueRange{ns[j], at},
                         halfMask(kStep, kStep / 2),
                         splat(lb, loc, bytes64, lb.getI8IntegerAttr(0))))
                   : Value(vector::LoadOp::create(lb, loc, bytes64, ops.codes,
                                                  ValueRange{ns[j], at}));
          q = arith::XOrIOp::create(
              lb, loc, q, splat(lb, loc, bytes64, lb.getI8IntegerAttr(-128)));
          for (int64_t i = 0; i < mr; ++i) {
            Value dot = dotBytes(lb, loc, bv[i], q, xv[i]);
            Value f = arith::SIToFPOp::create(lb, loc, vec, dot);
            Value &a = next[i * nr + j];
            a = vector::FMAOp::create(lb, loc, f, sv[i], a);
          }
          continue;
        }
        Value q =
            half ? Value(vector::MaskedLoadOp::create(
                       lb, loc, bytes32, ops.codes, ValueRange{ns[j], byteAt},
                       halfMask(kStep / 2, kStep / 4),
                       splat(lb, loc, bytes32, lb.getI8IntegerAttr(0))))
                 : Value(vector::LoadOp::create(lb, loc, bytes32, ops.codes,
                                                ValueRange{ns[j], byteAt}));
        Value w = unpackNibbles(lb, loc, q, unpacked);
        Value wScale;
        if (ops.group == kBlock) {
          auto pairType = VectorType::get({2}, f32);
          Value pair =
              half ? Value(vector::MaskedLoadOp::create(
                         lb, loc, pairType, ops.scales,
                         ValueRange{ns[j], group0}, halfMask(2, 1),
                         splat(lb, loc, pairType, lb.getF32FloatAttr(0))))
                   : Value(vector::LoadOp::create(lb, loc, pairType, ops.scales,
                                                  ValueRange{ns[j], group0}));
          wScale = vector::ShuffleOp::create(lb, loc, pair, pair, pick);
        } else {
          wScale = vector::BroadcastOp::create(
              lb, loc, vec,
              memref::LoadOp::create(lb, loc, ops.scales,
                                     ValueRange{ns[j], group0}));
        }
        for (int64_t i = 0; i < mr; ++i) {
          Value dot = dotBytes(lb, loc, bv[i], w, xv[i]);
          Value f = arith::SIToFPOp::create(lb, loc, vec, dot);
          Value laneScale = arith::MulFOp::create(lb, loc, wScale, sv[i]);
          Value &a = next[i * nr + j];
          a = vector::FMAOp::create(lb, loc, f, laneScale, a);
        }
      }
      return next;
    };
    int64_t fullSteps = ops.steps - (ops.halfTail ? 1 : 0);
    auto loop = scf::ForOp::create(
        b, loc, c(b, 0), c(b, fullSteps), c(b, 1), init,
        [&](OpBuilder &lb, Location, Value s, ValueRange acc) {
          scf::YieldOp::create(lb, loc, step(lb, s, acc, /*half=*/false));
        });
    SmallVector<Value> sums(loop.getResults());
    if (ops.halfTail)
      sums = step(b, c(b, fullSteps), sums, /*half=*/true);
    auto fast = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    for (int64_t i = 0; i < mr; ++i)
      for (int64_t j = 0; j < nr; ++j) {
        Value sum =
            vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                        sums[i * nr + j], Value(), fast);
        if (ops.int8Weights)
          sum = arith::MulFOp::create(
              b, loc, sum,
              memref::LoadOp::create(b, loc, ops.scales, ValueRange{ns[j]}));
        // The whole of K is in this sum.
        addInto(b, loc, sum, ops.out, ValueRange{outRows[i], ns[j]},
                ops.zeroInit ? Value(arith::ConstantIntOp::create(b, loc, 1, 1))
                             : Value());
      }
  }
};

/// The int8 linear (`#chimera.quant<int8>`: out[..., n] += x[..., k] ·
/// scales[n] · q[n, k], the generic the lowering tags with its quant) with
/// x quantised the same way: per step and pair of rows one vpdpbusd, a
/// conversion and an FMA with the lanes' x scale; the row's scale
/// multiplies its sum once.
struct VectorizeInt8DotMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeInt8DotMatmul(MLIRContext *ctx, const VectorizeInt4DotMatmul &kernel)
      : OpRewritePattern(ctx, /*benefit=*/2), kernel(kernel) {}

  const VectorizeInt4DotMatmul &kernel;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    // Before anything is created in front of `op`.
    linalg::FillOp fill = zeroFillOfInit(op);
    auto quant = op->getAttrOfType<QuantAttr>("chimera.quant");
    if (!quant || quant.getScheme() != QuantScheme::Int8 ||
        !op.hasPureBufferSemantics() || op.getNumDpsInputs() != 3 ||
        op.getNumDpsInits() != 1 || op.getNumReductionLoops() != 1)
      return failure();
    Value x = op.getDpsInputs()[0], codes = op.getDpsInputs()[1],
          scales = op.getDpsInputs()[2], out = op.getDpsInits()[0];
    auto xType = cast<MemRefType>(x.getType());
    auto outType = cast<MemRefType>(out.getType());
    auto codesType = cast<MemRefType>(codes.getType());
    unsigned r = outType.getRank();
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    SmallVector<unsigned> xDims, outDims;
    for (unsigned i = 0; i + 1 < r; ++i)
      xDims.push_back(i);
    outDims = xDims;
    xDims.push_back(r);
    outDims.push_back(r - 1);
    if ((r != 2 && r != 3) || xType.getRank() != r ||
        codesType.getRank() != 2 || !codesType.hasStaticShape() ||
        !codesType.getLayout().isIdentity() ||
        !xType.getLayout().isIdentity() || !outType.getLayout().isIdentity() ||
        !xType.getElementType().isF32() || !outType.getElementType().isF32() ||
        !isDims(maps[0], xDims) || !isDims(maps[1], {r - 1, r}) ||
        !isDims(maps[2], {r - 1}) || !isDims(maps[3], outDims))
      return failure();
    int64_t n = codesType.getDimSize(0), k = codesType.getDimSize(1);
    if (k % kBlock != 0)
      return failure();
    int64_t steps = llvm::divideCeil(k, kStep);
    bool halfTail = k % kStep != 0;
    Location loc = op.getLoc();
    if (r == 3) {
      SmallVector<ReassociationIndices> flat = {{0, 1}, {2}};
      x = memref::CollapseShapeOp::create(rewriter, loc, x, flat);
      out = memref::CollapseShapeOp::create(rewriter, loc, out, flat);
    }
    Value m = memref::DimOp::create(rewriter, loc, x, 0);
    VectorizeInt4DotMatmul::Operands ops{
        {}, {}, {}, codes, scales, out, steps, /*group=*/0, halfTail, n};
    ops.int8Weights = true;
    ops.k = k;
    if (fill) {
      ops.zeroInit = true;
      rewriter.eraseOp(fill);
    }
    kernel.emitDense(rewriter, loc, x, m, ops);
    rewriter.eraseOp(op);
    return success();
  }
};

/// The routed int4 matmul of the reference's expert FFN (h[t, j, i] +=
/// in[t, (j,) x] · W[ids[t, j], i, x], the int4 code and its group's scale
/// loaded in the body, the generic tagged with its `chimera.quant`) as a
/// grouped GEMM: every x row quantised once, then a grid over (expert,
/// blocks of weight rows) whose items list the slots routed to their
/// expert and run the tiles above on them, so a decode step reads only the
/// routed experts' codes.
struct VectorizeRoutedInt4DotMatmul : OpRewritePattern<linalg::GenericOp> {
  VectorizeRoutedInt4DotMatmul(MLIRContext *ctx,
                               const VectorizeInt4DotMatmul &kernel)
      : OpRewritePattern(ctx, /*benefit=*/2), kernel(kernel) {}

  const VectorizeInt4DotMatmul &kernel;

  LogicalResult matchAndRewrite(linalg::GenericOp op,
                                PatternRewriter &rewriter) const override {
    auto quant = op->getAttrOfType<QuantAttr>("chimera.quant");
    if (!quant ||
        (quant.getScheme() != QuantScheme::Int4 &&
         quant.getScheme() != QuantScheme::Int8) ||
        !op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1 || op.getNumLoops() != 4)
      return failure();
    bool int8 = quant.getScheme() == QuantScheme::Int8;
    int64_t group = quant.getGroupSize();
    if (!int8 && group != kBlock && group % kStep != 0)
      return failure();
    std::optional<bool> perSlot = routedInputPerSlot(op);
    if (!perSlot)
      return failure();
    bool inPerSlot = *perSlot;
    // The codes (int4 [E, N, K/2], int8 [E, N, K]) and scales (int4 [E, N,
    // K/G], int8 [E, N]) the body loads, both defined outside the op (views
    // of the archive).
    Value codes, scales;
    for (auto load : op.getRegion().front().getOps<memref::LoadOp>()) {
      auto type = cast<MemRefType>(load.getMemRef().getType());
      if (type.getRank() != (int8 && type.getElementType().isF32() ? 2 : 3) ||
          op->isAncestor(load.getMemRef().getParentRegion()->getParentOp()))
        return failure();
      if (type.getElementType().isInteger(8) && !codes)
        codes = load.getMemRef();
      else if (type.getElementType().isF32() && !scales)
        scales = load.getMemRef();
      else
        return failure();
    }
    if (!codes || !scales)
      return failure();
    Value in = op.getDpsInputs()[0], ids = op.getDpsInputs()[1],
          out = op.getDpsInits()[0];
    auto codesType = cast<MemRefType>(codes.getType());
    auto scalesType = cast<MemRefType>(scales.getType());
    auto inType = cast<MemRefType>(in.getType());
    auto outType = cast<MemRefType>(out.getType());
    auto idsType = cast<MemRefType>(ids.getType());
    if (!codesType.hasStaticShape() || !scalesType.hasStaticShape() ||
        !codesType.getLayout().isIdentity() ||
        !scalesType.getLayout().isIdentity() ||
        !inType.getLayout().isIdentity() || !outType.getLayout().isIdentity() ||
        !idsType.getLayout().isIdentity() || !inType.getElementType().isF32() ||
        !outType.getElementType().isF32() ||
        ShapedType::isDynamic(idsType.getDimSize(1)))
      return failure();
    int64_t experts = codesType.getDimSize(0), n = codesType.getDimSize(1);
    int64_t k = codesType.getDimSize(2) * (int8 ? 1 : 2);
    if (int8 ? k % kBlock != 0
             : k % group != 0 || scalesType.getDimSize(2) != k / group)
      return failure();
    int64_t steps = llvm::divideCeil(k, kStep);
    bool halfTail = k % kStep != 0;

    Location loc = op.getLoc();
    auto c = [&](OpBuilder &b, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    RoutedViews views = routedViews(rewriter, loc, in, ids, out, inPerSlot);
    Value x2d = views.x, out2d = views.out, idsFlat = views.ids,
          slots = views.slots;
    Value xRows = memref::DimOp::create(rewriter, loc, x2d, 0);

    Type i32 = rewriter.getI32Type(), f32 = rewriter.getF32Type();
    auto alloc = [&](ArrayRef<int64_t> inner, Type type) -> Value {
      SmallVector<int64_t> shape = {ShapedType::kDynamic, steps};
      shape.append(inner.begin(), inner.end());
      return memref::AllocOp::create(
          rewriter, loc, MemRefType::get(shape, type), ValueRange{xRows});
    };
    Value xq = alloc({kLanes}, i32), bias = alloc({kLanes}, i32),
          xScale = alloc({kLanes}, f32);
    // With N a multiple of the panel and enough slots in all (a prefill),
    // an expert with enough slots takes the packed kernel: x is quantised
    // in order, with block scales and biases, and the experts with few
    // slots take the dot-product tiles on that x. Otherwise (decode) x is
    // quantised for the int4 tiles' [even, odd] order and every item takes
    // the tiles.
    using Kernel = VectorizeInt4DotMatmul;
    bool packable =
        n % Kernel::kPanel == 0 && Kernel::kPanel % kernel.rows == 0;
    Value c0 = c(rewriter, 0), c1 = c(rewriter, 1);
    auto emitGrid = [&](OpBuilder &hb, bool packed) {
      Value blockScale, blockBias;
      if (packed) {
        auto perBlock = [&](Type type) -> Value {
          return memref::AllocOp::create(
              hb, loc, MemRefType::get({ShapedType::kDynamic, 2 * steps}, type),
              ValueRange{xRows});
        };
        blockScale = perBlock(f32);
        blockBias = perBlock(i32);
      }
      kernel.quantizeRows(hb, loc, x2d, xRows, steps, halfTail, xq, bias,
                          xScale, int8, blockScale, blockBias,
                          /*inOrder=*/packed);
      auto grid = scf::ParallelOp::create(
          hb, loc, ValueRange{c0, c0},
          ValueRange{c(hb, experts),
                     c(hb, packed ? n / Kernel::kPanel
                                  : llvm::divideCeil(n, kernel.rows))},
          ValueRange{c1, c1});
      markWorkItems(grid, "expert_matmul");
      OpBuilder gb = OpBuilder::atBlockBegin(grid.getBody());
      Value e = grid.getInductionVars()[0];
      // The list of slots routed to expert e lives on the stack for one
      // item.
      auto [b, list, count] = collectSlots(gb, loc, idsFlat, slots, e);
      Kernel::Operands ops{xq,
                           bias,
                           xScale,
                           expertSlice(b, loc, codes, e),
                           expertSlice(b, loc, scales, e),
                           out2d,
                           steps,
                           int8 ? 0 : group,
                           halfTail,
                           n};
      ops.int8Weights = int8;
      ops.rowList = list;
      ops.xRowDiv = inPerSlot ? 1 : idsType.getDimSize(1);
      ops.k = k;
      ops.inOrder = packed;
      Value item = grid.getInductionVars()[1];
      if (!packed) {
        kernel.emitItem(b, loc, ops, item, count);
      } else {
        Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                           count, c(b, Kernel::kPackMinRows));
        auto branch = scf::IfOp::create(b, loc, many, /*withElse=*/true);
        OpBuilder tb = branch.getThenBodyBuilder();
        kernel.emitPackedItem(tb, loc, ops, item, count, blockScale, blockBias);
        // Few slots: the panel's rows as dot-product items of `rows` each.
        OpBuilder eb = branch.getElseBodyBuilder();
        int64_t subItems = Kernel::kPanel / kernel.rows;
        Value first = arith::MulIOp::create(eb, loc, item, c(eb, subItems));
        for (int64_t sub = 0; sub < subItems; ++sub)
          kernel.emitItem(
              eb, loc, ops,
              sub ? arith::AddIOp::create(eb, loc, first, c(eb, sub)) : first,
              count);
      }
      memref::AllocaScopeReturnOp::create(b, loc, ValueRange{});
      if (packed) {
        OpBuilder ab(grid->getContext());
        ab.setInsertionPointAfter(grid);
        memref::DeallocOp::create(ab, loc, blockScale);
        memref::DeallocOp::create(ab, loc, blockBias);
      }
    };
    if (!packable) {
      emitGrid(rewriter, /*packed=*/false);
    } else {
      Value many =
          arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sge, slots,
                                c(rewriter, Kernel::kPackMinRows));
      auto branch = scf::IfOp::create(rewriter, loc, many, /*withElse=*/true);
      OpBuilder tb = branch.getThenBodyBuilder();
      emitGrid(tb, /*packed=*/true);
      OpBuilder eb = branch.getElseBodyBuilder();
      emitGrid(eb, /*packed=*/false);
    }
    for (Value buffer : {xq, bias, xScale})
      memref::DeallocOp::create(rewriter, loc, buffer);
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void populateVnniMatmulPatterns(RewritePatternSet &patterns, int64_t rows,
                                int64_t cols) {
  // The routed pattern borrows the dense one's kernel, which therefore
  // lives as long as the pattern set.
  auto dense = std::make_unique<VectorizeInt4DotMatmul>(patterns.getContext(),
                                                        rows, cols);
  patterns.add<VectorizeRoutedInt4DotMatmul, VectorizeInt8DotMatmul>(
      patterns.getContext(), *dense);
  patterns.add(std::move(dense));
}

} // namespace mlir::chimera
