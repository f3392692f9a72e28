//===- RuntimeApi.h - the runtime C API, resolved from an artifact -*- C++ -*-===//
//
// chimera-run and chimera-bench load an artifact's model.so with dlopen and
// call its C API through these pointers, so they need neither MLIR, LLVM
// nor a link-time dependency on one model.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TOOLS_COMMON_RUNTIMEAPI_H
#define CHIMERA_TOOLS_COMMON_RUNTIMEAPI_H

#include "runtime/chimera_runtime.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <string>

namespace chimera::tools {

/// The tool's name for messages; each tool defines it.
extern const char *kToolName;

/// Prints "<tool>: error: <message>" and exits 1.
[[noreturn]] inline void die(const char *format, ...) {
  va_list args;
  va_start(args, format);
  std::fprintf(stderr, "%s: error: ", kToolName);
  std::vfprintf(stderr, format, args);
  std::fprintf(stderr, "\n");
  va_end(args);
  std::exit(1);
}

/// The runtime's C API, resolved from the artifact's model.so.
struct Api {
  decltype(&chimera_last_error) last_error;
  decltype(&chimera_version) version;
  decltype(&chimera_model_open) model_open;
  decltype(&chimera_model_close) model_close;
  decltype(&chimera_model_vocab_size) vocab_size;
  decltype(&chimera_set_threads) set_threads;
  decltype(&chimera_session_create) session_create;
  decltype(&chimera_session_free) session_free;
  decltype(&chimera_prefill) prefill;
  decltype(&chimera_decode) decode;
  decltype(&chimera_session_logits) logits;
  decltype(&chimera_sample) sample;
  decltype(&chimera_sampler_seed) sampler_seed;
  decltype(&chimera_model_num_classes) num_classes;
  decltype(&chimera_model_scales) scales;
  decltype(&chimera_model_image_shape) image_shape;
  decltype(&chimera_generate_images) generate_images;
  decltype(&chimera_image_logits) image_logits;
  /// The kernel profile; null in an artifact built before it existed.
  decltype(&chimera_profile) profile = nullptr;
  decltype(&chimera_profile_read) profile_read = nullptr;
  /// Where the artifact's kernels run: "cpu", "vulkan" or "cuda" (the GPU
  /// target the compiler embedded, read before any driver is loaded).
  const char *device = "cpu";
};

template <typename T> void bind(void *lib, const char *name, T &fn, const std::string &path) {
  fn = reinterpret_cast<T>(dlsym(lib, name));
  if (!fn)
    die("%s: does not export %s (not a chimera artifact, or from another "
        "version)", path.c_str(), name);
}

inline Api load(const std::string &dir) {
  std::string path = dir + "/model.so";
  void *lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    die("%s: cannot load: %s", path.c_str(), dlerror());
  Api api;
  bind(lib, "chimera_last_error", api.last_error, path);
  bind(lib, "chimera_version", api.version, path);
  bind(lib, "chimera_model_open", api.model_open, path);
  bind(lib, "chimera_model_close", api.model_close, path);
  bind(lib, "chimera_model_vocab_size", api.vocab_size, path);
  bind(lib, "chimera_set_threads", api.set_threads, path);
  bind(lib, "chimera_session_create", api.session_create, path);
  bind(lib, "chimera_session_free", api.session_free, path);
  bind(lib, "chimera_prefill", api.prefill, path);
  bind(lib, "chimera_decode", api.decode, path);
  bind(lib, "chimera_session_logits", api.logits, path);
  bind(lib, "chimera_sample", api.sample, path);
  bind(lib, "chimera_sampler_seed", api.sampler_seed, path);
  bind(lib, "chimera_model_num_classes", api.num_classes, path);
  bind(lib, "chimera_model_scales", api.scales, path);
  bind(lib, "chimera_model_image_shape", api.image_shape, path);
  bind(lib, "chimera_generate_images", api.generate_images, path);
  bind(lib, "chimera_image_logits", api.image_logits, path);
  api.profile =
      reinterpret_cast<decltype(api.profile)>(dlsym(lib, "chimera_profile"));
  api.profile_read = reinterpret_cast<decltype(api.profile_read)>(
      dlsym(lib, "chimera_profile_read"));
  if (auto *target = static_cast<const char *>(dlsym(lib, "chimera_gpu_target")))
    api.device = target;
  return api;
}

} // namespace chimera::tools

#endif // CHIMERA_TOOLS_COMMON_RUNTIMEAPI_H
