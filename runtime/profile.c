/*===- profile.c - time spent per kernel (chimera_profile) ----------------===*
 *
 * While the profile is on, chimera_parallel_for times every grid it runs,
 * from its launch until its last item is done, and adds that to the
 * kernel's entry here. A grid launched from inside a kernel runs inline and
 * counts as part of that kernel. Entries are keyed by the kernel's task
 * function; their names come from the table the compiler emits
 * (chimera_cpu_kernels, see chimera-launch-to-runtime). A GPU artifact's
 * launches go to the device and are not timed.
 *
 *===----------------------------------------------------------------------===*/
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

typedef void (*task_fn)(int64_t, int64_t, void *);

/* Defined by x86 artifacts only; weak so that others link without it. */
extern const struct {
  task_fn task;
  const char *name;
} chimera_cpu_kernels[] __attribute__((weak));

/* Distinct kernels of one artifact are a few dozen; a larger one keeps the
 * first MAX_KERNELS and drops the rest from the profile. */
enum { MAX_KERNELS = 1024 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int enabled = 0;
static int count = 0;
static struct {
  task_fn task;
  int64_t launches;
  uint64_t ns;
} entries[MAX_KERNELS];

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t chimera_profile_start(void) {
  return atomic_load_explicit(&enabled, memory_order_relaxed) ? now_ns() : 0;
}

void chimera_profile_stop(task_fn task, uint64_t start) {
  if (!start)
    return;
  uint64_t ns = now_ns() - start;
  pthread_mutex_lock(&lock);
  int i = 0;
  while (i < count && entries[i].task != task)
    ++i;
  if (i == count && count < MAX_KERNELS) {
    entries[count].task = task;
    entries[count].launches = 0;
    entries[count].ns = 0;
    ++count;
  }
  if (i < count) {
    entries[i].launches += 1;
    entries[i].ns += ns;
  }
  pthread_mutex_unlock(&lock);
}

CHIMERA_API chimera_status chimera_profile(int on) {
  pthread_mutex_lock(&lock);
  if (on)
    count = 0;
  atomic_store(&enabled, on != 0);
  pthread_mutex_unlock(&lock);
  return CHIMERA_OK;
}

static const char *kernel_name(task_fn task) {
  if (chimera_cpu_kernels)
    for (int i = 0; chimera_cpu_kernels[i].task; ++i)
      if (chimera_cpu_kernels[i].task == task)
        return chimera_cpu_kernels[i].name;
  return "?";
}

static int by_time(const void *a, const void *b) {
  double x = ((const chimera_kernel_time *)a)->seconds;
  double y = ((const chimera_kernel_time *)b)->seconds;
  return (x < y) - (x > y);
}

CHIMERA_API int chimera_profile_read(chimera_kernel_time *times,
                                     int capacity) {
  pthread_mutex_lock(&lock);
  int n = count;
  chimera_kernel_time all[MAX_KERNELS];
  for (int i = 0; i < n; ++i) {
    all[i].name = kernel_name(entries[i].task);
    all[i].launches = entries[i].launches;
    all[i].seconds = entries[i].ns * 1e-9;
  }
  pthread_mutex_unlock(&lock);
  qsort(all, (size_t)n, sizeof all[0], by_time);
  for (int i = 0; times && i < n && i < capacity; ++i)
    times[i] = all[i];
  return n;
}
