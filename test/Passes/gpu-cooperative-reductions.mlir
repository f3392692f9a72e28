// RUN: chimera-opt %s --chimera-gpu-cooperative-reductions | FileCheck %s
// RUN: chimera-opt %s --chimera-gpu-cooperative-reductions=workgroup-allocs | FileCheck %s --check-prefix=ALLOC
// RUN: chimera-opt %s --chimera-gpu-cooperative-reductions=subgroup-reduce | FileCheck %s --check-prefix=SUBGROUP
// RUN: chimera-opt %s --chimera-gpu-cooperative-reductions=data-dependent | FileCheck %s --check-prefix=DYNAMIC
// RUN: chimera-opt %s "--chimera-gpu-cooperative-reductions=subgroup-reduce subgroup-size=32" | FileCheck %s --check-prefix=WARPS

// An item whose one store accumulates a 256-long dot product (one grid item
// per invocation, as chimera-kernels-to-gpu builds it) gets a workgroup:
// the item is the block index, lanes stride the reduction by 64, a tree of
// six levels in workgroup memory combines the partials, lane 0 stores
// (barriers: after the partials, after each level, after the store). Its
// launch counts 64 invocations per item.
// CHECK-LABEL: func.func @host
// CHECK: %[[W:.*]] = arith.constant 64 : index
// CHECK: %[[GRID:.*]] = arith.muli %arg0, %[[W]] : index
// CHECK: chimera.launch @k::@dot[%[[GRID]]]
// CHECK: chimera.launch @k::@short[%arg0]
// CHECK: chimera.launch @k::@ragged[%arg0]
// CHECK: %[[GRID4:.*]] = arith.muli %arg0, %{{.*}} : index
// CHECK: chimera.launch @k::@nibbles[%[[GRID4]]]
// CHECK-LABEL: gpu.func @dot
// CHECK-SAME: workgroup(%[[SHARED:.*]] : memref<64xf32, #gpu.address_space<workgroup>>)
// CHECK: %[[BLOCK:.*]] = gpu.block_id x
// CHECK: %[[ITEMS:.*]] = arith.divui %{{.*}}, %c64
// CHECK: %[[END:.*]] = arith.minui %{{.*}}, %[[ITEMS]]
// CHECK: scf.for %[[I:.*]] = %[[BLOCK]] to %[[END]]
// CHECK: %[[LANE:.*]] = gpu.thread_id x
// CHECK: %[[PARTIAL:.*]] = scf.for %{{.*}} = %{{.*}} to %c256{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %cst{{.*}}) -> (f32)
// CHECK: arith.mulf
// CHECK: arith.addf %[[ACC]], %{{.*}} fastmath<reassoc>
// CHECK: memref.store %[[PARTIAL]], %[[SHARED]][%[[LANE]]]
// CHECK-COUNT-8: gpu.barrier
// CHECK-NOT: gpu.barrier
// With subgroup arithmetic: each subgroup sums in registers, its lowest
// invocation stores the sum at its subgroup id, invocation 0 adds the
// subgroups' sums: two barriers.
// SUBGROUP-LABEL: gpu.func @dot
// SUBGROUP: %[[PARTIAL:.*]] = scf.for
// SUBGROUP: %[[SUM:.*]] = gpu.subgroup_reduce add %[[PARTIAL]] : (f32) -> f32
// SUBGROUP: %[[LOWEST:.*]] = gpu.subgroup_reduce minui
// SUBGROUP: scf.if
// SUBGROUP: %[[SG:.*]] = gpu.subgroup_id
// SUBGROUP: memref.store %[[SUM]], %{{.*}}[%[[SG]]]
// SUBGROUP: gpu.barrier
// SUBGROUP: gpu.num_subgroups
// SUBGROUP: gpu.barrier
// SUBGROUP-NOT: gpu.barrier
// SUBGROUP: gpu.return
// With data-dependent: the reduction whose length is the item's index gets
// a workgroup too (lanes stride [0, i) by 64), the 16-long one still not.
// DYNAMIC: chimera.launch @k::@dot[%[[G:.*]]]
// DYNAMIC: chimera.launch @k::@short[%arg0]
// DYNAMIC: chimera.launch @k::@ragged[%{{.*}}]
// DYNAMIC-LABEL: gpu.func @short
// DYNAMIC-NOT: gpu.barrier
// DYNAMIC-LABEL: gpu.func @ragged
// DYNAMIC: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// DYNAMIC: %[[LANE:.*]] = gpu.thread_id x
// DYNAMIC: scf.for %{{.*}} = %{{.*}} to %[[I]] step %{{.*}} iter_args
// DYNAMIC: gpu.barrier
// A known subgroup size (CUDA's warps): a uniform reduction, subgroup g is
// lanes [32g, 32g + 32), its lane 0 stores, and invocation 0 adds 64 / 32
// sums.
// WARPS-LABEL: gpu.func @dot
// WARPS: %[[SUM:.*]] = gpu.subgroup_reduce add %{{.*}} uniform : (f32) -> f32
// WARPS-NOT: gpu.subgroup_reduce minui
// WARPS: %[[IN:.*]] = arith.remui %[[LANE:.*]], %c32
// WARPS: %[[FIRST:.*]] = arith.cmpi eq, %[[IN]], %c0
// WARPS: %[[G:.*]] = arith.divui %[[LANE]], %c32
// WARPS: scf.if %[[FIRST]] {
// WARPS: memref.store %[[SUM]], %{{.*}}[%[[G]]]
// WARPS: gpu.barrier
// WARPS-NOT: gpu.num_subgroups
// WARPS: scf.for %{{.*}} = %c0{{.*}} to %c2{{.*}} step
// ALLOC-LABEL: gpu.func @dot
// ALLOC-NOT: workgroup(
// ALLOC: memref.alloc() : memref<64xf32, #gpu.address_space<workgroup>>
module attributes {gpu.container_module} {
  func.func @host(%n: index, %x: memref<?xf32>, %w: memref<?xf32>, %o: memref<?xf32>) {
    chimera.launch @k::@dot[%n] (%x, %w, %o) : memref<?xf32>, memref<?xf32>, memref<?xf32>
    chimera.launch @k::@short[%n] (%x, %w, %o) : memref<?xf32>, memref<?xf32>, memref<?xf32>
    chimera.launch @k::@ragged[%n] (%x, %w, %o) : memref<?xf32>, memref<?xf32>, memref<?xf32>
    chimera.launch @k::@nibbles[%n] (%x, %w, %o) : memref<?xf32>, memref<?xf32>, memref<?xf32>
    return
  }
  gpu.module @k {
    // out[i] += x[k] * w[i * 256 + k], k < 256
    gpu.func @dot(%x: memref<?xf32>, %w: memref<?xf32>, %o: memref<?xf32>, %n: index) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c64 = arith.constant 64 : index
      %c256 = arith.constant 256 : index
      %b = gpu.block_id x
      %base = arith.muli %b, %c64 : index
      %t = gpu.thread_id x
      %id = arith.addi %base, %t : index
      %next = arith.addi %id, %c1 : index
      %end = arith.minui %next, %n : index
      scf.for %i = %id to %end step %c1 {
        %row = arith.muli %i, %c256 : index
        scf.for %k = %c0 to %c256 step %c1 {
          %a = memref.load %x[%k] : memref<?xf32>
          %at = arith.addi %row, %k : index
          %v = memref.load %w[%at] : memref<?xf32>
          %p = arith.mulf %a, %v : f32
          %old = memref.load %o[%i] : memref<?xf32>
          %s = arith.addf %old, %p fastmath<reassoc> : f32
          memref.store %s, %o[%i] : memref<?xf32>
        }
      }
      gpu.return
    }
    // A 16-long reduction keeps one invocation per item.
    // CHECK-LABEL: gpu.func @short
    // CHECK-NOT: gpu.barrier
    // CHECK: gpu.return
    gpu.func @short(%x: memref<?xf32>, %w: memref<?xf32>, %o: memref<?xf32>, %n: index) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c16 = arith.constant 16 : index
      %c64 = arith.constant 64 : index
      %b = gpu.block_id x
      %base = arith.muli %b, %c64 : index
      %t = gpu.thread_id x
      %id = arith.addi %base, %t : index
      %next = arith.addi %id, %c1 : index
      %end = arith.minui %next, %n : index
      scf.for %i = %id to %end step %c1 {
        scf.for %k = %c0 to %c16 step %c1 {
          %a = memref.load %x[%k] : memref<?xf32>
          %old = memref.load %o[%i] : memref<?xf32>
          %s = arith.maximumf %old, %a : f32
          memref.store %s, %o[%i] : memref<?xf32>
        }
      }
      gpu.return
    }
    // A reduction of data-dependent length, too (unless data-dependent).
    // CHECK-LABEL: gpu.func @ragged
    // CHECK-NOT: gpu.barrier
    // CHECK: gpu.return
    gpu.func @ragged(%x: memref<?xf32>, %w: memref<?xf32>, %o: memref<?xf32>, %n: index) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c64 = arith.constant 64 : index
      %b = gpu.block_id x
      %base = arith.muli %b, %c64 : index
      %t = gpu.thread_id x
      %id = arith.addi %base, %t : index
      %next = arith.addi %id, %c1 : index
      %end = arith.minui %next, %n : index
      scf.for %i = %id to %end step %c1 {
        scf.for %k = %c0 to %i step %c1 {
          %a = memref.load %x[%k] : memref<?xf32>
          %old = memref.load %o[%i] : memref<?xf32>
          %s = arith.addf %old, %a : f32
          memref.store %s, %o[%i] : memref<?xf32>
        }
      }
      gpu.return
    }
    // A 4-bit layer's nest: 8 groups of 16 bytes, two terms a byte,
    // `out = (out + a) + b`. Neither loop gives each lane two iterations;
    // the 128 bytes do, as one loop (group t / 16, byte t mod 16), with the
    // running value read once at the bottom of the chain.
    // CHECK-LABEL: gpu.func @nibbles
    // CHECK: scf.for %[[T:.*]] = %{{.*}} to %c128{{.*}} step %{{.*}} iter_args(%[[NACC:.*]] = %cst{{.*}}) -> (f32)
    // CHECK: arith.divui %[[T]], %c16
    // CHECK: arith.remui %[[T]], %c16
    // CHECK-NOT: memref.load %arg2
    // CHECK: %[[FIRST:.*]] = arith.addf %[[NACC]], %{{.*}} fastmath<reassoc>
    // CHECK: %[[SECOND:.*]] = arith.addf %[[FIRST]], %{{.*}} fastmath<reassoc>
    // CHECK: scf.yield %[[SECOND]]
    // CHECK: gpu.barrier
    gpu.func @nibbles(%x: memref<?xf32>, %w: memref<?xf32>, %o: memref<?xf32>, %n: index) kernel {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c8 = arith.constant 8 : index
      %c16 = arith.constant 16 : index
      %c32 = arith.constant 32 : index
      %c64 = arith.constant 64 : index
      %b = gpu.block_id x
      %base = arith.muli %b, %c64 : index
      %t = gpu.thread_id x
      %id = arith.addi %base, %t : index
      %next = arith.addi %id, %c1 : index
      %end = arith.minui %next, %n : index
      scf.for %i = %id to %end step %c1 {
        scf.for %g = %c0 to %c8 step %c1 {
          %gx = arith.muli %g, %c32 : index
          scf.for %j = %c0 to %c16 step %c1 {
            %j2 = arith.muli %j, %c1 : index
            %lo = arith.addi %gx, %j2 : index
            %hi = arith.addi %lo, %c16 : index
            %a = memref.load %x[%lo] : memref<?xf32>
            %a2 = memref.load %x[%hi] : memref<?xf32>
            %v = memref.load %w[%lo] : memref<?xf32>
            %p = arith.mulf %a, %v : f32
            %q = arith.mulf %a2, %v : f32
            %old = memref.load %o[%i] : memref<?xf32>
            %s1 = arith.addf %old, %p fastmath<reassoc> : f32
            %s2 = arith.addf %s1, %q fastmath<reassoc> : f32
            memref.store %s2, %o[%i] : memref<?xf32>
          }
        }
      }
      gpu.return
    }
  }
}
