//===- Pipelines.cpp - named chimera pipelines ----------------------------===//
#include "passes/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/SPIRV/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;
using namespace mlir::chimera;

/// One-shot bufferization across function boundaries with identity layouts.
static void addBufferize(OpPassManager &pm) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  // The reference scan and top-k loops carry freshly computed tensors.
  bufferize.allowReturnAllocsFromLoops = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
}

/// Kernels as gpu.funcs, lowered for the target and embedded in the host
/// module as a binary; the launches stay for the host lowering.
static void addGpuKernels(OpPassManager &pm, const KernelTarget &target) {
  KernelsToGpuOptions kernels;
  kernels.workgroupSize = target.workgroupSize;
  kernels.maxBufferBytes = target.maxBufferBytes;
  pm.addPass(createKernelsToGpu(kernels));
  if (target.workgroupTiles) {
    TileMatmulsOptions tiles;
    tiles.workgroupSize = target.workgroupSize;
    tiles.workgroupAllocs = target.kind == KernelTarget::Vulkan;
    pm.addPass(createTileMatmuls(tiles));
  }
  if (target.workgroupReductions) {
    CooperativeReductionsOptions cooperative;
    cooperative.workgroupSize = target.workgroupSize;
    cooperative.workgroupAllocs = target.kind == KernelTarget::Vulkan;
    cooperative.subgroupReduce =
        target.subgroupArithmetic || target.kind == KernelTarget::Cuda;
    // CUDA's warps: 32 contiguous lanes, summed by shuffles.
    if (target.kind == KernelTarget::Cuda)
      cooperative.subgroupSize = 32;
    cooperative.dataDependent = target.dataDependentReductions;
    pm.addPass(createCooperativeReductions(cooperative));
  }
  pm.addPass(createSynchronizeHostAccesses());
  OpPassManager &device = pm.nest<gpu::GPUModuleOp>();
  device.addPass(createCanonicalizerPass());
  device.addPass(memref::createExpandStridedMetadataPass());
  LinearizeKernelBuffersOptions linearize;
  linearize.splitI64 = !target.int64;
  device.addPass(createLinearizeKernelBuffers(linearize));
  if (!target.int64) {
    arith::ArithEmulateWideIntOptions wide;
    wide.widestIntSupported = 32;
    device.addPass(arith::createArithEmulateWideInt(wide));
  }
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  device.addPass(arith::createArithExpandOpsPass(expand));
  device.addPass(createLowerAffinePass());
  device.addPass(createCanonicalizerPass());
  device.addPass(createCSEPass());
  // Lane loops read their operands in runs of four; the offsets they read
  // at must be hoisted for the alignment test.
  device.addPass(createLoopInvariantCodeMotionPass());
  VectorizeLaneLoadsOptions lanes;
  lanes.aliasBindings = target.kind == KernelTarget::Vulkan;
  device.addPass(createVectorizeLaneLoads(lanes));
  device.addPass(createCanonicalizerPass());
  device.addPass(createCSEPass());
  if (target.kind == KernelTarget::Vulkan) {
    // erf has no GLSL instruction; the others map to GLSL.std.450.
    device.addPass(createApproximateMath());
    // MLIR 22's SCF-to-SPIR-V leaves the results of an scf.for that runs
    // no iteration undefined (llvm/llvm-project#211981, fixed after 22):
    // they are stored only in the body. scf.while's are stored in the
    // header. A lane past the end of a short reduction runs none.
    device.addPass(createForToWhileLoopPass());
    GpuSPIRVAttachTargetOptions attach;
    attach.spirvVersion = target.spirvVersion;
    attach.clientApi = "Vulkan";
    attach.spirvCapabilities = llvm::to_vector(
        llvm::map_range(llvm::split(target.spirvCaps, ','),
                        [](StringRef s) { return s.str(); }));
    attach.spirvExtensions = llvm::to_vector(
        llvm::map_range(llvm::split(target.spirvExts, ','),
                        [](StringRef s) { return s.str(); }));
    pm.addPass(createGpuSPIRVAttachTarget(attach));
    pm.addPass(createKernelsToSpirv());
    OpPassManager &spirvModule = pm.nest<spirv::ModuleOp>();
    spirvModule.addPass(spirv::createSPIRVLowerABIAttributesPass());
    spirvModule.addPass(spirv::createSPIRVUpdateVCEPass());
  } else {
    GpuNVVMAttachTargetOptions attach;
    attach.chip = target.cudaChip;
    attach.features = target.cudaFeatures;
    attach.optLevel = 3;
    pm.addPass(createGpuNVVMAttachTarget(attach));
    device.addPass(createSubgroupShuffles());
    device.addPass(createSCFToControlFlowPass());
    device.addPass(createConvertGpuOpsToNVVMOps());
    device.addPass(createCanonicalizerPass());
    device.addPass(createCSEPass());
    device.addPass(createReconcileUnrealizedCastsPass());
    GpuModuleToBinaryPassOptions toBinary;
    toBinary.compilationTarget = "isa";
    toBinary.toolkitPath = target.cudaToolkit;
    pm.addPass(createGpuModuleToBinaryPass(toBinary));
  }
  pm.addPass(createEmbedGpuBinary());
}

/// From loops over memrefs to the LLVM dialect.
static void addLoopsToLLVM(OpPassManager &pm, bool parallelKernels,
                           const KernelTarget &target = {}) {
  StridedCopiesToLinalgOptions copies;
  copies.all = target.isGpu();
  pm.addNestedPass<func::FuncOp>(createStridedCopiesToLinalg(copies));
  if (parallelKernels) {
    // Linear layers become register-blocked vector kernels.
    if (!target.isGpu()) {
      VectorizeMatmulsOptions matmuls;
      matmuls.int8Activations = target.int8Activations;
      matmuls.tableLookups = target.avx512;
      pm.addNestedPass<func::FuncOp>(createVectorizeMatmuls(matmuls));
    }
    // Parallel dims become scf.parallel, and top-level ones become kernels
    // launched on the runtime's thread pool; the rest are plain loops.
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
    pm.addPass(createForallToParallelLoops());
    OutlineKernelsOptions outline;
    // A GPU runs one grid item per invocation: no blocking.
    if (target.isGpu()) {
      outline.blockSize = 1;
      outline.gpuBuffers = true;
    }
    pm.addPass(createOutlineKernels(outline));
    pm.addPass(createCanonicalizerPass());
    if (target.isGpu())
      addGpuKernels(pm, target);
  } else {
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  }
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  if (parallelKernels) {
    ApproximateMathOptions approximate;
    approximate.scalef = !target.isGpu() && target.avx512;
    pm.addPass(createApproximateMath(approximate));
  }
  pm.addPass(createConvertVectorToLLVMPass());
  // Model code allocates through the runtime, which keeps freed
  // activations for the next call (runtime/scratch.c).
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = parallelKernels;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createConvertToLLVMPass());
  if (parallelKernels) {
    LaunchToRuntimeOptions launch;
    launch.gpu = target.isGpu();
    pm.addPass(createLaunchToRuntime(launch));
  }
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void chimera::buildReferenceToLLVMPipeline(OpPassManager &pm,
                                           bool resultsAsOutParams) {
  pm.addPass(createLowerToReference());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  addBufferize(pm);
  if (resultsAsOutParams) {
    bufferization::BufferResultsToOutParamsPassOptions outParams;
    outParams.hoistStaticAllocs = true;
    outParams.modifyPublicFunctions = true;
    pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  }
  bufferization::BufferDeallocationPipelineOptions dealloc;
  bufferization::buildBufferDeallocationPipeline(pm, dealloc);
  addLoopsToLLVM(pm, /*parallelKernels=*/false);
}

void chimera::buildModelPhase(OpPassManager &pm, ModelPhase phase,
                              const KernelTarget &target) {
  switch (phase) {
  case ModelPhase::Import:
    return;
  case ModelPhase::Bind:
    // x86's matmul kernels read float weights in K-major panels of their
    // grid item's rows (chimera-vectorize-matmuls: 2 × 16 lanes).
    if (!target.isGpu())
      pm.addPass(createPackWeights());
    pm.addPass(createBindWeights());
    pm.addPass(createResultsToDestinations());
    return;
  case ModelPhase::Linalg:
    // x86's vector kernels for attention and the scan; GPU targets take
    // the reference loops.
    if (!target.isGpu()) {
      pm.addNestedPass<func::FuncOp>(createFlashAttention());
      pm.addNestedPass<func::FuncOp>(createChannelScan());
    }
    pm.addPass(createLowerToReference());
    pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    // Elementwise producers (activations, residual adds, weight transforms)
    // fuse into their consumers: fewer kernels, fewer round trips to memory.
    pm.addPass(createFuseElementwise());
    pm.addPass(createCanonicalizerPass());
    pm.addNestedPass<func::FuncOp>(createReassociateReductions());
    pm.addPass(createExpandShapeToReshape());
    return;
  case ModelPhase::Bufferize: {
    // Results computed into fresh tensors are built in their destinations;
    // shared zero inits are not copied per consumer.
    pm.addPass(createDuplicateSharedFills());
    pm.addPass(bufferization::createEmptyTensorEliminationPass());
    addBufferize(pm);
    // A shared layer function (VAR's per-scale block) returns the caches it
    // wrote in place: those results are its arguments, dropped so that no
    // deallocation clone appears for them.
    pm.addPass(bufferization::createDropEquivalentBufferResultsPass());
    // Loops that only carry a cache buffer fold to it; then every result is
    // an argument written in place and is dropped.
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createDropInPlaceResults());
    bufferization::BufferDeallocationPipelineOptions dealloc;
    bufferization::buildBufferDeallocationPipeline(pm, dealloc);
    return;
  }
  case ModelPhase::LLVM:
    addLoopsToLLVM(pm, /*parallelKernels=*/true, target);
    pm.addPass(createAddPackedEntry());
    return;
  }
}

std::optional<chimera::ModelPhase>
chimera::parseModelPhase(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<ModelPhase>>(name)
      .Case("import", ModelPhase::Import)
      .Case("bind", ModelPhase::Bind)
      .Case("linalg", ModelPhase::Linalg)
      .Case("bufferize", ModelPhase::Bufferize)
      .Case("llvm", ModelPhase::LLVM)
      .Default(std::nullopt);
}

void chimera::buildModelToLLVMPipeline(OpPassManager &pm) {
  for (ModelPhase phase : {ModelPhase::Bind, ModelPhase::Linalg,
                           ModelPhase::Bufferize, ModelPhase::LLVM})
    buildModelPhase(pm, phase);
}

namespace {
/// The x86 kernel target of a resumed phase: what chimera-compile derives
/// from --target-cpu and --quant-activations, so that resuming reaches the
/// module a direct compile for that CPU does.
struct X86PhaseOptions : public PassPipelineOptions<X86PhaseOptions> {
  Option<bool> avx512{*this, "avx512",
                      llvm::cl::desc("The CPU has AVX-512F (table lookups, "
                                     "exp by vscalefps)"),
                      llvm::cl::init(false)};
  Option<bool> int8Activations{
      *this, "int8-activations",
      llvm::cl::desc("--quant-activations=int8 (AVX512-VNNI kernels)"),
      llvm::cl::init(false)};
};
} // namespace

void chimera::registerChimeraPipelines() {
  PassPipelineRegistration<>(
      "chimera-model-to-llvm",
      "Bind weights, write results into caller buffers, lower through the "
      "reference formulas, bufferize and convert to the LLVM dialect",
      [](OpPassManager &pm) { buildModelToLLVMPipeline(pm); });
  // Each phase alone, to resume from IR dumped by
  // `chimera-compile --compile-to=PHASE`.
  static const std::pair<const char *, ModelPhase> phases[] = {
      {"chimera-model-bind", ModelPhase::Bind},
      {"chimera-model-linalg", ModelPhase::Linalg},
      {"chimera-model-bufferize", ModelPhase::Bufferize},
      {"chimera-model-llvm", ModelPhase::LLVM}};
  for (const auto &[name, phase] : phases) {
    ModelPhase p = phase;
    PassPipelineRegistration<X86PhaseOptions>(
        name,
        "One phase of chimera-model-to-llvm (see chimera-compile "
        "--compile-to); the x86 kernels' CPU features as options",
        [p](OpPassManager &pm, const X86PhaseOptions &options) {
          KernelTarget target;
          target.avx512 = options.avx512;
          target.int8Activations = options.int8Activations;
          buildModelPhase(pm, p, target);
        });
  }
  PassPipelineRegistration<>(
      "chimera-reference-to-llvm",
      "Lower chimera ops through their reference formulas, bufferize, and "
      "convert to the LLVM dialect (for mlir-runner and the JIT)",
      [](OpPassManager &pm) { buildReferenceToLLVMPipeline(pm); });
}
