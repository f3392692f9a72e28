// RUN: chimera-opt %s --chimera-approximate-math | FileCheck %s

// exp, log and tanh become inline polynomials (no calls left to lower to
// libm); sin and cos stay for libm's exact range reduction.
// CHECK-LABEL: func.func @f(
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.tanh
// CHECK: math.fma
// CHECK-DAG: math.sin
// CHECK-DAG: math.cos
func.func @f(%x: f32, %v: vector<16xf32>) -> (f32, f32, vector<16xf32>, f32, f32) {
  %e = math.exp %x : f32
  %l = math.log1p %e : f32
  %t = math.tanh %v : vector<16xf32>
  %s = math.sin %x : f32
  %c = math.cos %x : f32
  return %e, %l, %t, %s, %c : f32, f32, vector<16xf32>, f32, f32
}
