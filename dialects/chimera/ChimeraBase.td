//===- ChimeraBase.td - chimera dialect definition ---------*- tablegen -*-===//
//
// The dialect of Chimera: the mechanisms of hybrid models (selective scans,
// expert routing, depth routing, next-scale prediction) as first-class ops on
// builtin tensors with value semantics.
//
//===----------------------------------------------------------------------===//

#ifndef CHIMERA_BASE_TD
#define CHIMERA_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Chimera_Dialect : Dialect {
  let name = "chimera";
  let cppNamespace = "::mlir::chimera";
  let summary = "First-class ops for hybrid attention / SSM / MoE / MoD / VAR models";
  let description = [{
    The `chimera` dialect models the layers of modern hybrid language and
    image models at the level their papers describe them. Every op works on
    builtin ranked tensors with value semantics; batch and sequence dims may
    be dynamic (`?`), model dims (hidden size, heads, experts, state size)
    are static in practice but never required to be.

    Every op documents a reference formula. The pass
    `chimera-lower-to-reference` implements each formula with upstream
    `linalg`, `tensor`, `arith`, `math` and `scf`; faster lowerings are
    checked against it.

    Layout conventions used throughout:
    * token-major activations: `[B, L, ...]` (batch, sequence, features);
    * attention heads: `[B, L, heads, head_dim]`;
    * linear weights in checkpoint layout `[out, in]`;
    * images and VAR feature maps: `[B, C, H, W]`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

class Chimera_Op<string mnemonic, list<Trait> traits = []>
    : Op<Chimera_Dialect, mnemonic, traits>;

#endif // CHIMERA_BASE_TD
