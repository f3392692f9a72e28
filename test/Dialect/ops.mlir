// Every chimera op parses, prints and round-trips in custom and generic form.
// RUN: chimera-opt %s | chimera-opt | FileCheck %s
// RUN: chimera-opt %s --mlir-print-op-generic | chimera-opt | FileCheck %s

// CHECK-LABEL: func.func @params_and_linear
func.func @params_and_linear(%x: tensor<2x?x64xf32>, %ids: tensor<2x?xi64>) -> tensor<2x?x128xf32> {
  // CHECK: chimera.param "model.embed_tokens.weight" : tensor<256x64xf32>
  %table = chimera.param "model.embed_tokens.weight" : tensor<256x64xf32>
  // CHECK: chimera.embed %{{.*}}, %{{.*}} : (tensor<256x64xf32>, tensor<2x?xi64>) -> tensor<2x?x64xf32>
  %e = chimera.embed %table, %ids : (tensor<256x64xf32>, tensor<2x?xi64>) -> tensor<2x?x64xf32>
  // CHECK: chimera.embed %{{.*}}, %{{.*}} {scale = 8.000000e+00 : f64}
  %es = chimera.embed %table, %ids {scale = 8.0 : f64} : (tensor<256x64xf32>, tensor<2x?xi64>) -> tensor<2x?x64xf32>
  // CHECK: chimera.param_stack ["e.0.w1", "e.1.w1"] : tensor<2x96x64xf32>
  %stack = chimera.param_stack ["e.0.w1", "e.1.w1"] : tensor<2x96x64xf32>
  %w = chimera.param "w" : tensor<128x64xf32>
  %b = chimera.param "b" : tensor<128xf32>
  // CHECK: chimera.linear %{{.*}}, %{{.*}} bias(%{{.*}}) : (tensor<2x?x64xf32>, tensor<128x64xf32>, tensor<128xf32>) -> tensor<2x?x128xf32>
  %y = chimera.linear %e, %w bias(%b) : (tensor<2x?x64xf32>, tensor<128x64xf32>, tensor<128xf32>) -> tensor<2x?x128xf32>
  return %y : tensor<2x?x128xf32>
}

// CHECK-LABEL: func.func @quantised_linear
func.func @quantised_linear(%x: tensor<?x64xf32>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %q8 = chimera.param "q8" : tensor<32x64xi8>
  %s8 = chimera.param "s8" : tensor<32xf32>
  // CHECK: chimera.linear %{{.*}}, %{{.*}} scales(%{{.*}}) {quant = #chimera.quant<int8>}
  %a = chimera.linear %x, %q8 scales(%s8) {quant = #chimera.quant<int8>} : (tensor<?x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<?x32xf32>
  %q4 = chimera.param "q4" : tensor<32x32xi8>
  %s4 = chimera.param "s4" : tensor<32x2xf32>
  // CHECK: {quant = #chimera.quant<int4, group_size = 32>}
  %b = chimera.linear %x, %q4 scales(%s4) {quant = #chimera.quant<int4, group_size = 32>} : (tensor<?x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<?x32xf32>
  %o4 = chimera.param "o4" : tensor<32x2xf32>
  // CHECK: offsets(%{{.*}}) {quant = #chimera.quant<fp4_m0e4, group_size = 32>}
  %c = chimera.linear %x, %q4 scales(%s4) offsets(%o4) {quant = #chimera.quant<fp4_m0e4, group_size = 32>} : (tensor<?x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>, tensor<32x2xf32>) -> tensor<?x32xf32>
  %e8 = chimera.param "e8" : tensor<32x2xi8>
  // CHECK: {quant = #chimera.quant<mxfp4, group_size = 32>}
  %d = chimera.linear %x, %q4 scales(%e8) {quant = #chimera.quant<mxfp4, group_size = 32>} : (tensor<?x64xf32>, tensor<32x32xi8>, tensor<32x2xi8>) -> tensor<?x32xf32>
  return %a, %b, %c, %d : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// CHECK-LABEL: func.func @norms_and_activations
func.func @norms_and_activations(%x: tensor<?x?x64xf32>, %w: tensor<64xf32>) -> tensor<?x?x64xf32> {
  // CHECK: chimera.rms_norm %{{.*}}, %{{.*}} {epsilon = 1.000000e-05 : f64, unit_offset}
  %a = chimera.rms_norm %x, %w {epsilon = 1.0e-5 : f64, unit_offset} : (tensor<?x?x64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // CHECK: chimera.layer_norm %{{.*}} weight(%{{.*}}) bias(%{{.*}})
  %b = chimera.layer_norm %a weight(%w) bias(%w) : (tensor<?x?x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // CHECK: chimera.layer_norm %{{.*}} {epsilon = 9.9999999999999995E-7 : f64}
  %c = chimera.layer_norm %b {epsilon = 1.0e-6 : f64} : (tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  // CHECK: chimera.silu %{{.*}} : tensor<?x?x64xf32>
  %d = chimera.silu %c : tensor<?x?x64xf32>
  // CHECK: chimera.gelu %{{.*}} {approximate} : tensor<?x?x64xf32>
  %e = chimera.gelu %d {approximate} : tensor<?x?x64xf32>
  // CHECK: chimera.glu %{{.*}}, %{{.*}} {activation = #chimera<activation gelu_tanh>}
  %f = chimera.glu %e, %d {activation = #chimera<activation gelu_tanh>} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x64xf32>
  return %f : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @attention_block
func.func @attention_block(%q: tensor<2x?x4x16xf32>, %k: tensor<2x?x2x16xf32>, %v: tensor<2x?x2x16xf32>,
                           %pos: tensor<2x?xi64>, %cache: tensor<2x64x2x16xf32>, %off: tensor<2xi64>)
    -> (tensor<2x?x4x16xf32>, tensor<2x64x2x16xf32>) {
  // CHECK: chimera.rope %{{.*}}, %{{.*}} {rotary_dim = 8 : i64, style = #chimera<rope_style interleaved>, theta = 1.000000e+06 : f64}
  %qr = chimera.rope %q, %pos {theta = 1.0e6 : f64, rotary_dim = 8 : i64, style = #chimera<rope_style interleaved>} : (tensor<2x?x4x16xf32>, tensor<2x?xi64>) -> tensor<2x?x4x16xf32>
  // CHECK: chimera.cache_write %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x64x2x16xf32>, tensor<2x?x2x16xf32>, tensor<2xi64>) -> tensor<2x64x2x16xf32>
  %c = chimera.cache_write %cache, %k, %off : (tensor<2x64x2x16xf32>, tensor<2x?x2x16xf32>, tensor<2xi64>) -> tensor<2x64x2x16xf32>
  // CHECK: chimera.attention %{{.*}}, %{{.*}}, %{{.*}} positions(%{{.*}}) {mask = #chimera<mask sliding_window>, window = 8 : i64}
  %o = chimera.attention %qr, %c, %c positions(%pos) {mask = #chimera<mask sliding_window>, window = 8 : i64} : (tensor<2x?x4x16xf32>, tensor<2x64x2x16xf32>, tensor<2x64x2x16xf32>, tensor<2x?xi64>) -> tensor<2x?x4x16xf32>
  // CHECK: chimera.attention %{{.*}} {mask = #chimera<mask block_causal>, scale = 1.000000e+00 : f64, segments = array<i64: 1, 4, 9>}
  %o2 = chimera.attention %o, %k, %v positions(%pos) {mask = #chimera<mask block_causal>, segments = array<i64: 1, 4, 9>, scale = 1.0 : f64} : (tensor<2x?x4x16xf32>, tensor<2x?x2x16xf32>, tensor<2x?x2x16xf32>, tensor<2x?xi64>) -> tensor<2x?x4x16xf32>
  return %o2, %c : tensor<2x?x4x16xf32>, tensor<2x64x2x16xf32>
}

// CHECK-LABEL: func.func @mamba_mixer
func.func @mamba_mixer(%x: tensor<?x?x128xf32>, %cw: tensor<128x4xf32>, %cb: tensor<128xf32>, %cs: tensor<?x3x128xf32>,
                       %dt: tensor<?x?x128xf32>, %A: tensor<128x8xf32>, %B: tensor<?x?x8xf32>, %C: tensor<?x?x8xf32>,
                       %D: tensor<128xf32>, %z: tensor<?x?x128xf32>, %h: tensor<?x128x8xf32>, %len: tensor<?xi64>)
    -> (tensor<?x?x128xf32>, tensor<?x3x128xf32>, tensor<?x128x8xf32>) {
  // CHECK: chimera.causal_conv1d %{{.*}}, %{{.*}} bias(%{{.*}}) state(%{{.*}}) {activation = #chimera<activation silu>}
  %y, %s = chimera.causal_conv1d %x, %cw bias(%cb) state(%cs) {activation = #chimera<activation silu>} : (tensor<?x?x128xf32>, tensor<128x4xf32>, tensor<128xf32>, tensor<?x3x128xf32>) -> (tensor<?x?x128xf32>, tensor<?x3x128xf32>)
  // CHECK: chimera.causal_conv1d %{{.*}}, %{{.*}} lengths(%{{.*}}) : (tensor<?x?x128xf32>, tensor<128x4xf32>, tensor<?xi64>)
  %y2, %s2 = chimera.causal_conv1d %x, %cw lengths(%len) : (tensor<?x?x128xf32>, tensor<128x4xf32>, tensor<?xi64>) -> (tensor<?x?x128xf32>, tensor<?x3x128xf32>)
  // CHECK: chimera.selective_scan {{.*}} init(%{{.*}}) lengths(%{{.*}})
  %o2, %hs2 = chimera.selective_scan %y, %dt, %A, %B, %C init(%h) lengths(%len) : (tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<128x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x128x8xf32>, tensor<?xi64>) -> (tensor<?x?x128xf32>, tensor<?x128x8xf32>)
  // CHECK: chimera.selective_scan %{{.*}} D(%{{.*}}) z(%{{.*}}) delta_bias(%{{.*}}) init(%{{.*}}) {delta_softplus}
  %o, %hs = chimera.selective_scan %y, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%D) init(%h) {delta_softplus} : (tensor<?x?x128xf32>, tensor<?x?x128xf32>, tensor<128x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<128xf32>, tensor<?x?x128xf32>, tensor<128xf32>, tensor<?x128x8xf32>) -> (tensor<?x?x128xf32>, tensor<?x128x8xf32>)
  return %o, %s, %hs : tensor<?x?x128xf32>, tensor<?x3x128xf32>, tensor<?x128x8xf32>
}

// CHECK-LABEL: func.func @moe
func.func @moe(%x: tensor<?x64xf32>, %logits: tensor<?x4xf32>, %up: tensor<4x96x64xf32>, %down: tensor<4x64x96xf32>) -> tensor<?x64xf32> {
  // CHECK: chimera.route_topk %{{.*}} {k = 2 : i64, renormalize} : (tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
  %w, %ids = chimera.route_topk %logits {k = 2 : i64, renormalize} : (tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xi64>)
  // CHECK: chimera.route_topk %{{.*}} {k = 1 : i64, mode = #chimera<route_mode topk_softmax>}
  %w1, %ids1 = chimera.route_topk %logits {k = 1 : i64, mode = #chimera<route_mode topk_softmax>} : (tensor<?x4xf32>) -> (tensor<?x1xf32>, tensor<?x1xi64>)
  // CHECK: chimera.expert_ffn %{{.*}} gate(%{{.*}}) : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<4x96x64xf32>, tensor<4x64x96xf32>, tensor<4x96x64xf32>) -> tensor<?x64xf32>
  %y = chimera.expert_ffn %x, %w, %ids, %up, %down gate(%up) : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<4x96x64xf32>, tensor<4x64x96xf32>, tensor<4x96x64xf32>) -> tensor<?x64xf32>
  // CHECK: chimera.expert_ffn {{.*}} {activation = #chimera<activation gelu>}
  %y2 = chimera.expert_ffn %y, %w1, %ids1, %up, %down {activation = #chimera<activation gelu>} : (tensor<?x64xf32>, tensor<?x1xf32>, tensor<?x1xi64>, tensor<4x96x64xf32>, tensor<4x64x96xf32>) -> tensor<?x64xf32>
  return %y2 : tensor<?x64xf32>
}

// CHECK-LABEL: func.func @mixture_of_depths
func.func @mixture_of_depths(%x: tensor<1x?x64xf32>, %score: tensor<1x?xf32>, %pos: tensor<1x?xi64>) -> (tensor<1x?x64xf32>, tensor<1x?xi1>) {
  // CHECK: chimera.depth_route %{{.*}}, %{{.*}}, %{{.*}} {scale_by_score, selection = #chimera<depth_selection topk_strict>}
  // CHECK-NEXT: ^bb0(%{{.*}}: tensor<1x?x64xf32>, %{{.*}}: tensor<1x?xi64>):
  // CHECK: chimera.yield %{{.*}} : tensor<1x?x64xf32>
  %y, %sel = chimera.depth_route %x, %score, %pos {selection = #chimera<depth_selection topk_strict>, scale_by_score} : (tensor<1x?x64xf32>, tensor<1x?xf32>, tensor<1x?xi64>) -> (tensor<1x?x64xf32>, tensor<1x?xi1>) {
  ^bb0(%xs: tensor<1x?x64xf32>, %ps: tensor<1x?xi64>):
    %s = chimera.silu %xs : tensor<1x?x64xf32>
    chimera.yield %s : tensor<1x?x64xf32>
  }
  return %y, %sel : tensor<1x?x64xf32>, tensor<1x?xi1>
}

// CHECK-LABEL: func.func @depth_route_states
func.func @depth_route_states(%x: tensor<2x?x64xf32>, %score: tensor<2x?xf32>, %pos: tensor<2x?xi64>, %n: tensor<2xi64>, %count: tensor<2xi64>) -> tensor<2xi64> {
  // CHECK: chimera.depth_route %{{.*}}, %{{.*}}, %{{.*}} lengths(%{{.*}}) states(%{{.*}}) {selection = #chimera<depth_selection threshold>, threshold = 2.500000e-01 : f64}
  // CHECK-NEXT: ^bb0(%{{.*}}: tensor<1x?x64xf32>, %{{.*}}: tensor<1x?xi64>, %{{.*}}: tensor<1xi64>):
  %y, %sel, %c2 = chimera.depth_route %x, %score, %pos lengths(%n) states(%count) {selection = #chimera<depth_selection threshold>, threshold = 0.25 : f64} : (tensor<2x?x64xf32>, tensor<2x?xf32>, tensor<2x?xi64>, tensor<2xi64>, tensor<2xi64>) -> (tensor<2x?x64xf32>, tensor<2x?xi1>, tensor<2xi64>) {
  ^bb0(%xs: tensor<1x?x64xf32>, %ps: tensor<1x?xi64>, %c: tensor<1xi64>):
    chimera.yield %xs, %c : tensor<1x?x64xf32>, tensor<1xi64>
  }
  return %c2 : tensor<2xi64>
}

// CHECK-LABEL: func.func @next_scale
func.func @next_scale(%f: tensor<2x8x4x4xf32>, %h: tensor<2x8x2x2xf32>) -> tensor<2x8x4x4xf32> {
  // CHECK: chimera.scale_interp %{{.*}} {mode = #chimera<interp bicubic>, size = array<i64: 4, 4>}
  %up = chimera.scale_interp %h {size = array<i64: 4, 4>, mode = #chimera<interp bicubic>} : (tensor<2x8x2x2xf32>) -> tensor<2x8x4x4xf32>
  // CHECK: chimera.next_scale_generate %{{.*}} {patch_nums = array<i64: 2, 4>} : (tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  %r = chimera.next_scale_generate %f {patch_nums = array<i64: 2, 4>} : (tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32> {
  ^bb0(%acc: tensor<2x8x4x4xf32>):
    %down = chimera.scale_interp %acc {size = array<i64: 2, 2>, mode = #chimera<interp area>} : (tensor<2x8x4x4xf32>) -> tensor<2x8x2x2xf32>
    %u = chimera.scale_interp %down {size = array<i64: 4, 4>, mode = #chimera<interp nearest>} : (tensor<2x8x2x2xf32>) -> tensor<2x8x4x4xf32>
    chimera.yield %u : tensor<2x8x4x4xf32>
  }, {
  ^bb0(%acc: tensor<2x8x4x4xf32>):
    chimera.yield %acc : tensor<2x8x4x4xf32>
  }
  return %r : tensor<2x8x4x4xf32>
}

// CHECK-LABEL: func.func @image_ops
func.func @image_ops(%x: tensor<?x8x4x4xf32>, %w: tensor<16x8x3x3xf32>, %b: tensor<16xf32>, %g: tensor<16xf32>) -> tensor<?x16x4x4xf32> {
  // CHECK: chimera.conv2d %{{.*}}, %{{.*}} bias(%{{.*}}) {padding = 1 : i64} : (tensor<?x8x4x4xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<?x16x4x4xf32>
  %c = chimera.conv2d %x, %w bias(%b) {padding = 1 : i64} : (tensor<?x8x4x4xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<?x16x4x4xf32>
  // CHECK: chimera.group_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64, num_groups = 4 : i64}
  %n = chimera.group_norm %c, %g, %b {num_groups = 4 : i64, epsilon = 1.0e-6 : f64} : (tensor<?x16x4x4xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x4x4xf32>
  return %n : tensor<?x16x4x4xf32>
}

// CHECK-LABEL: func.func @sample
func.func @sample(%l: tensor<?x5x64xf32>, %k: tensor<i64>, %p: tensor<f32>, %s: tensor<i64>) -> tensor<?x5xi64> {
  // CHECK: chimera.sample %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {stream = 3 : i64} : (tensor<?x5x64xf32>, tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<?x5xi64>
  %y = chimera.sample %l, %k, %p, %s {stream = 3 : i64} : (tensor<?x5x64xf32>, tensor<i64>, tensor<f32>, tensor<i64>) -> tensor<?x5xi64>
  return %y : tensor<?x5xi64>
}

func.func private @kernel(%b: index, %e: index, %m: memref<?xf32>, %x: f32)

// CHECK-LABEL: func.func @host_schedule
func.func @host_schedule(%m: memref<?xf32>, %n: index, %x: f32) {
  // CHECK: chimera.launch @kernel[%{{.*}}] (%{{.*}}, %{{.*}}) : memref<?xf32>, f32
  chimera.launch @kernel[%n](%m, %x) : memref<?xf32>, f32
  return
}

// CHECK-LABEL: func.func @last_token
func.func @last_token(%h: tensor<2x?x64xf32>, %len: tensor<2xi64>) -> tensor<2x1x64xf32> {
  // CHECK: chimera.last_token %{{.*}}, %{{.*}} : (tensor<2x?x64xf32>, tensor<2xi64>) -> tensor<2x1x64xf32>
  %l = chimera.last_token %h, %len : (tensor<2x?x64xf32>, tensor<2xi64>) -> tensor<2x1x64xf32>
  return %l : tensor<2x1x64xf32>
}
