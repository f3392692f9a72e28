// chimera-lower-to-reference leaves no chimera op behind but params, and
// implements each formula with linalg/tensor/scf.
// RUN: chimera-opt %s -split-input-file --chimera-lower-to-reference | FileCheck %s

// CHECK-LABEL: func.func @linear
// CHECK-NOT: chimera.linear
// CHECK: linalg.fill
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.addf
func.func @linear(%x: tensor<?x64xf32>, %w: tensor<32x64xf32>) -> tensor<?x32xf32> {
  %y = chimera.linear %x, %w : (tensor<?x64xf32>, tensor<32x64xf32>) -> tensor<?x32xf32>
  return %y : tensor<?x32xf32>
}

// -----

// A panel-stored weight ([N/32, K, 32], chimera-pack-weights): the product
// is built as [..., N/32, 32] (every map a projection) and collapsed.
// CHECK-DAG: #[[PX:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4)>
// CHECK-DAG: #[[PW:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d2, d4, d3)>
// CHECK-DAG: #[[PO:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @linear_panel
// CHECK: linalg.fill {{.*}} -> tensor<?x?x2x32xf32>
// CHECK: linalg.generic {indexing_maps = [#[[PX]], #[[PW]], #[[PO]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<?x?x48xf32>, tensor<2x48x32xf32>)
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2, 3]] : tensor<?x?x2x32xf32> into tensor<?x?x64xf32>
func.func @linear_panel(%x: tensor<?x?x48xf32>, %w: tensor<2x48x32xf32>) -> tensor<?x?x64xf32> {
  %y = chimera.linear %x, %w {panel = 32 : i64} : (tensor<?x?x48xf32>, tensor<2x48x32xf32>) -> tensor<?x?x64xf32>
  return %y : tensor<?x?x64xf32>
}

// -----

// A ragged N (rows = 40 of 2 panels): the padded product is sliced to N.
// CHECK-LABEL: func.func @linear_panel_rows
// CHECK: linalg.generic
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<3x48xf32>, tensor<2x48x32xf32>) outs(%{{.*}} : tensor<3x2x32xf32>)
// CHECK: %[[C:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<3x2x32xf32> into tensor<3x64xf32>
// CHECK: tensor.extract_slice %[[C]][0, 0] [3, 40] [1, 1] : tensor<3x64xf32> to tensor<3x40xf32>
func.func @linear_panel_rows(%x: tensor<3x48xf32>, %w: tensor<2x48x32xf32>) -> tensor<3x40xf32> {
  %y = chimera.linear %x, %w {panel = 32 : i64, rows = 40 : i64} : (tensor<3x48xf32>, tensor<2x48x32xf32>) -> tensor<3x40xf32>
  return %y : tensor<3x40xf32>
}

// -----

// The M0E4 bit splice (into the mantissa of 1.0f: 1 + q/16), inside the
// matmul's body: one generic, no dequantised weight tensor.
// CHECK-LABEL: func.func @linear_m0e4
// CHECK-NOT: tensor.empty() : tensor<32x64xf32>
// CHECK: tensor.expand_shape {{.*}} into tensor<2x2x32xf32>
// CHECK: tensor.expand_shape {{.*}} into tensor<32x2x16xi8>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "reduction"]
// CHECK: arith.shli
// CHECK: arith.ori {{.*}}%c1065353216_i32
// CHECK: arith.bitcast {{.*}} : i32 to f32
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: chimera.linear
func.func @linear_m0e4(%x: tensor<2x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>, %o: tensor<32x2xf32>) -> tensor<2x32xf32> {
  %y = chimera.linear %x, %w scales(%s) offsets(%o) {quant = #chimera.quant<fp4_m0e4, group_size = 32>} : (tensor<2x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32>) -> tensor<2x32xf32>
  return %y : tensor<2x32xf32>
}

// -----

// CHECK-LABEL: func.func @rms_norm_gemma
// CHECK: linalg.generic {{.*}}"reduction"
// CHECK: math.rsqrt
// The `1 + w` of unit_offset comes after the normalisation.
// CHECK: arith.addf
// CHECK-NOT: chimera.rms_norm
func.func @rms_norm_gemma(%x: tensor<2x?x64xf32>, %w: tensor<64xf32>) -> tensor<2x?x64xf32> {
  %y = chimera.rms_norm %x, %w {unit_offset} : (tensor<2x?x64xf32>, tensor<64xf32>) -> tensor<2x?x64xf32>
  return %y : tensor<2x?x64xf32>
}

// -----

// Query head h reads kv head h floordiv 2 (4 query heads, 2 kv heads).
// CHECK: affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1 floordiv 2, d4)>
// CHECK-LABEL: func.func @attention_gqa
// CHECK: math.exp
// CHECK-NOT: chimera.attention
func.func @attention_gqa(%q: tensor<1x?x4x16xf32>, %k: tensor<1x?x2x16xf32>, %p: tensor<1x?xi64>) -> tensor<1x?x4x16xf32> {
  %y = chimera.attention %q, %k, %k positions(%p) : (tensor<1x?x4x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?xi64>) -> tensor<1x?x4x16xf32>
  return %y : tensor<1x?x4x16xf32>
}

// -----

// CHECK-LABEL: func.func @scan
// CHECK: scf.for
// CHECK: tensor.extract_slice
// CHECK: math.exp
// CHECK: tensor.insert_slice
// CHECK: scf.yield
// CHECK-NOT: chimera.selective_scan
func.func @scan(%u: tensor<1x?x8xf32>, %A: tensor<8x4xf32>, %B: tensor<1x?x4xf32>) -> (tensor<1x?x8xf32>, tensor<1x8x4xf32>) {
  %y, %s = chimera.selective_scan %u, %u, %A, %B, %B : (tensor<1x?x8xf32>, tensor<1x?x8xf32>, tensor<8x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>) -> (tensor<1x?x8xf32>, tensor<1x8x4xf32>)
  return %y, %s : tensor<1x?x8xf32>, tensor<1x8x4xf32>
}

// -----

// CHECK-LABEL: func.func @moe
// CHECK: scf.for
// CHECK: tensor.extract %{{.*}}[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<4x96x64xf32>
// CHECK-NOT: chimera.route_topk
// CHECK-NOT: chimera.expert_ffn
func.func @moe(%x: tensor<?x64xf32>, %l: tensor<?x4xf32>, %up: tensor<4x96x64xf32>, %down: tensor<4x64x96xf32>) -> tensor<?x64xf32> {
  %w, %i = chimera.route_topk %l {k = 2 : i64, renormalize} : (tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
  %y = chimera.expert_ffn %x, %w, %i, %up, %down gate(%up) : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<4x96x64xf32>, tensor<4x64x96xf32>, tensor<4x96x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Panel-stored experts: output column i of expert e reads
// w[e, i / 32, x, i % 32]; up/gate have I = 3 panels of 32 rows, down
// H = 2 panels.
// CHECK-LABEL: func.func @moe_panels
// CHECK-SAME: %[[UP:[^:]*]]: tensor<4x3x64x32xf32>, %[[DOWN:[^:]*]]: tensor<4x2x96x32xf32>
// CHECK: linalg.generic
// CHECK-SAME: outs(%{{.*}} : tensor<?x2x96xf32>)
// CHECK: %[[I:.*]] = linalg.index 2
// CHECK: %[[X:.*]] = linalg.index 3
// CHECK: %[[P:.*]] = arith.divui %[[I]], %c32
// CHECK: %[[J:.*]] = arith.remui %[[I]], %c32
// CHECK: tensor.extract %[[UP]][%{{.*}}, %[[P]], %[[X]], %[[J]]] : tensor<4x3x64x32xf32>
// CHECK: tensor.extract %[[DOWN]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : tensor<4x2x96x32xf32>
func.func @moe_panels(%x: tensor<?x64xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi64>, %up: tensor<4x3x64x32xf32>, %down: tensor<4x2x96x32xf32>) -> tensor<?x64xf32> {
  %y = chimera.expert_ffn %x, %w, %i, %up, %down gate(%up) {panel = 32 : i64} : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<4x3x64x32xf32>, tensor<4x2x96x32xf32>, tensor<4x3x64x32xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// The block body is inlined per batch row on the gathered tokens.
// CHECK-LABEL: func.func @depth_route
// CHECK: scf.for
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK: arith.negf
// CHECK-NOT: chimera.depth_route
// CHECK-NOT: chimera.silu
func.func @depth_route(%x: tensor<1x?x64xf32>, %s: tensor<1x?xf32>, %p: tensor<1x?xi64>) -> (tensor<1x?x64xf32>, tensor<1x?xi1>) {
  %y, %m = chimera.depth_route %x, %s, %p {selection = #chimera<depth_selection topk_strict>, scale_by_score} : (tensor<1x?x64xf32>, tensor<1x?xf32>, tensor<1x?xi64>) -> (tensor<1x?x64xf32>, tensor<1x?xi1>) {
  ^bb0(%a: tensor<1x?x64xf32>, %b: tensor<1x?xi64>):
    %t = chimera.silu %a : tensor<1x?x64xf32>
    chimera.yield %t : tensor<1x?x64xf32>
  }
  return %y, %m : tensor<1x?x64xf32>, tensor<1x?xi1>
}

// -----

// Threshold routing with a carried state: row b's slice of the state goes
// into the block, which runs under an scf.if on "some token selected" (a
// row that selects nothing does no block work and keeps its state), and
// the new slice is inserted back where it came from.
// CHECK-LABEL: func.func @depth_route_threshold
// CHECK: scf.for %[[B:.*]] = {{.*}} iter_args({{.*}}, %[[STATE:.*]] = %arg4)
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[STATE]][%[[B]], 0] [1, 8] [1, 1]
// CHECK: %[[IF:.*]]:2 = scf.if
// CHECK: arith.negf
// CHECK: scf.yield %{{.*}}, %{{.*}} : tensor<1x?x64xf32>, tensor<1x8xf32>
// CHECK: } else {
// CHECK: scf.yield %{{.*}}, %[[ROW]] : tensor<1x?x64xf32>, tensor<1x8xf32>
// CHECK: tensor.insert_slice %[[IF]]#1 into %[[STATE]][%[[B]], 0] [1, 8] [1, 1]
func.func @depth_route_threshold(%x: tensor<2x?x64xf32>, %s: tensor<2x?xf32>, %p: tensor<2x?xi64>, %n: tensor<2xi64>, %st: tensor<2x8xf32>) -> (tensor<2x?x64xf32>, tensor<2x8xf32>) {
  %y, %m, %st2 = chimera.depth_route %x, %s, %p lengths(%n) states(%st) {selection = #chimera<depth_selection threshold>, threshold = 0.5 : f64} : (tensor<2x?x64xf32>, tensor<2x?xf32>, tensor<2x?xi64>, tensor<2xi64>, tensor<2x8xf32>) -> (tensor<2x?x64xf32>, tensor<2x?xi1>, tensor<2x8xf32>) {
  ^bb0(%a: tensor<1x?x64xf32>, %b: tensor<1x?xi64>, %r: tensor<1x8xf32>):
    %t = chimera.silu %a : tensor<1x?x64xf32>
    %r2 = arith.addf %r, %r : tensor<1x8xf32>
    chimera.yield %t, %r2 : tensor<1x?x64xf32>, tensor<1x8xf32>
  }
  return %y, %st2 : tensor<2x?x64xf32>, tensor<2x8xf32>
}

// -----

// Unrolled: the steps inlined in order, three area resizes for [1, 2, 4].
// CHECK-LABEL: func.func @next_scale
// CHECK-COUNT-6: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK-NOT: chimera.next_scale_generate
func.func @next_scale(%f: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %r = chimera.next_scale_generate %f {patch_nums = array<i64: 1, 2, 4>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  ^bb0(%a: tensor<1x2x4x4xf32>):
    %d = chimera.scale_interp %a {size = array<i64: 4, 4>, mode = #chimera<interp area>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    chimera.yield %d : tensor<1x2x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x2x4x4xf32>):
    %d = chimera.scale_interp %a {size = array<i64: 4, 4>, mode = #chimera<interp area>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    chimera.yield %d : tensor<1x2x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x2x4x4xf32>):
    %d = chimera.scale_interp %a {size = array<i64: 4, 4>, mode = #chimera<interp area>} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    chimera.yield %d : tensor<1x2x4x4xf32>
  }
  return %r : tensor<1x2x4x4xf32>
}

// -----

// Each row's activations at position clamp(lengths[b], 1, S) - 1.
// CHECK-LABEL: func.func @last_token
// CHECK: linalg.generic
// CHECK: arith.minsi
// CHECK: arith.maxsi
// CHECK: arith.subi
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<2x?x64xf32>
// CHECK-NOT: chimera.last_token
func.func @last_token(%h: tensor<2x?x64xf32>, %len: tensor<2xi64>) -> tensor<2x1x64xf32> {
  %l = chimera.last_token %h, %len : (tensor<2x?x64xf32>, tensor<2xi64>) -> tensor<2x1x64xf32>
  return %l : tensor<2x1x64xf32>
}

// -----

// conv2d: zero padding, the patches as rows (im2col), a GEMM with the
// weight viewed as [16, 8·3·3], the product transposed back to NCHW.
// CHECK-LABEL: func.func @conv2d
// CHECK: tensor.pad %{{.*}} low[0, 0, 1, 1] high[0, 0, 1, 1]
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1], [2], [3, 4, 5]] : tensor<?x4x4x8x3x3xf32> into tensor<?x4x4x72xf32>
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2, 3]] : tensor<16x8x3x3xf32> into tensor<16x72xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x4x4x16xf32>) outs(%{{.*}} : tensor<?x16x4x4xf32>)
// CHECK-NOT: chimera.conv2d
func.func @conv2d(%x: tensor<?x8x4x4xf32>, %w: tensor<16x8x3x3xf32>, %b: tensor<16xf32>) -> tensor<?x16x4x4xf32> {
  %c = chimera.conv2d %x, %w bias(%b) {padding = 1 : i64} : (tensor<?x8x4x4xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<?x16x4x4xf32>
  return %c : tensor<?x16x4x4xf32>
}

// -----

// group_norm: viewed as [B, G, C/G, H, W]; two reductions, one normalise.
// CHECK-LABEL: func.func @group_norm
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] output_shape [%{{.*}}, 4, 4, 2, 2]
// CHECK-COUNT-3: linalg.generic
// CHECK: tensor.collapse_shape
// CHECK-NOT: chimera.group_norm
func.func @group_norm(%x: tensor<?x16x2x2xf32>, %w: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<?x16x2x2xf32> {
  %n = chimera.group_norm %x, %w, %b {num_groups = 4 : i64} : (tensor<?x16x2x2xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x2x2xf32>
  return %n : tensor<?x16x2x2xf32>
}

// -----

// sample: pairwise reductions over the vocabulary (rank, mass below,
// cumulative mass), no sort and no loop.
// CHECK-LABEL: func.func @sample
// CHECK-NOT: scf.for
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: math.exp
// CHECK: arith.shrui
// CHECK-NOT: chimera.sample
func.func @sample(%l: tensor<?x5x64xf32>, %k: tensor<i64>, %p: tensor<f32>, %s: tensor<i64>) -> tensor<?x5xi64> {
  %y = chimera.sample %l, %k, %p, %s : (tensor<?x5x64xf32>, tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<?x5xi64>
  return %y : tensor<?x5xi64>
}
