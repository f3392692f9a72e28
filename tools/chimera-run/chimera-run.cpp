//===- chimera-run.cpp - run an artifact: prompts in, token ids out -------===//
//
//   chimera-run OUT_DIR --prompt-ids=ID,ID,... [--prompt-ids=... per row]
//               -n N [--greedy | --temperature T --top-k K --top-p P --seed S]
//               [--threads T] [--device=cpu|vulkan|cuda]
//               [--dump-logits=FILE.safetensors]
//
// Prints one line per prompt: the N generated ids, space-separated. The
// artifact's model.so carries the runtime; this tool only dlopens it, so it
// needs neither MLIR nor LLVM.
//
//===----------------------------------------------------------------------===//
#include "tools/common/RuntimeApi.h"

#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <vector>

using chimera::tools::Api;
using chimera::tools::die;
using chimera::tools::load;

namespace chimera::tools {
const char *kToolName = "chimera-run";
}

namespace {

const char *kUsage =
    "usage: chimera-run OUT_DIR --prompt-ids=ID,ID,... [--prompt-ids=...]\n"
    "                   -n N [--greedy | --temperature T --top-k K --top-p P "
    "--seed S]\n"
    "                   [--threads T] [--device=cpu|vulkan|cuda]\n"
    "                   [--dump-logits=FILE.safetensors]\n\n"
    "Runs a chimera-compile artifact: prefills every prompt (one batch row\n"
    "each), then generates N tokens per row through the cached decode path\n"
    "and prints one line per row with the generated ids. Greedy unless a\n"
    "temperature is given. --dump-logits writes a safetensors file with\n"
    "`logits` F32 [rows, longest prompt, vocab] (the prefill logits; rows\n"
    "past a prompt's end are zero) and `generated` I64 [rows, N]. For an\n"
    "artifact compiled with --logits=last (the default), `logits` is\n"
    "[rows, 1, vocab]: each prompt's last position.\n\n"
    "--device says where the kernels must run (default: where the artifact\n"
    "was compiled for: cpu for --target=x86_64, vulkan or cuda); an artifact\n"
    "holds the kernels of one target, so another device is an error.\n"
    "CHIMERA_VULKAN_DEVICE / CHIMERA_CUDA_DEVICE pick the device by index.\n";

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

std::vector<int64_t> parseIds(const char *text) {
  std::vector<int64_t> ids;
  std::string s(text);
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma - start);
    if (item.empty())
      die("--prompt-ids: empty id in '%s'", text);
    ids.push_back(parseInt("--prompt-ids", item.c_str()));
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return ids;
}

/// Writes a safetensors file atomically (temporary file + rename).
void writeSafetensors(const std::string &path, const std::vector<float> &logits,
                      const std::vector<int64_t> &logitsShape,
                      const std::vector<int64_t> &generated,
                      const std::vector<int64_t> &generatedShape) {
  auto shape = [](const std::vector<int64_t> &s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i)
      out += (i ? "," : "") + std::to_string(s[i]);
    return out + "]";
  };
  size_t logitsBytes = logits.size() * 4, generatedBytes = generated.size() * 8;
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"},\"generated\":{"
                       "\"dtype\":\"I64\",\"shape\":" + shape(generatedShape) +
                       ",\"data_offsets\":[0," + std::to_string(generatedBytes) +
                       "]},\"logits\":{\"dtype\":\"F32\",\"shape\":" +
                       shape(logitsShape) + ",\"data_offsets\":[" +
                       std::to_string(generatedBytes) + "," +
                       std::to_string(generatedBytes + logitsBytes) + "]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    die("%s: cannot write: %s", path.c_str(), std::strerror(errno));
  uint64_t n = header.size();
  bool ok = std::fwrite(&n, 8, 1, f) == 1 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(generated.data(), 8, generated.size(), f) == generated.size() &&
            std::fwrite(logits.data(), 4, logits.size(), f) == logits.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    die("%s: write failed: %s", path.c_str(), std::strerror(errno));
  }
}

} // namespace

int main(int argc, char **argv) {
  std::string dir, dumpPath, device;
  std::vector<std::vector<int64_t>> prompts;
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
      prompts.push_back(parseIds(v));
    } else if ((v = value("-n"))) {
      steps = parseInt("-n", v);
    } else if (!std::strcmp(a, "--greedy")) {
      greedy = true;
    } else if ((v = value("--temperature"))) {
      sampler.temperature = float(parseFloat("--temperature", v));
      sampling = true;
    } else if ((v = value("--top-k"))) {
      sampler.top_k = int32_t(parseInt("--top-k", v));
      sampling = true;
    } else if ((v = value("--top-p"))) {
      sampler.top_p = float(parseFloat("--top-p", v));
      sampling = true;
    } else if ((v = value("--seed"))) {
      sampler.seed = uint64_t(parseInt("--seed", v));
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
  if (prompts.empty())
    die("missing --prompt-ids (one per batch row)");
  if (steps < 1)
    die("missing or invalid -n (tokens to generate, >= 1)");
  if (greedy && sampling)
    die("--greedy cannot be combined with --temperature/--top-k/--top-p");
  if (sampling && !(sampler.temperature > 0.0f))
    die("--temperature must be > 0 when sampling (or use --greedy)");

  Api api = load(dir);
  if (!device.empty() && device != api.device)
    die("--device=%s: %s was compiled for %s (recompile it with "
        "chimera-compile --target=%s)", device.c_str(), dir.c_str(),
        api.device, device == "cpu" ? "x86_64" : device.c_str());
  chimera_model *model = nullptr;
  if (api.model_open(dir.c_str(), &model) != CHIMERA_OK)
    die("%s", api.last_error());
  if (api.set_threads(threads) != CHIMERA_OK)
    die("--threads: %s", api.last_error());
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
  for (int64_t j = 0; j < steps; ++j) {
    int64_t rowsPerCall = 0;
    logits = api.logits(session, &rowsPerCall, &vocab);
    for (int64_t b = 0; b < batch; ++b) {
      // After a prefill with every position's logits, the row's last one.
      int64_t position = rowsPerCall == 1 ? 0 : lengths[b] - 1;
      const float *row = logits + (b * rowsPerCall + position) * vocab;
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
    writeSafetensors(dumpPath, prefillLogits, {batch, longest, vocab}, flat,
                     {batch, steps});
  }
  api.session_free(session);
  api.model_close(model);
  return 0;
}
