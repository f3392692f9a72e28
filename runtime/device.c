/*===- device.c - kernels of GPU artifacts, whatever the device ----------===*
 *
 * A GPU artifact (`chimera-compile --target=vulkan|cuda`) embeds its kernels
 * (`chimera_gpu_binary`) and a table of them (`chimera_gpu_kernels`,
 * "name(fields);..."); its host code calls chimera_gpu_launch(kernel, n,
 * ctx) with a struct of the kernel's operands. This file reads the table,
 * turns each launch's struct into the kernel ABI of chimera-kernels-to-gpu
 * (one flat buffer per memref, and an i32 parameter buffer: n, then per
 * operand its scalar or its offset, sizes and strides) and hands that to
 * the backend (vulkan.c, cuda.c).
 *
 * Every buffer the host code or the runtime gives a kernel is allocated
 * here, in memory both the host and the device address (mapped Vulkan
 * memory, CUDA managed memory): the host code keeps its pointers, and the
 * backend finds the device buffer behind each one.
 *
 *===----------------------------------------------------------------------===*/
#include "device.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defined by GPU artifacts only (chimera-embed-gpu-binary, chimera-launch-
 * to-runtime); weak so that x86 artifacts link without them. */
extern const char chimera_gpu_binary[] __attribute__((weak));
extern const int64_t chimera_gpu_binary_size __attribute__((weak));
extern const char chimera_gpu_target[] __attribute__((weak));
extern const char chimera_gpu_kernels[] __attribute__((weak));
extern const int64_t chimera_gpu_workgroup_size __attribute__((weak));

static const chimera_backend *backend;
static gpu_kernel *kernels;
static int num_kernels;
static char launch_error[512];
static int trace; /* CHIMERA_GPU_TRACE=1: one stderr line per launch */

int chimera_device_active(void) { return backend != NULL; }

const char *chimera_device_name(void) {
  return backend ? backend->name : "cpu";
}

/* Parses one field ("m4.3", "x", "i", "f", "b"); returns the text after it. */
static const char *parse_field(const char *p, gpu_field *f, size_t *offset) {
  size_t size, align;
  f->kind = *p++;
  f->elem_size = 0;
  f->rank = 0;
  switch (f->kind) {
  case 'm': {
    char *end;
    f->elem_size = (int)strtol(p, &end, 10);
    if (*end != '.')
      return NULL;
    f->rank = (int)strtol(end + 1, &end, 10);
    p = end;
    if (f->elem_size < 1 || f->rank < 0 || f->rank > CHIMERA_MAX_RANK)
      return NULL;
    size = 8 * (3 + 2 * (size_t)f->rank);
    align = 8;
    break;
  }
  case 'x': size = align = 8; break;
  case 'i': case 'f': size = align = 4; break;
  case 'b': size = align = 1; break;
  default: return NULL;
  }
  /* The LLVM literal struct of the operands: natural alignment. */
  *offset = (*offset + align - 1) & ~(align - 1);
  f->offset = *offset;
  *offset += size;
  return p;
}

static chimera_status parse_kernels(const char *table) {
  int n = 0;
  for (const char *p = table; *p; ++p)
    n += *p == ';';
  kernels = calloc((size_t)n + 1, sizeof *kernels);
  if (!kernels)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "out of memory");
  const char *p = table;
  for (int k = 0; k < n; ++k) {
    gpu_kernel *kernel = &kernels[k];
    const char *open = strchr(p, '(');
    if (!open || (size_t)(open - p) >= sizeof kernel->name)
      goto bad;
    memcpy(kernel->name, p, (size_t)(open - p));
    p = open + 1;
    size_t offset = 0;
    while (*p != ')') {
      if (kernel->num_fields == GPU_MAX_FIELDS)
        goto bad;
      gpu_field *f = &kernel->fields[kernel->num_fields++];
      p = parse_field(p, f, &offset);
      if (!p)
        goto bad;
      kernel->num_buffers += f->kind == 'm';
      kernel->num_words += f->kind == 'm' ? 1 + 2 * f->rank : 1;
      if (*p == ',')
        ++p;
    }
    if (*++p != ';')
      goto bad;
    ++p;
    kernel->num_words += 1; /* n */
  }
  num_kernels = n;
  return CHIMERA_OK;
bad:
  return chimera_fail(CHIMERA_ERROR_FORMAT, "model.so: malformed kernel table "
                      "(chimera_gpu_kernels) near '%.40s'", p);
}

chimera_status chimera_device_open(void) {
  if (backend || !&chimera_gpu_binary || !chimera_gpu_binary)
    return CHIMERA_OK;
  if (!&chimera_gpu_target || !&chimera_gpu_kernels ||
      !&chimera_gpu_binary_size || !&chimera_gpu_workgroup_size)
    return chimera_fail(CHIMERA_ERROR_FORMAT, "model.so: GPU kernels without "
                        "their target, table or workgroup size");
  const chimera_backend *b = NULL;
  if (!strcmp(chimera_gpu_target, "vulkan"))
    b = &chimera_vulkan_backend;
  else if (!strcmp(chimera_gpu_target, "cuda"))
    b = &chimera_cuda_backend;
  else
    return chimera_fail(CHIMERA_ERROR_FORMAT, "model.so: unknown GPU target "
                        "'%s'", chimera_gpu_target);
  chimera_status status = parse_kernels(chimera_gpu_kernels);
  if (status != CHIMERA_OK)
    return status;
  status = b->open(chimera_gpu_binary, (size_t)chimera_gpu_binary_size,
                   kernels, num_kernels, chimera_gpu_workgroup_size);
  if (status != CHIMERA_OK) {
    free(kernels);
    kernels = NULL;
    return status;
  }
  backend = b;
  const char *t = getenv("CHIMERA_GPU_TRACE");
  trace = t && *t && strcmp(t, "0");
  return CHIMERA_OK;
}

int chimera_device_tracing(void) { return trace; }

void *chimera_device_alloc(size_t size, int persistent) {
  return backend ? backend->alloc(size, persistent) : NULL;
}

void chimera_device_free(void *p) {
  if (backend && p)
    backend->free(p);
}

void chimera_device_launch_failed(const char *format, ...) {
  if (launch_error[0])
    return; /* the first failure is the one to report */
  va_list args;
  va_start(args, format);
  vsnprintf(launch_error, sizeof launch_error, format, args);
  va_end(args);
  if (!launch_error[0])
    snprintf(launch_error, sizeof launch_error, "kernel launch failed");
}

chimera_status chimera_device_status(void) {
  if (!launch_error[0])
    return CHIMERA_OK;
  chimera_status status = chimera_fail(CHIMERA_ERROR_DEVICE, "%s: %s",
                                       chimera_device_name(), launch_error);
  launch_error[0] = '\0';
  return status;
}

void chimera_gpu_sync(void) {
  if (!backend)
    return;
  if (trace)
    fprintf(stderr, "chimera: sync\n");
  backend->sync();
}

chimera_status chimera_device_finish(void) {
  chimera_gpu_sync();
  return chimera_device_status();
}

static int fits_i32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

/* Called by the compiled host code for every kernel launch. */
void chimera_gpu_launch(int64_t index, int64_t n, void *ctx) {
  if (!backend || index < 0 || index >= num_kernels) {
    chimera_device_launch_failed("kernel %lld is not in the kernel table",
                                 (long long)index);
    return;
  }
  if (n <= 0 || launch_error[0])
    return;
  const gpu_kernel *kernel = &kernels[index];
  int32_t words[GPU_MAX_WORDS];
  gpu_buffer buffers[GPU_MAX_FIELDS];
  int w = 0, nb = 0;
  if (kernel->num_words > GPU_MAX_WORDS) {
    chimera_device_launch_failed("kernel %s has too many operands",
                                 kernel->name);
    return;
  }
  if (!fits_i32(n)) {
    chimera_device_launch_failed("kernel %s: grid of %lld items exceeds the "
                                 "kernels' 32-bit indices", kernel->name,
                                 (long long)n);
    return;
  }
  words[w++] = (int32_t)n;
  const char *base = ctx;
  for (int i = 0; i < kernel->num_fields; ++i) {
    const gpu_field *f = &kernel->fields[i];
    const char *field = base + f->offset;
    int64_t v;
    switch (f->kind) {
    case 'm': {
      /* {allocated, aligned, offset, sizes[rank], strides[rank]} */
      const int64_t *d = (const int64_t *)(field + 16);
      void *aligned;
      memcpy(&aligned, field + 8, sizeof aligned);
      buffers[nb].aligned = aligned;
      buffers[nb].elem_size = f->elem_size;
      buffers[nb].offset_word = w;
      ++nb;
      /* Elements reachable from the view: the backend checks they lie in
       * the device allocation. */
      int64_t extent = 1;
      for (int r = 0; r <= 2 * f->rank; ++r) {
        if (!fits_i32(d[r])) {
          chimera_device_launch_failed("kernel %s: operand %d has a size, "
                                       "stride or offset beyond 32 bits",
                                       kernel->name, i);
          return;
        }
        words[w++] = (int32_t)d[r];
      }
      for (int r = 0; r < f->rank; ++r)
        if (d[1 + r] > 0)
          extent += (d[1 + r] - 1) * d[1 + f->rank + r];
      buffers[nb - 1].elements = d[0] + (extent > 0 ? extent : 0);
      continue;
    }
    case 'x': memcpy(&v, field, 8); break;
    case 'i': { int32_t x; memcpy(&x, field, 4); v = x; break; }
    case 'f': { int32_t x; memcpy(&x, field, 4); v = x; break; }
    default: v = *(const unsigned char *)field & 1; break;
    }
    if (!fits_i32(v)) {
      chimera_device_launch_failed("kernel %s: operand %d (%lld) exceeds the "
                                   "kernels' 32-bit indices", kernel->name, i,
                                   (long long)v);
      return;
    }
    words[w++] = (int32_t)v;
  }
  if (trace)
    fprintf(stderr, "chimera: launch %s [%lld]\n", kernel->name, (long long)n);
  backend->launch((int)index, n, buffers, nb, words, w);
}
