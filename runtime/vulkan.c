/*===- vulkan.c - run SPIR-V kernels through Vulkan -----------------------===*
 *
 * The loader is opened with dlopen("libvulkan.so.1"), so artifacts load on
 * machines without it and say so. One instance, the first device with a
 * compute queue (CHIMERA_VULKAN_DEVICE=i picks another), one queue, one
 * compute pipeline per kernel, created on its first launch.
 *
 * Memory: host-visible, host-coherent allocations, mapped once, in chunks
 * with one VkBuffer each. The compiled host code keeps plain pointers into
 * them; a launch finds the chunk behind each operand and binds a window of
 * it (at most maxStorageBufferRange, starting at the operand's pointer
 * rounded down to minStorageBufferOffsetAlignment). Weights and caches get
 * chunks of their own; temporaries are bumped from shared chunks that
 * reset when their last block is freed (a forward call frees them all).
 * On UMA devices (mobile GPUs, lavapipe) that memory is the device's own;
 * on discrete GPUs a DEVICE_LOCAL|HOST_VISIBLE type is preferred.
 *
 * Launches are queued as records (kernel, bound buffer windows, slice of
 * the parameter ring) and submitted when the host code needs the results
 * (chimera_gpu_sync, which the compiler puts before host accesses, and the
 * end of each forward call) or when a batch is full: one command buffer,
 * each dispatch behind a barrier on the ones before. A temporary block
 * freed and handed out again while dispatches are queued is safe: the
 * barriers order every later dispatch after every earlier one.
 *
 * Command buffers are reused. A decode step repeats the previous step's
 * launches with other parameter values (positions, key counts, grid
 * sizes): nothing in a recorded batch depends on those. Parameters live in
 * the ring, which restarts at every submission, so the same launch
 * sequence puts them at the same offsets; grid sizes are read from the
 * ring too (vkCmdDispatchIndirect); and a buffer that fits one binding is
 * bound whole, from its start, the operand's offset going in its
 * parameters, so temporaries that move within their chunk as sizes change
 * bind the same. A batch whose records equal those of a recorded one
 * (kept in a small LRU cache) submits that command buffer again; only a new
 * sequence is recorded. Freeing a persistent chunk (a session's caches)
 * empties the cache: its buffer handle may come back for another chunk.
 *
 *===----------------------------------------------------------------------===*/
#define VK_NO_PROTOTYPES
#include "device.h"

#include <vulkan/vulkan.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VK_FUNCTIONS(X)                                                        \
  X(vkEnumeratePhysicalDevices)                                                \
  X(vkGetPhysicalDeviceProperties)                                             \
  X(vkGetPhysicalDeviceProperties2)                                            \
  X(vkGetPhysicalDeviceFeatures)                                               \
  X(vkGetPhysicalDeviceQueueFamilyProperties)                                  \
  X(vkGetPhysicalDeviceMemoryProperties)                                       \
  X(vkCreateDevice)                                                            \
  X(vkGetDeviceQueue)                                                          \
  X(vkCreateBuffer)                                                            \
  X(vkDestroyBuffer)                                                           \
  X(vkGetBufferMemoryRequirements)                                             \
  X(vkAllocateMemory)                                                          \
  X(vkFreeMemory)                                                              \
  X(vkBindBufferMemory)                                                        \
  X(vkMapMemory)                                                               \
  X(vkCreateShaderModule)                                                      \
  X(vkCreateDescriptorSetLayout)                                               \
  X(vkCreatePipelineLayout)                                                    \
  X(vkCreateComputePipelines)                                                  \
  X(vkCreateCommandPool)                                                       \
  X(vkAllocateCommandBuffers)                                                  \
  X(vkResetCommandBuffer)                                                      \
  X(vkCreateFence)                                                             \
  X(vkResetFences)                                                             \
  X(vkWaitForFences)                                                           \
  X(vkCreateDescriptorPool)                                                    \
  X(vkResetDescriptorPool)                                                     \
  X(vkAllocateDescriptorSets)                                                  \
  X(vkUpdateDescriptorSets)                                                    \
  X(vkBeginCommandBuffer)                                                      \
  X(vkEndCommandBuffer)                                                        \
  X(vkCmdBindPipeline)                                                         \
  X(vkCmdBindDescriptorSets)                                                   \
  X(vkCmdDispatch)                                                             \
  X(vkCmdPipelineBarrier)                                                      \
  X(vkQueueSubmit)                                                              \
  X(vkCmdDispatchIndirect)                                                     \
  X(vkDestroyDescriptorPool)

#define DECLARE(name) static PFN_##name name;
VK_FUNCTIONS(DECLARE)
#undef DECLARE

enum { MAX_CHUNKS = 4096, MAX_BATCH = 256, MAX_SEGMENTS = 64 };
#define SHARED_CHUNK ((size_t)64 << 20)

typedef struct chunk {
  VkDeviceMemory memory;
  VkBuffer buffer;
  char *base;
  size_t size, used;
  int live;       /* blocks handed out and not freed */
  int persistent; /* one block: weights or a cache */
} chunk;

/* One queued dispatch: what a recorded command buffer bakes in. Compared
 * with memcmp, so built from zeroed memory. */
typedef struct launch_record {
  int kernel, num_infos;
  VkDeviceSize args; /* its VkDispatchIndirectCommand in the ring */
  VkDescriptorBufferInfo infos[GPU_MAX_FIELDS + 1];
} launch_record;

/* A recorded batch of launches, submitted again while its records match. */
typedef struct segment {
  uint64_t hash, last_used;
  int count;
  launch_record *launches;
  VkCommandBuffer cmd;
  VkDescriptorPool pool;
} segment;

typedef struct pipeline {
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
} pipeline;

static struct {
  void *lib;
  VkInstance instance;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  uint32_t memory_type;
  VkDeviceSize offset_alignment, max_range;
  uint32_t max_buffers; /* maxPerStageDescriptorStorageBuffers */
  uint32_t max_groups[3];
  VkShaderModule shader;
  VkCommandPool command_pool;
  VkFence fence;
  const gpu_kernel *kernels;
  int num_kernels;
  int64_t workgroup_size;
  pipeline *pipelines;
  chunk chunks[MAX_CHUNKS];
  int num_chunks;
  char *params; /* ring of MAX_BATCH launches' parameters and grid sizes */
  size_t params_size, params_used;
  launch_record pending[MAX_BATCH];
  int recorded; /* launches queued since the last submission */
  segment segments[MAX_SEGMENTS];
  uint64_t submissions, replays;
} vk;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static chimera_status vk_error(const char *what, VkResult r) {
  return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: %s failed (VkResult %d)",
                      what, (int)r);
}

static chimera_status load_loader(void) {
  vk.lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!vk.lib)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "no Vulkan driver: %s (install "
                        "the loader libvulkan1 and a driver, e.g. "
                        "mesa-vulkan-drivers)", dlerror());
  PFN_vkGetInstanceProcAddr get =
      (PFN_vkGetInstanceProcAddr)dlsym(vk.lib, "vkGetInstanceProcAddr");
  if (!get)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "libvulkan.so.1 has no "
                        "vkGetInstanceProcAddr");
  PFN_vkCreateInstance createInstance =
      (PFN_vkCreateInstance)get(NULL, "vkCreateInstance");
  if (!createInstance)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: no vkCreateInstance");
  VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                           .pApplicationName = "chimera",
                           .pEngineName = "chimera",
                           .apiVersion = VK_API_VERSION_1_1};
  VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app};
  VkResult r = createInstance(&info, NULL, &vk.instance);
  if (r != VK_SUCCESS)
    return r == VK_ERROR_INCOMPATIBLE_DRIVER
               ? chimera_fail(CHIMERA_ERROR_DEVICE, "no Vulkan driver "
                              "(vkCreateInstance: no compatible ICD)")
               : vk_error("vkCreateInstance", r);
#define LOAD(name)                                                             \
  name = (PFN_##name)get(vk.instance, #name);                                  \
  if (!name)                                                                   \
    return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: no " #name);
  VK_FUNCTIONS(LOAD)
#undef LOAD
  return CHIMERA_OK;
}

static chimera_status pick_device(uint32_t *family) {
  uint32_t count = 0;
  vkEnumeratePhysicalDevices(vk.instance, &count, NULL);
  if (count == 0)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "no Vulkan device");
  VkPhysicalDevice devices[16];
  if (count > 16)
    count = 16;
  vkEnumeratePhysicalDevices(vk.instance, &count, devices);
  const char *choice = getenv("CHIMERA_VULKAN_DEVICE");
  int wanted = choice ? atoi(choice) : -1;
  if (wanted >= (int)count)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "CHIMERA_VULKAN_DEVICE=%d, but "
                        "there are %u Vulkan devices", wanted, count);
  for (uint32_t d = 0; d < count; ++d) {
    if (wanted >= 0 && (int)d != wanted)
      continue;
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(devices[d], &n, NULL);
    VkQueueFamilyProperties families[32];
    if (n > 32)
      n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(devices[d], &n, families);
    for (uint32_t f = 0; f < n; ++f)
      if (families[f].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        vk.physical = devices[d];
        *family = f;
        return CHIMERA_OK;
      }
  }
  return chimera_fail(CHIMERA_ERROR_DEVICE, "no Vulkan device with a compute "
                      "queue");
}

/* Whether the SPIR-V module declares `capability` (its OpCapability
 * instructions come first, before OpMemoryModel). */
static int spirv_declares(const uint32_t *words, size_t count,
                          uint32_t capability) {
  enum { OP_CAPABILITY = 17, OP_MEMORY_MODEL = 14 };
  for (size_t i = 5; i < count;) {
    uint32_t length = words[i] >> 16, opcode = words[i] & 0xffff;
    if (length == 0 || opcode == OP_MEMORY_MODEL)
      break;
    if (opcode == OP_CAPABILITY && length == 2 && i + 1 < count &&
        words[i + 1] == capability)
      return 1;
    i += length;
  }
  return 0;
}

static chimera_status create_device(uint32_t family, int int64,
                                    int subgroup_arithmetic) {
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(vk.physical, &props);
  if (props.apiVersion < VK_API_VERSION_1_1)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: %s supports Vulkan "
                        "%u.%u; the kernels need 1.1 (SPIR-V 1.3)",
                        props.deviceName, VK_VERSION_MAJOR(props.apiVersion),
                        VK_VERSION_MINOR(props.apiVersion));
  VkPhysicalDeviceFeatures have;
  vkGetPhysicalDeviceFeatures(vk.physical, &have);
  if (int64 && !have.shaderInt64)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: %s lacks shaderInt64, "
                        "which the kernels use (compile with "
                        "--target=vulkan:adreno or vulkan:mali for devices "
                        "without it)", props.deviceName);
  if (subgroup_arithmetic) {
    VkPhysicalDeviceSubgroupProperties subgroups = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 props2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &subgroups};
    vkGetPhysicalDeviceProperties2(vk.physical, &props2);
    if (!(subgroups.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
        !(subgroups.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT))
      return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: %s lacks subgroup "
                          "arithmetic in compute shaders, which the kernels "
                          "use (compile with --gpu-reductions=invocation, or "
                          "for a mobile profile: --target=vulkan:adreno or "
                          "vulkan:mali)", props.deviceName);
  }
  vk.offset_alignment = props.limits.minStorageBufferOffsetAlignment;
  vk.max_range = props.limits.maxStorageBufferRange;
  vk.max_buffers = props.limits.maxPerStageDescriptorStorageBuffers;
  memcpy(vk.max_groups, props.limits.maxComputeWorkGroupCount,
         sizeof vk.max_groups);
  if (vk.workgroup_size > props.limits.maxComputeWorkGroupInvocations ||
      vk.workgroup_size > props.limits.maxComputeWorkGroupSize[0])
    return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: %s allows %u "
                        "invocations per workgroup; the kernels use %lld",
                        props.deviceName,
                        props.limits.maxComputeWorkGroupInvocations,
                        (long long)vk.workgroup_size);

  float priority = 1.0f;
  VkDeviceQueueCreateInfo queue = {
      .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
      .queueFamilyIndex = family,
      .queueCount = 1,
      .pQueuePriorities = &priority};
  VkPhysicalDeviceFeatures features = {.shaderInt64 = int64 ? VK_TRUE
                                                          : VK_FALSE};
  VkDeviceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &queue,
                             .pEnabledFeatures = &features};
  VkResult r = vkCreateDevice(vk.physical, &info, NULL, &vk.device);
  if (r != VK_SUCCESS)
    return vk_error("vkCreateDevice", r);
  vkGetDeviceQueue(vk.device, family, 0, &vk.queue);

  /* Host-visible and coherent; device-local too when there is such. */
  VkPhysicalDeviceMemoryProperties memory;
  vkGetPhysicalDeviceMemoryProperties(vk.physical, &memory);
  const VkMemoryPropertyFlags need = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                     VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int best = -1;
  for (uint32_t t = 0; t < memory.memoryTypeCount; ++t) {
    VkMemoryPropertyFlags f = memory.memoryTypes[t].propertyFlags;
    if ((f & need) != need)
      continue;
    if (best < 0 || ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
                     !(memory.memoryTypes[best].propertyFlags &
                       VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)))
      best = (int)t;
  }
  if (best < 0)
    return chimera_fail(CHIMERA_ERROR_DEVICE, "vulkan: %s has no host-visible "
                        "coherent memory", props.deviceName);
  vk.memory_type = (uint32_t)best;

  VkCommandPoolCreateInfo pool = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
      .queueFamilyIndex = family};
  if ((r = vkCreateCommandPool(vk.device, &pool, NULL, &vk.command_pool)))
    return vk_error("vkCreateCommandPool", r);
  VkFenceCreateInfo fence = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  if ((r = vkCreateFence(vk.device, &fence, NULL, &vk.fence)))
    return vk_error("vkCreateFence", r);
  return CHIMERA_OK;
}

/* A new chunk of `size` bytes; NULL when the device is out of memory. */
static chunk *new_chunk(size_t size, int persistent) {
  if (vk.num_chunks == MAX_CHUNKS)
    return NULL;
  VkBufferCreateInfo info = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                      VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  chunk c = {.size = size, .persistent = persistent};
  if (vkCreateBuffer(vk.device, &info, NULL, &c.buffer) != VK_SUCCESS)
    return NULL;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(vk.device, c.buffer, &req);
  VkMemoryAllocateInfo alloc = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                .allocationSize = req.size,
                                .memoryTypeIndex = vk.memory_type};
  void *mapped = NULL;
  if (!(req.memoryTypeBits & (1u << vk.memory_type)) ||
      vkAllocateMemory(vk.device, &alloc, NULL, &c.memory) != VK_SUCCESS) {
    vkDestroyBuffer(vk.device, c.buffer, NULL);
    return NULL;
  }
  if (vkBindBufferMemory(vk.device, c.buffer, c.memory, 0) != VK_SUCCESS ||
      vkMapMemory(vk.device, c.memory, 0, VK_WHOLE_SIZE, 0, &mapped) !=
          VK_SUCCESS) {
    vkDestroyBuffer(vk.device, c.buffer, NULL);
    vkFreeMemory(vk.device, c.memory, NULL);
    return NULL;
  }
  c.base = mapped;
  vk.chunks[vk.num_chunks] = c;
  return &vk.chunks[vk.num_chunks++];
}

static void *vk_alloc(size_t size, int persistent) {
  size_t need = (size + 255) & ~(size_t)255;
  if (need == 0)
    need = 256;
  void *p = NULL;
  pthread_mutex_lock(&lock);
  if (!persistent)
    for (int i = 0; i < vk.num_chunks && !p; ++i) {
      chunk *c = &vk.chunks[i];
      if (!c->persistent && c->size - c->used >= need) {
        p = c->base + c->used;
        c->used += need;
        c->live++;
      }
    }
  if (!p) {
    chunk *c = new_chunk(persistent || need > SHARED_CHUNK ? need : SHARED_CHUNK,
                         persistent);
    if (c) {
      p = c->base;
      c->used = need;
      c->live = 1;
    }
  }
  pthread_mutex_unlock(&lock);
  return p;
}

static chunk *chunk_of(const void *p) {
  for (int i = 0; i < vk.num_chunks; ++i) {
    chunk *c = &vk.chunks[i];
    if ((const char *)p >= c->base && (const char *)p < c->base + c->size)
      return c;
  }
  return NULL;
}

static void vk_sync(void);

/* Forgets every recorded batch (their descriptors name buffers that are
 * going away). */
static void forget_segments(void) {
  for (int i = 0; i < MAX_SEGMENTS; ++i) {
    segment *g = &vk.segments[i];
    if (g->pool)
      vkDestroyDescriptorPool(vk.device, g->pool, NULL);
    free(g->launches);
    g->pool = VK_NULL_HANDLE;
    g->launches = NULL;
    g->count = 0;
    g->hash = 0;
  }
}

static void vk_free(void *p) {
  pthread_mutex_lock(&lock);
  chunk *c = chunk_of(p);
  if (c && --c->live == 0) {
    if (c->persistent) {
      vk_sync(); /* queued dispatches may still use it */
      forget_segments();
      vkDestroyBuffer(vk.device, c->buffer, NULL);
      vkFreeMemory(vk.device, c->memory, NULL);
      *c = vk.chunks[--vk.num_chunks];
    } else {
      c->used = 0;
    }
  }
  pthread_mutex_unlock(&lock);
}

static chimera_status vk_open(const char *binary, size_t size,
                              const gpu_kernel *kernels, int num_kernels,
                              int64_t workgroup_size) {
  vk.kernels = kernels;
  vk.num_kernels = num_kernels;
  vk.workgroup_size = workgroup_size;
  if (size % 4 || size < 20 || ((uintptr_t)binary & 3))
    return chimera_fail(CHIMERA_ERROR_FORMAT, "model.so: the SPIR-V binary is "
                        "not whole 32-bit words");
  enum { CAPABILITY_INT64 = 11, CAPABILITY_GROUP_NON_UNIFORM_ARITHMETIC = 63 };
  int int64 = spirv_declares((const uint32_t *)binary, size / 4,
                             CAPABILITY_INT64);
  uint32_t family = 0;
  chimera_status status = load_loader();
  if (status == CHIMERA_OK)
    status = pick_device(&family);
  if (status == CHIMERA_OK)
    status = create_device(family, int64,
                           spirv_declares((const uint32_t *)binary, size / 4,
                                          CAPABILITY_GROUP_NON_UNIFORM_ARITHMETIC));
  if (status != CHIMERA_OK)
    return status;
  VkShaderModuleCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
      .codeSize = size,
      .pCode = (const uint32_t *)binary};
  VkResult r = vkCreateShaderModule(vk.device, &info, NULL, &vk.shader);
  if (r != VK_SUCCESS)
    return vk_error("vkCreateShaderModule", r);
  vk.pipelines = calloc((size_t)num_kernels + 1, sizeof *vk.pipelines);
  vk.params_size = MAX_BATCH * (GPU_MAX_WORDS * sizeof(int32_t) +
                                sizeof(VkDispatchIndirectCommand) +
                                (size_t)vk.offset_alignment);
  vk.params = vk_alloc(vk.params_size, 1);
  if (!vk.pipelines || !vk.params)
    return chimera_fail(CHIMERA_ERROR_OUT_OF_MEMORY, "vulkan: out of memory");
  return CHIMERA_OK;
}

static int make_pipeline(int index) {
  const gpu_kernel *k = &vk.kernels[index];
  pipeline *p = &vk.pipelines[index];
  VkDescriptorSetLayoutBinding bindings[GPU_MAX_FIELDS + 1];
  int n = k->num_buffers + 1;
  if ((uint32_t)n > vk.max_buffers) {
    chimera_device_launch_failed("kernel %s binds %d storage buffers; the "
                                 "device allows %u per stage", k->name, n,
                                 vk.max_buffers);
    return 0;
  }
  for (int b = 0; b < n; ++b)
    bindings[b] = (VkDescriptorSetLayoutBinding){
        .binding = (uint32_t)b,
        .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = 1,
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
  VkDescriptorSetLayoutCreateInfo set = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
      .bindingCount = (uint32_t)n,
      .pBindings = bindings};
  VkResult r = vkCreateDescriptorSetLayout(vk.device, &set, NULL,
                                           &p->set_layout);
  VkPipelineLayoutCreateInfo layout = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
      .setLayoutCount = 1,
      .pSetLayouts = &p->set_layout};
  if (r == VK_SUCCESS)
    r = vkCreatePipelineLayout(vk.device, &layout, NULL, &p->layout);
  VkComputePipelineCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = vk.shader,
                .pName = k->name},
      .layout = p->layout};
  if (r == VK_SUCCESS)
    r = vkCreateComputePipelines(vk.device, VK_NULL_HANDLE, 1, &info, NULL,
                                 &p->pipeline);
  if (r != VK_SUCCESS) {
    chimera_device_launch_failed("cannot create the pipeline of kernel %s "
                                 "(VkResult %d)", k->name, (int)r);
    return 0;
  }
  return 1;
}

static void vk_launch(int index, int64_t n, const gpu_buffer *buffers,
                      int num_buffers, int32_t *params, int num_params) {
  const gpu_kernel *k = &vk.kernels[index];
  if (!vk.pipelines[index].pipeline && !make_pipeline(index))
    return;
  if (vk.recorded == MAX_BATCH)
    vk_sync();
  launch_record rec;
  memset(&rec, 0, sizeof rec);
  rec.kernel = index;
  rec.num_infos = num_buffers + 1;
  for (int b = 0; b < num_buffers; ++b) {
    const gpu_buffer *buf = &buffers[b];
    chunk *c = chunk_of(buf->aligned);
    if (!c) {
      chimera_device_launch_failed("kernel %s: operand buffer %d (%p) is not "
                                   "device memory", k->name, b, buf->aligned);
      return;
    }
    size_t at = (size_t)((char *)buf->aligned - c->base);
    /* A chunk that fits one binding is bound whole, so the window does not
     * move with the operand (see the header); the offset, in elements,
     * must fit the i32 parameter. */
    size_t start = c->size <= vk.max_range && c->size < ((size_t)1 << 31)
                       ? 0
                       : at - at % vk.offset_alignment;
    size_t range = c->size - start;
    if (range > vk.max_range)
      range = vk.max_range;
    size_t skip = (at - start) / (size_t)buf->elem_size;
    size_t bytes = (skip + (size_t)buf->elements) * (size_t)buf->elem_size;
    if (bytes > range) {
      chimera_device_launch_failed("kernel %s: operand buffer %d spans %zu "
                                   "bytes; the device binds at most %zu",
                                   k->name, b, bytes, range);
      return;
    }
    params[buf->offset_word] += (int32_t)skip;
    rec.infos[b] = (VkDescriptorBufferInfo){c->buffer, start, range};
  }

  int64_t groups = (n + vk.workgroup_size - 1) / vk.workgroup_size;
  int64_t gx = groups < vk.max_groups[0] ? groups : vk.max_groups[0];
  int64_t gy = (groups + gx - 1) / gx;
  if (gy > vk.max_groups[1]) {
    chimera_device_launch_failed("kernel %s: %lld items exceed the device's "
                                 "workgroup counts", k->name, (long long)n);
    return;
  }

  /* Parameters, then the grid size, at the next aligned slot. */
  size_t bytes = (size_t)num_params * sizeof(int32_t);
  size_t need = bytes + sizeof(VkDispatchIndirectCommand);
  size_t at = (vk.params_used + vk.offset_alignment - 1) &
              ~(size_t)(vk.offset_alignment - 1);
  if (at + need > vk.params_size) {
    vk_sync();
    at = 0;
  }
  chunk *pc = chunk_of(vk.params);
  memcpy(vk.params + at, params, bytes);
  VkDispatchIndirectCommand grid = {(uint32_t)gx, (uint32_t)gy, 1};
  memcpy(vk.params + at + bytes, &grid, sizeof grid);
  vk.params_used = at + need;
  size_t ring = (size_t)(vk.params - pc->base);
  rec.infos[num_buffers] = (VkDescriptorBufferInfo){
      pc->buffer, (VkDeviceSize)(ring + at), (VkDeviceSize)bytes};
  rec.args = (VkDeviceSize)(ring + at + bytes);
  vk.pending[vk.recorded++] = rec;
}

static uint64_t hash_records(const launch_record *r, int count) {
  const unsigned char *p = (const unsigned char *)r;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < (size_t)count * sizeof *r; ++i)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Records `count` pending launches into `g` (replacing what it held). */
static int record_segment(segment *g, int count, uint64_t hash) {
  if (g->pool)
    vkDestroyDescriptorPool(vk.device, g->pool, NULL);
  g->pool = VK_NULL_HANDLE;
  g->count = 0;
  free(g->launches);
  g->launches = malloc((size_t)count * sizeof *g->launches);
  if (!g->launches) {
    chimera_device_launch_failed("vulkan: out of memory");
    return 0;
  }
  memcpy(g->launches, vk.pending, (size_t)count * sizeof *g->launches);
  VkDescriptorPoolSize size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                               (uint32_t)count * (GPU_MAX_FIELDS + 1)};
  VkDescriptorPoolCreateInfo pool = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
      .maxSets = (uint32_t)count,
      .poolSizeCount = 1,
      .pPoolSizes = &size};
  VkResult r = vkCreateDescriptorPool(vk.device, &pool, NULL, &g->pool);
  if (r == VK_SUCCESS && !g->cmd) {
    VkCommandBufferAllocateInfo cmd = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk.command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1};
    r = vkAllocateCommandBuffers(vk.device, &cmd, &g->cmd);
  }
  if (r != VK_SUCCESS) {
    chimera_device_launch_failed("recording a command buffer: VkResult %d",
                                 (int)r);
    return 0;
  }
  VkCommandBufferBeginInfo begin = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  vkResetCommandBuffer(g->cmd, 0);
  vkBeginCommandBuffer(g->cmd, &begin);
  chunk *pc = chunk_of(vk.params);
  for (int i = 0; i < count; ++i) {
    const launch_record *l = &g->launches[i];
    const pipeline *p = &vk.pipelines[l->kernel];
    VkDescriptorSetAllocateInfo alloc = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = g->pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &p->set_layout};
    VkDescriptorSet set;
    if ((r = vkAllocateDescriptorSets(vk.device, &alloc, &set)) != VK_SUCCESS) {
      vkEndCommandBuffer(g->cmd);
      chimera_device_launch_failed("vkAllocateDescriptorSets: VkResult %d",
                                   (int)r);
      return 0;
    }
    VkWriteDescriptorSet writes[GPU_MAX_FIELDS + 1];
    for (int b = 0; b < l->num_infos; ++b)
      writes[b] = (VkWriteDescriptorSet){
          .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
          .dstSet = set,
          .dstBinding = (uint32_t)b,
          .descriptorCount = 1,
          .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
          .pBufferInfo = &l->infos[b]};
    vkUpdateDescriptorSets(vk.device, (uint32_t)l->num_infos, writes, 0, NULL);
    if (i > 0) {
      /* Every dispatch after everything the earlier ones wrote. */
      VkMemoryBarrier barrier = {
          .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
          .dstAccessMask =
              VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
      vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                           VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier,
                           0, NULL, 0, NULL);
    }
    vkCmdBindPipeline(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout,
                            0, 1, &set, 0, NULL);
    vkCmdDispatchIndirect(g->cmd, pc->buffer, l->args);
  }
  /* What the kernels wrote is what the host code reads next. */
  VkMemoryBarrier barrier = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                             .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                             .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
  vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &barrier, 0, NULL, 0,
                       NULL);
  if ((r = vkEndCommandBuffer(g->cmd)) != VK_SUCCESS) {
    chimera_device_launch_failed("vkEndCommandBuffer: VkResult %d", (int)r);
    return 0;
  }
  g->count = count;
  g->hash = hash;
  return 1;
}

static void vk_sync(void) {
  int count = vk.recorded;
  if (count == 0)
    return;
  vk.recorded = 0;
  vk.params_used = 0;
  ++vk.submissions;
  uint64_t hash = hash_records(vk.pending, count);
  segment *g = NULL, *victim = &vk.segments[0];
  for (int i = 0; i < MAX_SEGMENTS && !g; ++i) {
    segment *s = &vk.segments[i];
    if (s->count == count && s->hash == hash &&
        !memcmp(s->launches, vk.pending, (size_t)count * sizeof *s->launches))
      g = s;
    else if (s->last_used < victim->last_used)
      victim = s;
  }
  int replay = g != NULL;
  if (!g) {
    g = victim;
    if (!record_segment(g, count, hash))
      return;
  } else {
    ++vk.replays;
  }
  g->last_used = vk.submissions;
  if (chimera_device_tracing())
    fprintf(stderr, "chimera: vulkan: %s %d launches\n",
            replay ? "replay" : "record", count);
  VkSubmitInfo submit = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                         .commandBufferCount = 1,
                         .pCommandBuffers = &g->cmd};
  VkResult r = vkQueueSubmit(vk.queue, 1, &submit, vk.fence);
  if (r == VK_SUCCESS)
    r = vkWaitForFences(vk.device, 1, &vk.fence, VK_TRUE, UINT64_MAX);
  vkResetFences(vk.device, 1, &vk.fence);
  if (r != VK_SUCCESS)
    chimera_device_launch_failed("queue submission: VkResult %d", (int)r);
}

const chimera_backend chimera_vulkan_backend = {
    "vulkan", vk_open, vk_alloc, vk_free, vk_launch, vk_sync};
