/*===- internal.h - shared pieces of the runtime's implementation --------===*/
#ifndef CHIMERA_RUNTIME_INTERNAL_H
#define CHIMERA_RUNTIME_INTERNAL_H

#include "chimera_runtime.h"

#include <stddef.h>
#include <stdint.h>

#define CHIMERA_API __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

/* Records the message for chimera_last_error and returns `status`. */
chimera_status chimera_fail(chimera_status status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void chimera_clear_error(void);

/* Symbolic dims in a manifest shape. */
enum {
  DIM_BATCH = -1,       /* rows in the session */
  DIM_TOKENS = -2,      /* tokens in this call */
  DIM_MAX_SEQ_LEN = -3, /* compiled maximum */
  DIM_WEIGHTS = -4      /* bytes of the weight archive */
};

enum arg_role { ROLE_WEIGHTS, ROLE_INPUT_IDS, ROLE_POSITIONS, ROLE_LENGTHS,
                ROLE_CACHE, ROLE_LOGITS, ROLE_INPUT, ROLE_OUTPUT };

#define CHIMERA_MAX_SCALES 32

#define CHIMERA_MAX_RANK 8

typedef struct chimera_arg {
  char name[128];
  enum arg_role role;
  int element_size; /* bytes */
  int rank;
  int64_t shape[CHIMERA_MAX_RANK];
} chimera_arg;

typedef struct chimera_manifest {
  char version[32];
  int64_t abi_version;
  char model_type[64];
  char architecture[128];
  char dtype[16];
  int64_t vocab_size, max_seq_len, max_batch, weights_size;
  char weights_file[256];
  int recompute; /* "decode": "recompute": each step reruns the sequence */
  int last_logits; /* "logits": "last": prefill yields [batch, 1, vocab] */
  int image;       /* "kind": "image": a class-conditional image generator */
  int teacher_forcing; /* "image": {"entry": "teacher_forcing"}: logits of
                          given token maps instead of generation */
  int64_t num_classes;               /* "image": {"num_classes": N, */
  int num_scales;                    /*  "patch_nums": [...]}       */
  int64_t patch_nums[CHIMERA_MAX_SCALES];
  int num_args;
  chimera_arg *args;
} chimera_manifest;

/* Parses manifest.json text; `path` names the file in messages. */
chimera_status chimera_manifest_parse(const char *text, size_t size,
                                      const char *path, chimera_manifest *out);
void chimera_manifest_free(chimera_manifest *manifest);

/* The compiled model: args[i] points at the memref descriptor of manifest
 * argument i. Defined in the artifact's generated code. */
void chimera_model_forward(void **args);
/* "name:dtype:rank;" per argument of the compiled entry, NUL-terminated. */
extern const char chimera_model_signature[];

struct chimera_model {
  chimera_manifest manifest;
  void *weights; /* mapped PROT_READ: the compiled code only reads it */
  size_t weights_mapped;
  int weights_on_device; /* a GPU artifact's copy in device memory */
};

/* A memref descriptor: {allocated, aligned, offset, sizes[r], strides[r]}. */
typedef struct chimera_descriptor {
  void *allocated, *aligned;
  int64_t offset;
  int64_t dims[2 * CHIMERA_MAX_RANK];
} chimera_descriptor;

/* Describes a contiguous row-major buffer. */
void chimera_describe(chimera_descriptor *d, void *data, const int64_t *shape,
                      int rank);
/* Zeroed buffers the compiled code reads or writes: device memory for a GPU
 * artifact (device.c), else the heap; NULL when out of memory. */
void *chimera_buffer_alloc(size_t bytes);
void chimera_buffer_free(void *p);

/* Runs a kernel grid: fn(begin, end, ctx) over disjoint ranges covering
 * [0, n), on the calling thread and the pool's workers. Compiled code calls
 * it for every kernel launch (see chimera-outline-kernels), with the
 * compiler's estimate of the operations one item runs (0: not known); a
 * grid with too little work for a second thread runs on the calling one. */
void chimera_parallel_for(int64_t n, int64_t item_work,
                          void (*fn)(int64_t begin, int64_t end, void *ctx),
                          void *ctx);
int chimera_thread_count(void);

/* The kernel profile (profile.c): chimera_parallel_for brackets each grid
 * with these. start returns 0 while the profile is off; stop(fn, 0) does
 * nothing. */
uint64_t chimera_profile_start(void);
void chimera_profile_stop(void (*fn)(int64_t, int64_t, void *), uint64_t start);

/* Scratch memory for memref.alloc/dealloc in compiled code (scratch.c):
 * freed blocks are kept for the next call (by size class when small). */
void *_mlir_memref_to_llvm_alloc(size_t size);
void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size);
void _mlir_memref_to_llvm_free(void *ptr);

#ifdef __cplusplus
}
#endif

#endif /* CHIMERA_RUNTIME_INTERNAL_H */
