/* generate.c - greedy generation through the Chimera C API.
 *
 *   cc -std=c11 -I runtime examples/c-api/generate.c -o generate \
 *      ART/model.so -Wl,-rpath,ART
 *   ./generate ART 16 65 59 23
 *
 * Prints the generated token ids on one line. */
#include "chimera_runtime.h"

#include <stdio.h>
#include <stdlib.h>

static int check(chimera_status status) {
  if (status != CHIMERA_OK) {
    fprintf(stderr, "generate: %s\n", chimera_last_error());
    exit(1);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: generate ARTIFACT_DIR N ID [ID...]\n");
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
  const int64_t *prompts[1] = {prompt};
  check(chimera_prefill(session, prompts, &length));

  chimera_sampler greedy = {0.0f, 0, 1.0f, 0};
  uint64_t state = chimera_sampler_seed(0);
  for (long j = 0; j < steps; ++j) {
    int64_t rows, vocab, token;
    const float *logits = chimera_session_logits(session, &rows, &vocab);
    check(chimera_sample(&greedy, logits + (rows - 1) * vocab, vocab, &state,
                         &token));
    printf("%s%lld", j ? " " : "", (long long)token);
    if (j + 1 < steps)
      check(chimera_decode(session, &token));
  }
  printf("\n");
  chimera_session_free(session);
  chimera_model_close(model);
  free(prompt);
  return 0;
}
