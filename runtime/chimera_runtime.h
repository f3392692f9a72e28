/*===- chimera_runtime.h - the Chimera runtime C API ----------------------===*
 *
 * Every artifact that `chimera-compile --target=x86_64|vulkan|cuda -o DIR`
 * writes is a directory:
 *
 *   DIR/model.so       compiled model + this runtime; exports the API below
 *   DIR/weights.bin    the weight archive (mapped read-only, never copied)
 *   DIR/manifest.json  model name, architecture, dtypes, limits, buffers
 *
 * Link against DIR/model.so (or dlopen it) and:
 *
 *   chimera_model *m;   chimera_model_open("DIR", &m);
 *   chimera_session *s; chimera_session_create(m, 2, &s);
 *   chimera_prefill(s, prompts, lengths);          // fills the caches
 *   const float *l = chimera_session_logits(s, &rows, &vocab);
 *   chimera_decode(s, next_tokens);                // one token per row
 *   chimera_session_free(s); chimera_model_close(m);
 *
 * An image generator (VAR: manifest "kind": "image") has no sessions:
 *
 *   chimera_image_options o = {4.0f, 900, 0.95f, 0};
 *   chimera_generate_images(m, 2, labels, &o, images, tokens);
 *
 * The runtime allocates, maps weights, calls the compiled model, keeps the
 * caches and samples; all model arithmetic is compiled code. A Vulkan or
 * CUDA artifact loads its driver with dlopen when it is opened (a machine
 * without one gets CHIMERA_ERROR_DEVICE), copies the weights to the device
 * once and keeps the caches there. Every call
 * returns a status; on failure chimera_last_error() says what and where. No
 * input makes it abort the calling process.
 *
 *===----------------------------------------------------------------------===*/
#ifndef CHIMERA_RUNTIME_H
#define CHIMERA_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CHIMERA_ABI_VERSION 1

typedef enum chimera_status {
  CHIMERA_OK = 0,
  CHIMERA_ERROR_IO = 1,            /* a file is missing or unreadable */
  CHIMERA_ERROR_FORMAT = 2,        /* a manifest or archive is malformed */
  CHIMERA_ERROR_VERSION = 3,       /* an artifact from another version */
  CHIMERA_ERROR_INVALID_ARGUMENT = 4,
  CHIMERA_ERROR_OUT_OF_RANGE = 5,  /* token id >= vocab, prompt too long */
  CHIMERA_ERROR_OUT_OF_MEMORY = 6,
  CHIMERA_ERROR_DEVICE = 7         /* no driver or device for a GPU artifact,
                                      or a kernel failed on it */
} chimera_status;

typedef struct chimera_model chimera_model;
typedef struct chimera_session chimera_session;

/* The message of the last failure on this thread ("" when none). */
const char *chimera_last_error(void);
/* The runtime's version string, e.g. "0.1.0". */
const char *chimera_version(void);

/* Opens the artifact directory: checks the manifest against this runtime,
 * maps weights.bin. */
chimera_status chimera_model_open(const char *artifact_dir,
                                  chimera_model **model);
void chimera_model_close(chimera_model *model);

int64_t chimera_model_vocab_size(const chimera_model *model);
int64_t chimera_model_max_seq_len(const chimera_model *model);
int64_t chimera_model_max_batch(const chimera_model *model);
/* "llama", "jamba", ... */
const char *chimera_model_architecture(const chimera_model *model);
/* Where the kernels run: "cpu" (x86 artifacts), "vulkan" or "cuda". */
const char *chimera_model_device(const chimera_model *model);

/* Threads used to run kernels (0 = one per core). Process-wide. */
chimera_status chimera_set_threads(int threads);

/* The kernel profile: while on, every kernel grid of an x86 artifact is
 * timed, from its launch until its last item is done (a GPU artifact's
 * launches are not). Process-wide, like the threads; turning it on starts
 * from zero. The overhead is two clock reads per launch. */
typedef struct chimera_kernel_time {
  const char *name; /* the compiled kernel, e.g. "forward_kernel_3_matmul" */
  int64_t launches;
  double seconds;
} chimera_kernel_time;
chimera_status chimera_profile(int on);
/* Copies up to `capacity` kernels' times, the most time first, and returns
 * how many kernels have been timed. */
int chimera_profile_read(chimera_kernel_time *times, int capacity);

/* A session holds the caches (KV caches, conv and SSM states) of `batch`
 * rows, allocated once at the compiled maximum sequence length. */
chimera_status chimera_session_create(chimera_model *model, int64_t batch,
                                      chimera_session **session);
void chimera_session_free(chimera_session *session);

/* Runs the prompts (`prompts[b]` has `lengths[b]` >= 1 ids) from position 0.
 * Afterwards chimera_session_logits holds one row per prompt position:
 * [batch, max(lengths), vocab], rows past a prompt's length are zero; or,
 * for an artifact compiled with `--logits=last` (the default), one row per
 * prompt, at its last position: [batch, 1, vocab]. */
chimera_status chimera_prefill(chimera_session *session,
                               const int64_t *const *prompts,
                               const int64_t *lengths);

/* Feeds one token per row at the row's next position. Afterwards the logits
 * are [batch, 1, vocab]. */
chimera_status chimera_decode(chimera_session *session, const int64_t *tokens);

/* The logits of the last prefill/decode: `*steps` rows per batch row. The
 * next token of row `b` is sampled from row `*steps == 1 ? 0 : length - 1`
 * of its block (its last position either way). */
const float *chimera_session_logits(const chimera_session *session,
                                    int64_t *steps, int64_t *vocab);
/* The number of tokens row `row` has consumed so far. */
int64_t chimera_session_length(const chimera_session *session, int64_t row);

typedef struct chimera_sampler {
  float temperature; /* <= 0: greedy (argmax, ties to the lower id) */
  int32_t top_k;     /* <= 0: all */
  float top_p;       /* >= 1 or <= 0: all */
  uint64_t seed;
} chimera_sampler;

/* Picks a token from one row of logits. `state` carries the random stream
 * between calls; initialise it with chimera_sampler_seed. */
chimera_status chimera_sample(const chimera_sampler *sampler,
                              const float *logits, int64_t vocab,
                              uint64_t *state, int64_t *token);
uint64_t chimera_sampler_seed(uint64_t seed);

/*===- Class-conditional image generation (VAR) ---------------------------===*/

typedef struct chimera_image_options {
  float cfg;     /* classifier-free guidance; scale k of S uses cfg·k/(S−1) */
  int32_t top_k; /* <= 0: all codes */
  float top_p;   /* in [0, 1]; 0: off */
  uint64_t seed; /* the compiled sampler's random stream */
} chimera_image_options;

/* Classes of an image generator (0 for a language model). */
int64_t chimera_model_num_classes(const chimera_model *model);
/* The scale schedule: returns the number of scales and points *patch_nums
 * at their sizes (0 for a language model). */
int chimera_model_scales(const chimera_model *model,
                         const int64_t **patch_nums);
chimera_status chimera_model_image_shape(const chimera_model *model,
                                         int64_t *channels, int64_t *height,
                                         int64_t *width);

/* Generates one image per class label. `images` receives [batch, C, H, W]
 * floats in [0, 1]; `tokens` (may be NULL) receives [batch, Σ p²]: per
 * image, every scale's token map row-major, coarsest first. Labels must be
 * in [0, num_classes). */
chimera_status chimera_generate_images(chimera_model *model, int64_t batch,
                                       const int64_t *class_labels,
                                       const chimera_image_options *options,
                                       float *images, int64_t *tokens);

/* For an artifact compiled with `chimera-compile --teacher-forcing`: the
 * logits [batch, Σ p², vocab] that VAR.forward gives the token maps
 * `tokens` [batch, Σ p²] (laid out as chimera_generate_images returns
 * them), block-causal over the scales. */
chimera_status chimera_image_logits(chimera_model *model, int64_t batch,
                                    const int64_t *class_labels,
                                    const int64_t *tokens, float *logits);

#ifdef __cplusplus
}
#endif

#endif /* CHIMERA_RUNTIME_H */
