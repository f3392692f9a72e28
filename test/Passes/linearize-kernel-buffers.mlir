// RUN: chimera-opt %s --split-input-file --verify-diagnostics --pass-pipeline="builtin.module(gpu.module(expand-strided-metadata,chimera-linearize-kernel-buffers,canonicalize))" | FileCheck %s

// A load through a view of a flat buffer, and a subview of it, become
// loads of the flat buffer at offset + sum(index * stride).
// CHECK-LABEL: gpu.func @views(
// CHECK-SAME: %[[FLAT:.*]]: memref<?xf32>, %[[OFF:.*]]: index, %[[S0:.*]]: index, %[[I:.*]]: index, %[[J:.*]]: index
// CHECK: %[[ROW:.*]] = arith.muli %[[I]], %[[S0]]
// CHECK: %[[A:.*]] = arith.addi %[[OFF]], %[[ROW]]
// CHECK: %[[AT:.*]] = arith.addi %[[A]], %[[J]]
// CHECK: %[[X:.*]] = memref.load %[[FLAT]][%[[AT]]] : memref<?xf32>
// CHECK: memref.store %[[X]], %[[FLAT]][%{{.*}}] : memref<?xf32>
// CHECK-NOT: memref.reinterpret_cast
gpu.module @m {
  gpu.func @views(%flat: memref<?xf32>, %off: index, %s0: index, %i: index, %j: index) kernel {
    %v = memref.reinterpret_cast %flat to offset: [%off], sizes: [4, 4], strides: [%s0, 1] : memref<?xf32> to memref<4x4xf32, strided<[?, 1], offset: ?>>
    %x = memref.load %v[%i, %j] : memref<4x4xf32, strided<[?, 1], offset: ?>>
    %row = memref.subview %v[1, 0] [1, 4] [1, 1] : memref<4x4xf32, strided<[?, 1], offset: ?>> to memref<4xf32, strided<[1], offset: ?>>
    memref.store %x, %row[%j] : memref<4xf32, strided<[1], offset: ?>>
    gpu.return
  }
}

// -----

// Flat bf16 buffers carry their bits as i16.
// CHECK-LABEL: gpu.func @bf16(
// CHECK-SAME: %[[W:.*]]: memref<?xi16>, %[[OUT:.*]]: memref<?xf32>
// CHECK: %[[BITS:.*]] = memref.load %[[W]][%{{.*}}] : memref<?xi16>
// CHECK: %[[B:.*]] = arith.bitcast %[[BITS]] : i16 to bf16
// CHECK: arith.extf %[[B]] : bf16 to f32
gpu.module @m {
  gpu.func @bf16(%w: memref<?xbf16>, %out: memref<?xf32>, %i: index) kernel {
    %v = memref.reinterpret_cast %w to offset: [0], sizes: [8], strides: [1] : memref<?xbf16> to memref<8xbf16>
    %x = memref.load %v[%i] : memref<8xbf16>
    %y = arith.extf %x : bf16 to f32
    memref.store %y, %out[%i] : memref<?xf32>
    gpu.return
  }
}

// -----

gpu.module @m {
  gpu.func @unknown(%flat: memref<?xf32>, %out: memref<4xf32>, %i: index) kernel {
    %c0 = arith.constant 0 : index
    %v = memref.reinterpret_cast %flat to offset: [0], sizes: [8], strides: [1] : memref<?xf32> to memref<8xf32>
    // expected-error @+1 {{cannot rewrite this access to a kernel buffer into a flat index}}
    %x = vector.load %v[%i] : memref<8xf32>, vector<4xf32>
    vector.store %x, %out[%c0] : memref<4xf32>, vector<4xf32>
    gpu.return
  }
}
