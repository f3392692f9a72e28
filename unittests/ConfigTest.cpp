//===- ConfigTest.cpp - config.json keys and HF defaults ------------------===//
//
// The defaults below are those of the transformers v4.44 config classes; a
// key the checkpoint leaves out must mean what it means to HF.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/Config.h"

#include "gtest/gtest.h"

using namespace chimera::hf;

namespace {

ModelConfig parse(const std::string &json) {
  auto c = parseConfig(json, "config.json");
  EXPECT_TRUE(bool(c)) << llvm::toString(c.takeError());
  return c ? *c : ModelConfig();
}

std::string parseError(const std::string &json) {
  auto c = parseConfig(json, "config.json");
  if (c)
    return "";
  return llvm::toString(c.takeError());
}

TEST(Config, JambaLayerRulesAndAutoDtRank) {
  ModelConfig c = parse(R"({"model_type": "jamba", "vocab_size": 256,
    "hidden_size": 100, "num_hidden_layers": 16, "num_attention_heads": 4,
    "intermediate_size": 96, "num_key_value_heads": 2, "mamba_dt_rank": "auto"})");
  EXPECT_EQ(c.family, Family::Jamba);
  EXPECT_EQ(c.dtRank, 7); // ceil(100 / 16)
  // HF defaults: attention every 8 layers from 4, experts every 2 from 1.
  for (int i = 0; i < 16; ++i) {
    EXPECT_EQ(c.isAttentionLayer(i), i % 8 == 4) << i;
    EXPECT_EQ(c.isMambaLayer(i), i % 8 != 4) << i;
    EXPECT_EQ(c.isExpertLayer(i), i % 2 == 1) << i;
  }
  EXPECT_EQ(c.numExperts, 16);
  EXPECT_EQ(c.numExpertsPerTok, 2);
  EXPECT_EQ(c.ssmStateSize, 16);
  EXPECT_EQ(c.convKernel, 4);
  EXPECT_EQ(c.ssmInnerSize, 200);
  EXPECT_FALSE(c.tieWordEmbeddings);
  EXPECT_DOUBLE_EQ(c.normEps, 1e-6);
}

TEST(Config, JambaWithOneExpertHasNoMoeLayers) {
  ModelConfig c = parse(R"({"model_type": "jamba", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
    "num_key_value_heads": 2, "intermediate_size": 96, "num_experts": 1,
    "num_experts_per_tok": 1})");
  for (int i = 0; i < 4; ++i)
    EXPECT_FALSE(c.isExpertLayer(i));
}

TEST(Config, FamilyDefaults) {
  ModelConfig mamba = parse(R"({"model_type": "mamba", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 2})");
  EXPECT_TRUE(mamba.tieWordEmbeddings);
  EXPECT_EQ(mamba.dtRank, 4);
  EXPECT_EQ(mamba.ssmInnerSize, 128);
  EXPECT_DOUBLE_EQ(mamba.normEps, 1e-5);

  ModelConfig gemma = parse(R"({"model_type": "gemma", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 128, "hidden_act": "gelu"})");
  EXPECT_TRUE(gemma.tieWordEmbeddings);
  EXPECT_EQ(gemma.headDim, 256);
  // GemmaMLP ignores hidden_act; hidden_activation defaults to tanh GELU.
  EXPECT_EQ(gemma.hiddenAct, HiddenAct::GeluTanh);
  EXPECT_EQ(gemma.numKvHeads, 4);

  ModelConfig mistral = parse(R"({"model_type": "mistral", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 8,
    "intermediate_size": 128})");
  ASSERT_TRUE(mistral.slidingWindow.has_value());
  EXPECT_EQ(*mistral.slidingWindow, 4096);
  EXPECT_EQ(mistral.numKvHeads, 8);
  EXPECT_EQ(mistral.headDim, 8);

  ModelConfig noWindow = parse(R"({"model_type": "mistral", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 8,
    "intermediate_size": 128, "sliding_window": null})");
  EXPECT_FALSE(noWindow.slidingWindow.has_value());

  ModelConfig mixtral = parse(R"({"model_type": "mixtral", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 8,
    "intermediate_size": 128})");
  EXPECT_EQ(mixtral.numExperts, 8);
  EXPECT_DOUBLE_EQ(mixtral.ropeTheta, 1e6);
  EXPECT_DOUBLE_EQ(mixtral.normEps, 1e-5);
  EXPECT_FALSE(mixtral.slidingWindow.has_value());

  ModelConfig llama = parse(R"({"model_type": "llama", "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 128, "rope_scaling": null})");
  EXPECT_EQ(llama.numKvHeads, 4);
  EXPECT_DOUBLE_EQ(llama.ropeTheta, 10000.0);
  EXPECT_FALSE(llama.tieWordEmbeddings);
}

TEST(Config, ErrorsNameTheKey) {
  struct Case {
    const char *json, *expected;
  } cases[] = {
      {R"({"vocab_size": 1})", "key 'model_type' is required"},
      {R"({"model_type": 3})", "key 'model_type' must be a string"},
      {R"({"model_type": "llama", "vocab_size": 0, "hidden_size": 64,
          "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8})",
       "key 'vocab_size' must be >= 1, got 0"},
      {R"({"model_type": "llama", "vocab_size": 8, "hidden_size": "64",
          "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8})",
       "key 'hidden_size' must be an integer, got \"64\""},
      {R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 64,
          "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8,
          "rms_norm_eps": -1})",
       "key 'rms_norm_eps' must be a positive finite number"},
      {R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 64,
          "num_hidden_layers": 1, "num_attention_heads": 3, "intermediate_size": 8})",
       "key 'num_attention_heads' must divide hidden_size (64)"},
      {R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 64,
          "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 8,
          "tie_word_embeddings": "yes"})",
       "key 'tie_word_embeddings' must be true or false"},
      {R"({"model_type": "llama", "vocab_size": 8, "hidden_size": 4398046511105,
          "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8})",
       "key 'hidden_size' is out of range"},
      {R"({"model_type": "llama", "vocab_size": 1099511627776, "hidden_size": 1099511627776,
          "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8})",
       "key 'vocab_size' x hidden_size is too large"},
      {R"({"model_type": "mamba", "vocab_size": 8, "hidden_size": 64,
          "num_hidden_layers": 1, "intermediate_size": 100})",
       "key 'intermediate_size' must equal expand * hidden_size (128)"},
  };
  for (const Case &c : cases) {
    std::string err = parseError(c.json);
    EXPECT_NE(err.find(c.expected), std::string::npos)
        << "got '" << err << "' for " << c.json;
    EXPECT_EQ(err.rfind("config.json: ", 0), 0u) << err;
  }
}

} // namespace

namespace {

/// FoundationVision/VAR's kwargs (VAR-d16's schedule) with `extra` spliced in
/// at the top level.
std::string varConfig(const std::string &extra = "") {
  return R"({"vae_kwargs": {"vocab_size": 4096, "z_channels": 32, "ch": 160,
    "v_patch_nums": [1, 2, 3, 4, 5, 6, 8, 10, 13, 16]},
    "num_classes": 1000, "depth": 16, "embed_dim": 1024, "num_heads": 16,
    "patch_nums": [1, 2, 3, 4, 5, 6, 8, 10, 13, 16], "_image_size": 256,
    "_vqvae_fixed_ddconfig": {"ch_mult": [1, 1, 2, 2, 4],
      "num_res_blocks": 2, "quant_resi": 0.5})" +
         extra + "}";
}

} // namespace

TEST(Config, MixtureOfDepthsRouting) {
  const std::string base = R"({"model_type": "llama",
    "architectures": ["LlamaMoDForCausalLM"], "vocab_size": 256,
    "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
    "intermediate_size": 160)";
  // The reference's checkpoints say nothing: whole-sequence top-k.
  ModelConfig c = parse(base + "}");
  EXPECT_TRUE(c.mixtureOfDepths);
  EXPECT_FALSE(c.causalDepthRouting);
  EXPECT_TRUE(c.depthThresholds.empty());
  c = parse(base + R"(, "mod_routing": "causal", "mod_threshold": 0.25})");
  EXPECT_TRUE(c.causalDepthRouting);
  EXPECT_EQ(c.depthThresholds, std::vector<double>({0.25}));
  c = parse(base + R"(, "mod_routing": "causal", "mod_threshold": [0.5, -1]})");
  EXPECT_EQ(c.depthThresholds, std::vector<double>({0.5, -1.0}));
  EXPECT_EQ(parseError(base + R"(, "mod_routing": 1})"),
            "config.json: key 'mod_routing' must be a string, got 1");
  EXPECT_EQ(parseError(base + R"(, "mod_threshold": [0.5, "x"]})"),
            "config.json: key 'mod_threshold' must be a finite number or a "
            "non-empty list of them, got [0.5,\"x\"]");
  EXPECT_EQ(parseError(base + R"(, "mod_threshold": []})"),
            "config.json: key 'mod_threshold' must be a finite number or a "
            "non-empty list of them, got []");
}

TEST(Config, VarDefaultsAndSchedule) {
  ModelConfig c = parse(varConfig());
  EXPECT_EQ(c.family, Family::Var);
  const VarConfig &v = c.var;
  EXPECT_EQ(v.tokens(), 680);
  EXPECT_EQ(v.latentSize(), 16); // 256 / 2^4
  // VAR(...) and VQVAE(...) defaults for what the kwargs leave out.
  EXPECT_DOUBLE_EQ(v.mlpRatio, 4.0);
  EXPECT_DOUBLE_EQ(v.normEps, 1e-6);
  EXPECT_TRUE(v.attnL2Norm);
  EXPECT_EQ(v.shareQuantResi, 4);
  EXPECT_EQ(v.imageChannels, 3);
  EXPECT_TRUE(v.usingSa && v.usingMidSa);
  // The transformer's sizes in the common fields.
  EXPECT_EQ(c.vocabSize, 4096);
  EXPECT_EQ(c.hiddenSize, 1024);
  EXPECT_EQ(c.headDim, 64);
  EXPECT_EQ(c.intermediateSize, 4096);
}

TEST(Config, VarErrorsNameTheKey) {
  EXPECT_NE(parseError(varConfig(R"(, "num_heads": 3)"))
                .find("key 'num_heads' must divide embed_dim (1024)"),
            std::string::npos);
  EXPECT_NE(parseError(varConfig(R"(, "_image_size": 128)"))
                .find("key 'patch_nums' must end at the VQVAE's latent size 8"),
            std::string::npos);
  EXPECT_NE(parseError(varConfig(R"(, "shared_aln": true)"))
                .find("key 'shared_aln' true is not supported"),
            std::string::npos);
}
