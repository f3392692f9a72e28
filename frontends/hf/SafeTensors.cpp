//===- SafeTensors.cpp - validated, zero-copy safetensors reader ----------===//
#include "frontends/hf/SafeTensors.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

using namespace chimera::hf;
using llvm::Error;
using llvm::Expected;

namespace {
struct DTypeInfo {
  const char *name;
  DType dtype;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"F64", DType::F64, 8},         {"F32", DType::F32, 4},
    {"F16", DType::F16, 2},         {"BF16", DType::BF16, 2},
    {"F8_E4M3", DType::F8_E4M3, 1}, {"F8_E5M2", DType::F8_E5M2, 1},
    {"I64", DType::I64, 8},         {"I32", DType::I32, 4},
    {"I16", DType::I16, 2},         {"I8", DType::I8, 1},
    {"U8", DType::U8, 1},           {"BOOL", DType::BOOL, 1}};

// A header larger than this is not a checkpoint header (HF caps it at 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

/// The keys of the top-level JSON object, in order, duplicates kept
/// (llvm::json::Object would silently keep only one of two equal keys). The
/// header has already parsed as JSON, so only strings and nesting matter.
std::vector<std::string> topLevelKeys(llvm::StringRef json) {
  std::vector<std::string> keys;
  int depth = 0;
  bool expectKey = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (c == '"') {
      size_t start = ++i;
      while (i < json.size() && json[i] != '"')
        i += json[i] == '\\' ? 2 : 1;
      if (depth == 1 && expectKey)
        keys.push_back(json.substr(start, i - start).str());
      expectKey = false;
    } else if (c == '{' || c == '[') {
      ++depth;
      expectKey = depth == 1 && c == '{';
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expectKey = true;
    }
  }
  return keys;
}

Error fail(llvm::StringRef file, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 file + ": " + message);
}
} // namespace

size_t chimera::hf::dtypeSize(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.size;
  return 0;
}

llvm::StringRef chimera::hf::dtypeName(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.name;
  return "?";
}

int64_t TensorView::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(llvm::StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fail(path, "cannot open: " + buffer.getError().message());
  return fromBuffer(std::move(*buffer), path);
}

Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer,
                            llvm::StringRef name) {
  auto file = std::unique_ptr<SafeTensorsFile>(new SafeTensorsFile());
  file->filePath = name.str();
  llvm::StringRef data = buffer->getBuffer();
  if (data.size() < 8)
    return fail(name, "file is " + llvm::Twine(data.size()) +
                          " bytes, too short for the 8-byte header length");
  uint64_t headerLen =
      llvm::support::endian::read64le(reinterpret_cast<const uint8_t *>(data.data()));
  if (headerLen > kMaxHeaderBytes || headerLen > data.size() - 8)
    return fail(name, "header length " + llvm::Twine(headerLen) +
                          " exceeds the file size " + llvm::Twine(data.size()));
  llvm::StringRef header = data.substr(8, headerLen);
  llvm::ArrayRef<uint8_t> payload(
      reinterpret_cast<const uint8_t *>(data.data()) + 8 + headerLen,
      data.size() - 8 - headerLen);

  Expected<llvm::json::Value> json = llvm::json::parse(header);
  if (!json)
    return fail(name, "header is not valid JSON: " +
                          llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return fail(name, "header is not a JSON object");

  std::vector<std::string> keys = topLevelKeys(header);
  llvm::sort(keys);
  for (size_t i = 1; i < keys.size(); ++i)
    if (keys[i] == keys[i - 1])
      return fail(name, "tensor '" + keys[i] + "': duplicate tensor name");

  struct Span {
    uint64_t begin, end;
    size_t view;
  };
  std::vector<Span> spans;
  for (const auto &entry : *root) {
    std::string key = entry.first.str();
    if (key == "__metadata__")
      continue;
    auto tensorFail = [&](const llvm::Twine &msg) {
      return fail(name, "tensor '" + key + "': " + msg);
    };
    const llvm::json::Object *obj = entry.second.getAsObject();
    if (!obj)
      return tensorFail("entry is not an object");
    std::optional<llvm::StringRef> dtypeStr = obj->getString("dtype");
    if (!dtypeStr)
      return tensorFail("missing string field 'dtype'");
    const DTypeInfo *info = llvm::find_if(
        kDTypes, [&](const DTypeInfo &i) { return *dtypeStr == i.name; });
    if (info == std::end(kDTypes))
      return tensorFail("unknown dtype '" + *dtypeStr + "'");
    const llvm::json::Array *shape = obj->getArray("shape");
    if (!shape)
      return tensorFail("missing array field 'shape'");
    const llvm::json::Array *offsets = obj->getArray("data_offsets");
    if (!offsets || offsets->size() != 2)
      return tensorFail("'data_offsets' must be an array [begin, end]");
    TensorView view;
    view.name = key;
    view.dtype = info->dtype;
    uint64_t bytes = info->size;
    for (const llvm::json::Value &d : *shape) {
      std::optional<int64_t> dim = d.getAsInteger();
      if (!dim || *dim < 0)
        return tensorFail("shape entries must be non-negative integers");
      view.shape.push_back(*dim);
      if (*dim != 0 && bytes > UINT64_MAX / uint64_t(*dim))
        return tensorFail("shape overflows 64-bit byte count");
      bytes *= uint64_t(*dim);
    }
    std::optional<int64_t> begin = (*offsets)[0].getAsInteger();
    std::optional<int64_t> end = (*offsets)[1].getAsInteger();
    if (!begin || !end || *begin < 0 || *end < *begin)
      return tensorFail("'data_offsets' must be integers with 0 <= begin <= end");
    if (uint64_t(*end) > payload.size())
      return tensorFail("data_offsets end " + llvm::Twine(*end) +
                        " is past the data section of " +
                        llvm::Twine(payload.size()) + " bytes");
    if (uint64_t(*end - *begin) != bytes)
      return tensorFail("data_offsets span " + llvm::Twine(*end - *begin) +
                        " bytes, but shape x dtype needs " + llvm::Twine(bytes));
    view.bytes = payload.slice(*begin, *end - *begin);
    if (file->index.count(key))
      return tensorFail("duplicate tensor name");
    file->index[key] = file->views.size();
    spans.push_back({uint64_t(*begin), uint64_t(*end), file->views.size()});
    file->views.push_back(std::move(view));
  }
  llvm::sort(spans, [](const Span &a, const Span &b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end)
      return fail(name, "tensors '" + file->views[spans[i - 1].view].name +
                            "' and '" + file->views[spans[i].view].name +
                            "' overlap in the data section");
  file->buffer = std::move(buffer);
  return file;
}

const TensorView *SafeTensorsFile::find(llvm::StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &views[it->second];
}

static float bf16ToF32(uint16_t v) {
  uint32_t bits = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

static float f16ToF32(uint16_t h) {
  uint32_t sign = uint32_t(h >> 15) << 31, exp = (h >> 10) & 0x1F,
           mant = h & 0x3FF, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000 | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// The tensor `name` when its dtype is one of `allowed`; otherwise an error
/// naming the file, the tensor and what was expected.
static Expected<const TensorView *>
lookup(const SafeTensorsFile &file, llvm::StringRef name,
       std::initializer_list<DType> allowed, llvm::StringRef expected) {
  const TensorView *view = file.find(name);
  if (!view)
    return fail(file.path(), "no tensor named '" + name + "'");
  if (!llvm::is_contained(allowed, view->dtype))
    return fail(file.path(), "tensor '" + name + "' has dtype " +
                                 dtypeName(view->dtype) + ", expected " +
                                 expected);
  return view;
}

Expected<std::vector<float>>
SafeTensorsFile::readF32(llvm::StringRef name) const {
  Expected<const TensorView *> view =
      lookup(*this, name, {DType::F32, DType::BF16, DType::F16, DType::F64},
             "F32, BF16, F16 or F64");
  if (!view)
    return view.takeError();
  DType dtype = (*view)->dtype;
  const uint8_t *p = (*view)->bytes.data();
  std::vector<float> out((*view)->numElements());
  for (size_t i = 0; i < out.size(); ++i) {
    if (dtype == DType::F32) {
      std::memcpy(&out[i], p + 4 * i, 4);
    } else if (dtype == DType::F64) {
      double d;
      std::memcpy(&d, p + 8 * i, 8);
      out[i] = float(d);
    } else if (dtype == DType::BF16) {
      out[i] = bf16ToF32(llvm::support::endian::read16le(p + 2 * i));
    } else {
      out[i] = f16ToF32(llvm::support::endian::read16le(p + 2 * i));
    }
  }
  return out;
}

Expected<std::vector<int64_t>>
SafeTensorsFile::readI64(llvm::StringRef name) const {
  Expected<const TensorView *> view =
      lookup(*this, name, {DType::I64, DType::I32}, "I64 or I32");
  if (!view)
    return view.takeError();
  bool wide = (*view)->dtype == DType::I64;
  const uint8_t *p = (*view)->bytes.data();
  std::vector<int64_t> out((*view)->numElements());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = wide ? int64_t(llvm::support::endian::read64le(p + 8 * i))
                  : int64_t(int32_t(llvm::support::endian::read32le(p + 4 * i)));
  return out;
}

void SafeTensorsFile::release(llvm::StringRef name) const {
  const TensorView *view = find(name);
  if (!view || view->bytes.empty())
    return;
  uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  uintptr_t begin = uintptr_t(view->bytes.data());
  uintptr_t end = begin + view->bytes.size();
  // Only whole pages inside the tensor: neighbours may still be in use.
  begin = (begin + page - 1) & ~(page - 1);
  end &= ~(page - 1);
  if (end > begin)
    (void)madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}
