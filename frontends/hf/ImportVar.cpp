//===- ImportVar.cpp - FoundationVision/VAR -> chimera IR -----------------===//
//
// `VAR.autoregressive_infer_cfg` followed by `VQVAE.fhat_to_img`, as one
// function:
//
//   func.func @forward(%class_labels: tensor<?xi64>,      // [B]
//                      %sampling_f32: tensor<2xf32>,      // [cfg, top_p]
//                      %sampling_i64: tensor<2xi64>)      // [top_k, seed]
//       -> (tensor<?xLxi64> /*tokens: every scale's map, row-major,
//                              scales concatenated*/,
//           tensor<?x3xHxWxf32> /*image, in [0, 1]*/)
//
// The scale schedule is one `chimera.next_scale_generate` with a step per
// scale; each step runs the transformer on its scale's tokens (the
// conditional and the unconditional rows together, 2B), writes their keys
// and values into caches preallocated to all L tokens, mixes the logits
// with the guidance ratio of its scale, samples, and adds the scale's
// `phi(up(h))` to f_hat. A scale's blocks call one private function,
// `@var_block_s<k>`, with their own weights and caches as arguments (one
// host schedule per scale, not per block). The VQVAE decoder follows the
// op. With `teacherForcing`, `VAR.forward` instead: block-causal over the
// scales, the logits of given token maps.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/Import.h"

#include "frontends/hf/GraphBuilder.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"

#include <cmath>

using namespace mlir;
using namespace ::chimera::hf;
namespace ch = mlir::chimera;

namespace {

using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// Marks the ops built while it listens with `chimera.batch_multiple`: the
/// guidance runs them on two rows per image, which the FLOP count needs
/// (their batch dim is dynamic).
struct MarkBatchMultiple : OpBuilder::Listener {
  explicit MarkBatchMultiple(int64_t multiple) : multiple(multiple) {}
  void notifyOperationInserted(Operation *op,
                               OpBuilder::InsertPoint) override {
    op->setAttr("chimera.batch_multiple",
                IntegerAttr::get(IntegerType::get(op->getContext(), 64),
                                 multiple));
  }
  int64_t multiple;
};

class VarImporter {
public:
  VarImporter(OpBuilder &b, const Checkpoint &ckpt, Type elt)
      : b(b), g(b, ckpt, elt, elt), v(ckpt.config().var), f32(elt),
        i64(b.getI64Type()) {
    // The scale steps are regions: weights live at the function's entry.
    g.setParamBlock(b.getInsertionBlock());
  }

  /// The generator's body; returns (tokens, image).
  SmallVector<Value> build(Value labels, Value samplingF32, Value samplingI64);
  /// `VAR.forward(labels, idxBl_to_var_input(tokens))`: logits [B, L, V].
  Value buildTeacherForcing(Value labels, Value tokens);
  llvm::Error takeError() { return g.takeError(); }

private:
  Location loc() const { return g.location(); }
  Value idx(int64_t i) { return arith::ConstantIndexOp::create(b, loc(), i); }
  OpFoldResult ia(int64_t i) { return b.getIndexAttr(i); }
  Value dim(Value x, int64_t d) { return tensor::DimOp::create(b, loc(), x, d); }

  /// One linalg.generic with identity-or-given maps and a scalar body.
  Value map(ValueRange inputs, ArrayRef<AffineMap> inputMaps,
            RankedTensorType type, ArrayRef<OpFoldResult> sizes, BodyFn body);
  /// Elementwise over `x` with each extra input broadcast through its dims.
  Value broadcastMap(Value x, ArrayRef<std::pair<Value, SmallVector<unsigned>>> extra,
                     BodyFn body);
  /// x[:, off:off+size] along `d` (other dims whole).
  Value slice(Value x, int64_t d, OpFoldResult off, OpFoldResult size);
  Value insert(Value src, Value dest, int64_t d, OpFoldResult off);
  /// `[a; b]` along dim 0.
  Value concat0(Value a, Value c);
  Value transpose(Value x, ArrayRef<int64_t> perm);
  Value scalarTensor(Value scalar);

  Value zeros(ArrayRef<OpFoldResult> sizes, Type t);
  /// First token of scale k in the concatenated sequence.
  int64_t offsetOf(int64_t scale) const;
  /// lvl_embed[k] + pos_1LC[scale k's positions]: [l, C].
  Value levelPos(int64_t k);
  /// Scale 0's input: cond + pos_start + levelPos(0), [N, p0², C].
  Value startTokens(Value cond);
  /// Scale k's input from f_hat: word_embed(area(f_hat, p_k)) + levelPos(k).
  Value scaleInput(Value fHat, int64_t k);
  /// f_hat + phi_k(up(embedding(ids))) for scale k's token map ids [N, l].
  Value accumulate(Value fHat, Value ids, int64_t k);

  // Transformer pieces, on [N, l, C] token-major activations.
  Value adaLin(llvm::StringRef prefix, Value cond, int64_t chunks);
  Value chunk(Value ada, int64_t i);
  Value modulatedNorm(Value x, Value scale, Value shift);
  Value gatedAdd(Value x, Value y, Value gamma);
  Value l2Normalize(Value x, Value headScale);
  /// One AdaLNSelfAttn block; `attend(q, k, v)` is its attention over
  /// [N, l, heads, head_dim] queries, keys and values.
  Value block(int64_t i, Value x, Value cond,
              function_ref<Value(Value, Value, Value)> attend);
  Value logits(Value x, Value cond);
  /// Block i's weights, (name suffix, shape) in a fixed order.
  SmallVector<std::pair<std::string, SmallVector<int64_t>>> blockWeights() const;
  /// `@var_block_s<k>`: one block on scale k's [2B, l, C] tokens, its
  /// weights and caches as arguments, so the 16 blocks of a scale share one
  /// host schedule (one set of kernels and launches) instead of 16 copies.
  func::FuncOp blockFunction(int64_t k, Value x, Value cond, Value kCache);

  // VQVAE pieces, on [B, C, H, W] maps.
  Value conv(llvm::StringRef prefix, Value x, int64_t out, int64_t kernel);
  Value groupNorm(llvm::StringRef prefix, Value x);
  Value silu(Value x);
  Value resnet(const std::string &prefix, Value x, int64_t out);
  Value attnBlock(const std::string &prefix, Value x);
  Value decode(Value fHat);
  /// phi_k(h) = (1 - r) h + r conv3x3(h), qresi_ls chosen for scale k.
  Value phi(int64_t scale, Value h);

  OpBuilder &b;
  GraphBuilder g;
  const VarConfig &v;
  Type f32, i64;
  DenseMap<int64_t, func::FuncOp> blockFunctions;
};

Value VarImporter::map(ValueRange inputs, ArrayRef<AffineMap> inputMaps,
                       RankedTensorType type, ArrayRef<OpFoldResult> sizes,
                       BodyFn body) {
  SmallVector<AffineMap> maps(inputMaps);
  maps.push_back(b.getMultiDimIdentityMap(type.getRank()));
  Value init = tensor::EmptyOp::create(b, loc(), sizes, type.getElementType());
  SmallVector<utils::IteratorType> iters(type.getRank(),
                                         utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      b, loc(), TypeRange{init.getType()}, inputs, ValueRange{init}, maps, iters,
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args));
      });
  return op.getResult(0);
}

Value VarImporter::broadcastMap(
    Value x, ArrayRef<std::pair<Value, SmallVector<unsigned>>> extra,
    BodyFn body) {
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  SmallVector<Value> inputs = {x};
  SmallVector<AffineMap> maps = {b.getMultiDimIdentityMap(rank)};
  for (const auto &[value, dims] : extra) {
    inputs.push_back(value);
    SmallVector<AffineExpr> exprs;
    for (unsigned d : dims)
      exprs.push_back(b.getAffineDimExpr(d));
    maps.push_back(AffineMap::get(rank, 0, exprs, b.getContext()));
  }
  return map(inputs, maps, type, tensor::getMixedSizes(b, loc(), x), body);
}

Value VarImporter::slice(Value x, int64_t d, OpFoldResult off,
                         OpFoldResult size) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), ia(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc(), x);
  SmallVector<OpFoldResult> strides(type.getRank(), ia(1));
  offsets[d] = off;
  sizes[d] = size;
  return tensor::ExtractSliceOp::create(b, loc(), x, offsets, sizes, strides);
}

Value VarImporter::insert(Value src, Value dest, int64_t d, OpFoldResult off) {
  auto type = cast<RankedTensorType>(src.getType());
  SmallVector<OpFoldResult> offsets(type.getRank(), ia(0));
  SmallVector<OpFoldResult> strides(type.getRank(), ia(1));
  offsets[d] = off;
  return tensor::InsertSliceOp::create(b, loc(), src, dest, offsets,
                                       tensor::getMixedSizes(b, loc(), src),
                                       strides);
}

Value VarImporter::concat0(Value a, Value c) {
  auto type = cast<RankedTensorType>(a.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc(), a);
  Value n = dim(a, 0);
  sizes[0] = Value(arith::AddIOp::create(b, loc(), n, dim(c, 0)));
  Value out = tensor::EmptyOp::create(b, loc(), sizes, type.getElementType());
  out = insert(a, out, 0, ia(0));
  return insert(c, out, 0, n);
}

Value VarImporter::transpose(Value x, ArrayRef<int64_t> perm) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> in = tensor::getMixedSizes(b, loc(), x);
  SmallVector<OpFoldResult> sizes;
  for (int64_t p : perm)
    sizes.push_back(in[p]);
  Value init = tensor::EmptyOp::create(b, loc(), sizes, type.getElementType());
  return linalg::TransposeOp::create(b, loc(), x, init, perm).getResult()[0];
}

Value VarImporter::scalarTensor(Value scalar) {
  return tensor::FromElementsOp::create(
      b, loc(), RankedTensorType::get({}, scalar.getType()), scalar);
}

Value VarImporter::silu(Value x) { return ch::SiluOp::create(b, loc(), x); }

Value VarImporter::adaLin(llvm::StringRef prefix, Value cond, int64_t chunks) {
  int64_t c = v.embedDim;
  return g.linear(silu(cond), (prefix + ".ada_lin.1.weight").str(), chunks * c,
                  c, (prefix + ".ada_lin.1.bias").str(), /*quantise=*/false);
}

Value VarImporter::chunk(Value ada, int64_t i) {
  return g.sliceLast(ada, i * v.embedDim, v.embedDim);
}

Value VarImporter::modulatedNorm(Value x, Value scale, Value shift) {
  Value n = ch::LayerNormOp::create(b, loc(), x, Value(), Value(),
                                    llvm::APFloat(v.normEps));
  // ln(x) · (1 + scale) + shift, scale and shift per row [N, C].
  return broadcastMap(n, {{scale, {0, 2}}, {shift, {0, 2}}},
                      [&](OpBuilder &nb, Location l, ValueRange a) {
                        Value one = arith::ConstantOp::create(
                            nb, l, nb.getFloatAttr(f32, 1.0));
                        Value s = arith::AddFOp::create(nb, l, a[1], one);
                        return Value(arith::AddFOp::create(
                            nb, l, arith::MulFOp::create(nb, l, a[0], s), a[2]));
                      });
}

Value VarImporter::gatedAdd(Value x, Value y, Value gamma) {
  return broadcastMap(x, {{y, {0, 1, 2}}, {gamma, {0, 2}}},
                      [&](OpBuilder &nb, Location l, ValueRange a) {
                        return Value(arith::AddFOp::create(
                            nb, l, a[0], arith::MulFOp::create(nb, l, a[1], a[2])));
                      });
}

Value VarImporter::l2Normalize(Value x, Value headScale) {
  // F.normalize: x / max(‖x‖₂, 1e-12) over the head dim, then × the head's
  // scale when given.
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc(), x);
  sizes.pop_back();
  Value zero = arith::ConstantOp::create(b, loc(), b.getFloatAttr(f32, 0.0));
  Value acc = linalg::FillOp::create(
                  b, loc(), ValueRange{zero},
                  ValueRange{tensor::EmptyOp::create(b, loc(), sizes, f32)})
                  .getResult(0);
  MLIRContext *ctx = b.getContext();
  AffineMap id = b.getMultiDimIdentityMap(4);
  AffineMap lead = AffineMap::get(4, 0,
                                  {b.getAffineDimExpr(0), b.getAffineDimExpr(1),
                                   b.getAffineDimExpr(2)},
                                  ctx);
  Value sumsq =
      linalg::GenericOp::create(
          b, loc(), TypeRange{acc.getType()}, ValueRange{x}, ValueRange{acc},
          ArrayRef<AffineMap>{id, lead},
          {utils::IteratorType::parallel, utils::IteratorType::parallel,
           utils::IteratorType::parallel, utils::IteratorType::reduction},
          [&](OpBuilder &nb, Location l, ValueRange a) {
            Value sq = arith::MulFOp::create(nb, l, a[0], a[0]);
            linalg::YieldOp::create(nb, l,
                                    Value(arith::AddFOp::create(nb, l, a[1], sq)));
          })
          .getResult(0);
  SmallVector<std::pair<Value, SmallVector<unsigned>>> extra = {
      {sumsq, {0, 1, 2}}};
  if (headScale)
    extra.push_back({headScale, {2}});
  return broadcastMap(x, extra, [&](OpBuilder &nb, Location l, ValueRange a) {
    Value norm = math::SqrtOp::create(nb, l, a[1]);
    Value floor = arith::ConstantOp::create(nb, l, nb.getFloatAttr(f32, 1e-12));
    Value y = arith::DivFOp::create(nb, l, a[0],
                                    arith::MaximumFOp::create(nb, l, norm, floor));
    if (a.size() > 3)
      y = arith::MulFOp::create(nb, l, y, a[2]);
    return y;
  });
}

Value VarImporter::block(int64_t i, Value x, Value cond,
                         function_ref<Value(Value, Value, Value)> attend) {
  std::string p = "blocks." + std::to_string(i);
  g.setScope(p);
  int64_t c = v.embedDim, h = v.numHeads, hd = c / h;
  Value ada = adaLin(p, cond, 6);
  Value gamma1 = chunk(ada, 0), gamma2 = chunk(ada, 1), scale1 = chunk(ada, 2),
        scale2 = chunk(ada, 3), shift1 = chunk(ada, 4), shift2 = chunk(ada, 5);

  // Attention: qkv with bias [q_bias, 0, v_bias]; q and k L2-normalised,
  // q scaled per head by exp(min(scale_mul, ln 100)); softmax scale 1.
  Value xa = modulatedNorm(x, scale1, shift1);
  Value qkvW = g.matrix(p + ".attn.mat_qkv.weight", {3 * c, c});
  Value bias = tensor::EmptyOp::create(b, loc(), ArrayRef<int64_t>{3 * c}, f32);
  bias = insert(g.param(p + ".attn.q_bias", {c}), bias, 0, ia(0));
  bias = insert(g.param(p + ".attn.zero_k_bias", {c}), bias, 0, ia(c));
  bias = insert(g.param(p + ".attn.v_bias", {c}), bias, 0, ia(2 * c));
  Value qkv = ch::LinearOp::create(b, loc(), xa, qkvW, Value(), Value(), bias,
                                   ch::QuantAttr(), /*panel=*/IntegerAttr(),
                                   /*rows=*/IntegerAttr());
  Value scaleMul = tensor::CollapseShapeOp::create(
      b, loc(), g.param(p + ".attn.scale_mul_1H11", {1, h, 1, 1}),
      SmallVector<ReassociationIndices>{{0, 1, 2, 3}});
  Value headScale = map(
      scaleMul, {b.getMultiDimIdentityMap(1)},
      RankedTensorType::get({h}, f32), {ia(h)},
      [&](OpBuilder &nb, Location lc, ValueRange a) {
        Value cap = arith::ConstantOp::create(
            nb, lc, nb.getFloatAttr(f32, double(float(std::log(100.0)))));
        return Value(math::ExpOp::create(
            nb, lc, arith::MinimumFOp::create(nb, lc, a[0], cap)));
      });
  Value q = l2Normalize(g.splitHeads(g.sliceLast(qkv, 0, c), h, hd), headScale);
  Value k = l2Normalize(g.splitHeads(g.sliceLast(qkv, c, c), h, hd), Value());
  Value val = g.splitHeads(g.sliceLast(qkv, 2 * c, c), h, hd);
  Value o = attend(q, k, val);
  Value attn = g.linear(g.mergeHeads(o), p + ".attn.proj.weight", c, c,
                        p + ".attn.proj.bias");
  x = gatedAdd(x, attn, gamma1);

  int64_t hidden = int64_t(std::llround(double(c) * v.mlpRatio));
  Value xf = modulatedNorm(x, scale2, shift2);
  Value up = g.linear(xf, p + ".ffn.fc1.weight", hidden, c, p + ".ffn.fc1.bias");
  Value act = ch::GeluOp::create(b, loc(), up, /*approximate=*/true);
  Value down = g.linear(act, p + ".ffn.fc2.weight", c, hidden,
                        p + ".ffn.fc2.bias");
  return gatedAdd(x, down, gamma2);
}

SmallVector<std::pair<std::string, SmallVector<int64_t>>>
VarImporter::blockWeights() const {
  int64_t c = v.embedDim, h = v.numHeads;
  int64_t hidden = int64_t(std::llround(double(c) * v.mlpRatio));
  return {{"ada_lin.1.weight", {6 * c, c}},   {"ada_lin.1.bias", {6 * c}},
          {"attn.mat_qkv.weight", {3 * c, c}}, {"attn.q_bias", {c}},
          {"attn.zero_k_bias", {c}},           {"attn.v_bias", {c}},
          {"attn.scale_mul_1H11", {1, h, 1, 1}},
          {"attn.proj.weight", {c, c}},        {"attn.proj.bias", {c}},
          {"ffn.fc1.weight", {hidden, c}},     {"ffn.fc1.bias", {hidden}},
          {"ffn.fc2.weight", {c, hidden}},     {"ffn.fc2.bias", {c}}};
}

func::FuncOp VarImporter::blockFunction(int64_t k, Value x, Value cond,
                                        Value kCache) {
  auto it = blockFunctions.find(k);
  if (it != blockFunctions.end())
    return it->second;
  OpBuilder::InsertionGuard guard(b);
  auto module = b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> inputs = {x.getType(), cond.getType(), kCache.getType(),
                              kCache.getType()};
  auto weights = blockWeights();
  for (const auto &[name, shape] : weights)
    inputs.push_back(RankedTensorType::get(shape, f32));
  auto fn = func::FuncOp::create(
      b, loc(), "var_block_s" + std::to_string(k),
      b.getFunctionType(inputs, {x.getType(), kCache.getType(),
                                 kCache.getType()}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  // The body reads block 0's names, bound to the arguments.
  llvm::StringMap<Value> bound;
  for (auto [i, w] : llvm::enumerate(weights))
    bound["blocks.0." + w.first] = entry->getArgument(4 + i);
  g.setParamOverrides(&bound);
  int64_t l = v.patchNums[k] * v.patchNums[k], offset = offsetOf(k);
  Value kc = entry->getArgument(2), vc = entry->getArgument(3);
  Value y = block(0, entry->getArgument(0), entry->getArgument(1),
                  [&](Value q, Value key, Value val) {
                    // The caches hold every scale's keys: this scale's are
                    // written in place at `offset`, and the queries see all
                    // keys so far (no mask in generation: the earlier
                    // scales and the whole current one).
                    kc = insert(key, kc, 1, ia(offset));
                    vc = insert(val, vc, 1, ia(offset));
                    return ch::AttentionOp::create(
                               b, loc(), q, slice(kc, 1, ia(0), ia(offset + l)),
                               slice(vc, 1, ia(0), ia(offset + l)), Value(),
                               ch::MaskKind::None, b.getF64FloatAttr(1.0),
                               IntegerAttr(), DenseI64ArrayAttr())
                        .getResult();
                  });
  g.setParamOverrides(nullptr);
  func::ReturnOp::create(b, loc(), ValueRange{y, kc, vc});
  blockFunctions[k] = fn;
  return fn;
}

Value VarImporter::logits(Value x, Value cond) {
  g.setScope("head");
  Value ada = adaLin("head_nm", cond, 2);
  Value xn = modulatedNorm(x, chunk(ada, 0), chunk(ada, 1));
  return g.linear(xn, "head.weight", v.vocabSize, v.embedDim, "head.bias");
}

Value VarImporter::conv(llvm::StringRef prefix, Value x, int64_t out,
                        int64_t kernel) {
  int64_t in = cast<RankedTensorType>(x.getType()).getDimSize(1);
  Value w = g.param((prefix + ".weight").str(), {out, in, kernel, kernel});
  Value bias = g.param((prefix + ".bias").str(), {out});
  return ch::Conv2dOp::create(b, loc(), x, w, bias, kernel / 2);
}

Value VarImporter::groupNorm(llvm::StringRef prefix, Value x) {
  int64_t c = cast<RankedTensorType>(x.getType()).getDimSize(1);
  return ch::GroupNormOp::create(b, loc(), x,
                                 g.param((prefix + ".weight").str(), {c}),
                                 g.param((prefix + ".bias").str(), {c}), 32,
                                 llvm::APFloat(1e-6));
}

Value VarImporter::resnet(const std::string &p, Value x, int64_t out) {
  g.setScope(p);
  int64_t in = cast<RankedTensorType>(x.getType()).getDimSize(1);
  Value h = conv(p + ".conv1", silu(groupNorm(p + ".norm1", x)), out, 3);
  h = conv(p + ".conv2", silu(groupNorm(p + ".norm2", h)), out, 3);
  Value shortcut = in == out ? x : conv(p + ".nin_shortcut", x, out, 1);
  return g.add(shortcut, h);
}

Value VarImporter::attnBlock(const std::string &p, Value x) {
  g.setScope(p);
  auto type = cast<RankedTensorType>(x.getType());
  int64_t c = type.getDimSize(1), hh = type.getDimSize(2), ww = type.getDimSize(3);
  Value qkv = conv(p + ".qkv", groupNorm(p + ".norm", x), 3 * c, 1);
  // [B, c, H, W] -> [B, HW, 1, c]: one head of width c.
  auto tokens = [&](int64_t part) {
    Value m = slice(qkv, 1, ia(part * c), ia(c));
    Value flat = tensor::CollapseShapeOp::create(
        b, loc(), m, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
    Value t = transpose(flat, {0, 2, 1});
    return tensor::ExpandShapeOp::create(
        b, loc(), RankedTensorType::get({ShapedType::kDynamic, hh * ww, 1, c}, f32),
        t, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
        SmallVector<OpFoldResult>{Value(dim(x, 0)), ia(hh * ww), ia(1), ia(c)});
  };
  Value o = ch::AttentionOp::create(
      b, loc(), tokens(0), tokens(1), tokens(2), Value(), ch::MaskKind::None,
      b.getF64FloatAttr(double(float(std::pow(double(c), -0.5)))), IntegerAttr(),
      DenseI64ArrayAttr());
  Value flat = tensor::CollapseShapeOp::create(
      b, loc(), o, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  Value back = tensor::ExpandShapeOp::create(
      b, loc(), RankedTensorType::get({ShapedType::kDynamic, c, hh, ww}, f32),
      transpose(flat, {0, 2, 1}),
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}},
      SmallVector<OpFoldResult>{Value(dim(x, 0)), ia(c), ia(hh), ia(ww)});
  return g.add(x, conv(p + ".proj_out", back, c, 1));
}

Value VarImporter::decode(Value fHat) {
  g.setScope("vae");
  int64_t levels = v.chMult.size();
  Value h = conv("post_quant_conv", fHat, v.zChannels, 3);
  int64_t blockIn = v.ch * v.chMult.back();
  h = conv("decoder.conv_in", h, blockIn, 3);
  h = resnet("decoder.mid.block_1", h, blockIn);
  if (v.usingMidSa)
    h = attnBlock("decoder.mid.attn_1", h);
  h = resnet("decoder.mid.block_2", h, blockIn);
  for (int64_t level = levels - 1; level >= 0; --level) {
    std::string up = "decoder.up." + std::to_string(level);
    int64_t out = v.ch * v.chMult[level];
    for (int64_t j = 0; j <= v.numResBlocks; ++j) {
      h = resnet(up + ".block." + std::to_string(j), h, out);
      if (level == levels - 1 && v.usingSa)
        h = attnBlock(up + ".attn." + std::to_string(j), h);
    }
    if (level != 0) {
      g.setScope(up + ".upsample");
      auto type = cast<RankedTensorType>(h.getType());
      h = ch::ScaleInterpOp::create(
          b, loc(), h,
          b.getDenseI64ArrayAttr({2 * type.getDimSize(2), 2 * type.getDimSize(3)}),
          ch::InterpMode::Nearest);
      h = conv(up + ".upsample.conv", h, out, 3);
    }
  }
  g.setScope("decoder.conv_out");
  h = silu(groupNorm("decoder.norm_out", h));
  h = conv("decoder.conv_out", h, v.imageChannels, 3);
  // clamp(-1, 1), then (x + 1) / 2 as the reference's add_(1).mul_(0.5).
  return broadcastMap(h, {}, [&](OpBuilder &nb, Location l, ValueRange a) {
    auto c = [&](double x) {
      return arith::ConstantOp::create(nb, l, nb.getFloatAttr(f32, x));
    };
    Value y = arith::MinimumFOp::create(
        nb, l, arith::MaximumFOp::create(nb, l, a[0], c(-1.0)), c(1.0));
    return Value(arith::MulFOp::create(
        nb, l, arith::AddFOp::create(nb, l, y, c(1.0)), c(0.5)));
  });
}

Value VarImporter::phi(int64_t scale, Value h) {
  // PhiPartiallyShared: ticks linspace(1/3K, 1 - 1/3K, K); scale k of S
  // takes the tick nearest k / (S - 1).
  int64_t k = v.shareQuantResi, s = v.patchNums.size();
  double at = s > 1 ? double(scale) / double(s - 1) : 0.0;
  int64_t best = 0;
  double bestDist = 1e9;
  for (int64_t i = 0; i < k; ++i) {
    double tick = k == 1 ? 1.0 / 3.0
                         : 1.0 / 3.0 / k + (1.0 - 2.0 / 3.0 / k) * i / (k - 1);
    if (std::fabs(tick - at) < bestDist) {
      bestDist = std::fabs(tick - at);
      best = i;
    }
  }
  std::string p = "quantize.quant_resi.qresi_ls." + std::to_string(best);
  Value y = conv(p, h, v.zChannels, 3);
  double r = v.quantResi;
  return broadcastMap(h, {{y, {0, 1, 2, 3}}},
                      [&](OpBuilder &nb, Location l, ValueRange a) {
                        auto c = [&](double x) {
                          return arith::ConstantOp::create(
                              nb, l, nb.getFloatAttr(f32, x));
                        };
                        return Value(arith::AddFOp::create(
                            nb, l, arith::MulFOp::create(nb, l, a[0], c(1.0 - r)),
                            arith::MulFOp::create(nb, l, a[1], c(r))));
                      });
}

int64_t VarImporter::offsetOf(int64_t scale) const {
  int64_t offset = 0;
  for (int64_t k = 0; k < scale; ++k)
    offset += v.patchNums[k] * v.patchNums[k];
  return offset;
}

Value VarImporter::levelPos(int64_t k) {
  int64_t l = v.patchNums[k] * v.patchNums[k];
  Value pos = g.param("pos_1LC", {1, v.tokens(), v.embedDim});
  Value lvl = g.param("lvl_embed.weight",
                      {int64_t(v.patchNums.size()), v.embedDim});
  return tensor::CollapseShapeOp::create(
      b, loc(),
      broadcastMap(slice(pos, 1, ia(offsetOf(k)), ia(l)),
                   {{slice(lvl, 0, ia(k), ia(1)), {0, 2}}},
                   [&](OpBuilder &nb, Location lc, ValueRange a) {
                     return Value(arith::AddFOp::create(nb, lc, a[0], a[1]));
                   }),
      SmallVector<ReassociationIndices>{{0, 1}, {2}});
}

Value VarImporter::startTokens(Value cond) {
  int64_t l = v.patchNums[0] * v.patchNums[0], c = v.embedDim;
  Value posStart = g.param("pos_start", {1, l, c});
  MLIRContext *ctx = b.getContext();
  auto e = [&](unsigned d) { return b.getAffineDimExpr(d); };
  return map(ValueRange{cond, posStart, levelPos(0)},
             {AffineMap::get(3, 0, {e(0), e(2)}, ctx),
              AffineMap::get(3, 0, {b.getAffineConstantExpr(0), e(1), e(2)}, ctx),
              AffineMap::get(3, 0, {e(1), e(2)}, ctx)},
             RankedTensorType::get({ShapedType::kDynamic, l, c}, f32),
             {Value(dim(cond, 0)), ia(l), ia(c)},
             [&](OpBuilder &nb, Location lc, ValueRange a) {
               return Value(arith::AddFOp::create(
                   nb, lc, arith::AddFOp::create(nb, lc, a[0], a[1]), a[2]));
             });
}

Value VarImporter::scaleInput(Value fHat, int64_t k) {
  int64_t pn = v.patchNums[k];
  Value down = ch::ScaleInterpOp::create(
      b, loc(), fHat, b.getDenseI64ArrayAttr({pn, pn}), ch::InterpMode::Area);
  Value flat = tensor::CollapseShapeOp::create(
      b, loc(), down, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
  Value words = g.linear(transpose(flat, {0, 2, 1}), "word_embed.weight",
                         v.embedDim, v.zChannels, "word_embed.bias",
                         /*quantise=*/false);
  return broadcastMap(words, {{levelPos(k), {1, 2}}},
                      [&](OpBuilder &nb, Location lc, ValueRange a) {
                        return Value(arith::AddFOp::create(nb, lc, a[0], a[1]));
                      });
}

Value VarImporter::accumulate(Value fHat, Value ids, int64_t k) {
  int64_t pn = v.patchNums[k], cv = v.zChannels, last = v.patchNums.back();
  Value emb = ch::EmbedOp::create(
      b, loc(), g.param("quantize.embedding.weight", {v.vocabSize, cv}), ids,
      FloatAttr());
  Value grid = tensor::ExpandShapeOp::create(
      b, loc(), RankedTensorType::get({ShapedType::kDynamic, pn, pn, cv}, f32),
      emb, SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}},
      SmallVector<OpFoldResult>{Value(dim(ids, 0)), ia(pn), ia(pn), ia(cv)});
  Value hMap = transpose(grid, {0, 3, 1, 2});
  if (pn != last)
    hMap = ch::ScaleInterpOp::create(b, loc(), hMap,
                                     b.getDenseI64ArrayAttr({last, last}),
                                     ch::InterpMode::Bicubic);
  return g.add(fHat, phi(k, hMap));
}

Value VarImporter::zeros(ArrayRef<OpFoldResult> sizes, Type t) {
  Value zero = arith::ConstantOp::create(b, loc(), b.getZeroAttr(t));
  Value empty = tensor::EmptyOp::create(b, loc(), sizes, t);
  return linalg::FillOp::create(b, loc(), ValueRange{zero}, ValueRange{empty})
      .getResult(0);
}

SmallVector<Value> VarImporter::build(Value labels, Value samplingF32,
                                      Value samplingI64) {
  g.setScope("var");
  int64_t c = v.embedDim, h = v.numHeads, hd = c / h, cv = v.zChannels;
  int64_t total = v.tokens(), last = v.patchNums.back();
  int64_t steps = v.patchNums.size();
  Value batch = dim(labels, 0);

  // Rows [0, B) are conditioned on the labels, rows [B, 2B) on the
  // "no class" label num_classes (classifier-free guidance).
  Value noClass =
      arith::ConstantOp::create(b, loc(), b.getI64IntegerAttr(v.numClasses));
  Value uncond = linalg::FillOp::create(
                     b, loc(), ValueRange{noClass},
                     ValueRange{tensor::EmptyOp::create(
                         b, loc(), ArrayRef<OpFoldResult>{batch}, i64)})
                     .getResult(0);
  Value cond = ch::EmbedOp::create(
      b, loc(), g.param("class_emb.weight", {v.numClasses + 1, c}),
      concat0(labels, uncond), FloatAttr());
  auto extract = [&](Value t, int64_t i) {
    return tensor::ExtractOp::create(b, loc(), t, ValueRange{idx(i)});
  };
  Value cfg = extract(samplingF32, 0);
  Value topP = scalarTensor(extract(samplingF32, 1));
  Value topK = scalarTensor(extract(samplingI64, 0));
  Value seed = scalarTensor(extract(samplingI64, 1));

  // Carried: f_hat, the token maps, a key and a value cache per block
  // (only the rows written so far are read: no initialisation needed).
  Value rows2 = arith::AddIOp::create(b, loc(), batch, batch);
  SmallVector<Value> inits = {zeros({batch, ia(cv), ia(last), ia(last)}, f32),
                              zeros({batch, ia(total)}, i64)};
  for (int64_t i = 0; i < v.depth; ++i)
    for (int kv = 0; kv < 2; ++kv)
      inits.push_back(tensor::EmptyOp::create(
          b, loc(), ArrayRef<OpFoldResult>{rows2, ia(total), ia(h), ia(hd)},
          f32));
  auto gen = ch::NextScaleGenerateOp::create(
      b, loc(), TypeRange(ValueRange(inits)), inits,
      b.getDenseI64ArrayAttr(v.patchNums), steps);

  for (int64_t k = 0; k < steps; ++k) {
    int64_t offset = offsetOf(k);
    Block *body = b.createBlock(&gen.getSteps()[k]);
    for (Value init : inits)
      body->addArgument(init.getType(), loc());
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(body);
    g.setScope("scale" + std::to_string(k));
    Value fHat = body->getArgument(0), tokens = body->getArgument(1);
    SmallVector<Value> caches(body->getArguments().drop_front(2));

    // This scale's input [2B, l, C]: the start tokens, or the word
    // embedding of f_hat area-resized to this scale (the same for the
    // conditional and unconditional rows).
    Value x;
    if (k == 0) {
      x = startTokens(cond);
    } else {
      Value words = scaleInput(fHat, k);
      x = concat0(words, words);
    }
    MarkBatchMultiple doubled(2);
    b.setListener(&doubled);
    for (int64_t i = 0; i < v.depth; ++i) {
      func::FuncOp fn = blockFunction(k, x, cond, caches[2 * i]);
      SmallVector<Value> operands = {x, cond, caches[2 * i], caches[2 * i + 1]};
      for (const auto &[name, shape] : blockWeights())
        operands.push_back(
            g.param("blocks." + std::to_string(i) + "." + name, shape));
      auto call = func::CallOp::create(b, loc(), fn, operands);
      x = call.getResult(0);
      caches[2 * i] = call.getResult(1);
      caches[2 * i + 1] = call.getResult(2);
    }
    Value both = logits(x, cond);
    b.setListener(nullptr);
    g.setScope("scale" + std::to_string(k));
    // Guidance: (1 + t) · cond − t · uncond, t = cfg · k / (S − 1).
    double ratio = steps > 1 ? double(k) / double(steps - 1) : 0.0;
    Value t = arith::MulFOp::create(
        b, loc(), cfg,
        arith::ConstantOp::create(b, loc(), b.getFloatAttr(f32, ratio)));
    Value condL = slice(both, 0, ia(0), batch);
    Value uncondL = slice(both, 0, batch, batch);
    Value guided = broadcastMap(
        condL, {{uncondL, {0, 1, 2}}},
        [&](OpBuilder &nb, Location lc, ValueRange a) {
          Value one = arith::ConstantOp::create(nb, lc, nb.getFloatAttr(f32, 1.0));
          Value onePlus = arith::AddFOp::create(nb, lc, one, t);
          return Value(arith::SubFOp::create(
              nb, lc, arith::MulFOp::create(nb, lc, onePlus, a[0]),
              arith::MulFOp::create(nb, lc, t, a[1])));
        });
    Value ids = ch::SampleOp::create(b, loc(), guided, topK, topP, seed, k);
    tokens = insert(ids, tokens, 1, ia(offset));
    fHat = accumulate(fHat, ids, k);

    SmallVector<Value> yielded = {fHat, tokens};
    yielded.append(caches);
    ch::YieldOp::create(b, loc(), yielded);
  }
  b.setInsertionPointAfter(gen);
  Value image = decode(gen.getResult(0));
  return {gen.getResult(1), image};
}

Value VarImporter::buildTeacherForcing(Value labels, Value tokens) {
  g.setScope("var");
  int64_t c = v.embedDim, cv = v.zChannels, last = v.patchNums.back();
  int64_t steps = v.patchNums.size(), total = v.tokens();
  Value batch = dim(labels, 0);
  Value cond = ch::EmbedOp::create(
      b, loc(), g.param("class_emb.weight", {v.numClasses + 1, c}), labels,
      FloatAttr());
  // VAR.forward on idxBl_to_var_input(tokens): scale k's input is the word
  // embedding of f_hat after scales 0..k-1, area-resized to scale k.
  Value x = tensor::EmptyOp::create(
      b, loc(), ArrayRef<OpFoldResult>{batch, ia(total), ia(c)}, f32);
  x = insert(startTokens(cond), x, 1, ia(0));
  Value fHat = zeros({batch, ia(cv), ia(last), ia(last)}, f32);
  for (int64_t k = 0; k + 1 < steps; ++k) {
    g.setScope("scale" + std::to_string(k));
    int64_t l = v.patchNums[k] * v.patchNums[k];
    fHat = accumulate(fHat, slice(tokens, 1, ia(offsetOf(k)), ia(l)), k);
    x = insert(scaleInput(fHat, k + 1), x, 1, ia(offsetOf(k + 1)));
  }
  // Block-causal: a token sees its own scale and the coarser ones.
  SmallVector<int64_t> segments;
  for (int64_t p : v.patchNums)
    segments.push_back(p * p);
  Value positions = map(
      ValueRange{}, {}, RankedTensorType::get({ShapedType::kDynamic, total}, i64),
      {batch, ia(total)}, [&](OpBuilder &nb, Location lc, ValueRange) {
        return Value(arith::IndexCastOp::create(
            nb, lc, i64, linalg::IndexOp::create(nb, lc, 1)));
      });
  for (int64_t i = 0; i < v.depth; ++i)
    x = block(i, x, cond, [&](Value q, Value k, Value val) {
      return ch::AttentionOp::create(b, loc(), q, k, val, positions,
                                     ch::MaskKind::BlockCausal,
                                     b.getF64FloatAttr(1.0), IntegerAttr(),
                                     b.getDenseI64ArrayAttr(segments))
          .getResult();
    });
  return logits(x, cond);
}

} // namespace

namespace chimera::hf {
llvm::Expected<OwningOpRef<ModuleOp>>
importVarCheckpoint(MLIRContext &ctx, const Checkpoint &ckpt,
                    bool teacherForcing) {
  ctx.loadDialect<ch::ChimeraDialect, func::FuncDialect, tensor::TensorDialect,
                  arith::ArithDialect, math::MathDialect,
                  linalg::LinalgDialect>();
  const VarConfig &v = ckpt.config().var;
  OpBuilder b(&ctx);
  Location loc = FileLineColLoc::get(
      &ctx, ckpt.directory().str() + "/config.json", 1, 1);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  module->setSymName("var");
  b.setInsertionPointToEnd(module->getBody());
  int64_t dyn = ShapedType::kDynamic;
  Type f32 = b.getF32Type(), i64 = b.getI64Type();
  int64_t side = v.imageSize;
  SmallVector<Type> inputs = {RankedTensorType::get({dyn}, i64)};
  SmallVector<Type> results;
  SmallVector<llvm::StringRef> argNames = {"class_labels"}, resultNames;
  if (teacherForcing) {
    inputs.push_back(RankedTensorType::get({dyn, v.tokens()}, i64));
    argNames.push_back("image_tokens");
    results.push_back(RankedTensorType::get({dyn, v.tokens(), v.vocabSize}, f32));
    resultNames.push_back("image_logits");
  } else {
    inputs.push_back(RankedTensorType::get({2}, f32));
    inputs.push_back(RankedTensorType::get({2}, i64));
    argNames.append({"sampling_f32", "sampling_i64"});
    results.push_back(RankedTensorType::get({dyn, v.tokens()}, i64));
    results.push_back(
        RankedTensorType::get({dyn, v.imageChannels, side, side}, f32));
    resultNames.append({"tokens", "image"});
  }
  auto func = func::FuncOp::create(b, loc, "forward",
                                   b.getFunctionType(inputs, results));
  auto nameAttrs = [&](ArrayRef<llvm::StringRef> names) {
    SmallVector<Attribute> attrs;
    for (llvm::StringRef name : names)
      attrs.push_back(b.getDictionaryAttr(
          b.getNamedAttr("chimera.name", b.getStringAttr(name))));
    return attrs;
  };
  func.setAllArgAttrs(nameAttrs(argNames));
  func.setAllResultAttrs(nameAttrs(resultNames));
  func->setAttr(
      "chimera.model",
      b.getDictionaryAttr({
          b.getNamedAttr("family", b.getStringAttr("var")),
          b.getNamedAttr("kind", b.getStringAttr("image")),
          b.getNamedAttr("entry", b.getStringAttr(teacherForcing
                                                      ? "teacher_forcing"
                                                      : "generate")),
          b.getNamedAttr("vocab_size", b.getI64IntegerAttr(v.vocabSize)),
          b.getNamedAttr("num_classes", b.getI64IntegerAttr(v.numClasses)),
          b.getNamedAttr("patch_nums", b.getDenseI64ArrayAttr(v.patchNums)),
      }));
  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  VarImporter importer(b, ckpt, f32);
  SmallVector<Value> outs =
      teacherForcing
          ? SmallVector<Value>{importer.buildTeacherForcing(
                entry->getArgument(0), entry->getArgument(1))}
          : importer.build(entry->getArgument(0), entry->getArgument(1),
                           entry->getArgument(2));
  func::ReturnOp::create(b, loc, outs);
  if (llvm::Error err = importer.takeError())
    return std::move(err);
  if (llvm::Error err = verifyImported(*module, ckpt))
    return std::move(err);
  return module;
}
} // namespace chimera::hf
