// RUN: chimera-opt %s --chimera-strided-copies-to-linalg | FileCheck %s

// CHECK-LABEL: func.func @f(
// CHECK: memref.copy %arg0, %arg1 : memref<4x4xf32> to memref<4x4xf32>
// CHECK: linalg.copy ins(%{{.*}} : memref<2x4xf32, strided<[4, 1], offset: 4>>) outs(%{{.*}} : memref<2x4xf32, strided<[4, 1], offset: 8>>)
func.func @f(%a: memref<4x4xf32>, %b: memref<4x4xf32>) {
  memref.copy %a, %b : memref<4x4xf32> to memref<4x4xf32>
  %sa = memref.subview %a[1, 0] [2, 4] [1, 1] : memref<4x4xf32> to memref<2x4xf32, strided<[4, 1], offset: 4>>
  %sb = memref.subview %b[2, 0] [2, 4] [1, 1] : memref<4x4xf32> to memref<2x4xf32, strided<[4, 1], offset: 8>>
  memref.copy %sa, %sb : memref<2x4xf32, strided<[4, 1], offset: 4>> to memref<2x4xf32, strided<[4, 1], offset: 8>>
  return
}
