/*===- threads.c - the pool that runs kernel grids ------------------------===*
 *
 * chimera_parallel_for(n, item_work, fn, ctx) runs fn(begin, end, ctx)
 * over chunks covering [0, n) on the calling thread plus (threads - 1)
 * persistent workers. Each thread owns a contiguous share of [0, n) and
 * claims its chunks front to back, so that it reads one stream of weights
 * the hardware prefetcher can follow and its claims stay in its own cache
 * line; a thread whose share is done takes chunks from the others' (in a
 * noisy VM a share can be late). One grid runs at a time; a grid launched
 * from inside a kernel runs on the calling thread.
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

/* Each word the threads write while others poll gets a cache line of its
 * own: with `generation`, the grid and `pending` on one line, every chunk
 * claimed and every poll moved that line between the cores. */
#define CACHE_LINE 64
static _Alignas(CACHE_LINE) atomic_uint_fast64_t generation = 0; /* per grid */
static _Alignas(CACHE_LINE) atomic_int pending = 0;  /* workers in the grid */
static _Alignas(CACHE_LINE) atomic_int sleepers = 0; /* blocked on `wake` */

static _Alignas(CACHE_LINE) struct {
  int64_t chunk;
  int parts; /* shares: the calling thread and every started worker */
  void (*fn)(int64_t, int64_t, void *);
  void *ctx;
} grid;

/* Share i of the grid: [next, end), claimed `grid.chunk` at a time. */
static _Alignas(CACHE_LINE) struct {
  atomic_llong next;
  int64_t end;
} share[MAX_THREADS];

/* A grid of less work than this (the compiler's estimate: operations, a
 * vector op counted per 16 lanes) runs on the calling thread: waking a
 * worker, its claims and the wait for it cost about 1.5 us per grid on the
 * 2-core VM of bench/README.md, more than a decode step's zero fills, norms
 * and residual adds take on one thread (llama-125m's 36 zero fills per
 * token: 0.2 us each on one thread, 1.6 us on two). */
enum { SERIAL_WORK = 1 << 14 };

/* Chunks per share: enough that a thread left with nothing can take over
 * part of a late one's, few enough that claiming costs nothing. */
enum { CHUNKS_PER_SHARE = 8 };

static _Thread_local int inside_grid = 0;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Runs thread `self`'s share, then whatever is left of the others'. */
static void drain(int self) {
  inside_grid = 1;
  for (int i = 0; i < grid.parts; ++i) {
    int part = (self + i) % grid.parts;
    int64_t end = share[part].end;
    for (;;) {
      int64_t begin = atomic_fetch_add_explicit(&share[part].next, grid.chunk,
                                                memory_order_relaxed);
      if (begin >= end)
        break;
      grid.fn(begin, begin + grid.chunk < end ? begin + grid.chunk : end,
              grid.ctx);
    }
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

/* Worker i (`arg`) owns share i + 1 (share 0 is the caller's) and starts
 * from start_seen[i], the generation published before it was created: it
 * waits for the next one (the grid being launched), never for one that has
 * already run. */
static uint64_t start_seen[MAX_THREADS];

static void *worker(void *arg) {
  int self = (int)(intptr_t)arg + 1;
  uint64_t seen = start_seen[(intptr_t)arg];
  for (;;) {
    seen = await_grid(seen);
    drain(self);
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

void chimera_parallel_for(int64_t n, int64_t item_work,
                          void (*fn)(int64_t, int64_t, void *), void *ctx) {
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
  if (item_work > 0 && n < SERIAL_WORK / item_work)
    workers = 0;
  while (started < workers) {
    pthread_t t;
    start_seen[started] = atomic_load(&generation);
    if (pthread_create(&t, NULL, worker, (void *)(intptr_t)started) != 0)
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
  /* Every started worker wakes for the grid, so each gets a share. */
  int parts = started + 1;
  int64_t per = n / parts, extra = n % parts, begin = 0;
  for (int i = 0; i < parts; ++i) {
    int64_t size = per + (i < extra);
    atomic_store_explicit(&share[i].next, begin, memory_order_relaxed);
    share[i].end = begin + size;
    begin += size;
  }
  grid.parts = parts;
  grid.chunk = (per + CHUNKS_PER_SHARE - 1) / CHUNKS_PER_SHARE;
  if (grid.chunk < 1)
    grid.chunk = 1;
  grid.fn = fn;
  grid.ctx = ctx;
  atomic_store(&pending, started);
  atomic_fetch_add(&generation, 1);
  if (atomic_load(&sleepers) > 0) {
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
  }
  drain(0);
  while (atomic_load_explicit(&pending, memory_order_acquire) > 0)
    cpu_relax();
  chimera_profile_stop(fn, start);
  pthread_mutex_unlock(&grid_lock);
}
