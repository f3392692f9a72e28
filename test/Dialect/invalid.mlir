// Every verifier error names the operand, attribute or region it is about.
// RUN: chimera-opt %s -split-input-file -verify-diagnostics

func.func @param_empty_name() {
  // expected-error @+1 {{attribute 'name' must name a checkpoint tensor}}
  %w = chimera.param "" : tensor<4xf32>
  return
}

// -----

func.func @param_dynamic() {
  // expected-error @+1 {{result type must have a static shape}}
  %w = chimera.param "w" : tensor<?xf32>
  return
}

// -----

func.func @param_stack_count() {
  // expected-error @+1 {{result dim 0 is 3 but 'names' lists 2 tensors}}
  %w = chimera.param_stack ["a", "b"] : tensor<3x4xf32>
  return
}

// -----

func.func @param_stack_empty_name() {
  // expected-error @+1 {{attribute 'names' entry 1 is empty}}
  %w = chimera.param_stack ["a", ""] : tensor<2x4xf32>
  return
}

// -----

func.func @embed_rank(%t: tensor<4x8x2xf32>, %ids: tensor<3xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'table' must have rank 2, got rank 3}}
  %e = chimera.embed %t, %ids : (tensor<4x8x2xf32>, tensor<3xi64>) -> tensor<3x2xf32>
  return
}

// -----

func.func @linear_inner(%x: tensor<2x64xf32>, %w: tensor<32x48xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'weight' dim 1 is 48, expected 64 ('input' inner dim, weights are [out, in])}}
  %y = chimera.linear %x, %w : (tensor<2x64xf32>, tensor<32x48xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>, %b: tensor<16xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'bias' dim 0 is 16, expected 32 ('weight' dim 0)}}
  %y = chimera.linear %x, %w bias(%b) : (tensor<2x64xf32>, tensor<32x64xf32>, tensor<16xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_panel_shape(%x: tensor<2x64xf32>, %w: tensor<2x64x16xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'weight' dim 2 is 16, expected 32 ('panel', panels are [N/panel, in, panel])}}
  %y = chimera.linear %x, %w {panel = 32 : i64} : (tensor<2x64xf32>, tensor<2x64x16xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @linear_panel_rows(%x: tensor<2x64xf32>, %w: tensor<2x64x32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'rows' (32) must end in the last of the 2 panels of 32 rows, in (32, 64]}}
  %y = chimera.linear %x, %w {panel = 32 : i64, rows = 32 : i64} : (tensor<2x64xf32>, tensor<2x64x32xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_rows_without_panel(%x: tensor<2x64xf32>, %w: tensor<40x64xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'rows' needs 'panel'}}
  %y = chimera.linear %x, %w {rows = 40 : i64} : (tensor<2x64xf32>, tensor<40x64xf32>) -> tensor<2x40xf32>
  return
}

// -----

func.func @linear_panel_quant(%x: tensor<2x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'panel' is for float weights; a quantised weight keeps its [N, K] storage}}
  %y = chimera.linear %x, %w scales(%s) {quant = #chimera.quant<int8>, panel = 32 : i64} : (tensor<2x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<2x64xf32>, %w: tensor<32x64xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'chimera.linear' op inferred type(s) 'tensor<2x32xf32>' are incompatible with return type(s) of operation 'tensor<2x33xf32>'}}
  %y = chimera.linear %x, %w : (tensor<2x64xf32>, tensor<32x64xf32>) -> tensor<2x33xf32>
  return
}

// -----

func.func @linear_quant_no_scales(%x: tensor<2x64xf32>, %w: tensor<32x32xi8>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'scales' is required with quant = int4}}
  %y = chimera.linear %x, %w {quant = #chimera.quant<int4, group_size = 32>} : (tensor<2x64xf32>, tensor<32x32xi8>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_quant_packing(%x: tensor<2x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'weight' dim 1 is 64, expected 32 ('input' inner dim / 2, two 4-bit codes per byte)}}
  %y = chimera.linear %x, %w scales(%s) {quant = #chimera.quant<int4, group_size = 32>} : (tensor<2x64xf32>, tensor<32x64xi8>, tensor<32x2xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_quant_group(%x: tensor<2x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{group_size 48 does not divide the inner dim 64}}
  %y = chimera.linear %x, %w scales(%s) {quant = #chimera.quant<int4, group_size = 48>} : (tensor<2x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @linear_m0e4_offsets(%x: tensor<2x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'offsets' is required with quant = fp4_m0e4}}
  %y = chimera.linear %x, %w scales(%s) {quant = #chimera.quant<fp4_m0e4, group_size = 32>} : (tensor<2x64xf32>, tensor<32x32xi8>, tensor<32x2xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @quant_int8_group(%x: tensor<2x64xf32>, %w: tensor<32x64xi8>, %s: tensor<32xf32>) {
  // expected-error @+1 {{int8 quantisation is per output channel; group_size must be 0, got 32}}
  %y = chimera.linear %x, %w scales(%s) {quant = #chimera.quant<int8, group_size = 32>} : (tensor<2x64xf32>, tensor<32x64xi8>, tensor<32xf32>) -> tensor<2x32xf32>
  return
}

// -----

func.func @quant_mxfp4_group(%x: tensor<2x64xf32>, %w: tensor<32x32xi8>, %s: tensor<32x4xi8>) {
  // expected-error @+1 {{mxfp4 uses one E8M0 scale per 32 elements; group_size must be 32, got 16}}
  %y = chimera.linear %x, %w scales(%s) {quant = #chimera.quant<mxfp4, group_size = 16>} : (tensor<2x64xf32>, tensor<32x32xi8>, tensor<32x4xi8>) -> tensor<2x32xf32>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<2x64xf32>, %w: tensor<32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'weight' dim 0 is 32, expected 64 ('input' last dim)}}
  %y = chimera.rms_norm %x, %w : (tensor<2x64xf32>, tensor<32xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @rms_norm_eps(%x: tensor<2x64xf32>, %w: tensor<64xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'epsilon' must be >= 0}}
  %y = chimera.rms_norm %x, %w {epsilon = -1.0 : f64} : (tensor<2x64xf32>, tensor<64xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<2x64xf32>, %b: tensor<2x64xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'bias' must have rank 1, got rank 2}}
  %y = chimera.layer_norm %x bias(%b) : (tensor<2x64xf32>, tensor<2x64xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @glu_shapes(%g: tensor<2x64xf32>, %u: tensor<2x32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'up' dim 1 is 32, expected 64 ('gate' dim 1)}}
  %y = chimera.glu %g, %u {activation = #chimera<activation silu>} : (tensor<2x64xf32>, tensor<2x32xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @rope_rank(%x: tensor<2x8x64xf32>, %p: tensor<2x8xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'input' must have rank 4, got rank 3}}
  %y = chimera.rope %x, %p : (tensor<2x8x64xf32>, tensor<2x8xi64>) -> tensor<2x8x64xf32>
  return
}

// -----

func.func @rope_rotary_dim(%x: tensor<2x8x4x16xf32>, %p: tensor<2x8xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'rotary_dim' must be even and in (0, 16], got 7}}
  %y = chimera.rope %x, %p {rotary_dim = 7 : i64} : (tensor<2x8x4x16xf32>, tensor<2x8xi64>) -> tensor<2x8x4x16xf32>
  return
}

// -----

func.func @rope_positions(%x: tensor<2x8x4x16xf32>, %p: tensor<2x9xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'positions' dim 1 is 9, expected 8 ('input' dim 1)}}
  %y = chimera.rope %x, %p : (tensor<2x8x4x16xf32>, tensor<2x9xi64>) -> tensor<2x8x4x16xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<1x4x6x16xf32>, %k: tensor<1x4x4x16xf32>, %p: tensor<1x4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'query' has 6 heads, not a multiple of the 4 heads of 'key'}}
  %y = chimera.attention %q, %k, %k positions(%p) : (tensor<1x4x6x16xf32>, tensor<1x4x4x16xf32>, tensor<1x4x4x16xf32>, tensor<1x4xi64>) -> tensor<1x4x6x16xf32>
  return
}

// -----

func.func @attention_positions(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x2x16xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'positions' is required with mask = causal}}
  %y = chimera.attention %q, %k, %k : (tensor<1x4x4x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>) -> tensor<1x4x4x16xf32>
  return
}

// -----

func.func @attention_window(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x2x16xf32>, %p: tensor<1x4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'window' is required with mask = sliding_window}}
  %y = chimera.attention %q, %k, %k positions(%p) {mask = #chimera<mask sliding_window>} : (tensor<1x4x4x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4xi64>) -> tensor<1x4x4x16xf32>
  return
}

// -----

func.func @attention_segments(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x2x16xf32>, %p: tensor<1x4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'segments' is required with mask = block_causal}}
  %y = chimera.attention %q, %k, %k positions(%p) {mask = #chimera<mask block_causal>} : (tensor<1x4x4x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>, tensor<1x4xi64>) -> tensor<1x4x4x16xf32>
  return
}

// -----

func.func @attention_dtype(%q: tensor<1x4x4x16xf32>, %k: tensor<1x4x2x16xf16>, %p: tensor<1x4xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'key' has element type f16, expected f32 to match 'query'}}
  %y = chimera.attention %q, %k, %k positions(%p) : (tensor<1x4x4x16xf32>, tensor<1x4x2x16xf16>, tensor<1x4x2x16xf16>, tensor<1x4xi64>) -> tensor<1x4x4x16xf32>
  return
}

// -----

func.func @cache_write_rows(%c: tensor<2x8x16xf32>, %u: tensor<2x9x16xf32>, %o: tensor<2xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'update' writes 9 rows into a cache of 8}}
  %y = chimera.cache_write %c, %u, %o : (tensor<2x8x16xf32>, tensor<2x9x16xf32>, tensor<2xi64>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @cache_write_offsets(%c: tensor<2x8x16xf32>, %u: tensor<2x1x16xf32>, %o: tensor<3xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'offsets' dim 0 is 3, expected 2 ('cache' batch)}}
  %y = chimera.cache_write %c, %u, %o : (tensor<2x8x16xf32>, tensor<2x1x16xf32>, tensor<3xi64>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @conv_state(%x: tensor<1x5x8xf32>, %w: tensor<8x4xf32>, %s: tensor<1x4x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'state' dim 1 is 4, expected 3 (kernel width - 1)}}
  %y, %n = chimera.causal_conv1d %x, %w state(%s) : (tensor<1x5x8xf32>, tensor<8x4xf32>, tensor<1x4x8xf32>) -> (tensor<1x5x8xf32>, tensor<1x3x8xf32>)
  return
}

// -----

func.func @conv_activation(%x: tensor<1x5x8xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'activation' must be identity or silu, got gelu}}
  %y, %n = chimera.causal_conv1d %x, %w {activation = #chimera<activation gelu>} : (tensor<1x5x8xf32>, tensor<8x4xf32>) -> (tensor<1x5x8xf32>, tensor<1x3x8xf32>)
  return
}

// -----

func.func @scan_state_size(%u: tensor<1x5x8xf32>, %A: tensor<8x4xf32>, %B: tensor<1x5x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'B' dim 2 is 3, expected 4 ('A' state size)}}
  %y, %s = chimera.selective_scan %u, %u, %A, %B, %B : (tensor<1x5x8xf32>, tensor<1x5x8xf32>, tensor<8x4xf32>, tensor<1x5x3xf32>, tensor<1x5x3xf32>) -> (tensor<1x5x8xf32>, tensor<1x8x4xf32>)
  return
}

// -----

func.func @scan_init(%u: tensor<1x5x8xf32>, %A: tensor<8x4xf32>, %B: tensor<1x5x4xf32>, %h: tensor<1x4x8xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'initial_state' dim 1 is 4, expected 8 ([batch, channels, state size])}}
  %y, %s = chimera.selective_scan %u, %u, %A, %B, %B init(%h) : (tensor<1x5x8xf32>, tensor<1x5x8xf32>, tensor<8x4xf32>, tensor<1x5x4xf32>, tensor<1x5x4xf32>, tensor<1x4x8xf32>) -> (tensor<1x5x8xf32>, tensor<1x8x4xf32>)
  return
}

// -----

func.func @scan_delta(%u: tensor<1x5x8xf32>, %d: tensor<1x6x8xf32>, %A: tensor<8x4xf32>, %B: tensor<1x5x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'delta' dim 1 is 6, expected 5 ('u' dim 1)}}
  %y, %s = chimera.selective_scan %u, %d, %A, %B, %B : (tensor<1x5x8xf32>, tensor<1x6x8xf32>, tensor<8x4xf32>, tensor<1x5x4xf32>, tensor<1x5x4xf32>) -> (tensor<1x5x8xf32>, tensor<1x8x4xf32>)
  return
}

// -----

func.func @route_k(%l: tensor<3x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'k' = 5 exceeds the 4 experts of 'logits'}}
  %w, %i = chimera.route_topk %l {k = 5 : i64} : (tensor<3x4xf32>) -> (tensor<3x5xf32>, tensor<3x5xi64>)
  return
}

// -----

func.func @route_k_positive(%l: tensor<3x4xf32>) {
  // expected-error @+1 {{attribute 'k' failed to satisfy constraint}}
  %w, %i = chimera.route_topk %l {k = 0 : i64} : (tensor<3x4xf32>) -> (tensor<3x0xf32>, tensor<3x0xi64>)
  return
}

// -----

func.func @expert_ffn_hidden(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x96x32xf32>, %down: tensor<4x64x96xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'w_up' dim 2 is 32, expected 64 ('input' hidden size)}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x96x32xf32>, tensor<4x64x96xf32>) -> tensor<3x64xf32>
  return
}

// -----

func.func @expert_ffn_gate(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x96x64xf32>, %down: tensor<4x64x96xf32>, %g: tensor<4x95x64xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'w_gate' dim 1 is 95, expected 96 ('w_up' shape)}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down gate(%g) : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x96x64xf32>, tensor<4x64x96xf32>, tensor<4x95x64xf32>) -> tensor<3x64xf32>
  return
}

// -----

// Panel-stored experts: w_down [E, H/P, I, P] with the intermediate size
// from w_up's panels.
func.func @expert_ffn_panel_down(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x3x64x32xf32>, %down: tensor<4x2x64x32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'w_down' dim 2 is 64, expected 96 ('w_up' intermediate size, panels are [E, N/panel, K, panel])}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down {panel = 32 : i64} : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x3x64x32xf32>, tensor<4x2x64x32xf32>) -> tensor<3x64xf32>
  return
}

// -----

func.func @expert_ffn_panel_hidden(%x: tensor<3x48xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x3x48x32xf32>, %down: tensor<4x1x96x32xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{'input' hidden size 48 is not a multiple of 'panel' (32)}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down {panel = 32 : i64} : (tensor<3x48xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x3x48x32xf32>, tensor<4x1x96x32xf32>) -> tensor<3x48xf32>
  return
}

// -----

func.func @expert_ffn_panel_quant(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x96x64xi8>, %down: tensor<4x64x96xi8>, %us: tensor<4x96xf32>, %ds: tensor<4x64xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'panel' is for float experts; quantised experts keep their [E, N, K] codes}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down up_scales(%us) down_scales(%ds) {panel = 32 : i64, quant = #chimera.quant<int8>} : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x96x64xi8>, tensor<4x64x96xi8>, tensor<4x96xf32>, tensor<4x64xf32>) -> tensor<3x64xf32>
  return
}

// -----

// int4 experts: codes two per byte, scales one per group of each row.
func.func @expert_ffn_int4_scales(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x96x32xi8>, %down: tensor<4x64x48xi8>, %us: tensor<4x96xf32>, %ds: tensor<4x64x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'up_scales' must have rank 3, got rank 2}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down up_scales(%us) down_scales(%ds) {quant = #chimera.quant<int4, group_size = 32>} : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x96x32xi8>, tensor<4x64x48xi8>, tensor<4x96xf32>, tensor<4x64x3xf32>) -> tensor<3x64xf32>
  return
}

// -----

// mxfp4 experts: the scales are E8M0 exponents.
func.func @expert_ffn_mxfp4_scales(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x96x32xi8>, %down: tensor<4x64x48xi8>, %us: tensor<4x96x2xf32>, %ds: tensor<4x64x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'up_scales' of mxfp4 must hold i8 E8M0 exponents}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down up_scales(%us) down_scales(%ds) {quant = #chimera.quant<mxfp4, group_size = 32>} : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x96x32xi8>, tensor<4x64x48xi8>, tensor<4x96x2xf32>, tensor<4x64x3xf32>) -> tensor<3x64xf32>
  return
}

// -----

func.func @depth_route_capacity(%x: tensor<1x8x4xf32>, %s: tensor<1x8xf32>, %p: tensor<1x8xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'capacity' must be in (0, 1]}}
  %y, %m = chimera.depth_route %x, %s, %p {capacity = 1.5 : f64} : (tensor<1x8x4xf32>, tensor<1x8xf32>, tensor<1x8xi64>) -> (tensor<1x8x4xf32>, tensor<1x8xi1>) {
  ^bb0(%a: tensor<1x?x4xf32>, %b: tensor<1x?xi64>):
    chimera.yield %a : tensor<1x?x4xf32>
  }
  return
}

// -----

func.func @depth_route_region_args(%x: tensor<1x8x4xf32>, %s: tensor<1x8xf32>, %p: tensor<1x8xi64>) {
  // expected-error @+1 {{region must take 2 arguments (selected tokens, their positions), got 1}}
  %y, %m = chimera.depth_route %x, %s, %p : (tensor<1x8x4xf32>, tensor<1x8xf32>, tensor<1x8xi64>) -> (tensor<1x8x4xf32>, tensor<1x8xi1>) {
  ^bb0(%a: tensor<1x?x4xf32>):
    chimera.yield %a : tensor<1x?x4xf32>
  }
  return
}

// -----

func.func @depth_route_yield(%x: tensor<1x8x4xf32>, %s: tensor<1x8xf32>, %p: tensor<1x8xi64>) {
  %y, %m = chimera.depth_route %x, %s, %p : (tensor<1x8x4xf32>, tensor<1x8xf32>, tensor<1x8xi64>) -> (tensor<1x8x4xf32>, tensor<1x8xi1>) {
  ^bb0(%a: tensor<1x?x4xf32>, %b: tensor<1x?xi64>):
    // expected-error @+1 {{must yield exactly one value of type 'tensor<1x?x4xf32>'}}
    chimera.yield %b : tensor<1x?xi64>
  }
  return
}

// -----

func.func @depth_route_state_row(%x: tensor<2x8x4xf32>, %s: tensor<2x8xf32>, %p: tensor<2x8xi64>, %c: tensor<2x3xf32>) {
  // expected-error @+1 {{region argument #2 must be 'tensor<1x3xf32>' (row of states #0), got 'tensor<2x3xf32>'}}
  %y, %m, %c2 = chimera.depth_route %x, %s, %p states(%c) : (tensor<2x8x4xf32>, tensor<2x8xf32>, tensor<2x8xi64>, tensor<2x3xf32>) -> (tensor<2x8x4xf32>, tensor<2x8xi1>, tensor<2x3xf32>) {
  ^bb0(%a: tensor<1x?x4xf32>, %b: tensor<1x?xi64>, %r: tensor<2x3xf32>):
    chimera.yield %a, %r : tensor<1x?x4xf32>, tensor<2x3xf32>
  }
  return
}

// -----

func.func @depth_route_state_batch(%x: tensor<2x8x4xf32>, %s: tensor<2x8xf32>, %p: tensor<2x8xi64>, %c: tensor<3xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'states #0' dim 0 is 3, expected 2 ('input' batch)}}
  %y, %m, %c2 = chimera.depth_route %x, %s, %p states(%c) : (tensor<2x8x4xf32>, tensor<2x8xf32>, tensor<2x8xi64>, tensor<3xi64>) -> (tensor<2x8x4xf32>, tensor<2x8xi1>, tensor<3xi64>) {
  ^bb0(%a: tensor<1x?x4xf32>, %b: tensor<1x?xi64>, %r: tensor<1xi64>):
    chimera.yield %a, %r : tensor<1x?x4xf32>, tensor<1xi64>
  }
  return
}

// -----

func.func @depth_route_state_yield(%x: tensor<2x8x4xf32>, %s: tensor<2x8xf32>, %p: tensor<2x8xi64>, %c: tensor<2xi64>) {
  %y, %m, %c2 = chimera.depth_route %x, %s, %p states(%c) : (tensor<2x8x4xf32>, tensor<2x8xf32>, tensor<2x8xi64>, tensor<2xi64>) -> (tensor<2x8x4xf32>, tensor<2x8xi1>, tensor<2xi64>) {
  ^bb0(%a: tensor<1x?x4xf32>, %b: tensor<1x?xi64>, %r: tensor<1xi64>):
    // expected-error @+1 {{must yield a value of type 'tensor<1x?x4xf32>' (the block's output for the selected tokens) and a new row of each state}}
    chimera.yield %a : tensor<1x?x4xf32>
  }
  return
}

// -----

func.func @scale_interp_area_up(%x: tensor<1x8x2x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{mode = area only downsamples; size [4, 4] exceeds the input [2, 2]}}
  %y = chimera.scale_interp %x {size = array<i64: 4, 4>, mode = #chimera<interp area>} : (tensor<1x8x2x2xf32>) -> tensor<1x8x4x4xf32>
  return
}

// -----

func.func @scale_interp_dynamic(%x: tensor<1x8x?x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'input' spatial dims must be static}}
  %y = chimera.scale_interp %x {size = array<i64: 4, 4>, mode = #chimera<interp bicubic>} : (tensor<1x8x?x2xf32>) -> tensor<1x8x4x4xf32>
  return
}

// -----

func.func @next_scale_schedule(%f: tensor<1x8x4x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'patch_nums' must be positive and strictly increasing}}
  %r = chimera.next_scale_generate %f {patch_nums = array<i64: 1, 3, 2, 4>} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }
  return
}

// -----

func.func @next_scale_last(%f: tensor<1x8x4x4xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'f_hat' dim 2 is 4, expected 5 (last entry of 'patch_nums')}}
  %r = chimera.next_scale_generate %f {patch_nums = array<i64: 1, 2, 5>} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }, {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }
  return
}

// -----

func.func @next_scale_region(%f: tensor<1x8x4x4xf32>) {
  // expected-error @+1 {{step 0 must take the 1 carried values as arguments, got 2}}
  %r = chimera.next_scale_generate %f {patch_nums = array<i64: 4>} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
  ^bb0(%k: index, %a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }
  return
}

// -----

func.func @next_scale_steps(%f: tensor<1x8x4x4xf32>) {
  // expected-error @+1 {{has 1 step regions for 2 scales in 'patch_nums'}}
  %r = chimera.next_scale_generate %f {patch_nums = array<i64: 2, 4>} : (tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32> {
  ^bb0(%a: tensor<1x8x4x4xf32>):
    chimera.yield %a : tensor<1x8x4x4xf32>
  }
  return
}

// -----

func.func @conv2d_channels(%x: tensor<1x8x4x4xf32>, %w: tensor<16x4x3x3xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'weight' dim 1 is 4, expected 8 ('input' channels (dim 1))}}
  %y = chimera.conv2d %x, %w {padding = 1 : i64} : (tensor<1x8x4x4xf32>, tensor<16x4x3x3xf32>) -> tensor<1x16x4x4xf32>
  return
}

// -----

func.func @group_norm_groups(%x: tensor<1x12x4x4xf32>, %w: tensor<12xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{attribute 'num_groups' (8) must divide the 12 channels}}
  %y = chimera.group_norm %x, %w, %w {num_groups = 8 : i64} : (tensor<1x12x4x4xf32>, tensor<12xf32>, tensor<12xf32>) -> tensor<1x12x4x4xf32>
  return
}

// -----

func.func @sample_scalars(%l: tensor<2x5x64xf32>, %k: tensor<1xi64>, %p: tensor<f32>, %s: tensor<i64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'top_k' must have rank 0, got rank 1}}
  %y = chimera.sample %l, %k, %p, %s : (tensor<2x5x64xf32>, tensor<1xi64>, tensor<f32>, tensor<i64>) -> tensor<2x5xi64>
  return
}

// -----

func.func @yield_outside() {
  // expected-error @+1 {{expects parent op to be one of 'chimera.depth_route, chimera.next_scale_generate'}}
  chimera.yield
}

// -----

func.func @conv_lengths_batch(%x: tensor<2x5x8xf32>, %w: tensor<8x4xf32>, %n: tensor<3xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'lengths' dim 0 is 3, expected 2 ('input' batch)}}
  %y, %s = chimera.causal_conv1d %x, %w lengths(%n) : (tensor<2x5x8xf32>, tensor<8x4xf32>, tensor<3xi64>) -> (tensor<2x5x8xf32>, tensor<2x3x8xf32>)
  return
}

// -----

func.func @scan_lengths_rank(%u: tensor<2x5x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x5x4xf32>, %n: tensor<2x1xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'lengths' must have rank 1, got rank 2}}
  %y, %s = chimera.selective_scan %u, %u, %A, %B, %B lengths(%n) : (tensor<2x5x8xf32>, tensor<2x5x8xf32>, tensor<8x4xf32>, tensor<2x5x4xf32>, tensor<2x5x4xf32>, tensor<2x1xi64>) -> (tensor<2x5x8xf32>, tensor<2x8x4xf32>)
  return
}

// -----

func.func private @kernel(%b: index, %e: index, %m: memref<4xf32>)

func.func @launch_types(%m: memref<8xf32>, %n: index) {
  // expected-error @+1 {{operand 0 has type 'memref<8xf32>' but kernel argument 2 has type 'memref<4xf32>'}}
  chimera.launch @kernel[%n](%m) : memref<8xf32>
  return
}

// -----

func.func private @kernel2(%m: memref<4xf32>)

func.func @launch_signature(%m: memref<4xf32>, %n: index) {
  // expected-error @+1 {{kernel '@kernel2' must take (index, index) and then the 1 launch operand(s)}}
  chimera.launch @kernel2[%n](%m) : memref<4xf32>
  return
}

// -----

func.func @last_token_batch(%h: tensor<2x?x64xf32>, %len: tensor<3xi64>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'lengths' dim 0}}
  %l = chimera.last_token %h, %len : (tensor<2x?x64xf32>, tensor<3xi64>) -> tensor<2x1x64xf32>
  return
}

// -----

// fp4_m0e4 experts: every stack has offsets shaped as its scales.
func.func @expert_ffn_m0e4_offsets(%x: tensor<3x64xf32>, %w: tensor<3x2xf32>, %i: tensor<3x2xi64>, %up: tensor<4x96x32xi8>, %down: tensor<4x64x48xi8>, %us: tensor<4x96x2xf32>, %ds: tensor<4x64x3xf32>, %uo: tensor<4x96x2xf32>) {
  // expected-error @+2 {{failed to infer returned types}}
  // expected-error @+1 {{operand 'down_offsets' is required with quant = fp4_m0e4}}
  %y = chimera.expert_ffn %x, %w, %i, %up, %down up_scales(%us) down_scales(%ds) up_offsets(%uo) {quant = #chimera.quant<fp4_m0e4, group_size = 32>} : (tensor<3x64xf32>, tensor<3x2xf32>, tensor<3x2xi64>, tensor<4x96x32xi8>, tensor<4x64x48xi8>, tensor<4x96x2xf32>, tensor<4x64x3xf32>, tensor<4x96x2xf32>) -> tensor<3x64xf32>
  return
}
