//===- Config.h - HuggingFace config.json for the supported families -*- C++ -*-===//
//
// Reads a HuggingFace `config.json` into one flat description of the model.
// Key names and defaults are those of the transformers v4.44 config classes
// (LlamaConfig, MistralConfig, GemmaConfig, MixtralConfig, MambaConfig,
// JambaConfig). The keys that fix a model's structure (vocab_size,
// hidden_size, num_hidden_layers, and for attention models
// num_attention_heads and intermediate_size) are required: a config without
// them would silently describe HF's 7B default. Every error names the file
// and the key.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_FRONTENDS_HF_CONFIG_H
#define CHIMERA_FRONTENDS_HF_CONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chimera::hf {

enum class Family { Llama, Mistral, Gemma, Mixtral, Mamba, Jamba, Var };

llvm::StringRef familyName(Family family);

/// The activation of a feed-forward network, as HF names it.
enum class HiddenAct { Silu, Gelu, GeluTanh, Relu };

/// VAR (FoundationVision/VAR): the `VAR(...)` kwargs, the VQVAE's
/// `vae_kwargs` and its fixed `ddconfig` (`_vqvae_fixed_ddconfig`).
struct VarConfig {
  // Transformer.
  int64_t numClasses = 0, depth = 0, embedDim = 0, numHeads = 0;
  double mlpRatio = 4.0, normEps = 1e-6;
  bool sharedAln = false, attnL2Norm = true;
  std::vector<int64_t> patchNums;
  // VQVAE.
  int64_t vocabSize = 0, zChannels = 0, ch = 0, shareQuantResi = 4;
  std::vector<int64_t> chMult;
  int64_t numResBlocks = 2;
  bool usingSa = true, usingMidSa = true;
  double quantResi = 0.5;
  int64_t imageSize = 0;
  int64_t imageChannels = 3;

  /// Σ p² over the schedule.
  int64_t tokens() const;
  /// The latent side: image size / 2^(len(ch_mult) - 1).
  int64_t latentSize() const;
};

struct ModelConfig {
  Family family;
  std::string modelType;    // "llama", ...
  std::string architecture; // architectures[0], "" when absent

  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t numLayers = 0;
  int64_t maxPositionEmbeddings = 0;
  bool tieWordEmbeddings = false;
  double normEps = 1e-6; // rms_norm_eps, Mamba's layer_norm_epsilon

  // Attention (all but Mamba).
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  double ropeTheta = 10000.0;
  std::optional<int64_t> slidingWindow;
  bool attentionBias = false;

  // Feed-forward (all but Mamba).
  int64_t intermediateSize = 0;
  HiddenAct hiddenAct = HiddenAct::Silu;
  bool mlpBias = false;

  // Experts (Mixtral, Jamba).
  int64_t numExperts = 0;
  int64_t numExpertsPerTok = 0;

  // Jamba's layer layout: layer i is attention iff i % attnPeriod ==
  // attnOffset, and has experts iff i % expertPeriod == expertOffset.
  int64_t attnLayerPeriod = 0, attnLayerOffset = 0;
  int64_t expertLayerPeriod = 0, expertLayerOffset = 0;

  // Mixture-of-Depths (LlamaMoDForCausalLM): which layers are routed is
  // read from the checkpoint (those with router.weight_predictor.*); the
  // public reference hard-codes the capacity. Causal routing (`mod_routing:
  // "causal"`) selects a token when its router score exceeds the layer's
  // threshold (`mod_threshold`: one for every routed layer, or one each).
  bool mixtureOfDepths = false;
  double depthCapacity = 0.125;
  bool causalDepthRouting = false;
  std::vector<double> depthThresholds;

  // Mamba mixer (Mamba, Jamba).
  int64_t ssmStateSize = 0;
  int64_t convKernel = 0;
  int64_t ssmInnerSize = 0; // expand * hidden_size
  int64_t dtRank = 0;       // "auto" resolved to ceil(hidden_size / 16)
  bool convBias = true;
  bool projBias = false;

  // VAR (family Var); the fields above hold its transformer's sizes.
  VarConfig var;

  bool isAttentionLayer(int64_t layer) const;
  bool isMambaLayer(int64_t layer) const;
  bool isExpertLayer(int64_t layer) const;
};

/// Parses `json` (the contents of `path`, used in messages).
llvm::Expected<ModelConfig> parseConfig(llvm::StringRef json,
                                        llvm::StringRef path);

/// Reads and parses `path`.
llvm::Expected<ModelConfig> readConfig(llvm::StringRef path);

} // namespace chimera::hf

#endif // CHIMERA_FRONTENDS_HF_CONFIG_H
