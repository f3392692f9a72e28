// RUN: chimera-opt %s --convert-linalg-to-parallel-loops --chimera-outline-kernels=block-size=1 --canonicalize --chimera-kernels-to-gpu --chimera-gpu-tile-matmuls | FileCheck %s
// RUN: chimera-opt %s --convert-linalg-to-parallel-loops --chimera-outline-kernels=block-size=1 --canonicalize --chimera-kernels-to-gpu --chimera-gpu-tile-matmuls=workgroup-allocs | FileCheck %s --check-prefix=ALLOC
// RUN: not chimera-opt %s --chimera-gpu-tile-matmuls=workgroup-size=48 2>&1 | FileCheck %s --check-prefix=BAD

// A linear layer whose weight side is dequantised (w * s[n]) gets a tiled
// twin. The host picks it when the grid has at least 8 rows (grid / N),
// with one 64-invocation workgroup per 32x32 tile and the row count as an
// extra operand; otherwise it launches the original.
// CHECK-LABEL: func.func @linear(
// CHECK: %[[GRID:.*]] = arith.muli
// CHECK: %[[ROWS:.*]] = arith.divui %[[GRID]], %{{.*}} : index
// CHECK: %[[BIG:.*]] = arith.cmpi uge, %[[ROWS]], %c8
// CHECK: scf.if %[[BIG]] {
// CHECK:   %[[TM:.*]] = arith.ceildivui %[[ROWS]], %c32
// CHECK:   %[[TN:.*]] = arith.ceildivui %{{.*}}, %c32
// CHECK:   %[[TILES:.*]] = arith.muli %[[TM]], %[[TN]]
// CHECK:   %[[TGRID:.*]] = arith.muli %[[TILES]], %c64
// CHECK:   chimera.launch @chimera_kernels::@linear_kernel_0_tiled[%[[TGRID]]] ({{.*}}, %[[ROWS]]) :
// CHECK: } else {
// CHECK:   chimera.launch @chimera_kernels::@linear_kernel_0[%[[GRID]]]
// CHECK: }
// Mixed operands and a reduction of data-dependent length stay as they are.
// CHECK-LABEL: func.func @mixed(
// CHECK-NOT: scf.if
// CHECK: chimera.launch @chimera_kernels::@mixed_kernel_0[
// CHECK-LABEL: func.func @ragged(
// CHECK-NOT: scf.if
// CHECK: chimera.launch @chimera_kernels::@ragged_kernel_0[

// The twin: 32x17 floats per side in workgroup memory (rows padded to 17),
// the row count read from the word after the operands' (the grid, two
// indices, three memrefs of rank 2 and one of rank 1: 1 + 2 + 15 + 3 = 21),
// a K loop over slices of 16 carrying 16 sums.
// CHECK-LABEL: gpu.func @linear_kernel_0_tiled(
// CHECK-SAME: workgroup(%[[XS:.*]] : memref<544xf32, #gpu.address_space<workgroup>>, %[[WS:.*]] : memref<544xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: kernel
// CHECK: %[[R:.*]] = memref.load %{{.*}}[%c21{{.*}}] : memref<?xi32>
// CHECK: scf.if
// CHECK: scf.for %[[K0:.*]] = %c0{{.*}} to %c40{{.*}} step %c16{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// The x side: rows past the count and k past 40 are 0.
// CHECK: scf.for
// CHECK: arith.cmpi ult, %{{.*}}, %{{.*}} : index
// CHECK: arith.andi
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK: memref.load
// CHECK: memref.store %{{.*}}, %[[XS]]
// The weight side: w[n, k] * s[n], computed once per tile element.
// CHECK: scf.for
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK: memref.load
// CHECK: memref.load
// CHECK: arith.mulf
// CHECK: memref.store %{{.*}}, %[[WS]]
// CHECK: gpu.barrier
// CHECK: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK-COUNT-8: memref.load
// CHECK: gpu.barrier
// Each invocation adds its 16 sums into the output, where in range.
// CHECK-COUNT-16: arith.addf %{{.*}}, %{{.*}} fastmath<reassoc,contract>
// CHECK-NOT: gpu.barrier
// CHECK: gpu.return
// CHECK-NOT: gpu.func @mixed_kernel_0_tiled
// CHECK-NOT: gpu.func @ragged_kernel_0_tiled

// ALLOC-LABEL: gpu.func @linear_kernel_0_tiled(
// ALLOC-NOT: workgroup(
// ALLOC: memref.alloc() : memref<544xf32, #gpu.address_space<workgroup>>
// ALLOC: memref.alloc() : memref<544xf32, #gpu.address_space<workgroup>>

// BAD: error: chimera-gpu-tile-matmuls: workgroup-size must be a power of two in [8, 512], got 48

#x = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#s = affine_map<(m, n, k) -> (n)>
#o = affine_map<(m, n, k) -> (m, n)>
func.func @linear(%x: memref<?x40xf32>, %w: memref<24x40xf32>, %s: memref<24xf32>, %out: memref<?x24xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #s, #o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %s : memref<?x40xf32>, memref<24x40xf32>, memref<24xf32>)
      outs(%out : memref<?x24xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %acc: f32):
    %wv = arith.mulf %b, %c : f32
    %p = arith.mulf %a, %wv fastmath<reassoc,contract> : f32
    %r = arith.addf %acc, %p fastmath<reassoc,contract> : f32
    linalg.yield %r : f32
  }
  return
}

// y's factor depends on both the row and the column.
#y = affine_map<(m, n, k) -> (m, n, k)>
func.func @mixed(%x: memref<?x40xf32>, %y: memref<?x24x40xf32>, %out: memref<?x24xf32>) {
  linalg.generic {indexing_maps = [#x, #y, #o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %y : memref<?x40xf32>, memref<?x24x40xf32>)
      outs(%out : memref<?x24xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p fastmath<reassoc> : f32
    linalg.yield %r : f32
  }
  return
}

func.func @ragged(%x: memref<?x?xf32>, %w: memref<24x?xf32>, %out: memref<?x24xf32>) {
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x?xf32>, memref<24x?xf32>)
      outs(%out : memref<?x24xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p fastmath<reassoc> : f32
    linalg.yield %r : f32
  }
  return
}
