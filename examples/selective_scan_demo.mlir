// The main job until the x86 end-to-end path lands: a Mamba mixer's core
// (causal conv1d + selective scan, one batch row, 6 tokens, 4 channels,
// state size 2) lowered through chimera's reference semantics to LLVM and
// run. `scripts/demo.sh` executes it with mlir-runner.

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %x = arith.constant dense<[[[0.5, -1.0, 0.25, 2.0], [1.0, 0.0, -0.5, 1.0],
                              [0.0, 1.5, 1.0, -1.0], [-0.5, 0.5, 0.0, 0.5],
                              [2.0, -0.5, 0.5, 0.0], [0.25, 1.0, -1.0, 1.5]]]> : tensor<1x6x4xf32>
  %cw = arith.constant dense<[[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1],
                              [-0.2, 0.1, 0.5, 0.3], [0.0, 0.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %cb = arith.constant dense<[0.0, 0.1, -0.1, 0.0]> : tensor<4xf32>
  %u, %conv_state = chimera.causal_conv1d %x, %cw bias(%cb) {activation = #chimera<activation silu>}
      : (tensor<1x6x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> (tensor<1x6x4xf32>, tensor<1x3x4xf32>)
  %dt = arith.constant dense<0.5> : tensor<1x6x4xf32>
  %A = arith.constant dense<[[-1.0, -0.5], [-2.0, -0.25], [-0.75, -1.5], [-1.0, -1.0]]> : tensor<4x2xf32>
  %B = arith.constant dense<[[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [1.0, 1.0], [0.25, -0.5], [1.0, 0.0]]]> : tensor<1x6x2xf32>
  %C = arith.constant dense<[[[1.0, 1.0], [1.0, -1.0], [0.5, 0.5], [0.0, 1.0], [1.0, 0.0], [0.5, 1.0]]]> : tensor<1x6x2xf32>
  %D = arith.constant dense<[1.0, 0.5, 0.0, -1.0]> : tensor<4xf32>
  %bias = arith.constant dense<0.1> : tensor<4xf32>
  %y, %ssm_state = chimera.selective_scan %u, %dt, %A, %B, %C D(%D) delta_bias(%bias) {delta_softplus}
      : (tensor<1x6x4xf32>, tensor<1x6x4xf32>, tensor<4x2xf32>, tensor<1x6x2xf32>, tensor<1x6x2xf32>, tensor<4xf32>, tensor<4xf32>)
      -> (tensor<1x6x4xf32>, tensor<1x4x2xf32>)
  %py = tensor.cast %y : tensor<1x6x4xf32> to tensor<*xf32>
  call @printMemrefF32(%py) : (tensor<*xf32>) -> ()
  %ps = tensor.cast %ssm_state : tensor<1x4x2xf32> to tensor<*xf32>
  call @printMemrefF32(%ps) : (tensor<*xf32>) -> ()
  return
}
