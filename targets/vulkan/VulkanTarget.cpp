//===- VulkanTarget.cpp - Vulkan device profiles --------------------------===//
#include "targets/vulkan/VulkanTarget.h"

using namespace chimera;
using mlir::chimera::KernelTarget;

llvm::Expected<KernelTarget> vulkan::parseProfile(llvm::StringRef profile) {
  KernelTarget target;
  target.kind = KernelTarget::Vulkan;
  target.spirvExts = "SPV_KHR_storage_buffer_storage_class";
  if (profile.empty() || profile == "desktop") {
    // Vulkan 1.3 (SPIR-V 1.6 accepted; 1.3 is enough for these kernels),
    // 64-bit integers in shaders and subgroup arithmetic in compute
    // shaders: every desktop driver and lavapipe (the runtime checks).
    target.profile = "desktop";
    target.spirvVersion = "v1.3";
    target.spirvCaps =
        "Shader,Int64,GroupNonUniform,GroupNonUniformArithmetic";
    target.subgroupArithmetic = true;
    target.workgroupSize = 64;
    return target;
  }
  if (profile == "adreno" || profile == "mali") {
    // Mobile GPUs (Qualcomm Adreno, Arm Mali) through Vulkan 1.1, the
    // Android baseline: SPIR-V 1.3, no shaderInt64 (i64 buffers are read as
    // word pairs and i64 arithmetic is emulated in i32), and the core
    // minimums of the Vulkan 1.1 spec's "Required Limits" table where the
    // kernels depend on a limit: maxComputeWorkGroupInvocations >= 128 (we
    // use 64), maxStorageBufferRange >= 2^27 bytes (every static buffer is
    // checked against it at compile time). The runtime checks the device's
    // actual limits when it creates each pipeline.
    target.profile = profile.str();
    target.spirvVersion = "v1.3";
    target.spirvCaps = "Shader";
    target.workgroupSize = 64;
    target.int64 = false;
    target.maxBufferBytes = int64_t(1) << 27;
    return target;
  }
  return llvm::createStringError("unknown Vulkan profile '" + profile +
                                 "' (desktop, adreno, mali)");
}
