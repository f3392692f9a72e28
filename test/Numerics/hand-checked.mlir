// Small cases whose answers are worked out by hand in the comments, run
// through the reference lowering on the JIT (mlir-runner).
// RUN: chimera-opt %s --chimera-reference-to-llvm \
// RUN:   | mlir-runner -e main -entry-point-result=void %runner_libs \
// RUN:   | FileCheck %s

func.func private @printMemrefF32(tensor<*xf32>)

func.func private @printMemrefI64(tensor<*xi64>)

func.func @printIds(%t: tensor<?x?xi64>) {
  %u = tensor.cast %t : tensor<?x?xi64> to tensor<*xi64>
  call @printMemrefI64(%u) : (tensor<*xi64>) -> ()
  return
}

func.func @print(%t: tensor<?x?xf32>) {
  %u = tensor.cast %t : tensor<?x?xf32> to tensor<*xf32>
  call @printMemrefF32(%u) : (tensor<*xf32>) -> ()
  return
}

func.func @main() {
  // linear: [1 2 3] · [[1 0 0] [0 1 1]]ᵀ + [10 20] = [11 25]
  %x = arith.constant dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>
  %w = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]> : tensor<2x3xf32>
  %b = arith.constant dense<[10.0, 20.0]> : tensor<2xf32>
  %lin = chimera.linear %x, %w bias(%b) : (tensor<1x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %lin_d = tensor.cast %lin : tensor<1x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[11, 25]]
  call @print(%lin_d) : (tensor<?x?xf32>) -> ()

  // int4: byte 0xE3 = -29 holds q0 = 3 (low), q1 = -2 (high); scale 0.5
  // -> w = [1.5, -1]; x = [1 1] -> 0.5
  %x2 = arith.constant dense<[[1.0, 1.0]]> : tensor<1x2xf32>
  %q4 = arith.constant dense<[[-29]]> : tensor<1x1xi8>
  %s4 = arith.constant dense<[[0.5]]> : tensor<1x1xf32>
  %i4 = chimera.linear %x2, %q4 scales(%s4) {quant = #chimera.quant<int4, group_size = 2>} : (tensor<1x2xf32>, tensor<1x1xi8>, tensor<1x1xf32>) -> tensor<1x1xf32>
  %i4_d = tensor.cast %i4 : tensor<1x1xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[0.5]]
  call @print(%i4_d) : (tensor<?x?xf32>) -> ()

  // fp4_m0e4: byte 0xF0 = -16 holds q0 = 0, q1 = 15 -> h = 1, 1 + 15/16;
  // scale 2, offset -2 -> w = [0, 1.875]; x = [1 1] -> 1.875
  %qm = arith.constant dense<[[-16]]> : tensor<1x1xi8>
  %sm = arith.constant dense<[[2.0]]> : tensor<1x1xf32>
  %om = arith.constant dense<[[-2.0]]> : tensor<1x1xf32>
  %m0 = chimera.linear %x2, %qm scales(%sm) offsets(%om) {quant = #chimera.quant<fp4_m0e4, group_size = 2>} : (tensor<1x2xf32>, tensor<1x1xi8>, tensor<1x1xf32>, tensor<1x1xf32>) -> tensor<1x1xf32>
  %m0_d = tensor.cast %m0 : tensor<1x1xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[1.875]]
  call @print(%m0_d) : (tensor<?x?xf32>) -> ()

  // mxfp4: byte 0xF2 = -14 holds e2m1 codes 0x2 (+1.0) and 0xF (-6.0); scale
  // byte 128 -> 2^1; the other 30 elements are code 0 -> w = [2, -12, 0...];
  // x = ones -> -10
  %x32 = arith.constant dense<1.0> : tensor<1x32xf32>
  %qx = arith.constant dense<[[-14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<1x16xi8>
  %sx = arith.constant dense<[[-128]]> : tensor<1x1xi8>
  %mx = chimera.linear %x32, %qx scales(%sx) {quant = #chimera.quant<mxfp4, group_size = 32>} : (tensor<1x32xf32>, tensor<1x16xi8>, tensor<1x1xi8>) -> tensor<1x1xf32>
  %mx_d = tensor.cast %mx : tensor<1x1xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[-10]]
  call @print(%mx_d) : (tensor<?x?xf32>) -> ()

  // rms_norm, eps 0: [3 4] / sqrt(12.5) = [0.848528, 1.131371];
  // Gemma's 1 + w with w = [0 1] -> [0.848528, 2.262742]
  %xn = arith.constant dense<[[3.0, 4.0]]> : tensor<1x2xf32>
  %wn = arith.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %rn = chimera.rms_norm %xn, %wn {epsilon = 0.0 : f64, unit_offset} : (tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %rn_d = tensor.cast %rn : tensor<1x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[0.848528, 2.26274]]
  call @print(%rn_d) : (tensor<?x?xf32>) -> ()

  // route_topk: softmax of [0, ln2, ln4, 0] = [1 2 4 1] / 8; top-2 ids [2 1]
  // with p [0.5 0.25], renormalised to [2/3 1/3]
  %lg = arith.constant dense<[[0.0, 0.693147182, 1.38629436, 0.0]]> : tensor<1x4xf32>
  %rw, %ri = chimera.route_topk %lg {k = 2 : i64, renormalize} : (tensor<1x4xf32>) -> (tensor<1x2xf32>, tensor<1x2xi64>)
  %rw_d = tensor.cast %rw : tensor<1x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[0.666667, 0.333333]]
  call @print(%rw_d) : (tensor<?x?xf32>) -> ()
  %ri_f = arith.sitofp %ri : tensor<1x2xi64> to tensor<1x2xf32>
  %ri_d = tensor.cast %ri_f : tensor<1x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[2, 1]]
  call @print(%ri_d) : (tensor<?x?xf32>) -> ()

  // expert_ffn, plain identity experts: up_e = e + 1, down_e = 1;
  // x = 3, slots (e=1, w=0.5), (e=0, w=0.25) -> 0.5·2·3 + 0.25·1·3 = 3.75
  %xe = arith.constant dense<[[3.0]]> : tensor<1x1xf32>
  %we = arith.constant dense<[[0.5, 0.25]]> : tensor<1x2xf32>
  %ie = arith.constant dense<[[1, 0]]> : tensor<1x2xi64>
  %up = arith.constant dense<[[[1.0]], [[2.0]]]> : tensor<2x1x1xf32>
  %dn = arith.constant dense<[[[1.0]], [[1.0]]]> : tensor<2x1x1xf32>
  %ye = chimera.expert_ffn %xe, %we, %ie, %up, %dn {activation = #chimera<activation identity>} : (tensor<1x1xf32>, tensor<1x2xf32>, tensor<1x2xi64>, tensor<2x1x1xf32>, tensor<2x1x1xf32>) -> tensor<1x1xf32>
  %ye_d = tensor.cast %ye : tensor<1x1xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[3.75]]
  call @print(%ye_d) : (tensor<?x?xf32>) -> ()

  // attention, causal, equal scores: query 0 sees v0 = 2, query 1 averages
  // v0, v1 = (2 + 4) / 2 = 3
  %q = arith.constant dense<1.0> : tensor<1x2x1x1xf32>
  %v = arith.constant dense<[[[[2.0]], [[4.0]]]]> : tensor<1x2x1x1xf32>
  %pos = arith.constant dense<[[0, 1]]> : tensor<1x2xi64>
  %at = chimera.attention %q, %q, %v positions(%pos) : (tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>, tensor<1x2x1x1xf32>, tensor<1x2xi64>) -> tensor<1x2x1x1xf32>
  %at2 = tensor.collapse_shape %at [[0], [1, 2, 3]] : tensor<1x2x1x1xf32> into tensor<1x2xf32>
  %at_d = tensor.cast %at2 : tensor<1x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[2, 3]]
  call @print(%at_d) : (tensor<?x?xf32>) -> ()

  // rope, half style, position 1 rotates (1, 0) by 1 rad: (cos 1, sin 1);
  // position 0 is the identity
  %xr = arith.constant dense<[[[[1.0, 0.0]]], [[[1.0, 0.0]]]]> : tensor<2x1x1x2xf32>
  %pr = arith.constant dense<[[1], [0]]> : tensor<2x1xi64>
  %ro = chimera.rope %xr, %pr : (tensor<2x1x1x2xf32>, tensor<2x1xi64>) -> tensor<2x1x1x2xf32>
  %ro2 = tensor.collapse_shape %ro [[0, 1, 2], [3]] : tensor<2x1x1x2xf32> into tensor<2x2xf32>
  %ro_d = tensor.cast %ro2 : tensor<2x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[0.540302, 0.841471],
  // CHECK-NEXT:  [1, 0]]
  call @print(%ro_d) : (tensor<?x?xf32>) -> ()

  // cache_write of rows [5 6] at offset 1 into a zero cache of 4 rows
  %cache = arith.constant dense<0.0> : tensor<1x4x1xf32>
  %rows = arith.constant dense<[[[5.0], [6.0]]]> : tensor<1x2x1xf32>
  %off = arith.constant dense<[1]> : tensor<1xi64>
  %cw = chimera.cache_write %cache, %rows, %off : (tensor<1x4x1xf32>, tensor<1x2x1xf32>, tensor<1xi64>) -> tensor<1x4x1xf32>
  %cw2 = tensor.collapse_shape %cw [[0], [1, 2]] : tensor<1x4x1xf32> into tensor<1x4xf32>
  %cw_d = tensor.cast %cw2 : tensor<1x4xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[0, 5, 6, 0]]
  call @print(%cw_d) : (tensor<?x?xf32>) -> ()

  // depth_route, topk at capacity 0.5 of 4 tokens: k = 2, scores
  // [0.1 0.9 0.3 0.8] select tokens 1 and 3; the block is the identity and
  // the output is scaled by the score: [1 2 3 4] -> [1 1.8 3 3.2]
  %xd = arith.constant dense<[[[1.0], [2.0], [3.0], [4.0]]]> : tensor<1x4x1xf32>
  %sd = arith.constant dense<[[0.1, 0.9, 0.3, 0.8]]> : tensor<1x4xf32>
  %pd = arith.constant dense<[[0, 1, 2, 3]]> : tensor<1x4xi64>
  %yd, %md = chimera.depth_route %xd, %sd, %pd {capacity = 0.5 : f64, scale_by_score} : (tensor<1x4x1xf32>, tensor<1x4xf32>, tensor<1x4xi64>) -> (tensor<1x4x1xf32>, tensor<1x4xi1>) {
  ^bb0(%a: tensor<1x?x1xf32>, %p: tensor<1x?xi64>):
    chimera.yield %a : tensor<1x?x1xf32>
  }
  %yd2 = tensor.collapse_shape %yd [[0], [1, 2]] : tensor<1x4x1xf32> into tensor<1x4xf32>
  %yd_d = tensor.cast %yd2 : tensor<1x4xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[1, 1.8, 3, 3.2]]
  call @print(%yd_d) : (tensor<?x?xf32>) -> ()

  // depth_route, threshold 0 with lengths [2, 3] and a carried count per
  // row. Row 0: token 0 (score 1.5) is selected; token 2 (score 2) lies past
  // the row's length and is not. Row 1 selects nothing. The block doubles
  // its tokens and adds K + 100 to the count, so a block that ran on row 1
  // (even with K = 0) would show as 120: out [[1 2 3] [4 5 6]] ->
  // [[1.5 · 2, 2, 3] [4 5 6]], counts [10 20] -> [111 20], mask [[1 0 0] [0 0 0]]
  %xt = arith.constant dense<[[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]]> : tensor<2x3x1xf32>
  %st = arith.constant dense<[[1.5, -1.0, 2.0], [-1.0, -2.0, -3.0]]> : tensor<2x3xf32>
  %pt = arith.constant dense<[[0, 1, 2], [0, 1, 2]]> : tensor<2x3xi64>
  %nt = arith.constant dense<[2, 3]> : tensor<2xi64>
  %ct = arith.constant dense<[10, 20]> : tensor<2xi64>
  %yt, %mt, %ct2 = chimera.depth_route %xt, %st, %pt lengths(%nt) states(%ct) {selection = #chimera<depth_selection threshold>, threshold = 0.0 : f64, scale_by_score} : (tensor<2x3x1xf32>, tensor<2x3xf32>, tensor<2x3xi64>, tensor<2xi64>, tensor<2xi64>) -> (tensor<2x3x1xf32>, tensor<2x3xi1>, tensor<2xi64>) {
  ^bb0(%a: tensor<1x?x1xf32>, %p: tensor<1x?xi64>, %c: tensor<1xi64>):
    %two = arith.addf %a, %a : tensor<1x?x1xf32>
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %k = tensor.dim %a, %c1 : tensor<1x?x1xf32>
    %k64 = arith.index_cast %k : index to i64
    %hundred = arith.constant 100 : i64
    %old = tensor.extract %c[%c0] : tensor<1xi64>
    %inc = arith.addi %k64, %hundred : i64
    %new = arith.addi %old, %inc : i64
    %cn = tensor.from_elements %new : tensor<1xi64>
    chimera.yield %two, %cn : tensor<1x?x1xf32>, tensor<1xi64>
  }
  %yt2 = tensor.collapse_shape %yt [[0], [1, 2]] : tensor<2x3x1xf32> into tensor<2x3xf32>
  %yt_d = tensor.cast %yt2 : tensor<2x3xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[3, 2, 3],
  // CHECK-NEXT:  [4, 5, 6]]
  call @print(%yt_d) : (tensor<?x?xf32>) -> ()
  %ct3 = tensor.expand_shape %ct2 [[0, 1]] output_shape [1, 2] : tensor<2xi64> into tensor<1x2xi64>
  %ct_d = tensor.cast %ct3 : tensor<1x2xi64> to tensor<?x?xi64>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[111, 20]]
  call @printIds(%ct_d) : (tensor<?x?xi64>) -> ()
  %mt64 = arith.extui %mt : tensor<2x3xi1> to tensor<2x3xi64>
  %mt_d = tensor.cast %mt64 : tensor<2x3xi64> to tensor<?x?xi64>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[1, 0, 0],
  // CHECK-NEXT:  [0, 0, 0]]
  call @printIds(%mt_d) : (tensor<?x?xi64>) -> ()

  // scale_interp: nearest 2x2 -> 4x4 repeats each value in a 2x2 block; area
  // 4x4 -> 2x2 averages the blocks back
  %img = arith.constant dense<[[[[1.0, 2.0], [3.0, 4.0]]]]> : tensor<1x1x2x2xf32>
  %big = chimera.scale_interp %img {size = array<i64: 4, 4>, mode = #chimera<interp nearest>} : (tensor<1x1x2x2xf32>) -> tensor<1x1x4x4xf32>
  %big2 = tensor.collapse_shape %big [[0, 1, 2], [3]] : tensor<1x1x4x4xf32> into tensor<4x4xf32>
  %big_d = tensor.cast %big2 : tensor<4x4xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[1, 1, 2, 2],
  // CHECK-NEXT:  [1, 1, 2, 2],
  // CHECK-NEXT:  [3, 3, 4, 4],
  // CHECK-NEXT:  [3, 3, 4, 4]]
  call @print(%big_d) : (tensor<?x?xf32>) -> ()
  %small = chimera.scale_interp %big {size = array<i64: 2, 2>, mode = #chimera<interp area>} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
  %small2 = tensor.collapse_shape %small [[0, 1, 2], [3]] : tensor<1x1x2x2xf32> into tensor<2x2xf32>
  %small_d = tensor.cast %small2 : tensor<2x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[1, 2],
  // CHECK-NEXT:  [3, 4]]
  call @print(%small_d) : (tensor<?x?xf32>) -> ()
  // conv2d, padding 1: the kernel's centre (1) and right neighbour (2)
  // give out[i, j] = x[i, j] + 2 x[i, j + 1] (0 past the edge), + 0.5
  %kw = arith.constant dense<[[[[0.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 0.0]]]]> : tensor<1x1x3x3xf32>
  %cb = arith.constant dense<[0.5]> : tensor<1xf32>
  %conv = chimera.conv2d %img, %kw bias(%cb) {padding = 1 : i64} : (tensor<1x1x2x2xf32>, tensor<1x1x3x3xf32>, tensor<1xf32>) -> tensor<1x1x2x2xf32>
  %conv2 = tensor.collapse_shape %conv [[0, 1, 2], [3]] : tensor<1x1x2x2xf32> into tensor<2x2xf32>
  %conv_d = tensor.cast %conv2 : tensor<2x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[5.5, 2.5],
  // CHECK-NEXT:  [11.5, 4.5]]
  call @print(%conv_d) : (tensor<?x?xf32>) -> ()

  // group_norm, 2 groups of 1 channel: [1 3] -> [-1 1]; [10 30] -> [-1 1],
  // then × weight [1 2] + bias [0 1] per channel -> [-1 1], [-1 3]
  %gx = arith.constant dense<[[[[1.0, 3.0]], [[10.0, 30.0]]]]> : tensor<1x2x1x2xf32>
  %gw = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %gb = arith.constant dense<[0.0, 1.0]> : tensor<2xf32>
  %gn = chimera.group_norm %gx, %gw, %gb {num_groups = 2 : i64, epsilon = 1.0e-12 : f64} : (tensor<1x2x1x2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x1x2xf32>
  %gn2 = tensor.collapse_shape %gn [[0, 1, 2], [3]] : tensor<1x2x1x2xf32> into tensor<2x2xf32>
  %gn_d = tensor.cast %gn2 : tensor<2x2xf32> to tensor<?x?xf32>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[-1, 1],
  // CHECK-NEXT:  [-1, 3]]
  call @print(%gn_d) : (tensor<?x?xf32>) -> ()

  // sample over logits [0 3 2 1]: top-k 1 keeps id 1 only; top-p 0.5
  // drops ids whose ascending cumulative mass (ids 0, 3, 2: 0.03, 0.12,
  // 0.36) is <= 0.5, leaving id 1; with no filter, a row whose mass is all
  // on id 2 (the others 1e30 below) draws 2 whatever the seed.
  %sl = arith.constant dense<[[0.0, 3.0, 2.0, 1.0], [-1.0e30, -1.0e30, 5.0, -1.0e30]]> : tensor<2x4xf32>
  %k0 = arith.constant dense<0> : tensor<i64>
  %k1 = arith.constant dense<1> : tensor<i64>
  %p0 = arith.constant dense<0.0> : tensor<f32>
  %p5 = arith.constant dense<0.5> : tensor<f32>
  %seed = arith.constant dense<12345> : tensor<i64>
  %byk = chimera.sample %sl, %k1, %p0, %seed : (tensor<2x4xf32>, tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<2xi64>
  %byp = chimera.sample %sl, %k0, %p5, %seed {stream = 1 : i64} : (tensor<2x4xf32>, tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<2xi64>
  %free = chimera.sample %sl, %k0, %p0, %seed {stream = 2 : i64} : (tensor<2x4xf32>, tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<2xi64>
  %ids = tensor.empty() : tensor<3x2xi64>
  %ids0 = tensor.insert_slice %byk into %ids[0, 0] [1, 2] [1, 1] : tensor<2xi64> into tensor<3x2xi64>
  %ids1 = tensor.insert_slice %byp into %ids0[1, 0] [1, 2] [1, 1] : tensor<2xi64> into tensor<3x2xi64>
  %ids2 = tensor.insert_slice %free into %ids1[2, 0] [1, 2] [1, 1] : tensor<2xi64> into tensor<3x2xi64>
  %ids_d = tensor.cast %ids2 : tensor<3x2xi64> to tensor<?x?xi64>
  // CHECK-LABEL: data =
  // CHECK-NEXT: {{\[}}[1, 2],
  // CHECK-NEXT:  [1, 2],
  // CHECK-NEXT:  [{{[0-3]}}, 2]]
  call @printIds(%ids_d) : (tensor<?x?xi64>) -> ()
  return
}
