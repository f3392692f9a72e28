// RUN: chimera-opt %s --split-input-file --verify-diagnostics --chimera-forall-to-parallel-loops | FileCheck %s

// The grid keeps the forall's kernel tag (upstream's conversion drops it),
// so chimera-outline-kernels can name the kernel by it.
// CHECK-LABEL: func.func @tagged(
// CHECK-NOT: scf.forall
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%{{.*}}, %{{.*}}) to (%arg1, %{{.*}})
// CHECK: memref.store
// CHECK: } {chimera.kernel_tag = "attention"}
func.func @tagged(%m: memref<?x4xf32>, %n: index) {
  %one = arith.constant 1.0 : f32
  scf.forall (%i, %j) in (%n, 4) {
    memref.store %one, %m[%i, %j] : memref<?x4xf32>
  } {chimera.kernel_tag = "attention"}
  return
}

// -----

// A forall on tensors (not bufferized yet) has no parallel-loop form.
func.func @results(%t: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{with results cannot become an scf.parallel; bufferize first}}
  %r = scf.forall (%i) in (4) shared_outs(%o = %t) -> tensor<4xf32> {
    scf.forall.in_parallel {
    }
  }
  return %r : tensor<4xf32>
}
