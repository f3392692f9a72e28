/*===- scratch.c - the compiled model's temporary buffers -----------------===*
 *
 * Every memref.alloc in model code calls these (the model is lowered with
 * finalize-memref-to-llvm's generic allocation functions). A forward call
 * allocates the same large activations every time; from malloc, each one is
 * a fresh mmap whose pages fault in and are zeroed on first touch, which
 * cost 13% of a Mamba prefill. Freed blocks over 32 KiB are kept here
 * and handed back to the next request they fit (at most twice its size), so
 * a warm session touches no new pages. Smaller blocks are kept too, by
 * power-of-two size class: a decode step allocates and frees a few hundred
 * small activations, and once malloc had them back it trimmed the top of
 * the heap, so the next step faulted the same pages in again (llama-125m
 * f32 decode: 102-105 -> 124-128 tokens/s without the trim).
 *
 *===----------------------------------------------------------------------===*/
#include "device.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* A Mamba prefill frees a few hundred large blocks per call; the cache
 * keeps up to MAX_BLOCKS of them and CACHE_LIMIT bytes in all. VAR-d16's
 * decoder frees several GB of im2col blocks per image: with a 2 GiB limit
 * a warm image took 19.3 s, with 8 GiB 14.3 s. */
enum { MIN_CACHED = 32 << 10, MAX_BLOCKS = 1024 };
#define CACHE_LIMIT ((size_t)8 << 30)

/* Stored just before the pointer handed out. */
typedef struct {
  void *base;   /* what malloc returned */
  size_t total; /* bytes malloc'd at base */
} header;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static header cached[MAX_BLOCKS];
static int ncached = 0;
static size_t cached_bytes = 0;

/* Small blocks: classes of 2^MIN_SHIFT .. MIN_CACHED bytes, each a stack
 * of up to PER_CLASS freed blocks (at most 4 MiB in all). */
enum { MIN_SHIFT = 6, CLASSES = 10, PER_CLASS = 64 };
_Static_assert(((size_t)1 << (MIN_SHIFT + CLASSES - 1)) == MIN_CACHED,
               "the small classes end where the large cache starts");
static void *small[CLASSES][PER_CLASS];
static int nsmall[CLASSES];

/* The class whose blocks hold `need` bytes, or -1 for a large block. */
static int class_of(size_t need) {
  for (int c = 0; c < CLASSES; ++c)
    if (need <= (size_t)1 << (MIN_SHIFT + c))
      return c;
  return -1;
}

/* The data pointer of a block at `base` for `alignment`. */
static char *data_of(void *base, size_t alignment) {
  uintptr_t v = (uintptr_t)base + sizeof(header);
  return (char *)((v + alignment - 1) & ~(uintptr_t)(alignment - 1));
}

/* `alignment` is a power of two (memref.alloc's). */
static void *scratch_alloc(size_t alignment, size_t size) {
  if (alignment < 64)
    alignment = 64;
  size_t need = size + alignment + sizeof(header);
  header block = {NULL, 0};
  int c = class_of(need);
  if (c >= 0) {
    block.total = (size_t)1 << (MIN_SHIFT + c);
    pthread_mutex_lock(&lock);
    if (nsmall[c] > 0)
      block.base = small[c][--nsmall[c]];
    pthread_mutex_unlock(&lock);
    if (!block.base && !(block.base = malloc(block.total)))
      return NULL;
  } else {
    pthread_mutex_lock(&lock);
    int best = -1;
    for (int i = 0; i < ncached; ++i) {
      size_t used = (size_t)(data_of(cached[i].base, alignment) -
                             (char *)cached[i].base);
      if (cached[i].total >= used + size && cached[i].total / 2 <= need &&
          (best < 0 || cached[i].total < cached[best].total))
        best = i;
    }
    if (best >= 0) {
      block = cached[best];
      cached[best] = cached[--ncached];
      cached_bytes -= block.total;
    }
    pthread_mutex_unlock(&lock);
  }
  if (!block.base) {
    block.base = malloc(need);
    if (!block.base)
      return NULL;
    block.total = need;
  }
  char *data = data_of(block.base, alignment);
  ((header *)data)[-1] = block;
  return data;
}

/* A GPU artifact's temporaries are device memory (device.c), which its
 * backend already reuses. */
void *_mlir_memref_to_llvm_alloc(size_t size) {
  if (chimera_device_active())
    return chimera_device_alloc(size, 0);
  return scratch_alloc(64, size);
}

void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment, size_t size) {
  if (chimera_device_active())
    return chimera_device_alloc(size, 0);
  return scratch_alloc(alignment, size);
}

void _mlir_memref_to_llvm_free(void *ptr) {
  if (!ptr)
    return;
  if (chimera_device_active()) {
    chimera_device_free(ptr);
    return;
  }
  header block = ((header *)ptr)[-1];
  /* A small block is a whole class; a large one exceeds every class. */
  int c = class_of(block.total);
  if (c >= 0) {
    pthread_mutex_lock(&lock);
    if (nsmall[c] < PER_CLASS) {
      small[c][nsmall[c]++] = block.base;
      block.base = NULL;
    }
    pthread_mutex_unlock(&lock);
  } else if (c < 0) {
    pthread_mutex_lock(&lock);
    if (ncached < MAX_BLOCKS && cached_bytes + block.total <= CACHE_LIMIT) {
      cached[ncached++] = block;
      cached_bytes += block.total;
      block.base = NULL;
    }
    pthread_mutex_unlock(&lock);
  }
  free(block.base);
}
