/*===- threads.c - the pool that runs kernel grids ------------------------===*
 *
 * chimera_parallel_for(n, fn, ctx) runs fn(begin, end, ctx) over chunks
 * covering [0, n) on the calling thread plus (threads - 1) persistent
 * workers; chunks (about four per thread) are handed out from an atomic
 * counter. One grid runs at a time; a grid launched from inside a kernel
 * runs on the calling thread.
 *
 *===----------------------------------------------------------------------===*/
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

enum { MAX_THREADS = 256 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t grid_lock = PTHREAD_MUTEX_INITIALIZER;

/* A worker polls for the next grid this many times (about 50-100 us) before
 * it sleeps: a decode step launches hundreds of short grids back to back,
 * and a condition-variable wake-up per grid cost more than the kernels. */
enum { SPIN_LIMIT = 1 << 12 };

static int requested = 0; /* 0: one per core */
static int started = 0;   /* workers running */
static atomic_uint_fast64_t generation = 0; /* bumped once per grid */
static atomic_int pending = 0;  /* workers still in the current grid */
static atomic_int sleepers = 0; /* workers blocked on `wake` */

static struct {
  int64_t n, chunk;
  void (*fn)(int64_t, int64_t, void *);
  void *ctx;
  atomic_llong next;
} grid;

static _Thread_local int inside_grid = 0;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void drain(void) {
  inside_grid = 1;
  for (;;) {
    int64_t begin = atomic_fetch_add(&grid.next, grid.chunk);
    if (begin >= grid.n)
      break;
    int64_t end = begin + grid.chunk < grid.n ? begin + grid.chunk : grid.n;
    grid.fn(begin, end, grid.ctx);
  }
  inside_grid = 0;
}

/* The next generation after `seen`: polled, then slept for. A launcher
 * bumps `generation` before it reads `sleepers`, and a sleeper counts
 * itself before it re-reads `generation` (both sequentially consistent), so
 * one of them always sees the other. */
static uint64_t await_grid(uint64_t seen) {
  uint64_t g;
  for (int spins = 0; spins < SPIN_LIMIT; ++spins) {
    g = atomic_load_explicit(&generation, memory_order_acquire);
    if (g != seen)
      return g;
    cpu_relax();
  }
  pthread_mutex_lock(&lock);
  atomic_fetch_add(&sleepers, 1);
  while ((g = atomic_load(&generation)) == seen)
    pthread_cond_wait(&wake, &lock);
  atomic_fetch_sub(&sleepers, 1);
  pthread_mutex_unlock(&lock);
  return g;
}

/* `arg` is the generation published before the worker was created: it
 * waits for the next one (the grid being launched), never for one that has
 * already run. */
static void *worker(void *arg) {
  uint64_t seen = (uint64_t)(uintptr_t)arg;
  for (;;) {
    seen = await_grid(seen);
    drain();
    atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
  }
  return NULL;
}

int chimera_thread_count(void) {
  int n = requested;
  if (n <= 0) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    n = cores > 0 ? (int)cores : 1;
  }
  return n > MAX_THREADS ? MAX_THREADS : n;
}

CHIMERA_API chimera_status chimera_set_threads(int threads) {
  if (threads < 0 || threads > MAX_THREADS)
    return chimera_fail(CHIMERA_ERROR_INVALID_ARGUMENT, "threads must be in "
                        "[0, %d], got %d", MAX_THREADS, threads);
  pthread_mutex_lock(&grid_lock);
  requested = threads;
  pthread_mutex_unlock(&grid_lock);
  return CHIMERA_OK;
}

void chimera_parallel_for(int64_t n, void (*fn)(int64_t, int64_t, void *),
                          void *ctx) {
  if (n <= 0)
    return;
  if (inside_grid) { /* nested launch: stay on this thread */
    fn(0, n, ctx);
    return;
  }
  pthread_mutex_lock(&grid_lock);
  uint64_t start = chimera_profile_start();
  int threads = chimera_thread_count();
  int workers = threads - 1;
  if (workers > n - 1)
    workers = (int)(n - 1);
  while (started < workers) {
    pthread_t t;
    uint64_t now = atomic_load(&generation);
    if (pthread_create(&t, NULL, worker, (void *)(uintptr_t)now) != 0)
      break; /* fewer threads is still correct */
    pthread_detach(t);
    ++started;
  }
  if (workers <= 0 || started == 0) {
    fn(0, n, ctx);
    chimera_profile_stop(fn, start);
    pthread_mutex_unlock(&grid_lock);
    return;
  }
  grid.n = n;
  grid.chunk = (n + 4 * (int64_t)threads - 1) / (4 * (int64_t)threads);
  grid.fn = fn;
  grid.ctx = ctx;
  atomic_store(&grid.next, 0);
  atomic_store(&pending, started);
  atomic_fetch_add(&generation, 1);
  if (atomic_load(&sleepers) > 0) {
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
  }
  drain();
  while (atomic_load_explicit(&pending, memory_order_acquire) > 0)
    cpu_relax();
  chimera_profile_stop(fn, start);
  pthread_mutex_unlock(&grid_lock);
}
