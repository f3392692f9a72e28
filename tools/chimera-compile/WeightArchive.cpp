//===- WeightArchive.cpp - the weights file an artifact maps --------------===//
#include "tools/chimera-compile/WeightArchive.h"
#include "tools/chimera-compile/Quantize.h"

#include "dialects/chimera/ChimeraAttrs.h"

#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstring>

using namespace chimera;
using llvm::Error;
using llvm::Expected;

static Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
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
/// [ceil(N/panel), K, panel] (chimera-pack-weights): panel p holds rows
/// [p·panel, (p+1)·panel), K-major, the last one padded with zero rows. A
/// panel's rows are one contiguous run of the source, so an all-zero one (a
/// sparse checkpoint's hole) is skipped without being transposed.
template <typename T>
static void writePanels(ArchiveWriter &out, llvm::StringRef bytes, int64_t k,
                        int64_t panel) {
  size_t row = size_t(k) * sizeof(T), block = row * size_t(panel);
  std::vector<T> packed(size_t(k * panel));
  for (size_t at = 0; at < bytes.size(); at += block) {
    const char *src = bytes.data() + at;
    size_t len = std::min(block, bytes.size() - at);
    if (allZero(src, len)) {
      out.skip(block);
      continue;
    }
    int64_t rows = int64_t(len / row);
    if (rows < panel)
      std::fill(packed.begin(), packed.end(), T(0));
    for (int64_t j = 0; j < rows; ++j)
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
    auto names = dict.getAs<mlir::ArrayAttr>("names");
    // Panelled: [..., panels, K, panel], the leading dims split evenly
    // over the names (an expert stack's members, each [N, K]).
    int64_t k = 0, panelsPerName = 0;
    if (panel && shape.size() >= 3) {
      k = shape[shape.size() - 2];
      panelsPerName = 1;
      for (int64_t d : shape.drop_back(2))
        panelsPerName *= d;
      panelsPerName /= int64_t(names.size());
    }
    for (mlir::Attribute name : names) {
      // A packed copy (`<tensor>:panel`) reads the checkpoint's tensor.
      llvm::StringRef n =
          llvm::cast<mlir::StringAttr>(name).getValue().split(':').first;
      auto stored = storedTensor(ckpt, n, type.isF32());
      if (!stored)
        return stored.takeError();
      llvm::StringRef bytes = stored->bytes;
      int64_t rowBytes = k * (type.isF32() ? 4 : 2);
      if (!panel) {
        out.write(bytes.data(), bytes.size());
      } else if (!rowBytes || int64_t(bytes.size()) % rowBytes ||
                 llvm::divideCeil(int64_t(bytes.size()) / rowBytes,
                                  shape.back()) != panelsPerName) {
        return fail("internal: panel-packed weight '" + n +
                    "' does not have the [ceil(N/panel), K, panel] shape of "
                    "its checkpoint tensor");
      } else if (type.isF32()) {
        writePanels<uint32_t>(out, bytes, k, shape.back());
      } else {
        writePanels<uint16_t>(out, bytes, k, shape.back());
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

