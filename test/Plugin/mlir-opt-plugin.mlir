// Upstream mlir-opt-22 loads the chimera dialect and passes as plugins.
// RUN: mlir-opt %s --load-dialect-plugin=%chimera_plugin --load-pass-plugin=%chimera_plugin \
// RUN:   --pass-pipeline="builtin.module(chimera-lower-to-reference)" | FileCheck %s
// RUN: mlir-opt %s --load-dialect-plugin=%chimera_plugin | FileCheck %s --check-prefix=ROUNDTRIP

// CHECK-LABEL: func.func @silu
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK-NOT: chimera.silu
// ROUNDTRIP: chimera.silu %{{.*}} : tensor<4xf32>
func.func @silu(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = chimera.silu %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
