// RUN: chimera-opt %s --split-input-file --chimera-vectorize-matmuls="rows=8 cols=3 k-chunk=32" | FileCheck %s
// RUN: chimera-opt %s --split-input-file --chimera-vectorize-matmuls --chimera-outline-kernels --canonicalize | FileCheck %s --check-prefix=GRID
// RUN: chimera-opt %s --split-input-file --chimera-vectorize-matmuls="int8-activations=true" | FileCheck %s --check-prefix=VNNI
// RUN: chimera-opt %s --split-input-file --chimera-vectorize-matmuls="table-lookups=true" | FileCheck %s --check-prefix=TABLE

// x·Wᵀ with a bf16 weight, N = 40. Fewer than 24 x rows: one grid item
// per panel of 32 weight rows (the second holds the ragged 8 rows), a loop
// over four 8-row dot-product blocks; else items of two panels (here one
// item: N < 64), its whole panel by the packed broadcast-form kernel, the
// ragged rows by the tiles. K = 40 is one 32-chunk of two vectors and a
// masked chunk of 8.
// CHECK-LABEL: func.func @bf16_weight(
// CHECK-SAME: %[[X:.*]]: memref<?x?x40xf32>, %[[W:.*]]: memref<40x40xbf16>, %[[OUT:.*]]: memref<?x?x40xf32>)
// CHECK-DAG: %[[X2:.*]] = memref.collapse_shape %[[X]] {{\[\[}}0, 1], [2]]
// CHECK-DAG: %[[OUT2:.*]] = memref.collapse_shape %[[OUT]] {{\[\[}}0, 1], [2]]
// CHECK: %[[FEW:.*]] = arith.cmpi slt, %{{.*}}, %c24
// CHECK: %[[ITEMS:.*]] = arith.select %[[FEW]], %c2, %c1
// CHECK: scf.parallel (%[[ITEM:.*]]) = (%{{.*}}) to (%[[ITEMS]]) step (%{{.*}}) {
// CHECK: %[[BUF:.*]] = memref.alloca() {alignment = 64 : i64} : memref<256x64xf32>
// CHECK: scf.if %[[FEW]] {
// CHECK: %[[FULL:.*]] = arith.cmpi slt, %[[ITEM]], %c1
// CHECK: scf.if %[[FULL]] {
// Few rows: dot-product tiles of 3 x rows by 8 weight rows, in a loop over
// the panel's blocks of 8 (unrolled copies cost decode speed).
// CHECK: scf.for %{{.*}} = %c0{{[_0-9]*}} to %c32{{[_0-9]*}} step %c8
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %c16{{.*}} iter_args(
// CHECK-COUNT-3: vector.load %[[X2]][%{{.*}}, %[[K]]] : memref<?x40xf32>, vector<16xf32>
// CHECK: vector.load %[[W]][%{{.*}}, %[[K]]] : memref<40x40xbf16>, vector<16xbf16>
// CHECK-NEXT: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK-COUNT-24: vector.fma
// CHECK: vector.reduction <add>, %{{.*}} fastmath<reassoc,contract> : vector<16xf32> into f32
// The K tail: masked loads from column 32.
// CHECK: vector.constant_mask [8] : vector<16xi1>
// CHECK: vector.maskedload %[[X2]]
// CHECK: } else {
// Packed: the panel K-major in the buffer (upcast): per 16 rows and 16 of
// K, 16 row loads, a transpose in 4 stages of 16 two-source shuffles, 16
// vector stores; the K tail (8) by scalar stores. Then 6 x 2 accumulators.
// CHECK-COUNT-16: vector.load %[[W]]{{.*}} : memref<40x40xbf16>, vector<16xbf16>
// CHECK: arith.extf
// CHECK: vector.shuffle {{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]
// CHECK-COUNT-63: vector.shuffle
// CHECK-COUNT-16: vector.store %{{.*}}, %[[BUF]]
// CHECK: memref.store %{{.*}}, %[[BUF]]
// CHECK: scf.for {{.*}} iter_args(
// CHECK: vector.load %[[BUF]]
// CHECK: vector.load %[[BUF]]
// CHECK: memref.load %[[X2]]
// CHECK: vector.broadcast
// CHECK-COUNT-12: vector.fma
// CHECK: vector.store %{{.*}}, %[[OUT2]]
// The ragged rows: tiles of 3 x rows by 8 weight rows.
// CHECK: vector.load %[[W]]{{.*}} : memref<40x40xbf16>, vector<16xbf16>
// CHECK-COUNT-24: vector.fma
// CHECK: } {chimera.block_size = 1 : i64, chimera.kernel_tag = "matmul"}
// CHECK-NOT: linalg.generic

// The scratch buffer is allocated once per kernel call, not per item.
// GRID-LABEL: func.func @bf16_weight(
// GRID: chimera.launch @bf16_weight_kernel_0_matmul[%{{.*}}]
// GRID: func.func private @bf16_weight_kernel_0_matmul(
// GRID-NOT: scf.for
// GRID: memref.alloca() {alignment = 64 : i64} : memref<256x64xf32>
// GRID: scf.for
func.func @bf16_weight(%x: memref<?x?x40xf32>, %w: memref<40x40xbf16>, %out: memref<?x?x40xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>, affine_map<(b, s, n, k) -> (n, k)>, affine_map<(b, s, n, k) -> (b, s, n)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x?x40xf32>, memref<40x40xbf16>) outs(%out : memref<?x?x40xf32>) {
  ^bb0(%a: f32, %bw: bf16, %o: f32):
    %e = arith.extf %bw : bf16 to f32
    %p = arith.mulf %a, %e : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// N = 64 with the weight in checkpoint layout: a prefill item of two panels
// packs both side by side into its buffer (columns 0-31 from weight rows
// 0-31, columns 32-63 from rows 32-63), and each broadcast x value then
// feeds four FMAs: 6 x rows × 4 accumulators.
// CHECK-LABEL: func.func @two_panels(
// CHECK: %[[ITEMS:.*]] = arith.select %{{.*}}, %c2, %c1
// CHECK: scf.parallel (%{{.*}}) = (%{{.*}}) to (%[[ITEMS]])
// CHECK: %[[BUF:.*]] = memref.alloca() {alignment = 64 : i64} : memref<256x64xf32>
// CHECK: } else {
// CHECK-COUNT-16: vector.store %{{.*}}, %[[BUF]][%{{.*}}, %c0{{[_0-9]*}}]
// CHECK-COUNT-16: vector.store %{{.*}}, %[[BUF]][%{{.*}}, %c16{{[_0-9]*}}]
// CHECK-COUNT-16: vector.store %{{.*}}, %[[BUF]][%{{.*}}, %c32{{[_0-9]*}}]
// CHECK-COUNT-16: vector.store %{{.*}}, %[[BUF]][%{{.*}}, %c48{{[_0-9]*}}]
// CHECK: scf.for {{.*}} iter_args(
// CHECK: vector.load %[[BUF]][%{{.*}}, %c0{{[_0-9]*}}]
// CHECK: vector.load %[[BUF]][%{{.*}}, %c16{{[_0-9]*}}]
// CHECK: vector.load %[[BUF]][%{{.*}}, %c32{{[_0-9]*}}]
// CHECK: vector.load %[[BUF]][%{{.*}}, %c48{{[_0-9]*}}]
// CHECK-COUNT-24: vector.fma
func.func @two_panels(%x: memref<?x32xf32>, %w: memref<64x32xf32>, %out: memref<?x64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x32xf32>, memref<64x32xf32>) outs(%out : memref<?x64xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Not x·Wᵀ (the weight is indexed [k, n]): left alone.
// CHECK-LABEL: func.func @not_transposed(
// CHECK: linalg.generic
// CHECK-NOT: vector.fma
func.func @not_transposed(%x: memref<?x32xf32>, %w: memref<32x16xf32>, %out: memref<?x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x32xf32>, memref<32x16xf32>) outs(%out : memref<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A body with more than the multiply-add (here a scale) is left alone.
// CHECK-LABEL: func.func @extra_op(
// CHECK: linalg.generic
// CHECK-NOT: vector.fma
func.func @extra_op(%x: memref<?x32xf32>, %w: memref<16x32xf32>, %out: memref<?x16xf32>) {
  %c = arith.constant 2.0 : f32
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x32xf32>, memref<16x32xf32>) outs(%out : memref<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %p = arith.mulf %a, %b : f32
    %q = arith.mulf %p, %c : f32
    %s = arith.addf %o, %q : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// The routed expert matmul of a mixture of experts, as a grouped GEMM: one
// grid item per (expert, panel of 32 weight rows), or per (expert, two
// panels) when the step routes 24 slots or more, lists the slots routed to
// its expert, then runs the register-blocked kernel on those rows of x and
// out.
// CHECK-LABEL: func.func @routed(
// CHECK-SAME: %[[IN:.*]]: memref<?x64xf32>, %[[IDS:.*]]: memref<?x2xi64>, %[[W:.*]]: memref<4x96x64xf32>, %[[OUT:.*]]: memref<?x2x96xf32>)
// CHECK-DAG: %[[OUT2:.*]] = memref.collapse_shape %[[OUT]] {{\[\[}}0, 1], [2]]
// CHECK-DAG: %[[IDS1:.*]] = memref.collapse_shape %[[IDS]] {{\[\[}}0, 1]]
// CHECK: %[[ITEMS:.*]] = arith.select %{{.*}}, %c3, %c2
// CHECK: scf.parallel (%[[E:.*]], %[[NB:.*]]) = {{.*}} to (%c4, %[[ITEMS]])
// CHECK: memref.alloca_scope
// CHECK: %[[LIST:.*]] = memref.alloca(%{{.*}}) : memref<?xindex>
// CHECK: scf.for %[[S:.*]] = {{.*}} iter_args(
// CHECK: memref.load %[[IDS1]][%[[S]]]
// CHECK: arith.cmpi eq, %{{.*}}, %[[E]]
// CHECK: memref.store %[[S]], %[[LIST]]
// CHECK: memref.subview %[[W]][%[[E]], 0, 0] [1, 96, 64] [1, 1, 1] : memref<4x96x64xf32> to memref<96x64xf32, strided<[64, 1], offset: ?>>
// Three listed slots per tile; x row = slot / 2 (the token), out row = slot.
// CHECK: memref.load %[[LIST]]
// CHECK: arith.divui %{{.*}}, %c2
// CHECK-COUNT-24: vector.fma
// CHECK: memref.store %{{.*}}, %[[OUT2]]
// CHECK: } {chimera.block_size = 1 : i64, chimera.kernel_tag = "expert_matmul"}
// CHECK-NOT: linalg.generic
func.func @routed(%in: memref<?x64xf32>, %ids: memref<?x2xi64>, %w: memref<4x96x64xf32>, %out: memref<?x2x96xf32>) {
  linalg.generic {indexing_maps = [affine_map<(t, j, i, x) -> (t, x)>, affine_map<(t, j, i, x) -> (t, j)>, affine_map<(t, j, i, x) -> (t, j, i)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%in, %ids : memref<?x64xf32>, memref<?x2xi64>) outs(%out : memref<?x2x96xf32>) {
  ^bb0(%a: f32, %id: i64, %o: f32):
    %e = arith.index_cast %id : i64 to index
    %i = linalg.index 2 : index
    %x = linalg.index 3 : index
    %wv = memref.load %w[%e, %i, %x] : memref<4x96x64xf32>
    %p = arith.mulf %a, %wv : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// The routed matmul of panel-stored float experts (chimera-pack-weights:
// W [E, N/32, K, 32], read at [e, i / 32, x, i % 32]): the grid is per
// (expert, panel) when the step routes fewer than 6 slots (decode), else
// per (expert, two panels); each item lists its expert's slots and reads
// the expert's panels in place: few slots stream each listed row through
// one panel, many take 6-row broadcast tiles over two panels (24 FMAs per
// k), the odd third panel alone.
// CHECK-LABEL: func.func @routed_panels(
// CHECK-SAME: %[[IN:.*]]: memref<?x64xf32>, %[[IDS:.*]]: memref<?x2xi64>, %[[W:.*]]: memref<4x3x64x32xf32>, %[[OUT:.*]]: memref<?x2x96xf32>)
// CHECK: %[[OUT2:.*]] = memref.collapse_shape %[[OUT]] {{\[\[}}0, 1], [2]]
// CHECK: %[[SLOTS:.*]] = memref.dim %{{.*}}, %c0
// CHECK: %[[FEW:.*]] = arith.cmpi slt, %[[SLOTS]], %c6
// CHECK: %[[ITEMS:.*]] = arith.select %[[FEW]], %c3, %c2
// CHECK: scf.parallel (%[[E:.*]], %[[ITEM:.*]]) = {{.*}} to (%c4, %[[ITEMS]])
// CHECK: %[[LIST:.*]] = memref.alloca(%{{.*}}) : memref<?xindex>
// CHECK: %[[COUNT:.*]] = scf.for
// CHECK: %[[WE:.*]] = memref.subview %[[W]][%[[E]], 0, 0, 0] [1, 3, 64, 32] [1, 1, 1, 1] : memref<4x3x64x32xf32> to memref<3x64x32xf32, strided<[2048, 32, 1], offset: ?>>
// CHECK: scf.if
// CHECK: scf.for %[[R:.*]] = %{{.*}} to %[[COUNT]]
// CHECK: %[[SLOT:.*]] = memref.load %[[LIST]][%[[R]]]
// CHECK: %[[TOKEN:.*]] = arith.divui %[[SLOT]], %c2
// CHECK: memref.load %[[IN]][%[[TOKEN]], %{{.*}}]
// CHECK: vector.load %[[WE]][%[[ITEM]], %{{.*}}, %{{.*}}]
// CHECK: vector.fma
// CHECK: vector.store %{{.*}}, %[[OUT2]]
// CHECK: } else {
// CHECK: scf.for %{{.*}} step %c6
// CHECK-COUNT-6: memref.load %[[LIST]]
// CHECK: scf.for
// CHECK-COUNT-24: vector.fma
// CHECK: } {chimera.block_size = 1 : i64, chimera.kernel_tag = "expert_matmul"}
// CHECK-NOT: linalg.generic
func.func @routed_panels(%in: memref<?x64xf32>, %ids: memref<?x2xi64>, %w: memref<4x3x64x32xf32>, %out: memref<?x2x96xf32>) {
  linalg.generic {indexing_maps = [affine_map<(t, j, i, x) -> (t, x)>, affine_map<(t, j, i, x) -> (t, j)>, affine_map<(t, j, i, x) -> (t, j, i)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%in, %ids : memref<?x64xf32>, memref<?x2xi64>) outs(%out : memref<?x2x96xf32>) {
  ^bb0(%a: f32, %id: i64, %o: f32):
    %e = arith.index_cast %id : i64 to index
    %i = linalg.index 2 : index
    %x = linalg.index 3 : index
    %c32 = arith.constant 32 : index
    %p = arith.divui %i, %c32 : index
    %r = arith.remui %i, %c32 : index
    %wv = memref.load %w[%e, %p, %x, %r] : memref<4x3x64x32xf32>
    %m = arith.mulf %a, %wv : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// int8 weights with one scale per output column (#chimera.quant<int8> after
// the reference lowering): codes converted in the tile, the scale applied
// to each column's sum; the packed panel holds the dequantised weights.
#x8 = affine_map<(d0, d1, d2) -> (d0, d2)>
#w8 = affine_map<(d0, d1, d2) -> (d1, d2)>
#s8 = affine_map<(d0, d1, d2) -> (d1)>
#o8 = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @int8_weight(
// CHECK-SAME: %[[X:.*]]: memref<?x64xf32>, %[[W:.*]]: memref<32x64xi8>, %[[S:.*]]: memref<32xf32>, %[[OUT:.*]]: memref<?x32xf32>)
// CHECK: %[[FEW:.*]] = arith.cmpi slt, %{{.*}}, %c24
// CHECK: scf.if %[[FEW]] {
// Decode (one x row): the weight rows one after the other, each over all
// of K in 4 accumulator chains, then scaled.
// CHECK: %[[ONE:.*]] = arith.cmpi eq, %{{.*}}, %c1
// CHECK-NEXT: scf.if %[[ONE]] {
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-4: vector.fma
// CHECK: vector.reduction <add>
// CHECK-NEXT: memref.load %[[S]]
// CHECK-NEXT: arith.mulf
// A few x rows: tiles of rows × cols.
// CHECK: } else {
// CHECK: vector.load %[[W]]{{.*}} : memref<32x64xi8>, vector<16xi8>
// CHECK-NEXT: arith.sitofp %{{.*}} : vector<16xi8> to vector<16xf32>
// CHECK: vector.reduction <add>
// CHECK-NEXT: memref.load %[[S]]
// CHECK-NEXT: arith.mulf
// Packed: codes converted as the panel is packed, and scaled after the
// transpose (a lane per weight row, the 16 rows' scales as one vector).
// CHECK: } else {
// CHECK: %[[SCALES:.*]] = vector.load %[[S]]{{.*}} : memref<32xf32>, vector<16xf32>
// CHECK: vector.load %[[W]]{{.*}} : memref<32x64xi8>, vector<16xi8>
// CHECK-NEXT: arith.sitofp %{{.*}} : vector<16xi8> to vector<16xf32>
// CHECK: vector.shuffle
// CHECK: arith.mulf %{{.*}}, %[[SCALES]]
// CHECK-NOT: linalg.generic
func.func @int8_weight(%x: memref<?x64xf32>, %w: memref<32x64xi8>, %s: memref<32xf32>, %out: memref<?x32xf32>) {
  linalg.generic {indexing_maps = [#x8, #w8, #s8, #o8], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w, %s : memref<?x64xf32>, memref<32x64xi8>, memref<32xf32>) outs(%out : memref<?x32xf32>) {
  ^bb0(%a: f32, %q: i8, %sc: f32, %acc: f32):
    %qf = arith.sitofp %q : i8 to f32
    %wv = arith.mulf %sc, %qf : f32
    %p = arith.mulf %a, %wv : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// Grouped int4 weights, as the reference lowering emits them (tagged with
// their #chimera.quant): per group, one vector of codes per weight row
// unpacks into the even (low nibble) and odd (high nibble) elements; the x
// row is split into its even and odd elements with two shuffles.
#xg = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3 * 2)>
#xo = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3 * 2 + 1)>
#cg = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
#sg = affine_map<(d0, d1, d2, d3) -> (d1, d2)>
#og = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @int4_weight(
// CHECK-SAME: %[[X:.*]]: memref<?x2x32xf32>, %[[Q:.*]]: memref<16x2x16xi8>, %[[S:.*]]: memref<16x2xf32>, %[[OUT:.*]]: memref<?x16xf32>)
// CHECK: %[[XF:.*]] = memref.collapse_shape %[[X]] {{\[\[}}0], [1, 2]] : memref<?x2x32xf32> into memref<?x64xf32>
// CHECK: %[[QF:.*]] = memref.collapse_shape %[[Q]] {{\[\[}}0], [1, 2]] : memref<16x2x16xi8> into memref<16x32xi8>
// CHECK: scf.parallel
// CHECK: scf.for %[[G:[^ ]*]] = %{{.*}} to %c2{{[_0-9]*}} step %c1{{.*}} iter_args(
// CHECK: %[[GK:.*]] = arith.muli %[[G]], %c32
// CHECK: memref.load %[[S]][%{{.*}}, %[[G]]]
// CHECK: vector.load %[[XF]][%{{.*}}, %[[GK]]] : memref<?x64xf32>, vector<16xf32>
// CHECK: %[[GK16:.*]] = arith.addi %[[GK]], %c16
// CHECK-NEXT: vector.load %[[XF]][%{{.*}}, %[[GK16]]] : memref<?x64xf32>, vector<16xf32>
// CHECK: vector.shuffle {{.*}} [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]
// CHECK: vector.shuffle {{.*}} [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31]
// The −8·(even + odd) term per x row, then per weight row: one xor makes
// both nibbles offset-binary, two conversions, and the group's scale once.
// The rows after the tile's are prefetched as fast as the tile reads its
// own (a row of codes is too short a stream for the hardware prefetchers),
// the last row standing in past the end of N.
// CHECK: %[[AHEAD:.*]] = arith.muli %{{.*}}, %c128
// CHECK: %[[ROW:.*]] = arith.minui %{{.*}}, %c15
// CHECK: %[[COL:.*]] = arith.remui %[[AHEAD]], %c32
// CHECK: memref.prefetch %[[QF]][%[[ROW]], %[[COL]]], read, locality<3>, data : memref<16x32xi8>
// CHECK: arith.addf
// CHECK: arith.mulf
// CHECK: vector.load %[[QF]][%{{.*}}, %{{.*}}] : memref<16x32xi8>, vector<16xi8>
// CHECK: arith.xori
// CHECK: arith.andi
// CHECK: arith.sitofp {{.*}} : vector<16xi8> to vector<16xf32>
// CHECK: arith.shrui
// CHECK: arith.uitofp {{.*}} : vector<16xi8> to vector<16xf32>
// CHECK-NEXT: vector.fma
// CHECK-NEXT: vector.fma
// CHECK-NEXT: vector.fma
// CHECK: vector.reduction <add>
// CHECK-NOT: linalg.generic
// With int8 activations: x is quantised first, per step of 64 elements
// into [even, odd] codes (one step here, K = 64), with the lanes' bias
// (−8·Σ codes, from vpdpbusd against bytes of 8) and x scales; then each
// weight row's 32 code bytes unpack to [low nibbles, high nibbles] and
// meet the x codes in one vpdpbusd started from the bias.
// VNNI-LABEL: func.func @int4_weight(
// VNNI-SAME: %[[X:.*]]: memref<?x2x32xf32>, %[[Q:.*]]: memref<16x2x16xi8>, %[[S:.*]]: memref<16x2xf32>, %[[OUT:.*]]: memref<?x16xf32>)
// VNNI: %[[XF:.*]] = memref.collapse_shape %[[X]] {{\[\[}}0], [1, 2]]
// VNNI: %[[QF:.*]] = memref.collapse_shape %[[Q]] {{\[\[}}0], [1, 2]]
// VNNI: %[[XQ:.*]] = memref.alloc(%{{.*}}) : memref<?x1x16xi32>
// VNNI: %[[BIAS:.*]] = memref.alloc(%{{.*}}) : memref<?x1x16xi32>
// VNNI: %[[XS:.*]] = memref.alloc(%{{.*}}) : memref<?x1x16xf32>
// VNNI: scf.parallel
// VNNI: vector.reduction <maxnumf>
// VNNI: math.roundeven
// VNNI: arith.fptosi
// VNNI: arith.trunci {{.*}} : vector<16xi32> to vector<16xi8>
// VNNI: vector.bitcast {{.*}} : vector<64xi8> to vector<16xi32>
// VNNI: vector.store %{{.*}}, %[[XQ]]{{.*}} : memref<?x1x16xi32>, vector<16xi32>
// VNNI: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI: vector.store %{{.*}}, %[[BIAS]]
// VNNI: vector.shuffle {{.*}} [0, 0, 0, 0, 16, 16, 16, 16, 0, 0, 0, 0, 16, 16, 16, 16]
// VNNI: vector.store %{{.*}}, %[[XS]]
// VNNI: scf.parallel
// One x row reads the item's weight rows one after the other, each row
// prefetching the one 4 rows on (an item's few KiB are over before the
// hardware prefetcher ramps up), the last row past the end of N.
// VNNI: scf.for
// VNNI: %[[AHEAD:.*]] = arith.minui %{{.*}}, %c15
// VNNI: scf.for %[[LINE:.*]] = %{{.*}} to %c32 step %c64
// VNNI-NEXT: memref.prefetch %[[QF]][%[[AHEAD]], %[[LINE]]], read, locality<3>, data
// VNNI: vector.load %[[XQ]]
// VNNI: vector.load %[[QF]][{{.*}}] : memref<16x32xi8>, vector<32xi8>
// VNNI: arith.xori
// VNNI: vector.load %[[S]][{{.*}}] : memref<16x2xf32>, vector<2xf32>
// VNNI: vector.shuffle {{.*}} [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
// VNNI: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI-NEXT: arith.sitofp
// VNNI-NEXT: arith.mulf
// VNNI-NEXT: vector.fma
// VNNI: memref.dealloc %[[XQ]]
// VNNI-NOT: linalg.generic
// With table lookups (AVX-512), a code byte widened to i32 indexes int4's
// values by its low nibble as is and by its high one after a shift
// (vpermps reads 4 index bits): no xor, mask or conversion.
// TABLE-LABEL: func.func @int4_weight(
// TABLE: %[[VALUES:.*]] = arith.constant dense<[0.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00, 7.000000e+00, -8.000000e+00, -7.000000e+00, -6.000000e+00, -5.000000e+00, -4.000000e+00, -3.000000e+00, -2.000000e+00, -1.000000e+00]> : vector<16xf32>
// TABLE: scf.for
// TABLE: %[[Q:.*]] = vector.load {{.*}} : memref<16x32xi8>, vector<16xi8>
// TABLE-NEXT: %[[W:.*]] = arith.extui %[[Q]] : vector<16xi8> to vector<16xi32>
// TABLE-NEXT: %[[LO:.*]] = llvm.call_intrinsic "llvm.x86.avx512.permvar.sf.512"(%[[VALUES]], %[[W]])
// TABLE: %[[HI:.*]] = arith.shrui %[[W]]
// TABLE-NEXT: llvm.call_intrinsic "llvm.x86.avx512.permvar.sf.512"(%[[VALUES]], %[[HI]])
// TABLE-NEXT: arith.mulf {{.*}}, %[[LO]]
// TABLE-NEXT: vector.fma
// TABLE-NEXT: vector.fma
// TABLE-NOT: arith.xori
// TABLE: return
func.func @int4_weight(%x: memref<?x2x32xf32>, %q: memref<16x2x16xi8>, %s: memref<16x2xf32>, %out: memref<?x16xf32>) {
  linalg.generic {indexing_maps = [#xg, #xo, #cg, #sg, #og], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %x, %q, %s : memref<?x2x32xf32>, memref<?x2x32xf32>, memref<16x2x16xi8>, memref<16x2xf32>) outs(%out : memref<?x16xf32>)
      attrs = {chimera.quant = #chimera.quant<int4, group_size = 32>} {
  ^bb0(%a: f32, %b: f32, %c: i8, %sc: f32, %acc: f32):
    linalg.yield %acc : f32
  }
  return
}

// -----

// int8 weights with int8 activations: x quantised in order, the codes
// xor 0x80 and one vpdpbusd per 64; the row's scale multiplies its sum.
// VNNI-LABEL: func.func @int8_weight_int8_x(
// VNNI-SAME: %[[X:.*]]: memref<?x64xf32>, %[[Q:.*]]: memref<16x64xi8>, %[[S:.*]]: memref<16xf32>, %[[OUT:.*]]: memref<?x16xf32>)
// VNNI: %[[XQ:.*]] = memref.alloc(%{{.*}}) : memref<?x1x16xi32>
// VNNI: scf.parallel
// VNNI: vector.shuffle {{.*}} [0, 0, 0, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16, 16]
// VNNI: scf.parallel
// Decode (one x row): the item's weight rows one after the other.
// VNNI: %[[ONE:.*]] = arith.cmpi eq, %{{.*}}, %c1
// VNNI-NEXT: scf.if %[[ONE]] {
// VNNI: scf.for
// VNNI: scf.for {{.*}} -> (vector<16xf32>) {
// VNNI: vector.load %[[Q]][{{.*}}] : memref<16x64xi8>, vector<64xi8>
// VNNI: arith.xori
// VNNI: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI-NEXT: arith.sitofp
// VNNI-NEXT: vector.fma
// VNNI: vector.reduction <add>
// VNNI: memref.load %[[S]]
// VNNI: arith.mulf
// More x rows: tiles of 2 x rows by 8 weight rows.
// VNNI: } else {
// VNNI: %{{.*}}:16 = scf.for
// VNNI: memref.dealloc %[[XQ]]
#xm = affine_map<(d0, d1, d2) -> (d0, d2)>
#wm = affine_map<(d0, d1, d2) -> (d1, d2)>
#sm = affine_map<(d0, d1, d2) -> (d1)>
#om = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @int8_weight_int8_x(%x: memref<?x64xf32>, %q: memref<16x64xi8>, %s: memref<16xf32>, %out: memref<?x16xf32>) {
  linalg.generic {indexing_maps = [#xm, #wm, #sm, #om], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %s : memref<?x64xf32>, memref<16x64xi8>, memref<16xf32>) outs(%out : memref<?x16xf32>)
      attrs = {chimera.quant = #chimera.quant<int8>} {
  ^bb0(%a: f32, %c: i8, %sc: f32, %acc: f32):
    %w = arith.sitofp %c : i8 to f32
    %ws = arith.mulf %sc, %w : f32
    %p = arith.mulf %a, %ws : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// With N a multiple of 32, many x rows take the packed kernel instead: per
// grid item 32 weight rows unpacked into a stack panel of i32 words (4
// weights each, 32 rows side by side), then per word of x one broadcast and
// one vpdpbusd per 16 outputs.
// VNNI-LABEL: func.func @int8_packed(
// VNNI-SAME: %[[X:.*]]: memref<?x64xf32>, %[[Q:.*]]: memref<32x64xi8>, %[[S:.*]]: memref<32xf32>, %[[OUT:.*]]: memref<?x32xf32>)
// VNNI: %[[XQ:.*]] = memref.alloc(%{{.*}}) : memref<?x1x16xi32>
// VNNI: %[[MANY:.*]] = arith.cmpi sge, %{{.*}}, %c32
// VNNI: scf.if %[[MANY]]
// VNNI: %[[BS:.*]] = memref.alloc(%{{.*}}) : memref<?x2xf32>
// VNNI: %[[BB:.*]] = memref.alloc(%{{.*}}) : memref<?x2xi32>
// VNNI: scf.parallel
// VNNI: memref.store %{{.*}}, %[[BS]]
// VNNI: vector.reduction <add>
// VNNI: memref.store %{{.*}}, %[[BB]]
// VNNI: scf.parallel
// VNNI: %[[PANEL:.*]] = memref.alloca() {alignment = 64 : i64} : memref<64x32xi32>
// VNNI: vector.load %[[Q]][{{.*}}] : memref<32x64xi8>, vector<32xi8>
// VNNI: vector.bitcast {{.*}} : vector<32xi8> to vector<8xi32>
// VNNI: memref.store %{{.*}}, %[[PANEL]]
// VNNI: memref.load %[[BB]]
// VNNI: vector.load %[[PANEL]]
// VNNI: memref.load %[[XQ]]
// VNNI-NEXT: vector.broadcast {{.*}} : i32 to vector<16xi32>
// VNNI-NEXT: vector.bitcast
// VNNI-NEXT: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI: memref.load %[[BS]]
// VNNI: arith.sitofp
// VNNI: vector.fma
// VNNI: vector.load %[[S]]
// VNNI: arith.mulf
// VNNI: memref.dealloc %[[BS]]
// VNNI: } else {
// VNNI: scf.parallel
// VNNI: memref.dealloc %[[XQ]]
#xm = affine_map<(d0, d1, d2) -> (d0, d2)>
#wm = affine_map<(d0, d1, d2) -> (d1, d2)>
#sm = affine_map<(d0, d1, d2) -> (d1)>
#om = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @int8_packed(%x: memref<?x64xf32>, %q: memref<32x64xi8>, %s: memref<32xf32>, %out: memref<?x32xf32>) {
  linalg.generic {indexing_maps = [#xm, #wm, #sm, #om], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %s : memref<?x64xf32>, memref<32x64xi8>, memref<32xf32>) outs(%out : memref<?x32xf32>)
      attrs = {chimera.quant = #chimera.quant<int8>} {
  ^bb0(%a: f32, %c: i8, %sc: f32, %acc: f32):
    %w = arith.sitofp %c : i8 to f32
    %ws = arith.mulf %sc, %w : f32
    %p = arith.mulf %a, %ws : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// A zero-filled output: the fill is dropped and each item's first K chunk
// stores its sums; the later chunks (K = 64 in chunks of 32) add to them.
// CHECK-LABEL: func.func @zero_filled(
// CHECK-SAME: %[[OUT:[^:]*]]: memref<?x16xf32>)
// CHECK-NOT: linalg.fill
// CHECK: scf.for %[[K0:.*]] = %{{.*}} to %c64 step %c32
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[K0]], %{{.*}} : index
// CHECK: scf.if %[[FIRST]] {
// CHECK-NEXT: memref.store %[[SUM:.*]], %[[OUT]]
// CHECK-NEXT: } else {
// CHECK-NEXT: %[[OLD:.*]] = memref.load %[[OUT]]
// CHECK-NEXT: %[[NEW:.*]] = arith.addf %[[OLD]], %[[SUM]]
// CHECK-NEXT: memref.store %[[NEW]], %[[OUT]]
// The int8-activation kernel sums all of K at once: stores only.
// VNNI-LABEL: func.func @zero_filled(
// VNNI-SAME: %[[OUT:[^:]*]]: memref<?x16xf32>)
// VNNI-NOT: linalg.fill
// VNNI-NOT: memref.load %[[OUT]]
// VNNI: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI-NOT: memref.load %[[OUT]]
// VNNI: memref.store %{{.*}}, %[[OUT]]
// VNNI-NOT: memref.load %[[OUT]]
// VNNI: return
func.func @zero_filled(%x: memref<?x64xf32>, %q: memref<16x64xi8>, %s: memref<16xf32>, %out: memref<?x16xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%out : memref<?x16xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %q, %s : memref<?x64xf32>, memref<16x64xi8>, memref<16xf32>) outs(%out : memref<?x16xf32>)
      attrs = {chimera.quant = #chimera.quant<int8>} {
  ^bb0(%a: f32, %c: i8, %sc: f32, %acc: f32):
    %w = arith.sitofp %c : i8 to f32
    %ws = arith.mulf %sc, %w : f32
    %p = arith.mulf %a, %ws : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// The routed mxfp4 matmul of an expert FFN (codes [E, N, K/2], E8M0 scales
// [E, N, K/G], tagged with its #chimera.quant): a grid over (expert,
// panel of 32 weight rows, or two from 24 slots in the step) whose items
// list their expert's slots. An expert with 24 slots or more decodes the
// panel (E2M1 times 2^e) into the packed kernel's buffer, the even and odd
// elements interleaved back into K order; fewer take the nibble tiles, a
// loop over blocks of 8 weight rows.
// CHECK-LABEL: func.func @routed_mxfp4(
// CHECK-SAME: %[[IN:.*]]: memref<?x64xf32>, %[[IDS:.*]]: memref<?x2xi64>, %[[Q:.*]]: memref<2x32x32xi8>, %[[S:.*]]: memref<2x32x2xi8>, %[[OUT:.*]]: memref<?x2x32xf32>)
// CHECK: %[[FEW:.*]] = arith.cmpi slt, %{{.*}}, %c24{{[_0-9]*}}
// CHECK: %[[ITEMS:.*]] = arith.select %[[FEW]], %c1{{[_0-9]*}}, %c1{{[_0-9]*}}
// CHECK: scf.parallel (%[[E:.*]], %[[P:.*]]) = {{.*}} to (%c2{{[_0-9]*}}, %[[ITEMS]])
// CHECK: %[[BUF:.*]] = memref.alloca() {alignment = 64 : i64} : memref<256x64xf32>
// CHECK: memref.alloca_scope
// CHECK: %[[LIST:.*]] = memref.alloca(%{{.*}}) : memref<?xindex>
// CHECK: %[[COUNT:.*]] = scf.for
// CHECK-DAG: %[[EQ:.*]] = memref.subview %[[Q]][%[[E]], 0, 0] [1, 32, 32] [1, 1, 1]
// CHECK-DAG: %[[ES:.*]] = memref.subview %[[S]][%[[E]], 0, 0] [1, 32, 2] [1, 1, 1]
// CHECK: scf.if %[[FEW]] {
// CHECK: scf.for %{{.*}} = %c0{{[_0-9]*}} to %c32{{[_0-9]*}} step %c8{{[_0-9]*}}
// CHECK: vector.load %[[EQ]]
// CHECK: } else {
// CHECK: %[[MANY:.*]] = arith.cmpi sge, %[[COUNT]], %c24{{[_0-9]*}}
// CHECK: scf.if %[[MANY]] {
// CHECK: memref.load %[[ES]]
// CHECK: vector.load %[[EQ]]{{.*}} : memref<32x32xi8, strided<[32, 1], offset: ?>>, vector<16xi8>
// CHECK: arith.select
// CHECK: vector.shuffle {{.*}} [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23]
// CHECK: vector.shuffle {{.*}} [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31]
// CHECK: vector.store %{{.*}}, %[[BUF]]
// Slot s is out row s and x row s / 2 (its token).
// CHECK: memref.load %[[LIST]]
// CHECK: arith.divui %{{.*}}, %c2{{[_0-9]*}}
// CHECK: vector.load %[[BUF]]
// CHECK: } else {
// CHECK: scf.for %{{.*}} = %c0{{[_0-9]*}} to %c32{{[_0-9]*}} step %c8{{[_0-9]*}}
// CHECK: vector.load %[[EQ]]
// CHECK: } {chimera.block_size = 1 : i64, chimera.kernel_tag = "expert_matmul"}
// CHECK-NOT: linalg.generic
// With table lookups (AVX-512), a code's E2M1 value is one vpermps.
// TABLE-LABEL: func.func @routed_mxfp4(
// TABLE: %[[VALUES:.*]] = arith.constant dense<[0.000000e+00, 5.000000e-01, 1.000000e+00, 1.500000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 6.000000e+00, -0.000000e+00, -5.000000e-01, -1.000000e+00, -1.500000e+00, -2.000000e+00, -3.000000e+00, -4.000000e+00, -6.000000e+00]> : vector<16xf32>
// TABLE: llvm.call_intrinsic "llvm.x86.avx512.permvar.sf.512"(%[[VALUES]], %{{.*}}) : (vector<16xf32>, vector<16xi32>) -> vector<16xf32>
// TABLE-NOT: arith.select {{.*}} : vector<16xi1>, vector<16xi32>
// TABLE: return
func.func @routed_mxfp4(%in: memref<?x64xf32>, %ids: memref<?x2xi64>, %q: memref<2x32x32xi8>, %s: memref<2x32x2xi8>, %out: memref<?x2x32xf32>) {
  linalg.generic {indexing_maps = [affine_map<(t, j, i, x) -> (t, x)>, affine_map<(t, j, i, x) -> (t, j)>, affine_map<(t, j, i, x) -> (t, j, i)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%in, %ids : memref<?x64xf32>, memref<?x2xi64>) outs(%out : memref<?x2x32xf32>)
      attrs = {chimera.quant = #chimera.quant<mxfp4, group_size = 32>} {
  ^bb0(%a: f32, %id: i64, %o: f32):
    %c1 = arith.constant 1 : index
    %c32 = arith.constant 32 : index
    %e = arith.index_cast %id : i64 to index
    %i = linalg.index 2 : index
    %x = linalg.index 3 : index
    %byte = arith.shrui %x, %c1 : index
    %code = memref.load %q[%e, %i, %byte] : memref<2x32x32xi8>
    %g = arith.divui %x, %c32 : index
    %exp = memref.load %s[%e, %i, %g] : memref<2x32x2xi8>
    // Stands in for the decode: the kernels ignore the body's arithmetic
    // and decode by the tag.
    %cf = arith.sitofp %code : i8 to f32
    %sf = arith.sitofp %exp : i8 to f32
    %w = arith.mulf %cf, %sf : f32
    %p = arith.mulf %a, %w : f32
    %r = arith.addf %o, %p : f32
    linalg.yield %r : f32
  }
  return
}

// -----

// A weight chimera-pack-weights stored in panels ([N/32, K, 32], bf16
// here), read in place. Below 6 x rows (decode), a grid item per panel,
// one row at a time over all of K in 8 runs of K/8 read side by side with
// two accumulators each; from 6 rows, a grid item per two panels, the
// broadcast tiles without packing, 6 rows by both panels (24 accumulators).
// CHECK-LABEL: func.func @panel_weight(
// CHECK-SAME: %[[X:.*]]: memref<?x?x40xf32>, %[[W:.*]]: memref<2x40x32xbf16>, %[[OUT:.*]]: memref<?x?x2x32xf32>)
// CHECK-NOT: linalg.fill
// CHECK: %[[X2:.*]] = memref.collapse_shape %[[X]] {{\[}}[0, 1], [2]]
// CHECK: %[[OUT2:.*]] = memref.collapse_shape %[[OUT]] {{\[}}[0, 1], [2, 3]] : memref<?x?x2x32xf32> into memref<?x64xf32>
// CHECK: %[[DECODE:.*]] = arith.cmpi slt, %{{.*}}, %c6
// CHECK: %[[ITEMS:.*]] = arith.select %[[DECODE]], %c2{{.*}}, %c1{{.*}} : index
// CHECK: scf.parallel (%[[P:.*]]) = (%{{.*}}) to (%[[ITEMS]])
// CHECK: scf.if %[[DECODE]] {
// CHECK: scf.for %[[ROW:.*]] =
// CHECK: %[[N0:.*]] = arith.muli %[[P]], %c32
// CHECK: scf.for %[[K:.*]] = %{{.*}} to %c5{{.*}} step %c1{{.*}} iter_args(
// CHECK: memref.load %[[X2]][%[[ROW]], %[[K]]]
// CHECK: vector.load %[[W]][%[[P]], %[[K]], %c0{{.*}}] : memref<2x40x32xbf16>, vector<16xbf16>
// CHECK: vector.load %[[W]][%[[P]], %[[K]], %c16{{.*}}] : memref<2x40x32xbf16>, vector<16xbf16>
// CHECK: %[[K35:.*]] = arith.addi %[[K]], %c35
// CHECK: vector.load %[[W]][%[[P]], %[[K35]], %c16{{.*}}]
// CHECK: vector.fma
// CHECK-NEXT: scf.yield {{(%[0-9]+, )+}}%{{[0-9]+}} :
// CHECK-COUNT-7: arith.addf
// CHECK: vector.store %{{.*}}, %[[OUT2]][%[[ROW]], %[[N0]]]
// CHECK: } else {
// CHECK: %[[P0:.*]] = arith.muli %[[P]], %c2
// CHECK-NOT: memref.alloca
// CHECK-NOT: vector.shuffle
// CHECK: scf.for %{{.*}} iter_args(
// CHECK: vector.load %[[W]][%[[P0]], %{{.*}}, %c0{{.*}}]
// CHECK: vector.load %[[W]][%[[P0]], %{{.*}}, %c16{{.*}}]
// CHECK: %[[Q:.*]] = arith.addi %[[P0]], %c1
// CHECK: vector.load %[[W]][%[[Q]], %{{.*}}, %c0{{.*}}]
// CHECK: vector.load %[[W]][%{{.*}}, %{{.*}}, %c16{{.*}}]
// CHECK-COUNT-24: vector.fma
// CHECK: } {chimera.block_size = 1 : i64, chimera.kernel_tag = "matmul"}
// CHECK-NOT: linalg.generic
#px = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4)>
#pw = affine_map<(d0, d1, d2, d3, d4) -> (d2, d4, d3)>
#po = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
func.func @panel_weight(%x: memref<?x?x40xf32>, %w: memref<2x40x32xbf16>, %out: memref<?x?x2x32xf32>) {
  %cst = arith.constant 0.000000e+00 : f32
  linalg.fill ins(%cst : f32) outs(%out : memref<?x?x2x32xf32>)
  linalg.generic {indexing_maps = [#px, #pw, #po], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<?x?x40xf32>, memref<2x40x32xbf16>) outs(%out : memref<?x?x2x32xf32>) {
  ^bb0(%a: f32, %b: bf16, %o: f32):
    %e = arith.extf %b : bf16 to f32
    %m = arith.mulf %a, %e : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// x a view of a wider buffer (Mamba's dt_proj reads the first dt_rank
// columns of x_proj's output): its batch stride is dynamic, so it is copied
// into a contiguous buffer, collapsed, and freed after the kernel.
// CHECK-LABEL: func.func @strided_x(
// CHECK-SAME: %[[X:.*]]: memref<?x?x32xf32, strided<[?, 48, 1]>>, %[[W:.*]]: memref<2x32x32xf32>, %[[OUT:.*]]: memref<?x?x2x32xf32>)
// CHECK: %[[COPY:.*]] = memref.alloc(%{{.*}}, %{{.*}}) {alignment = 64 : i64} : memref<?x?x32xf32>
// CHECK: linalg.copy ins(%[[X]] : memref<?x?x32xf32, strided<[?, 48, 1]>>) outs(%[[COPY]] : memref<?x?x32xf32>)
// CHECK: %[[X2:.*]] = memref.collapse_shape %[[COPY]] {{\[}}[0, 1], [2]] : memref<?x?x32xf32> into memref<?x32xf32>
// CHECK: scf.parallel
// CHECK: memref.load %[[X2]]
// CHECK: } {chimera.block_size = 1 : i64, chimera.kernel_tag = "matmul"}
// CHECK-NEXT: memref.dealloc %[[COPY]]
// CHECK-NOT: linalg.generic
#sx = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4)>
#sw = affine_map<(d0, d1, d2, d3, d4) -> (d2, d4, d3)>
#so = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
func.func @strided_x(%x: memref<?x?x32xf32, strided<[?, 48, 1]>>, %w: memref<2x32x32xf32>, %out: memref<?x?x2x32xf32>) {
  linalg.generic {indexing_maps = [#sx, #sw, #so], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<?x?x32xf32, strided<[?, 48, 1]>>, memref<2x32x32xf32>) outs(%out : memref<?x?x2x32xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// An odd panel count: in prefill the last item takes its one panel (6
// rows by one panel, 12 accumulators), the others two.
// CHECK-LABEL: func.func @odd_panels(
// CHECK: %[[ITEMS:.*]] = arith.select %{{.*}}, %c3, %c2 : index
// CHECK: scf.parallel (%[[I:.*]]) = (%{{.*}}) to (%[[ITEMS]])
// CHECK: scf.if
// CHECK: } else {
// CHECK: %[[WHOLE:.*]] = arith.cmpi slt, %[[I]], %c1
// CHECK: scf.if %[[WHOLE]] {
// CHECK: scf.for %{{.*}} iter_args(
// CHECK-COUNT-24: vector.fma
// CHECK: } else {
// CHECK: scf.for %{{.*}} iter_args(
// CHECK-COUNT-12: vector.fma
// CHECK-NEXT: scf.yield
#ox = affine_map<(d0, d1, d2, d3) -> (d0, d3)>
#ow = affine_map<(d0, d1, d2, d3) -> (d1, d3, d2)>
#oo = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
func.func @odd_panels(%x: memref<?x8xf32>, %w: memref<3x8x32xf32>, %out: memref<?x3x32xf32>) {
  linalg.generic {indexing_maps = [#ox, #ow, #oo], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<?x8xf32>, memref<3x8x32xf32>) outs(%out : memref<?x3x32xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  }
  return
}
