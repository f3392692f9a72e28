//===- SafeTensorsFuzzer.cpp - libFuzzer target for the safetensors reader -===//
//
// Feeds arbitrary bytes to SafeTensorsFile::fromBuffer and, when a file is
// accepted, reads every tensor through the typed readers. Built with
// -fsanitize=fuzzer,address: any out-of-bounds read, leak or crash on any
// input is a bug in the validation.
//
//===----------------------------------------------------------------------===//
#include "frontends/hf/SafeTensors.h"

#include <cstddef>
#include <cstdint>

using chimera::hf::DType;
using chimera::hf::SafeTensorsFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto buffer = llvm::MemoryBuffer::getMemBuffer(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz",
      /*RequiresNullTerminator=*/false);
  auto file = SafeTensorsFile::fromBuffer(std::move(buffer), "fuzz.safetensors");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  for (const auto &view : (*file)->tensors()) {
    // Touch every byte the reader claims is in bounds.
    volatile uint8_t sink = 0;
    for (uint8_t b : view.bytes)
      sink ^= b;
    (void)sink;
    if (view.dtype == DType::F32 || view.dtype == DType::BF16 ||
        view.dtype == DType::F16) {
      auto values = (*file)->readF32(view.name);
      if (!values)
        llvm::consumeError(values.takeError());
    } else if (view.dtype == DType::I64 || view.dtype == DType::I32) {
      auto values = (*file)->readI64(view.name);
      if (!values)
        llvm::consumeError(values.takeError());
    }
  }
  return 0;
}
