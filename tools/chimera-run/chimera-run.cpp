//===- chimera-run.cpp - run an artifact: prompts in, token ids out -------===//
//
//   chimera-run OUT_DIR --prompt-ids=ID,ID,... [--prompt-ids=... per row]
//               -n N [--greedy | --temperature T --top-k K --top-p P --seed S]
//               [--threads T] [--device=cpu|vulkan|cuda]
//               [--dump-logits=FILE.safetensors]
//   chimera-run OUT_DIR --class-labels=L,L,... --image-out=FILE.png
//               [--cfg=C] [--top-k=K] [--top-p=P] [--seed=S]
//               [--dump=FILE.safetensors]
//
// Prints one line per prompt: the N generated ids, space-separated (an
// image generator: one line per image, its token maps). The
// artifact's model.so carries the runtime; this tool only dlopens it, so it
// needs neither MLIR nor LLVM.
//
//===----------------------------------------------------------------------===//
#include "tools/chimera-run/Outputs.h"
#include "tools/common/RuntimeApi.h"

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <vector>

using namespace chimera::tools;

namespace chimera::tools {
const char *kToolName = "chimera-run";
}

namespace {

const char *kUsage =
    "usage: chimera-run OUT_DIR --prompt-ids=ID,ID,... [--prompt-ids=...]\n"
    "                   -n N [--greedy | --temperature T --top-k K --top-p P "
    "--seed S]\n"
    "                   [--threads T] [--device=cpu|vulkan|cuda]\n"
    "                   [--dump-logits=FILE.safetensors]\n"
    "       chimera-run OUT_DIR --class-labels=L,L,... --image-out=FILE.png\n"
    "                   [--cfg=C] [--top-k=K] [--top-p=P] [--seed=S]\n"
    "                   [--dump=FILE.safetensors]\n"
    "       chimera-run OUT_DIR --class-labels=L,... --image-tokens=ID,... "
    "[...]\n"
    "                   --dump=FILE.safetensors\n\n"
    "Runs a chimera-compile artifact: prefills every prompt (one batch row\n"
    "each), then generates N tokens per row through the cached decode path\n"
    "and prints one line per row with the generated ids. Greedy unless a\n"
    "temperature is given. --dump-logits writes a safetensors file with\n"
    "`logits` F32 [rows, longest prompt, vocab] (the prefill logits; rows\n"
    "past a prompt's end are zero), `generated` I64 [rows, N] and\n"
    "`step_logits` F32 [rows, N, vocab] (the logits each generated token\n"
    "was drawn from: the prompt's last position, then each decode step).\n"
    "For an artifact compiled with --logits=last (the default), `logits`\n"
    "is [rows, 1, vocab]: each prompt's last position.\n\n"
    "--device says where the kernels must run (default: where the artifact\n"
    "was compiled for: cpu for --target=x86_64, vulkan or cuda); an artifact\n"
    "holds the kernels of one target, so another device is an error.\n"
    "CHIMERA_VULKAN_DEVICE / CHIMERA_CUDA_DEVICE pick the device by index.\n\n"
    "Image generators (VAR artifacts): one image per --class-labels entry,\n"
    "generated scale by scale with classifier-free guidance --cfg (default\n"
    "1.5, the reference's; scale k of S uses cfg·k/(S-1)) and top-k/top-p\n"
    "sampling (defaults 0: off) from the seeded stream --seed (default 0),\n"
    "all inside the compiled model. --image-out writes the images side by\n"
    "side as one PNG; --dump writes `tokens.s{k}` I64 [images, p, p] per\n"
    "scale and `image` F32 [images, C, H, W] in [0, 1]. Prints each image's\n"
    "token maps (all scales, coarsest first) on one line.\n"
    "An artifact compiled with --teacher-forcing instead takes the token\n"
    "maps, --image-tokens=ID,... per image (all scales concatenated), and\n"
    "--dump writes their `logits` F32 [images, tokens, vocab].\n";

int64_t parseInt(const char *flag, const char *text) {
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (errno || end == text || *end)
    die("%s: '%s' is not an integer", flag, text);
  return v;
}

double parseFloat(const char *flag, const char *text) {
  errno = 0;
  char *end = nullptr;
  double v = std::strtod(text, &end);
  if (errno || end == text || *end)
    die("%s: '%s' is not a number", flag, text);
  return v;
}

std::vector<int64_t> parseIds(const char *flag, const char *text) {
  std::vector<int64_t> ids;
  std::string s(text);
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma - start);
    if (item.empty())
      die("%s: empty id in '%s'", flag, text);
    ids.push_back(parseInt(flag, item.c_str()));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return ids;
}

/// Loads and opens the artifact on the device it was compiled for.
chimera_model *openModel(const std::string &dir, const std::string &device,
                         int threads, Api &api) {
  api = load(dir);
  if (!device.empty() && device != api.device)
    die("--device=%s: %s was compiled for %s (recompile it with "
        "chimera-compile --target=%s)", device.c_str(), dir.c_str(),
        api.device, device == "cpu" ? "x86_64" : device.c_str());
  chimera_model *model = nullptr;
  if (api.model_open(dir.c_str(), &model) != CHIMERA_OK)
    die("%s", api.last_error());
  if (api.set_threads(threads) != CHIMERA_OK)
    die("--threads: %s", api.last_error());
  return model;
}

/// VAR: one image per label, all computed by the compiled model.
int runImageGenerator(const std::string &dir, const std::string &device,
                      int threads, const std::vector<int64_t> &labels,
                      const std::string &imagePath, const std::string &dump,
                      const chimera_image_options &options) {
  if (labels.empty())
    die("missing --class-labels (one class id per image)");
  if (imagePath.empty())
    die("missing --image-out=FILE.png");
  Api api;
  chimera_model *model = openModel(dir, device, threads, api);
  int64_t classes = api.num_classes(model);
  if (classes == 0)
    die("%s is a language model: --class-labels and --image-out are for "
        "image generators (use --prompt-ids)", dir.c_str());
  int64_t c = 0, h = 0, w = 0;
  if (api.image_shape(model, &c, &h, &w) != CHIMERA_OK)
    die("%s", api.last_error());
  const int64_t *patches = nullptr;
  int scales = api.scales(model, &patches);
  int64_t total = 0;
  for (int k = 0; k < scales; ++k)
    total += patches[k] * patches[k];
  int64_t batch = int64_t(labels.size());
  std::vector<float> images(size_t(batch * c * h * w));
  std::vector<int64_t> tokens(size_t(batch * total));
  if (api.generate_images(model, batch, labels.data(), &options,
                          images.data(), tokens.data()) != CHIMERA_OK)
    die("%s", api.last_error());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < total; ++t)
      std::printf("%s%lld", t ? " " : "", (long long)tokens[b * total + t]);
    std::printf("\n");
  }
  writePngGrid(imagePath, images.data(), batch, c, h, w);
  if (!dump.empty()) {
    // Per scale [images, p, p], regrouped from each image's concatenation.
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(scales));
    std::vector<DumpTensor> tensors;
    int64_t offset = 0;
    for (int k = 0; k < scales; ++k) {
      int64_t n = patches[k] * patches[k];
      for (int64_t b = 0; b < batch; ++b)
        maps[k].insert(maps[k].end(), tokens.begin() + b * total + offset,
                       tokens.begin() + b * total + offset + n);
      tensors.push_back({"tokens.s" + std::to_string(k), "I64",
                         {batch, patches[k], patches[k]}, maps[k].data(),
                         maps[k].size() * 8});
      offset += n;
    }
    tensors.push_back({"image", "F32", {batch, c, h, w}, images.data(),
                       images.size() * 4});
    writeSafetensors(dump, std::move(tensors));
  }
  api.model_close(model);
  return 0;
}

/// VAR --teacher-forcing artifacts: the logits of given token maps.
int runTeacherForcing(const std::string &dir, const std::string &device,
                      int threads, const std::vector<int64_t> &labels,
                      const std::vector<std::vector<int64_t>> &maps,
                      const std::string &dump) {
  if (labels.size() != maps.size())
    die("--image-tokens: %zu token lists for %zu --class-labels (one per "
        "image)", maps.size(), labels.size());
  if (dump.empty())
    die("missing --dump=FILE.safetensors (where the logits go)");
  Api api;
  chimera_model *model = openModel(dir, device, threads, api);
  const int64_t *patches = nullptr;
  int scales = api.scales(model, &patches);
  if (scales == 0)
    die("%s is a language model: --image-tokens is for VAR artifacts",
        dir.c_str());
  int64_t total = 0;
  for (int k = 0; k < scales; ++k)
    total += patches[k] * patches[k];
  std::vector<int64_t> flat;
  for (size_t b = 0; b < maps.size(); ++b) {
    if (int64_t(maps[b].size()) != total)
      die("--image-tokens: image %zu has %zu tokens, the schedule has %lld",
          b, maps[b].size(), (long long)total);
    flat.insert(flat.end(), maps[b].begin(), maps[b].end());
  }
  int64_t batch = int64_t(labels.size()), vocab = api.vocab_size(model);
  std::vector<float> logits(size_t(batch * total * vocab));
  if (api.image_logits(model, batch, labels.data(), flat.data(),
                       logits.data()) != CHIMERA_OK)
    die("%s", api.last_error());
  writeSafetensors(dump, {{"logits", "F32", {batch, total, vocab},
                           logits.data(), logits.size() * 4}});
  api.model_close(model);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string dir, dumpPath, device, imagePath, imageDump;
  std::vector<std::vector<int64_t>> prompts;
  std::vector<int64_t> labels;
  std::vector<std::vector<int64_t>> imageTokens;
  chimera_image_options imageOptions{1.5f, 0, 0.0f, 0};
  int64_t steps = -1;
  int threads = 0;
  chimera_sampler sampler{0.0f, 0, 1.0f, 0};
  bool greedy = false, sampling = false;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      size_t n = std::strlen(flag);
      if (!std::strncmp(a, flag, n) && a[n] == '=')
        return a + n + 1;
      if (!std::strcmp(a, flag)) {
        if (i + 1 >= argc)
          die("%s needs a value", flag);
        return argv[++i];
      }
      return nullptr;
    };
    const char *v;
    if (!std::strcmp(a, "--help") || !std::strcmp(a, "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (!std::strcmp(a, "--version")) {
      std::printf("chimera-run %s\n", CHIMERA_VERSION);
      return 0;
    } else if ((v = value("--prompt-ids"))) {
      prompts.push_back(parseIds("--prompt-ids", v));
    } else if ((v = value("--class-labels"))) {
      labels = parseIds("--class-labels", v);
    } else if ((v = value("--cfg"))) {
      imageOptions.cfg = float(parseFloat("--cfg", v));
    } else if ((v = value("--image-tokens"))) {
      imageTokens.push_back(parseIds("--image-tokens", v));
    } else if ((v = value("--image-out"))) {
      imagePath = v;
    } else if ((v = value("--dump"))) {
      imageDump = v;
    } else if ((v = value("-n"))) {
      steps = parseInt("-n", v);
    } else if (!std::strcmp(a, "--greedy")) {
      greedy = true;
    } else if ((v = value("--temperature"))) {
      sampler.temperature = float(parseFloat("--temperature", v));
      sampling = true;
    } else if ((v = value("--top-k"))) {
      sampler.top_k = int32_t(parseInt("--top-k", v));
      imageOptions.top_k = sampler.top_k;
      sampling = true;
    } else if ((v = value("--top-p"))) {
      sampler.top_p = float(parseFloat("--top-p", v));
      imageOptions.top_p = sampler.top_p;
      sampling = true;
    } else if ((v = value("--seed"))) {
      sampler.seed = uint64_t(parseInt("--seed", v));
      imageOptions.seed = sampler.seed;
    } else if ((v = value("--threads"))) {
      threads = int(parseInt("--threads", v));
    } else if ((v = value("--device"))) {
      device = v;
      if (device != "cpu" && device != "vulkan" && device != "cuda")
        die("--device: unknown device '%s' (cpu, vulkan, cuda)", v);
    } else if ((v = value("--dump-logits"))) {
      dumpPath = v;
    } else if (a[0] == '-') {
      die("unknown option '%s' (see --help)", a);
    } else if (dir.empty()) {
      dir = a;
    } else {
      die("unexpected argument '%s' (one artifact directory)", a);
    }
  }
  if (dir.empty())
    die("missing the artifact directory (see --help)");
  if (!imageTokens.empty())
    return runTeacherForcing(dir, device, threads, labels, imageTokens,
                             imageDump);
  if (!labels.empty() || !imagePath.empty())
    return runImageGenerator(dir, device, threads, labels, imagePath,
                             imageDump, imageOptions);
  if (prompts.empty())
    die("missing --prompt-ids (one per batch row)");
  if (steps < 1)
    die("missing or invalid -n (tokens to generate, >= 1)");
  if (greedy && sampling)
    die("--greedy cannot be combined with --temperature/--top-k/--top-p");
  if (sampling && !(sampler.temperature > 0.0f))
    die("--temperature must be > 0 when sampling (or use --greedy)");

  Api api;
  chimera_model *model = openModel(dir, device, threads, api);
  if (api.num_classes(model) > 0)
    die("%s is an image generator: give --class-labels and --image-out "
        "(see --help)", dir.c_str());
  int64_t batch = int64_t(prompts.size());
  chimera_session *session = nullptr;
  if (api.session_create(model, batch, &session) != CHIMERA_OK)
    die("%s", api.last_error());

  std::vector<const int64_t *> rows;
  std::vector<int64_t> lengths;
  for (auto &p : prompts) {
    rows.push_back(p.data());
    lengths.push_back(int64_t(p.size()));
  }
  if (api.prefill(session, rows.data(), lengths.data()) != CHIMERA_OK)
    die("%s", api.last_error());
  int64_t longest = 0, vocab = 0;
  const float *logits = api.logits(session, &longest, &vocab);
  std::vector<float> prefillLogits;
  if (!dumpPath.empty())
    prefillLogits.assign(logits, logits + batch * longest * vocab);

  uint64_t state = api.sampler_seed(sampler.seed);
  std::vector<std::vector<int64_t>> generated(batch);
  std::vector<int64_t> next(batch);
  // [batch, steps, vocab]: the logits each generated token was drawn from.
  std::vector<float> stepLogits;
  if (!dumpPath.empty())
    stepLogits.resize(size_t(batch * steps * vocab));
  for (int64_t j = 0; j < steps; ++j) {
    int64_t rowsPerCall = 0;
    logits = api.logits(session, &rowsPerCall, &vocab);
    for (int64_t b = 0; b < batch; ++b) {
      // After a prefill with every position's logits, the row's last one.
      int64_t position = rowsPerCall == 1 ? 0 : lengths[b] - 1;
      const float *row = logits + (b * rowsPerCall + position) * vocab;
      if (!stepLogits.empty())
        std::copy(row, row + vocab,
                  stepLogits.begin() + (b * steps + j) * vocab);
      if (api.sample(&sampler, row, vocab, &state, &next[b]) != CHIMERA_OK)
        die("%s", api.last_error());
      generated[b].push_back(next[b]);
    }
    if (j + 1 < steps && api.decode(session, next.data()) != CHIMERA_OK)
      die("%s", api.last_error());
  }
  for (const auto &row : generated) {
    for (size_t i = 0; i < row.size(); ++i)
      std::printf("%s%lld", i ? " " : "", (long long)row[i]);
    std::printf("\n");
  }
  if (!dumpPath.empty()) {
    std::vector<int64_t> flat;
    for (const auto &row : generated)
      flat.insert(flat.end(), row.begin(), row.end());
    writeSafetensors(
        dumpPath,
        {{"generated", "I64", {batch, steps}, flat.data(), flat.size() * 8},
         {"logits", "F32", {batch, longest, vocab}, prefillLogits.data(),
          prefillLogits.size() * 4},
         {"step_logits", "F32", {batch, steps, vocab}, stepLogits.data(),
          stepLogits.size() * 4}});
  }
  api.session_free(session);
  api.model_close(model);
  return 0;
}
