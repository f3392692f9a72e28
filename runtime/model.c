/*===- model.c - open an artifact: manifest + mapped weights --------------===*/
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static chimera_status read_file(const char *path, char **text, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return chimera_fail(CHIMERA_ERROR_IO, "%s: cannot open: %s", path,
                        strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size > (16 << 20)) {
    fclose(f);
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: not a manifest (too large "
                        "or unreadable)", path);
  }
  *text = malloc((size_t)st.st_size + 1);
  if (!*text) {
    fclose(f);
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "%s: out of memory", path);
  }
  *size = fread(*text, 1, (size_t)st.st_size, f);
  fclose(f);
  (*text)[*size] = '\0';
  return CHIMERA_OK;
}

/* The compiled code's own description of its buffers must match the
 * manifest's. */
static chimera_status check_signature(const chimera_manifest *m,
                                      const char *path) {
  const chimera_arg *a = m->args;
  int n = m->num_args;
  size_t used = 0, cap = 160 * (size_t)n + 1;
  char *sig = malloc(cap);
  if (!sig)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  static const char *const dtypes[] = {"", "i8", "bf16", "", "f32", "", "", "",
                                       "i64"};
  for (int i = 0; i < n; ++i) {
    int size = a[i].element_size;
    const char *dtype = size <= 8 ? dtypes[size] : "";
    int w = snprintf(sig + used, cap - used, "%s:%s:%d:", a[i].name, dtype,
                     a[i].rank);
    for (int d = 0; w >= 0 && (size_t)w < cap - used && d < a[i].rank; ++d) {
      used += (size_t)w;
      w = a[i].shape[d] < 0
              ? snprintf(sig + used, cap - used, "%s?", d ? "x" : "")
              : snprintf(sig + used, cap - used, "%s%lld", d ? "x" : "",
                         (long long)a[i].shape[d]);
    }
    if (w >= 0 && (size_t)w < cap - used) {
      used += (size_t)w;
      w = snprintf(sig + used, cap - used, ";");
    }
    if (w < 0 || (size_t)w >= cap - used) {
      free(sig);
      return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: argument names too long",
                          path);
    }
    used += (size_t)w;
  }
  int same = !strcmp(sig, chimera_model_signature);
  free(sig);
  if (!same)
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: 'arguments' do not match "
                        "the buffers model.so was compiled for (%s)", path,
                        chimera_model_signature);
  return CHIMERA_OK;
}

/* Does argument `i` have this name, role, dtype size and shape
 * (DIM_BATCH for the batch dim)? */
static int arg_is(const chimera_manifest *m, int i, const char *name,
                  enum arg_role role, int element_size, int rank,
                  const int64_t *shape) {
  const chimera_arg *a = &m->args[i];
  if (strcmp(a->name, name) || a->role != role ||
      a->element_size != element_size || a->rank != rank)
    return 0;
  for (int d = 0; d < rank; ++d)
    if (shape[d] >= 0 ? a->shape[d] != shape[d] : a->shape[d] != DIM_BATCH)
      return 0;
  return 1;
}

/* An image generator: weights, class_labels [batch] i64, then either
 * sampling_f32 [2], sampling_i64 [2] -> tokens [batch, L] i64, image
 * [batch, C, H, W] f32; or (teacher forcing) image_tokens [batch, L] i64
 * -> image_logits [batch, L, V] f32. */
static chimera_status check_image_arguments(const chimera_manifest *m,
                                            const char *path) {
  int64_t total = 0;
  for (int k = 0; k < m->num_scales; ++k)
    total += m->patch_nums[k] * m->patch_nums[k];
  const chimera_arg *a = m->args;
  int64_t labels[1] = {-1}, pair[1] = {2}, tokens[2] = {-1, total};
  int64_t logits[3] = {-1, total, m->vocab_size};
  int ok = m->num_args >= 1 && a[0].role == ROLE_WEIGHTS;
  if (m->teacher_forcing)
    ok = ok && m->num_args == 4 &&
         arg_is(m, 1, "class_labels", ROLE_INPUT, 8, 1, labels) &&
         arg_is(m, 2, "image_tokens", ROLE_INPUT, 8, 2, tokens) &&
         arg_is(m, 3, "image_logits", ROLE_OUTPUT, 4, 3, logits);
  else
    ok = ok && m->num_args == 6 &&
         arg_is(m, 1, "class_labels", ROLE_INPUT, 8, 1, labels) &&
         arg_is(m, 2, "sampling_f32", ROLE_INPUT, 4, 1, pair) &&
         arg_is(m, 3, "sampling_i64", ROLE_INPUT, 8, 1, pair) &&
         arg_is(m, 4, "tokens", ROLE_OUTPUT, 8, 2, tokens) &&
         a[5].role == ROLE_OUTPUT && !strcmp(a[5].name, "image") &&
         a[5].rank == 4 && a[5].shape[0] == DIM_BATCH && a[5].shape[1] > 0 &&
         a[5].shape[2] > 0 && a[5].shape[3] > 0 && a[5].element_size == 4;
  if (!ok)
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: an image generator's "
                        "'arguments' must be weights, class_labels [batch] "
                        "i64 and %s", path,
                        m->teacher_forcing
                            ? "image_tokens [batch, L] i64, image_logits "
                              "[batch, L, vocab_size] f32"
                            : "sampling_f32 [2], sampling_i64 [2], tokens "
                              "[batch, L] i64, image [batch, C, H, W] f32");
  return check_signature(m, path);
}

/* The roles must come in the order the compiler emits them. */
static chimera_status check_arguments(const chimera_manifest *m,
                                      const char *path) {
  const chimera_arg *a = m->args;
  int n = m->num_args;
  if (n < 5 || a[0].role != ROLE_WEIGHTS || a[1].role != ROLE_INPUT_IDS ||
      a[2].role != ROLE_POSITIONS || a[3].role != ROLE_LENGTHS ||
      a[n - 1].role != ROLE_LOGITS)
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: 'arguments' must be "
                        "weights, input_ids, positions, lengths, caches..., "
                        "logits", path);
  for (int i = 4; i < n - 1; ++i)
    if (a[i].role != ROLE_CACHE || a[i].rank < 1 || a[i].shape[0] != DIM_BATCH)
      return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: argument '%s' must be a "
                          "cache with a leading batch dim", path, a[i].name);
  chimera_status st = check_signature(m, path);
  if (st != CHIMERA_OK)
    return st;
  const chimera_arg *logits = &a[n - 1];
  int64_t steps = m->last_logits ? 1 : DIM_TOKENS;
  if (logits->rank != 3 || logits->shape[0] != DIM_BATCH ||
      logits->shape[1] != steps || logits->shape[2] != m->vocab_size ||
      logits->element_size != 4)
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: 'logits' must be f32 %s",
                        path, m->last_logits ? "[batch, 1, vocab_size] "
                                               "(\"logits\": \"last\")"
                                             : "[batch, tokens, vocab_size]");
  if (a[1].element_size != 8 || a[2].element_size != 8 || a[3].element_size != 8)
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: input_ids, positions and "
                        "lengths must be i64", path);
  return CHIMERA_OK;
}

CHIMERA_API chimera_status chimera_model_open(const char *dir,
                                              chimera_model **out) {
  chimera_clear_error();
  if (!dir || !out)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_model_open: null argument");
  *out = NULL;
  char path[4096];
  if (snprintf(path, sizeof path, "%s/manifest.json", dir) >= (int)sizeof path)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "%s: path too long", dir);
  char *text;
  size_t size;
  chimera_status status = read_file(path, &text, &size);
  if (status != CHIMERA_OK)
    return status;
  chimera_model *model = calloc(1, sizeof *model);
  if (!model) {
    free(text);
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  }
  status = chimera_manifest_parse(text, size, path, &model->manifest);
  free(text);
  if (status == CHIMERA_OK)
    status = model->manifest.image
                 ? check_image_arguments(&model->manifest, path)
                 : check_arguments(&model->manifest, path);
  if (status != CHIMERA_OK) {
    chimera_model_close(model);
    return status;
  }

  const chimera_manifest *m = &model->manifest;
  snprintf(path, sizeof path, "%s/%s", dir, m->weights_file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    chimera_model_close(model);
    return chimera_fail(CHIMERA_ERROR_IO, "%s: cannot open the weight archive: "
                        "%s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size != m->weights_size) {
    long long found = fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
    close(fd);
    chimera_model_close(model);
    return chimera_fail(CHIMERA_ERROR_FORMAT, "%s: weight archive is %lld "
                        "bytes, the manifest says %lld (truncated or from "
                        "another build)", path, found,
                        (long long)m->weights_size);
  }
  if (m->weights_size > 0) {
    void *p = mmap(NULL, (size_t)m->weights_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      close(fd);
      chimera_model_close(model);
      return chimera_fail(CHIMERA_ERROR_IO, "%s: cannot map: %s", path,
                          strerror(errno));
    }
    model->weights = p;
    model->weights_mapped = (size_t)m->weights_size;
  }
  close(fd);
  /* A GPU artifact: its device, and the weights copied there once. */
  status = chimera_device_open();
  if (status == CHIMERA_OK && chimera_device_active() && m->weights_size > 0) {
    void *copy = chimera_device_alloc((size_t)m->weights_size, 1);
    if (!copy) {
      status = chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "%s: %lld bytes of "
                            "weights do not fit in %s memory", path,
                            (long long)m->weights_size, chimera_device_name());
    } else {
      memcpy(copy, model->weights, (size_t)m->weights_size);
      munmap(model->weights, model->weights_mapped);
      model->weights = copy;
      model->weights_mapped = 0;
      model->weights_on_device = 1;
    }
  }
  if (status != CHIMERA_OK) {
    chimera_model_close(model);
    return status;
  }
  *out = model;
  return CHIMERA_OK;
}

CHIMERA_API void chimera_model_close(chimera_model *model) {
  if (!model)
    return;
  if (model->weights_on_device)
    chimera_device_free(model->weights);
  else if (model->weights)
    munmap(model->weights, model->weights_mapped);
  chimera_manifest_free(&model->manifest);
  free(model);
}

CHIMERA_API int64_t chimera_model_vocab_size(const chimera_model *model) {
  return model ? model->manifest.vocab_size : 0;
}
CHIMERA_API int64_t chimera_model_max_seq_len(const chimera_model *model) {
  return model ? model->manifest.max_seq_len : 0;
}
CHIMERA_API int64_t chimera_model_max_batch(const chimera_model *model) {
  return model ? model->manifest.max_batch : 0;
}
CHIMERA_API const char *chimera_model_device(const chimera_model *model) {
  (void)model;
  return chimera_device_name();
}

CHIMERA_API const char *chimera_model_architecture(const chimera_model *model) {
  return model ? model->manifest.model_type : "";
}
