// RUN: chimera-opt %s --split-input-file --chimera-channel-scan | FileCheck %s

// Mamba's scan with D, z gating, Δ bias + softplus, an initial state and
// per-row lengths, 128 channels: one grid item per (batch, 16 channels), the
// time loop inside, the 8 states as 8 vectors across the channels; Δ, u, z
// and y move as contiguous vectors, B and C as broadcast scalars.
// CHECK-LABEL: func.func @mamba(
// CHECK-SAME: %[[U:[^:]*]]: tensor<?x?x128xf32>, %[[DT:[^:]*]]: tensor<?x?x128xf32>, %[[A:[^:]*]]: tensor<128x8xf32>, %[[B:[^:]*]]: tensor<?x?x8xf32>, %[[C:[^:]*]]: tensor<?x?x8xf32>, %[[D:[^:]*]]: tensor<128xf32>, %[[Z:[^:]*]]: tensor<?x?x128xf32>, %[[BIAS:[^:]*]]: tensor<128xf32>, %[[H:[^:]*]]: tensor<?x128x8xf32>, %[[LEN:[^:]*]]: tensor<?xi64>)
// CHECK: %[[R:.*]]:2 = scf.forall (%[[BI:.*]], %[[BLK:.*]]) in (%{{.*}}, 8) shared_outs(%[[Y:.*]] = %{{.*}}, %[[S:.*]] = %[[H]])
// CHECK: %[[D0:.*]] = arith.muli %[[BLK]], %c16
// CHECK: tensor.extract %[[LEN]][%[[BI]]]
// A's [16, 8] tile: 16 row reads, transposed in registers into 8 columns.
// CHECK-COUNT-16: vector.transfer_read %[[A]][%{{.*}}, %{{.*}}]{{.*}} : tensor<128x8xf32>, vector<8xf32>
// CHECK: vector.from_elements {{.*}} : vector<16xf32>
// CHECK: %[[TILE:.*]] = tensor.extract_slice %[[Y]][%[[BI]], 0, %[[D0]]] [1, %{{.*}}, 16] [1, 1, 1]
// Δ, u and z are prefetched 4 steps ahead (clamped to the last step)
// through read-only views of their buffers.
// CHECK-DAG: %[[DTB:.*]] = bufferization.to_buffer %[[DT]] read_only : tensor<?x?x128xf32> to memref<?x?x128xf32, strided<[?, ?, ?], offset: ?>>
// CHECK-DAG: %[[UB:.*]] = bufferization.to_buffer %[[U]] read_only
// CHECK-DAG: %[[ZB:.*]] = bufferization.to_buffer %[[Z]] read_only
// CHECK: %[[LAST:.*]] = arith.subi %{{.*}}, %c1
// CHECK: %[[T:.*]]:9 = scf.for %[[I:.*]] = {{.*}} iter_args(
// CHECK: %[[I4:.*]] = arith.addi %[[I]], %c4
// CHECK: %[[AHEAD:.*]] = arith.minsi %[[I4]], %[[LAST]]
// CHECK: memref.prefetch %[[DTB]][%[[BI]], %[[AHEAD]], %[[D0]]], read, locality<3>, data
// CHECK: memref.prefetch %[[UB]][%[[BI]], %[[AHEAD]], %[[D0]]], read, locality<3>, data
// CHECK: memref.prefetch %[[ZB]][%[[BI]], %[[AHEAD]], %[[D0]]], read, locality<3>, data
// CHECK: vector.transfer_read %[[DT]][%[[BI]], %[[I]], %[[D0]]]
// CHECK: math.log1p %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_read %[[U]][%[[BI]], %[[I]], %[[D0]]]
// CHECK-COUNT-8: math.exp %{{.*}} : vector<16xf32>
// CHECK: vector.transfer_read %[[Z]][%[[BI]], %[[I]], %[[D0]]]
// CHECK: vector.transfer_write %{{.*}}, %{{.*}}[%[[I]], %{{.*}}] {{.*}} : vector<16xf32>, tensor<?x16xf32>
// The final state: 16 row writes into the [16, 8] tile.
// CHECK-COUNT-16: vector.transfer_write %{{.*}} : vector<8xf32>, tensor<16x8xf32>
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %[[T]]#8 into %[[Y]][%[[BI]], 0, %[[D0]]] [1, %{{.*}}, 16]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[S]][%[[BI]], %[[D0]], 0] [1, 16, 8]
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @mamba(%u: tensor<?x?x128xf32>, %dt: tensor<?x?x128xf32>, %A: tensor<128x8xf32>, %B: tensor<?x?x8xf32>, %C: tensor<?x?x8xf32>, %D: tensor<128xf32>, %z: tensor<?x?x128xf32>, %bias: tensor<128xf32>, %h: tensor<?x128x8xf32>, %len: tensor<?xi64>) -> (tensor<?x?x128xf32>, tensor<?x128x8xf32>) {
  %y, %s = chimera.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) init(%h) lengths(%len) {delta_softplus} : (tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<128x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<128xf32>, tensor<?x?x128xf32>, tensor<128xf32>, tensor<?x128x8xf32>, tensor<?xi64>) -> (tensor<?x?x128xf32>, tensor<?x128x8xf32>)
  return %y, %s : tensor<?x?x128xf32>, tensor<?x128x8xf32>
}

// -----

// 120 channels are not a multiple of 16: one grid item per channel, its 8
// states in one vector.
// CHECK-LABEL: func.func @ragged(
// CHECK-SAME: %[[U:[^:]*]]: tensor<?x?x120xf32>, %[[DT:[^:]*]]: tensor<?x?x120xf32>, %[[A:[^:]*]]: tensor<120x8xf32>, %[[B:[^:]*]]: tensor<?x?x8xf32>, %[[C:[^:]*]]: tensor<?x?x8xf32>, %[[H:[^:]*]]: tensor<?x120x8xf32>)
// CHECK: %[[R:.*]]:2 = scf.forall (%[[BI:.*]], %[[CH:.*]]) in (%{{.*}}, 120) shared_outs(%[[Y:.*]] = %{{.*}}, %[[S:.*]] = %[[H]])
// CHECK: vector.transfer_read %[[A]][%[[CH]], %{{.*}}]{{.*}} : tensor<120x8xf32>, vector<8xf32>
// CHECK: %[[H0:.*]] = vector.transfer_read %[[S]][%[[BI]], %[[CH]], %{{.*}}]
// CHECK: %[[COL:.*]] = tensor.extract_slice %[[Y]][%[[BI]], 0, %[[CH]]] [1, %{{.*}}, 1] [1, 1, 1]
// CHECK: %[[T:.*]]:2 = scf.for %[[I:.*]] = {{.*}} iter_args(%[[HI:.*]] = %[[H0]], %{{.*}} = %[[COL]])
// CHECK: vector.transfer_read %[[B]][%[[BI]], %[[I]], %{{.*}}]
// CHECK: math.exp %{{.*}} : vector<8xf32>
// CHECK: vector.fma
// CHECK: vector.reduction <add>
// CHECK: tensor.insert
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %[[T]]#1 into %[[Y]][%[[BI]], 0, %[[CH]]]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[S]][%[[BI]], %[[CH]], 0] [1, 1, 8]
func.func @ragged(%u: tensor<?x?x120xf32>, %dt: tensor<?x?x120xf32>, %A: tensor<120x8xf32>, %B: tensor<?x?x8xf32>, %C: tensor<?x?x8xf32>, %h: tensor<?x120x8xf32>) -> (tensor<?x?x120xf32>, tensor<?x120x8xf32>) {
  %y, %s = chimera.selective_scan %u, %dt, %A, %B, %C init(%h) : (tensor<?x?x120xf32>, tensor<?x?x120xf32>, tensor<120x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x120x8xf32>) -> (tensor<?x?x120xf32>, tensor<?x120x8xf32>)
  return %y, %s : tensor<?x?x120xf32>, tensor<?x120x8xf32>
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
