// RUN: chimera-opt %s --split-input-file --chimera-flash-attention --canonicalize | FileCheck %s

// Sliding-window GQA attention (4 query heads on 2 kv heads, window 8).
// Whole tiles of 16 queries first: a grid over (b, h, tile) whose items
// transpose the tile's scaled queries to the stack (Qᵀ) and sweep the union
// of their visible keys 16 at a time with a lane per query: per key,
// Σ_d Qᵀ[d] · k[t, d] with k broadcast, masked to each lane's
// [max(p - 7, 0), min(p + 1, T)), lane-wise max and exps, and Oᵀ on the
// stack updated per output column.
// CHECK-LABEL: func.func @sliding(
// CHECK-SAME: %[[Q:[^:]*]]: tensor<2x?x4x16xf32>, %[[K:[^:]*]]: tensor<2x64x2x16xf32>, %[[V:[^:]*]]: tensor<2x64x2x16xf32>, %[[POS:[^:]*]]: tensor<2x?xi64>)
// CHECK: %[[S:.*]] = tensor.dim %[[Q]], %c1
// CHECK: %[[TILES:.*]] = arith.divui %[[S]], %c16
// CHECK: %[[TILED:.*]] = scf.forall (%[[TB:.*]], %[[TH:.*]], %[[TT:.*]]) in (2, 4, %[[TILES]]) shared_outs(%[[TO:.*]] = %{{.*}}) -> (tensor<2x?x4x16xf32>)
// CHECK: %[[I0:.*]] = arith.muli %[[TT]], %c16
// CHECK: %[[THK:.*]] = arith.divui %[[TH]], %c2
// CHECK: %[[QT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x16xf32>
// CHECK: %[[OT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16x16xf32>
// CHECK: tensor.extract %[[Q]]
// CHECK: memref.store %{{.*}}, %[[QT]]
// CHECK: %[[PV:.*]] = vector.transfer_read %[[POS]][%[[TB]], %[[I0]]]
// CHECK: vector.reduction <maxsi>
// CHECK: vector.reduction <minsi>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16 iter_args(
// CHECK: scf.for
// CHECK: vector.load %[[QT]]
// CHECK-COUNT-16: tensor.extract %[[K]][%[[TB]], %{{.*}}, %[[THK]], %{{.*}}]
// CHECK: arith.cmpi slt, %{{.*}} : vector<16xi32>
// CHECK: arith.cmpi sge, %{{.*}} : vector<16xi32>
// CHECK: arith.maxnumf %{{.*}} fastmath<nnan> : vector<16xf32>
// CHECK: math.exp %{{.*}} : vector<16xf32>
// CHECK: vector.load %[[OT]]
// CHECK-COUNT-16: tensor.extract %[[V]][%[[TB]], %{{.*}}, %[[THK]], %{{.*}}]
// CHECK: vector.store %{{.*}}, %[[OT]]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[TO]][%[[TB]], %[[I0]], %[[TH]], 0] [1, 16, 1, 16]
// The rest, one query per item (a decode step's), from the first query past
// the tiles: one sweep over [max(p - 7, 0), min(p + 1, T)), 16 keys per
// step: 16 scores in one vector (per key the lane products of q and the key
// row, then one shuffle-and-add tree for the 16 sums, permuted back to key
// order), one vector exp and one rescale per block, keys past the end
// clamped to the last visible row with weight 0.
// CHECK: %[[BEGIN:.*]] = arith.muli %[[TILES]], %c16
// CHECK: %[[REST:.*]] = arith.subi %[[S]], %[[BEGIN]]
// CHECK: %[[OUT:.*]] = scf.forall (%[[B:.*]], %[[H:.*]], %[[J:.*]]) in (2, 4, %[[REST]]) shared_outs(%[[O:.*]] = %[[TILED]]) -> (tensor<2x?x4x16xf32>)
// CHECK: %[[I:.*]] = arith.addi %[[BEGIN]], %[[J]]
// CHECK: %[[HK:.*]] = arith.divui %[[H]], %c2
// CHECK: %[[P:.*]] = tensor.extract %[[POS]][%[[B]], %[[I]]]
// CHECK: %[[HI:.*]] = arith.maxsi
// CHECK: %[[LO0:.*]] = arith.subi %{{.*}}, %c7
// CHECK: %[[LO:.*]] = arith.maxsi %[[LO0]], %c0
// CHECK: %[[QV:.*]] = vector.transfer_read %[[Q]][%[[B]], %[[I]], %[[H]], %c0]
// CHECK: scf.for %[[T0:.*]] = %[[LO]] to %[[HI]] step %c16 iter_args(
// CHECK-COUNT-16: vector.transfer_read %[[K]][%[[B]], %{{.*}}, %[[HK]], %c0{{.*}}]
// CHECK: vector.shuffle {{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]
// CHECK: vector.shuffle {{.*}} [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31]
// CHECK: arith.addf
// CHECK: vector.shuffle {{.*}} [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15]
// CHECK: arith.cmpi slt, %{{.*}} : vector<16xindex>
// CHECK: arith.select %{{.*}} : vector<16xi1>, vector<16xf32>
// CHECK: vector.reduction <maxnumf>
// CHECK: math.exp %{{.*}} : f32
// CHECK: math.exp %{{.*}} : vector<16xf32>
// CHECK-COUNT-16: vector.transfer_read %[[V]][%[[B]], %{{.*}}, %[[HK]], %c0]
// CHECK: arith.divf %{{.*}} : vector<16xf32>
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[O]][%[[B]], %[[I]], %[[H]], 0] [1, 1, 1, 16]
// CHECK: return %[[OUT]]
func.func @sliding(%q: tensor<2x?x4x16xf32>, %k: tensor<2x64x2x16xf32>, %v: tensor<2x64x2x16xf32>, %pos: tensor<2x?xi64>) -> tensor<2x?x4x16xf32> {
  %o = chimera.attention %q, %k, %v positions(%pos) {mask = #chimera<mask sliding_window>, window = 8 : i64} : (tensor<2x?x4x16xf32>, tensor<2x64x2x16xf32>, tensor<2x64x2x16xf32>, tensor<2x?xi64>) -> tensor<2x?x4x16xf32>
  return %o : tensor<2x?x4x16xf32>
}

// -----

// Block-causal attention (VAR's scales) keeps the reference lowering.
// CHECK-LABEL: func.func @block_causal(
// CHECK: chimera.attention
// CHECK-NOT: scf.forall
func.func @block_causal(%q: tensor<1x14x2x8xf32>, %pos: tensor<1x14xi64>) -> tensor<1x14x2x8xf32> {
  %o = chimera.attention %q, %q, %q positions(%pos) {mask = #chimera<mask block_causal>, segments = array<i64: 1, 4, 9>} : (tensor<1x14x2x8xf32>, tensor<1x14x2x8xf32>, tensor<1x14x2x8xf32>, tensor<1x14xi64>) -> tensor<1x14x2x8xf32>
  return %o : tensor<1x14x2x8xf32>
}

// -----

// Without a mask every key is visible: no positions are read.
// CHECK-LABEL: func.func @unmasked
// CHECK: scf.forall
// CHECK-NOT: tensor.extract
// CHECK-NOT: chimera.attention
func.func @unmasked(%q: tensor<?x4x2x32xf32>, %k: tensor<?x5x2x32xf32>, %v: tensor<?x5x2x32xf32>) -> tensor<?x4x2x32xf32> {
  %o = chimera.attention %q, %k, %v {mask = #chimera<mask none>, scale = 1.0 : f64} : (tensor<?x4x2x32xf32>, tensor<?x5x2x32xf32>, tensor<?x5x2x32xf32>) -> tensor<?x4x2x32xf32>
  return %o : tensor<?x4x2x32xf32>
}
