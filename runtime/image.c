/*===- image.c - class-conditional image generation (VAR) -----------------===*
 *
 * One call runs the whole compiled generator: every scale of the schedule,
 * the sampling and the VQVAE decoder. The runtime only checks the request,
 * places the inputs and copies the outputs out.
 *
 *===----------------------------------------------------------------------===*/
#include "device.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

CHIMERA_API int64_t chimera_model_num_classes(const chimera_model *model) {
  return model && model->manifest.image ? model->manifest.num_classes : 0;
}

CHIMERA_API int chimera_model_scales(const chimera_model *model,
                                     const int64_t **patch_nums) {
  if (!model || !model->manifest.image)
    return 0;
  if (patch_nums)
    *patch_nums = model->manifest.patch_nums;
  return model->manifest.num_scales;
}

CHIMERA_API chimera_status chimera_model_image_shape(const chimera_model *model,
                                                     int64_t *channels,
                                                     int64_t *height,
                                                     int64_t *width) {
  chimera_clear_error();
  if (!model || !channels || !height || !width)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_model_image_shape: null argument");
  if (!model->manifest.image || model->manifest.teacher_forcing)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "%s: %s",
                        model->manifest.model_type,
                        model->manifest.image
                            ? "a --teacher-forcing artifact makes no images"
                            : "a language model, not an image generator");
  const chimera_arg *image = &model->manifest.args[5];
  *channels = image->shape[1];
  *height = image->shape[2];
  *width = image->shape[3];
  return CHIMERA_OK;
}

/* Checks the batch and the labels of a request. */
static chimera_status check_labels(const chimera_model *model, int64_t batch,
                                   const int64_t *labels) {
  const chimera_manifest *m = &model->manifest;
  if (batch < 1 || batch > m->max_batch)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "batch %lld is outside the "
                        "compiled range [1, %lld] (--max-batch)",
                        (long long)batch, (long long)m->max_batch);
  for (int64_t b = 0; b < batch; ++b)
    if (labels[b] < 0 || labels[b] >= m->num_classes)
      return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "class label %lld (image "
                          "%lld) is outside [0, %lld): the model has %lld "
                          "classes", (long long)labels[b], (long long)b,
                          (long long)m->num_classes,
                          (long long)m->num_classes);
  return CHIMERA_OK;
}

static chimera_status check_entry(const chimera_model *model,
                                  int teacher_forcing, const char *call) {
  const chimera_manifest *m = &model->manifest;
  if (!m->image)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "%s is a language "
                        "model: use chimera_session_create", m->model_type);
  if (m->teacher_forcing != teacher_forcing)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "%s: this artifact "
                        "was compiled %s", call,
                        m->teacher_forcing
                            ? "with --teacher-forcing: use chimera_image_logits"
                            : "as a generator: use chimera_generate_images");
  return CHIMERA_OK;
}

/* The caller's memory for one argument: `in` for an input, `out` (may be
 * NULL: not wanted) for an output. */
typedef struct image_arg {
  const void *in;
  void *out;
  size_t bytes;
} image_arg;

/* Calls the compiled model with io[i] for argument i + 1: inputs are
 * copied in, outputs copied out after the call. */
static chimera_status call_model(chimera_model *model, int64_t batch,
                                 const image_arg *io) {
  const chimera_manifest *m = &model->manifest;
  const chimera_arg *a = m->args;
  int n = m->num_args;
  void *buf[8] = {0};
  chimera_descriptor d[8];
  void *args[8];
  chimera_status st = CHIMERA_OK;
  int64_t weights_shape[1] = {m->weights_size};
  chimera_describe(&d[0], model->weights, weights_shape, 1);
  args[0] = &d[0];
  for (int i = 1; i < n && st == CHIMERA_OK; ++i) {
    /* Inputs and outputs in memory the kernels can reach. */
    buf[i] = chimera_buffer_alloc(io[i - 1].bytes);
    if (!buf[i]) {
      st = chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory for %lld "
                        "images", (long long)batch);
      break;
    }
    if (a[i].role == ROLE_INPUT)
      memcpy(buf[i], io[i - 1].in, io[i - 1].bytes);
    int64_t shape[CHIMERA_MAX_RANK];
    for (int k = 0; k < a[i].rank; ++k)
      shape[k] = a[i].shape[k] == DIM_BATCH ? batch : a[i].shape[k];
    chimera_describe(&d[i], buf[i], shape, a[i].rank);
    args[i] = &d[i];
  }
  if (st == CHIMERA_OK) {
    chimera_model_forward(args);
    st = chimera_device_finish();
  }
  for (int i = 1; i < n; ++i) {
    if (st == CHIMERA_OK && a[i].role == ROLE_OUTPUT && io[i - 1].out)
      memcpy(io[i - 1].out, buf[i], io[i - 1].bytes);
    chimera_buffer_free(buf[i]);
  }
  return st;
}

static int64_t total_tokens(const chimera_manifest *m) {
  int64_t total = 0;
  for (int k = 0; k < m->num_scales; ++k)
    total += m->patch_nums[k] * m->patch_nums[k];
  return total;
}

CHIMERA_API chimera_status
chimera_generate_images(chimera_model *model, int64_t batch,
                        const int64_t *labels,
                        const chimera_image_options *options, float *images,
                        int64_t *tokens) {
  chimera_clear_error();
  if (!model || !labels || !options || !images)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_generate_images: null argument");
  chimera_status st;
  if ((st = check_entry(model, 0, "chimera_generate_images")) != CHIMERA_OK ||
      (st = check_labels(model, batch, labels)) != CHIMERA_OK)
    return st;
  if (!isfinite(options->cfg) || !isfinite(options->top_p) ||
      options->top_p < 0 || options->top_p > 1)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "cfg must be finite "
                        "and top_p in [0, 1] (0: off), got cfg %g, top_p %g",
                        (double)options->cfg, (double)options->top_p);
  const chimera_manifest *m = &model->manifest;
  int64_t total = total_tokens(m);
  int64_t pixels = m->args[5].shape[1] * m->args[5].shape[2] *
                   m->args[5].shape[3];
  float f[2] = {options->cfg, options->top_p};
  int64_t i64[2] = {options->top_k, (int64_t)options->seed};
  image_arg io[5] = {{labels, NULL, (size_t)batch * 8},
                     {f, NULL, sizeof f},
                     {i64, NULL, sizeof i64},
                     {NULL, tokens, (size_t)(batch * total) * 8},
                     {NULL, images, (size_t)(batch * pixels) * 4}};
  return call_model(model, batch, io);
}

CHIMERA_API chimera_status chimera_image_logits(chimera_model *model,
                                                int64_t batch,
                                                const int64_t *labels,
                                                const int64_t *tokens,
                                                float *logits) {
  chimera_clear_error();
  if (!model || !labels || !tokens || !logits)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_image_logits: null argument");
  chimera_status st;
  if ((st = check_entry(model, 1, "chimera_image_logits")) != CHIMERA_OK ||
      (st = check_labels(model, batch, labels)) != CHIMERA_OK)
    return st;
  const chimera_manifest *m = &model->manifest;
  int64_t total = total_tokens(m);
  for (int64_t i = 0; i < batch * total; ++i)
    if (tokens[i] < 0 || tokens[i] >= m->vocab_size)
      return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "token %lld of image "
                          "%lld is %lld, outside the codebook [0, %lld)",
                          (long long)(i % total), (long long)(i / total),
                          (long long)tokens[i], (long long)m->vocab_size);
  image_arg io[3] = {{labels, NULL, (size_t)batch * 8},
                     {tokens, NULL, (size_t)(batch * total) * 8},
                     {NULL, logits, (size_t)(batch * total * m->vocab_size) * 4}};
  return call_model(model, batch, io);
}
