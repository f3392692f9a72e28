// RUN: chimera-opt %s --split-input-file --chimera-channel-scan | FileCheck %s

// Mamba's scan with D, z gating, Δ bias + softplus, an initial state and
// per-row lengths: one grid item per (batch, channel), the time loop inside
// with the channel's 8 states in one vector.
// CHECK-LABEL: func.func @mamba(
// CHECK-SAME: %[[U:[^:]*]]: tensor<?x?x128xf32>, %[[DT:[^:]*]]: tensor<?x?x128xf32>, %[[A:[^:]*]]: tensor<128x8xf32>, %[[B:[^:]*]]: tensor<?x?x8xf32>, %[[C:[^:]*]]: tensor<?x?x8xf32>, %[[D:[^:]*]]: tensor<128xf32>, %[[Z:[^:]*]]: tensor<?x?x128xf32>, %[[BIAS:[^:]*]]: tensor<128xf32>, %[[H:[^:]*]]: tensor<?x128x8xf32>, %[[LEN:[^:]*]]: tensor<?xi64>)
// CHECK: %[[R:.*]]:2 = scf.forall (%[[BI:.*]], %[[CH:.*]]) in (%{{.*}}, 128) shared_outs(%[[Y:.*]] = %{{.*}}, %[[S:.*]] = %[[H]])
// CHECK: tensor.extract %[[LEN]][%[[BI]]]
// CHECK: %[[AROW:.*]] = vector.transfer_read %[[A]][%[[CH]], %{{.*}}]{{.*}} : tensor<128x8xf32>, vector<8xf32>
// CHECK: %[[H0:.*]] = vector.transfer_read %[[S]][%[[BI]], %[[CH]], %{{.*}}]
// CHECK: %[[COL:.*]] = tensor.extract_slice %[[Y]][%[[BI]], 0, %[[CH]]] [1, %{{.*}}, 1] [1, 1, 1]
// CHECK: %[[T:.*]]:2 = scf.for %[[I:.*]] = {{.*}} iter_args(%[[HI:.*]] = %[[H0]], %{{.*}} = %[[COL]])
// CHECK: math.log1p
// CHECK: vector.transfer_read %[[B]][%[[BI]], %[[I]], %{{.*}}]
// CHECK: math.exp %{{.*}} : vector<8xf32>
// CHECK: vector.fma
// CHECK: arith.select %{{.*}}, %{{.*}}, %[[HI]] : vector<8xf32>
// CHECK: vector.reduction <add>
// CHECK: tensor.extract %[[Z]][%[[BI]], %[[I]], %[[CH]]]
// CHECK: tensor.insert
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %[[T]]#1 into %[[Y]][%[[BI]], 0, %[[CH]]]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[S]][%[[BI]], %[[CH]], 0] [1, 1, 8]
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @mamba(%u: tensor<?x?x128xf32>, %dt: tensor<?x?x128xf32>, %A: tensor<128x8xf32>, %B: tensor<?x?x8xf32>, %C: tensor<?x?x8xf32>, %D: tensor<128xf32>, %z: tensor<?x?x128xf32>, %bias: tensor<128xf32>, %h: tensor<?x128x8xf32>, %len: tensor<?xi64>) -> (tensor<?x?x128xf32>, tensor<?x128x8xf32>) {
  %y, %s = chimera.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) init(%h) lengths(%len) {delta_softplus} : (tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<128x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<128xf32>, tensor<?x?x128xf32>, tensor<128xf32>, tensor<?x128x8xf32>, tensor<?xi64>) -> (tensor<?x?x128xf32>, tensor<?x128x8xf32>)
  return %y, %s : tensor<?x?x128xf32>, tensor<?x128x8xf32>
}

// -----

// Other element types keep the reference lowering.
// CHECK-LABEL: func.func @f16(
// CHECK: chimera.selective_scan
// CHECK-NOT: scf.forall
func.func @f16(%u: tensor<1x4x8xf16>, %A: tensor<8x4xf16>, %B: tensor<1x4x4xf16>) -> (tensor<1x4x8xf16>, tensor<1x8x4xf16>) {
  %y, %s = chimera.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf16>, tensor<1x4x8xf16>, tensor<8x4xf16>, tensor<1x4x4xf16>, tensor<1x4x4xf16>) -> (tensor<1x4x8xf16>, tensor<1x8x4xf16>)
  return %y, %s : tensor<1x4x8xf16>, tensor<1x8x4xf16>
}
