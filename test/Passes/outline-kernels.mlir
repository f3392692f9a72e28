// RUN: chimera-opt %s --split-input-file --chimera-outline-kernels=block-size=8 | FileCheck %s
// RUN: chimera-opt %s --split-input-file --chimera-outline-kernels="block-size=1 gpu-buffers" | FileCheck %s --check-prefix=GPU
// RUN: chimera-opt %s --chimera-outline-kernels --canonicalize --convert-scf-to-cf --finalize-memref-to-llvm --convert-to-llvm --chimera-launch-to-runtime --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM

// A top-level 2-D parallel loop becomes a kernel over a grid of
// rows x ceil(cols / 8) items; the loop nested in scf.for becomes a kernel
// launched from the host's loop, named for its tag.
// CHECK-LABEL: func.func @f(
// CHECK: %[[ROWS:.*]] = arith.ceildivsi
// CHECK: %[[COLS:.*]] = arith.ceildivsi
// CHECK: %[[BLOCKS:.*]] = arith.ceildivsi %[[COLS]], %{{.*}}
// CHECK: %[[GRID:.*]] = arith.muli %[[BLOCKS]], %[[ROWS]]
// Each launch carries the work of one grid item, for the runtime's choice
// of threads: 8 iterations of one store.
// CHECK: chimera.launch @f_kernel_0[%[[GRID]]] ({{.*}}) {item_work = 8 : i64}
// CHECK-NOT: scf.parallel
// CHECK: scf.for %[[T:.*]] = %c0
// CHECK: chimera.launch @f_kernel_1_fill[%{{.*}}] ({{.*}}%[[T]]) {item_work = 8 : i64}
// CHECK-NOT: scf.parallel
// CHECK: func.func private @f_kernel_0(%{{.*}}: index, %{{.*}}: index, {{.*}}memref<?x?xf32>) attributes {chimera.kernel, llvm.emit_c_interface}
// CHECK: scf.for %[[ITEM:.*]] = %arg0 to %arg1
// CHECK: arith.remui %[[ITEM]]
// CHECK: arith.divui %[[ITEM]]
// CHECK: scf.for
// CHECK: memref.store

// LLVM: %[[WORK:.*]] = llvm.mlir.constant(64 : i64) : i64
// LLVM: llvm.call @chimera_parallel_for(%{{.*}}, %[[WORK]], %{{.*}}, %{{.*}}) : (i64, i64, !llvm.ptr, !llvm.ptr) -> ()
// LLVM: llvm.func @chimera_parallel_for(i64, i64, !llvm.ptr, !llvm.ptr)
// LLVM: llvm.func internal @f_kernel_0_task(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: !llvm.ptr)
// LLVM: llvm.call @_mlir_ciface_f_kernel_0
// The runtime's kernel profile names tasks by this table.
// LLVM: llvm.mlir.global private constant @f_kernel_0_task_name("f_kernel_0\00")
// LLVM: llvm.mlir.global private constant @f_kernel_1_fill_task_name("f_kernel_1_fill\00")
// LLVM: llvm.mlir.global external constant @chimera_cpu_kernels() {{.*}} : !llvm.array<7 x struct<(ptr, ptr)>> {
// LLVM: %[[TABLE:.*]] = llvm.mlir.zero : !llvm.array<7 x struct<(ptr, ptr)>>
// LLVM: %[[TASK:.*]] = llvm.mlir.addressof @f_kernel_0_task : !llvm.ptr
// LLVM: %[[NAME:.*]] = llvm.mlir.addressof @f_kernel_0_task_name : !llvm.ptr
// LLVM: %[[T0:.*]] = llvm.insertvalue %[[TASK]], %[[TABLE]][0, 0]
// LLVM: llvm.insertvalue %[[NAME]], %[[T0]][0, 1]
// LLVM: llvm.return
func.func @f(%m: memref<?x?xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1.0 : f32
  %rows = memref.dim %m, %c0 : memref<?x?xf32>
  %cols = memref.dim %m, %c1 : memref<?x?xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%rows, %cols) step (%c1, %c1) {
    memref.store %one, %m[%i, %j] : memref<?x?xf32>
    scf.reduce
  }
  scf.for %t = %c0 to %n step %c1 {
    scf.parallel (%i) = (%c0) to (%rows) step (%c1) {
      memref.store %one, %m[%i, %t] : memref<?x?xf32>
      scf.reduce
    } {chimera.kernel_tag = "fill"}
  }
  return
}

// -----

// For a GPU (gpu-buffers), a loop nested in host control flow that uses an
// i1 buffer stays on the host; one over whole-byte buffers is a kernel.
// GPU-LABEL: func.func @masks(
// GPU: scf.if
// GPU-NEXT: scf.parallel
// GPU: chimera.launch @masks_kernel_0
func.func @masks(%mask: memref<?xi1>, %m: memref<?xf32>, %go: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %t = arith.constant true
  %one = arith.constant 1.0 : f32
  %n = memref.dim %m, %c0 : memref<?xf32>
  scf.if %go {
    scf.parallel (%i) = (%c0) to (%n) step (%c1) {
      memref.store %t, %mask[%i] : memref<?xi1>
      scf.reduce
    }
    scf.parallel (%i) = (%c0) to (%n) step (%c1) {
      memref.store %one, %m[%i] : memref<?xf32>
      scf.reduce
    }
  }
  return
}

// -----

// An item's work counts loops with a constant trip count by it, a vector op
// once per 16 lanes and the costlier branch of an scf.if: 4 iterations ×
// (2 + 3 × (1 + 4)) = 68. A loop whose trip count is only known at run time
// leaves the work unknown: no item_work, and the runtime spreads the grid.
// CHECK-LABEL: func.func @work(
// CHECK: chimera.launch @work_kernel_0[%{{.*}}] ({{.*}}) {item_work = 68 : i64}
// CHECK: chimera.launch @work_kernel_1[%{{.*}}] ({{.*}}) :
func.func @work(%m: memref<?x32xf32>, %go: i1, %k: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %z = arith.constant dense<0.0> : vector<32xf32>
  %f = arith.constant 0.0 : f32
  %rows = memref.dim %m, %c0 : memref<?x32xf32>
  scf.parallel (%i) = (%c0) to (%rows) step (%c1) {
    %v = vector.load %m[%i, %c0] : memref<?x32xf32>, vector<32xf32>
    scf.for %j = %c0 to %c3 step %c1 {
      scf.if %go {
        %w = arith.addf %v, %z : vector<32xf32>
        vector.store %w, %m[%i, %c0] : memref<?x32xf32>, vector<32xf32>
      }
    }
    scf.reduce
  } {chimera.block_size = 4}
  scf.parallel (%i) = (%c0) to (%rows) step (%c1) {
    scf.for %j = %c0 to %k step %c1 {
      memref.store %f, %m[%i, %j] : memref<?x32xf32>
    }
    scf.reduce
  }
  return
}
