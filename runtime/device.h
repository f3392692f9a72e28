/*===- device.h - GPU backends of the runtime (internal) ------------------===*/
#ifndef CHIMERA_RUNTIME_DEVICE_H
#define CHIMERA_RUNTIME_DEVICE_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { GPU_MAX_FIELDS = 64, GPU_MAX_WORDS = 1024 };

/* One operand of a kernel, as chimera-launch-to-runtime's table says. */
typedef struct gpu_field {
  char kind;      /* 'm' memref, 'x' index, 'i' i32, 'f' f32, 'b' i1 */
  int elem_size;  /* memref: bytes per element */
  int rank;       /* memref: rank */
  size_t offset;  /* in the launch's operand struct */
} gpu_field;

typedef struct gpu_kernel {
  char name[128];
  int num_fields, num_buffers, num_words;
  gpu_field fields[GPU_MAX_FIELDS];
} gpu_kernel;

/* A memref operand of a launch: the backend binds the device allocation
 * that holds `aligned` and adds the element offset of `aligned` in what it
 * binds to params[offset_word]. */
typedef struct gpu_buffer {
  void *aligned;
  int elem_size;
  int offset_word;
  int64_t elements; /* reachable from `aligned` (offset + extent) */
} gpu_buffer;

typedef struct chimera_backend {
  const char *name;
  chimera_status (*open)(const char *binary, size_t size,
                         const gpu_kernel *kernels, int num_kernels,
                         int64_t workgroup_size);
  /* Memory the host and the device both address; `persistent` for
   * weights and caches, which live as long as the process. */
  void *(*alloc)(size_t size, int persistent);
  void (*free)(void *p);
  /* Queues `n` invocations of the kernel after the ones queued before;
   * failures go to chimera_device_launch_failed. */
  void (*launch)(int kernel, int64_t n, const gpu_buffer *buffers,
                 int num_buffers, int32_t *params, int num_params);
  /* Runs what is queued and waits for it. */
  void (*sync)(void);
} chimera_backend;

extern const chimera_backend chimera_vulkan_backend;
extern const chimera_backend chimera_cuda_backend;

/* CHIMERA_GPU_TRACE=1: backends say what they submit, on stderr. */
int chimera_device_tracing(void);

/* Starts the backend of a GPU artifact (nothing for an x86 one). */
chimera_status chimera_device_open(void);
int chimera_device_active(void);
const char *chimera_device_name(void); /* "vulkan", "cuda" or "cpu" */
void *chimera_device_alloc(size_t size, int persistent);
void chimera_device_free(void *p);

/* Launches return nothing to the compiled code: a failure is kept and
 * reported by the next chimera_device_status() (then cleared). */
void chimera_device_launch_failed(const char *format, ...)
    __attribute__((format(printf, 1, 2)));
chimera_status chimera_device_status(void);

/* Waits for the launches queued so far, then reports (and clears) the
 * first failure, as chimera_device_status. */
chimera_status chimera_device_finish(void);

/* Called by the compiled host code of GPU artifacts: a launch, and the
 * wait chimera-synchronize-host-accesses puts before host code that reads
 * or writes what kernels may still be writing. */
void chimera_gpu_launch(int64_t kernel, int64_t n, void *ctx);
void chimera_gpu_sync(void);

#ifdef __cplusplus
}
#endif

#endif /* CHIMERA_RUNTIME_DEVICE_H */
