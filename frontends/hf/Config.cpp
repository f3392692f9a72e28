//===- Config.cpp - HuggingFace config.json for the supported families ----===//
#include "frontends/hf/Config.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cmath>

using namespace chimera::hf;
using llvm::Error;
using llvm::Expected;

llvm::StringRef chimera::hf::familyName(Family family) {
  switch (family) {
  case Family::Llama: return "llama";
  case Family::Mistral: return "mistral";
  case Family::Gemma: return "gemma";
  case Family::Mixtral: return "mixtral";
  case Family::Mamba: return "mamba";
  case Family::Jamba: return "jamba";
  case Family::Var: return "var";
  }
  return "?";
}

bool ModelConfig::isAttentionLayer(int64_t layer) const {
  switch (family) {
  case Family::Mamba: return false;
  case Family::Jamba: return layer % attnLayerPeriod == attnLayerOffset;
  default: return true;
  }
}

bool ModelConfig::isMambaLayer(int64_t layer) const {
  return !isAttentionLayer(layer);
}

bool ModelConfig::isExpertLayer(int64_t layer) const {
  switch (family) {
  case Family::Mixtral: return true;
  case Family::Jamba:
    return numExperts > 1 && layer % expertLayerPeriod == expertLayerOffset;
  default: return false;
  }
}

namespace {

/// Typed access to the keys of one config object. The first error wins and
/// later reads return their defaults, so a reader can be written as a flat
/// list of fields and checked once at the end.
class KeyReader {
public:
  KeyReader(const llvm::json::Object &obj, llvm::StringRef path)
      : obj(obj), path(path) {}

  /// A positive integer; `fallback` when absent (required when none).
  int64_t positive(llvm::StringRef key, std::optional<int64_t> fallback) {
    return integer(key, fallback, 1);
  }
  int64_t integer(llvm::StringRef key, std::optional<int64_t> fallback,
                  int64_t min) {
    const llvm::json::Value *v = obj.get(key);
    if (!v || v->kind() == llvm::json::Value::Null) {
      if (!fallback)
        fail(key, "is required");
      return fallback.value_or(min);
    }
    std::optional<int64_t> i = v->getAsInteger();
    if (!i) {
      fail(key, "must be an integer, got " + show(*v));
      return fallback.value_or(min);
    }
    if (*i < min) {
      fail(key, "must be >= " + std::to_string(min) + ", got " +
                    std::to_string(*i));
      return fallback.value_or(min);
    }
    // Sizes beyond 2^40 are not a model any machine holds; reject them
    // before they overflow a product.
    if (*i > (int64_t(1) << 40)) {
      fail(key, "is out of range: " + std::to_string(*i));
      return fallback.value_or(min);
    }
    return *i;
  }
  /// A positive integer or null / absent.
  std::optional<int64_t> optionalPositive(llvm::StringRef key) {
    const llvm::json::Value *v = obj.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return std::nullopt;
    return positive(key, 1);
  }
  double positiveNumber(llvm::StringRef key, double fallback) {
    const llvm::json::Value *v = obj.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return fallback;
    std::optional<double> d = v->getAsNumber();
    if (!d) {
      fail(key, "must be a number, got " + show(*v));
      return fallback;
    }
    if (!(*d > 0.0) || !std::isfinite(*d)) {
      fail(key, "must be a positive finite number, got " + show(*v));
      return fallback;
    }
    return *d;
  }
  bool boolean(llvm::StringRef key, bool fallback) {
    const llvm::json::Value *v = obj.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return fallback;
    std::optional<bool> b = v->getAsBoolean();
    if (!b) {
      fail(key, "must be true or false, got " + show(*v));
      return fallback;
    }
    return *b;
  }
  std::optional<std::string> string(llvm::StringRef key) {
    const llvm::json::Value *v = obj.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return std::nullopt;
    std::optional<llvm::StringRef> s = v->getAsString();
    if (!s) {
      fail(key, "must be a string, got " + show(*v));
      return std::nullopt;
    }
    return s->str();
  }
  /// A non-empty list of positive integers (required).
  std::vector<int64_t> positiveList(llvm::StringRef key) {
    std::vector<int64_t> out;
    const llvm::json::Value *v = obj.get(key);
    const llvm::json::Array *a = v ? v->getAsArray() : nullptr;
    if (!a || a->empty()) {
      fail(key, v ? "must be a non-empty list of positive integers, got " + show(*v)
                  : std::string("is required"));
      return out;
    }
    for (const llvm::json::Value &e : *a) {
      std::optional<int64_t> i = e.getAsInteger();
      if (!i || *i < 1 || *i > (int64_t(1) << 20)) {
        fail(key, "must be a list of positive integers, got " + show(*v));
        return {};
      }
      out.push_back(*i);
    }
    return out;
  }
  /// A finite number or a non-empty list of them; empty when absent.
  std::vector<double> numberOrList(llvm::StringRef key) {
    const llvm::json::Value *v = obj.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return {};
    std::vector<double> out;
    if (std::optional<double> d = v->getAsNumber()) {
      out.push_back(*d);
    } else if (const llvm::json::Array *a = v->getAsArray()) {
      for (const llvm::json::Value &e : *a)
        if (std::optional<double> d = e.getAsNumber())
          out.push_back(*d);
      if (out.size() != a->size())
        out.clear();
    }
    if (out.empty() ||
        llvm::any_of(out, [](double d) { return !std::isfinite(d); })) {
      fail(key, "must be a finite number or a non-empty list of them, got " +
                    show(*v));
      return {};
    }
    return out;
  }
  /// The object under `key` (required).
  const llvm::json::Object *object(llvm::StringRef key) {
    const llvm::json::Value *v = obj.get(key);
    const llvm::json::Object *o = v ? v->getAsObject() : nullptr;
    if (!o)
      fail(key, v ? "must be an object, got " + show(*v)
                  : std::string("is required"));
    return o;
  }
  bool has(llvm::StringRef key) const {
    const llvm::json::Value *v = obj.get(key);
    return v && v->kind() != llvm::json::Value::Null;
  }
  const llvm::json::Value *get(llvm::StringRef key) const {
    return obj.get(key);
  }

  void fail(llvm::StringRef key, const std::string &message) {
    if (!error.empty())
      return;
    error = (path + ": key '" + key + "' " + message).str();
  }
  Error takeError() {
    if (error.empty())
      return Error::success();
    return llvm::createStringError(llvm::inconvertibleErrorCode(), error);
  }

  static std::string show(const llvm::json::Value &v) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << v;
    if (s.size() > 40)
      s = s.substr(0, 37) + "...";
    return s;
  }

private:
  const llvm::json::Object &obj;
  llvm::StringRef path;
  std::string error;
};

std::optional<HiddenAct> parseAct(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<HiddenAct>>(name)
      .Case("silu", HiddenAct::Silu)
      .Case("swish", HiddenAct::Silu)
      .Case("gelu", HiddenAct::Gelu)
      .Case("gelu_pytorch_tanh", HiddenAct::GeluTanh)
      .Case("gelu_new", HiddenAct::GeluTanh)
      .Case("gelu_fast", HiddenAct::GeluTanh)
      .Case("relu", HiddenAct::Relu)
      .Default(std::nullopt);
}

/// The fields every attention family shares. Defaults are LlamaConfig's;
/// callers override the ones their class changes.
struct AttentionDefaults {
  std::optional<int64_t> numKvHeads; // none: = num_attention_heads
  double normEps = 1e-6;
  double ropeTheta = 10000.0;
  bool tie = false;
  int64_t maxPositions = 2048;
  std::optional<int64_t> headDim; // none: hidden / heads
  bool readSlidingWindow = false;
  std::optional<int64_t> slidingWindowDefault;
};

void readAttention(KeyReader &keys, ModelConfig &c, const AttentionDefaults &d) {
  c.numHeads = keys.positive("num_attention_heads", std::nullopt);
  c.numKvHeads = keys.positive("num_key_value_heads",
                               d.numKvHeads.value_or(c.numHeads));
  if (keys.has("head_dim")) {
    c.headDim = keys.positive("head_dim", std::nullopt);
  } else if (d.headDim) {
    c.headDim = *d.headDim;
  } else {
    if (c.numHeads > 0 && c.hiddenSize % c.numHeads != 0)
      keys.fail("num_attention_heads",
                "must divide hidden_size (" + std::to_string(c.hiddenSize) +
                    ") when head_dim is not given, got " +
                    std::to_string(c.numHeads));
    c.headDim = c.numHeads > 0 ? c.hiddenSize / c.numHeads : 1;
  }
  if (c.numHeads % c.numKvHeads != 0)
    keys.fail("num_key_value_heads",
              "must divide num_attention_heads (" +
                  std::to_string(c.numHeads) + "), got " +
                  std::to_string(c.numKvHeads));
  c.normEps = keys.positiveNumber("rms_norm_eps", d.normEps);
  c.ropeTheta = keys.positiveNumber("rope_theta", d.ropeTheta);
  c.tieWordEmbeddings = keys.boolean("tie_word_embeddings", d.tie);
  c.maxPositionEmbeddings =
      keys.positive("max_position_embeddings", d.maxPositions);
  c.attentionBias = keys.boolean("attention_bias", false);
  c.mlpBias = keys.boolean("mlp_bias", false);
  if (d.readSlidingWindow) {
    const llvm::json::Value *sw = keys.get("sliding_window");
    c.slidingWindow = sw ? keys.optionalPositive("sliding_window")
                         : d.slidingWindowDefault;
  }
  if (keys.has("rope_scaling")) {
    const llvm::json::Value *scaling = keys.get("rope_scaling");
    std::string type = "?";
    if (const llvm::json::Object *o = scaling->getAsObject()) {
      if (auto t = o->getString("rope_type"))
        type = t->str();
      else if (auto t = o->getString("type"))
        type = t->str();
    }
    keys.fail("rope_scaling", "type '" + type +
                                  "' is not supported (only unscaled RoPE)");
  }
}

void readFeedForward(KeyReader &keys, ModelConfig &c, llvm::StringRef actKey,
                     llvm::StringRef actDefault) {
  c.intermediateSize = keys.positive("intermediate_size", std::nullopt);
  std::string act = keys.string(actKey).value_or(actDefault.str());
  if (std::optional<HiddenAct> a = parseAct(act))
    c.hiddenAct = *a;
  else
    keys.fail(actKey, "names an unsupported activation '" + act +
                          "' (supported: silu, gelu, gelu_pytorch_tanh, "
                          "gelu_new, relu)");
}

/// Mamba mixer fields under `prefix` names (MambaConfig vs JambaConfig).
void readMixer(KeyReader &keys, ModelConfig &c, llvm::StringRef stateKey,
               int64_t stateDefault, llvm::StringRef convKey,
               llvm::StringRef expandKey, llvm::StringRef dtRankKey) {
  c.ssmStateSize = keys.positive(stateKey, stateDefault);
  c.convKernel = keys.positive(convKey, 4);
  int64_t expand = keys.positive(expandKey, 2);
  c.ssmInnerSize = expand * c.hiddenSize;
  const llvm::json::Value *dt = keys.get(dtRankKey);
  std::optional<llvm::StringRef> dtStr = dt ? dt->getAsString() : std::nullopt;
  if (!dt || dt->kind() == llvm::json::Value::Null || (dtStr && *dtStr == "auto"))
    c.dtRank = (c.hiddenSize + 15) / 16;
  else if (dtStr)
    keys.fail(dtRankKey, "must be a positive integer or \"auto\", got \"" +
                             dtStr->str() + "\"");
  else
    c.dtRank = keys.positive(dtRankKey, std::nullopt);
}

void readExperts(KeyReader &keys, ModelConfig &c, llvm::StringRef countKey,
                 int64_t countDefault) {
  c.numExperts = keys.positive(countKey, countDefault);
  c.numExpertsPerTok = keys.positive("num_experts_per_tok", 2);
  if (c.numExpertsPerTok > c.numExperts)
    keys.fail("num_experts_per_tok",
              "must be <= " + countKey.str() + " (" +
                  std::to_string(c.numExperts) + "), got " +
                  std::to_string(c.numExpertsPerTok));
}

/// period / offset pair with offset < period.
void readLayerRule(KeyReader &keys, llvm::StringRef periodKey,
                   int64_t periodDefault, llvm::StringRef offsetKey,
                   int64_t offsetDefault, int64_t &period, int64_t &offset) {
  period = keys.positive(periodKey, periodDefault);
  offset = keys.integer(offsetKey, offsetDefault, 0);
  if (offset >= period)
    keys.fail(offsetKey, "must be < " + periodKey.str() + " (" +
                             std::to_string(period) + "), got " +
                             std::to_string(offset));
}

/// A VAR folder's config.json: VAR's kwargs at the top level, the VQVAE's
/// under `vae_kwargs` and `_vqvae_fixed_ddconfig`.
Expected<ModelConfig> parseVarConfig(const llvm::json::Object &obj,
                                     llvm::StringRef path) {
  ModelConfig c;
  c.family = Family::Var;
  c.modelType = "var";
  c.architecture = "VAR";
  VarConfig &v = c.var;
  KeyReader keys(obj, path);
  v.numClasses = keys.positive("num_classes", std::nullopt);
  v.depth = keys.positive("depth", std::nullopt);
  v.embedDim = keys.positive("embed_dim", std::nullopt);
  v.numHeads = keys.positive("num_heads", std::nullopt);
  v.mlpRatio = keys.positiveNumber("mlp_ratio", 4.0);
  v.normEps = keys.positiveNumber("norm_eps", 1e-6);
  v.sharedAln = keys.boolean("shared_aln", false);
  v.attnL2Norm = keys.boolean("attn_l2_norm", true);
  v.patchNums = keys.positiveList("patch_nums");
  v.imageSize = keys.positive("_image_size", std::nullopt);
  const llvm::json::Object *vae = keys.object("vae_kwargs");
  const llvm::json::Object *dd = keys.object("_vqvae_fixed_ddconfig");
  if (Error e = keys.takeError())
    return std::move(e);
  if (v.sharedAln)
    keys.fail("shared_aln", "true is not supported (VAR-d16..d30 use false)");
  if (!v.attnL2Norm)
    keys.fail("attn_l2_norm", "false is not supported (VAR's released "
                              "checkpoints use true)");
  if (v.embedDim % v.numHeads != 0)
    keys.fail("num_heads", "must divide embed_dim (" +
                               std::to_string(v.embedDim) + ")");
  for (size_t i = 1; i < v.patchNums.size(); ++i)
    if (v.patchNums[i] <= v.patchNums[i - 1])
      keys.fail("patch_nums", "must be strictly increasing");
  if (Error e = keys.takeError())
    return std::move(e);

  std::string vaePath = (path + ": vae_kwargs").str();
  KeyReader vk(*vae, vaePath);
  v.vocabSize = vk.positive("vocab_size", std::nullopt);
  v.zChannels = vk.positive("z_channels", std::nullopt);
  v.ch = vk.positive("ch", std::nullopt);
  v.shareQuantResi = vk.positive("share_quant_resi", 4);
  std::vector<int64_t> vaePatches = vk.positiveList("v_patch_nums");
  if (Error e = vk.takeError())
    return std::move(e);
  if (vaePatches != v.patchNums)
    vk.fail("v_patch_nums", "must equal the VAR's 'patch_nums'");
  if (Error e = vk.takeError())
    return std::move(e);

  std::string ddPath = (path + ": _vqvae_fixed_ddconfig").str();
  KeyReader dk(*dd, ddPath);
  v.chMult = dk.positiveList("ch_mult");
  v.numResBlocks = dk.positive("num_res_blocks", std::nullopt);
  v.usingSa = dk.boolean("using_sa", true);
  v.usingMidSa = dk.boolean("using_mid_sa", true);
  v.imageChannels = dk.positive("in_channels", 3);
  const llvm::json::Value *resi = dd->get("quant_resi");
  std::optional<double> r = resi ? resi->getAsNumber() : std::nullopt;
  if (!r || std::fabs(*r) > 1.0 || *r == 0.0)
    dk.fail("quant_resi", "must be a number in [-1, 0) or (0, 1]");
  else
    v.quantResi = std::fabs(*r);
  if (dk.boolean("using_znorm", false))
    dk.fail("using_znorm", "true is not supported");
  if (Error e = dk.takeError())
    return std::move(e);
  if (v.shareQuantResi != 4)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        vaePath + ": key 'share_quant_resi' must be 4 (the partially shared "
                  "phi of every released VAR), got " +
            std::to_string(v.shareQuantResi));
  int64_t down = int64_t(1) << (v.chMult.size() - 1);
  if (v.imageSize % down != 0 || v.patchNums.back() != v.latentSize())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        path + ": key 'patch_nums' must end at the VQVAE's latent size " +
            std::to_string(v.imageSize / down) + " (_image_size " +
            std::to_string(v.imageSize) + " / 2^(len(ch_mult) - 1)), got " +
            std::to_string(v.patchNums.back()));
  if (v.ch * v.chMult.front() % 32 != 0)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        ddPath + ": ch x ch_mult must be a multiple of 32 (GroupNorm(32))");
  c.vocabSize = v.vocabSize;
  c.hiddenSize = v.embedDim;
  c.numLayers = v.depth;
  c.numHeads = c.numKvHeads = v.numHeads;
  c.headDim = v.embedDim / v.numHeads;
  c.intermediateSize = int64_t(std::llround(v.embedDim * v.mlpRatio));
  c.normEps = v.normEps;
  c.maxPositionEmbeddings = v.tokens();
  return c;
}

} // namespace

int64_t VarConfig::tokens() const {
  int64_t n = 0;
  for (int64_t p : patchNums)
    n += p * p;
  return n;
}

int64_t VarConfig::latentSize() const {
  return imageSize / (int64_t(1) << (chMult.size() - 1));
}

Expected<ModelConfig> chimera::hf::parseConfig(llvm::StringRef json,
                                               llvm::StringRef path) {
  Expected<llvm::json::Value> parsed = llvm::json::parse(json);
  if (!parsed)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": not valid JSON: " +
                                       llvm::toString(parsed.takeError()));
  const llvm::json::Object *obj = parsed->getAsObject();
  if (!obj)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": not a JSON object");
  // FoundationVision/VAR's kwargs: no model_type, a VQVAE beside it.
  if (obj->get("vae_kwargs") || obj->get("patch_nums"))
    return parseVarConfig(*obj, path);
  KeyReader keys(*obj, path);
  ModelConfig c;
  std::optional<std::string> modelType = keys.string("model_type");
  if (Error e = keys.takeError())
    return std::move(e);
  if (!modelType)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": key 'model_type' is required");
  std::optional<Family> family =
      llvm::StringSwitch<std::optional<Family>>(*modelType)
          .Case("llama", Family::Llama)
          .Case("mistral", Family::Mistral)
          .Case("gemma", Family::Gemma)
          .Case("mixtral", Family::Mixtral)
          .Case("mamba", Family::Mamba)
          .Case("jamba", Family::Jamba)
          .Default(std::nullopt);
  if (!family)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        path + ": key 'model_type' names an unsupported architecture '" +
            *modelType +
            "' (supported: llama, mistral, gemma, mixtral, mamba, jamba)");
  c.family = *family;
  c.modelType = *modelType;
  if (const llvm::json::Array *archs = obj->getArray("architectures"))
    if (!archs->empty())
      if (auto a = (*archs)[0].getAsString())
        c.architecture = a->str();
  // A known model_type does not make a known model: LlamaMoDForCausalLM
  // says "llama" but wraps layers in routers.
  static const char *const known[] = {
      "LlamaForCausalLM",   "MistralForCausalLM", "GemmaForCausalLM",
      "MixtralForCausalLM", "MambaForCausalLM",   "JambaForCausalLM",
      "LlamaMoDForCausalLM"};
  if (!c.architecture.empty() && !llvm::is_contained(known, c.architecture))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        path + ": key 'architectures' names '" + c.architecture +
            "', which chimera does not import (supported: LlamaForCausalLM, "
            "MistralForCausalLM, GemmaForCausalLM, MixtralForCausalLM, "
            "MambaForCausalLM, JambaForCausalLM, LlamaMoDForCausalLM)");
  if (c.architecture == "LlamaMoDForCausalLM") {
    if (*family != Family::Llama)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          path + ": key 'architectures' names LlamaMoDForCausalLM but "
                 "'model_type' is '" + *modelType + "', expected 'llama'");
    c.mixtureOfDepths = true;
    // Not the reference's keys: a checkpoint trained for causal routing
    // (router score against a threshold) says so with these.
    if (std::optional<std::string> routing = keys.string("mod_routing")) {
      if (*routing == "causal")
        c.causalDepthRouting = true;
      else if (*routing != "reference")
        keys.fail("mod_routing", "must be \"reference\" or \"causal\", got \"" +
                                     *routing + "\"");
    }
    c.depthThresholds = keys.numberOrList("mod_threshold");
  }

  c.vocabSize = keys.positive("vocab_size", std::nullopt);
  c.hiddenSize = keys.positive("hidden_size", std::nullopt);
  c.numLayers = keys.positive("num_hidden_layers", std::nullopt);

  switch (c.family) {
  case Family::Llama: {
    readAttention(keys, c, {});
    readFeedForward(keys, c, "hidden_act", "silu");
    break;
  }
  case Family::Mistral: {
    AttentionDefaults d;
    d.numKvHeads = 8;
    d.maxPositions = 4096 * 32;
    d.readSlidingWindow = true;
    d.slidingWindowDefault = 4096;
    readAttention(keys, c, d);
    readFeedForward(keys, c, "hidden_act", "silu");
    break;
  }
  case Family::Gemma: {
    AttentionDefaults d;
    d.headDim = 256;
    d.tie = true;
    d.maxPositions = 8192;
    readAttention(keys, c, d);
    // GemmaMLP reads hidden_activation and falls back to the tanh GELU
    // whatever hidden_act says.
    readFeedForward(keys, c, "hidden_activation", "gelu_pytorch_tanh");
    break;
  }
  case Family::Mixtral: {
    AttentionDefaults d;
    d.numKvHeads = 8;
    d.normEps = 1e-5;
    d.ropeTheta = 1e6;
    d.maxPositions = 4096 * 32;
    d.readSlidingWindow = true;
    readAttention(keys, c, d);
    readFeedForward(keys, c, "hidden_act", "silu");
    readExperts(keys, c, "num_local_experts", 8);
    break;
  }
  case Family::Mamba: {
    c.normEps = keys.positiveNumber("layer_norm_epsilon", 1e-5);
    c.tieWordEmbeddings = keys.boolean("tie_word_embeddings", true);
    readMixer(keys, c, "state_size", 16, "conv_kernel", "expand",
              "time_step_rank");
    if (keys.has("intermediate_size") &&
        keys.positive("intermediate_size", 1) != c.ssmInnerSize)
      keys.fail("intermediate_size",
                "must equal expand * hidden_size (" +
                    std::to_string(c.ssmInnerSize) + ")");
    c.convBias = keys.boolean("use_conv_bias", true);
    c.projBias = keys.boolean("use_bias", false);
    std::string act = keys.string("hidden_act").value_or("silu");
    if (act != "silu")
      keys.fail("hidden_act", "must be \"silu\" for Mamba, got \"" + act + "\"");
    c.maxPositionEmbeddings = 0; // no positional limit
    break;
  }
  case Family::Jamba: {
    AttentionDefaults d;
    d.numKvHeads = 8;
    d.maxPositions = 262144;
    d.readSlidingWindow = true;
    readAttention(keys, c, d);
    readFeedForward(keys, c, "hidden_act", "silu");
    readExperts(keys, c, "num_experts", 16);
    readLayerRule(keys, "attn_layer_period", 8, "attn_layer_offset", 4,
                  c.attnLayerPeriod, c.attnLayerOffset);
    readLayerRule(keys, "expert_layer_period", 2, "expert_layer_offset", 1,
                  c.expertLayerPeriod, c.expertLayerOffset);
    readMixer(keys, c, "mamba_d_state", 16, "mamba_d_conv", "mamba_expand",
              "mamba_dt_rank");
    c.convBias = keys.boolean("mamba_conv_bias", true);
    c.projBias = keys.boolean("mamba_proj_bias", false);
    break;
  }
  }
  // Each value is bounded above, but their products size the weights: keep
  // every weight's element count far from int64 overflow.
  auto tooBig = [](std::initializer_list<int64_t> dims) {
    double n = 1;
    for (int64_t d : dims)
      n *= double(d);
    return n > double(int64_t(1) << 50);
  };
  if (tooBig({c.vocabSize, c.hiddenSize}))
    keys.fail("vocab_size", "x hidden_size is too large for an embedding");
  else if (tooBig({c.numHeads, c.headDim, c.hiddenSize}) ||
           tooBig({c.numKvHeads, c.headDim, c.hiddenSize}))
    keys.fail("num_attention_heads", "x head_dim x hidden_size is too large");
  else if (tooBig({std::max<int64_t>(c.numExperts, 1), c.intermediateSize,
                   c.hiddenSize}))
    keys.fail("intermediate_size", "x hidden_size (x experts) is too large");
  else if (tooBig({2 * c.ssmInnerSize, c.hiddenSize}) ||
           tooBig({c.ssmInnerSize, c.ssmStateSize + c.dtRank + c.convKernel}))
    keys.fail("hidden_size", "makes the Mamba mixer's weights too large");
  if (Error e = keys.takeError())
    return std::move(e);
  return c;
}

Expected<ModelConfig> chimera::hf::readConfig(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": cannot open: " +
                                       buffer.getError().message());
  // A config is a few KB; anything near this is not one.
  if ((*buffer)->getBufferSize() > (16u << 20))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": " +
                                       llvm::Twine((*buffer)->getBufferSize()) +
                                       " bytes is too large for a config");
  return parseConfig((*buffer)->getBuffer(), path);
}
