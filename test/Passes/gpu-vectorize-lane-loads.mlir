// RUN: chimera-opt %s --chimera-gpu-vectorize-lane-loads | FileCheck %s
// RUN: chimera-opt %s --chimera-gpu-vectorize-lane-loads=vector-loads=false | FileCheck %s --check-prefix=SCALAR
// RUN: chimera-opt %s --chimera-gpu-vectorize-lane-loads=alias-bindings | FileCheck %s --check-prefix=ALIAS

// A GEMV row's partial sum over a workgroup of 64 lanes, as
// chimera-gpu-cooperative-reductions deals it (k = lane, lane + 64, ...):
// the weight row (%w at %row + k) and the activations (%x at k) are
// contiguous in k, the per-row scale (%s at %row) is fixed.
// The alignment of both vector addresses is tested once, before the loop.
// CHECK-LABEL: gpu.func @gemv_row
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK: %[[LANE:.*]] = gpu.thread_id x
// CHECK: %[[RUNS:.*]] = arith.divsi %{{.*}}, %[[C4]]
// CHECK: %[[END:.*]] = arith.muli %[[RUNS]], %[[C4]]
// CHECK: %[[START:.*]] = arith.muli %[[LANE]], %[[C4]]
// CHECK: %[[WB:.*]] = arith.muli %[[ROW:.*]], %[[C4]]
// CHECK: %[[WP:.*]] = memref.extract_aligned_pointer_as_index %[[W:.*]] :
// CHECK: %[[WA:.*]] = arith.addi %[[WP]], %[[WB]]
// CHECK: arith.remui %[[WA]], %[[C16]]
// CHECK: %[[XP:.*]] = memref.extract_aligned_pointer_as_index %[[X:.*]] :
// CHECK: arith.remui %[[XP]], %[[C16]]
// CHECK: %[[OK:.*]] = arith.andi
// CHECK: scf.if %[[OK]] -> (f32) {
// Runs of four go round robin (step 4·64); one vector load per operand.
// CHECK:   %[[R:.*]] = scf.for %[[K:.*]] = %[[START]] to %[[END]] step %[[C256]] iter_args(%[[A:.*]] = %{{.*}}) -> (f32) {
// CHECK:     %[[WK:.*]] = arith.addi %[[ROW]], %[[K]]
// CHECK:     %[[WV:.*]] = vector.load %[[W]][%[[WK]]] {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK:     %[[XV:.*]] = vector.load %[[X]][%[[K]]] {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// CHECK:     vector.extract %[[WV]][0]
// CHECK:     vector.extract %[[XV]][0]
// CHECK:     memref.load %{{.*}}[%[[ROW]]]
// CHECK-COUNT-3: vector.extract %[[WV]]
// CHECK:     scf.yield
// CHECK:   }
// The last (up to three) iterations, one per lane.
// CHECK:   %[[REST:.*]] = arith.addi %[[END]], %[[LANE]]
// CHECK:   scf.for %{{.*}} = %[[REST]] to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %[[R]]) -> (f32) {
// CHECK:     memref.load %[[W]]
// CHECK-NOT: vector.load
// CHECK:   }
// An item whose addresses are not aligned runs the lanes' loop as it was.
// CHECK: } else {
// CHECK:   scf.for %{{.*}} = %[[LANE]] to %{{.*}} step %{{.*}}
// CHECK-NOT: vector.load
// CHECK:   memref.load %[[W]]
// CHECK-NOT: chimera.lane_loop
// CHECK: gpu.return

// Without vector loads the runs are unrolled with scalar loads, untested.
// SCALAR-LABEL: gpu.func @gemv_row
// SCALAR-NOT: scf.if
// SCALAR-NOT: vector.load
// SCALAR: scf.for
// SCALAR-COUNT-4: memref.load %{{.*}} : memref<?xf32>
// SCALAR-NOT: chimera.lane_loop

// SPIR-V (no pointer casts): each contiguous operand gets a vec4 alias
// argument, which chimera-kernels-to-spirv binds where the operand is; a
// run reads alias[(offset + k) / 4] where (offset + base) is a multiple of
// four elements (the binding's start is the alias's element 0).
// ALIAS-LABEL: gpu.func @gemv_row
// ALIAS-SAME: %[[WV:[a-z0-9]+]]: memref<?xvector<4xf32>> {chimera.alias_of = 0 : i64}, %[[XV:[a-z0-9]+]]: memref<?xvector<4xf32>> {chimera.alias_of = 1 : i64})
// ALIAS-NOT: extract_aligned_pointer
// ALIAS: %[[OFF:.*]] = arith.muli %arg4, %c4
// ALIAS: arith.remui %[[OFF]], %c16
// ALIAS: scf.if
// ALIAS: %[[AT:.*]] = arith.addi %arg4, %[[K:.*]] : index
// ALIAS: %[[I:.*]] = arith.divui %[[AT]], %c4
// ALIAS: memref.load %[[WV]][%[[I]]] : memref<?xvector<4xf32>>
// ALIAS: %[[J:.*]] = arith.divui %[[K]], %c4
// ALIAS: memref.load %[[XV]][%[[J]]] : memref<?xvector<4xf32>>
// ALIAS-NOT: vector.load

// A lane loop whose iterations do not go one per lane (a step of 2 per
// lane) is left as it is, its mark dropped.
// CHECK-LABEL: gpu.func @strided_lanes
// CHECK-NOT: vector.load
// CHECK: scf.for
// CHECK-NOT: chimera.lane_loop
// CHECK: gpu.return
gpu.module @k {
  gpu.func @gemv_row(%w: memref<?xf32>, %x: memref<?xf32>, %s: memref<?xf32>,
                     %out: memref<?xf32>, %row: index, %n: index) kernel {
    %c0 = arith.constant 0 : index
    %c64 = arith.constant 64 : index
    %zero = arith.constant 0.0 : f32
    %lane = gpu.thread_id x
    %sum = scf.for %k = %lane to %n step %c64 iter_args(%acc = %zero) -> (f32) {
      %wi = arith.addi %row, %k : index
      %wk = memref.load %w[%wi] : memref<?xf32>
      %xk = memref.load %x[%k] : memref<?xf32>
      %sk = memref.load %s[%row] : memref<?xf32>
      %p = arith.mulf %wk, %xk : f32
      %q = arith.mulf %p, %sk : f32
      %a = arith.addf %acc, %q : f32
      scf.yield %a : f32
    } {chimera.lane_loop = 64 : i64}
    memref.store %sum, %out[%lane] : memref<?xf32>
    gpu.return
  }

  gpu.func @strided_lanes(%x: memref<?xf32>, %out: memref<?xf32>) kernel {
    %c128 = arith.constant 128 : index
    %c1024 = arith.constant 1024 : index
    %zero = arith.constant 0.0 : f32
    %lane = gpu.thread_id x
    %sum = scf.for %k = %lane to %c1024 step %c128 iter_args(%acc = %zero) -> (f32) {
      %xk = memref.load %x[%k] : memref<?xf32>
      %a = arith.addf %acc, %xk : f32
      scf.yield %a : f32
    } {chimera.lane_loop = 64 : i64}
    memref.store %sum, %out[%lane] : memref<?xf32>
    gpu.return
  }
}
