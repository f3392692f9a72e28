// Malformed IR, unknown ops and invalid attributes: a located diagnostic and
// a non-zero exit, never a crash.
// RUN: split-file %s %t
// RUN: not chimera-opt %t/unknown-op.mlir 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not chimera-opt %t/bad-enum.mlir 2>&1 | FileCheck %s --check-prefix=ENUM
// RUN: not chimera-opt %t/truncated.mlir 2>&1 | FileCheck %s --check-prefix=TRUNC
// RUN: not chimera-opt %t/missing-attr.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not chimera-opt %t/generic-bad.mlir 2>&1 | FileCheck %s --check-prefix=GENERIC

// UNKNOWN: unknown-op.mlir:2:8: error: custom op 'chimera.frobnicate' is unknown
// ENUM: bad-enum.mlir:2:{{[0-9]+}}: error: expected {{.*}}silu
// TRUNC: truncated.mlir:{{[0-9]+}}:{{[0-9]+}}: error:
// MISSING: missing-attr.mlir:2:{{[0-9]+}}: error: {{.*}}'k'
// GENERIC: generic-bad.mlir:2:{{[0-9]+}}: error: 'chimera.rms_norm' op operand 'weight' dim 0 is 3, expected 4

//--- unknown-op.mlir
func.func @f(%x: tensor<4xf32>) {
  %y = chimera.frobnicate %x : tensor<4xf32>
  return
}
//--- bad-enum.mlir
func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) {
  %z = chimera.glu %x, %y {activation = #chimera<activation swish>} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}
//--- truncated.mlir
func.func @f(%x: tensor<4xf32>) {
  %y = chimera.silu %x : tensor<4x
//--- missing-attr.mlir
func.func @f(%x: tensor<3x4xf32>) {
  %w, %i = "chimera.route_topk"(%x) : (tensor<3x4xf32>) -> (tensor<3x2xf32>, tensor<3x2xi64>)
  return
}
//--- generic-bad.mlir
func.func @f(%x: tensor<2x4xf32>, %w: tensor<3xf32>) {
  %y = "chimera.rms_norm"(%x, %w) : (tensor<2x4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  return
}
