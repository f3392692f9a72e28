// RUN: chimera-opt %s --chimera-synchronize-host-accesses | FileCheck %s

// A wait before the first host access after a launch, none between host
// accesses, none before a launch; a host loop without launches is waited
// for once; in a loop with launches each iteration starts unsynchronised.
// CHECK: func.func private @chimera_gpu_sync()
// CHECK-LABEL: func.func @f(
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0
// CHECK-NEXT: memref.load
// CHECK-NEXT: chimera.launch @chimera_kernels::@k
// CHECK-NEXT: chimera.launch @chimera_kernels::@k
// CHECK-NEXT: memref.alloc
// CHECK-NEXT: call @chimera_gpu_sync()
// CHECK-NEXT: memref.copy
// CHECK-NEXT: memref.load
// CHECK-NEXT: chimera.launch @chimera_kernels::@k
// CHECK-NEXT: call @chimera_gpu_sync()
// CHECK-NEXT: scf.for
// CHECK-NEXT: memref.store
// CHECK-NEXT: }
// CHECK-NEXT: scf.for
// CHECK-NEXT: call @chimera_gpu_sync()
// CHECK-NEXT: memref.load
// CHECK-NEXT: chimera.launch @chimera_kernels::@k
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc
// CHECK-NEXT: return
func.func @f(%m: memref<8xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %x = memref.load %m[%c0] : memref<8xf32>
  chimera.launch @chimera_kernels::@k[%n](%m) : memref<8xf32>
  chimera.launch @chimera_kernels::@k[%n](%m) : memref<8xf32>
  %t = memref.alloc() : memref<8xf32>
  memref.copy %m, %t : memref<8xf32> to memref<8xf32>
  %y = memref.load %t[%c0] : memref<8xf32>
  chimera.launch @chimera_kernels::@k[%n](%t) : memref<8xf32>
  scf.for %i = %c0 to %n step %n {
    memref.store %y, %m[%i] : memref<8xf32>
  }
  scf.for %i = %c0 to %n step %n {
    %z = memref.load %m[%i] : memref<8xf32>
    chimera.launch @chimera_kernels::@k[%n](%m) : memref<8xf32>
  }
  memref.dealloc %t : memref<8xf32>
  return
}
