// RUN: chimera-opt %s --chimera-duplicate-shared-fills | FileCheck %s
// RUN: chimera-opt %s --chimera-duplicate-shared-fills --one-shot-bufferize="bufferize-function-boundaries" | FileCheck %s --check-prefix=BUF

// Two matmuls accumulate into one CSE'd zero fill: the second gets its own
// empty tensor and fill, so neither needs a copy of the other's init.
// CHECK-LABEL: func.func @two_inits
// CHECK: %[[E0:.*]] = tensor.empty
// CHECK: %[[F0:.*]] = linalg.fill ins(%{{.*}}) outs(%[[E0]]
// CHECK: linalg.matmul ins(%arg0, %arg1 : {{.*}}) outs(%[[F0]]
// CHECK: %[[E1:.*]] = tensor.empty
// CHECK: %[[F1:.*]] = linalg.fill ins(%{{.*}}) outs(%[[E1]]
// CHECK: linalg.matmul ins(%arg0, %arg2 : {{.*}}) outs(%[[F1]]
// BUF-LABEL: func.func @two_inits
// BUF-NOT: memref.copy
// BUF: return
func.func @two_inits(%x: tensor<4x8xf32>, %w1: tensor<8x16xf32>, %w2: tensor<8x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %a = linalg.matmul ins(%x, %w1 : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  %b = linalg.matmul ins(%x, %w2 : tensor<4x8xf32>, tensor<8x16xf32>) outs(%f : tensor<4x16xf32>) -> tensor<4x16xf32>
  return %a, %b : tensor<4x16xf32>, tensor<4x16xf32>
}
