// exp on 16 lanes by vscalefps (chimera-approximate-math{scalef}) on the
// JIT: within 2 ulp of libm's expf across the normal range, and IEEE at the
// edges: exp(-inf) = 0, exp(inf) = inf, NaN stays NaN, gradual underflow
// (exp(-100) is the subnormal 3.78e-44, exp(-104.5) rounds to 0), exp(88.5)
// = 2.72e38 is finite and exp(88.8) overflows.
// REQUIRES: avx512f
// RUN: chimera-opt %s --chimera-approximate-math=scalef=true \
// RUN:   --convert-scf-to-cf --convert-vector-to-llvm --finalize-memref-to-llvm \
// RUN:   --convert-math-to-llvm --convert-to-llvm --reconcile-unrealized-casts \
// RUN:   | mlir-runner -e main -entry-point-result=void %runner_libs \
// RUN:   | FileCheck %s
// The pass really takes the vscalefps form (not upstream's):
// RUN: chimera-opt %s --chimera-approximate-math=scalef=true | FileCheck %s --check-prefix=IR

// IR-LABEL: func.func @main(
// IR-NOT: math.exp %{{.*}} : vector<16xf32>
// IR: llvm.call_intrinsic "llvm.x86.avx512.mask.scalef.ps.512"
// IR: call @expf

// CHECK: max relative error {{.*}} (within 2 ulp: 1)
// CHECK: [0,  inf,  nan,  0,  3.78351e-44,  9.98235e-39,  2.06115e-09,  0.367879,  1,  1,  1.64872,  2.71828,  22026.5,  2.72309e+38,  inf,  inf]

llvm.mlir.global internal constant @fmt("max relative error %.3g (within 2 ulp: %d)\0A\00") {addr_space = 0 : i32}
llvm.func @printf(!llvm.ptr, ...) -> i32
func.func private @expf(f32) -> f32
func.func private @printMemrefF32(memref<*xf32>)

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %n = arith.constant 1400 : index
  %zero = arith.constant 0.0 : f32
  %lanes = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]> : vector<16xf32>
  // x = -87 + k/128 for k < 22400: [-87, 88).
  %step = arith.constant dense<0.0078125> : vector<16xf32>
  %lo = arith.constant dense<-87.0> : vector<16xf32>
  %sixteen = arith.constant 16.0 : f32
  %worst = scf.for %i = %c0 to %n step %c1 iter_args(%w = %zero) -> f32 {
    %ii = arith.index_cast %i : index to i32
    %fi = arith.sitofp %ii : i32 to f32
    %base = arith.mulf %fi, %sixteen : f32
    %bv = vector.broadcast %base : f32 to vector<16xf32>
    %k = arith.addf %lanes, %bv : vector<16xf32>
    %x = math.fma %k, %step, %lo : vector<16xf32>
    %e = math.exp %x : vector<16xf32>
    %r = scf.for %l = %c0 to %c16 step %c1 iter_args(%a = %w) -> f32 {
      %xl = vector.extract %x[%l] : f32 from vector<16xf32>
      %el = vector.extract %e[%l] : f32 from vector<16xf32>
      %ref = func.call @expf(%xl) : (f32) -> f32
      %d = arith.subf %el, %ref : f32
      %ad = math.absf %d : f32
      %rel = arith.divf %ad, %ref : f32
      %m = arith.maximumf %a, %rel : f32
      scf.yield %m : f32
    }
    scf.yield %r : f32
  }
  // 2 ulp of f32: 2^-22.
  %ulp2 = arith.constant 2.38418579e-07 : f32
  %ok = arith.cmpf ole, %worst, %ulp2 : f32
  %oki = arith.extui %ok : i1 to i32
  %f = llvm.mlir.addressof @fmt : !llvm.ptr
  %wd = arith.extf %worst : f32 to f64
  llvm.call @printf(%f, %wd, %oki) vararg(!llvm.func<i32 (ptr, ...)>) : (!llvm.ptr, f64, i32) -> i32

  %edges = arith.constant dense<[0xFF800000, 0x7F800000, 0x7FC00000, -104.5, -100.0, -87.5, -20.0, -1.0, 0.0, 1.0e-8, 0.5, 1.0, 10.0, 88.5, 88.8, 200.0]> : vector<16xf32>
  %ee = math.exp %edges : vector<16xf32>
  %mem = memref.alloca() : memref<16xf32>
  vector.store %ee, %mem[%c0] : memref<16xf32>, vector<16xf32>
  %u = memref.cast %mem : memref<16xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}
