//===- Import.cpp - HuggingFace checkpoint -> chimera IR ------------------===//
//
// All six families share one skeleton: embed, a stack of pre-norm residual
// layers (a token mixer — attention or a Mamba mixer — and, except in Mamba,
// a feed-forward network — dense gated MLP or routed experts), a final norm
// and the LM head. What differs is the parameter naming and a handful of
// numerical details, which `Scheme` carries.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/Import.h"
#include "frontends/hf/GraphBuilder.h"

#include "dialects/chimera/ChimeraDialect.h"
#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Verifier.h"

#include <cmath>

using namespace mlir;
using namespace ::chimera::hf;
namespace ch = ::mlir::chimera;

namespace {

/// Parameter names and per-family numerics.
struct Scheme {
  std::string embed, finalNorm, lmHead;
  std::string layerPrefix;  // "model.layers."
  std::string inputNorm;    // "input_layernorm"
  std::string ffnNorm;      // "post_attention_layernorm" / "pre_ff_layernorm"
  std::string attention;    // "self_attn"
  std::string mixer;        // "mamba" / "mixer"
  std::string mlp;          // "mlp" / "feed_forward"
  std::string moe;          // "block_sparse_moe" / "feed_forward"
  std::string router;       // "gate" / "router"
  std::string expertGate, expertUp, expertDown; // "w1", "w3", "w2"
  bool rope = true;
  bool renormalize = false;   // Mixtral renormalises its top-k weights
  bool mixerNorms = false;    // Jamba's dt/B/C RMSNorms
  bool unitOffsetNorm = false; // Gemma's (1 + w)
  std::optional<double> embedScale; // Gemma's sqrt(hidden)
  std::optional<int64_t> window;    // Mistral's sliding window
};

llvm::Expected<Scheme> schemeFor(const Checkpoint &ckpt) {
  const ModelConfig &c = ckpt.config();
  Scheme s;
  s.embed = "model.embed_tokens.weight";
  s.finalNorm = "model.norm.weight";
  s.lmHead = "lm_head.weight";
  s.layerPrefix = "model.layers.";
  s.inputNorm = "input_layernorm";
  s.ffnNorm = "post_attention_layernorm";
  s.attention = "self_attn";
  s.mlp = "mlp";
  switch (c.family) {
  case Family::Llama:
    break;
  case Family::Mistral:
    s.window = c.slidingWindow;
    break;
  case Family::Gemma:
    s.unitOffsetNorm = true;
    // HF multiplies by sqrt(hidden) as a tensor of the hidden dtype.
    s.embedScale = double(float(std::sqrt(double(c.hiddenSize))));
    break;
  case Family::Mixtral:
    s.window = c.slidingWindow;
    s.moe = "block_sparse_moe";
    s.router = "gate";
    s.expertGate = "w1";
    s.expertUp = "w3";
    s.expertDown = "w2";
    s.renormalize = true;
    break;
  case Family::Mamba:
    s.embed = ckpt.find("backbone.embedding.weight") &&
                      !ckpt.find("backbone.embeddings.weight")
                  ? "backbone.embedding.weight" // state-spaces' own name
                  : "backbone.embeddings.weight";
    s.finalNorm = "backbone.norm_f.weight";
    s.layerPrefix = "backbone.layers.";
    s.inputNorm = "norm";
    s.mixer = "mixer";
    break;
  case Family::Jamba:
    // Jamba's eager attention has no positional encoding and ignores
    // sliding_window (only its flash-attention path applies it).
    s.rope = false;
    s.finalNorm = "model.final_layernorm.weight";
    s.ffnNorm = "pre_ff_layernorm";
    s.mixer = "mamba";
    s.mlp = "feed_forward";
    s.moe = "feed_forward";
    s.router = "router";
    s.expertGate = "gate_proj";
    s.expertUp = "up_proj";
    s.expertDown = "down_proj";
    s.mixerNorms = true;
    break;
  case Family::Var:
    break; // importVarCheckpoint
  }
  if (c.tieWordEmbeddings)
    s.lmHead = s.embed;
  return s;
}

ch::Activation activationOf(HiddenAct act) {
  switch (act) {
  case HiddenAct::Silu: return ch::Activation::Silu;
  case HiddenAct::Gelu: return ch::Activation::Gelu;
  case HiddenAct::GeluTanh: return ch::Activation::GeluTanh;
  case HiddenAct::Relu: return ch::Activation::Relu;
  }
  return ch::Activation::Silu;
}

/// One cache argument of @forward.
struct CacheSlot {
  std::string name;
  RankedTensorType type;
};

class ModelImporter {
public:
  ModelImporter(OpBuilder &b, const Checkpoint &ckpt, const Scheme &s, Type elt,
                Type matrixElt)
      : g(b, ckpt, elt, matrixElt), c(ckpt.config()), s(s), elt(elt) {
    // A Mixture-of-Depths checkpoint routes the layers that carry a router.
    for (int64_t i = 0; i < c.numLayers; ++i)
      routed.push_back(c.mixtureOfDepths &&
                       ckpt.find(s.layerPrefix + std::to_string(i) +
                                 ".router.weight_predictor.weight"));
  }

  int64_t routedLayer(size_t k) const {
    for (size_t i = 0, seen = 0; i < routed.size(); ++i)
      if (routed[i] && seen++ == k)
        return int64_t(i);
    return -1;
  }
  size_t numRouted() const { return llvm::count(routed, true); }

  /// True when some layer is depth-routed the reference's way: over the
  /// whole sequence, so decoding recomputes it (no layer caches).
  bool recomputes() const {
    return !causalRouting && llvm::is_contained(routed, true);
  }

  std::vector<CacheSlot> cacheSlots() const {
    std::vector<CacheSlot> slots;
    int64_t dyn = ShapedType::kDynamic;
    for (int64_t i = 0; i < c.numLayers; ++i) {
      std::string p = "layers." + std::to_string(i) + ".";
      if (routed[i] && !causalRouting)
        continue; // recomputed each call; nothing carried
      if (routed[i])
        slots.push_back({p + "routed_count",
                         RankedTensorType::get({dyn}, IntegerType::get(
                                                          elt.getContext(), 64))});
      if (c.isAttentionLayer(i)) {
        auto t = RankedTensorType::get({dyn, dyn, c.numKvHeads, c.headDim}, elt);
        slots.push_back({p + "k_cache", t});
        slots.push_back({p + "v_cache", t});
      } else {
        slots.push_back({p + "conv_state",
                         RankedTensorType::get(
                             {dyn, c.convKernel - 1, c.ssmInnerSize}, elt)});
        slots.push_back({p + "ssm_state",
                         RankedTensorType::get(
                             {dyn, c.ssmInnerSize, c.ssmStateSize}, elt)});
      }
    }
    return slots;
  }

  /// Builds the body of @forward; returns logits followed by the caches.
  SmallVector<Value> build(Value ids, Value positions, Value lengths,
                           ValueRange caches) {
    OpBuilder &b = g.builder();
    g.setScope("embed");
    Location loc = g.location();
    // The cache write offset of each row is the position of its first token.
    Value batch = tensor::DimOp::create(b, loc, positions, 0);
    offsets = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({ShapedType::kDynamic}, b.getI64Type()),
        positions, ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{batch, b.getIndexAttr(1)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    this->positions = positions;
    this->lengths = lengths;

    Value table = g.matrix(s.embed, {c.vocabSize, c.hiddenSize});
    FloatAttr scale = s.embedScale ? b.getF64FloatAttr(*s.embedScale) : FloatAttr();
    Value h = ch::EmbedOp::create(b, loc, table, ids, scale);
    if (cast<RankedTensorType>(h.getType()).getElementType() != elt)
      h = arith::ExtFOp::create(
          b, loc, cast<RankedTensorType>(h.getType()).clone(elt), h);

    SmallVector<Value> newCaches;
    size_t slot = 0;
    for (int64_t i = 0; i < c.numLayers; ++i) {
      std::string layer = s.layerPrefix + std::to_string(i) + ".";
      g.setScope(layer.substr(0, layer.size() - 1));
      if (routed[i] && causalRouting) {
        h = causalDepthRoutedLayer(i, layer, h, caches.slice(slot, 3), newCaches);
        slot += 3;
        continue;
      }
      if (routed[i]) {
        h = depthRoutedLayer(layer, h);
        continue;
      }
      Value x = g.rmsNorm(h, layer + s.inputNorm + ".weight", c.normEps,
                          s.unitOffsetNorm);
      Value a = caches[slot++], bcache = caches[slot++];
      if (c.isAttentionLayer(i)) {
        x = attention(layer + s.attention + ".", x, a, bcache, newCaches,
                      positions, positions);
      } else {
        x = mambaMixer(layer + s.mixer + ".", x, a, bcache, newCaches);
      }
      h = g.add(h, x);
      if (c.family == Family::Mamba)
        continue;
      x = g.rmsNorm(h, layer + s.ffnNorm + ".weight", c.normEps,
                    s.unitOffsetNorm);
      x = c.isExpertLayer(i) ? experts(layer + s.moe + ".", x)
                             : mlp(layer + s.mlp + ".", x);
      h = g.add(h, x);
    }
    g.setScope("lm_head");
    if (lastLogitsOnly)
      h = ch::LastTokenOp::create(b, g.location(), h, lengths);
    h = g.rmsNorm(h, s.finalNorm, c.normEps, s.unitOffsetNorm);
    // Quantised like the other linears; tied to the embedding table (which
    // gathers rows and stays in --dtype), it gets a quantised copy.
    Value logits = g.linear(h, s.lmHead, c.vocabSize, c.hiddenSize);
    SmallVector<Value> results = {logits};
    results.append(newCaches);
    results.append(routing);
    return results;
  }

  llvm::Error takeError() { return g.takeError(); }
  void setQuant(ch::QuantAttr quant) { g.setQuant(quant); }
  std::optional<double> depthCapacity;
  bool causalRouting = false;
  std::vector<double> depthThresholds;

private:
  /// Self-attention. With caches, new keys/values are written at the rows'
  /// offsets and the queries attend over the cache; without (a routed
  /// block), they attend over this call's keys, masked by `maskPositions`.
  Value attention(const std::string &p, Value x, Value kCache, Value vCache,
                  SmallVectorImpl<Value> &newCaches, Value ropePositions,
                  Value maskPositions, Value cacheOffsets = Value()) {
    OpBuilder &b = g.builder();
    Location loc = g.location();
    int64_t hq = c.numHeads, hkv = c.numKvHeads, d = c.headDim, hs = c.hiddenSize;
    auto bias = [&](const char *proj) {
      return c.attentionBias ? p + proj + ".bias" : std::string();
    };
    Value q = g.splitHeads(g.linear(x, p + "q_proj.weight", hq * d, hs, bias("q_proj")), hq, d);
    Value k = g.splitHeads(g.linear(x, p + "k_proj.weight", hkv * d, hs, bias("k_proj")), hkv, d);
    Value v = g.splitHeads(g.linear(x, p + "v_proj.weight", hkv * d, hs, bias("v_proj")), hkv, d);
    if (s.rope) {
      q = ch::RopeOp::create(b, loc, q, ropePositions, llvm::APFloat(c.ropeTheta),
                             IntegerAttr(), ch::RopeStyle::Half);
      k = ch::RopeOp::create(b, loc, k, ropePositions, llvm::APFloat(c.ropeTheta),
                             IntegerAttr(), ch::RopeStyle::Half);
    }
    if (kCache) {
      Value at = cacheOffsets ? cacheOffsets : offsets;
      k = ch::CacheWriteOp::create(b, loc, kCache, k, at);
      v = ch::CacheWriteOp::create(b, loc, vCache, v, at);
      newCaches.push_back(k);
      newCaches.push_back(v);
    }
    ch::MaskKind mask = s.window ? ch::MaskKind::SlidingWindow : ch::MaskKind::Causal;
    IntegerAttr window = s.window ? b.getI64IntegerAttr(*s.window) : IntegerAttr();
    Value o = ch::AttentionOp::create(b, loc, q, k, v, maskPositions, mask,
                                      FloatAttr(), window, DenseI64ArrayAttr());
    return g.linear(g.mergeHeads(o), p + "o_proj.weight", hs, hq * d,
                    bias("o_proj"));
  }

  /// The router score of every token: weight_predictor(h), [B, S]. Routers
  /// stay in f32: their decisions are discrete.
  Value routerScores(const std::string &layer, Value h) {
    Value logits = g.linear(h, layer + "router.weight_predictor.weight", 1,
                            c.hiddenSize, layer + "router.weight_predictor.bias",
                            /*quantise=*/false);
    return tensor::CollapseShapeOp::create(
        g.builder(), g.location(), logits,
        SmallVector<ReassociationIndices>{{0}, {1, 2}});
  }

  /// The wrapped decoder layer on the selected tokens `xs` (positions `ps`
  /// for RoPE, `slots` for the causal mask), with or without a KV cache.
  Value routedBlock(const std::string &layer, Value xs, Value ps, Value slots,
                    Value kCache, Value vCache, SmallVectorImpl<Value> &newCaches,
                    Value cacheOffsets) {
    std::string blk = layer + "block.";
    Value x = g.rmsNorm(xs, blk + s.inputNorm + ".weight", c.normEps);
    x = attention(blk + s.attention + ".", x, kCache, vCache, newCaches, ps,
                  slots, cacheOffsets);
    Value h1 = g.add(xs, x);
    x = g.rmsNorm(h1, blk + s.ffnNorm + ".weight", c.normEps);
    return g.add(h1, mlp(blk + s.mlp + ".", x));
  }

  void exposeDecisions(ch::DepthRouteOp route) {
    if (!exposeRouting)
      return;
    OpBuilder &b = g.builder();
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointAfter(route);
    auto selType = cast<RankedTensorType>(route.getSelected().getType());
    routing.push_back(arith::ExtUIOp::create(
        b, g.location(), selType.clone(b.getI64Type()), route.getSelected()));
  }

  /// A Mixture-of-Depths layer routed causally (the paper's sampling
  /// scheme): a token runs the block when its router score exceeds the
  /// layer's threshold, whatever the other tokens are. The block keeps a
  /// compact KV cache of the tokens it took, `count` of them per row; a
  /// token's slot in it is its index among them, which the causal mask
  /// compares (RoPE still gets the original position). A row whose first
  /// position is 0 starts a new sequence: its count restarts at 0.
  Value causalDepthRoutedLayer(int64_t index, const std::string &layer, Value h,
                               ValueRange caches,
                               SmallVectorImpl<Value> &newCaches) {
    OpBuilder &b = g.builder();
    Location loc = g.location();
    Value scores = routerScores(layer, h);
    auto countType = cast<RankedTensorType>(caches[0].getType());
    Value zero = arith::ConstantOp::create(
        b, loc, b.getZeroAttr(countType.getElementType()));
    Value zeros = tensor::SplatOp::create(
        b, loc, zero, countType,
        ValueRange{tensor::DimOp::create(b, loc, caches[0], 0)});
    Value fresh = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                        offsets, zeros);
    Value count = arith::SelectOp::create(b, loc, fresh, zeros, caches[0]);
    size_t k = std::count(routed.begin(), routed.begin() + index, true);
    double threshold = depthThresholds.empty() ? 0.0
                       : depthThresholds.size() == 1 ? depthThresholds[0]
                                                     : depthThresholds[k];
    auto route = ch::DepthRouteOp::create(
        b, loc, h, scores, positions, depthCapacity.value_or(c.depthCapacity),
        ch::DepthSelection::Threshold, threshold, /*scaleByScore=*/true,
        lengths, ValueRange{count, caches[1], caches[2]});
    {
      OpBuilder::InsertionGuard guard(b);
      Block &body = route.getBody().front();
      b.setInsertionPointToStart(&body);
      Value xs = body.getArgument(0), ps = body.getArgument(1);
      Value cnt = body.getArgument(2);
      Value taken = tensor::ExtractOp::create(
          b, loc, cnt, ValueRange{arith::ConstantIndexOp::create(b, loc, 0)});
      Value selected = tensor::DimOp::create(b, loc, xs, 1);
      // slots[0, j] = taken + j
      auto slotType = RankedTensorType::get({1, ShapedType::kDynamic}, b.getI64Type());
      Value slots = tensor::GenerateOp::create(
          b, loc, slotType, ValueRange{selected},
          [&](OpBuilder &nb, Location nl, ValueRange idx) {
            Value j = arith::IndexCastOp::create(nb, nl, nb.getI64Type(), idx[1]);
            tensor::YieldOp::create(nb, nl,
                                    Value(arith::AddIOp::create(nb, nl, taken, j)));
          });
      SmallVector<Value> blockCaches;
      Value out = routedBlock(layer, xs, ps, slots, body.getArgument(3),
                              body.getArgument(4), blockCaches, cnt);
      Value total = arith::AddIOp::create(
          b, loc, taken,
          arith::IndexCastOp::create(b, loc, b.getI64Type(), selected));
      Value newCount = tensor::FromElementsOp::create(
          b, loc, cast<RankedTensorType>(cnt.getType()), ValueRange{total});
      ch::YieldOp::create(b, loc,
                          ValueRange{out, newCount, blockCaches[0], blockCaches[1]});
    }
    exposeDecisions(route);
    newCaches.append(route.getNewStates().begin(), route.getNewStates().end());
    return route.getResult();
  }

  /// A Mixture-of-Depths layer as the public reference computes it: router
  /// weights w = weight_predictor(h); whole-sequence top-k at the capacity
  /// (strict threshold); the wrapped decoder layer runs on the selected
  /// tokens as a shorter sequence (original positions for RoPE, causal over
  /// the selection); its output, residual included, scaled by w.
  Value depthRoutedLayer(const std::string &layer, Value h) {
    OpBuilder &b = g.builder();
    Location loc = g.location();
    Value scores = routerScores(layer, h);
    auto route = ch::DepthRouteOp::create(
        b, loc, h, scores, positions, depthCapacity.value_or(c.depthCapacity),
        ch::DepthSelection::TopKStrict, /*threshold=*/0.0,
        /*scaleByScore=*/true);
    OpBuilder::InsertionGuard guard(b);
    Block &body = route.getBody().front();
    b.setInsertionPointToStart(&body);
    Value xs = body.getArgument(0), ps = body.getArgument(1);
    // Causal over the selection: query i sees selected keys 0..i.
    Value count = tensor::DimOp::create(b, loc, xs, 1);
    auto iotaType = RankedTensorType::get({1, ShapedType::kDynamic}, b.getI64Type());
    auto iota = tensor::GenerateOp::create(
        b, loc, iotaType, ValueRange{count},
        [](OpBuilder &nb, Location nl, ValueRange idx) {
          Value i = arith::IndexCastOp::create(nb, nl, nb.getI64Type(), idx[1]);
          tensor::YieldOp::create(nb, nl, i);
        });
    SmallVector<Value> none;
    Value out = routedBlock(layer, xs, ps, iota, Value(), Value(), none, Value());
    ch::YieldOp::create(b, loc, ValueRange{out});
    b.setInsertionPointAfter(route);
    exposeDecisions(route);
    return route.getResult();
  }

  Value mlp(const std::string &p, Value x) {
    OpBuilder &b = g.builder();
    int64_t hs = c.hiddenSize, is = c.intermediateSize;
    auto bias = [&](const char *proj) {
      return c.mlpBias ? p + proj + ".bias" : std::string();
    };
    Value gate = g.linear(x, p + "gate_proj.weight", is, hs, bias("gate_proj"));
    Value up = g.linear(x, p + "up_proj.weight", is, hs, bias("up_proj"));
    Value act = ch::GluOp::create(b, g.location(), gate, up,
                                  activationOf(c.hiddenAct));
    return g.linear(act, p + "down_proj.weight", hs, is, bias("down_proj"));
  }

  Value experts(const std::string &p, Value x) {
    OpBuilder &b = g.builder();
    Location loc = g.location();
    int64_t hs = c.hiddenSize, is = c.intermediateSize, e = c.numExperts;
    Value tokens = g.flattenTokens(x);
    Value logits = g.linear(tokens, p + s.router + ".weight", e, hs, "",
                            /*quantise=*/false);
    auto route = ch::RouteTopKOp::create(b, loc, logits, c.numExpertsPerTok,
                                         ch::RouteMode::SoftmaxTopK,
                                         s.renormalize);
    auto names = [&](const std::string &proj) {
      std::vector<std::string> n;
      for (int64_t i = 0; i < e; ++i)
        n.push_back(p + "experts." + std::to_string(i) + "." + proj + ".weight");
      return n;
    };
    // The experts take the scheme too (int8: one scale per expert output
    // row; 4-bit: codes and group scales).
    ch::QuantAttr quant = g.quantScheme();
    auto gate = g.maybeQuantisedStack(names(s.expertGate), {is, hs});
    auto up = g.maybeQuantisedStack(names(s.expertUp), {is, hs});
    auto down = g.maybeQuantisedStack(names(s.expertDown), {hs, is});
    if (quant && (!gate.scales || !up.scales || !down.scales)) {
      // A stack the scheme cannot take (a group size that does not divide
      // its columns) is an error already recorded; the op is built
      // unquantised so that the import goes on to report every problem.
      gate = {g.paramStack(names(s.expertGate), {is, hs})};
      up = {g.paramStack(names(s.expertUp), {is, hs})};
      down = {g.paramStack(names(s.expertDown), {hs, is})};
      quant = {};
    }
    Value y = ch::ExpertFfnOp::create(
        b, loc, tokens, route.getWeights(), route.getIds(), up.codes,
        down.codes, gate.codes, up.scales, down.scales, gate.scales, up.offsets,
        down.offsets, gate.offsets, activationOf(c.hiddenAct), quant,
        /*panel=*/IntegerAttr());
    return g.unflattenTokens(y, x);
  }

  Value mambaMixer(const std::string &p, Value x, Value convState,
                   Value ssmState, SmallVectorImpl<Value> &newCaches) {
    OpBuilder &b = g.builder();
    Location loc = g.location();
    int64_t hs = c.hiddenSize, di = c.ssmInnerSize, n = c.ssmStateSize,
            r = c.dtRank, w = c.convKernel;
    auto projBias = [&](const char *proj) {
      return c.projBias ? p + proj + ".bias" : std::string();
    };
    Value xz = g.linear(x, p + "in_proj.weight", 2 * di, hs, projBias("in_proj"));
    Value xs = g.sliceLast(xz, 0, di);
    Value z = g.sliceLast(xz, di, di);
    Value convW = g.dropUnitDim1(g.param(p + "conv1d.weight", {di, 1, w}));
    Value convB = c.convBias ? g.param(p + "conv1d.bias", {di}) : Value();
    auto conv = ch::CausalConv1dOp::create(b, loc, xs, convW, convB, convState,
                                           lengths, ch::Activation::Silu);
    Value xc = conv.getResult();
    Value proj = g.linear(xc, p + "x_proj.weight", r + 2 * n, di);
    Value dt = g.sliceLast(proj, 0, r);
    Value bm = g.sliceLast(proj, r, n);
    Value cm = g.sliceLast(proj, r + n, n);
    if (s.mixerNorms) {
      dt = g.rmsNorm(dt, p + "dt_layernorm.weight", c.normEps);
      bm = g.rmsNorm(bm, p + "b_layernorm.weight", c.normEps);
      cm = g.rmsNorm(cm, p + "c_layernorm.weight", c.normEps);
    }
    // dt_proj stays unquantised: its K is dt_rank (48 in mamba-130m), which
    // common group sizes do not divide, and it is 1/16 of in_proj.
    Value delta = g.linear(dt, p + "dt_proj.weight", di, r, "",
                           /*quantise=*/false);
    // A = -exp(A_log): a weight transform the compiler folds into the archive.
    Value aLog = g.param(p + "A_log", {di, n});
    Value a = arith::NegFOp::create(b, loc, math::ExpOp::create(b, loc, aLog));
    auto scan = ch::SelectiveScanOp::create(
        b, loc, xc, delta, a, bm, cm, g.param(p + "D", {di}), z,
        g.param(p + "dt_proj.bias", {di}), ssmState, lengths,
        /*delta_softplus=*/true);
    newCaches.push_back(conv.getNewState());
    newCaches.push_back(scan.getFinalState());
    return g.linear(scan.getResult(), p + "out_proj.weight", hs, di,
                    projBias("out_proj"));
  }

  GraphBuilder g;
  const ModelConfig &c;
  const Scheme &s;
  Type elt;
  std::vector<bool> routed;
  SmallVector<Value> routing; // per routed layer: its decisions, i64

public:
  bool exposeRouting = false;
  bool lastLogitsOnly = false;
  Value positions, lengths, offsets;
};

} // namespace

namespace chimera::hf {
llvm::Error verifyImported(ModuleOp module, const Checkpoint &ckpt) {
  if (succeeded(mlir::verify(module)))
    return llvm::Error::success();
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 ckpt.directory() +
                                     ": the imported IR does not verify (an "
                                     "importer bug; see the diagnostics "
                                     "above)");
}

llvm::Expected<OwningOpRef<ModuleOp>>
importCheckpoint(MLIRContext &ctx, const Checkpoint &ckpt,
                 const ImportOptions &options) {
  if (ckpt.config().family == Family::Var)
    return importVarCheckpoint(ctx, ckpt, options.teacherForcing);
  ctx.loadDialect<ch::ChimeraDialect, func::FuncDialect, tensor::TensorDialect,
                  arith::ArithDialect, math::MathDialect>();
  llvm::Expected<Scheme> scheme = schemeFor(ckpt);
  if (!scheme)
    return scheme.takeError();
  const ModelConfig &c = ckpt.config();
  Type elt = Float32Type::get(&ctx);
  Type matrixElt = options.weightType ? options.weightType : elt;

  OpBuilder b(&ctx);
  Location loc = FileLineColLoc::get(
      &ctx, ckpt.directory().str() + "/config.json", 1, 1);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  module->setSymName(c.modelType);
  b.setInsertionPointToEnd(module->getBody());

  ModelImporter importer(b, ckpt, *scheme, elt, matrixElt);
  importer.causalRouting =
      options.causalDepthRouting.value_or(c.causalDepthRouting);
  importer.depthThresholds = options.depthThresholds.empty()
                                 ? c.depthThresholds
                                 : options.depthThresholds;
  size_t numThresholds = importer.depthThresholds.size();
  if (importer.causalRouting && numThresholds > 1 &&
      numThresholds != importer.numRouted())
    return llvm::createStringError(
        ckpt.directory().str() + "/config.json: " +
        (options.depthThresholds.empty() ? "key 'mod_threshold'"
                                         : "--mod-threshold") +
        " gives " + std::to_string(numThresholds) +
        " thresholds; the checkpoint has " +
        std::to_string(importer.numRouted()) +
        " routed layers (give one for all, or one each)");
  std::vector<CacheSlot> slots = importer.cacheSlots();
  int64_t dyn = ShapedType::kDynamic;
  auto i64 = b.getI64Type();
  SmallVector<Type> inputs = {RankedTensorType::get({dyn, dyn}, i64),
                              RankedTensorType::get({dyn, dyn}, i64),
                              RankedTensorType::get({dyn}, i64)};
  if (options.lastLogitsOnly && importer.recomputes())
    return llvm::createStringError(
        ckpt.directory().str() + "/config.json: this model routes over the "
        "whole sequence and reruns it per decode step, which needs the logits "
        "of every position; last-position-only logits are not available");
  importer.lastLogitsOnly = options.lastLogitsOnly;
  importer.setQuant(options.quant);
  importer.depthCapacity = options.depthCapacity;
  SmallVector<Type> results = {RankedTensorType::get(
      {dyn, options.lastLogitsOnly ? 1 : dyn, c.vocabSize}, elt)};
  for (const CacheSlot &slot : slots) {
    inputs.push_back(slot.type);
    results.push_back(slot.type);
  }
  size_t numRouting = options.exposeRouting ? importer.numRouted() : 0;
  importer.exposeRouting = options.exposeRouting;
  for (size_t k = 0; k < numRouting; ++k)
    results.push_back(RankedTensorType::get({dyn, dyn}, i64));
  auto func = func::FuncOp::create(b, loc, "forward",
                                   b.getFunctionType(inputs, results));
  auto nameAttr = [&](llvm::StringRef name) {
    return b.getDictionaryAttr(
        b.getNamedAttr("chimera.name", b.getStringAttr(name)));
  };
  SmallVector<Attribute> argAttrs = {nameAttr("input_ids"),
                                     nameAttr("positions"), nameAttr("lengths")};
  SmallVector<Attribute> resAttrs = {nameAttr("logits")};
  for (const CacheSlot &slot : slots) {
    argAttrs.push_back(nameAttr(slot.name));
    resAttrs.push_back(nameAttr(slot.name));
  }
  for (size_t k = 0; k < numRouting; ++k)
    resAttrs.push_back(nameAttr("router_selected.layer" +
                                std::to_string(importer.routedLayer(k))));
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resAttrs);
  // What the runtime needs to size caches and check inputs.
  func->setAttr("chimera.model",
                b.getDictionaryAttr({
                    b.getNamedAttr("family", b.getStringAttr(familyName(c.family))),
                    b.getNamedAttr("vocab_size", b.getI64IntegerAttr(c.vocabSize)),
                    b.getNamedAttr("hidden_size", b.getI64IntegerAttr(c.hiddenSize)),
                    b.getNamedAttr("num_layers", b.getI64IntegerAttr(c.numLayers)),
                    b.getNamedAttr("max_position_embeddings",
                                   b.getI64IntegerAttr(c.maxPositionEmbeddings)),
                    b.getNamedAttr("decode", b.getStringAttr(
                                                 importer.recomputes()
                                                     ? "recompute"
                                                     : "cached")),
                    b.getNamedAttr("logits",
                                   b.getStringAttr(options.lastLogitsOnly
                                                       ? "last"
                                                       : "all")),
                }));

  Block *entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  SmallVector<Value> outs =
      importer.build(entry->getArgument(0), entry->getArgument(1),
                     entry->getArgument(2), entry->getArguments().drop_front(3));

  func::ReturnOp::create(b, loc, outs);
  if (llvm::Error err = importer.takeError())
    return std::move(err);
  if (llvm::Error err = verifyImported(*module, ckpt))
    return std::move(err);
  return module;
}
} // namespace chimera::hf
