//===- GraphBuilder.h - chimera IR builders for checkpoint importers -*- C++ -*-===//
//
// The pieces every architecture builder shares: weights as `chimera.param`
// checked against the checkpoint (name, shape, dtype), and the reshapes a
// token-major graph needs. Errors are collected, not thrown: the first one
// is kept and a placeholder of the expected type lets building continue, so
// an importer is written as straight-line code and checked once.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_FRONTENDS_HF_GRAPHBUILDER_H
#define CHIMERA_FRONTENDS_HF_GRAPHBUILDER_H

#include "frontends/hf/Checkpoint.h"

#include "dialects/chimera/ChimeraAttrs.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <string>

namespace chimera::hf {

class GraphBuilder {
public:
  /// `elt` types activations and small weights (norms, biases, SSM
  /// parameters); `matrixElt` types the matrices (linear weights, expert
  /// stacks, embedding tables), which the kernels upcast as they read them.
  GraphBuilder(mlir::OpBuilder &b, const Checkpoint &ckpt, mlir::Type elt,
               mlir::Type matrixElt)
      : b(b), ckpt(ckpt), elt(elt), matrixElt(matrixElt),
        loc(b.getUnknownLoc()) {}

  mlir::OpBuilder &builder() { return b; }
  mlir::Type elementType() const { return elt; }
  /// The location given to ops built from now on (a layer's name).
  void setScope(llvm::StringRef scope);
  mlir::Location location() const { return loc; }

  /// Weights are created at the start of `block` (the function's entry)
  /// rather than where first used, so that regions can share them.
  void setParamBlock(mlir::Block *block) { paramBlock = block; }

  /// While set, `param`/`matrix` of a name in `overrides` return its value
  /// (a function argument standing for that weight) instead of a
  /// `chimera.param`: how a function shared by several layers reads the
  /// weights its caller passes.
  void setParamOverrides(const llvm::StringMap<mlir::Value> *map) {
    overrides = map;
  }

  /// True when the checkpoint holds `name`.
  bool has(llvm::StringRef name) const { return bool(ckpt.find(name)); }
  /// `chimera.param name : tensor<shape x elt>`, checked against the
  /// checkpoint. One op per name.
  mlir::Value param(llvm::StringRef name, llvm::ArrayRef<int64_t> shape);
  /// A matrix weight, typed with the matrix element type.
  mlir::Value matrix(llvm::StringRef name, llvm::ArrayRef<int64_t> shape);
  /// An expert stack as `chimera.expert_ffn` reads it.
  struct Stack {
    mlir::Value codes, scales, offsets;
  };
  /// `chimera.param_stack [names] : tensor<N x member x elt>`.
  /// With an int8 quant scheme set: the stacked int8 codes of `names` and
  /// their scales ([E, rows]), params the archive writer quantises; with a
  /// 4-bit scheme: codes [E, rows, cols/2], scales
  /// [E, rows, cols/G] (i8 exponents for mxfp4) and, for fp4_m0e4, offsets
  /// of the scales' shape; else the stack in the matrix type alone.
  Stack maybeQuantisedStack(llvm::ArrayRef<std::string> names,
                            llvm::ArrayRef<int64_t> memberShape);
  /// The scheme linear layers and expert stacks are stored in (null:
  /// --dtype).
  mlir::chimera::QuantAttr quantScheme() const { return quant; }
  mlir::Value paramStack(llvm::ArrayRef<std::string> names,
                         llvm::ArrayRef<int64_t> memberShape);

  /// `x · W^T (+ bias)` for a checkpoint `[out, in]` weight.
  /// Linear layers read their weights quantised with `quant` from now on
  /// (null: in the matrix element type). See quantisedLinear.
  void setQuant(mlir::chimera::QuantAttr q) { quant = q; }

  /// x · Wᵀ (+ b). With a quant scheme set and `quantise`, the weight is the
  /// scheme's storage (`chimera.quant_part = "codes"`) plus its scales (and
  /// offsets), params named `<weight>:scales` / `<weight>:offsets` that the
  /// archive writer computes from the checkpoint tensor `<weight>`.
  mlir::Value linear(mlir::Value x, llvm::StringRef weight, int64_t out,
                     int64_t in, llvm::StringRef bias = "",
                     bool quantise = true);
  mlir::Value rmsNorm(mlir::Value x, llvm::StringRef weight, double eps,
                      bool unitOffset = false);

  /// `x[..., offset : offset + size]`.
  mlir::Value sliceLast(mlir::Value x, int64_t offset, int64_t size);
  /// `[B, S, h·d] -> [B, S, h, d]` and back.
  mlir::Value splitHeads(mlir::Value x, int64_t heads, int64_t dim);
  mlir::Value mergeHeads(mlir::Value x);
  /// `[B, S, H] -> [B·S, H]` and back (sizes from `like`).
  mlir::Value flattenTokens(mlir::Value x);
  mlir::Value unflattenTokens(mlir::Value x, mlir::Value like);
  /// `[D, 1, W] -> [D, W]` (a depthwise conv weight).
  mlir::Value dropUnitDim1(mlir::Value x);
  /// Elementwise sum.
  mlir::Value add(mlir::Value a, mlir::Value c);

  /// Records an error (the first one wins).
  void fail(const llvm::Twine &message);
  llvm::Error takeError();

private:
  /// The quantised storage of `weight` [out, in] and the linear over it.
  mlir::Value quantisedLinear(mlir::Value x, llvm::StringRef weight,
                              int64_t out, int64_t in, llvm::StringRef bias);
  mlir::Value placeholder(llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                          mlir::Type type);
  mlir::Value typedParam(llvm::StringRef name, llvm::ArrayRef<int64_t> shape,
                         mlir::Type type);
  bool checkTensor(llvm::StringRef name, llvm::ArrayRef<int64_t> shape);

  mlir::OpBuilder &b;
  const Checkpoint &ckpt;
  mlir::Type elt, matrixElt;
  mlir::chimera::QuantAttr quant;
  mlir::Location loc;
  mlir::Block *paramBlock = nullptr;
  const llvm::StringMap<mlir::Value> *overrides = nullptr;
  llvm::StringMap<mlir::Value> params;
  std::string error;
};

/// "[a, b, c]"
std::string formatShape(llvm::ArrayRef<int64_t> shape);

} // namespace chimera::hf

#endif // CHIMERA_FRONTENDS_HF_GRAPHBUILDER_H
