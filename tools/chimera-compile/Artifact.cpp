//===- Artifact.cpp - write an artifact directory atomically --------------===//
#include "tools/chimera-compile/Artifact.h"
#include "tools/chimera-compile/Quantize.h"

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

/// Checkpoint tensor `name` as f32 values, and its shape; the file's pages
/// are released after the copy (one tensor in memory at a time).
static llvm::Expected<std::pair<std::vector<float>, std::vector<int64_t>>>
readTensor(const hf::Checkpoint &ckpt, llvm::StringRef name) {
  std::optional<hf::Checkpoint::Entry> found = ckpt.find(name);
  if (!found)
    return fail(ckpt.directory() + ": missing weight '" + name + "'");
  auto values = found->file->readF32(name);
  if (!values)
    return values.takeError();
  found->file->release(name);
  std::vector<int64_t> shape(found->view->shape.begin(),
                             found->view->shape.end());
  return std::make_pair(std::move(*values), std::move(shape));
}

Error chimera::writeWeightArchive(mlir::ModuleOp module,
                                  const hf::Checkpoint &ckpt,
                                  llvm::StringRef path) {
  return writeWeightArchive(
      module->getAttrOfType<mlir::IntegerAttr>("chimera.weights_size"),
      module->getAttrOfType<mlir::ArrayAttr>("chimera.weights"), ckpt, path);
}

namespace {
/// Writes the archive front to back, leaving runs of zeros unwritten: the
/// file is created empty, so they read back as zeros, and a checkpoint's
/// holes stay holes (a sparse 7B checkpoint's 14 GB archive takes 4 KB of
/// disk).
class ArchiveWriter {
public:
  explicit ArchiveWriter(llvm::raw_fd_ostream &os) : os(os) {}

  void write(const char *data, size_t n) {
    constexpr size_t kBlock = 4096;
    for (size_t at = 0; at < n;) {
      size_t len = std::min(kBlock - size_t(pos % kBlock), n - at);
      const char *piece = data + at;
      static const char kZeros[kBlock] = {};
      bool zero = std::memcmp(piece, kZeros, len) == 0;
      if (!zero) {
        if (uint64_t(os.tell()) != pos)
          os.seek(pos);
        os.write(piece, len);
      }
      at += len;
      pos += len;
    }
  }
  /// Moves to `offset` (at or past the position); the gap stays zeros.
  void skipTo(uint64_t offset) { pos = offset; }
  /// Leaves the next `n` bytes zero.
  void skip(uint64_t n) { pos += n; }

  /// Extends the file to `size` (a trailing run of zeros: its last byte).
  void finish(uint64_t size) {
    if (uint64_t(os.tell()) < size) {
      os.seek(size - 1);
      os.write('\0');
    }
  }

private:
  llvm::raw_fd_ostream &os;
  uint64_t pos = 0;
};
} // namespace

/// A checkpoint tensor as the archive stores it (f32, else bf16): the
/// mapped bytes where the checkpoint stores it so (without two converted
/// copies, whose zeroing and page faults were most of a 7B compile), else
/// converted values this holds.
struct StoredTensor {
  llvm::StringRef bytes;
  bool mapped = false;
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
};

static Expected<StoredTensor> storedTensor(const hf::Checkpoint &ckpt,
                                           llvm::StringRef name, bool f32) {
  StoredTensor stored;
  if (std::optional<hf::Checkpoint::Entry> found = ckpt.find(name);
      found && llvm::sys::IsLittleEndianHost &&
      found->view->dtype == (f32 ? hf::DType::F32 : hf::DType::BF16)) {
    stored.bytes = {reinterpret_cast<const char *>(found->view->bytes.data()),
                    found->view->bytes.size()};
    stored.mapped = true;
    return stored;
  }
  auto tensor = readTensor(ckpt, name);
  if (!tensor)
    return tensor.takeError();
  stored.f32 = std::move(tensor->first);
  if (f32) {
    stored.bytes = {reinterpret_cast<const char *>(stored.f32.data()),
                    stored.f32.size() * sizeof(float)};
    return stored;
  }
  // bf16: round to nearest even (exact for a BF16 checkpoint).
  stored.bf16.resize(stored.f32.size());
  for (size_t i = 0; i < stored.f32.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &stored.f32[i], 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) // NaN stays NaN
      stored.bf16[i] = uint16_t((bits >> 16) | 0x40);
    else
      stored.bf16[i] = uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
  }
  stored.f32 = {};
  stored.bytes = {reinterpret_cast<const char *>(stored.bf16.data()),
                  stored.bf16.size() * 2};
  return stored;
}

static bool allZero(const char *data, size_t n) {
  size_t i = 0;
  for (uint64_t word; i + 8 <= n; i += 8) {
    std::memcpy(&word, data + i, 8);
    if (word)
      return false;
  }
  for (; i < n; ++i)
    if (data[i])
      return false;
  return true;
}

/// Writes a row-major [N, K] weight of `T`-sized elements as
/// [N/panel, K, panel] (chimera-pack-weights): panel p holds rows
/// [p·panel, (p+1)·panel), K-major. A panel's rows are one contiguous run
/// of the source, so an all-zero one (a sparse checkpoint's hole) is
/// skipped without being transposed.
template <typename T>
static void writePanels(ArchiveWriter &out, llvm::StringRef bytes, int64_t k,
                        int64_t panel) {
  size_t block = size_t(k * panel) * sizeof(T);
  std::vector<T> packed(size_t(k * panel));
  for (size_t at = 0; at < bytes.size(); at += block) {
    const char *src = bytes.data() + at;
    if (allZero(src, block)) {
      out.skip(block);
      continue;
    }
    for (int64_t j = 0; j < panel; ++j)
      for (int64_t kk = 0; kk < k; ++kk)
        std::memcpy(&packed[size_t(kk * panel + j)],
                    src + size_t(j * k + kk) * sizeof(T), sizeof(T));
    out.write(reinterpret_cast<const char *>(packed.data()), block);
  }
}

Error chimera::writeWeightArchive(mlir::IntegerAttr size,
                                  mlir::ArrayAttr layout,
                                  const hf::Checkpoint &ckpt,
                                  llvm::StringRef path) {
  if (!size || !layout)
    return fail("internal: the module has no chimera.weights layout");
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return fail(path + ": cannot write: " + ec.message());
  ArchiveWriter out(os);
  // The quantised parts of one weight are adjacent entries: quantise once.
  std::string quantisedName;
  QuantizedMatrix quantised;
  for (mlir::Attribute entry : layout) {
    auto dict = llvm::cast<mlir::DictionaryAttr>(entry);
    uint64_t offset = dict.getAs<mlir::IntegerAttr>("offset").getInt();
    auto type = dict.getAs<mlir::TypeAttr>("element_type").getValue();
    out.skipTo(offset); // alignment padding
    if (auto part = dict.getAs<mlir::StringAttr>("quant_part")) {
      auto quant = dict.getAs<mlir::chimera::QuantAttr>("quant");
      if (!quant)
        return fail("internal: quantised entry without its scheme");
      // One tensor, or the members of an expert stack in order.
      for (mlir::Attribute member : dict.getAs<mlir::ArrayAttr>("names")) {
        llvm::StringRef name = llvm::cast<mlir::StringAttr>(member).getValue();
        llvm::StringRef source = name.split(':').first;
        if (source != quantisedName) {
          auto tensor = readTensor(ckpt, source);
          if (!tensor)
            return tensor.takeError();
          const auto &[values, viewShape] = *tensor;
          if (viewShape.size() != 2)
            return fail("internal: quantised weight '" + source +
                        "' is not a matrix");
          quantised = quantize(quant.getScheme(), quant.getGroupSize(),
                               values.data(), viewShape[0], viewShape[1]);
          quantisedName = source.str();
        }
        llvm::StringRef bytes;
        if (part.getValue() == "codes")
          bytes = {reinterpret_cast<const char *>(quantised.codes.data()),
                   quantised.codes.size()};
        else if (part.getValue() == "scales" && !quantised.scaleBytes.empty())
          bytes = {reinterpret_cast<const char *>(quantised.scaleBytes.data()),
                   quantised.scaleBytes.size()};
        else if (part.getValue() == "scales")
          bytes = {reinterpret_cast<const char *>(quantised.scales.data()),
                   quantised.scales.size() * sizeof(float)};
        else
          bytes = {reinterpret_cast<const char *>(quantised.offsets.data()),
                   quantised.offsets.size() * sizeof(float)};
        out.write(bytes.data(), bytes.size());
      }
      continue;
    }
    if (!type.isF32() && !type.isBF16())
      return fail("the weight archive holds f32 or bf16 weights only");
    auto panel = dict.getAs<mlir::IntegerAttr>("panel");
    auto shape = dict.getAs<mlir::DenseI64ArrayAttr>("shape").asArrayRef();
    for (mlir::Attribute name : dict.getAs<mlir::ArrayAttr>("names")) {
      llvm::StringRef n = llvm::cast<mlir::StringAttr>(name).getValue();
      auto stored = storedTensor(ckpt, n, type.isF32());
      if (!stored)
        return stored.takeError();
      llvm::StringRef bytes = stored->bytes;
      if (!panel) {
        out.write(bytes.data(), bytes.size());
      } else if (shape.size() != 3 ||
                 int64_t(bytes.size()) !=
                     shape[0] * shape[1] * shape[2] * (type.isF32() ? 4 : 2)) {
        return fail("internal: panel-packed weight '" + n +
                    "' does not have the [N/panel, K, panel] shape of its "
                    "checkpoint tensor");
      } else if (type.isF32()) {
        writePanels<uint32_t>(out, bytes, shape[1], shape[2]);
      } else {
        writePanels<uint16_t>(out, bytes, shape[1], shape[2]);
      }
      if (stored->mapped)
        ckpt.find(n)->file->release(n);
    }
  }
  out.finish(size.getInt());
  os.close();
  if (os.has_error())
    return fail(path + ": write failed: " + os.error().message());
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
