// RUN: chimera-opt %s --chimera-expand-shape-to-reshape | FileCheck %s

// Splitting one dim into two dynamic dims becomes tensor.reshape; other
// expand_shapes are kept.
// CHECK-LABEL: func.func @f(
// CHECK: %[[SHAPE:.*]] = tensor.from_elements %{{.*}}, %{{.*}}, %{{.*}} : tensor<3xi64>
// CHECK: tensor.reshape %{{.*}}(%[[SHAPE]]) : (tensor<?x64xf32>, tensor<3xi64>) -> tensor<?x?x64xf32>
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0], [1], [2, 3]]
func.func @f(%x: tensor<?x64xf32>, %b: index, %s: index, %y: tensor<?x?x64xf32>) -> (tensor<?x?x64xf32>, tensor<?x?x4x16xf32>) {
  %e = tensor.expand_shape %x [[0, 1], [2]] output_shape [%b, %s, 64] : tensor<?x64xf32> into tensor<?x?x64xf32>
  %h = tensor.expand_shape %y [[0], [1], [2, 3]] output_shape [%b, %s, 4, 16] : tensor<?x?x64xf32> into tensor<?x?x4x16xf32>
  return %e, %h : tensor<?x?x64xf32>, tensor<?x?x4x16xf32>
}
