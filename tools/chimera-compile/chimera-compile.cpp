//===- chimera-compile.cpp - checkpoint -> deployable artifact ------------===//
//
//   chimera-compile MODEL_DIR --target=x86_64|vulkan[:PROFILE]|cuda[:SM] -o OUT_DIR
//   chimera-compile MODEL_DIR --target=cuda[:SM] --emit=ptx -o FILE.ptx
//   chimera-compile MODEL_DIR --target=vulkan[:PROFILE] --emit=spirv -o DIR
//   chimera-compile MODEL_DIR --emit=mlir [--compile-to=PHASE] [-o FILE]
//   chimera-compile MODEL_DIR --emit=llvm|obj|lib -o FILE
//
// Phases: import -> bind -> linalg -> bufferize -> llvm -> codegen -> link.
// Every output is written atomically; the checkpoint is only read.
//
//===----------------------------------------------------------------------===//
#include "tools/chimera-compile/Artifact.h"
#include "tools/chimera-compile/Flops.h"
#include "tools/chimera-compile/WeightArchive.h"

#include "frontends/hf/Checkpoint.h"
#include "frontends/hf/Import.h"
#include "passes/Passes.h"
#include "targets/cuda/CudaTarget.h"
#include "targets/vulkan/VulkanTarget.h"
#include "targets/x86/X86Target.h"

#include "dialects/chimera/ChimeraDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <chrono>
#include <future>
#include <thread>
#include <sys/resource.h>

namespace cl = llvm::cl;
using namespace chimera;

static cl::OptionCategory category("chimera-compile options");

static cl::opt<std::string> modelDir(cl::Positional, cl::Required,
                                     cl::desc("MODEL_DIR"), cl::cat(category));

enum class Emit { Artifact, Mlir, Llvm, Obj, Lib, Ptx, Spirv };
static cl::opt<Emit> emit(
    "emit", cl::desc("What to write (default: the artifact directory)"),
    cl::init(Emit::Artifact),
    cl::values(
        clEnumValN(Emit::Artifact, "artifact",
                   "OUT_DIR with model.so, weights.bin, manifest.json"),
        clEnumValN(Emit::Mlir, "mlir",
                   "MLIR after --compile-to (default: the imported IR)"),
        clEnumValN(Emit::Llvm, "llvm", "optimised LLVM IR of the model"),
        clEnumValN(Emit::Obj, "obj", "the model's object file"),
        clEnumValN(Emit::Lib, "lib", "model.so alone (runtime linked in)"),
        clEnumValN(Emit::Ptx, "ptx",
                   "--target=cuda: every kernel in one PTX module (FILE)"),
        clEnumValN(Emit::Spirv, "spirv",
                   "--target=vulkan: the SPIR-V module of every kernel "
                   "(DIR/chimera_kernels.spv)")),
    cl::cat(category));

static cl::opt<std::string> output("o",
                                   cl::desc("Output directory or file "
                                            "('-' = stdout for text)"),
                                   cl::value_desc("PATH"), cl::init("-"),
                                   cl::cat(category));

static cl::opt<std::string> compileTo(
    "compile-to",
    cl::desc("Stop after PHASE and print its IR: import, bind, linalg, "
             "bufferize, llvm (implies --emit=mlir)"),
    cl::value_desc("PHASE"), cl::cat(category));

static cl::opt<std::string> target(
    "target",
    cl::desc("Where the kernels run: x86_64 (default), "
             "vulkan[:desktop|adreno|mali] (SPIR-V compute shaders), "
             "cuda[:sm_80|sm_90|...] (PTX). The host code is x86-64 for "
             "--target-cpu either way"),
    cl::init("x86_64"), cl::cat(category));

static cl::opt<std::string> targetCpu(
    "target-cpu",
    cl::desc("host (default), x86-64-v3, x86-64-v4 or an LLVM CPU name"),
    cl::init("host"), cl::cat(category));

static cl::opt<int64_t> maxSeqLen(
    "max-seq-len",
    cl::desc("Longest prompt + generation (default: min(2048, "
             "max_position_embeddings))"),
    cl::init(0), cl::cat(category));

static cl::opt<int64_t> maxBatch("max-batch",
                                 cl::desc("Most rows per session (default 4)"),
                                 cl::init(4), cl::cat(category));

enum class DTypeOpt { F32, BF16 };
static cl::opt<DTypeOpt> weightDtype(
    "dtype",
    cl::desc("Dtype of the weight archive's matrices and embeddings "
             "(activations and accumulation are always f32; checkpoints of "
             "any float dtype are converted)"),
    cl::init(DTypeOpt::F32),
    cl::values(clEnumValN(DTypeOpt::F32, "f32", "float32 (default)"),
               clEnumValN(DTypeOpt::BF16, "bf16",
                          "bfloat16: half the bytes per decode step; exact "
                          "for BF16 checkpoints")),
    cl::cat(category));

enum class QuantOpt { None, Int8, Int4, Fp4M0E4, MxFp4 };
static cl::opt<QuantOpt> quantFormat(
    "quant",
    cl::desc("Store the linear layers' weights quantised and dequantise them "
             "inside the kernels (expert FFNs too, in every format and on "
             "every target; routers, Mamba "
             "dt_proj and embedding tables stay in --dtype, a tied LM head "
             "gets a quantised copy; norms, SSM A/D, conv and biases are "
             "f32)"),
    cl::init(QuantOpt::None),
    cl::values(clEnumValN(QuantOpt::Int8, "int8",
                          "8-bit, one f32 scale per output channel"),
               clEnumValN(QuantOpt::Int4, "int4",
                          "4-bit signed, one f32 scale per group"),
               clEnumValN(QuantOpt::Fp4M0E4, "fp4-m0e4",
                          "4-bit exponent-free (Transformer-Lite M0E4), f32 "
                          "scale and offset per group"),
               clEnumValN(QuantOpt::MxFp4, "mxfp4",
                          "OCP MXFP4: E2M1 codes, one E8M0 scale per 32")),
    cl::cat(category));

static cl::opt<int64_t> groupSize(
    "group-size",
    cl::desc("Columns per scale for --quant=int4|fp4-m0e4 (default 32; must "
             "divide every quantised weight's columns; the x86 vector kernels "
             "need a multiple of 32); mxfp4 is fixed at 32"),
    cl::init(0), cl::cat(category));

enum class ActivationsOpt { F32, Int8 };
static cl::opt<ActivationsOpt> quantActivations(
    "quant-activations",
    cl::desc("What x the quantised linear layers multiply (x86, "
             "--quant=int4|int8)"),
    cl::init(ActivationsOpt::F32),
    cl::values(clEnumValN(ActivationsOpt::F32, "f32",
                          "x as computed (default; exact on grid-snapped "
                          "weights)"),
               clEnumValN(ActivationsOpt::Int8, "int8",
                          "x quantised to int8 per 32 elements before the "
                          "matmul and multiplied code by code with "
                          "AVX512-VNNI, as llama.cpp's Q4_0/Q8_0 kernels do "
                          "(int4: expert FFNs become int4 too); needs a "
                          "--target-cpu with avx512vnni")),
    cl::cat(category));

static cl::opt<double> modCapacity(
    "mod-capacity",
    cl::desc("Mixture-of-Depths: fraction of tokens each routed block "
             "takes, in (0, 1] (default: the checkpoint family's, 0.125)"),
    cl::init(0), cl::cat(category));

enum class ModRoutingOpt { Checkpoint, Reference, Causal };
static cl::opt<ModRoutingOpt> modRouting(
    "mod-routing",
    cl::desc("Mixture-of-Depths routing (default: the checkpoint's "
             "'mod_routing', else reference)"),
    cl::init(ModRoutingOpt::Checkpoint),
    cl::values(clEnumValN(ModRoutingOpt::Reference, "reference",
                          "whole-sequence top-k at the capacity, as the "
                          "public reference routes; decode reruns the "
                          "sequence"),
               clEnumValN(ModRoutingOpt::Causal, "causal",
                          "a token runs a routed block when its router "
                          "score exceeds the layer's threshold; decode uses "
                          "a compact KV cache per routed layer and skipped "
                          "tokens do no block work")),
    cl::cat(category));

static cl::list<double> modThreshold(
    "mod-threshold",
    cl::desc("Causal Mixture-of-Depths: the router-score threshold, one for "
             "every routed layer or one each in layer order (default: the "
             "checkpoint's 'mod_threshold', else 0)"),
    cl::value_desc("T[,T...]"), cl::CommaSeparated, cl::cat(category));

enum class GpuReductions { Workgroup, Static, Invocation };
static cl::opt<GpuReductions> gpuReductions(
    "gpu-reductions",
    cl::desc("GPU targets: how a kernel whose grid item is a long reduction "
             "(a linear layer's, a norm's) runs it"),
    cl::init(GpuReductions::Workgroup),
    cl::values(clEnumValN(GpuReductions::Workgroup, "workgroup",
                          "a workgroup per item, lanes striding the reduction "
                          "and combining in workgroup memory (default)"),
               clEnumValN(GpuReductions::Static, "static",
                          "a workgroup for reductions of static length only; "
                          "attention's over the keys so far keeps one "
                          "invocation per item"),
               clEnumValN(GpuReductions::Invocation, "invocation",
                          "one invocation per item, as the x86 kernels run "
                          "it (faster on CPU implementations of Vulkan such "
                          "as lavapipe, where barriers are costly)")),
    cl::cat(category));

enum class GpuMatmuls { Tiled, Items };
static cl::opt<GpuMatmuls> gpuMatmuls(
    "gpu-matmuls",
    cl::desc("GPU targets: how a linear layer runs over many rows "
             "(prefill; decode's few rows always take one item per output)"),
    cl::init(GpuMatmuls::Tiled),
    cl::values(clEnumValN(GpuMatmuls::Tiled, "tiled",
                          "a workgroup per 32-column output tile, operands "
                          "staged in workgroup memory (default)"),
               clEnumValN(GpuMatmuls::Items, "items",
                          "one grid item per output, as in decode")),
    cl::cat(category));

static cl::opt<int64_t> codegenJobs(
    "jobs",
    cl::desc("Threads for x86-64 code generation: the module is split into "
             "this many parts, optimised and compiled in parallel (default: "
             "one per hardware thread)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));

static cl::opt<int64_t> flopsTokens(
    "flops",
    cl::desc("Print the FLOPs of one prefill of N tokens (batch 1) as the "
             "model's ops specify them, and the part inside depth-routed "
             "blocks, to stderr; for VAR, those of one image (N is ignored)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));

enum class LogitsOpt { Auto, Last, All };
static cl::opt<LogitsOpt> logitsMode(
    "logits",
    cl::desc("Which prompt positions get logits (default: last, or all for "
             "models whose decode reruns the sequence)"),
    cl::init(LogitsOpt::Auto),
    cl::values(clEnumValN(LogitsOpt::Last, "last",
                          "each row's last position only: what sampling "
                          "needs; the LM head runs once per row"),
               clEnumValN(LogitsOpt::All, "all",
                          "every prompt position (scoring, --dump-logits "
                          "of whole prompts)")),
    cl::cat(category));

static cl::opt<bool> teacherForcing(
    "teacher-forcing",
    cl::desc("VAR: compile VAR.forward (the logits of given token maps, "
             "block-causal over the scales) instead of the generator"),
    cl::cat(category));

static cl::opt<bool> stats(
    "import-stats",
    cl::desc("Print import time, peak memory and weight bytes to stderr"),
    cl::cat(category));

static cl::opt<bool> quiet("quiet", cl::desc("No progress output"),
                           cl::cat(category));

static cl::opt<bool> debugLocs("mlir-print-debuginfo",
                               cl::desc("Print locations in the IR"),
                               cl::cat(category));

static cl::opt<std::string> runtimeLib(
    "runtime-lib", cl::desc("The runtime archive to link (default: "
                            "../lib/libchimera_runtime.a beside this tool)"),
    cl::value_desc("PATH"), cl::Hidden, cl::cat(category));

static cl::opt<std::string> linker("linker",
                                   cl::desc("The linker (default: ld.lld)"),
                                   cl::value_desc("PATH"), cl::Hidden,
                                   cl::cat(category));

namespace {

int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "chimera-compile") << message << "\n";
  return 1;
}

double peakRssMiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

/// "[step/total] what (seconds)" on stderr.
class Progress {
public:
  explicit Progress(int total) : total(total) {}
  void step(llvm::StringRef what) {
    finish();
    ++index;
    current = what.str();
    start = std::chrono::steady_clock::now();
    if (!quiet)
      llvm::errs() << "chimera-compile: [" << index << "/" << total << "] "
                   << what << "...\n";
  }
  void finish() {
    if (current.empty() || quiet)
      return;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             start)
                   .count();
    llvm::errs() << llvm::format("chimera-compile:       %s took %.2f s\n",
                                 current.c_str(), s);
    current.clear();
  }

private:
  int total, index = 0;
  std::string current;
  std::chrono::steady_clock::time_point start;
};

/// Writes `path` atomically ('-' is stdout) with `body`; one error line on
/// failure.
llvm::Error writeFile(llvm::StringRef path,
                      llvm::function_ref<void(llvm::raw_ostream &)> body) {
  if (llvm::Error err = llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
        body(os);
        return llvm::Error::success();
      }))
    return llvm::createStringError(path + ": cannot write: " +
                                   llvm::toString(std::move(err)));
  return llvm::Error::success();
}

llvm::Error printModule(mlir::ModuleOp module, llvm::StringRef path) {
  mlir::OpPrintingFlags flags;
  if (debugLocs)
    flags.enableDebugInfo();
  return writeFile(path, [&](llvm::raw_ostream &os) {
    module->print(os, flags);
    os << "\n";
  });
}

/// The kernels embedded by chimera-embed-gpu-binary.
llvm::Expected<llvm::StringRef> kernelBinary(mlir::ModuleOp module) {
  auto global =
      module.lookupSymbol<mlir::LLVM::GlobalOp>("chimera_gpu_binary");
  auto value = global ? llvm::dyn_cast_or_null<mlir::StringAttr>(
                            global.getValueOrNull())
                      : nullptr;
  if (!value)
    return llvm::createStringError("the model has no GPU kernels");
  return value.getValue();
}

std::string defaultRuntimeLib(const char *argv0) {
  std::string exe = llvm::sys::fs::getMainExecutable(
      argv0, reinterpret_cast<void *>(&defaultRuntimeLib));
  llvm::SmallString<256> p(llvm::sys::path::parent_path(exe));
  llvm::sys::path::append(p, "..", "lib", "libchimera_runtime.a");
  llvm::sys::path::remove_dots(p, true);
  return std::string(p);
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerPassManagerCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "chimera-compile " CHIMERA_VERSION " (MLIR/LLVM " LLVM_VERSION_STRING
          ")\n";
  });
  cl::ParseCommandLineOptions(
      argc, argv,
      "Chimera model compiler\n\n"
      "Compiles a HuggingFace checkpoint folder (config.json + *.safetensors,\n"
      "sharded through model.safetensors.index.json) of a llama, mistral,\n"
      "gemma, mixtral, mamba or jamba model into an artifact directory:\n"
      "model.so (the compiled model and the runtime's C API, see\n"
      "runtime/chimera_runtime.h), weights.bin and manifest.json.\n\n"
      "  chimera-compile MODEL_DIR --target=x86_64 -o OUT_DIR\n"
      "  chimera-compile MODEL_DIR --target=vulkan[:PROFILE] -o OUT_DIR\n"
      "  chimera-compile MODEL_DIR --target=cuda:sm_90 --emit=ptx -o FILE.ptx\n"
      "  chimera-compile MODEL_DIR --quant=int4 [--group-size=32] -o OUT_DIR\n"
      "  chimera-compile MODEL_DIR --emit=mlir [--compile-to=PHASE] [-o FILE]\n"
      "  chimera-run OUT_DIR --prompt-ids=1,2,3 -n 16 --greedy\n\n"
      "MLIR's pass manager options work as in mlir-opt (listed by\n"
      "--help-hidden): --mlir-print-ir-after-all, --mlir-timing, ...\n");

  if (!compileTo.empty() && emit != Emit::Mlir) {
    if (emit.getNumOccurrences())
      return fail("--compile-to prints MLIR; it cannot be combined with "
                  "--emit other than mlir");
    emit = Emit::Mlir;
  }
  std::optional<mlir::chimera::ModelPhase> stopAfter =
      mlir::chimera::ModelPhase::Import;
  if (!compileTo.empty()) {
    stopAfter = mlir::chimera::parseModelPhase(compileTo);
    if (!stopAfter)
      return fail("--compile-to: unknown phase '" + compileTo +
                  "' (import, bind, linalg, bufferize, llvm)");
  }
  mlir::chimera::KernelTarget kernelTarget;
  if (target != "x86_64") {
    auto [kind, variant] = llvm::StringRef(target).split(':');
    auto parsed = kind == "vulkan" ? vulkan::parseProfile(variant)
                  : kind == "cuda"
                      ? cuda::parseSm(variant)
                      : llvm::Expected<mlir::chimera::KernelTarget>(
                            llvm::createStringError(
                                "unknown target '" + target +
                                "' (x86_64, vulkan[:PROFILE], cuda[:SM])"));
    if (!parsed)
      return fail("--target: " + llvm::toString(parsed.takeError()));
    kernelTarget = *parsed;
    kernelTarget.workgroupReductions =
        gpuReductions != GpuReductions::Invocation;
    kernelTarget.dataDependentReductions =
        gpuReductions == GpuReductions::Workgroup;
    kernelTarget.workgroupTiles = gpuMatmuls == GpuMatmuls::Tiled;
  } else if (gpuReductions.getNumOccurrences() ||
             gpuMatmuls.getNumOccurrences()) {
    return fail(std::string("--gpu-") +
                (gpuReductions.getNumOccurrences() ? "reductions" : "matmuls") +
                " needs --target=vulkan[:PROFILE] or cuda[:SM]");
  }
  if (emit == Emit::Ptx && kernelTarget.kind != mlir::chimera::KernelTarget::Cuda)
    return fail("--emit=ptx needs --target=cuda[:SM]");
  if (emit == Emit::Spirv &&
      kernelTarget.kind != mlir::chimera::KernelTarget::Vulkan)
    return fail("--emit=spirv needs --target=vulkan[:PROFILE]");
  if (emit != Emit::Mlir && output == "-" && emit != Emit::Llvm &&
      emit != Emit::Ptx)
    return fail("-o is required for --emit=" +
                llvm::StringRef(emit == Emit::Artifact ? "artifact"
                                : emit == Emit::Obj    ? "obj"
                                : emit == Emit::Spirv  ? "spirv"
                                                       : "lib"));
  if (maxBatch < 1)
    return fail("--max-batch must be >= 1, got " + llvm::Twine(maxBatch));

  bool full = emit != Emit::Mlir;
  bool kernelsOnly = emit == Emit::Ptx || emit == Emit::Spirv;
  // Fail on an unwritable output before the slow steps.
  std::optional<ArtifactDir> dir;
  if (emit == Emit::Artifact || emit == Emit::Lib) {
    auto created = ArtifactDir::create(emit == Emit::Lib ? output + ".d" : output);
    if (!created)
      return fail(llvm::toString(created.takeError()));
    dir.emplace(std::move(*created));
  }
  Progress progress(kernelsOnly ? 2 : full ? 6 : 2);
  auto start = std::chrono::steady_clock::now();
  progress.step("import " + modelDir);
  auto ckpt = hf::Checkpoint::open(modelDir);
  if (!ckpt)
    return fail(llvm::toString(ckpt.takeError()));
  const hf::ModelConfig &config = (*ckpt)->config();
  int64_t seqLimit = config.maxPositionEmbeddings;
  int64_t seqLen = maxSeqLen;
  if (seqLen == 0)
    seqLen = seqLimit > 0 ? std::min<int64_t>(2048, seqLimit) : 2048;
  if (seqLen < 1 || (seqLimit > 0 && seqLen > seqLimit))
    return fail("--max-seq-len=" + llvm::Twine(seqLen) +
                " is outside [1, " + llvm::Twine(seqLimit) +
                "] (max_position_embeddings of " + modelDir + "/config.json)");

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // The NVVM path translates the kernels to LLVM IR inside the pipeline.
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<mlir::chimera::ChimeraDialect>();
  mlir::MLIRContext ctx(registry);
  mlir::Type elt = weightDtype == DTypeOpt::BF16
                       ? mlir::Type(mlir::BFloat16Type::get(&ctx))
                       : mlir::Type(mlir::Float32Type::get(&ctx));
  hf::ImportOptions importOptions;
  importOptions.weightType = elt;
  if (quantFormat != QuantOpt::None) {
    using mlir::chimera::QuantScheme;
    QuantScheme scheme = quantFormat == QuantOpt::Int8   ? QuantScheme::Int8
                         : quantFormat == QuantOpt::Int4 ? QuantScheme::Int4
                         : quantFormat == QuantOpt::Fp4M0E4
                             ? QuantScheme::Fp4M0E4
                             : QuantScheme::MxFp4;
    int64_t group = groupSize;
    if (scheme == QuantScheme::Int8 && group != 0)
      return fail("--group-size: int8 has one scale per output channel; "
                  "--group-size applies to int4 and fp4-m0e4");
    if (scheme == QuantScheme::MxFp4 && group != 0 && group != 32)
      return fail("--group-size=" + llvm::Twine(group) +
                  ": mxfp4 groups are 32 elements (OCP MX)");
    if (scheme != QuantScheme::Int8 && group == 0)
      group = 32;
    if (group < 0 || (scheme != QuantScheme::Int8 && group % 2 != 0))
      return fail("--group-size=" + llvm::Twine(group) +
                  ": must be a positive even number");
    ctx.getOrLoadDialect<mlir::chimera::ChimeraDialect>();
    importOptions.quant =
        mlir::chimera::QuantAttr::get(&ctx, scheme, group);
  } else if (groupSize != 0) {
    return fail("--group-size needs --quant=int4|fp4-m0e4|mxfp4");
  }
  if (quantActivations == ActivationsOpt::Int8) {
    if (quantFormat != QuantOpt::Int4 && quantFormat != QuantOpt::Int8)
      return fail("--quant-activations=int8 needs --quant=int4 or int8 (the "
                  "int8-activation kernels multiply integer codes)");
    if (kernelTarget.isGpu())
      return fail("--quant-activations=int8 is x86-only (--target=" + target +
                  ")");
  }
  if (!kernelTarget.isGpu()) {
    auto tm = x86::createTargetMachine(targetCpu);
    if (!tm)
      return fail(llvm::toString(tm.takeError()));
    const llvm::MCSubtargetInfo *cpu = (*tm)->getMCSubtargetInfo();
    if (quantActivations == ActivationsOpt::Int8 &&
        !cpu->checkFeatures("+avx512vnni"))
      return fail("--quant-activations=int8 needs AVX512-VNNI, which "
                  "--target-cpu=" + targetCpu + " (" +
                  (*tm)->getTargetCPU().str() + ") lacks");
    kernelTarget.int8Activations = quantActivations == ActivationsOpt::Int8;
    kernelTarget.avx512 = cpu->checkFeatures("+avx512f");
  }
  if (codegenJobs < 0 || codegenJobs > 1024)
    return fail("--jobs=" + std::to_string(int64_t(codegenJobs)) +
                ": must be in [1, 1024] (0 or absent: one per hardware thread)");
  if (modCapacity.getNumOccurrences()) {
    if (!(modCapacity > 0 && modCapacity <= 1))
      return fail("--mod-capacity=" + std::to_string(double(modCapacity)) +
                  ": must be in (0, 1]");
    if (!(*ckpt)->config().mixtureOfDepths)
      return fail("--mod-capacity: " + modelDir +
                  " is not a Mixture-of-Depths checkpoint");
    importOptions.depthCapacity = modCapacity;
  }
  if (modRouting != ModRoutingOpt::Checkpoint || !modThreshold.empty()) {
    if (!(*ckpt)->config().mixtureOfDepths)
      return fail(std::string(modRouting != ModRoutingOpt::Checkpoint
                                  ? "--mod-routing"
                                  : "--mod-threshold") +
                  ": " + modelDir + " is not a Mixture-of-Depths checkpoint");
    if (modRouting != ModRoutingOpt::Checkpoint)
      importOptions.causalDepthRouting = modRouting == ModRoutingOpt::Causal;
    importOptions.depthThresholds.assign(modThreshold.begin(), modThreshold.end());
    for (double t : importOptions.depthThresholds)
      if (!std::isfinite(t))
        return fail("--mod-threshold: thresholds must be finite numbers");
  }
  bool causalRouting = importOptions.causalDepthRouting.value_or(
      (*ckpt)->config().causalDepthRouting);
  if (!importOptions.depthThresholds.empty() && !causalRouting)
    return fail("--mod-threshold needs causal routing (--mod-routing=causal "
                "or 'mod_routing': \"causal\" in config.json)");
  if (teacherForcing) {
    if ((*ckpt)->config().family != hf::Family::Var)
      return fail("--teacher-forcing: " + modelDir +
                  " is not a VAR checkpoint");
    importOptions.teacherForcing = true;
  }
  importOptions.lastLogitsOnly =
      logitsMode == LogitsOpt::Last ||
      (logitsMode == LogitsOpt::Auto &&
       !((*ckpt)->config().mixtureOfDepths && !causalRouting));
  auto module = hf::importCheckpoint(ctx, **ckpt, importOptions);
  if (!module)
    return fail(llvm::toString(module.takeError()));
  if (flopsTokens.getNumOccurrences()) {
    if (flopsTokens < 1)
      return fail("--flops needs a token count >= 1");
    FlopCount count = countFlops(**module, flopsTokens);
    if (config.family == hf::Family::Var) {
      llvm::errs() << llvm::format(
          "chimera-compile: flops: %s of one image (%lld tokens over %zu "
          "scales): %.4g GFLOP\n",
          teacherForcing ? "teacher-forced forward" : "generation",
          (long long)config.var.tokens(), config.var.patchNums.size(),
          count.total / 1e9);
    } else {
      llvm::errs() << llvm::format(
          "chimera-compile: flops: prefill of %lld tokens: %.4g GFLOP "
          "(%.4g MFLOP/token)",
          (long long)flopsTokens, count.total / 1e9,
          count.total / 1e6 / double(flopsTokens));
      if (count.capacity > 0)
        llvm::errs() << llvm::format(
            "; depth-routed blocks %.4g GFLOP at capacity %g",
            count.routed / 1e9, count.capacity);
      if (count.thresholdRouting)
        llvm::errs() << " (causal routing: the share of tokens over the "
                        "threshold depends on the data; counted at the "
                        "capacity)";
      llvm::errs() << "\n";
    }
  }
  if (stats) {
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - start)
                         .count();
    uint64_t weightBytes = 0, tensors = 0;
    for (const auto &file : (*ckpt)->files())
      for (const auto &view : file->tensors()) {
        weightBytes += view.bytes.size();
        ++tensors;
      }
    llvm::errs() << llvm::format(
        "chimera-compile: stats: import_seconds=%.3f peak_rss_mib=%.1f "
        "tensors=%llu weight_bytes=%llu\n",
        seconds, peakRssMiB(), (unsigned long long)tensors,
        (unsigned long long)weightBytes);
  }

  // Lowering, one named phase at a time.
  using mlir::chimera::ModelPhase;
  ModelPhase last = full ? ModelPhase::LLVM : *stopAfter;
  if (last != ModelPhase::Import)
    progress.step("lower to LLVM");
  mlir::func::FuncOp boundEntry;
  mlir::OwningOpRef<mlir::ModuleOp> boundSnapshot;
  for (ModelPhase phase : {ModelPhase::Bind, ModelPhase::Linalg,
                           ModelPhase::Bufferize, ModelPhase::LLVM}) {
    if (static_cast<int>(phase) > static_cast<int>(last))
      break;
    mlir::PassManager pm(&ctx);
    if (mlir::failed(mlir::applyPassManagerCLOptions(pm)))
      return fail("bad pass manager options");
    mlir::chimera::buildModelPhase(pm, phase, kernelTarget);
    if (mlir::failed(pm.run(**module)))
      return fail("lowering " + modelDir + " failed (diagnostics above)");
    if (phase == ModelPhase::Bind && full) {
      boundSnapshot = mlir::OwningOpRef<mlir::ModuleOp>((*module)->clone());
      boundEntry = boundSnapshot->lookupSymbol<mlir::func::FuncOp>("forward");
    }
  }
  if (!full) {
    progress.finish();
    if (llvm::Error err = printModule(**module, output))
      return fail(llvm::toString(std::move(err)));
    return 0;
  }

  if (kernelsOnly) {
    progress.finish();
    auto binary = kernelBinary(**module);
    if (!binary)
      return fail(llvm::toString(binary.takeError()));
    if (emit == Emit::Ptx) {
      // The PTX text without the C string's terminator.
      if (llvm::Error err = writeFile(output, [&](llvm::raw_ostream &os) {
            os << binary->rtrim('\0');
          }))
        return fail(llvm::toString(std::move(err)));
      return 0;
    }
    if (std::error_code ec = llvm::sys::fs::create_directories(output))
      return fail(output + ": cannot create: " + ec.message());
    llvm::SmallString<256> path(output);
    llvm::sys::path::append(path, "chimera_kernels.spv");
    if (llvm::Error err = writeFile(
            path, [&](llvm::raw_ostream &os) { os << *binary; }))
      return fail(llvm::toString(std::move(err)));
    return 0;
  }

  // The weight archive is written while the code is generated: it needs
  // only the layout attributes, and it is disk-bound where code generation
  // is CPU-bound. (A future made by std::async joins on every return.)
  std::future<std::string> archiveWritten;
  if (emit == Emit::Artifact) {
    auto size = (**module)->getAttrOfType<mlir::IntegerAttr>("chimera.weights_size");
    auto layout = (**module)->getAttrOfType<mlir::ArrayAttr>("chimera.weights");
    std::string archivePath = dir->path("weights.bin");
    const hf::Checkpoint *checkpoint = ckpt->get();
    archiveWritten = std::async(std::launch::async, [=]() -> std::string {
      if (llvm::Error err =
              writeWeightArchive(size, layout, *checkpoint, archivePath))
        return llvm::toString(std::move(err));
      return std::string();
    });
  }

  progress.step("generate x86-64 code for " + targetCpu);
  auto tm = x86::createTargetMachine(targetCpu);
  if (!tm)
    return fail(llvm::toString(tm.takeError()));
  llvm::LLVMContext llvmContext;
  {
    // The buffers this library expects, for the runtime to check the
    // manifest against.
    std::string signature = entrySignature(boundEntry);
    signature.push_back('\0');
    mlir::OpBuilder b = mlir::OpBuilder::atBlockEnd((*module)->getBody());
    auto type = mlir::LLVM::LLVMArrayType::get(b.getI8Type(), signature.size());
    mlir::LLVM::GlobalOp::create(b, (*module)->getLoc(), type,
                                 /*isConstant=*/true,
                                 mlir::LLVM::Linkage::External,
                                 "chimera_model_signature",
                                 b.getStringAttr(signature));
  }
  std::vector<std::string> objects;
  if (emit == Emit::Llvm || emit == Emit::Obj) {
    // One module, one object: what these outputs are.
    auto llvmModule = x86::translateAndOptimize(**module, llvmContext, **tm);
    if (!llvmModule)
      return fail(llvm::toString(llvmModule.takeError()));
    if (emit == Emit::Llvm) {
      progress.finish();
      if (llvm::Error err = writeFile(output, [&](llvm::raw_ostream &os) {
            (*llvmModule)->print(os, nullptr);
          }))
        return fail(llvm::toString(std::move(err)));
      return 0;
    }
    auto object = x86::emitObject(**llvmModule, **tm);
    if (!object)
      return fail(llvm::toString(object.takeError()));
    progress.finish();
    if (llvm::Error err = writeFile(
            output, [&](llvm::raw_ostream &os) { os << *object; }))
      return fail(llvm::toString(std::move(err)));
    return 0;
  }
  {
    unsigned jobs = codegenJobs ? unsigned(codegenJobs)
                                : std::max(1u, std::thread::hardware_concurrency());
    auto parts = x86::compileInParallel(**module, targetCpu, jobs);
    if (!parts)
      return fail(llvm::toString(parts.takeError()));
    objects = std::move(*parts);
  }

  progress.step("link model.so");
  std::vector<std::string> objectPaths;
  for (size_t i = 0; i < objects.size(); ++i) {
    objectPaths.push_back(dir->path("model." + std::to_string(i) + ".o"));
    if (llvm::Error err = writeFile(objectPaths.back(), [&](llvm::raw_ostream &os) {
          os << objects[i];
        }))
      return fail(llvm::toString(std::move(err)));
  }
  std::string archive =
      runtimeLib.empty() ? defaultRuntimeLib(argv[0]) : runtimeLib.getValue();
  if (llvm::Error err = x86::linkSharedLibrary(
          objectPaths, archive, dir->path("model.so"), linker))
    return fail(llvm::toString(std::move(err)));
  for (const std::string &path : objectPaths)
    llvm::sys::fs::remove(path);
  if (emit == Emit::Lib) {
    progress.finish();
    if (std::error_code ec = llvm::sys::fs::rename(dir->path("model.so"), output))
      return fail(output + ": cannot write: " + ec.message());
    return 0;
  }

  progress.step("write the weight archive (started with code generation)");
  if (std::string err = archiveWritten.get(); !err.empty())
    return fail(err);

  progress.step("write manifest.json");
  ManifestInfo info;
  info.modelName = llvm::sys::path::filename(
                       llvm::StringRef(modelDir).rtrim('/'))
                       .str();
  // The resolved target: "x86_64", "vulkan:desktop", "cuda:sm_80".
  info.target =
      kernelTarget.kind == mlir::chimera::KernelTarget::Cuda
          ? "cuda:" + kernelTarget.cudaChip
      : kernelTarget.kind == mlir::chimera::KernelTarget::Vulkan
          ? "vulkan:" + kernelTarget.profile
          : std::string("x86_64");
  info.targetCpu = (*tm)->getTargetCPU().str();
  info.dtype = weightDtype == DTypeOpt::BF16 ? "bf16" : "f32";
  if (importOptions.quant) {
    info.quant = mlir::chimera::stringifyQuantScheme(
                     importOptions.quant.getScheme())
                     .str();
    info.groupSize = importOptions.quant.getGroupSize();
    info.quantActivations = kernelTarget.int8Activations ? "int8" : "f32";
  }
  info.maxSeqLen = seqLen;
  info.maxBatch = maxBatch;
  if (llvm::Error err = writeManifest(*boundSnapshot, boundEntry, **ckpt, info,
                                      dir->path("manifest.json")))
    return fail(llvm::toString(std::move(err)));
  if (llvm::Error err = dir->commit())
    return fail(llvm::toString(std::move(err)));
  progress.finish();
  if (!quiet)
    llvm::errs() << "chimera-compile: wrote " << output << "\n";
  return 0;
}
