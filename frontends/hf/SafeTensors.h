//===- SafeTensors.h - validated, zero-copy safetensors reader --*- C++ -*-===//
//
// Reads a safetensors file (8-byte little-endian header length, JSON header,
// raw data) through a memory map. Every field is validated before use; a
// malformed file yields an llvm::Error naming the file, the tensor and what
// is wrong, never an out-of-bounds read or an allocation sized by the file.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_FRONTENDS_HF_SAFETENSORS_H
#define CHIMERA_FRONTENDS_HF_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chimera::hf {

enum class DType {
  F64, F32, F16, BF16, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL
};

/// Size in bytes of one element.
size_t dtypeSize(DType dtype);
llvm::StringRef dtypeName(DType dtype);

/// A view of one tensor inside a mapped file. Valid while the file lives.
struct TensorView {
  std::string name;
  DType dtype;
  llvm::SmallVector<int64_t, 4> shape;
  llvm::ArrayRef<uint8_t> bytes;

  int64_t numElements() const;
};

class SafeTensorsFile {
public:
  /// Maps and validates `path`.
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  open(llvm::StringRef path);
  /// Validates an in-memory buffer (for tests and fuzzing); `name` is used
  /// in messages.
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  fromBuffer(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  llvm::StringRef path() const { return filePath; }
  const std::vector<TensorView> &tensors() const { return views; }
  /// The tensor called `name`, or nullptr.
  const TensorView *find(llvm::StringRef name) const;
  /// The tensor called `name` as f32 values (F32, BF16, F16, F64 converted),
  /// with an error naming the file and tensor when it is missing or of
  /// another dtype.
  llvm::Expected<std::vector<float>> readF32(llvm::StringRef name) const;
  /// The tensor called `name` as int64 values (I64, I32).
  llvm::Expected<std::vector<int64_t>> readI64(llvm::StringRef name) const;
  /// Tells the kernel the pages of `name` are no longer needed, so that
  /// streaming a checkpoint through the map does not keep it resident.
  void release(llvm::StringRef name) const;

private:
  std::string filePath;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::vector<TensorView> views;
  llvm::StringMap<size_t> index;
};

} // namespace chimera::hf

#endif // CHIMERA_FRONTENDS_HF_SAFETENSORS_H
