/*===- cuda.c - run PTX kernels through the CUDA driver -------------------===*
 *
 * The driver is opened with dlopen("libcuda.so.1"), so artifacts load on
 * machines without a GPU and say "no CUDA driver". The primary context of
 * device 0 (CHIMERA_CUDA_DEVICE=i picks another), the PTX JIT-compiled by
 * the driver once (cuModuleLoadData), one function per kernel, looked up on
 * its first launch.
 *
 * Memory is managed memory (cuMemAllocManaged): the compiled host code
 * keeps plain pointers and reads what the kernels wrote after
 * chimera_gpu_sync. Launches go to the default stream in order without
 * waiting; each has its own slice of a parameter ring, and blocks freed
 * while launches are queued are released at the next sync. Kernels take
 * NVVM's memref ABI (allocated, aligned, offset, size, stride per flat
 * buffer).
 *
 *===----------------------------------------------------------------------===*/
#include "device.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef unsigned long long CUdeviceptr;
enum { CU_MEM_ATTACH_GLOBAL = 1 };

#define CU_FUNCTIONS(X)                                                        \
  X(cuInit, (unsigned))                                                        \
  X(cuDeviceGetCount, (int *))                                                 \
  X(cuDeviceGet, (CUdevice *, int))                                            \
  X(cuDevicePrimaryCtxRetain, (CUcontext *, CUdevice))                         \
  X(cuCtxSetCurrent, (CUcontext))                                              \
  X(cuCtxSynchronize, (void))                                                  \
  X(cuModuleLoadData, (CUmodule *, const void *))                              \
  X(cuModuleGetFunction, (CUfunction *, CUmodule, const char *))               \
  X(cuMemAllocManaged, (CUdeviceptr *, size_t, unsigned))                      \
  X(cuMemFree_v2, (CUdeviceptr))                                               \
  X(cuGetErrorString, (CUresult, const char **))                               \
  X(cuLaunchKernel, (CUfunction, unsigned, unsigned, unsigned, unsigned,       \
                     unsigned, unsigned, unsigned, CUstream, void **, void **))

#define DECLARE(name, args)                                                    \
  typedef CUresult(*name##_fn) args;                                           \
  static name##_fn name;
CU_FUNCTIONS(DECLARE)
#undef DECLARE

enum { MAX_BATCH = 256, MAX_DEFERRED = 4096 };

static struct {
  void *lib;
  CUcontext context;
  CUmodule module;
  CUfunction *functions;
  const gpu_kernel *kernels;
  int64_t workgroup_size;
  int32_t *params; /* MAX_BATCH slices of GPU_MAX_WORDS */
  int queued;
  void *deferred[MAX_DEFERRED]; /* freed while launches were queued */
  int num_deferred;
} cu;

static void cu_sync(void);

static const char *cu_message(CUresult r) {
  const char *s = NULL;
  if (cuGetErrorString && cuGetErrorString(r, &s) == 0 && s)
    return s;
  return "unknown CUDA error";
}

static chimera_status cu_error(const char *what, CUresult r) {
  return chimera_fail(CHIMERA_ERROR_DEVICE, "cuda: %s failed: %s (%d)", what,
                      cu_message(r), r);
}

static void *cu_alloc(size_t size, int persistent) {
  (void)persistent;
  CUdeviceptr p = 0;
  if (cuMemAllocManaged(&p, size ? size : 1, CU_MEM_ATTACH_GLOBAL) != 0)
    return NULL;
  return (void *)(uintptr_t)p;
}

static void cu_free(void *p) {
  if (cu.queued && cu.num_deferred == MAX_DEFERRED)
    cu_sync();
  if (cu.queued)
    cu.deferred[cu.num_deferred++] = p;
  else
    cuMemFree_v2((CUdeviceptr)(uintptr_t)p);
}

static void cu_sync(void) {
  if (!cu.queued && !cu.num_deferred)
    return;
  CUresult r = cuCtxSynchronize();
  if (r)
    chimera_device_launch_failed("a kernel failed: %s", cu_message(r));
  cu.queued = 0;
  for (int i = 0; i < cu.num_deferred; ++i)
    cuMemFree_v2((CUdeviceptr)(uintptr_t)cu.deferred[i]);
  cu.num_deferred = 0;
}

static chimera_status cu_open(const char *binary, size_t size,
                              const gpu_kernel *kernels, int num_kernels,
                              int64_t workgroup_size) {
  (void)size;
  cu.kernels = kernels;
  cu.workgroup_size = workgroup_size;
  cu.lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!cu.lib)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "no CUDA driver: %s", dlerror());
#define LOAD(name, args)                                                       \
  name = (name##_fn)dlsym(cu.lib, #name);                                           \
  if (!name)                                                                   \
    return chimera_fail(CHIMERA_ERROR_DEVICE, "libcuda.so.1 has no " #name);
  CU_FUNCTIONS(LOAD)
#undef LOAD
  CUresult r = cuInit(0);
  if (r)
    return cu_error("cuInit", r);
  int count = 0;
  if ((r = cuDeviceGetCount(&count)))
    return cu_error("cuDeviceGetCount", r);
  const char *choice = getenv("CHIMERA_CUDA_DEVICE");
  int wanted = choice ? atoi(choice) : 0;
  if (wanted < 0 || wanted >= count)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "no CUDA device %d (%d found)",
                        wanted, count);
  CUdevice device;
  if ((r = cuDeviceGet(&device, wanted)))
    return cu_error("cuDeviceGet", r);
  if ((r = cuDevicePrimaryCtxRetain(&cu.context, device)))
    return cu_error("cuDevicePrimaryCtxRetain", r);
  if ((r = cuCtxSetCurrent(cu.context)))
    return cu_error("cuCtxSetCurrent", r);
  if ((r = cuModuleLoadData(&cu.module, binary)))
    return cu_error("cuModuleLoadData (JIT of the artifact's PTX)", r);
  cu.functions = calloc((size_t)num_kernels + 1, sizeof *cu.functions);
  cu.params = cu_alloc(MAX_BATCH * GPU_MAX_WORDS * sizeof(int32_t), 1);
  if (!cu.functions || !cu.params)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "cuda: out of memory");
  return CHIMERA_OK;
}

static void cu_launch(int index, int64_t n, const gpu_buffer *buffers,
                      int num_buffers, int32_t *params, int num_params) {
  const gpu_kernel *k = &cu.kernels[index];
  CUresult r;
  if (!cu.functions[index] &&
      (r = cuModuleGetFunction(&cu.functions[index], cu.module, k->name))) {
    chimera_device_launch_failed("kernel %s: %s", k->name, cu_message(r));
    return;
  }
  if (cu.queued == MAX_BATCH)
    cu_sync();
  int32_t *slice = cu.params + (size_t)cu.queued * GPU_MAX_WORDS;
  /* Per flat buffer: allocated, aligned, offset, size, stride. */
  struct memref { void *allocated, *aligned; int64_t offset, size, stride; };
  struct memref memrefs[GPU_MAX_FIELDS + 1];
  void *args[5 * (GPU_MAX_FIELDS + 1)];
  int a = 0;
  for (int b = 0; b <= num_buffers; ++b) {
    struct memref *m = &memrefs[b];
    if (b < num_buffers)
      *m = (struct memref){buffers[b].aligned, buffers[b].aligned, 0,
                           buffers[b].elements, 1};
    else
      *m = (struct memref){slice, slice, 0, num_params, 1};
    args[a++] = &m->allocated;
    args[a++] = &m->aligned;
    args[a++] = &m->offset;
    args[a++] = &m->size;
    args[a++] = &m->stride;
  }
  memcpy(slice, params, (size_t)num_params * sizeof(int32_t));
  int64_t groups = (n + cu.workgroup_size - 1) / cu.workgroup_size;
  int64_t gx = groups < 2147483647 ? groups : 2147483647;
  int64_t gy = (groups + gx - 1) / gx;
  r = cuLaunchKernel(cu.functions[index], (unsigned)gx, (unsigned)gy, 1,
                     (unsigned)cu.workgroup_size, 1, 1, 0, NULL, args, NULL);
  cu.queued++;
  if (r)
    chimera_device_launch_failed("kernel %s: %s", k->name, cu_message(r));
}

const chimera_backend chimera_cuda_backend = {"cuda",   cu_open,   cu_alloc,
                                              cu_free,  cu_launch, cu_sync};
