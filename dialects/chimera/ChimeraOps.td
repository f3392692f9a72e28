//===- ChimeraOps.td - chimera op definitions --------------*- tablegen -*-===//
//
// Every op states its reference formula; `chimera-lower-to-reference`
// implements exactly that formula. Shapes use the layout conventions of the
// dialect description. Result types are inferred (InferTypeOpInterface) and
// every shape/dtype/attribute error names the operand it is about.
//
//===----------------------------------------------------------------------===//

#ifndef CHIMERA_OPS_TD
#define CHIMERA_OPS_TD

include "ChimeraBase.td"
include "ChimeraAttrs.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"

def Chimera_FloatTensor : RankedTensorOf<[AnyFloat]>;
def Chimera_IntTensor : RankedTensorOf<[AnySignlessInteger]>;
def Chimera_AnyTensor : RankedTensorOf<[AnyType]>;

class Chimera_InferredOp<string mnemonic, list<Trait> traits = []>
    : Chimera_Op<mnemonic, !listconcat(traits, [Pure, InferTypeOpAdaptor])>;

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

def Chimera_ParamOp : Chimera_Op<"param", [Pure]> {
  let summary = "a named weight of the checkpoint";
  let description = [{
    `%w = chimera.param "model.layers.0.mlp.up_proj.weight" : tensor<160x64xf32>`

    Refers to a weight by its checkpoint name and type. The IR never holds
    weight data: the compiler writes the weight archive beside the code, and
    a quantised weight is a `param` of its storage type (e.g. `i8`) consumed
    by a `chimera.linear` that carries a `#chimera.quant` attribute.
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs Chimera_AnyTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Chimera_ParamStackOp : Chimera_Op<"param_stack", [Pure]> {
  let summary = "checkpoint weights of equal shape, stacked along a new dim 0";
  let description = [{
    `%w = chimera.param_stack ["...experts.0.w1.weight", "...experts.1.w1.weight"] : tensor<2x96x64xf32>`

    Checkpoints store per-expert weights as separate tensors; `expert_ffn`
    wants them as one `[E, ...]` operand. The stack is a layout decision for
    the weight archive (the members are written back to back), not a copy at
    run time. Every member has the shape of the result without its first dim.
  }];
  let arguments = (ins StrArrayAttr:$names);
  let results = (outs Chimera_AnyTensor:$result);
  let assemblyFormat = "$names attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Transformer building blocks
//===----------------------------------------------------------------------===//

def Chimera_EmbedOp : Chimera_InferredOp<"embed"> {
  let summary = "embedding lookup";
  let description = [{
    `out[..., h] = table[ids[...], h]` for `table : [V, H]`, integer `ids`
    of any rank; the result is `ids.shape ++ [H]` of the table's element type.
    With `scale`, every row is multiplied by it (Gemma scales its embeddings
    by `sqrt(hidden_size)`).
  }];
  let arguments = (ins Chimera_FloatTensor:$table, Chimera_IntTensor:$ids,
                       OptionalAttr<F64Attr>:$scale);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$table `,` $ids attr-dict `:` functional-type(operands, results)";
}

def Chimera_LinearOp : Chimera_InferredOp<"linear", [AttrSizedOperandSegments]> {
  let summary = "x · Wᵀ (+ b), optionally with a quantised weight";
  let description = [{
    `out[..., n] = Σ_k x[..., k] · w[n, k] + bias[n]`

    `weight` is in checkpoint layout `[N, K]` (`[out, in]`). Without `quant`
    it is a float tensor; with `quant = #chimera.quant<...>` it is the stored
    form described by that attribute, `scales` (and for `fp4_m0e4`
    `offsets`) are required, and `w` is the dequantised weight given by the
    attribute's formula. The result has `x`'s element type.

    With `panel = P` (a float weight only), the weight is stored in panels
    of P output rows, each K-major: `weight : [N/P, K, P]` and
    `w[n, k] = weight[n / P, k, n % P]`. `chimera-pack-weights` chooses this
    layout at compile time for kernels that broadcast one x element over a
    panel's P outputs; the archive writer transposes the checkpoint tensor.
    When N is not a multiple of P, `rows = N` says so: the last panel's
    `weight.dim(0) · P - N` rows past N are zeros the archive writer adds,
    and the result has N outputs (without `rows`, N is `weight.dim(0) · P`).
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_AnyTensor:$weight,
                       Optional<Chimera_AnyTensor>:$scales,
                       Optional<Chimera_FloatTensor>:$offsets,
                       Optional<Chimera_FloatTensor>:$bias,
                       OptionalAttr<Chimera_QuantAttr>:$quant,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$panel,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$rows);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`scales` `(` $scales^ `)`)? (`offsets` `(` $offsets^ `)`)?
    (`bias` `(` $bias^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

def Chimera_RmsNormOp : Chimera_InferredOp<"rms_norm"> {
  let summary = "RMSNorm over the last dim";
  let description = [{
    `out = x / sqrt(mean_h(x²) + epsilon) · w`, with `w = 1 + weight` when
    `unit_offset` is set (Gemma) and `w = weight` otherwise. The statistics
    are computed in f32.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_FloatTensor:$weight,
                       DefaultValuedAttr<F64Attr, "1e-6">:$epsilon,
                       UnitAttr:$unit_offset);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` functional-type(operands, results)";
}

def Chimera_LayerNormOp : Chimera_InferredOp<"layer_norm", [AttrSizedOperandSegments]> {
  let summary = "LayerNorm over the last dim, optional affine";
  let description = [{
    `out = (x - mean_h(x)) / sqrt(var_h(x) + epsilon) · weight + bias`
    (biased variance; `weight` defaults to 1 and `bias` to 0 when absent).
  }];
  let arguments = (ins Chimera_FloatTensor:$input,
                       Optional<Chimera_FloatTensor>:$weight,
                       Optional<Chimera_FloatTensor>:$bias,
                       DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = [{
    $input (`weight` `(` $weight^ `)`)? (`bias` `(` $bias^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def Chimera_SiluOp : Chimera_InferredOp<"silu"> {
  let summary = "x · sigmoid(x)";
  let description = [{ `out = x / (1 + exp(-x))`, elementwise. }];
  let arguments = (ins Chimera_FloatTensor:$input);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Chimera_GeluOp : Chimera_InferredOp<"gelu"> {
  let summary = "GELU, exact or tanh-approximated";
  let description = [{
    Exact: `out = 0.5 x (1 + erf(x / √2))`.
    With `approximate`: `out = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))`
    (HF `gelu_pytorch_tanh`).
  }];
  let arguments = (ins Chimera_FloatTensor:$input, UnitAttr:$approximate);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Chimera_GluOp : Chimera_InferredOp<"glu"> {
  let summary = "gated activation act(gate) · up (SwiGLU, GeGLU)";
  let description = [{ `out = act(gate) · up`, elementwise, same shapes. }];
  let arguments = (ins Chimera_FloatTensor:$gate, Chimera_FloatTensor:$up,
                       Chimera_ActivationAttr:$activation);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$gate `,` $up attr-dict `:` functional-type(operands, results)";
}

def Chimera_RopeOp : Chimera_InferredOp<"rope"> {
  let summary = "rotary position embedding by position ids";
  let description = [{
    `x : [B, L, heads, D]`, `positions : [B, L]` (integer). With `r =
    rotary_dim` (default `D`, even, ≤ `D`), pair `j ∈ [0, r/2)` rotates by
    `θ_j = positions[b, l] · theta^(-2j / r)`:

    * `half` (HF Llama `rotate_half`): pairs `(j, j + r/2)`;
    * `interleaved` (GPT-J): pairs `(2j, 2j + 1)`.

    For a pair `(a, c)`: `out[a] = x[a] cos θ_j − x[c] sin θ_j`,
    `out[c] = x[c] cos θ_j + x[a] sin θ_j`; dims `≥ r` pass through.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_IntTensor:$positions,
                       DefaultValuedAttr<F64Attr, "10000.0">:$theta,
                       OptionalAttr<I64Attr>:$rotary_dim,
                       DefaultValuedAttr<Chimera_RopeStyleAttr, "RopeStyle::Half">:$style);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$input `,` $positions attr-dict `:` functional-type(operands, results)";
}

def Chimera_AttentionOp : Chimera_InferredOp<"attention"> {
  let summary = "scaled dot-product attention with GQA/MQA and masks";
  let description = [{
    `q : [B, S, Hq, D]`, `k : [B, T, Hkv, D]`, `v : [B, T, Hkv, Dv]`,
    `Hq % Hkv == 0`, query head `h` reads kv head `h / (Hq / Hkv)`;
    `positions : [B, S]` holds the absolute position `p` of each query (and
    is required unless `mask = none`). Key `t` is the key at position `t`.

    `s[b, h, i, t] = scale · Σ_d q[b, i, h, d] k[b, t, h', d]` (default
    `scale = 1/√D`), masked to −∞ where `t` is not visible,
    `out[b, i, h, e] = Σ_t softmax_t(s)[b, h, i, t] · v[b, t, h', e]`.

    Visibility of key `t` to a query at position `p`:
    * `none`: every `t < T`;
    * `causal`: `t ≤ p`;
    * `sliding_window`: `p − window < t ≤ p`;
    * `block_causal`: `seg(t) ≤ seg(p)` where `seg` is the index of the
      segment of `segments` (lengths, e.g. VAR's `pn²`) containing a position.
  }];
  let arguments = (ins Chimera_FloatTensor:$query, Chimera_FloatTensor:$key,
                       Chimera_FloatTensor:$value,
                       Optional<Chimera_IntTensor>:$positions,
                       DefaultValuedAttr<Chimera_MaskKindAttr, "MaskKind::Causal">:$mask,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<I64Attr>:$window,
                       OptionalAttr<DenseI64ArrayAttr>:$segments);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`positions` `(` $positions^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def Chimera_LastTokenOp : Chimera_InferredOp<"last_token"> {
  let summary = "each row's activations at its last valid position";
  let description = [{
    `input : [B, S, H]`, integer `lengths : [B]`:
    `out[b, 0, h] = input[b, clamp(lengths[b], 1, S) − 1, h]`, a `[B, 1, H]`
    tensor. Placed before the LM head it computes logits only where the
    next token is sampled (`chimera-compile --logits=last`): for a prompt of
    S tokens the head's work drops S-fold.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_IntTensor:$lengths);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $lengths attr-dict `:` functional-type(operands, results)
  }];
}

def Chimera_CacheWriteOp : Chimera_InferredOp<"cache_write"> {
  let summary = "write new rows into a preallocated cache at per-row offsets";
  let description = [{
    `cache : [B, Tmax, ...]`, `update : [B, S, ...]`, `offsets : [B]`:
    `out = cache` except `out[b, offsets[b] + s, ...] = update[b, s, ...]`
    for `s < S`; requires `offsets[b] + S ≤ Tmax` (the runtime checks it).
    The result aliases the cache after bufferization: the reference lowering
    is an `scf.for` of `tensor.insert_slice` on the cache value, which
    one-shot bufferization turns into in-place `memref.subview` copies of
    the new rows only — the cache itself is never copied.
  }];
  let arguments = (ins Chimera_AnyTensor:$cache, Chimera_AnyTensor:$update,
                       Chimera_IntTensor:$offsets);
  let results = (outs Chimera_AnyTensor:$result);
  let assemblyFormat = "$cache `,` $update `,` $offsets attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// State-space models (Mamba)
//===----------------------------------------------------------------------===//

def Chimera_CausalConv1dOp : Chimera_InferredOp<"causal_conv1d", [AttrSizedOperandSegments]> {
  let summary = "depthwise causal conv1d with carried state";
  let description = [{
    `x : [B, L, Dc]`, `weight : [Dc, W]`, `bias : [Dc]`, `state : [B, W−1, Dc]`
    (the previous `W−1` inputs; zeros when absent). With
    `xe = concat_time(state, x)` (`[B, W−1+L, Dc]`):

    `y[b, t, c] = act(bias[c] + Σ_{i<W} weight[c, i] · xe[b, t+i, c])`,
    `new_state = xe[b, L : L+W−1, c]`.

    With `lengths : [B]` (integer), row `b` holds only `lengths[b] ≤ L` valid
    inputs (a right-padded batch); its state is taken after them:
    `new_state[b] = xe[b, lengths[b] : lengths[b]+W−1]`.

    Matches `causal_conv1d_ref` (left zero padding) and HF Mamba's cached
    conv step. `activation` is `identity` or `silu`.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_FloatTensor:$weight,
                       Optional<Chimera_FloatTensor>:$bias,
                       Optional<Chimera_FloatTensor>:$state,
                       Optional<Chimera_IntTensor>:$lengths,
                       DefaultValuedAttr<Chimera_ActivationAttr, "Activation::Identity">:$activation);
  let results = (outs Chimera_FloatTensor:$result, Chimera_FloatTensor:$new_state);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `)`)? (`state` `(` $state^ `)`)?
    (`lengths` `(` $lengths^ `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
}

def Chimera_SelectiveScanOp : Chimera_InferredOp<"selective_scan", [AttrSizedOperandSegments]> {
  let summary = "Mamba's selective scan (prefill and decode)";
  let description = [{
    `u, delta, z : [B, L, D]`, `A : [D, N]`, `B, C : [B, L, N]`, `D,
    delta_bias : [D]`, `initial_state : [B, D, N]` (zeros when absent):

    `Δ_t = delta_softplus ? softplus(delta_t + delta_bias) : delta_t + delta_bias`
    `x_t = exp(Δ_t A) ⊙ x_{t−1} + Δ_t B_t u_t`  (per `b, d, n`)
    `y_t = Σ_n x_t[n] C_t[n] + D u_t`, then `y_t · silu(z_t)` when `z` is given.

    Returns `y : [B, L, D]` and the final state `x_L : [B, D, N]`. With
    `lengths : [B]` (integer), row `b` has `lengths[b] ≤ L` valid steps (a
    right-padded batch) and its final state is `x_{lengths[b]}`. One op
    serves prefill (`L` tokens) and decode (`L = 1`, with `initial_state`).
    `softplus(x) = log(1 + exp(x))`, and `x` above 20 (PyTorch's threshold).
  }];
  let arguments = (ins Chimera_FloatTensor:$u, Chimera_FloatTensor:$delta,
                       Chimera_FloatTensor:$A, Chimera_FloatTensor:$B,
                       Chimera_FloatTensor:$C,
                       Optional<Chimera_FloatTensor>:$D,
                       Optional<Chimera_FloatTensor>:$z,
                       Optional<Chimera_FloatTensor>:$delta_bias,
                       Optional<Chimera_FloatTensor>:$initial_state,
                       Optional<Chimera_IntTensor>:$lengths,
                       UnitAttr:$delta_softplus);
  let results = (outs Chimera_FloatTensor:$result, Chimera_FloatTensor:$final_state);
  let assemblyFormat = [{
    $u `,` $delta `,` $A `,` $B `,` $C (`D` `(` $D^ `)`)? (`z` `(` $z^ `)`)?
    (`delta_bias` `(` $delta_bias^ `)`)? (`init` `(` $initial_state^ `)`)?
    (`lengths` `(` $lengths^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Expert routing (MoE)
//===----------------------------------------------------------------------===//

def Chimera_RouteTopKOp : Chimera_InferredOp<"route_topk"> {
  let summary = "router logits → (weights, expert ids)";
  let description = [{
    `logits : [T, E]` → `weights : [T, k]` (logits' element type),
    `ids : [T, k]` (i64), experts in decreasing order of score, ties to the
    lower index.

    * `softmax_topk`: `p = softmax(logits)`, take the top `k` of `p`; with
      `renormalize`, `weights = p_sel / Σ p_sel` (Mixtral), else `p_sel`
      (Jamba).
    * `topk_softmax`: take the top `k` logits, `weights = softmax(sel)`.
  }];
  let arguments = (ins Chimera_FloatTensor:$logits,
                       ConfinedAttr<I64Attr, [IntPositive]>:$k,
                       DefaultValuedAttr<Chimera_RouteModeAttr, "RouteMode::SoftmaxTopK">:$mode,
                       UnitAttr:$renormalize);
  let results = (outs Chimera_FloatTensor:$weights, Chimera_IntTensor:$ids);
  let assemblyFormat = "$logits attr-dict `:` functional-type(operands, results)";
}

def Chimera_ExpertFfnOp : Chimera_InferredOp<"expert_ffn", [AttrSizedOperandSegments]> {
  let summary = "weighted sum of routed expert FFNs over stacked weights";
  let description = [{
    `x : [T, H]`, `weights : [T, k]`, `ids : [T, k]`, `w_up : [E, I, H]`,
    `w_down : [E, H, I]`, optional `w_gate : [E, I, H]`:

    `out[t] = Σ_j weights[t, j] · FFN_{ids[t, j]}(x[t])` with
    gated `FFN_e(x) = w_down[e] · (act(w_gate[e] x) ⊙ w_up[e] x)` (SwiGLU,
    GeGLU) or plain `FFN_e(x) = w_down[e] · act(w_up[e] x)`.

    With `quant = #chimera.quant<int8>` the stacked weights are `i8` codes
    and `up_scales : [E, I]`, `down_scales : [E, H]` (and `gate_scales :
    [E, I]`) hold one f32 scale per expert output row:
    `w[e, n, k] = scales[e, n] · q[e, n, k]`.

    With `quant = #chimera.quant<int4, group_size = G>` they hold two codes
    per byte as `linear` does (`w_up : [E, I, H/2]`, `w_down : [E, H, I/2]`)
    and the scales one value per group of each row (`up_scales : [E, I,
    H/G]`, `down_scales : [E, H, I/G]`):
    `w[e, n, k] = scales[e, n, k/G] · int4(q[e, n, k/2] nibble k%2)`.

    With `fp4_m0e4` and `mxfp4` the codes are packed the same way and each
    group is decoded as `linear` decodes it: fp4_m0e4 adds `up_offsets`,
    `down_offsets` (and `gate_offsets`), shaped as the scales; mxfp4's
    scales are i8 E8M0 exponents.

    With `panel = P` (float weights only) each expert's matrices are stored
    as `linear`'s panels of P output rows, K-major: `w_up`, `w_gate :
    [E, I/P, H, P]`, `w_down : [E, H/P, I, P]`, and
    `w[e, n, k] = stored[e, n / P, k, n % P]`. P divides I and H (no padded
    panel). `chimera-pack-weights` chooses it for the x86 kernels.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_FloatTensor:$weights,
                       Chimera_IntTensor:$ids,
                       AnyRankedTensor:$w_up, AnyRankedTensor:$w_down,
                       Optional<AnyRankedTensor>:$w_gate,
                       Optional<AnyRankedTensor>:$up_scales,
                       Optional<AnyRankedTensor>:$down_scales,
                       Optional<AnyRankedTensor>:$gate_scales,
                       Optional<Chimera_FloatTensor>:$up_offsets,
                       Optional<Chimera_FloatTensor>:$down_offsets,
                       Optional<Chimera_FloatTensor>:$gate_offsets,
                       DefaultValuedAttr<Chimera_ActivationAttr, "Activation::Silu">:$activation,
                       OptionalAttr<Chimera_QuantAttr>:$quant,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$panel);
  let results = (outs Chimera_FloatTensor:$result);
  let extraClassDeclaration = [{
    /// I, the experts' intermediate size, whatever the weights' layout.
    int64_t getIntermediateSize();
  }];
  let assemblyFormat = [{
    $input `,` $weights `,` $ids `,` $w_up `,` $w_down (`gate` `(` $w_gate^ `)`)?
    (`up_scales` `(` $up_scales^ `)`)? (`down_scales` `(` $down_scales^ `)`)?
    (`gate_scales` `(` $gate_scales^ `)`)?
    (`up_offsets` `(` $up_offsets^ `)`)? (`down_offsets` `(` $down_offsets^ `)`)?
    (`gate_offsets` `(` $gate_offsets^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Depth routing (Mixture-of-Depths)
//===----------------------------------------------------------------------===//

def Chimera_DepthRouteOp : Chimera_Op<"depth_route", [
    InferTypeOpAdaptor, SingleBlock, AttrSizedOperandSegments,
    RecursiveMemoryEffects]> {
  let summary = "Mixture-of-Depths: run the block on the routed tokens only";
  let description = [{
    `x : [B, S, H]`, `scores : [B, S]` (router weight per token),
    `positions : [B, S]`. With `lengths : [B]`, row `b` holds `lengths[b]`
    valid tokens (a right-padded batch): the others are never selected and
    the top-k modes rank the valid ones, `S` below read as `lengths[b]`.
    Per batch row, a set of tokens is selected:

    * `topk`: the `k = max(1, ⌊capacity · S⌋)` highest scores (ties to the
      lower index);
    * `topk_strict` (the public reference implementation): with `thr` the
      `k`-th largest score, tokens with `score > thr` when `k > 1`, `score
      ≥ thr` when `k = 1`;
    * `threshold` (causal: a token's decision depends on its score alone,
      so decode can route token by token): tokens with `score > threshold`.
      `capacity` is then the fraction the threshold was trained to select;
      it only informs cost estimates.

    The selected tokens, in sequence order, form `x_sel : [1, K, H]` and
    `pos_sel : [1, K]` (their original positions), the region's first two
    arguments. Each `states` operand (`[B, ...]`, e.g. a routed layer's KV
    cache and the count of tokens in it) is carried per row: the region
    gets row `b` of it (`[1, ...]`) after the two, and yields its new value
    after `y_sel : [1, K, H]`, the block's output; the op's results after
    the mask are the new states. In `threshold` mode a row may select no
    token (`K = 0`): the block is then not run at all and the row's states
    pass through unchanged.

    Output: `out[b, s] = x[b, s]` for unselected tokens and
    `out[b, s] = w · y_sel[k(s)]` for selected ones, `w = scores[b, s]` with
    `scale_by_score`, else `1`. The second result is the selection mask.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_FloatTensor:$scores,
                       Chimera_IntTensor:$positions,
                       Optional<Chimera_IntTensor>:$lengths,
                       Variadic<AnyRankedTensor>:$states,
                       DefaultValuedAttr<F64Attr, "0.125">:$capacity,
                       DefaultValuedAttr<Chimera_DepthSelectionAttr, "DepthSelection::TopK">:$selection,
                       DefaultValuedAttr<F64Attr, "0.0">:$threshold,
                       UnitAttr:$scale_by_score);
  let results = (outs Chimera_FloatTensor:$result, RankedTensorOf<[I1]>:$selected,
                      Variadic<AnyRankedTensor>:$new_states);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $input `,` $scores `,` $positions (`lengths` `(` $lengths^ `)`)?
    (`states` `(` $states^ `)`)? attr-dict `:` functional-type(operands, results)
    $body
  }];
  let extraClassDeclaration = [{
    /// The region's view of a `[B, ...]` state: one row, `[1, ...]`.
    static RankedTensorType rowType(RankedTensorType state);
  }];
  let hasRegionVerifier = 1;
  let skipDefaultBuilders = 1;
  let builders = [
    OpBuilder<(ins "Value":$input, "Value":$scores, "Value":$positions,
                   "double":$capacity, "DepthSelection":$selection,
                   "double":$threshold, "bool":$scaleByScore,
                   CArg<"Value", "{}">:$lengths,
                   CArg<"ValueRange", "{}">:$states)>
  ];
}

//===----------------------------------------------------------------------===//
// Next-scale prediction (VAR)
//===----------------------------------------------------------------------===//

def Chimera_ScaleInterpOp : Chimera_InferredOp<"scale_interp"> {
  let summary = "resize [B, C, h, w] maps (nearest, area down, bicubic up)";
  let description = [{
    `x : [B, C, h, w]` (static `h, w`) → `[B, C, size[0], size[1]]`, as
    PyTorch's `F.interpolate` (`align_corners = False`):

    * `nearest`: `out[i] = x[min(⌊i · h/H⌋, h−1)]`;
    * `area` (= adaptive average pooling): `out[i]` is the mean of
      `x[⌊i h/H⌋ : ⌈(i+1) h/H⌉]`;
    * `bicubic`: `src = (i + ½) h/H − ½`, `i₀ = ⌊src⌋`, `t = src − i₀`,
      `out[i] = Σ_{m=−1..2} c_m(t) x[clamp(i₀+m, 0, h−1)]` with Keys' cubic
      convolution weights, `A = −0.75`.

    Each axis is separable: `out = Ry · x · Rxᵀ`.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, DenseI64ArrayAttr:$size,
                       Chimera_InterpModeAttr:$mode);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Chimera_Conv2dOp : Chimera_InferredOp<"conv2d"> {
  let summary = "2-D convolution, NCHW input, FCHW weight, stride 1";
  let description = [{
    `x : [B, Ci, H, W]`, `weight : [Co, Ci, kh, kw]`, `bias : [Co]`
    (optional), zero padding `padding` on every side:
    `out[b, o, i, j] = bias[o] + Σ_{c, p, q} weight[o, c, p, q] ·
    x[b, c, i + p − padding, j + q − padding]`, a `[B, Co, H + 2·padding −
    kh + 1, W + 2·padding − kw + 1]` tensor (PyTorch's `nn.Conv2d` with
    stride 1). Spatial and channel dims must be static.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_FloatTensor:$weight,
                       Optional<Chimera_FloatTensor>:$bias,
                       DefaultValuedAttr<I64Attr, "0">:$padding);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` `(` $bias^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

def Chimera_GroupNormOp : Chimera_InferredOp<"group_norm"> {
  let summary = "GroupNorm over channel groups of [B, C, ...] maps";
  let description = [{
    `x : [B, C, d...]`, `weight, bias : [C]`; the `C` channels form
    `num_groups` groups of `C / num_groups` consecutive channels. For each
    `(b, g)`, `mean` and biased `var` are taken over the group's channels
    and all trailing dims: `out = (x − mean) / sqrt(var + epsilon) ·
    weight[c] + bias[c]` (PyTorch's `nn.GroupNorm`). Statistics in f32.
  }];
  let arguments = (ins Chimera_FloatTensor:$input, Chimera_FloatTensor:$weight,
                       Chimera_FloatTensor:$bias, I64Attr:$num_groups,
                       DefaultValuedAttr<F64Attr, "1e-5">:$epsilon);
  let results = (outs Chimera_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)
  }];
}

def Chimera_SampleOp : Chimera_InferredOp<"sample"> {
  let summary = "seeded top-k / top-p sampling from logits, compiled";
  let description = [{
    `logits : [..., V]` (f32), scalars `top_k : tensor<i64>`,
    `top_p : tensor<f32>`, `seed : tensor<i64>`; the result holds one id per
    row, `logits.shape[:-1]` of i64. Per row, as VAR's
    `sample_with_top_k_top_p_` filters:

    * top-k (`top_k > 0`): id `v` is kept iff fewer than `top_k` ids have a
      larger logit (ties at the k-th value are all kept);
    * top-p (`top_p > 0`): with `p` the softmax of the kept logits and
      `S(v) = Σ p[u]` over ids `u` ordered before or at `v` by (logit, id),
      `v` is dropped iff `S(v) ≤ 1 − top_p` and `v` is not the row's largest;
    * draw: `u ∈ [0, 1)` from a counter-based generator (SplitMix64 of
      `seed`, `stream` and the row index), and the id is the first `v` with
      `Σ_{w ≤ v} p[w] > u · Σ p` (the row's argmax when rounding leaves
      none).

    With `top_k = 1` the draw always returns the argmax: the result does
    not depend on the seed.
  }];
  let arguments = (ins Chimera_FloatTensor:$logits,
                       RankedTensorOf<[I64]>:$top_k,
                       RankedTensorOf<[F32]>:$top_p,
                       RankedTensorOf<[I64]>:$seed,
                       DefaultValuedAttr<I64Attr, "0">:$stream);
  let results = (outs RankedTensorOf<[I64]>:$result);
  let assemblyFormat = [{
    $logits `,` $top_k `,` $top_p `,` $seed attr-dict `:` functional-type(operands, results)
  }];
}

def Chimera_NextScaleGenerateOp : Chimera_Op<"next_scale_generate", [
    InferTypeOpAdaptor, RecursiveMemoryEffects]> {
  let summary = "VAR's coarse-to-fine generation over a static scale schedule";
  let description = [{
    `patch_nums = [p_0 < p_1 < … < p_(S−1)]` is the static scale schedule,
    and the op has one step region per scale. Step `k` works on the
    `p_k × p_k` token map of its scale with static shapes; it takes the
    carried values as block arguments and yields their next values (same
    types). The first carried value is the multi-scale residual
    `f_hat : [B, C, p_(S−1), p_(S−1)]`, accumulated by the steps as
    `f_hat += phi_k(up(h_k))`; further carried values (the token maps of all
    scales, the KV caches preallocated to `Σ p_k²` tokens) are free.

    `carried_0 = inits; carried_{k+1} = step_k(carried_k)`; the results are
    `carried_S`. The compiler unrolls the schedule by inlining the steps in
    order, so every kernel of every scale has static shapes and the caches
    are written in place.
  }];
  let arguments = (ins Variadic<Chimera_AnyTensor>:$inits, DenseI64ArrayAttr:$patch_nums);
  let results = (outs Variadic<Chimera_AnyTensor>:$results);
  let regions = (region VariadicRegion<SizedRegion<1>>:$steps);
  let assemblyFormat = "$inits attr-dict `:` functional-type($inits, results) $steps";
  let hasRegionVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Host schedule
//===----------------------------------------------------------------------===//

def Chimera_LaunchOp : Chimera_Op<"launch", [
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "run a kernel over a 1-D grid on the runtime's thread pool";
  let description = [{
    `chimera.launch @kernel[%n](%a, %b) : memref<?xf32>, index`

    Calls `@kernel(%begin, %end, %a, %b)` for disjoint ranges
    `[begin, end)` covering `[0, n)`, possibly concurrently, and returns when
    all have finished. `@kernel` is a `func.func` whose arguments are two
    `index` values followed by the operands' types. This is the one kernel
    abstraction of the design: `chimera-outline-kernels` forms kernels from
    parallel loops, and each target lowers the launch to its runtime (x86: a
    call to `chimera_parallel_for`). On GPU targets
    `chimera-kernels-to-gpu` moves the kernel into
    `gpu.module @chimera_kernels` and the launch refers to it by its nested
    name (`@chimera_kernels::@kernel`), one grid item per invocation.

    `item_work`, when present, is the compiler's estimate of the operations
    one grid item executes (a vector op counted per 16 lanes). The x86
    runtime runs a grid whose total work is too small to pay for waking its
    workers on the calling thread alone; without it every grid is spread.
  }];
  let arguments = (ins SymbolRefAttr:$kernel, Index:$grid,
                       Variadic<AnyType>:$kernel_operands,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$item_work);
  let assemblyFormat = [{
    $kernel `[` $grid `]` `(` $kernel_operands `)` attr-dict `:` type($kernel_operands)
  }];
}

def Chimera_YieldOp : Chimera_Op<"yield", [
    Pure, ReturnLike, Terminator,
    ParentOneOf<["DepthRouteOp", "NextScaleGenerateOp"]>]> {
  let summary = "terminator of chimera region ops";
  let description = [{ Yields the region's values to its parent op. }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

#endif // CHIMERA_OPS_TD
