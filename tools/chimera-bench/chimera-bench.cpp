//===- chimera-bench.cpp - prompt and decode throughput of an artifact ----===//
//
//   chimera-bench OUT_DIR [--pp=N]... [--tg=N]... [--reps=R] [--threads=T]
//                 [--seed=S] [--profile] [--json]
//   chimera-bench VAR_DIR [--images=B] [--reps=R] [--threads=T] [--json]
//
// Like llama-bench: `ppN` times one prefill of N random token ids, `tgN`
// times N single-token decode steps after a one-token prompt (greedy, the
// sampler's cost included). Each test runs once untimed, then R times;
// prints tokens/s per repetition and the median. --json prints one object
// per test for scripts (bench/run.py). --profile times each kernel during
// the timed repetitions (the runtime's chimera_profile) and prints, per
// test, the kernels by time: launches and milliseconds per repetition and
// their share of the test's time. An image generator (VAR) times the
// generation of B images (classes 0..B-1, cfg 4, top-k 900, top-p 0.95, the
// VAR demo's setting) and prints images/s.
//
//===----------------------------------------------------------------------===//
#include "tools/common/RuntimeApi.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

using chimera::tools::Api;
using chimera::tools::die;

namespace chimera::tools {
const char *kToolName = "chimera-bench";
}

namespace {

struct Test {
  bool prompt; // pp, else tg
  int64_t tokens;
};

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t parsePositive(const char *flag, const char *text) {
  char *end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end || v < 1)
    die("%s: '%s' is not a positive integer", flag, text);
  return v;
}

/// Kernel times summed over a test's timed repetitions, by kernel name.
struct Profile {
  const Api *api = nullptr; // null: not profiling
  std::map<std::string, chimera_kernel_time> kernels;

  void start() const {
    if (api)
      api->profile(1);
  }
  void stop() {
    if (!api)
      return;
    api->profile(0);
    std::vector<chimera_kernel_time> times(
        size_t(api->profile_read(nullptr, 0)));
    times.resize(size_t(api->profile_read(times.data(), int(times.size()))));
    for (const chimera_kernel_time &t : times) {
      auto [it, inserted] = kernels.try_emplace(t.name, t);
      if (!inserted) {
        it->second.launches += t.launches;
        it->second.seconds += t.seconds;
      }
    }
  }
  std::vector<chimera_kernel_time> byTime() const {
    std::vector<chimera_kernel_time> v;
    for (const auto &[name, t] : kernels)
      v.push_back(t);
    std::sort(v.begin(), v.end(), [](const auto &a, const auto &b) {
      return a.seconds > b.seconds;
    });
    return v;
  }

  /// `seconds`: the test's timed time over `reps` repetitions.
  void print(double seconds, size_t reps, bool json) const {
    if (!api)
      return;
    std::vector<chimera_kernel_time> v = byTime();
    if (json) {
      std::printf(", \"seconds\": %.6f, \"kernels\": [", seconds);
      for (size_t i = 0; i < v.size(); ++i)
        std::printf("%s{\"name\": \"%s\", \"launches\": %lld, "
                    "\"seconds\": %.6f}",
                    i ? ", " : "", v[i].name, (long long)v[i].launches,
                    v[i].seconds);
      std::printf("]");
      return;
    }
    double total = 0;
    int64_t launches = 0;
    std::printf("  %-40s %12s %10s %7s\n", "kernel", "launches/rep", "ms/rep",
                "share");
    for (const chimera_kernel_time &t : v) {
      std::printf("  %-40s %12.0f %10.3f %6.1f%%\n", t.name,
                  double(t.launches) / reps, 1e3 * t.seconds / reps,
                  100 * t.seconds / seconds);
      total += t.seconds;
      launches += t.launches;
    }
    std::printf("  %-40s %12.0f %10.3f %6.1f%%\n", "all kernels",
                double(launches) / reps, 1e3 * total / reps,
                100 * total / seconds);
  }
};

/// Images/s of a VAR artifact: one untimed generation, then `reps`.
void benchImages(const Api &api, chimera_model *model, int64_t batch,
                 int64_t reps, int threads, bool json) {
  int64_t c, h, w;
  if (api.image_shape(model, &c, &h, &w) != CHIMERA_OK)
    die("%s", api.last_error());
  int64_t classes = api.num_classes(model);
  std::vector<int64_t> labels(batch);
  for (int64_t b = 0; b < batch; ++b)
    labels[b] = b % classes;
  std::vector<float> images(size_t(batch * c * h * w));
  chimera_image_options options = {4.0f, 900, 0.95f, 1};
  std::vector<double> rates;
  for (int64_t r = 0; r <= reps; ++r) {
    double start = now();
    if (api.generate_images(model, batch, labels.data(), &options,
                            images.data(), nullptr) != CHIMERA_OK)
      die("%s", api.last_error());
    if (r > 0)
      rates.push_back(double(batch) / (now() - start));
  }
  std::sort(rates.begin(), rates.end());
  double median = rates[rates.size() / 2];
  if (json)
    std::printf("{\"test\": \"images%lld\", \"threads\": %d, "
                "\"median_images_per_s\": %.4f}\n",
                (long long)batch, threads, median);
  else
    std::printf("images%-3lld %8.4f images/s (%.2f s/image, median of %zu, "
                "%d threads)\n",
                (long long)batch, median, 1.0 / median, rates.size(), threads);
}

} // namespace

int main(int argc, char **argv) {
  std::string dir;
  std::vector<Test> tests;
  int64_t reps = 5, seed = 1, images = 1;
  int threads = 2;
  bool json = false, profile = false;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!std::strncmp(a, "--pp=", 5))
      tests.push_back({true, parsePositive("--pp", a + 5)});
    else if (!std::strncmp(a, "--tg=", 5))
      tests.push_back({false, parsePositive("--tg", a + 5)});
    else if (!std::strncmp(a, "--images=", 9))
      images = parsePositive("--images", a + 9);
    else if (!std::strncmp(a, "--reps=", 7))
      reps = parsePositive("--reps", a + 7);
    else if (!std::strncmp(a, "--threads=", 10))
      threads = int(parsePositive("--threads", a + 10));
    else if (!std::strncmp(a, "--seed=", 7))
      seed = parsePositive("--seed", a + 7);
    else if (!std::strcmp(a, "--json"))
      json = true;
    else if (!std::strcmp(a, "--profile"))
      profile = true;
    else if (!std::strcmp(a, "--help")) {
      std::puts("usage: chimera-bench OUT_DIR [--pp=N]... [--tg=N]... "
                "[--reps=R] [--threads=T] [--seed=S] [--profile] [--json]\n"
                "       chimera-bench VAR_DIR [--images=B] [--reps=R] "
                "[--threads=T] [--json]");
      return 0;
    } else if (a[0] == '-')
      die("unknown option '%s' (see --help)", a);
    else
      dir = a;
  }
  if (dir.empty())
    die("missing the artifact directory");
  if (tests.empty())
    tests = {{true, 128}, {true, 512}, {false, 128}};

  Api api = chimera::tools::load(dir);
  if (profile && std::strcmp(api.device, "cpu"))
    die("--profile times the kernels of x86 artifacts; %s runs on %s",
        dir.c_str(), api.device);
  if (profile && !(api.profile && api.profile_read))
    die("%s/model.so has no kernel profile (compiled by an older "
        "chimera-compile)",
        dir.c_str());
  chimera_model *model = nullptr;
  if (api.model_open(dir.c_str(), &model) != CHIMERA_OK)
    die("%s", api.last_error());
  if (api.set_threads(threads) != CHIMERA_OK)
    die("%s", api.last_error());
  if (api.num_classes(model) > 0) {
    benchImages(api, model, images, reps, threads, json);
    api.model_close(model);
    return 0;
  }
  int64_t vocab = api.vocab_size(model);
  uint64_t state = api.sampler_seed(uint64_t(seed));
  chimera_sampler greedy = {0.0f, 0, 1.0f, 0};

  for (const Test &t : tests) {
    std::vector<int64_t> prompt(t.prompt ? t.tokens : 1);
    for (auto &id : prompt)
      id = int64_t((state = state * 6364136223846793005ull + 1) >> 33) % vocab;
    std::vector<double> rates;
    Profile kernels;
    if (profile)
      kernels.api = &api;
    double timed = 0;
    // One session per test, reused by every repetition (prefill restarts at
    // position 0), as llama-bench reuses its context: the untimed first
    // repetition touches the caches' pages, the timed ones find them warm.
    chimera_session *session = nullptr;
    if (api.session_create(model, 1, &session) != CHIMERA_OK)
      die("%s", api.last_error());
    for (int64_t r = 0; r <= reps; ++r) {
      const int64_t *rows[1] = {prompt.data()};
      int64_t length = int64_t(prompt.size());
      if (t.prompt && r > 0)
        kernels.start();
      double start = now();
      if (api.prefill(session, rows, &length) != CHIMERA_OK)
        die("%s", api.last_error());
      if (t.prompt) {
        double seconds = now() - start;
        if (r > 0) {
          kernels.stop();
          rates.push_back(double(t.tokens) / seconds);
          timed += seconds;
        }
      } else {
        if (r > 0)
          kernels.start();
        start = now();
        for (int64_t j = 0; j < t.tokens; ++j) {
          int64_t steps, v, next;
          const float *logits = api.logits(session, &steps, &v);
          if (api.sample(&greedy, logits + (steps - 1) * v, v, &state, &next) !=
              CHIMERA_OK)
            die("%s", api.last_error());
          if (api.decode(session, &next) != CHIMERA_OK)
            die("%s", api.last_error());
        }
        double seconds = now() - start;
        if (r > 0) {
          kernels.stop();
          rates.push_back(double(t.tokens) / seconds);
          timed += seconds;
        }
      }
    }
    api.session_free(session);
    std::vector<double> sorted = rates;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
    const char *kind = t.prompt ? "pp" : "tg";
    if (json) {
      std::printf("{\"test\": \"%s%lld\", \"threads\": %d, \"median_tps\": %.3f, "
                  "\"reps\": [", kind, (long long)t.tokens, threads, median);
      for (size_t i = 0; i < rates.size(); ++i)
        std::printf("%s%.3f", i ? ", " : "", rates[i]);
      std::printf("]");
      kernels.print(timed, rates.size(), json);
      std::printf("}\n");
    } else {
      std::printf("%s%-5lld %8.2f tokens/s (median of %zu, %d threads)\n", kind,
                  (long long)t.tokens, median, rates.size(), threads);
      kernels.print(timed, rates.size(), json);
    }
    std::fflush(stdout);
  }
  api.model_close(model);
  return 0;
}
