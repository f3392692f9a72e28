// A cache write bufferizes in place: only the new rows are copied, into a
// subview of the cache argument; the cache is never allocated or copied.
// RUN: chimera-opt %s --chimera-lower-to-reference \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   | FileCheck %s

// CHECK-LABEL: func.func @decode_kv_write
// CHECK-SAME: (%[[CACHE:.*]]: memref<2x4096x8x64xf32>, %[[NEW:.*]]: memref<2x1x8x64xf32>
// CHECK-NOT: memref.alloc
// CHECK: %[[LOOP:.*]] = scf.for {{.*}} iter_args(%[[ITER:.*]] = %[[CACHE]])
// CHECK: %[[SRC:.*]] = memref.subview %[[NEW]]
// CHECK: %[[DST:.*]] = memref.subview %[[ITER]]
// CHECK: memref.copy %[[SRC]], %[[DST]] : memref<1x1x8x64xf32, strided<{{.*}}>> to memref<1x1x8x64xf32, strided<{{.*}}>>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
// CHECK: scf.yield %[[ITER]]
// CHECK: return %[[LOOP]]
func.func @decode_kv_write(%cache: tensor<2x4096x8x64xf32>, %new: tensor<2x1x8x64xf32>, %pos: tensor<2xi64>) -> tensor<2x4096x8x64xf32> {
  %c = chimera.cache_write %cache, %new, %pos : (tensor<2x4096x8x64xf32>, tensor<2x1x8x64xf32>, tensor<2xi64>) -> tensor<2x4096x8x64xf32>
  return %c : tensor<2x4096x8x64xf32>
}
