//===- Artifact.cpp - write an artifact directory atomically --------------===//
#include "tools/chimera-compile/Artifact.h"

#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/SwapByteOrder.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>

using namespace chimera;
using llvm::Error;
using llvm::Expected;

static Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

Expected<ArtifactDir> ArtifactDir::create(llvm::StringRef out) {
  ArtifactDir dir;
  llvm::SmallString<256> abs(out);
  llvm::sys::path::remove_dots(abs, /*remove_dot_dot=*/true);
  dir.out = std::string(abs);
  dir.tmp = dir.out + ".tmp-" + std::to_string(llvm::sys::Process::getProcessId());
  llvm::sys::fs::remove_directories(dir.tmp);
  llvm::StringRef parent = llvm::sys::path::parent_path(dir.tmp);
  std::error_code ec;
  if (!parent.empty())
    ec = llvm::sys::fs::create_directories(parent);
  if (!ec)
    ec = llvm::sys::fs::create_directory(dir.tmp);
  if (ec)
    return fail(out + ": cannot create the output directory: " + ec.message());
  return dir;
}

ArtifactDir::ArtifactDir(ArtifactDir &&other)
    : out(std::move(other.out)), tmp(std::move(other.tmp)),
      committed(other.committed) {
  other.committed = true;
}

ArtifactDir::~ArtifactDir() {
  if (!committed && !tmp.empty())
    llvm::sys::fs::remove_directories(tmp);
}

std::string ArtifactDir::path(llvm::StringRef file) const {
  llvm::SmallString<256> p(tmp);
  llvm::sys::path::append(p, file);
  return std::string(p);
}

Error ArtifactDir::commit() {
  std::string old;
  if (llvm::sys::fs::exists(out)) {
    llvm::SmallString<256> manifest(out);
    llvm::sys::path::append(manifest, "manifest.json");
    if (!llvm::sys::fs::is_directory(out) || !llvm::sys::fs::exists(manifest))
      return fail(out + ": exists and is not a chimera artifact; refusing to "
                        "replace it");
    old = out + ".old-" + std::to_string(llvm::sys::Process::getProcessId());
    if (std::error_code ec = llvm::sys::fs::rename(out, old))
      return fail(out + ": cannot move the previous artifact aside: " +
                  ec.message());
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, out)) {
    if (!old.empty())
      (void)llvm::sys::fs::rename(old, out);
    return fail(out + ": cannot move the new artifact into place: " +
                ec.message());
  }
  committed = true;
  if (!old.empty())
    llvm::sys::fs::remove_directories(old);
  return Error::success();
}

static std::string dtypeOf(mlir::Type elt) {
  return elt.isF32()          ? "f32"
         : elt.isBF16()       ? "bf16"
         : elt.isInteger(64)  ? "i64"
         : elt.isInteger(8)   ? "i8"
                              : "";
}

std::string chimera::entrySignature(mlir::func::FuncOp entry) {
  std::string sig;
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    auto name = entry.getArgAttrOfType<mlir::StringAttr>(i, "chimera.name");
    auto type = llvm::cast<mlir::ShapedType>(entry.getArgument(i).getType());
    sig += (name ? name.getValue().str() : std::string("?")) + ":" +
           dtypeOf(type.getElementType()) + ":" +
           std::to_string(type.getRank()) + ":";
    // Static dims too (`?` for the runtime's): a manifest that claims
    // [batch, 1, vocab] logits for code that writes every position would
    // overflow the runtime's buffer.
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      sig += (d ? "x" : "") + (mlir::ShapedType::isDynamic(size)
                                   ? std::string("?")
                                   : std::to_string(size));
    sig += ";";
  }
  return sig;
}

/// The symbolic name of dim `d` of argument `role`.
static llvm::json::Value dimValue(llvm::StringRef role, unsigned d,
                                  int64_t size) {
  if (!mlir::ShapedType::isDynamic(size))
    return size;
  if (role == "weights")
    return "weights_size";
  if (d == 0)
    return "batch";
  if (role == "cache")
    return "max_seq_len";
  return "tokens";
}

Error chimera::writeManifest(mlir::ModuleOp module, mlir::func::FuncOp entry,
                             const hf::Checkpoint &ckpt,
                             const ManifestInfo &info, llvm::StringRef path) {
  const hf::ModelConfig &c = ckpt.config();
  llvm::json::Array args;
  for (unsigned i = 0; i < entry.getNumArguments(); ++i) {
    auto name = entry.getArgAttrOfType<mlir::StringAttr>(i, "chimera.name");
    if (!name)
      return fail("internal: argument " + llvm::Twine(i) + " has no name");
    llvm::StringRef n = name.getValue();
    // Image generators (VAR) take named inputs and fill named outputs.
    std::string role = n == "weights" || n == "input_ids" ||
                               n == "positions" || n == "lengths" ||
                               n == "logits"
                           ? n.str()
                       : n == "class_labels" || n == "sampling_f32" ||
                               n == "sampling_i64" || n == "image_tokens"
                           ? "input"
                       : n == "tokens" || n == "image" || n == "image_logits"
                           ? "output"
                           : "cache";
    auto type = llvm::cast<mlir::ShapedType>(entry.getArgument(i).getType());
    std::string dtype = dtypeOf(type.getElementType());
    if (dtype.empty())
      return fail("internal: argument '" + n + "' has an unsupported type");
    llvm::json::Array shape;
    for (auto [d, size] : llvm::enumerate(type.getShape()))
      shape.push_back(dimValue(role, d, size));
    args.push_back(llvm::json::Object{{"name", n},
                                      {"role", role},
                                      {"dtype", dtype},
                                      {"shape", std::move(shape)}});
  }
  auto size = module->getAttrOfType<mlir::IntegerAttr>("chimera.weights_size");
  // "recompute": the model routes over the whole sequence (the public MoD
  // reference), so each decode step reruns it; "cached" otherwise.
  std::string decode = "cached", logits = "all", kind = "language-model";
  llvm::json::Object image;
  if (auto model = entry->getAttrOfType<mlir::DictionaryAttr>("chimera.model")) {
    if (auto k = model.getAs<mlir::StringAttr>("kind"))
      kind = k.getValue().str();
    if (kind == "image") {
      llvm::json::Array patches;
      if (auto p = model.getAs<mlir::DenseI64ArrayAttr>("patch_nums"))
        for (int64_t v : p.asArrayRef())
          patches.push_back(v);
      image["patch_nums"] = std::move(patches);
      if (auto n = model.getAs<mlir::IntegerAttr>("num_classes"))
        image["num_classes"] = n.getInt();
      if (auto e = model.getAs<mlir::StringAttr>("entry"))
        image["entry"] = e.getValue();
    }
    if (auto d = model.getAs<mlir::StringAttr>("decode"))
      decode = d.getValue().str();
    // "last": prefill computes each row's last-position logits only.
    if (auto l = model.getAs<mlir::StringAttr>("logits"))
      logits = l.getValue().str();
  }
  llvm::json::Object manifest{
      {"format", "chimera-artifact"},
      {"chimera_version", CHIMERA_VERSION},
      {"abi_version", 1},
      {"model_name", info.modelName},
      {"model_type", c.modelType},
      {"architecture", c.architecture},
      {"target", info.target},
      {"target_cpu", info.targetCpu},
      {"dtype", info.dtype},
      {"compute_dtype", "f32"},
      {"quant", info.quant.empty() ? llvm::json::Value(nullptr)
                                   : llvm::json::Value(llvm::json::Object{
                                         {"scheme", info.quant},
                                         {"group_size", info.groupSize},
                                         {"activations",
                                          info.quantActivations}})},
      {"vocab_size", c.vocabSize},
      {"max_seq_len", info.maxSeqLen},
      {"max_batch", info.maxBatch},
      {"entry", "chimera_model_forward"},
      {"kind", kind},
      {"decode", decode},
      {"logits", logits},
      {"library", "model.so"},
      {"weights", llvm::json::Object{{"file", "weights.bin"},
                                     {"size", size ? size.getInt() : 0}}},
      {"arguments", std::move(args)},
  };
  if (kind == "image")
    manifest["image"] = std::move(image);
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Text);
  if (ec)
    return fail(path + ": cannot write: " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest))) << "\n";
  os.close();
  if (os.has_error())
    return fail(path + ": write failed: " + os.error().message());
  return Error::success();
}
