//===- Checkpoint.cpp - a HuggingFace checkpoint folder -------------------===//
#include "frontends/hf/Checkpoint.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace chimera::hf;
using llvm::Error;
using llvm::Expected;

static Error fail(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

static std::string join(llvm::StringRef dir, llvm::StringRef file) {
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, file);
  return std::string(path);
}

Expected<std::vector<std::unique_ptr<SafeTensorsFile>>>
Checkpoint::openShards(llvm::StringRef dir, llvm::StringRef indexPath) {
  auto buffer = llvm::MemoryBuffer::getFile(indexPath, /*IsText=*/true);
  if (!buffer)
    return fail(indexPath + ": cannot open: " + buffer.getError().message());
  if ((*buffer)->getBufferSize() > (256u << 20))
    return fail(indexPath + ": too large for an index file");
  Expected<llvm::json::Value> json = llvm::json::parse((*buffer)->getBuffer());
  if (!json)
    return fail(indexPath + ": not valid JSON: " +
                llvm::toString(json.takeError()));
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Object *map = root ? root->getObject("weight_map") : nullptr;
  if (!map)
    return fail(indexPath + ": key 'weight_map' must be an object of "
                            "tensor name -> shard file");
  // Shards in first-mention order; names checked against their shard below.
  std::vector<std::unique_ptr<SafeTensorsFile>> shards;
  llvm::StringMap<size_t> shardIndex;
  std::vector<std::pair<std::string, size_t>> expected;
  for (const auto &entry : *map) {
    std::optional<llvm::StringRef> file = entry.second.getAsString();
    if (!file)
      return fail(indexPath + ": weight_map entry '" + entry.first.str() +
                  "' must be a file name string");
    // Shards live beside the index; a path must not reach elsewhere.
    if (file->empty() || file->contains('/') || file->contains('\\') ||
        *file == "." || *file == "..")
      return fail(indexPath + ": weight_map entry '" + entry.first.str() +
                  "' names '" + *file +
                  "', which is not a file name in the checkpoint folder");
    auto it = shardIndex.find(*file);
    if (it == shardIndex.end()) {
      auto shard = SafeTensorsFile::open(join(dir, *file));
      if (!shard)
        return shard.takeError();
      it = shardIndex.insert({*file, shards.size()}).first;
      shards.push_back(std::move(*shard));
    }
    expected.push_back({entry.first.str(), it->second});
  }
  for (const auto &[name, shard] : expected)
    if (!shards[shard]->find(name))
      return fail(indexPath + ": weight_map puts '" + name + "' in '" +
                  llvm::sys::path::filename(shards[shard]->path()) +
                  "', which has no such tensor");
  return shards;
}

Expected<std::unique_ptr<Checkpoint>> Checkpoint::open(llvm::StringRef dir) {
  if (!llvm::sys::fs::is_directory(dir))
    return fail(dir + ": not a checkpoint folder (expected a directory with "
                      "config.json and *.safetensors)");
  auto ckpt = std::unique_ptr<Checkpoint>(new Checkpoint());
  ckpt->dir = dir.str();
  Expected<ModelConfig> cfg = readConfig(join(dir, "config.json"));
  if (!cfg)
    return cfg.takeError();
  ckpt->cfg = std::move(*cfg);

  std::string single = join(dir, "model.safetensors");
  std::string index = join(dir, "model.safetensors.index.json");
  if (ckpt->cfg.family == Family::Var) {
    // FoundationVision/VAR's two state dicts: the transformer and the VQVAE.
    for (const char *name : {"var.safetensors", "vae.safetensors"}) {
      std::string file = join(dir, name);
      if (!llvm::sys::fs::exists(file))
        return fail(dir + ": no " + name + " in the VAR checkpoint folder");
      auto opened = SafeTensorsFile::open(file);
      if (!opened)
        return opened.takeError();
      ckpt->shards.push_back(std::move(*opened));
    }
  } else if (llvm::sys::fs::exists(index)) {
    auto shards = openShards(dir, index);
    if (!shards)
      return shards.takeError();
    ckpt->shards = std::move(*shards);
  } else if (llvm::sys::fs::exists(single)) {
    auto file = SafeTensorsFile::open(single);
    if (!file)
      return file.takeError();
    ckpt->shards.push_back(std::move(*file));
  } else {
    return fail(dir + ": no model.safetensors or "
                      "model.safetensors.index.json in the checkpoint folder");
  }
  for (const auto &shard : ckpt->shards) {
    for (const TensorView &view : shard->tensors()) {
      auto [it, inserted] = ckpt->byName.insert({view.name, {&view, shard.get()}});
      if (!inserted)
        return fail(shard->path() + ": tensor '" + view.name +
                    "' is also in " + it->second.file->path());
    }
  }
  return ckpt;
}

std::optional<Checkpoint::Entry> Checkpoint::find(llvm::StringRef name) const {
  auto it = byName.find(name);
  if (it == byName.end())
    return std::nullopt;
  return it->second;
}
