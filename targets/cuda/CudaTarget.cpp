//===- CudaTarget.cpp - CUDA SM targets -----------------------------------===//
#include "targets/cuda/CudaTarget.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cstdlib>

using namespace chimera;
using mlir::chimera::KernelTarget;

llvm::Expected<KernelTarget> cuda::parseSm(llvm::StringRef sm) {
  if (sm.empty())
    sm = "sm_80";
  // The lowest PTX ISA version that knows each SM (PTX ISA release notes);
  // LLVM's default (ptx60) does not, and aborts for anything past sm_70.
  const char *ptx = llvm::StringSwitch<const char *>(sm)
                        .Case("sm_70", "+ptx60")
                        .Case("sm_75", "+ptx63")
                        .Case("sm_80", "+ptx70")
                        .Case("sm_86", "+ptx71")
                        .Case("sm_87", "+ptx74")
                        .Case("sm_89", "+ptx78")
                        .Case("sm_90", "+ptx78")
                        .Case("sm_90a", "+ptx80")
                        .Case("sm_100", "+ptx86")
                        .Case("sm_120", "+ptx87")
                        .Default(nullptr);
  if (!ptx)
    return llvm::createStringError(
        "unknown CUDA target '" + sm +
        "' (sm_70, sm_75, sm_80, sm_86, sm_87, sm_89, sm_90, sm_90a, sm_100, "
        "sm_120)");
  KernelTarget target;
  target.kind = KernelTarget::Cuda;
  // libdevice (the toolkit's math library, LLVM bitcode) is linked into
  // the kernels: exp, rsqrt, tanh, sin, cos are its functions.
  llvm::SmallVector<std::string> candidates;
  if (const char *home = std::getenv("CUDA_HOME"))
    candidates.push_back(home);
  if (const char *path = std::getenv("CUDA_PATH"))
    candidates.push_back(path);
  candidates.push_back("/usr/local/cuda");
  candidates.push_back("/usr/lib/nvidia-cuda-toolkit");
  for (const std::string &dir : candidates) {
    llvm::SmallString<256> libdevice(dir);
    llvm::sys::path::append(libdevice, "nvvm", "libdevice", "libdevice.10.bc");
    if (llvm::sys::fs::exists(libdevice)) {
      target.cudaToolkit = dir;
      break;
    }
  }
  if (target.cudaToolkit.empty())
    return llvm::createStringError(
        "--target=cuda needs the CUDA toolkit's libdevice "
        "(nvvm/libdevice/libdevice.10.bc) and found none under $CUDA_HOME, "
        "$CUDA_PATH or /usr/local/cuda");
  target.cudaChip = sm.str();
  target.cudaFeatures = ptx;
  // Four warps: enough to hide latency with one item per thread.
  target.workgroupSize = 128;
  return target;
}
