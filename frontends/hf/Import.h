//===- Import.h - HuggingFace checkpoint -> chimera IR ----------*- C++ -*-===//
//
// Builds one function, `@forward`, for a checkpoint folder. It serves prefill
// and decode alike (symbolic batch and sequence length):
//
//   func.func @forward(%input_ids: tensor<?x?xi64>,  // [B, S]
//                      %positions: tensor<?x?xi64>,  // [B, S] absolute
//                      %lengths: tensor<?xi64>,      // [B] valid tokens per row
//                      <caches>...)
//       -> (tensor<?x?xVxf32> /*logits*/, <updated caches>...)
//
// (logits are tensor<?x1xVxf32> with ImportOptions::lastLogitsOnly.)
//
// Caches, in layer order: an attention layer has `k_cache`, `v_cache`
// ([B, T, kv_heads, head_dim], written at positions[b, 0]); a Mamba layer has
// `conv_state` ([B, conv_kernel - 1, inner]) and `ssm_state`
// ([B, inner, state_size]). A causally depth-routed layer has `routed_count`
// ([B] i64: how many tokens its block has taken) and compact `k_cache`,
// `v_cache` holding only those tokens, in order; a reference-routed layer
// has none (the sequence is rerun). Every argument and result carries its name in a
// `chimera.name` attribute. Weights are `chimera.param` by checkpoint name.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_FRONTENDS_HF_IMPORT_H
#define CHIMERA_FRONTENDS_HF_IMPORT_H

#include "frontends/hf/Checkpoint.h"

#include "dialects/chimera/ChimeraAttrs.h"

#include "mlir/IR/BuiltinOps.h"

#include <optional>
#include "mlir/IR/OwningOpRef.h"

namespace chimera::hf {

/// What the imported `@forward` computes besides the model itself.
struct ImportOptions {
  /// Element type of the matrices and embedding tables (default f32; bf16
  /// halves what a decode step reads); kernels upcast them as they load.
  /// Activations and accumulation are always f32.
  mlir::Type weightType;
  /// Every depth-routed layer's decisions become extra results after the
  /// caches: `router_selected.layer<i>` (i64 [B, S], 1 = processed by the
  /// block), for tests against the reference's.
  bool exposeRouting = false;
  /// Logits only at each row's last valid position (`lengths[b] - 1`):
  /// `logits` is [B, 1, V] and the LM head runs once per row, not once per
  /// prompt token. Not for models whose decode reruns the sequence.
  bool lastLogitsOnly = false;
  /// Linear weights and expert FFN stacks stored quantised (null: in
  /// `weightType`; 4-bit expert stacks are codes [E, N, K/2], scales [E, N,
  /// K/G], fp4_m0e4's offsets as its scales). Routers, the Mamba dt_proj
  /// and embedding tables stay in `weightType` (an LM head tied to the
  /// embedding gets a quantised copy); norms, SSM A/D, conv and biases are
  /// f32.
  mlir::chimera::QuantAttr quant;
  /// Mixture-of-Depths: the fraction of tokens each routed block takes
  /// (the public reference hard-codes 0.125).
  std::optional<double> depthCapacity;
  /// Mixture-of-Depths routing, overriding the checkpoint's `mod_routing`:
  /// causal (a token runs the block when its router score exceeds the
  /// layer's threshold, so decode routes token by token against a compact
  /// KV cache per routed layer) or the reference's whole-sequence top-k.
  std::optional<bool> causalDepthRouting;
  /// Causal routing's thresholds, overriding `mod_threshold`: one for every
  /// routed layer, or one each (in layer order). Default 0.
  std::vector<double> depthThresholds;
  /// VAR: import the teacher-forced forward (logits of given token maps)
  /// instead of the generator.
  bool teacherForcing = false;
};

/// Imports `ckpt`.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importCheckpoint(mlir::MLIRContext &ctx, const Checkpoint &ckpt,
                 const ImportOptions &options = {});

/// Verifies an importer's module; an error names the checkpoint (the
/// diagnostics say what is wrong: an importer bug, never bad input).
llvm::Error verifyImported(mlir::ModuleOp module, const Checkpoint &ckpt);

/// Imports a FoundationVision/VAR folder (config.json with `vae_kwargs`,
/// var.safetensors, vae.safetensors): class-conditional generation and the
/// VQVAE decoder as one `@forward` (see ImportVar.cpp); with
/// `teacherForcing`, `VAR.forward` instead: the logits of given token maps.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importVarCheckpoint(mlir::MLIRContext &ctx, const Checkpoint &ckpt,
                    bool teacherForcing = false);

} // namespace chimera::hf

#endif // CHIMERA_FRONTENDS_HF_IMPORT_H
