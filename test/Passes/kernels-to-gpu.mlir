// RUN: chimera-opt %s --chimera-outline-kernels=block-size=1 --canonicalize --chimera-kernels-to-gpu | FileCheck %s
// RUN: chimera-opt %s --chimera-outline-kernels=block-size=1 --canonicalize --chimera-kernels-to-gpu --convert-scf-to-cf --finalize-memref-to-llvm --convert-to-llvm --chimera-launch-to-runtime=gpu=true --reconcile-unrealized-casts | FileCheck %s --check-prefix=LLVM
// RUN: not chimera-opt %s --chimera-kernels-to-gpu=workgroup-size=0 2>&1 | FileCheck %s --check-prefix=BAD

// The kernel moves into gpu.module @chimera_kernels with one flat buffer per
// memref operand and the i32 parameters last; the launch names it there.
// CHECK: module attributes {chimera.workgroup_size = 64 : i64, gpu.container_module}
// CHECK-LABEL: func.func @f(
// CHECK: chimera.launch @chimera_kernels::@f_kernel_0[
// CHECK: %[[TABLE:.*]] = memref.get_global @table
// CHECK: %[[COPY:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
// CHECK: memref.copy %[[TABLE]], %[[COPY]]
// CHECK: chimera.launch @chimera_kernels::@f_kernel_1[{{.*}}] ({{.*}}, %[[COPY]], 
// CHECK: memref.dealloc %[[COPY]]
// CHECK-NOT: func.func private @f_kernel
// CHECK: gpu.module @chimera_kernels
// CHECK: gpu.func @f_kernel_0(%[[FLAT:.*]]: memref<?xf32>, %[[PARAMS:.*]]: memref<?xi32>) kernel attributes {known_block_size = array<i32: 64, 1, 1>, spirv.entry_point_abi = #spirv.entry_point_abi<workgroup_size = [64, 1, 1]>}
// Grid size, then the memref's offset, sizes and strides.
// CHECK: memref.load %[[PARAMS]][%c0]
// CHECK: gpu.block_id  y
// CHECK: gpu.grid_dim  x
// CHECK: gpu.thread_id  x
// CHECK: arith.minui
// The operand's type fixes its innermost stride (1): the view keeps it
// static, so consecutive elements of a row are adjacent in the flat buffer;
// the outer stride and the offset come from the parameters.
// CHECK: memref.reinterpret_cast %[[FLAT]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}], strides: [%{{.*}}, 1] : memref<?xf32> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK: memref.cast %{{.*}} : memref<?x?xf32, strided<[?, 1], offset: ?>> to memref<?x?xf32>
// CHECK: memref.store
// CHECK: gpu.return

// LLVM: llvm.call @chimera_gpu_launch(%{{.*}}, %{{.*}}, %{{.*}}) : (i64, i64, !llvm.ptr) -> ()
// LLVM: llvm.mlir.global external constant @chimera_gpu_kernels("f_kernel_0(x,x,m4.2);f_kernel_1(x,m4.1,m4.1);\00")

// BAD: error: chimera-kernels-to-gpu: workgroup-size must be in [1, 1024], got 0
memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>

func.func @f(%m: memref<?x?xf32>, %v: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %one = arith.constant 1.0 : f32
  %rows = memref.dim %m, %c0 : memref<?x?xf32>
  %cols = memref.dim %m, %c1 : memref<?x?xf32>
  scf.parallel (%i, %j) = (%c0, %c0) to (%rows, %cols) step (%c1, %c1) {
    memref.store %one, %m[%i, %j] : memref<?x?xf32>
    scf.reduce
  }
  %t = memref.get_global @table : memref<4xf32>
  scf.parallel (%i) = (%c0) to (%c4) step (%c1) {
    %x = memref.load %t[%i] : memref<4xf32>
    memref.store %x, %v[%i] : memref<4xf32>
    scf.reduce
  }
  return
}
