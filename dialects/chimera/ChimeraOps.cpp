//===- ChimeraOps.cpp - chimera op verification and shape inference -------===//
//
// Each op's `inferReturnTypes` is also its shape verifier: it runs before the
// op is built or accepted, so a wrong rank, dim, dtype or attribute is
// reported there, naming the operand.
//
//===----------------------------------------------------------------------===//
#include "dialects/chimera/ChimeraOps.h"
#include "dialects/chimera/ShapeUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace mlir::chimera;

static RankedTensorType withShape(Value like, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, rankedType(like).getElementType());
}

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("attribute 'name' must name a checkpoint tensor, got "
                       "an empty string");
  if (!getType().hasStaticShape())
    return emitOpError("result type must have a static shape (weights have "
                       "fixed sizes), got ")
           << getType();
  return success();
}

//===----------------------------------------------------------------------===//
// ParamStackOp
//===----------------------------------------------------------------------===//

LogicalResult ParamStackOp::verify() {
  ArrayAttr names = getNames();
  if (names.empty())
    return emitOpError("attribute 'names' must list at least one checkpoint "
                       "tensor");
  for (auto [i, name] : llvm::enumerate(names.getAsValueRange<StringAttr>()))
    if (name.empty())
      return emitOpError("attribute 'names' entry ") << i << " is empty";
  RankedTensorType type = getType();
  if (!type.hasStaticShape() || type.getRank() < 1)
    return emitOpError("result type must have a static shape of rank >= 1, "
                       "got ")
           << type;
  if (type.getDimSize(0) != static_cast<int64_t>(names.size()))
    return emitOpError("result dim 0 is ")
           << type.getDimSize(0) << " but 'names' lists " << names.size()
           << " tensors";
  return success();
}

/// `lengths : [B]` of a right-padded batch whose input is `[B, L, ...]`.
static LogicalResult checkLengths(const ShapeChecker &check, Value input,
                                  Value lengths) {
  if (!lengths)
    return success();
  if (failed(check.rank(lengths, "lengths", 1)))
    return failure();
  return check.dim(lengths, "lengths", 0, rankedType(input).getDimSize(0),
                   "'input' batch");
}

//===----------------------------------------------------------------------===//
// EmbedOp
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  if (failed(check.rank(adaptor.getTable(), "table", 2)))
    return failure();
  SmallVector<int64_t> shape(rankedType(adaptor.getIds()).getShape());
  shape.push_back(rankedType(adaptor.getTable()).getDimSize(1));
  inferred.push_back(withShape(adaptor.getTable(), shape));
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

/// Checks the stored form of a quantised weight against the logical
/// `[N, K]` and returns N.
static FailureOr<int64_t> checkQuantisedWeight(const ShapeChecker &check,
                                               LinearOp::Adaptor adaptor,
                                               QuantAttr quant, int64_t k) {
  Value weight = adaptor.getWeight();
  Value scales = adaptor.getScales();
  if (failed(check.rank(weight, "weight", 2)))
    return failure();
  if (!rankedType(weight).getElementType().isInteger(8))
    return check.error("operand 'weight' of a quantised linear must be i8 "
                       "storage, got element type " +
                       llvm::Twine(llvm::isa<FloatType>(
                                       rankedType(weight).getElementType())
                                       ? "float"
                                       : "non-i8"));
  if (!scales)
    return check.error("operand 'scales' is required with quant = " +
                       stringifyQuantScheme(quant.getScheme()));
  if (quant.hasOffsets() != static_cast<bool>(adaptor.getOffsets()))
    return check.error(quant.hasOffsets()
                           ? "operand 'offsets' is required with quant = "
                             "fp4_m0e4"
                           : "operand 'offsets' is only valid with quant = "
                             "fp4_m0e4");
  int64_t n = rankedType(weight).getDimSize(0);
  int64_t perByte = quant.getElementsPerByte();
  if (!ShapedType::isDynamic(k) && k % perByte != 0)
    return check.error("operand 'input' inner dim " + llvm::Twine(k) +
                       " is not a multiple of " + llvm::Twine(perByte) +
                       " as packed 4-bit storage needs");
  int64_t stored = ShapedType::isDynamic(k) ? k : k / perByte;
  if (failed(check.dim(weight, "weight", 1, stored,
                       perByte == 1 ? "'input' inner dim"
                                    : "'input' inner dim / 2, two 4-bit "
                                      "codes per byte")))
    return failure();
  if (quant.getScheme() == QuantScheme::Int8) {
    if (failed(check.rank(scales, "scales", 1)) ||
        failed(check.dim(scales, "scales", 0, n, "'weight' dim 0, one per "
                                                 "output channel")))
      return failure();
  } else {
    int64_t group = quant.getGroupSize();
    if (!ShapedType::isDynamic(k) && k % group != 0)
      return check.error("group_size " + llvm::Twine(group) +
                         " does not divide the inner dim " + llvm::Twine(k));
    int64_t groups = ShapedType::isDynamic(k) ? k : k / group;
    if (failed(check.rank(scales, "scales", 2)) ||
        failed(check.dim(scales, "scales", 0, n, "'weight' dim 0")) ||
        failed(check.dim(scales, "scales", 1, groups,
                         "inner dim / group_size")))
      return failure();
    if (quant.getScheme() == QuantScheme::MxFp4 &&
        !rankedType(scales).getElementType().isInteger(8))
      return check.error("operand 'scales' of mxfp4 must hold i8 E8M0 "
                         "exponents");
    if (Value offsets = adaptor.getOffsets())
      if (failed(check.rank(offsets, "offsets", 2)) ||
          failed(check.dim(offsets, "offsets", 0, n, "'weight' dim 0")) ||
          failed(check.dim(offsets, "offsets", 1, groups,
                           "inner dim / group_size")))
        return failure();
  }
  if (quant.getScheme() != QuantScheme::MxFp4 &&
      !llvm::isa<FloatType>(rankedType(scales).getElementType()))
    return check.error("operand 'scales' must be a float tensor");
  return n;
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value input = adaptor.getInput();
  if (failed(check.minRank(input, "input", 1)))
    return failure();
  RankedTensorType inType = rankedType(input);
  int64_t k = inType.getShape().back();
  int64_t n;
  if (QuantAttr quant = adaptor.getQuantAttr()) {
    if (adaptor.getPanel() || adaptor.getRows())
      return check.error("attribute 'panel' is for float weights; a "
                         "quantised weight keeps its [N, K] storage");
    FailureOr<int64_t> rows = checkQuantisedWeight(check, adaptor, quant, k);
    if (failed(rows))
      return failure();
    n = *rows;
  } else {
    Value weight = adaptor.getWeight();
    if (adaptor.getScales() || adaptor.getOffsets())
      return check.error("operands 'scales'/'offsets' need a 'quant' "
                         "attribute");
    if (!llvm::isa<FloatType>(rankedType(weight).getElementType()))
      return check.error("operand 'weight' must be a float tensor unless "
                         "'quant' is given");
    if (std::optional<uint64_t> panel = adaptor.getPanel()) {
      if (failed(check.rank(weight, "weight", 3)) ||
          failed(check.dim(weight, "weight", 1, k,
                           "'input' inner dim, panels are [N/panel, in, "
                           "panel]")) ||
          failed(check.dim(weight, "weight", 2, int64_t(*panel),
                           "'panel', panels are [N/panel, in, panel]")))
        return failure();
      int64_t panels = rankedType(weight).getDimSize(0);
      n = panels * int64_t(*panel);
      if (std::optional<uint64_t> rows = adaptor.getRows()) {
        // Only the last panel is partial: it holds at least one row.
        if (int64_t(*rows) > n || int64_t(*rows) <= n - int64_t(*panel))
          return check.error(
              "attribute 'rows' (" + llvm::Twine(*rows) +
              ") must end in the last of the " + llvm::Twine(panels) +
              " panels of " + llvm::Twine(*panel) + " rows, in (" +
              llvm::Twine(n - int64_t(*panel)) + ", " + llvm::Twine(n) + "]");
        n = int64_t(*rows);
      }
    } else {
      if (adaptor.getRows())
        return check.error("attribute 'rows' needs 'panel'");
      if (failed(check.rank(weight, "weight", 2)) ||
          failed(check.dim(weight, "weight", 1, k,
                           "'input' inner dim, weights are [out, in]")))
        return failure();
      n = rankedType(weight).getDimSize(0);
    }
  }
  if (Value bias = adaptor.getBias())
    if (failed(check.rank(bias, "bias", 1)) ||
        failed(check.dim(bias, "bias", 0, n, "'weight' dim 0")))
      return failure();
  SmallVector<int64_t> shape(inType.getShape());
  shape.back() = n;
  inferred.push_back(withShape(input, shape));
  return success();
}

//===----------------------------------------------------------------------===//
// Norms and activations
//===----------------------------------------------------------------------===//

static LogicalResult checkFeatureVector(const ShapeChecker &check, Value input,
                                        Value vec, StringRef name) {
  if (!vec)
    return success();
  return failure(failed(check.rank(vec, name, 1)) ||
                 failed(check.dim(vec, name, 0,
                                  rankedType(input).getShape().back(),
                                  "'input' last dim")));
}

static LogicalResult checkEpsilon(const ShapeChecker &check, double eps) {
  if (eps < 0.0)
    return check.error("attribute 'epsilon' must be >= 0, got " +
                       std::to_string(eps));
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  if (failed(check.minRank(adaptor.getInput(), "input", 1)) ||
      failed(checkFeatureVector(check, adaptor.getInput(), adaptor.getWeight(),
                                "weight")) ||
      failed(checkEpsilon(check, adaptor.getEpsilon().convertToDouble())))
    return failure();
  inferred.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  if (failed(check.minRank(adaptor.getInput(), "input", 1)) ||
      failed(checkFeatureVector(check, adaptor.getInput(), adaptor.getWeight(),
                                "weight")) ||
      failed(checkFeatureVector(check, adaptor.getInput(), adaptor.getBias(),
                                "bias")) ||
      failed(checkEpsilon(check, adaptor.getEpsilon().convertToDouble())))
    return failure();
  inferred.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult SiluOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult GeluOp::inferReturnTypes(MLIRContext *, std::optional<Location>,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getInput().getType());
  return success();
}

/// Elementwise binary shape: same rank, compatible dims, same dtype.
static FailureOr<RankedTensorType>
elementwiseShape(const ShapeChecker &check, Value a, StringRef aName, Value b,
                 StringRef bName) {
  RankedTensorType ta = rankedType(a);
  if (failed(check.rank(b, bName, ta.getRank())) ||
      failed(check.sameElementType(a, aName, b, bName)))
    return failure();
  SmallVector<int64_t> shape;
  for (int64_t i = 0; i < ta.getRank(); ++i) {
    if (failed(check.dim(b, bName, i, ta.getDimSize(i),
                         "'" + aName + "' dim " + llvm::Twine(i))))
      return failure();
    shape.push_back(mergeDims(ta.getDimSize(i), rankedType(b).getDimSize(i)));
  }
  return RankedTensorType::get(shape, ta.getElementType());
}

LogicalResult GluOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  FailureOr<RankedTensorType> type = elementwiseShape(
      check, adaptor.getGate(), "gate", adaptor.getUp(), "up");
  if (failed(type))
    return failure();
  inferred.push_back(*type);
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value input = adaptor.getInput(), positions = adaptor.getPositions();
  if (failed(check.rank(input, "input", 4)) ||
      failed(check.rank(positions, "positions", 2)) ||
      failed(check.dim(positions, "positions", 0,
                       rankedType(input).getDimSize(0), "'input' dim 0")) ||
      failed(check.dim(positions, "positions", 1,
                       rankedType(input).getDimSize(1), "'input' dim 1")))
    return failure();
  int64_t headDim = rankedType(input).getDimSize(3);
  if (ShapedType::isDynamic(headDim))
    return check.error("operand 'input' head dim (dim 3) must be static");
  int64_t rotary = adaptor.getRotaryDim().value_or(headDim);
  if (rotary <= 0 || rotary % 2 != 0 || rotary > headDim)
    return check.error("attribute 'rotary_dim' must be even and in (0, " +
                       llvm::Twine(headDim) + "], got " + llvm::Twine(rotary));
  if (adaptor.getTheta().convertToDouble() <= 0.0)
    return check.error("attribute 'theta' must be positive");
  inferred.push_back(input.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value q = adaptor.getQuery(), k = adaptor.getKey(), v = adaptor.getValue();
  if (failed(check.rank(q, "query", 4)) || failed(check.rank(k, "key", 4)) ||
      failed(check.rank(v, "value", 4)) ||
      failed(check.sameElementType(q, "query", k, "key")) ||
      failed(check.sameElementType(q, "query", v, "value")))
    return failure();
  ArrayRef<int64_t> qs = rankedType(q).getShape(), ks = rankedType(k).getShape(),
                    vs = rankedType(v).getShape();
  if (failed(check.dim(k, "key", 0, qs[0], "'query' batch")) ||
      failed(check.dim(k, "key", 3, qs[3], "'query' head dim")) ||
      failed(check.dim(v, "value", 0, qs[0], "'query' batch")) ||
      failed(check.dim(v, "value", 1, ks[1], "'key' length")) ||
      failed(check.dim(v, "value", 2, ks[2], "'key' heads")))
    return failure();
  if (ShapedType::isDynamic(qs[2]) || ShapedType::isDynamic(ks[2]))
    return check.error("head counts (dim 2 of 'query' and 'key') must be "
                       "static");
  if (ks[2] == 0 || qs[2] % ks[2] != 0)
    return check.error("operand 'query' has " + llvm::Twine(qs[2]) +
                       " heads, not a multiple of the " + llvm::Twine(ks[2]) +
                       " heads of 'key'");
  Value positions = adaptor.getPositions();
  MaskKind mask = adaptor.getMask();
  if (mask != MaskKind::None && !positions)
    return check.error("operand 'positions' is required with mask = " +
                       stringifyMaskKind(mask));
  if (positions &&
      (failed(check.rank(positions, "positions", 2)) ||
       failed(check.dim(positions, "positions", 0, qs[0], "'query' batch")) ||
       failed(check.dim(positions, "positions", 1, qs[1], "'query' length"))))
    return failure();
  std::optional<int64_t> window = adaptor.getWindow();
  if ((mask == MaskKind::SlidingWindow) != window.has_value())
    return check.error(window ? "attribute 'window' is only valid with mask "
                                "= sliding_window"
                              : "attribute 'window' is required with mask = "
                                "sliding_window");
  if (window && *window <= 0)
    return check.error("attribute 'window' must be positive, got " +
                       llvm::Twine(*window));
  std::optional<ArrayRef<int64_t>> segments = adaptor.getSegments();
  if ((mask == MaskKind::BlockCausal) != segments.has_value())
    return check.error(segments ? "attribute 'segments' is only valid with "
                                  "mask = block_causal"
                                : "attribute 'segments' is required with "
                                  "mask = block_causal");
  if (segments && llvm::any_of(*segments, [](int64_t s) { return s <= 0; }))
    return check.error("attribute 'segments' must hold positive lengths");
  if (std::optional<APFloat> scale = adaptor.getScale();
      scale && scale->convertToDouble() <= 0.0)
    return check.error("attribute 'scale' must be positive");
  inferred.push_back(withShape(q, {qs[0], qs[1], qs[2], vs[3]}));
  return success();
}

//===----------------------------------------------------------------------===//
// LastTokenOp
//===----------------------------------------------------------------------===//

LogicalResult LastTokenOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  if (failed(check.rank(adaptor.getInput(), "input", 3)) ||
      failed(check.rank(adaptor.getLengths(), "lengths", 1)))
    return failure();
  int64_t batch = rankedType(adaptor.getInput()).getDimSize(0);
  if (failed(check.dim(adaptor.getLengths(), "lengths", 0, batch,
                       "'input' dim 0")))
    return failure();
  auto type = rankedType(adaptor.getInput());
  inferred.push_back(withShape(
      adaptor.getInput(),
      {mergeDims(batch, rankedType(adaptor.getLengths()).getDimSize(0)), 1,
       type.getDimSize(2)}));
  return success();
}

//===----------------------------------------------------------------------===//
// CacheWriteOp
//===----------------------------------------------------------------------===//

LogicalResult CacheWriteOp::inferReturnTypes(MLIRContext *,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value cache = adaptor.getCache(), update = adaptor.getUpdate();
  RankedTensorType ct = rankedType(cache);
  if (failed(check.minRank(cache, "cache", 2)) ||
      failed(check.rank(update, "update", ct.getRank())) ||
      failed(check.sameElementType(cache, "cache", update, "update")) ||
      failed(check.rank(adaptor.getOffsets(), "offsets", 1)) ||
      failed(check.dim(adaptor.getOffsets(), "offsets", 0, ct.getDimSize(0),
                       "'cache' batch")) ||
      failed(check.dim(update, "update", 0, ct.getDimSize(0), "'cache' batch")))
    return failure();
  for (int64_t i = 2; i < ct.getRank(); ++i)
    if (failed(check.dim(update, "update", i, ct.getDimSize(i),
                         "'cache' dim " + llvm::Twine(i))))
      return failure();
  int64_t rows = rankedType(update).getDimSize(1);
  if (!ShapedType::isDynamic(rows) && !ct.isDynamicDim(1) &&
      rows > ct.getDimSize(1))
    return check.error("operand 'update' writes " + llvm::Twine(rows) +
                       " rows into a cache of " +
                       llvm::Twine(ct.getDimSize(1)));
  inferred.push_back(ct);
  return success();
}

//===----------------------------------------------------------------------===//
// CausalConv1dOp
//===----------------------------------------------------------------------===//

LogicalResult CausalConv1dOp::inferReturnTypes(MLIRContext *,
                                               std::optional<Location> loc,
                                               Adaptor adaptor,
                                               SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value x = adaptor.getInput(), w = adaptor.getWeight();
  if (failed(check.rank(x, "input", 3)) || failed(check.rank(w, "weight", 2)) ||
      failed(check.dim(w, "weight", 0, rankedType(x).getDimSize(2),
                       "'input' channels")))
    return failure();
  int64_t width = rankedType(w).getDimSize(1);
  if (ShapedType::isDynamic(width) || width < 1)
    return check.error("operand 'weight' kernel width (dim 1) must be a "
                       "static positive size");
  if (failed(checkFeatureVector(check, x, adaptor.getBias(), "bias")))
    return failure();
  ArrayRef<int64_t> xs = rankedType(x).getShape();
  SmallVector<int64_t> stateShape = {xs[0], width - 1, xs[2]};
  if (Value state = adaptor.getState()) {
    if (failed(check.rank(state, "state", 3)))
      return failure();
    for (int i = 0; i < 3; ++i)
      if (failed(check.dim(state, "state", i, stateShape[i],
                           i == 1 ? "kernel width - 1" : "'input' shape")))
        return failure();
  }
  if (failed(checkLengths(check, x, adaptor.getLengths())))
    return failure();
  Activation act = adaptor.getActivation();
  if (act != Activation::Identity && act != Activation::Silu)
    return check.error("attribute 'activation' must be identity or silu, got " +
                       stringifyActivation(act));
  inferred.push_back(x.getType());
  inferred.push_back(withShape(x, stateShape));
  return success();
}

//===----------------------------------------------------------------------===//
// SelectiveScanOp
//===----------------------------------------------------------------------===//

LogicalResult SelectiveScanOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value u = adaptor.getU();
  if (failed(check.rank(u, "u", 3)) || failed(check.rank(adaptor.getA(), "A", 2)))
    return failure();
  ArrayRef<int64_t> us = rankedType(u).getShape();
  int64_t n = rankedType(adaptor.getA()).getDimSize(1);
  if (failed(check.dim(adaptor.getA(), "A", 0, us[2], "'u' channels")))
    return failure();
  // [B, L, D] operands.
  for (auto [v, name] : {std::pair<Value, StringRef>{adaptor.getDelta(), "delta"},
                         {adaptor.getZ(), "z"}}) {
    if (!v)
      continue;
    if (failed(check.rank(v, name, 3)))
      return failure();
    for (int i = 0; i < 3; ++i)
      if (failed(check.dim(v, name, i, us[i], "'u' dim " + llvm::Twine(i))))
        return failure();
  }
  // [B, L, N] operands.
  for (auto [v, name] : {std::pair<Value, StringRef>{adaptor.getB(), "B"},
                         {adaptor.getC(), "C"}}) {
    if (failed(check.rank(v, name, 3)) ||
        failed(check.dim(v, name, 0, us[0], "'u' batch")) ||
        failed(check.dim(v, name, 1, us[1], "'u' length")) ||
        failed(check.dim(v, name, 2, n, "'A' state size")))
      return failure();
  }
  for (auto [v, name] : {std::pair<Value, StringRef>{adaptor.getD(), "D"},
                         {adaptor.getDeltaBias(), "delta_bias"}})
    if (failed(checkFeatureVector(check, u, v, name)))
      return failure();
  SmallVector<int64_t> stateShape = {us[0], us[2], n};
  if (Value init = adaptor.getInitialState()) {
    if (failed(check.rank(init, "initial_state", 3)))
      return failure();
    for (int i = 0; i < 3; ++i)
      if (failed(check.dim(init, "initial_state", i, stateShape[i],
                           "[batch, channels, state size]")))
        return failure();
  }
  if (failed(checkLengths(check, u, adaptor.getLengths())))
    return failure();
  inferred.push_back(u.getType());
  inferred.push_back(withShape(u, stateShape));
  return success();
}

//===----------------------------------------------------------------------===//
// RouteTopKOp / ExpertFfnOp
//===----------------------------------------------------------------------===//

LogicalResult RouteTopKOp::inferReturnTypes(MLIRContext *ctx,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value logits = adaptor.getLogits();
  if (failed(check.rank(logits, "logits", 2)))
    return failure();
  if (!adaptor.getKAttr())
    return check.error("requires attribute 'k'");
  int64_t k = adaptor.getK();
  int64_t experts = rankedType(logits).getDimSize(1);
  if (k <= 0)
    return check.error("attribute 'k' must be positive, got " + llvm::Twine(k));
  if (!ShapedType::isDynamic(experts) && k > experts)
    return check.error("attribute 'k' = " + llvm::Twine(k) +
                       " exceeds the " + llvm::Twine(experts) +
                       " experts of 'logits'");
  int64_t t = rankedType(logits).getDimSize(0);
  inferred.push_back(withShape(logits, {t, k}));
  inferred.push_back(RankedTensorType::get({t, k}, IntegerType::get(ctx, 64)));
  return success();
}

/// An expert FFN's optional `w_gate` has `w_up`'s shape `us`.
static LogicalResult checkGateShape(const ShapeChecker &check, Value gate,
                                    ArrayRef<int64_t> us) {
  if (!gate)
    return success();
  if (failed(check.rank(gate, "w_gate", int64_t(us.size()))))
    return failure();
  for (auto [i, size] : llvm::enumerate(us))
    if (failed(check.dim(gate, "w_gate", int64_t(i), size, "'w_up' shape")))
      return failure();
  return success();
}

/// The panel-stored float experts (`panel = P`): w_up, w_gate
/// [E, I/P, H, P] and w_down [E, H/P, I, P], no scales or offsets.
static LogicalResult checkExpertPanels(const ShapeChecker &check,
                                       ExpertFfnOp::Adaptor adaptor,
                                       int64_t panel, int64_t h) {
  if (adaptor.getQuantAttr())
    return check.error("attribute 'panel' is for float experts; quantised "
                       "experts keep their [E, N, K] codes");
  if (adaptor.getUpScales() || adaptor.getDownScales() ||
      adaptor.getGateScales() || adaptor.getUpOffsets() ||
      adaptor.getDownOffsets() || adaptor.getGateOffsets())
    return check.error("operands 'scales'/'offsets' need a 'quant' "
                       "attribute");
  if (!ShapedType::isDynamic(h) && h % panel != 0)
    return check.error("'input' hidden size " + llvm::Twine(h) +
                       " is not a multiple of 'panel' (" + llvm::Twine(panel) +
                       ")");
  Value up = adaptor.getWUp(), down = adaptor.getWDown();
  if (failed(check.rank(up, "w_up", 4)) ||
      failed(check.rank(down, "w_down", 4)))
    return failure();
  ArrayRef<int64_t> us = rankedType(up).getShape();
  int64_t inter = ShapedType::isDynamic(us[1]) ? us[1] : us[1] * panel;
  auto panels = [](const char *what) {
    return std::string(what) + ", panels are [E, N/panel, K, panel]";
  };
  if (failed(check.dim(up, "w_up", 2, h, panels("'input' hidden size"))) ||
      failed(check.dim(up, "w_up", 3, panel, panels("'panel'"))) ||
      failed(check.dim(down, "w_down", 0, us[0], "'w_up' experts")) ||
      failed(check.dim(down, "w_down", 1,
                       ShapedType::isDynamic(h) ? h : h / panel,
                       panels("'input' hidden size / panel"))) ||
      failed(check.dim(down, "w_down", 2, inter,
                       panels("'w_up' intermediate size"))) ||
      failed(check.dim(down, "w_down", 3, panel, panels("'panel'"))))
    return failure();
  if (failed(checkGateShape(check, adaptor.getWGate(), us)))
    return failure();
  for (auto [w, name] : {std::pair{up, "w_up"}, std::pair{down, "w_down"},
                         std::pair{adaptor.getWGate(), "w_gate"}})
    if (w && !llvm::isa<FloatType>(rankedType(w).getElementType()))
      return check.error(std::string("operand '") + name +
                         "' must be a float tensor without 'quant'");
  return success();
}

int64_t ExpertFfnOp::getIntermediateSize() {
  int64_t rows = getWUp().getType().getDimSize(1);
  std::optional<uint64_t> panel = getPanel();
  return panel && !ShapedType::isDynamic(rows) ? rows * int64_t(*panel) : rows;
}

LogicalResult ExpertFfnOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value x = adaptor.getInput(), up = adaptor.getWUp(), down = adaptor.getWDown();
  if (failed(check.rank(x, "input", 2)) ||
      failed(check.rank(adaptor.getWeights(), "weights", 2)) ||
      failed(check.rank(adaptor.getIds(), "ids", 2)))
    return failure();
  int64_t t = rankedType(x).getDimSize(0), h = rankedType(x).getDimSize(1);
  int64_t k = rankedType(adaptor.getWeights()).getDimSize(1);
  if (failed(
          check.dim(adaptor.getWeights(), "weights", 0, t, "'input' tokens")) ||
      failed(check.dim(adaptor.getIds(), "ids", 0, t, "'input' tokens")) ||
      failed(check.dim(adaptor.getIds(), "ids", 1, k, "'weights' dim 1")))
    return failure();
  if (std::optional<uint64_t> panel = adaptor.getPanel()) {
    if (failed(checkExpertPanels(check, adaptor, int64_t(*panel), h)))
      return failure();
    inferred.push_back(x.getType());
    return success();
  }
  if (failed(check.rank(up, "w_up", 3)) ||
      failed(check.rank(down, "w_down", 3)))
    return failure();
  ArrayRef<int64_t> us = rankedType(up).getShape();
  // Float weights, int8 codes with one scale per expert output row, or int4
  // codes two per byte with one scale per group of each row.
  QuantAttr quant = adaptor.getQuantAttr();
  // int4 and the FP4 schemes: two codes per byte, a scale per group.
  bool int4 = quant && quant.getElementsPerByte() == 2;
  int64_t perByte = int4 ? 2 : 1;
  auto packed = [&](int64_t columns) {
    return ShapedType::isDynamic(columns) ? columns : columns / perByte;
  };
  if (failed(check.dim(up, "w_up", 2, packed(h),
                       int4 ? "'input' hidden size / 2 (4-bit codes)"
                            : "'input' hidden size")) ||
      failed(check.dim(down, "w_down", 0, us[0], "'w_up' experts")) ||
      failed(check.dim(down, "w_down", 1, h, "'input' hidden size")) ||
      failed(check.dim(down, "w_down", 2, packed(us[1]),
                       int4 ? "'w_up' intermediate size / 2 (4-bit codes)"
                            : "'w_up' intermediate size")))
    return failure();
  if (failed(checkGateShape(check, adaptor.getWGate(), us)))
    return failure();
  struct Part {
    Value w, scales, offsets;
    const char *name, *scalesName, *offsetsName;
  };
  for (Part p : {Part{up, adaptor.getUpScales(), adaptor.getUpOffsets(),
                      "w_up", "up_scales", "up_offsets"},
                 Part{down, adaptor.getDownScales(), adaptor.getDownOffsets(),
                      "w_down", "down_scales", "down_offsets"},
                 Part{adaptor.getWGate(), adaptor.getGateScales(),
                      adaptor.getGateOffsets(), "w_gate", "gate_scales",
                      "gate_offsets"}}) {
    if (!p.w) {
      if (p.scales || p.offsets)
        return check.error(std::string("operand '") +
                           (p.scales ? p.scalesName : p.offsetsName) +
                           "' without '" + p.name + "'");
      continue;
    }
    bool offsets = quant && quant.hasOffsets();
    if (offsets != static_cast<bool>(p.offsets))
      return check.error(std::string("operand '") + p.offsetsName +
                         (offsets ? "' is required with quant = fp4_m0e4"
                                  : "' is only valid with quant = fp4_m0e4"));
    Type elt = rankedType(p.w).getElementType();
    if (!quant) {
      if (!llvm::isa<FloatType>(elt))
        return check.error(std::string("operand '") + p.name +
                           "' must be a float tensor without 'quant'");
      if (p.scales)
        return check.error(std::string("operand '") + p.scalesName +
                           "' needs a quant scheme");
      continue;
    }
    std::string scheme = stringifyQuantScheme(quant.getScheme()).str();
    if (!elt.isInteger(8))
      return check.error(std::string("operand '") + p.name +
                         "' must hold i8 codes with quant = " + scheme);
    if (!p.scales)
      return check.error(std::string("operand '") + p.scalesName +
                         "' is required with quant = " + scheme);
    ArrayRef<int64_t> ws = rankedType(p.w).getShape();
    if (failed(check.rank(p.scales, p.scalesName, int4 ? 3 : 2)) ||
        failed(check.dim(p.scales, p.scalesName, 0, ws[0], "experts")) ||
        failed(check.dim(p.scales, p.scalesName, 1, ws[1],
                         "rows, one per output row")))
      return failure();
    if (int4) {
      int64_t group = quant.getGroupSize();
      int64_t columns = ws[2] * 2;
      if (!ShapedType::isDynamic(ws[2]) && columns % group != 0)
        return check.error(std::string("operand '") + p.name + "': " +
                           std::to_string(columns) +
                           " columns are not a multiple of group_size " +
                           std::to_string(group));
      if (!ShapedType::isDynamic(ws[2]) &&
          failed(check.dim(p.scales, p.scalesName, 2, columns / group,
                           "groups, one per group_size columns")))
        return failure();
    }
    Type scaleElt = rankedType(p.scales).getElementType();
    if (quant.getScheme() == QuantScheme::MxFp4 ? !scaleElt.isInteger(8)
                                                : !isa<FloatType>(scaleElt))
      return check.error(
          std::string("operand '") + p.scalesName +
          (quant.getScheme() == QuantScheme::MxFp4
               ? "' of mxfp4 must hold i8 E8M0 exponents"
               : "' must be a float tensor"));
    if (p.offsets) {
      ArrayRef<int64_t> ss = rankedType(p.scales).getShape();
      if (failed(check.rank(p.offsets, p.offsetsName, 3)))
        return failure();
      for (int i = 0; i < 3; ++i)
        if (failed(check.dim(p.offsets, p.offsetsName, i, ss[i],
                             "the scales' shape")))
          return failure();
    }
  }
  inferred.push_back(x.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// DepthRouteOp
//===----------------------------------------------------------------------===//

void DepthRouteOp::build(OpBuilder &builder, OperationState &state, Value input,
                         Value scores, Value positions, double capacity,
                         DepthSelection selection, double threshold,
                         bool scaleByScore, Value lengths, ValueRange states) {
  state.addOperands({input, scores, positions});
  if (lengths)
    state.addOperands(lengths);
  state.addOperands(states);
  Properties &props = state.getOrAddProperties<Properties>();
  props.capacity = builder.getF64FloatAttr(capacity);
  props.selection = DepthSelectionAttr::get(builder.getContext(), selection);
  props.threshold = builder.getF64FloatAttr(threshold);
  if (scaleByScore)
    props.scale_by_score = builder.getUnitAttr();
  props.operandSegmentSizes = {1, 1, 1, lengths ? 1 : 0,
                               int32_t(states.size())};
  SmallVector<Type> types;
  if (failed(inferReturnTypes(builder.getContext(), state.location,
                              state.operands,
                              state.attributes.getDictionary(builder.getContext()),
                              state.getRawProperties(), {}, types)))
    llvm::report_fatal_error("chimera.depth_route: invalid operands");
  state.addTypes(types);
  Region *body = state.addRegion();
  Block *block = new Block();
  RankedTensorType xt = rankedType(input);
  block->addArgument(
      RankedTensorType::get({1, ShapedType::kDynamic, xt.getDimSize(2)},
                            xt.getElementType()),
      state.location);
  block->addArgument(RankedTensorType::get({1, ShapedType::kDynamic},
                                           rankedType(positions).getElementType()),
                     state.location);
  for (Value s : states)
    block->addArgument(rowType(rankedType(s)), state.location);
  body->push_back(block);
}

/// Row `b` of a `[B, ...]` state: `[1, ...]`.
RankedTensorType DepthRouteOp::rowType(RankedTensorType state) {
  SmallVector<int64_t> shape(state.getShape());
  shape[0] = 1;
  return state.clone(shape);
}

LogicalResult DepthRouteOp::inferReturnTypes(MLIRContext *ctx,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value x = adaptor.getInput();
  if (failed(check.rank(x, "input", 3)))
    return failure();
  ArrayRef<int64_t> xs = rankedType(x).getShape();
  for (auto [v, name] : {std::pair<Value, StringRef>{adaptor.getScores(), "scores"},
                         {adaptor.getPositions(), "positions"}})
    if (failed(check.rank(v, name, 2)) ||
        failed(check.dim(v, name, 0, xs[0], "'input' batch")) ||
        failed(check.dim(v, name, 1, xs[1], "'input' length")))
      return failure();
  if (failed(checkLengths(check, x, adaptor.getLengths())))
    return failure();
  double capacity = adaptor.getCapacity().convertToDouble();
  if (!(capacity > 0.0 && capacity <= 1.0))
    return check.error("attribute 'capacity' must be in (0, 1], got " +
                       std::to_string(capacity));
  inferred.push_back(x.getType());
  inferred.push_back(
      RankedTensorType::get({xs[0], xs[1]}, IntegerType::get(ctx, 1)));
  for (auto [i, s] : llvm::enumerate(adaptor.getStates())) {
    std::string name = "states #" + std::to_string(i);
    auto t = llvm::dyn_cast<RankedTensorType>(s.getType());
    if (!t || t.getRank() < 1)
      return check.error("operand '" + name + "' must be a ranked tensor "
                         "with a leading batch dim");
    if (failed(check.dim(s, name, 0, xs[0], "'input' batch")))
      return failure();
    inferred.push_back(t);
  }
  return success();
}

LogicalResult DepthRouteOp::verifyRegions() {
  Block &block = getBody().front();
  RankedTensorType xt = rankedType(getInput());
  unsigned numStates = getStates().size();
  if (block.getNumArguments() != 2 + numStates)
    return emitOpError("region must take ")
           << 2 + numStates << " arguments (selected tokens, their positions"
           << (numStates ? ", a row of each state" : "") << "), got "
           << block.getNumArguments();
  auto xSel = llvm::dyn_cast<RankedTensorType>(block.getArgument(0).getType());
  if (!xSel || xSel.getRank() != 3 || xSel.getDimSize(0) != 1 ||
      !dimsCompatible(xSel.getDimSize(2), xt.getDimSize(2)) ||
      xSel.getElementType() != xt.getElementType())
    return emitOpError("region argument #0 must be tensor<1x?x")
           << xt.getDimSize(2) << "x" << xt.getElementType()
           << "> (the selected tokens), got " << block.getArgument(0).getType();
  auto pSel = llvm::dyn_cast<RankedTensorType>(block.getArgument(1).getType());
  if (!pSel || pSel.getRank() != 2 || pSel.getDimSize(0) != 1 ||
      !llvm::isa<IntegerType>(pSel.getElementType()))
    return emitOpError("region argument #1 must be tensor<1x?xi64> (the "
                       "selected positions), got ")
           << block.getArgument(1).getType();
  for (auto [i, s] : llvm::enumerate(getStates())) {
    RankedTensorType want = rowType(rankedType(s));
    if (block.getArgument(2 + i).getType() != want)
      return emitOpError("region argument #")
             << 2 + i << " must be " << want << " (row of states #" << i
             << "), got " << block.getArgument(2 + i).getType();
  }
  auto yield = llvm::dyn_cast<YieldOp>(block.getTerminator());
  if (!yield)
    return emitOpError("region must end in 'chimera.yield'");
  if (yield.getValues().size() != 1 + numStates ||
      yield.getValues().front().getType() != xSel)
    return yield.emitOpError("must yield ")
           << (numStates ? "a value" : "exactly one value") << " of type "
           << xSel << " (the block's output for the selected tokens)"
           << (numStates ? " and a new row of each state" : "");
  for (unsigned i = 0; i < numStates; ++i)
    if (yield.getValues()[1 + i].getType() != block.getArgument(2 + i).getType())
      return yield.emitOpError("value #")
             << 1 + i << " must be " << block.getArgument(2 + i).getType()
             << " (the new row of states #" << i << "), got "
             << yield.getValues()[1 + i].getType();
  return success();
}

//===----------------------------------------------------------------------===//
// ScaleInterpOp / NextScaleGenerateOp
//===----------------------------------------------------------------------===//

LogicalResult ScaleInterpOp::inferReturnTypes(MLIRContext *,
                                              std::optional<Location> loc,
                                              Adaptor adaptor,
                                              SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value x = adaptor.getInput();
  if (failed(check.rank(x, "input", 4)))
    return failure();
  ArrayRef<int64_t> xs = rankedType(x).getShape();
  if (ShapedType::isDynamic(xs[2]) || ShapedType::isDynamic(xs[3]))
    return check.error("operand 'input' spatial dims must be static");
  if (!adaptor.getSizeAttr() || !adaptor.getModeAttr())
    return check.error("requires attributes 'size' and 'mode'");
  ArrayRef<int64_t> size = adaptor.getSize();
  if (size.size() != 2 || size[0] <= 0 || size[1] <= 0)
    return check.error("attribute 'size' must be two positive sizes [H, W]");
  InterpMode mode = adaptor.getMode();
  if (mode == InterpMode::Area && (size[0] > xs[2] || size[1] > xs[3]))
    return check.error("mode = area only downsamples; size [" +
                       llvm::Twine(size[0]) + ", " + llvm::Twine(size[1]) +
                       "] exceeds the input [" + llvm::Twine(xs[2]) + ", " +
                       llvm::Twine(xs[3]) + "]");
  inferred.push_back(withShape(x, {xs[0], xs[1], size[0], size[1]}));
  return success();
}

LogicalResult NextScaleGenerateOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  if (!adaptor.getPatchNumsAttr())
    return check.error("requires attribute 'patch_nums'");
  ArrayRef<int64_t> patches = adaptor.getPatchNums();
  if (patches.empty())
    return check.error("attribute 'patch_nums' must not be empty");
  for (size_t i = 0; i < patches.size(); ++i)
    if (patches[i] <= 0 || (i > 0 && patches[i] <= patches[i - 1]))
      return check.error("attribute 'patch_nums' must be positive and "
                         "strictly increasing");
  if (adaptor.getInits().empty())
    return check.error("needs at least one carried value (f_hat)");
  Value fHat = adaptor.getInits().front();
  if (failed(check.rank(fHat, "f_hat", 4)) ||
      failed(check.dim(fHat, "f_hat", 2, patches.back(),
                       "last entry of 'patch_nums'")) ||
      failed(check.dim(fHat, "f_hat", 3, patches.back(),
                       "last entry of 'patch_nums'")))
    return failure();
  for (Value v : adaptor.getInits())
    inferred.push_back(v.getType());
  return success();
}

LogicalResult NextScaleGenerateOp::verifyRegions() {
  if (getSteps().size() != getPatchNums().size())
    return emitOpError("has ")
           << getSteps().size() << " step regions for "
           << getPatchNums().size() << " scales in 'patch_nums'";
  for (auto [k, step] : llvm::enumerate(getSteps())) {
    Block &block = step.front();
    if (block.getNumArguments() != getInits().size())
      return emitOpError("step ")
             << k << " must take the " << getInits().size()
             << " carried values as arguments, got "
             << block.getNumArguments();
    for (auto [i, v] : llvm::enumerate(getInits()))
      if (block.getArgument(i).getType() != v.getType())
        return emitOpError("step ")
               << k << " argument #" << i << " has type "
               << block.getArgument(i).getType() << ", expected "
               << v.getType() << " (carried value #" << i << ")";
    auto yield = llvm::dyn_cast<YieldOp>(block.getTerminator());
    if (!yield)
      return emitOpError("step ") << k << " must end in 'chimera.yield'";
    if (yield.getValues().getTypes() != getInits().getTypes())
      return yield.emitOpError("must yield the carried types ")
             << getInits().getTypes();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2dOp / GroupNormOp / SampleOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2dOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value x = adaptor.getInput(), w = adaptor.getWeight();
  if (failed(check.rank(x, "input", 4)) || failed(check.rank(w, "weight", 4)))
    return failure();
  ArrayRef<int64_t> xs = rankedType(x).getShape(), ws = rankedType(w).getShape();
  for (int d = 1; d < 4; ++d)
    if (ShapedType::isDynamic(xs[d]))
      return check.error("operand 'input' dims 1-3 (channels, height, width) "
                         "must be static");
  if (llvm::any_of(ws, ShapedType::isDynamic))
    return check.error("operand 'weight' must have a static shape");
  if (failed(check.dim(w, "weight", 1, xs[1], "'input' channels (dim 1)")))
    return failure();
  if (Value bias = adaptor.getBias())
    if (failed(check.rank(bias, "bias", 1)) ||
        failed(check.dim(bias, "bias", 0, ws[0], "'weight' dim 0")))
      return failure();
  int64_t pad = adaptor.getPadding();
  if (pad < 0)
    return check.error("attribute 'padding' must be >= 0");
  int64_t h = xs[2] + 2 * pad - ws[2] + 1, wd = xs[3] + 2 * pad - ws[3] + 1;
  if (h < 1 || wd < 1)
    return check.error("kernel " + llvm::Twine(ws[2]) + "x" +
                       llvm::Twine(ws[3]) + " is larger than the padded input");
  inferred.push_back(withShape(x, {xs[0], ws[0], h, wd}));
  return success();
}

LogicalResult GroupNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value x = adaptor.getInput();
  if (failed(check.minRank(x, "input", 2)))
    return failure();
  int64_t c = rankedType(x).getDimSize(1);
  if (ShapedType::isDynamic(c))
    return check.error("operand 'input' channels (dim 1) must be static");
  int64_t groups = adaptor.getNumGroups();
  if (groups < 1 || c % groups != 0)
    return check.error("attribute 'num_groups' (" + llvm::Twine(groups) +
                       ") must divide the " + llvm::Twine(c) + " channels");
  for (auto [v, name] : {std::pair{adaptor.getWeight(), "weight"},
                         std::pair{adaptor.getBias(), "bias"}})
    if (failed(check.rank(v, name, 1)) ||
        failed(check.dim(v, name, 0, c, "'input' channels (dim 1)")))
      return failure();
  if (failed(checkEpsilon(check, adaptor.getEpsilon().convertToDouble())))
    return failure();
  inferred.push_back(x.getType());
  return success();
}

LogicalResult SampleOp::inferReturnTypes(MLIRContext *ctx,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &inferred) {
  ShapeChecker check(loc, getOperationName());
  Value logits = adaptor.getLogits();
  if (failed(check.minRank(logits, "logits", 1)))
    return failure();
  for (auto [v, name] : {std::pair{adaptor.getTopK(), "top_k"},
                         std::pair{adaptor.getTopP(), "top_p"},
                         std::pair{adaptor.getSeed(), "seed"}})
    if (failed(check.rank(v, name, 0)))
      return failure();
  ArrayRef<int64_t> shape = rankedType(logits).getShape();
  inferred.push_back(
      RankedTensorType::get(shape.drop_back(), IntegerType::get(ctx, 64)));
  return success();
}

#define GET_OP_CLASSES
#include "dialects/chimera/ChimeraOps.cpp.inc"

//===----------------------------------------------------------------------===//
// LaunchOp
//===----------------------------------------------------------------------===//

LogicalResult LaunchOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  // A GPU kernel is checked while its gpu.module exists; the target's
  // conversion replaces the module by a binary the symbol no longer names.
  if (!getKernelAttr().getNestedReferences().empty()) {
    Operation *root = symbolTable.lookupNearestSymbolFrom(
        *this, getKernelAttr().getRootReference());
    if (!root || root->getName().getStringRef() != "gpu.module")
      return success();
  }
  auto kernel = symbolTable.lookupNearestSymbolFrom<FunctionOpInterface>(
      *this, getKernelAttr());
  if (!kernel)
    return emitOpError("kernel '") << getKernel() << "' is not a function";
  // Once the kernel is lowered (to llvm.func, or to a gpu.func over flat
  // buffers) its signature is the target's; the launch is checked against
  // the func.func it was formed from.
  if (kernel->getName().getStringRef() != "func.func")
    return success();
  ArrayRef<Type> inputs = kernel.getArgumentTypes();
  auto index = IndexType::get(getContext());
  if (inputs.size() != getKernelOperands().size() + 2 || inputs[0] != index ||
      inputs[1] != index)
    return emitOpError("kernel '")
           << getKernel() << "' must take (index, index) and then the "
           << getKernelOperands().size() << " launch operand(s)";
  for (auto [i, pair] :
       llvm::enumerate(llvm::zip(inputs.drop_front(2), getKernelOperands())))
    if (std::get<0>(pair) != std::get<1>(pair).getType())
      return emitOpError("operand ")
             << i << " has type " << std::get<1>(pair).getType()
             << " but kernel argument " << i + 2 << " has type "
             << std::get<0>(pair);
  if (!kernel.getResultTypes().empty())
    return emitOpError("kernel '") << getKernel() << "' must return nothing";
  return success();
}
