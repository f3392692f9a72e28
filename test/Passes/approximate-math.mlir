// RUN: chimera-opt %s --chimera-approximate-math | FileCheck %s
// RUN: chimera-opt %s --chimera-approximate-math=scalef=true | FileCheck %s --check-prefix=SCALEF

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

// With `scalef`, exp on 16 lanes clamps x to [-104, 104] by compares that
// keep NaN, takes n = roundeven(x·log2 e), r = x − n·ln 2 in two FMAs, a
// degree-7 polynomial (7 FMAs) and vscalefps; a scalar exp keeps
// upstream's form (exp16 and tanh's exp too: tanh is expanded directly).
// SCALEF-LABEL: func.func @exp16(
// SCALEF: arith.cmpf olt
// SCALEF: arith.select
// SCALEF: arith.cmpf ogt
// SCALEF: arith.select
// SCALEF: math.roundeven
// SCALEF-COUNT-9: math.fma
// SCALEF-NEXT: llvm.call_intrinsic "llvm.x86.avx512.mask.scalef.ps.512"(%{{.*}}, %{{.*}}, %{{.*}}, %c-1_i16, %c4_i32)
// SCALEF-NOT: math.exp
// SCALEF: math.floor
// SCALEF: return
func.func @exp16(%v: vector<16xf32>, %x: f32) -> (vector<16xf32>, f32) {
  %e = math.exp %v : vector<16xf32>
  %s = math.exp %x : f32
  return %e, %s : vector<16xf32>, f32
}
