// RUN: chimera-opt %s --chimera-bind-weights --split-input-file --verify-diagnostics | FileCheck %s

// Each distinct param (and stack) gets one aligned slot; a repeated name
// reuses its slot; the layout is recorded on the module.
// CHECK-LABEL: module attributes {chimera.weights = [
// CHECK-SAME: {element_type = f32, names = ["a"], offset = 0 : i64, shape = array<i64: 3>}
// CHECK-SAME: {element_type = f32, names = ["e.0", "e.1"], offset = 64 : i64, shape = array<i64: 2, 4>}
// CHECK-SAME: chimera.weights_size = 96 : i64
// CHECK: func.func @f(%[[W:.*]]: memref<?xi8> {chimera.name = "weights"}, %{{.*}}: tensor<3xf32>)
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[V:.*]] = memref.view %[[W]][%[[C0]]][] : memref<?xi8> to memref<3xf32>
// CHECK: bufferization.to_tensor %[[V]] restrict : memref<3xf32> to tensor<3xf32>
// CHECK: arith.constant 64 : index
// CHECK: memref.view %[[W]]{{.*}} to memref<2x4xf32>
// CHECK: memref.view %[[W]][%[[C0]]
// CHECK-NOT: chimera.param
func.func @f(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<2x4xf32>, tensor<3xf32>) {
  %a = chimera.param "a" : tensor<3xf32>
  %s = chimera.param_stack ["e.0", "e.1"] : tensor<2x4xf32>
  %b = chimera.param "a" : tensor<3xf32>
  return %a, %s, %b : tensor<3xf32>, tensor<2x4xf32>, tensor<3xf32>
}

// -----

func.func @g() -> (tensor<3xf32>, tensor<4xf32>) {
  %a = chimera.param "a" : tensor<3xf32>
  // expected-error @+1 {{reads the same weights as an earlier op with type 'tensor<3xf32>', but with type 'tensor<4xf32>'}}
  %b = chimera.param "a" : tensor<4xf32>
  return %a, %b : tensor<3xf32>, tensor<4xf32>
}
