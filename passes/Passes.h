//===- Passes.h - chimera passes and pipelines ------------------*- C++ -*-===//
#ifndef CHIMERA_PASSES_PASSES_H
#define CHIMERA_PASSES_PASSES_H

#include "dialects/chimera/ChimeraDialect.h"

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir {
class RewritePatternSet;
namespace chimera {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// A string attribute on a kernel's `scf.parallel` that says what it
/// computes ("matmul", "expert_matmul", "quantize_x"):
/// chimera-outline-kernels appends it to the kernel's name, which the
/// runtime's kernel profile prints.
constexpr llvm::StringLiteral kKernelTag = "chimera.kernel_tag";

/// Patterns of the reference lowering, one op family each.
void populateReferenceLinearPatterns(RewritePatternSet &patterns);
void populateReferenceNormPatterns(RewritePatternSet &patterns);
void populateReferenceRopePatterns(RewritePatternSet &patterns);
void populateReferenceAttentionPatterns(RewritePatternSet &patterns);
void populateReferenceCachePatterns(RewritePatternSet &patterns);
void populateReferenceSsmPatterns(RewritePatternSet &patterns);
void populateReferenceMoePatterns(RewritePatternSet &patterns);
void populateReferenceDepthRoutePatterns(RewritePatternSet &patterns);
void populateReferenceScalePatterns(RewritePatternSet &patterns);
void populateReferenceImagePatterns(RewritePatternSet &patterns);
void populateReferenceSamplePatterns(RewritePatternSet &patterns);

/// `chimera-vectorize-matmuls`' int4/int8 × int8 kernels (AVX512-VNNI).
void populateVnniMatmulPatterns(RewritePatternSet &patterns, int64_t rows,
                                int64_t cols);

/// `chimera-reference-to-llvm`: the reference lowering, bufferization and
/// conversion to the LLVM dialect, ready for mlir-runner or the
/// ExecutionEngine. Every phase is an upstream pass and can be dumped with
/// --mlir-print-ir-after-all.
/// With `resultsAsOutParams`, function results become trailing memref
/// arguments the caller allocates (for the JIT harness).
void buildReferenceToLLVMPipeline(OpPassManager &pm,
                                  bool resultsAsOutParams = false);

/// The phases of a model compile, in order. Each is a named pipeline
/// (`chimera-model-<phase>`) so IR dumped after one can be resumed.
///  * import: the frontend's chimera IR (no passes);
///  * bind: weights bound to the archive buffer, results to destinations;
///  * linalg: chimera ops lowered to linalg/tensor/scf;
///  * bufferize: memrefs; caches and states updated in place;
///  * llvm: the LLVM dialect with the packed entry point.
enum class ModelPhase { Import, Bind, Linalg, Bufferize, LLVM };

/// Where the kernels run. The phases up to kernel formation are the same
/// for every target (DESIGN.md: one kernel abstraction); x86 adds its
/// vector kernels before, the GPU targets map the same kernels to `gpu`
/// and lower them to SPIR-V or PTX, embedded in the host code.
struct KernelTarget {
  enum Kind { X86, Vulkan, Cuda } kind = X86;
  /// Vulkan: the device profile ("desktop", ...).
  std::string profile;
  /// Vulkan: the SPIR-V version and capabilities the kernels may use.
  std::string spirvVersion = "v1.3";
  std::string spirvCaps = "Shader,Int64";
  std::string spirvExts = "SPV_KHR_storage_buffer_storage_class";
  /// CUDA: the SM and PTX feature ("+ptx80").
  std::string cudaChip = "sm_80";
  std::string cudaFeatures = "+ptx80";
  /// CUDA: the toolkit whose libdevice implements the math functions.
  std::string cudaToolkit;
  /// Invocations per workgroup.
  int64_t workgroupSize = 64;
  /// Whether kernels may use 64-bit integers (mobile GPUs: no).
  bool int64 = true;
  /// Largest buffer a kernel operand may be (0: no limit).
  int64_t maxBufferBytes = 0;
  /// A workgroup per reducing grid item (chimera-gpu-cooperative-reductions).
  bool workgroupReductions = true;
  /// A workgroup-tiled twin of each GEMM kernel for prefill
  /// (chimera-gpu-tile-matmuls).
  bool workgroupTiles = true;
  /// Reductions of data-dependent length (attention over the keys so far)
  /// get a workgroup too.
  bool dataDependentReductions = true;
  /// Sums within a subgroup through subgroup arithmetic.
  bool subgroupArithmetic = false;
  /// x86: int4 matmuls take x quantised to int8 (AVX512-VNNI).
  bool int8Activations = false;
  /// x86: the target has AVX-512F (table lookups by vpermps).
  bool avx512 = false;
  bool isGpu() const { return kind != X86; }
};

void buildModelPhase(OpPassManager &pm, ModelPhase phase,
                     const KernelTarget &target = {});
std::optional<ModelPhase> parseModelPhase(llvm::StringRef name);

/// `chimera-model-to-llvm`: an imported model (`@forward` with
/// `chimera.param` weights) to LLVM: weights bound to one archive buffer,
/// results and caches written into caller buffers, reference lowering,
/// bufferization, LLVM dialect. The function becomes
/// `void forward(weights, inputs..., caches..., logits)` on memrefs.
void buildModelToLLVMPipeline(OpPassManager &pm);

/// Registers the named pipelines with the pass registry.
void registerChimeraPipelines();

} // namespace chimera
} // namespace mlir

#endif // CHIMERA_PASSES_PASSES_H
