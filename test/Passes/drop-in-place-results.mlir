// RUN: chimera-opt %s --chimera-drop-in-place-results --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @f(%{{.*}}: memref<4xf32>, %{{.*}}: memref<2xf32>) {
// CHECK-NEXT: return{{$}}
func.func @f(%a: memref<4xf32>, %b: memref<2xf32>) -> (memref<4xf32>, memref<2xf32>) {
  return %a, %b : memref<4xf32>, memref<2xf32>
}

// -----

// expected-error @+1 {{result 0 ('logits') is not written in place into an argument buffer}}
func.func @g(%a: memref<4xf32>) -> (memref<4xf32> {chimera.name = "logits"}) {
  %new = memref.alloc() : memref<4xf32>
  return %new : memref<4xf32>
}
