// RUN: chimera-opt %s --split-input-file --chimera-pack-weights | FileCheck %s
// RUN: chimera-opt %s --split-input-file --chimera-pack-weights --chimera-bind-weights | FileCheck %s --check-prefix=BIND

// A float linear weight whose rows are whole panels is stored [N/32, K, 32]
// in every function that reads it; its linears read it by panel.
// CHECK-LABEL: func.func @prefill
// CHECK: %[[W:.*]] = chimera.param "w" {chimera.panel = 32 : i64} : tensor<2x48x32xbf16>
// CHECK: chimera.linear %{{.*}}, %[[W]] {panel = 32 : i64} : (tensor<?x48xf32>, tensor<2x48x32xbf16>) -> tensor<?x64xf32>
// CHECK-LABEL: func.func @decode
// CHECK: chimera.param "w" {chimera.panel = 32 : i64} : tensor<2x48x32xbf16>
// The layout entry tells the archive writer to transpose.
// BIND: chimera.weights = [{element_type = bf16, names = ["w"], offset = 0 : i64, panel = 32 : i64, shape = array<i64: 2, 48, 32>}]
func.func @prefill(%x: tensor<?x48xf32>) -> tensor<?x64xf32> {
  %w = chimera.param "w" : tensor<64x48xbf16>
  %y = chimera.linear %x, %w : (tensor<?x48xf32>, tensor<64x48xbf16>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}
func.func @decode(%x: tensor<1x48xf32>) -> tensor<1x64xf32> {
  %w = chimera.param "w" : tensor<64x48xbf16>
  %y = chimera.linear %x, %w : (tensor<1x48xf32>, tensor<64x48xbf16>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// -----

// A tied embedding table (also read by chimera.embed, even in another
// function) keeps its layout, and its linear reads a packed copy named
// after it. A row count that is not whole panels gets a zero-padded last
// panel, cut off by `rows`. A quantised weight keeps its layout.
// CHECK-LABEL: func.func @tied
// CHECK: chimera.param "table" : tensor<64x48xf32>
// CHECK-NOT: panel
// CHECK-LABEL: func.func @others
// CHECK: %[[T:.*]] = chimera.param "table" : tensor<64x48xf32>
// CHECK-NEXT: %[[TP:.*]] = chimera.param "table:panel" {chimera.panel = 32 : i64} : tensor<2x48x32xf32>
// CHECK-NEXT: chimera.linear %{{.*}}, %[[TP]] {panel = 32 : i64} : (tensor<2x48xf32>, tensor<2x48x32xf32>) -> tensor<2x64xf32>
// CHECK-NEXT: chimera.embed %[[T]]
// CHECK: %[[R:.*]] = chimera.param "ragged" {chimera.panel = 32 : i64} : tensor<2x48x32xf32>
// CHECK-NEXT: chimera.linear %{{.*}}, %[[R]] {panel = 32 : i64, rows = 40 : i64} : (tensor<2x48xf32>, tensor<2x48x32xf32>) -> tensor<2x40xf32>
// CHECK: chimera.param "codes" {chimera.quant = #chimera.quant<int8>, chimera.quant_part = "codes"} : tensor<64x48xi8>
// CHECK-NOT: panel
// The copy has its own layout entry; the writer reads it from "table".
// BIND: chimera.weights = [{element_type = f32, names = ["table"], offset = 0 : i64, shape = array<i64: 64, 48>}, {element_type = f32, names = ["table:panel"], offset = 12288 : i64, panel = 32 : i64, shape = array<i64: 2, 48, 32>}, {element_type = f32, names = ["ragged"], offset = 24576 : i64, panel = 32 : i64, shape = array<i64: 2, 48, 32>}
func.func @tied(%ids: tensor<1x2xi64>) -> tensor<1x2x48xf32> {
  %t = chimera.param "table" : tensor<64x48xf32>
  %e = chimera.embed %t, %ids : (tensor<64x48xf32>, tensor<1x2xi64>) -> tensor<1x2x48xf32>
  return %e : tensor<1x2x48xf32>
}
func.func @others(%x: tensor<2x48xf32>, %ids: tensor<1x2xi64>) -> (tensor<2x64xf32>, tensor<1x2x48xf32>, tensor<2x40xf32>, tensor<2x64xf32>) {
  %t = chimera.param "table" : tensor<64x48xf32>
  %y = chimera.linear %x, %t : (tensor<2x48xf32>, tensor<64x48xf32>) -> tensor<2x64xf32>
  %e = chimera.embed %t, %ids : (tensor<64x48xf32>, tensor<1x2xi64>) -> tensor<1x2x48xf32>
  %r = chimera.param "ragged" : tensor<40x48xf32>
  %z = chimera.linear %x, %r : (tensor<2x48xf32>, tensor<40x48xf32>) -> tensor<2x40xf32>
  %q = chimera.param "codes" {chimera.quant = #chimera.quant<int8>, chimera.quant_part = "codes"} : tensor<64x48xi8>
  %s = chimera.param "codes:scales" {chimera.quant = #chimera.quant<int8>, chimera.quant_part = "scales"} : tensor<64xf32>
  %u = chimera.linear %x, %q scales(%s) {quant = #chimera.quant<int8>} : (tensor<2x48xf32>, tensor<64x48xi8>, tensor<64xf32>) -> tensor<2x64xf32>
  return %y, %e, %z, %u : tensor<2x64xf32>, tensor<1x2x48xf32>, tensor<2x40xf32>, tensor<2x64xf32>
}

// -----

// Float experts whose intermediate (64) and hidden (96) sizes are whole
// panels: every stack, in every function that reads it, becomes
// [E, N/32, K, 32] and the expert op reads it by panel. A stack that
// another op also reads keeps its layout, and so do the other stacks of
// the expert op reading it; quantised experts keep theirs.
// CHECK-LABEL: func.func @prefill_experts
// CHECK: %[[UP:.*]] = chimera.param_stack ["up.0", "up.1"] {chimera.panel = 32 : i64} : tensor<2x2x96x32xf32>
// CHECK: %[[DOWN:.*]] = chimera.param_stack ["down.0", "down.1"] {chimera.panel = 32 : i64} : tensor<2x3x64x32xf32>
// CHECK: chimera.expert_ffn %{{.*}}, %{{.*}}, %{{.*}}, %[[UP]], %[[DOWN]] gate(%[[UP]]) {panel = 32 : i64} : (tensor<?x96xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<2x2x96x32xf32>, tensor<2x3x64x32xf32>, tensor<2x2x96x32xf32>) -> tensor<?x96xf32>
// CHECK-LABEL: func.func @decode_experts
// CHECK: chimera.param_stack ["up.0", "up.1"] {chimera.panel = 32 : i64} : tensor<2x2x96x32xf32>
// CHECK: chimera.param_stack ["down.0", "down.1"] {chimera.panel = 32 : i64} : tensor<2x3x64x32xf32>
// CHECK: chimera.expert_ffn {{.*}} {panel = 32 : i64}
// CHECK-LABEL: func.func @shared_stack
// CHECK-NOT: panel
// CHECK-LABEL: func.func @int8_experts
// CHECK-NOT: panel
// CHECK-LABEL: func.func @ragged_experts
// CHECK-NOT: panel
// The archive writer transposes each member of a stack into its panels.
// BIND: {element_type = f32, names = ["up.0", "up.1"], offset = 0 : i64, panel = 32 : i64, shape = array<i64: 2, 2, 96, 32>}, {element_type = f32, names = ["down.0", "down.1"], offset = 49152 : i64, panel = 32 : i64, shape = array<i64: 2, 3, 64, 32>}
func.func @prefill_experts(%x: tensor<?x96xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi64>) -> tensor<?x96xf32> {
  %up = chimera.param_stack ["up.0", "up.1"] : tensor<2x64x96xf32>
  %down = chimera.param_stack ["down.0", "down.1"] : tensor<2x96x64xf32>
  %y = chimera.expert_ffn %x, %w, %i, %up, %down gate(%up) : (tensor<?x96xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<2x64x96xf32>, tensor<2x96x64xf32>, tensor<2x64x96xf32>) -> tensor<?x96xf32>
  return %y : tensor<?x96xf32>
}
func.func @decode_experts(%x: tensor<1x96xf32>, %w: tensor<1x2xf32>, %i: tensor<1x2xi64>) -> tensor<1x96xf32> {
  %up = chimera.param_stack ["up.0", "up.1"] : tensor<2x64x96xf32>
  %down = chimera.param_stack ["down.0", "down.1"] : tensor<2x96x64xf32>
  %y = chimera.expert_ffn %x, %w, %i, %up, %down gate(%up) : (tensor<1x96xf32>, tensor<1x2xf32>, tensor<1x2xi64>, tensor<2x64x96xf32>, tensor<2x96x64xf32>, tensor<2x64x96xf32>) -> tensor<1x96xf32>
  return %y : tensor<1x96xf32>
}
func.func @shared_stack(%x: tensor<?x96xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi64>) -> (tensor<?x96xf32>, tensor<2x64x96xf32>) {
  %up = chimera.param_stack ["shared_up.0", "shared_up.1"] : tensor<2x64x96xf32>
  %down = chimera.param_stack ["shared_down.0", "shared_down.1"] : tensor<2x96x64xf32>
  %y = chimera.expert_ffn %x, %w, %i, %up, %down : (tensor<?x96xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<2x64x96xf32>, tensor<2x96x64xf32>) -> tensor<?x96xf32>
  return %y, %up : tensor<?x96xf32>, tensor<2x64x96xf32>
}
func.func @int8_experts(%x: tensor<?x96xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi64>) -> tensor<?x96xf32> {
  %up = chimera.param_stack ["q_up.0", "q_up.1"] : tensor<2x64x96xi8>
  %us = chimera.param_stack ["q_up.0:scales", "q_up.1:scales"] : tensor<2x64xf32>
  %down = chimera.param_stack ["q_down.0", "q_down.1"] : tensor<2x96x64xi8>
  %ds = chimera.param_stack ["q_down.0:scales", "q_down.1:scales"] : tensor<2x96xf32>
  %y = chimera.expert_ffn %x, %w, %i, %up, %down up_scales(%us) down_scales(%ds) {quant = #chimera.quant<int8>} : (tensor<?x96xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<2x64x96xi8>, tensor<2x96x64xi8>, tensor<2x64xf32>, tensor<2x96xf32>) -> tensor<?x96xf32>
  return %y : tensor<?x96xf32>
}
func.func @ragged_experts(%x: tensor<?x96xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi64>) -> tensor<?x96xf32> {
  %up = chimera.param_stack ["r_up.0", "r_up.1"] : tensor<2x40x96xf32>
  %down = chimera.param_stack ["r_down.0", "r_down.1"] : tensor<2x96x40xf32>
  %y = chimera.expert_ffn %x, %w, %i, %up, %down : (tensor<?x96xf32>, tensor<?x2xf32>, tensor<?x2xi64>, tensor<2x40x96xf32>, tensor<2x96x40xf32>) -> tensor<?x96xf32>
  return %y : tensor<?x96xf32>
}
