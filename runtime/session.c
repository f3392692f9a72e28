/*===- session.c - caches, prefill and decode -----------------------------===*
 *
 * A session owns one buffer per cache argument, sized once for its batch at
 * the compiled maximum sequence length. The compiled model writes new rows
 * into them in place; the runtime never copies a cache.
 *
 *===----------------------------------------------------------------------===*/
#include "device.h"

#include <stdlib.h>
#include <string.h>

struct chimera_session {
  chimera_model *model;
  int64_t batch;
  int num_caches;
  void **caches;      /* per cache argument */
  int64_t *lengths;   /* tokens consumed per row */
  float *logits;      /* [batch, steps, vocab] */
  int64_t steps, logits_capacity;
  int64_t *ids, *positions, *call_lengths; /* scratch inputs */
  int64_t scratch_capacity;
  /* Recompute mode: every token of every row, and one row's logits. */
  int64_t *history;
  float *row_logits;
};

void *chimera_buffer_alloc(size_t bytes) {
  void *p = NULL;
  if (chimera_device_active())
    p = chimera_device_alloc(bytes ? bytes : 64, 1);
  else if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
    p = NULL;
  if (p)
    memset(p, 0, bytes);
  return p;
}

void chimera_buffer_free(void *p) {
  if (chimera_device_active())
    chimera_device_free(p);
  else
    free(p);
}

/* Resolves symbolic dims; 0 when a size overflows. */
static int64_t resolve(const chimera_session *s, const chimera_arg *arg,
                       int64_t tokens, int64_t *shape) {
  int64_t elements = 1;
  for (int d = 0; d < arg->rank; ++d) {
    int64_t v = arg->shape[d];
    if (v == DIM_BATCH) v = s->batch;
    else if (v == DIM_TOKENS) v = tokens;
    else if (v == DIM_MAX_SEQ_LEN) v = s->model->manifest.max_seq_len;
    else if (v == DIM_WEIGHTS) v = s->model->manifest.weights_size;
    shape[d] = v;
    if (v != 0 && elements > INT64_MAX / 16 / v)
      return -1;
    elements *= v;
  }
  return elements;
}

void chimera_describe(chimera_descriptor *d, void *data, const int64_t *shape,
                      int rank) {
  d->allocated = d->aligned = data;
  d->offset = 0;
  int64_t stride = 1;
  for (int i = rank - 1; i >= 0; --i) {
    d->dims[i] = shape[i];
    d->dims[rank + i] = stride;
    stride *= shape[i];
  }
}

CHIMERA_API chimera_status chimera_session_create(chimera_model *model,
                                                  int64_t batch,
                                                  chimera_session **out) {
  chimera_clear_error();
  if (!model || !out)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_session_create: null argument");
  *out = NULL;
  if (model->manifest.image)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "this artifact is an "
                        "image generator (%s): use chimera_generate_images",
                        model->manifest.model_type);
  if (batch < 1 || batch > model->manifest.max_batch)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "batch %lld is outside the "
                        "compiled range [1, %lld] (--max-batch)",
                        (long long)batch, (long long)model->manifest.max_batch);
  chimera_session *s = calloc(1, sizeof *s);
  if (!s)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  s->model = model;
  s->batch = batch;
  s->num_caches = model->manifest.num_args - 5;
  s->caches = calloc((size_t)s->num_caches + 1, sizeof(void *));
  s->lengths = calloc((size_t)batch, sizeof(int64_t));
  if (model->manifest.recompute) {
    int64_t m = model->manifest.max_seq_len;
    s->history = chimera_buffer_alloc((size_t)(batch * m) * 8);
    s->row_logits = chimera_buffer_alloc((size_t)(m * model->manifest.vocab_size) * 4);
  }
  if (!s->caches || !s->lengths ||
      (model->manifest.recompute && (!s->history || !s->row_logits))) {
    chimera_session_free(s);
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  }
  for (int i = 0; i < s->num_caches; ++i) {
    const chimera_arg *arg = &model->manifest.args[4 + i];
    int64_t shape[CHIMERA_MAX_RANK];
    int64_t elements = resolve(s, arg, 1, shape);
    s->caches[i] = elements < 0 ? NULL
                                : chimera_buffer_alloc((size_t)elements *
                                                 (size_t)arg->element_size);
    if (!s->caches[i]) {
      chimera_session_free(s);
      return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "cannot allocate cache "
                          "'%s'", arg->name);
    }
  }
  *out = s;
  return CHIMERA_OK;
}

CHIMERA_API void chimera_session_free(chimera_session *s) {
  if (!s)
    return;
  for (int i = 0; s->caches && i < s->num_caches; ++i)
    chimera_buffer_free(s->caches[i]);
  free(s->caches);
  free(s->lengths);
  chimera_buffer_free(s->logits);
  chimera_buffer_free(s->ids);
  chimera_buffer_free(s->positions);
  chimera_buffer_free(s->call_lengths);
  chimera_buffer_free(s->history);
  chimera_buffer_free(s->row_logits);
  free(s);
}

static chimera_status reserve(chimera_session *s, int64_t tokens) {
  int64_t n = s->batch * tokens;
  if (n > s->scratch_capacity) {
    chimera_buffer_free(s->ids);
    chimera_buffer_free(s->positions);
    s->ids = chimera_buffer_alloc((size_t)n * 8);
    s->positions = chimera_buffer_alloc((size_t)n * 8);
    s->scratch_capacity = s->ids && s->positions ? n : 0;
  }
  if (!s->call_lengths)
    s->call_lengths = chimera_buffer_alloc((size_t)s->batch * 8);
  int64_t v = s->model->manifest.vocab_size;
  int64_t rows = s->model->manifest.last_logits ? s->batch : n;
  if (rows * v > s->logits_capacity) {
    chimera_buffer_free(s->logits);
    s->logits = chimera_buffer_alloc((size_t)(rows * v) * 4);
    s->logits_capacity = s->logits ? rows * v : 0;
  }
  if (!s->ids || !s->positions || !s->call_lengths || !s->logits)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory for %lld "
                        "tokens", (long long)tokens);
  return CHIMERA_OK;
}

/* Calls the compiled model for rows [row, row + rows) of the caches with
 * `tokens` tokens per row. */
static chimera_status call_model(chimera_session *s, int64_t row,
                                 int64_t rows, int64_t tokens, int64_t *ids,
                                 int64_t *positions, int64_t *lengths,
                                 float *logits) {
  const chimera_manifest *m = &s->model->manifest;
  int n = m->num_args;
  chimera_descriptor stack[16];
  chimera_descriptor *d = n <= 16 ? stack : malloc((size_t)n * sizeof(chimera_descriptor));
  void *stackArgs[16];
  void **args = n <= 16 ? stackArgs : malloc((size_t)n * sizeof(void *));
  int64_t batch = s->batch;
  s->batch = rows; /* shapes of this call */
  void *data[4] = {s->model->weights, ids, positions, lengths};
  for (int i = 0; i < n; ++i) {
    int64_t shape[CHIMERA_MAX_RANK];
    int64_t elements = resolve(s, &m->args[i], tokens, shape);
    void *p;
    if (i < 4)
      p = data[i];
    else if (i == n - 1)
      p = logits;
    else /* row `row` of a cache: rows are contiguous */
      p = (char *)s->caches[i - 4] +
          (size_t)(row * (elements / rows)) * (size_t)m->args[i].element_size;
    chimera_describe(&d[i], p, shape, m->args[i].rank);
    args[i] = &d[i];
  }
  s->batch = batch;
  chimera_model_forward(args);
  if (d != stack)
    free(d);
  if (args != stackArgs)
    free(args);
  /* The device's queued launches, and any that failed. */
  return chimera_device_finish();
}

static chimera_status run(chimera_session *s, int64_t tokens) {
  return call_model(s, 0, s->batch, tokens, s->ids, s->positions,
                    s->call_lengths, s->logits);
}

/* Recompute mode: row `b` runs its whole history (`length` tokens) alone;
 * returns its logits in s->row_logits. */
static chimera_status rerun_row(chimera_session *s, int64_t b,
                                int64_t length) {
  int64_t m = s->model->manifest.max_seq_len;
  for (int64_t t = 0; t < length; ++t)
    s->positions[t] = t;
  s->call_lengths[0] = length;
  return call_model(s, b, 1, length, s->history + b * m, s->positions,
                    s->call_lengths, s->row_logits);
}

static chimera_status check_token(const chimera_session *s, int64_t token,
                                  int64_t row, int64_t index) {
  if (token < 0 || token >= s->model->manifest.vocab_size)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "token id %lld at row %lld "
                        "position %lld is outside the vocabulary [0, %lld)",
                        (long long)token, (long long)row, (long long)index,
                        (long long)s->model->manifest.vocab_size);
  return CHIMERA_OK;
}

CHIMERA_API chimera_status chimera_prefill(chimera_session *s,
                                           const int64_t *const *prompts,
                                           const int64_t *lengths) {
  chimera_clear_error();
  if (!s || !prompts || !lengths)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_prefill: null argument");
  int64_t longest = 0, max = s->model->manifest.max_seq_len;
  for (int64_t b = 0; b < s->batch; ++b) {
    if (lengths[b] < 1 || lengths[b] > max)
      return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "prompt %lld has %lld "
                          "tokens; the artifact was compiled for 1 to %lld "
                          "(--max-seq-len)", (long long)b, (long long)lengths[b],
                          (long long)max);
    if (!prompts[b])
      return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "prompt %lld is null",
                          (long long)b);
    for (int64_t t = 0; t < lengths[b]; ++t) {
      chimera_status st = check_token(s, prompts[b][t], b, t);
      if (st != CHIMERA_OK)
        return st;
    }
    if (lengths[b] > longest)
      longest = lengths[b];
  }
  chimera_status st = reserve(s, s->model->manifest.recompute
                                      ? (longest > s->batch ? longest : s->batch)
                                      : longest);
  if (st != CHIMERA_OK)
    return st;
  int64_t v = s->model->manifest.vocab_size;
  if (s->model->manifest.recompute) {
    int64_t m = s->model->manifest.max_seq_len;
    memset(s->logits, 0, (size_t)(s->batch * longest * v) * 4);
    for (int64_t b = 0; b < s->batch; ++b) {
      memcpy(s->history + b * m, prompts[b], (size_t)lengths[b] * 8);
      if ((st = rerun_row(s, b, lengths[b])) != CHIMERA_OK)
        return st;
      memcpy(s->logits + b * longest * v, s->row_logits,
             (size_t)(lengths[b] * v) * 4);
      s->lengths[b] = lengths[b];
    }
    s->steps = longest;
    return CHIMERA_OK;
  }
  for (int64_t b = 0; b < s->batch; ++b) {
    for (int64_t t = 0; t < longest; ++t) {
      s->ids[b * longest + t] = t < lengths[b] ? prompts[b][t] : 0;
      s->positions[b * longest + t] = t;
    }
    s->call_lengths[b] = lengths[b];
  }
  if ((st = run(s, longest)) != CHIMERA_OK)
    return st;
  for (int64_t b = 0; b < s->batch; ++b)
    s->lengths[b] = lengths[b];
  if (s->model->manifest.last_logits) {
    /* One row per prompt: its last position. */
    s->steps = 1;
    return CHIMERA_OK;
  }
  /* Rows past a prompt's end computed padding; they mean nothing. */
  for (int64_t b = 0; b < s->batch; ++b)
    memset(s->logits + (b * longest + lengths[b]) * v, 0,
           (size_t)((longest - lengths[b]) * v) * 4);
  s->steps = longest;
  return CHIMERA_OK;
}

CHIMERA_API chimera_status chimera_decode(chimera_session *s,
                                          const int64_t *tokens) {
  chimera_clear_error();
  if (!s || !tokens)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_decode: null argument");
  int64_t max = s->model->manifest.max_seq_len;
  for (int64_t b = 0; b < s->batch; ++b) {
    if (s->lengths[b] < 1)
      return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "row %lld has no "
                          "prompt: call chimera_prefill first", (long long)b);
    if (s->lengths[b] + 1 > max)
      return chimera_fail(CHIMERA_ERROR_OUT_OF_RANGE, "row %lld is full: %lld "
                          "tokens is the compiled maximum (--max-seq-len)",
                          (long long)b, (long long)max);
    chimera_status st = check_token(s, tokens[b], b, s->lengths[b]);
    if (st != CHIMERA_OK)
      return st;
  }
  int64_t longest = 0;
  for (int64_t b = 0; b < s->batch; ++b)
    if (s->lengths[b] + 1 > longest)
      longest = s->lengths[b] + 1;
  chimera_status st = reserve(s, s->model->manifest.recompute ? longest : 1);
  if (st != CHIMERA_OK)
    return st;
  if (s->model->manifest.recompute) {
    /* The reference routes over the whole sequence: rerun it. */
    int64_t m = s->model->manifest.max_seq_len, v = s->model->manifest.vocab_size;
    for (int64_t b = 0; b < s->batch; ++b) {
      s->history[b * m + s->lengths[b]] = tokens[b];
      if ((st = rerun_row(s, b, s->lengths[b] + 1)) != CHIMERA_OK)
        return st;
      memcpy(s->logits + b * v, s->row_logits + s->lengths[b] * v,
             (size_t)v * 4);
      ++s->lengths[b];
    }
    s->steps = 1;
    return CHIMERA_OK;
  }
  for (int64_t b = 0; b < s->batch; ++b) {
    s->ids[b] = tokens[b];
    s->positions[b] = s->lengths[b];
    s->call_lengths[b] = 1;
  }
  if ((st = run(s, 1)) != CHIMERA_OK)
    return st;
  for (int64_t b = 0; b < s->batch; ++b)
    ++s->lengths[b];
  s->steps = 1;
  return CHIMERA_OK;
}

CHIMERA_API const float *chimera_session_logits(const chimera_session *s,
                                                int64_t *steps, int64_t *vocab) {
  if (!s)
    return NULL;
  if (steps)
    *steps = s->steps;
  if (vocab)
    *vocab = s->model->manifest.vocab_size;
  return s->logits;
}

CHIMERA_API int64_t chimera_session_length(const chimera_session *s,
                                           int64_t row) {
  return s && row >= 0 && row < s->batch ? s->lengths[row] : 0;
}
