/*===- sampler.c - greedy, temperature, top-k and top-p sampling ----------===*/
#include "internal.h"

#include <math.h>
#include <stdlib.h>

/* splitmix64: a small, well-mixed stream; the same seed gives the same
 * tokens on every machine. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

CHIMERA_API uint64_t chimera_sampler_seed(uint64_t seed) { return seed; }

typedef struct candidate {
  float logit;
  int64_t id;
} candidate;

static int by_logit_desc(const void *a, const void *b) {
  const candidate *x = a, *y = b;
  if (x->logit != y->logit)
    return x->logit > y->logit ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id;
}

CHIMERA_API chimera_status chimera_sample(const chimera_sampler *sampler,
                                          const float *logits, int64_t vocab,
                                          uint64_t *state, int64_t *token) {
  if (!sampler || !logits || !state || !token || vocab < 1)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT,
                        "chimera_sample: null argument or empty vocabulary");
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best])
      best = i;
  if (!(sampler->temperature > 0.0f)) {
    *token = best;
    return CHIMERA_OK;
  }
  candidate *c = malloc((size_t)vocab * sizeof *c);
  if (!c)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  for (int64_t i = 0; i < vocab; ++i)
    c[i] = (candidate){logits[i], i};
  qsort(c, (size_t)vocab, sizeof *c, by_logit_desc);
  int64_t n = vocab;
  if (sampler->top_k > 0 && sampler->top_k < n)
    n = sampler->top_k;
  /* Probabilities at temperature T, relative to the best logit. */
  double total = 0.0;
  double *p = malloc((size_t)n * sizeof *p);
  if (!p) {
    free(c);
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  }
  for (int64_t i = 0; i < n; ++i) {
    p[i] = exp(((double)c[i].logit - c[0].logit) / sampler->temperature);
    total += p[i];
  }
  if (sampler->top_p > 0.0f && sampler->top_p < 1.0f) {
    double kept = 0.0;
    int64_t keep = 0;
    while (keep < n && kept < sampler->top_p * total)
      kept += p[keep++];
    n = keep > 0 ? keep : 1;
    total = kept > 0.0 ? kept : p[0];
  }
  double u = (double)(next_random(state) >> 11) * 0x1.0p-53 * total;
  int64_t pick = n - 1;
  for (int64_t i = 0; i < n; ++i) {
    if (u < p[i]) {
      pick = i;
      break;
    }
    u -= p[i];
  }
  *token = c[pick].id;
  free(p);
  free(c);
  return CHIMERA_OK;
}
