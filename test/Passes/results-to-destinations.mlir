// RUN: chimera-opt %s --chimera-results-to-destinations | FileCheck %s

// The logits get a new trailing argument; a cache written with cache_write
// is returned as is (already in place); a state computed anew is
// materialised into its argument.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: %[[CACHE:[a-z0-9]+]]: tensor<2x8x4xf32> {chimera.name = "k_cache"}
// CHECK-SAME: %[[STATE:[a-z0-9]+]]: tensor<2x4xf32> {chimera.name = "state"}
// CHECK-SAME: %[[LOGITS:[a-z0-9]+]]: tensor<2x1x16xf32> {chimera.name = "logits"})
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: %[[L:.*]] = bufferization.materialize_in_destination %{{.*}} in %[[LOGITS]]
// CHECK: %[[S:.*]] = bufferization.materialize_in_destination %{{.*}} in %[[STATE]]
// CHECK: return %[[L]], %[[KC:.*]], %[[S]]
func.func @forward(%k: tensor<2x1x4xf32>, %off: tensor<2xi64>,
                   %cache: tensor<2x8x4xf32> {chimera.name = "k_cache"},
                   %state: tensor<2x4xf32> {chimera.name = "state"},
                   %logits_in: tensor<2x1x16xf32>)
    -> (tensor<2x1x16xf32> {chimera.name = "logits"},
        tensor<2x8x4xf32> {chimera.name = "k_cache"},
        tensor<2x4xf32> {chimera.name = "state"}) {
  %c = chimera.cache_write %cache, %k, %off : (tensor<2x8x4xf32>, tensor<2x1x4xf32>, tensor<2xi64>) -> tensor<2x8x4xf32>
  %s = arith.addf %state, %state : tensor<2x4xf32>
  return %logits_in, %c, %s : tensor<2x1x16xf32>, tensor<2x8x4xf32>, tensor<2x4xf32>
}
