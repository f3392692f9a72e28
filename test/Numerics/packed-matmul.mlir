// The f32 packed broadcast-form matmul kernel (x rows ≥ 256) against a
// plain triple loop, on the JIT. Inputs are small integers, so every sum
// is exact in f32 whatever the order: the kernel must match exactly.
// M = 301 (50 tiles of 6 rows and one more), N = 40 (a full 32-row panel
// and a ragged 8), K = 264 (a 256 chunk, transposed in 16×16 blocks, then a
// chunk of 8 packed element by element; the first chunk stores into the
// zero-filled output, the second adds).
// RUN: chimera-opt %s --chimera-vectorize-matmuls --convert-linalg-to-loops \
// RUN:   --convert-scf-to-cf --expand-strided-metadata --lower-affine \
// RUN:   --convert-vector-to-llvm --finalize-memref-to-llvm --convert-to-llvm \
// RUN:   --reconcile-unrealized-casts \
// RUN:   | mlir-runner -e main -entry-point-result=void %runner_libs \
// RUN:   | FileCheck %s

// CHECK: max |kernel - loops| = 0
// CHECK-NEXT: checksum = [[SUM:-?[0-9]+]]
// CHECK-NEXT: checksum = [[SUM]]

llvm.mlir.global internal constant @diffFmt("max |kernel - loops| = %g\0A\00") {addr_space = 0 : i32}
llvm.mlir.global internal constant @sumFmt("checksum = %.0f\0A\00") {addr_space = 0 : i32}
llvm.func @printf(!llvm.ptr, ...) -> i32

func.func @print(%fmt: !llvm.ptr, %v: f32) {
  %d = arith.extf %v : f32 to f64
  llvm.call @printf(%fmt, %d) vararg(!llvm.func<i32 (ptr, ...)>) : (!llvm.ptr, f64) -> i32
  return
}

// out = x · wᵀ, as the importer's linear layers reach the kernel pass.
func.func @kernel(%x: memref<301x264xf32>, %w: memref<40x264xf32>, %out: memref<301x40xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<301x40xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<301x264xf32>, memref<40x264xf32>) outs(%out : memref<301x40xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cm = arith.constant 301 : index
  %cn = arith.constant 40 : index
  %ck = arith.constant 264 : index
  %c3 = arith.constant 3 : i64
  %c5 = arith.constant 5 : i64
  %c7 = arith.constant 7 : i64
  %c2 = arith.constant 2 : i64
  %zero = arith.constant 0.0 : f32
  %x = memref.alloc() : memref<301x264xf32>
  %w = memref.alloc() : memref<40x264xf32>
  %out = memref.alloc() : memref<301x40xf32>
  // x[m, k] = (3m + 5k) mod 7 - 3, w[n, k] = (5n + 3k) mod 5 - 2.
  scf.for %m = %c0 to %cm step %c1 {
    scf.for %k = %c0 to %ck step %c1 {
      %mi = arith.index_cast %m : index to i64
      %ki = arith.index_cast %k : index to i64
      %a = arith.addi %mi, %mi : i64
      %a3 = arith.addi %a, %mi : i64
      %b = arith.muli %ki, %c5 : i64
      %s = arith.addi %a3, %b : i64
      %r = arith.remui %s, %c7 : i64
      %v = arith.subi %r, %c3 : i64
      %f = arith.sitofp %v : i64 to f32
      memref.store %f, %x[%m, %k] : memref<301x264xf32>
    }
  }
  scf.for %n = %c0 to %cn step %c1 {
    scf.for %k = %c0 to %ck step %c1 {
      %ni = arith.index_cast %n : index to i64
      %ki = arith.index_cast %k : index to i64
      %a = arith.muli %ni, %c5 : i64
      %b = arith.muli %ki, %c3 : i64
      %s = arith.addi %a, %b : i64
      %r = arith.remui %s, %c5 : i64
      %v = arith.subi %r, %c2 : i64
      %f = arith.sitofp %v : i64 to f32
      memref.store %f, %w[%n, %k] : memref<40x264xf32>
    }
  }
  call @kernel(%x, %w, %out) : (memref<301x264xf32>, memref<40x264xf32>, memref<301x40xf32>) -> ()
  // The plain loops, the worst difference and both checksums.
  %res:3 = scf.for %m = %c0 to %cm step %c1 iter_args(%worst = %zero, %s1 = %zero, %s2 = %zero) -> (f32, f32, f32) {
    %r:3 = scf.for %n = %c0 to %cn step %c1 iter_args(%wo = %worst, %t1 = %s1, %t2 = %s2) -> (f32, f32, f32) {
      %ref = scf.for %k = %c0 to %ck step %c1 iter_args(%acc = %zero) -> (f32) {
        %a = memref.load %x[%m, %k] : memref<301x264xf32>
        %b = memref.load %w[%n, %k] : memref<40x264xf32>
        %p = arith.mulf %a, %b : f32
        %s = arith.addf %acc, %p : f32
        scf.yield %s : f32
      }
      %got = memref.load %out[%m, %n] : memref<301x40xf32>
      %d = arith.subf %got, %ref : f32
      %ad = math.absf %d : f32
      %wo2 = arith.maximumf %wo, %ad : f32
      %u1 = arith.addf %t1, %got : f32
      %u2 = arith.addf %t2, %ref : f32
      scf.yield %wo2, %u1, %u2 : f32, f32, f32
    }
    scf.yield %r#0, %r#1, %r#2 : f32, f32, f32
  }
  %f1 = llvm.mlir.addressof @diffFmt : !llvm.ptr
  %f2 = llvm.mlir.addressof @sumFmt : !llvm.ptr
  call @print(%f1, %res#0) : (!llvm.ptr, f32) -> ()
  call @print(%f2, %res#1) : (!llvm.ptr, f32) -> ()
  call @print(%f2, %res#2) : (!llvm.ptr, f32) -> ()
  memref.dealloc %x : memref<301x264xf32>
  memref.dealloc %w : memref<40x264xf32>
  memref.dealloc %out : memref<301x40xf32>
  return
}
