//===- ChimeraAttrs.td - chimera enums and attributes ------*- tablegen -*-===//

#ifndef CHIMERA_ATTRS_TD
#define CHIMERA_ATTRS_TD

include "ChimeraBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Chimera_RopeStyle : I32EnumAttr<"RopeStyle", "rotary embedding pairing", [
    I32EnumAttrCase<"Half", 0, "half">,
    I32EnumAttrCase<"Interleaved", 1, "interleaved">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_RopeStyleAttr : EnumAttr<Chimera_Dialect, Chimera_RopeStyle, "rope_style">;

def Chimera_MaskKind : I32EnumAttr<"MaskKind", "attention mask", [
    I32EnumAttrCase<"None", 0, "none">,
    I32EnumAttrCase<"Causal", 1, "causal">,
    I32EnumAttrCase<"SlidingWindow", 2, "sliding_window">,
    I32EnumAttrCase<"BlockCausal", 3, "block_causal">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_MaskKindAttr : EnumAttr<Chimera_Dialect, Chimera_MaskKind, "mask">;

def Chimera_Activation : I32EnumAttr<"Activation", "activation function", [
    I32EnumAttrCase<"Identity", 0, "identity">,
    I32EnumAttrCase<"Silu", 1, "silu">,
    I32EnumAttrCase<"Gelu", 2, "gelu">,
    I32EnumAttrCase<"GeluTanh", 3, "gelu_tanh">,
    I32EnumAttrCase<"Relu", 4, "relu">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_ActivationAttr : EnumAttr<Chimera_Dialect, Chimera_Activation, "activation">;

def Chimera_RouteMode : I32EnumAttr<"RouteMode", "router normalisation order", [
    I32EnumAttrCase<"SoftmaxTopK", 0, "softmax_topk">,
    I32EnumAttrCase<"TopKSoftmax", 1, "topk_softmax">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_RouteModeAttr : EnumAttr<Chimera_Dialect, Chimera_RouteMode, "route_mode">;

def Chimera_DepthSelection : I32EnumAttr<"DepthSelection",
    "how depth_route picks the tokens that run the block", [
    I32EnumAttrCase<"TopK", 0, "topk">,
    I32EnumAttrCase<"TopKStrict", 1, "topk_strict">,
    I32EnumAttrCase<"Threshold", 2, "threshold">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_DepthSelectionAttr
    : EnumAttr<Chimera_Dialect, Chimera_DepthSelection, "depth_selection">;

def Chimera_InterpMode : I32EnumAttr<"InterpMode", "resize kernel", [
    I32EnumAttrCase<"Nearest", 0, "nearest">,
    I32EnumAttrCase<"Area", 1, "area">,
    I32EnumAttrCase<"Bicubic", 2, "bicubic">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_InterpModeAttr : EnumAttr<Chimera_Dialect, Chimera_InterpMode, "interp">;

def Chimera_QuantScheme : I32EnumAttr<"QuantScheme", "weight quantisation format", [
    I32EnumAttrCase<"Int8", 0, "int8">,
    I32EnumAttrCase<"Int4", 1, "int4">,
    I32EnumAttrCase<"Fp4M0E4", 2, "fp4_m0e4">,
    I32EnumAttrCase<"MxFp4", 3, "mxfp4">]> {
  let cppNamespace = "::mlir::chimera";
  let genSpecializedAttr = 0;
}
def Chimera_QuantSchemeAttr : EnumAttr<Chimera_Dialect, Chimera_QuantScheme, "quant_scheme">;

//===----------------------------------------------------------------------===//
// Quantisation
//===----------------------------------------------------------------------===//

def Chimera_QuantAttr : AttrDef<Chimera_Dialect, "Quant"> {
  let mnemonic = "quant";
  let summary = "How a weight `[N, K]` is stored and dequantised";
  let description = [{
    Describes the storage of a quantised linear weight of logical shape
    `[N, K]` (checkpoint layout `[out, in]`) and its dequantisation formula.
    `w[n, k]` below is the dequantised f32 value; `g = k / group_size`.
    4-bit codes are packed two per byte in an `i8` tensor `[N, K/2]`:
    element `k` lives in byte `k / 2`, the low nibble for even `k`, the high
    nibble for odd `k`.

    * `int8` — weight `i8 [N, K]`, scales `f32 [N]` (per output channel,
      `group_size = 0`): `w[n, k] = scales[n] * q[n, k]`.
    * `int4` — packed signed two's-complement nibbles `q ∈ [-8, 7]`, scales
      `f32 [N, K/G]`: `w[n, k] = scales[n, g] * q[n, k]`.
    * `fp4_m0e4` — Transformer-Lite's exponent-free 4-bit format (the paper,
      arXiv 2403.20041, calls it M0E4 / E0M4: no exponent bits, 4 mantissa
      bits). The unsigned code `q ∈ [0, 15]` is spliced into the top four
      mantissa bits of an IEEE half whose sign is 0 and exponent is the bias
      (15): `h = as_f16(0x3C00 | q << 6) = 1 + q / 16`, i.e. two integer
      ops (shift, or) and no int→float conversion. Scales `f32 [N, K/G]` and
      offsets `f32 [N, K/G]`: `w[n, k] = scales[n, g] * h + offsets[n, g]`.
    * `mxfp4` — OCP Microscaling MXFP4: E2M1 nibbles (bit 3 sign, bits 2..1
      exponent with bias 1, bit 0 mantissa; values ±{0, 0.5, 1, 1.5, 2, 3, 4,
      6}) and one E8M0 scale byte per 32 elements (`group_size = 32`) stored
      as `i8 [N, K/32]`: `w[n, k] = e2m1(q[n, k]) * 2^(scales[n, g] - 127)`
      (scale byte 0xFF is NaN).
  }];
  let parameters = (ins
    EnumParameter<Chimera_QuantScheme>:$scheme,
    DefaultValuedParameter<"int64_t", "0">:$group_size
  );
  let assemblyFormat = "`<` $scheme (`,` `group_size` `=` $group_size^)? `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Number of logical elements per byte of the stored weight.
    int64_t getElementsPerByte() const {
      return getScheme() == QuantScheme::Int8 ? 1 : 2;
    }
    /// Whether the format takes a per-group `offsets` tensor.
    bool hasOffsets() const { return getScheme() == QuantScheme::Fp4M0E4; }
  }];
}

#endif // CHIMERA_ATTRS_TD
