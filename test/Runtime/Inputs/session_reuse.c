/* session_reuse.c - one session, the same prompt prefilled twice.
 *
 *   session_reuse ARTIFACT_DIR N ID [ID...]
 *
 * Generates N greedy tokens, prefills the same prompt again on the same
 * session (whatever its caches hold from the first run), generates again,
 * and prints both lines of tokens and the largest difference between the
 * two runs' logits at any step: a new prefill must start clean. */
#include "chimera_runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(chimera_status status) {
  if (status != CHIMERA_OK) {
    fprintf(stderr, "session_reuse: %s\n", chimera_last_error());
    exit(1);
  }
}

/* Generates `steps` tokens; `seen` receives each step's logits. */
static void generate(chimera_session *session, const int64_t *prompt,
                     int64_t length, long steps, float *seen) {
  const int64_t *prompts[1] = {prompt};
  check(chimera_prefill(session, prompts, &length));
  chimera_sampler greedy = {0.0f, 0, 1.0f, 0};
  uint64_t state = chimera_sampler_seed(0);
  for (long j = 0; j < steps; ++j) {
    int64_t rows, vocab, token;
    const float *logits = chimera_session_logits(session, &rows, &vocab);
    memcpy(seen + j * vocab, logits + (rows - 1) * vocab,
           (size_t)vocab * sizeof *seen);
    check(chimera_sample(&greedy, logits + (rows - 1) * vocab, vocab, &state,
                         &token));
    printf("%s%lld", j ? " " : "", (long long)token);
    if (j + 1 < steps)
      check(chimera_decode(session, &token));
  }
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: session_reuse ARTIFACT_DIR N ID [ID...]\n");
    return 2;
  }
  long steps = strtol(argv[2], NULL, 10);
  int64_t length = argc - 3;
  int64_t *prompt = malloc((size_t)length * sizeof *prompt);
  for (int64_t i = 0; i < length; ++i)
    prompt[i] = strtoll(argv[3 + i], NULL, 10);
  chimera_model *model;
  chimera_session *session;
  check(chimera_model_open(argv[1], &model));
  check(chimera_session_create(model, 1, &session));
  int64_t vocab = chimera_model_vocab_size(model);
  float *first = malloc((size_t)(steps * vocab) * sizeof *first);
  float *second = malloc((size_t)(steps * vocab) * sizeof *second);
  generate(session, prompt, length, steps, first);
  generate(session, prompt, length, steps, second);
  double worst = 0;
  for (int64_t i = 0; i < steps * vocab; ++i)
    worst = fmax(worst, fabs((double)first[i] - (double)second[i]));
  printf("max logit difference %g\n", worst);
  free(first);
  free(second);
  chimera_session_free(session);
  chimera_model_close(model);
  free(prompt);
  return 0;
}
