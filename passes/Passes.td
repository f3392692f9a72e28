//===- Passes.td - chimera passes --------------------------*- tablegen -*-===//

#ifndef CHIMERA_PASSES_TD
#define CHIMERA_PASSES_TD

include "mlir/Pass/PassBase.td"

def LowerToReference : Pass<"chimera-lower-to-reference"> {
  let summary = "Lower every chimera op to its reference formula in "
                "linalg/tensor/arith/math/scf";
  let description = [{
    Implements the formula in each op's description with upstream ops, as
    simply as possible: one `linalg.generic` per step of the formula, `scf`
    loops for recurrences (selective scan, top-k, token selection) and
    constant interpolation matrices for `scale_interp`. Region ops are
    inlined (`depth_route` per batch row over the selected tokens,
    `next_scale_generate` unrolled over its static schedule).

    This is the semantics every faster lowering is checked against; it is
    not meant to be fast. The patterns live one op family per file under
    `passes/Reference/`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect"
  ];
}

#endif // CHIMERA_PASSES_TD
