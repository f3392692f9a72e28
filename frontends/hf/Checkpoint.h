//===- Checkpoint.h - a HuggingFace checkpoint folder -----------*- C++ -*-===//
//
// A checkpoint folder: `config.json` plus either `model.safetensors` or a
// sharded set named by `model.safetensors.index.json`. Opening it maps and
// validates every shard's header (the data is never read), so the cost of
// opening does not depend on the model's size.
//
//===----------------------------------------------------------------------===//
#ifndef CHIMERA_FRONTENDS_HF_CHECKPOINT_H
#define CHIMERA_FRONTENDS_HF_CHECKPOINT_H

#include "frontends/hf/Config.h"
#include "frontends/hf/SafeTensors.h"

#include "llvm/ADT/StringMap.h"

#include <memory>
#include <string>
#include <vector>

namespace chimera::hf {

class Checkpoint {
public:
  /// Opens `dir`: reads config.json and validates the safetensors headers.
  static llvm::Expected<std::unique_ptr<Checkpoint>> open(llvm::StringRef dir);

  /// Validates an index file (`model.safetensors.index.json`) and opens the
  /// shards it names, relative to `dir`.
  static llvm::Expected<std::vector<std::unique_ptr<SafeTensorsFile>>>
  openShards(llvm::StringRef dir, llvm::StringRef indexPath);

  llvm::StringRef directory() const { return dir; }
  const ModelConfig &config() const { return cfg; }

  struct Entry {
    const TensorView *view = nullptr;
    const SafeTensorsFile *file = nullptr;
  };
  /// The tensor `name` in whichever shard holds it.
  std::optional<Entry> find(llvm::StringRef name) const;

  const std::vector<std::unique_ptr<SafeTensorsFile>> &files() const {
    return shards;
  }

private:
  std::string dir;
  ModelConfig cfg;
  std::vector<std::unique_ptr<SafeTensorsFile>> shards;
  llvm::StringMap<Entry> byName;
};

} // namespace chimera::hf

#endif // CHIMERA_FRONTENDS_HF_CHECKPOINT_H
