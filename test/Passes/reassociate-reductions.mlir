// RUN: chimera-opt %s --chimera-reassociate-reductions | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
// CHECK-LABEL: func.func @f(
func.func @f(%a: tensor<4x8xf32>, %acc: tensor<4xf32>, %out: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<4x8xf32>) {
  // A reduction: its sum may be reordered.
  // CHECK: linalg.generic
  // CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
  // CHECK: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
  %s = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%a : tensor<4x8xf32>) outs(%acc : tensor<4xf32>) {
  ^bb0(%x: f32, %r: f32):
    %sq = arith.mulf %x, %x : f32
    %n = arith.addf %r, %sq : f32
    linalg.yield %n : f32
  } -> tensor<4xf32>
  // Elementwise: untouched.
  // CHECK: linalg.generic
  // CHECK: arith.addf %{{.*}}, %{{.*}} : f32
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<4x8xf32>) outs(%out : tensor<4x8xf32>) {
  ^bb0(%x: f32, %o: f32):
    %d = arith.addf %x, %x : f32
    linalg.yield %d : f32
  } -> tensor<4x8xf32>
  return %s, %e : tensor<4xf32>, tensor<4x8xf32>
}
