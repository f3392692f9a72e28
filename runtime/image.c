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
  if (!model->manifest.image)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "%s is a language "
                        "model, not an image generator",
                        model->manifest.model_type);
  const chimera_arg *image = &model->manifest.args[5];
  *channels = image->shape[1];
  *height = image->shape[2];
  *width = image->shape[3];
  return CHIMERA_OK;
}

static chimera_status check_request(const chimera_model *model, int64_t batch,
                                    const int64_t *labels,
                                    const chimera_image_options *options) {
  const chimera_manifest *m = &model->manifest;
  if (!m->image)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "%s is a language "
                        "model: use chimera_session_create", m->model_type);
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
  if (!isfinite(options->cfg) || !isfinite(options->top_p) ||
      options->top_p < 0 || options->top_p > 1)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "cfg must be finite "
                        "and top_p in [0, 1] (0: off), got cfg %g, top_p %g",
                        (double)options->cfg, (double)options->top_p);
  return CHIMERA_OK;
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
  chimera_status st = check_request(model, batch, labels, options);
  if (st != CHIMERA_OK)
    return st;
  const chimera_manifest *m = &model->manifest;
  const chimera_arg *a = m->args;
  int64_t total = a[4].shape[1];
  int64_t pixels = a[5].shape[1] * a[5].shape[2] * a[5].shape[3];
  /* Inputs and outputs in memory the kernels can reach. */
  void *buf[5] = {
      chimera_buffer_alloc((size_t)batch * 8), chimera_buffer_alloc(2 * 4),
      chimera_buffer_alloc(2 * 8), chimera_buffer_alloc((size_t)(batch * total) * 8),
      chimera_buffer_alloc((size_t)(batch * pixels) * 4)};
  for (int i = 0; i < 5; ++i)
    if (!buf[i]) {
      st = chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory for %lld "
                        "images", (long long)batch);
      goto done;
    }
  memcpy(buf[0], labels, (size_t)batch * 8);
  float f[2] = {options->cfg, options->top_p};
  int64_t i64[2] = {options->top_k, (int64_t)options->seed};
  memcpy(buf[1], f, sizeof f);
  memcpy(buf[2], i64, sizeof i64);
  chimera_descriptor d[6];
  void *args[6];
  int64_t weights_shape[1] = {m->weights_size};
  chimera_describe(&d[0], model->weights, weights_shape, 1);
  for (int i = 1; i < 6; ++i) {
    int64_t shape[CHIMERA_MAX_RANK];
    for (int k = 0; k < a[i].rank; ++k)
      shape[k] = a[i].shape[k] == DIM_BATCH ? batch : a[i].shape[k];
    chimera_describe(&d[i], buf[i - 1], shape, a[i].rank);
  }
  for (int i = 0; i < 6; ++i)
    args[i] = &d[i];
  chimera_model_forward(args);
  if ((st = chimera_device_finish()) != CHIMERA_OK)
    goto done;
  memcpy(images, buf[4], (size_t)(batch * pixels) * 4);
  if (tokens)
    memcpy(tokens, buf[3], (size_t)(batch * total) * 8);
done:
  for (int i = 0; i < 5; ++i)
    chimera_buffer_free(buf[i]);
  return st;
}
