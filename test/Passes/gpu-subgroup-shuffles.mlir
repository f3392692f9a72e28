// RUN: chimera-opt %s --chimera-gpu-subgroup-shuffles | FileCheck %s
// RUN: not chimera-opt %s --chimera-gpu-subgroup-shuffles=subgroup-size=24 2>&1 | FileCheck %s --check-prefix=BAD

// A uniform f32 sum over a warp of 32 lanes: five shuffle-xor steps (1, 2,
// 4, 8, 16), each followed by an add; no subgroup_reduce is left.
// CHECK-LABEL: gpu.func @sum
// CHECK-NOT: gpu.subgroup_reduce
// CHECK: gpu.shuffle  xor %{{.*}}, %c1
// CHECK: arith.addf
// CHECK: gpu.shuffle  xor %{{.*}}, %c2
// CHECK: gpu.shuffle  xor %{{.*}}, %c4
// CHECK: gpu.shuffle  xor %{{.*}}, %c8
// CHECK: gpu.shuffle  xor %{{.*}}, %c16
// CHECK: arith.addf
// CHECK-NOT: gpu.shuffle
// CHECK: gpu.return
// BAD: error: chimera-gpu-subgroup-shuffles: subgroup-size must be a power of two, got 24
gpu.module @k {
  gpu.func @sum(%x: f32, %out: memref<1xf32>) kernel {
    %c0 = arith.constant 0 : index
    %s = gpu.subgroup_reduce add %x uniform : (f32) -> f32
    memref.store %s, %out[%c0] : memref<1xf32>
    gpu.return
  }
}
