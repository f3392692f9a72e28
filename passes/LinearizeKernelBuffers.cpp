//===- LinearizeKernelBuffers.cpp - views of flat buffers -> 1-D indices --===//
//
// GPU kernels see their memref operands as views (`memref.reinterpret_cast`)
// of flat buffers with offsets and strides known only at run time, which
// SPIR-V's storage buffers cannot express. After upstream's
// expand-strided-metadata has folded every subview, reshape and cast into
// such a view, each load and store through a view becomes a load or store of
// the flat buffer at `offset + sum(index_d * stride_d)`.
//
//===----------------------------------------------------------------------===//
#include "passes/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::chimera {
#define GEN_PASS_DEF_LINEARIZEKERNELBUFFERS
#include "passes/Passes.h.inc"

namespace {

bool isFlat(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.getRank() == 1 && memref.getLayout().isIdentity();
}

/// The flat buffer whose allocation `base` is: the base of a view (or of
/// the metadata of a view) is the base of its source.
Value flatBase(Value base) {
  while (true) {
    if (auto cast = base.getDefiningOp<memref::CastOp>())
      base = cast.getSource();
    else if (auto meta = base.getDefiningOp<memref::ExtractStridedMetadataOp>())
      base = meta.getSource();
    else if (auto view = base.getDefiningOp<memref::ReinterpretCastOp>())
      base = view.getSource();
    else
      return isFlat(base.getType()) ? base : Value();
  }
}

/// A view of a flat buffer behind `memref` (through casts), and the buffer.
std::pair<memref::ReinterpretCastOp, Value> flatView(Value memref) {
  while (auto cast = memref.getDefiningOp<memref::CastOp>())
    memref = cast.getSource();
  auto view = memref.getDefiningOp<memref::ReinterpretCastOp>();
  if (!view)
    return {};
  Value flat = flatBase(view.getSource());
  if (!flat)
    return {};
  return {view, flat};
}

Value linearIndex(OpBuilder &b, Location loc, memref::ReinterpretCastOp view,
                  ValueRange indices) {
  Value linear =
      getValueOrCreateConstantIndexOp(b, loc, view.getMixedOffsets().front());
  for (auto [index, stride] : llvm::zip(indices, view.getMixedStrides())) {
    Value s = getValueOrCreateConstantIndexOp(b, loc, stride);
    linear = arith::AddIOp::create(b, loc, linear,
                                   arith::MulIOp::create(b, loc, index, s));
  }
  return linear;
}

struct LinearizeLoad : OpRewritePattern<memref::LoadOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::LoadOp op,
                                PatternRewriter &rewriter) const override {
    auto [view, flat] = flatView(op.getMemRef());
    if (!view)
      return failure();
    Value index = linearIndex(rewriter, op.getLoc(), view, op.getIndices());
    rewriter.replaceOpWithNewOp<memref::LoadOp>(op, flat, index);
    return success();
  }
};

struct LinearizeStore : OpRewritePattern<memref::StoreOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::StoreOp op,
                                PatternRewriter &rewriter) const override {
    auto [view, flat] = flatView(op.getMemRef());
    if (!view)
      return failure();
    Value index = linearIndex(rewriter, op.getLoc(), view, op.getIndices());
    rewriter.replaceOpWithNewOp<memref::StoreOp>(op, op.getValueToStore(),
                                                 flat, index);
    return success();
  }
};

/// Sizes come from the view's operands.
struct FoldDimOfView : OpRewritePattern<memref::DimOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::DimOp op,
                                PatternRewriter &rewriter) const override {
    auto [view, flat] = flatView(op.getSource());
    std::optional<int64_t> dim = op.getConstantIndex();
    if (!view || !dim)
      return failure();
    rewriter.replaceOp(op, getValueOrCreateConstantIndexOp(
                               rewriter, op.getLoc(),
                               view.getMixedSizes()[*dim]));
    return success();
  }
};

/// Gives every flat buffer argument of `func` with element type `from` the
/// element type `to`, and has `rewrite(load, store)` adapt each of its
/// loads and stores (one of the two is null) to the new storage.
void retypeBuffers(gpu::GPUFuncOp func, function_ref<bool(Type)> from, Type to,
                   function_ref<void(memref::LoadOp, memref::StoreOp)> rewrite) {
  SmallVector<Type> inputs(func.getArgumentTypes());
  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    auto type = dyn_cast<MemRefType>(arg.getType());
    if (!type || type.getRank() != 1 || !from(type.getElementType()))
      continue;
    inputs[i] = MemRefType::get(type.getShape(), to, type.getLayout(),
                                type.getMemorySpace());
    arg.setType(inputs[i]);
    for (Operation *user : llvm::to_vector(arg.getUsers()))
      rewrite(dyn_cast<memref::LoadOp>(user), dyn_cast<memref::StoreOp>(user));
  }
  func.setFunctionType(FunctionType::get(func.getContext(), inputs, {}));
}

/// SPIR-V has no bf16 (without an extension few drivers have): a flat bf16
/// buffer becomes an i16 one whose loads and stores carry the bits, and
/// arith-expand{include-bf16} turns the conversions to and from f32 into
/// shifts.
void bf16BuffersAsBits(gpu::GPUFuncOp func) {
  auto i16 = IntegerType::get(func.getContext(), 16);
  retypeBuffers(
      func, [](Type t) { return t.isBF16(); }, i16,
      [&](memref::LoadOp load, memref::StoreOp store) {
        if (load) {
          load.getResult().setType(i16);
          OpBuilder b(load);
          b.setInsertionPointAfter(load);
          auto cast = arith::BitcastOp::create(b, load.getLoc(), b.getBF16Type(),
                                               load.getResult());
          load.getResult().replaceAllUsesExcept(cast, cast);
        } else if (store) {
          OpBuilder b(store);
          store.getValueMutable().assign(arith::BitcastOp::create(
              b, store.getLoc(), i16, store.getValueToStore()));
        }
      });
}

/// Devices without 64-bit integers in shaders (the mobile profiles): a flat
/// i64 buffer becomes an i32 buffer of (low, high) word pairs, and each
/// access joins or splits the words; arith-emulate-wide-int then carries
/// the i64 arithmetic in pairs of i32.
void i64BuffersAsWordPairs(gpu::GPUFuncOp func) {
  MLIRContext *ctx = func.getContext();
  auto i32 = IntegerType::get(ctx, 32);
  auto i64 = IntegerType::get(ctx, 64);
  retypeBuffers(
      func, [](Type t) { return t.isInteger(64); }, i32,
      [&](memref::LoadOp load, memref::StoreOp store) {
        Operation *user = load ? load.getOperation() : store.getOperation();
        if (!user)
          return;
        OpBuilder b(user);
        Location loc = user->getLoc();
        Value buffer = load ? load.getMemRef() : store.getMemRef();
        Value index = load ? load.getIndices()[0] : store.getIndices()[0];
        Value lo = arith::MulIOp::create(
            b, loc, index, arith::ConstantIndexOp::create(b, loc, 2));
        Value hi = arith::AddIOp::create(
            b, loc, lo, arith::ConstantIndexOp::create(b, loc, 1));
        Value c32 = arith::ConstantIntOp::create(b, loc, i64, 32);
        if (load) {
          Value low = arith::ExtUIOp::create(
              b, loc, i64, memref::LoadOp::create(b, loc, buffer, lo));
          Value high = arith::ExtUIOp::create(
              b, loc, i64, memref::LoadOp::create(b, loc, buffer, hi));
          load.getResult().replaceAllUsesWith(arith::OrIOp::create(
              b, loc, low, arith::ShLIOp::create(b, loc, high, c32)));
          load.erase();
          return;
        }
        Value v = store.getValueToStore();
        memref::StoreOp::create(b, loc, arith::TruncIOp::create(b, loc, i32, v),
                                buffer, lo);
        memref::StoreOp::create(
            b, loc,
            arith::TruncIOp::create(b, loc, i32,
                                    arith::ShRUIOp::create(b, loc, v, c32)),
            buffer, hi);
        store.erase();
      });
}

struct LinearizeKernelBuffersPass
    : public impl::LinearizeKernelBuffersBase<LinearizeKernelBuffersPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LinearizeLoad, LinearizeStore, FoldDimOfView>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    getOperation()->walk([&](gpu::GPUFuncOp func) {
      bf16BuffersAsBits(func);
      if (splitI64)
        i64BuffersAsWordPairs(func);
    });
    // Whatever still reads a view is an access this pass does not know.
    WalkResult result = getOperation()->walk([&](Operation *op) {
      if (isa<memref::ReinterpretCastOp, memref::CastOp,
              memref::ExtractStridedMetadataOp>(op))
        return WalkResult::advance();
      for (Value operand : op->getOperands())
        if (isa<MemRefType>(operand.getType()) && flatView(operand).first) {
          op->emitError("cannot rewrite this access to a kernel buffer into "
                        "a flat index");
          return WalkResult::interrupt();
        }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
} // namespace mlir::chimera
