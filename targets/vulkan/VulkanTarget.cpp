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
    // 64-bit integers in shaders: every desktop driver and lavapipe.
    target.profile = "desktop";
    target.spirvVersion = "v1.3";
    target.spirvCaps = "Shader,Int64";
    target.workgroupSize = 64;
    return target;
  }
  if (profile == "adreno" || profile == "mali")
    return llvm::createStringError(
        "Vulkan profile '" + profile +
        "' is not implemented yet: the mobile profiles need kernels without "
        "64-bit integers (token ids and positions are i64 today)");
  return llvm::createStringError("unknown Vulkan profile '" + profile +
                                 "' (desktop, adreno, mali)");
}
