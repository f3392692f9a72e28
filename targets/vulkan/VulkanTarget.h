//===- VulkanTarget.h - Vulkan device profiles ------------------*- C++ -*-===//
//
// `--target=vulkan[:PROFILE]`: what the SPIR-V kernels may use on each
// class of device. The kernels themselves are the x86 kernels mapped to
// workgroups by chimera-kernels-to-gpu; a profile chooses the SPIR-V
// version, capabilities and workgroup size, and the runtime checks the
// device it finds against the profile's limits.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_TARGETS_VULKAN_VULKANTARGET_H
#define CHIMERA_TARGETS_VULKAN_VULKANTARGET_H

#include "passes/Passes.h"

#include "llvm/Support/Error.h"

namespace chimera::vulkan {

/// "desktop" (the default when `profile` is empty), "adreno" or "mali".
llvm::Expected<mlir::chimera::KernelTarget>
parseProfile(llvm::StringRef profile);

} // namespace chimera::vulkan

#endif // CHIMERA_TARGETS_VULKAN_VULKANTARGET_H
