//===- GraphBuilder.cpp - chimera IR builders for checkpoint importers ----===//
#include "frontends/hf/GraphBuilder.h"

#include "dialects/chimera/ChimeraOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <algorithm>

using namespace mlir;
using namespace ::chimera::hf;
namespace ch = ::mlir::chimera;

namespace chimera::hf {
std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
} // namespace chimera::hf

void GraphBuilder::setScope(llvm::StringRef scope) {
  loc = NameLoc::get(b.getStringAttr(scope));
}

void GraphBuilder::fail(const llvm::Twine &message) {
  if (error.empty())
    error = message.str();
}

llvm::Error GraphBuilder::takeError() {
  if (error.empty())
    return llvm::Error::success();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
}

bool GraphBuilder::checkTensor(llvm::StringRef name,
                               llvm::ArrayRef<int64_t> shape) {
  std::optional<Checkpoint::Entry> entry = ckpt.find(name);
  if (!entry) {
    fail(ckpt.directory() + ": missing weight '" + name + "' (expected shape " +
         formatShape(shape) + ")");
    return false;
  }
  const TensorView &view = *entry->view;
  if (llvm::ArrayRef<int64_t>(view.shape) != shape) {
    fail(entry->file->path() + ": tensor '" + name + "' has shape " +
         formatShape(view.shape) + ", expected " + formatShape(shape));
    return false;
  }
  switch (view.dtype) {
  case DType::F32:
  case DType::BF16:
  case DType::F16:
  case DType::F64:
    return true;
  default:
    fail(entry->file->path() + ": tensor '" + name + "' has dtype " +
         dtypeName(view.dtype) + ", expected a float weight (F32, BF16, F16 "
                                 "or F64)");
    return false;
  }
}

Value GraphBuilder::placeholder(llvm::StringRef name,
                                llvm::ArrayRef<int64_t> shape, Type type) {
  OpBuilder::InsertionGuard guard(b);
  if (paramBlock)
    b.setInsertionPointToStart(paramBlock);
  return ch::ParamOp::create(b, loc, RankedTensorType::get(shape, type),
                             b.getStringAttr(name));
}

Value GraphBuilder::typedParam(llvm::StringRef name,
                               llvm::ArrayRef<int64_t> shape, Type type) {
  if (overrides) {
    auto o = overrides->find(name);
    if (o != overrides->end())
      return o->second;
  }
  auto it = params.find(name);
  if (it != params.end())
    return it->second;
  checkTensor(name, shape);
  Value v = placeholder(name, shape, type);
  params[name] = v;
  return v;
}

Value GraphBuilder::param(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) {
  return typedParam(name, shape, elt);
}

Value GraphBuilder::matrix(llvm::StringRef name, llvm::ArrayRef<int64_t> shape) {
  return typedParam(name, shape, matrixElt);
}

Value GraphBuilder::paramStack(llvm::ArrayRef<std::string> names,
                               llvm::ArrayRef<int64_t> memberShape) {
  SmallVector<Attribute> attrs;
  for (const std::string &name : names) {
    checkTensor(name, memberShape);
    attrs.push_back(b.getStringAttr(name));
  }
  SmallVector<int64_t> shape = {static_cast<int64_t>(names.size())};
  shape.append(memberShape.begin(), memberShape.end());
  return ch::ParamStackOp::create(b, loc, RankedTensorType::get(shape, matrixElt),
                                  b.getArrayAttr(attrs));
}

/// `--quant=<scheme>` as the user typed it (fp4-m0e4, not fp4_m0e4).
static std::string quantFlag(ch::QuantAttr q) {
  std::string scheme = ch::stringifyQuantScheme(q.getScheme()).str();
  std::replace(scheme.begin(), scheme.end(), '_', '-');
  return "--quant=" + scheme;
}

GraphBuilder::Stack
GraphBuilder::maybeQuantisedStack(llvm::ArrayRef<std::string> names,
                                  llvm::ArrayRef<int64_t> memberShape) {
  ch::QuantAttr q = quant;
  if (!q)
    return {paramStack(names, memberShape), Value(), Value()};
  for (const std::string &name : names)
    checkTensor(name, memberShape);
  // The members' parts, named as the archive writer reads them.
  auto members = [&](llvm::StringRef suffix) {
    return llvm::map_to_vector(names, [&](const std::string &name) {
      return Attribute(b.getStringAttr(name + suffix));
    });
  };
  int64_t e = static_cast<int64_t>(names.size());
  int64_t rows = memberShape[0], cols = memberShape[1];
  SmallVector<int64_t> codesShape = {e, rows, cols},
                       scalesShape = {e, rows};
  if (q.getElementsPerByte() == 2) {
    int64_t group = q.getGroupSize();
    if (cols % group != 0) {
      fail(quantFlag(q) + ": group size " + llvm::Twine(group) + " does not divide the " +
           llvm::Twine(cols) + " columns of '" + names.front() + "'");
      return {paramStack(names, memberShape), Value(), Value()};
    }
    codesShape = {e, rows, cols / 2};
    scalesShape = {e, rows, cols / group};
  }
  auto stack = [&](ArrayRef<Attribute> parts, ArrayRef<int64_t> shape,
                   Type type, llvm::StringRef role) {
    auto op = ch::ParamStackOp::create(b, loc, RankedTensorType::get(shape, type),
                                       b.getArrayAttr(parts));
    op->setAttr("chimera.quant", q);
    op->setAttr("chimera.quant_part", b.getStringAttr(role));
    return op.getResult();
  };
  bool mx = q.getScheme() == ch::QuantScheme::MxFp4;
  return {stack(members(""), codesShape, b.getI8Type(), "codes"),
          stack(members(":scales"), scalesShape,
                mx ? Type(b.getI8Type()) : b.getF32Type(), "scales"),
          q.hasOffsets() ? stack(members(":offsets"), scalesShape,
                                 b.getF32Type(), "offsets")
                         : Value()};
}

Value GraphBuilder::linear(Value x, llvm::StringRef weight, int64_t out,
                           int64_t in, llvm::StringRef bias, bool quantise) {
  if (quant && quantise)
    return quantisedLinear(x, weight, out, in, bias);
  Value w = matrix(weight, {out, in});
  Value bv = bias.empty() ? Value() : param(bias, {out});
  return ch::LinearOp::create(b, loc, x, w, /*scales=*/Value(),
                              /*offsets=*/Value(), bv, ch::QuantAttr(),
                              /*panel=*/IntegerAttr(),
                              /*rows=*/IntegerAttr());
}

Value GraphBuilder::quantisedLinear(Value x, llvm::StringRef weight,
                                    int64_t out, int64_t in,
                                    llvm::StringRef biasName) {
  int64_t group = quant.getGroupSize();
  int64_t perByte = quant.getElementsPerByte();
  // A failure is recorded and the graph still built (unquantised), as for a
  // missing tensor: the import reports every problem, then stops.
  auto biasParam = [&] {
    return biasName.empty() ? Value() : param(biasName, {out});
  };
  auto unquantised = [&] {
    Value w = matrix(weight, {out, in});
    return ch::LinearOp::create(b, loc, x, w, Value(), Value(), biasParam(),
                                ch::QuantAttr(), /*panel=*/IntegerAttr(),
                                /*rows=*/IntegerAttr());
  };
  std::string flag = quantFlag(quant);
  if (group > 0 && in % group != 0) {
    fail(flag + ": group size " + llvm::Twine(group) +
         " does not divide the " + llvm::Twine(in) + " columns of '" + weight +
         "'");
    return unquantised();
  }
  if (in % perByte != 0) {
    fail(flag + ": '" + weight +
         "' has an odd number of columns (" + llvm::Twine(in) +
         "); 4-bit codes are packed two per byte");
    return unquantised();
  }
  // A weight also read unquantised (an LM head tied to the embedding
  // table, which gathers rows) gets a quantised copy of its own: the parts
  // are named after the checkpoint tensor, which the archive writer reads.
  std::string codesName = weight.str();
  auto it = params.find(codesName);
  if (it != params.end() && !it->second.getDefiningOp()->hasAttr("chimera.quant"))
    codesName += ":quantised";
  if (!params.count(codesName)) {
    if (!checkTensor(weight, {out, in}))
      return unquantised();
    auto part = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                    Type type, llvm::StringRef role) {
      Value v = placeholder(name, shape, type);
      v.getDefiningOp()->setAttr("chimera.quant", quant);
      v.getDefiningOp()->setAttr("chimera.quant_part", b.getStringAttr(role));
      params[name] = v;
      return v;
    };
    Type i8 = b.getIntegerType(8), f32 = b.getF32Type();
    part(codesName, {out, in / perByte}, i8, "codes");
    bool mx = quant.getScheme() == ch::QuantScheme::MxFp4;
    SmallVector<int64_t> groups = {out};
    if (group > 0)
      groups.push_back(in / group);
    part(codesName + ":scales", groups, mx ? i8 : f32, "scales");
    if (quant.hasOffsets())
      part(codesName + ":offsets", groups, f32, "offsets");
  }
  Value codes = params[codesName];
  Value scales = params[codesName + ":scales"];
  Value offsets =
      quant.hasOffsets() ? params[codesName + ":offsets"] : Value();
  return ch::LinearOp::create(b, loc, x, codes, scales, offsets, biasParam(),
                              quant, /*panel=*/IntegerAttr(),
                              /*rows=*/IntegerAttr());
}

Value GraphBuilder::rmsNorm(Value x, llvm::StringRef weight, double eps,
                            bool unitOffset) {
  int64_t size = cast<RankedTensorType>(x.getType()).getShape().back();
  return ch::RmsNormOp::create(b, loc, x, param(weight, {size}),
                               llvm::APFloat(eps), unitOffset);
}

Value GraphBuilder::sliceLast(Value x, int64_t offset, int64_t size) {
  auto type = cast<RankedTensorType>(x.getType());
  int64_t rank = type.getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  SmallVector<OpFoldResult> strides(rank, b.getIndexAttr(1));
  offsets.back() = b.getIndexAttr(offset);
  sizes.back() = b.getIndexAttr(size);
  return tensor::ExtractSliceOp::create(b, loc, x, offsets, sizes, strides);
}

Value GraphBuilder::splitHeads(Value x, int64_t heads, int64_t dim) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  sizes.back() = b.getIndexAttr(heads);
  sizes.push_back(b.getIndexAttr(dim));
  SmallVector<int64_t> shape(type.getShape());
  shape.back() = heads;
  shape.push_back(dim);
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), x,
      SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}}, sizes);
}

Value GraphBuilder::mergeHeads(Value x) {
  return tensor::CollapseShapeOp::create(
      b, loc, x, SmallVector<ReassociationIndices>{{0}, {1}, {2, 3}});
}

Value GraphBuilder::flattenTokens(Value x) {
  return tensor::CollapseShapeOp::create(
      b, loc, x, SmallVector<ReassociationIndices>{{0, 1}, {2}});
}

Value GraphBuilder::unflattenTokens(Value x, Value like) {
  auto likeType = cast<RankedTensorType>(like.getType());
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, like);
  sizes.back() = b.getIndexAttr(type.getShape().back());
  SmallVector<int64_t> shape(likeType.getShape());
  shape.back() = type.getShape().back();
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), x,
      SmallVector<ReassociationIndices>{{0, 1}, {2}}, sizes);
}

Value GraphBuilder::dropUnitDim1(Value x) {
  return tensor::CollapseShapeOp::create(
      b, loc, x, SmallVector<ReassociationIndices>{{0}, {1, 2}});
}

Value GraphBuilder::add(Value a, Value c) {
  return arith::AddFOp::create(b, loc, a, c);
}
