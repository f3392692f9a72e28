//===- ModelGoldenTest.cpp - imported models vs the reference goldens -----===//
//
// Imports each fixture checkpoint, lowers `@forward` with
// `chimera-model-to-llvm` (weights bound to one buffer, caches updated in
// place) and JIT-runs it:
//
//  * prefill of both prompts as one right-padded batch of 2: logits at every
//    valid position against `golden.safetensors` (HF transformers v4.44.2 /
//    state-spaces goldens), tolerance 1e-4 + 1e-4·|ref| (Gemma 2e-4);
//  * 16 greedy tokens per prompt through the cached decode path (one token
//    per call, both rows in one batch at their own positions): exactly the
//    reference's `greedy_tokens`.
//
// The weight buffer holds what chimera-compile's archive writer writes for
// the module's `chimera.weights` layout.
//
//===----------------------------------------------------------------------===//
#include "unittests/JitHarness.h"

#include "frontends/hf/Checkpoint.h"
#include "frontends/hf/Import.h"
#include "passes/Passes.h"
#include "tools/chimera-compile/WeightArchive.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FileUtilities.h"
#include "llvm/Support/MemoryBuffer.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using namespace chimera::testing;
using chimera::hf::Checkpoint;
using chimera::hf::SafeTensorsFile;

namespace {

struct ModelCase {
  const char *dir;         // under test/fixtures
  const char *inputsDir;   // where input_ids / lengths come from
  const char *logitsName;  // golden logits tensor
  const char *tokensName;  // golden greedy tokens
  double atol;
  // Mixture-of-Depths (reference routing over the whole sequence): each
  // prompt alone, and every greedy step recomputes the whole sequence, as
  // the reference's goldens were made.
  bool recompute = false;
};

std::ostream &operator<<(std::ostream &os, const ModelCase &c) {
  return os << c.dir;
}

/// The module's weight archive, as chimera-compile writes it (converted,
/// transposed into panels), read back into one buffer.
llvm::Error fillWeights(mlir::ModuleOp module, const Checkpoint &ckpt,
                        std::vector<uint8_t> &buffer) {
  llvm::SmallString<128> path;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("chimera-golden", "bin", path))
    return llvm::createStringError(ec, "cannot create a temporary file");
  llvm::FileRemover remover(path);
  if (llvm::Error err = chimera::writeWeightArchive(module, ckpt, path))
    return err;
  auto file = llvm::MemoryBuffer::getFile(path);
  if (!file)
    return llvm::createStringError(file.getError(), "cannot read " + path);
  llvm::StringRef bytes = (*file)->getBuffer();
  buffer.assign(bytes.begin(), bytes.end());
  return llvm::Error::success();
}

class ModelGolden : public ::testing::TestWithParam<ModelCase> {};

TEST_P(ModelGolden, PrefillLogitsAndGreedyDecode) {
  const ModelCase &mc = GetParam();
  std::string dir = std::string(CHIMERA_TEST_FIXTURES) + "/" + mc.dir;
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  auto goldenFile = SafeTensorsFile::open(dir + "/golden.safetensors");
  ASSERT_TRUE(bool(goldenFile)) << llvm::toString(goldenFile.takeError());
  auto inputsFile = SafeTensorsFile::open(std::string(CHIMERA_TEST_FIXTURES) +
                                          "/" + mc.inputsDir +
                                          "/golden.safetensors");
  ASSERT_TRUE(bool(inputsFile)) << llvm::toString(inputsFile.takeError());

  mlir::DialectRegistry registry;
  registerJitDialects(registry);
  mlir::MLIRContext ctx(registry);
  chimera::hf::ImportOptions options;
  options.exposeRouting = mc.recompute;
  auto module = chimera::hf::importCheckpoint(ctx, **ckpt, options);
  ASSERT_TRUE(bool(module)) << llvm::toString(module.takeError());
  auto forward = (*module)->lookupSymbol<mlir::func::FuncOp>("forward");
  ASSERT_TRUE(forward);
  forward->setAttr("llvm.emit_c_interface", mlir::UnitAttr::get(&ctx));
  // Cache shapes, before lowering turns them into memrefs.
  std::vector<std::vector<int64_t>> cacheShapes;
  std::vector<std::string> routingNames;
  for (unsigned i = 0; i < forward.getNumResults(); ++i)
    if (auto name = forward.getResultAttrOfType<mlir::StringAttr>(i, "chimera.name"))
      if (name.getValue().starts_with("router_selected."))
        routingNames.push_back(name.getValue().str());
  for (unsigned i = 3; i < forward.getNumArguments(); ++i) {
    auto shape =
        llvm::cast<mlir::RankedTensorType>(forward.getArgument(i).getType())
            .getShape();
    cacheShapes.emplace_back(shape.begin(), shape.end());
  }

  mlir::PassManager pm(&ctx);
  mlir::chimera::buildModelToLLVMPipeline(pm);
  ASSERT_TRUE(mlir::succeeded(pm.run(**module)));
  std::vector<uint8_t> weights;
  llvm::Error err = fillWeights(**module, **ckpt, weights);
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  auto engine = jitCompile(**module);
  ASSERT_TRUE(bool(engine)) << llvm::toString(engine.takeError());

  auto ids = (*inputsFile)->readI64("input_ids");
  auto lengths = (*inputsFile)->readI64("lengths");
  auto golden = (*goldenFile)->readF32(mc.logitsName);
  auto tokens = (*goldenFile)->readI64(mc.tokensName);
  ASSERT_TRUE(ids && lengths && golden && tokens);
  const int64_t batch = 2, steps = 16;
  const int64_t seq = ids->size() / batch;
  const int64_t vocab = (*ckpt)->config().vocabSize;
  const int64_t tmax = seq + steps;

  // Caches: dynamic batch and length become 2 and tmax.
  std::vector<std::vector<float>> caches;
  std::vector<std::vector<int64_t>> shapes;
  for (auto shape : cacheShapes) {
    shape[0] = batch;
    if (mlir::ShapedType::isDynamic(shape[1]))
      shape[1] = tmax;
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    caches.emplace_back(n, 0.0f);
    shapes.push_back(shape);
  }
  auto call = [&](std::vector<int64_t> &callIds, std::vector<int64_t> &pos,
                  std::vector<int64_t> &lens, int64_t s,
                  std::vector<float> &logits) {
    std::vector<MemrefArg> args = {
        {weights.data(), {int64_t(weights.size())}},
        {callIds.data(), {batch, s}},
        {pos.data(), {batch, s}},
        {lens.data(), {batch}}};
    for (size_t i = 0; i < caches.size(); ++i)
      args.push_back({caches[i].data(), shapes[i]});
    args.push_back({logits.data(), {batch, s, vocab}});
    return invokeWithMemrefs(**engine, "forward", args);
  };

  if (mc.recompute) {
    // One row at a time: call(ids, positions, lengths, rows = 1, s).
    std::vector<std::vector<int64_t>> selected(routingNames.size());
    auto callRow = [&](std::vector<int64_t> &rowIds, std::vector<float> &out) {
      int64_t s = int64_t(rowIds.size());
      std::vector<int64_t> pos(s), len = {s};
      for (int64_t t = 0; t < s; ++t)
        pos[t] = t;
      std::vector<std::vector<float>> rowCaches;
      std::vector<MemrefArg> args = {
          {weights.data(), {int64_t(weights.size())}},
          {rowIds.data(), {1, s}},
          {pos.data(), {1, s}},
          {len.data(), {1}}};
      for (auto shape : shapes) {
        shape[0] = 1;
        int64_t n = 1;
        for (int64_t d : shape)
          n *= d;
        rowCaches.emplace_back(n, 0.0f);
        args.push_back({rowCaches.back().data(), shape});
      }
      out.assign(s * vocab, 0.0f);
      args.push_back({out.data(), {1, s, vocab}});
      for (auto &sel : selected) {
        sel.assign(s, -1);
        args.push_back({sel.data(), {1, s}});
      }
      return invokeWithMemrefs(**engine, "forward", args);
    };
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int64_t> row(ids->begin() + b * seq,
                               ids->begin() + b * seq + (*lengths)[b]);
      std::vector<float> out;
      err = callRow(row, out);
      ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
      double worst = 0;
      int64_t bad = 0;
      for (int64_t t = 0; t < (*lengths)[b]; ++t)
        for (int64_t v = 0; v < vocab; ++v) {
          double ref = (*golden)[(b * seq + t) * vocab + v];
          double diff = std::fabs(out[t * vocab + v] - ref);
          worst = std::max(worst, diff);
          if (!(diff <= mc.atol + 1e-4 * std::fabs(ref)))
            ++bad;
        }
      std::printf("  %-11s row %lld prefill logits max |diff| %.3g\n", mc.dir,
                  (long long)b, worst);
      EXPECT_EQ(bad, 0) << "row " << b << " prefill logits (max |diff| "
                        << worst << ")";
      // Which tokens each routed layer processed: exactly the reference's.
      for (size_t r = 0; r < routingNames.size(); ++r) {
        auto want = (*goldenFile)->readI64(routingNames[r]);
        ASSERT_TRUE(bool(want)) << llvm::toString(want.takeError());
        std::vector<int64_t> expected(want->begin() + b * seq,
                                      want->begin() + b * seq + (*lengths)[b]);
        EXPECT_EQ(selected[r], expected) << routingNames[r] << " row " << b;
        std::printf("  %-11s row %lld %s: %lld tokens routed, as the reference\n",
                    mc.dir, (long long)b, routingNames[r].c_str(),
                    (long long)std::count(selected[r].begin(),
                                          selected[r].end(), 1));
      }
      std::vector<int64_t> generated;
      for (int64_t j = 0; j < steps; ++j) {
        const float *last = &out[(row.size() - 1) * vocab];
        int64_t next = std::max_element(last, last + vocab) - last;
        generated.push_back(next);
        row.push_back(next);
        if (j + 1 < steps) {
          err = callRow(row, out);
          ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
        }
      }
      std::vector<int64_t> want(tokens->begin() + b * steps,
                                tokens->begin() + (b + 1) * steps);
      EXPECT_EQ(generated, want) << "greedy tokens of prompt " << b;
    }
    return;
  }

  // Prefill.
  std::vector<int64_t> positions(batch * seq);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < seq; ++t)
      positions[b * seq + t] = t;
  std::vector<float> logits(batch * seq * vocab);
  err = call(*ids, positions, *lengths, seq, logits);
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
  double worst = 0;
  int64_t bad = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < (*lengths)[b]; ++t)
      for (int64_t v = 0; v < vocab; ++v) {
        size_t i = (b * seq + t) * vocab + v;
        double ref = (*golden)[i], diff = std::fabs(logits[i] - ref);
        worst = std::max(worst, diff);
        if (!(diff <= mc.atol + 1e-4 * std::fabs(ref)))
          ++bad;
      }
  std::printf("  %-11s prefill logits max |diff| %.3g\n", mc.dir, worst);
  EXPECT_EQ(bad, 0) << "prefill logits out of tolerance (max |diff| " << worst
                    << ")";

  // Greedy decode through the caches.
  auto argmax = [&](const float *row) {
    return int64_t(std::max_element(row, row + vocab) - row);
  };
  std::vector<std::vector<int64_t>> generated(batch);
  std::vector<int64_t> next(batch), pos(batch), ones(batch, 1);
  for (int64_t b = 0; b < batch; ++b) {
    next[b] = argmax(&logits[(b * seq + (*lengths)[b] - 1) * vocab]);
    generated[b].push_back(next[b]);
  }
  std::vector<float> stepLogits(batch * vocab);
  for (int64_t j = 1; j < steps; ++j) {
    for (int64_t b = 0; b < batch; ++b)
      pos[b] = (*lengths)[b] + j - 1;
    err = call(next, pos, ones, 1, stepLogits);
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err));
    for (int64_t b = 0; b < batch; ++b) {
      next[b] = argmax(&stepLogits[b * vocab]);
      generated[b].push_back(next[b]);
    }
  }
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> want(tokens->begin() + b * steps,
                              tokens->begin() + (b + 1) * steps);
    EXPECT_EQ(generated[b], want) << "greedy tokens of prompt " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, ModelGolden,
    ::testing::Values(
        ModelCase{"llama", "llama", "logits", "greedy_tokens", 1e-4},
        ModelCase{"mistral", "mistral", "logits", "greedy_tokens", 1e-4},
        ModelCase{"gemma", "gemma", "logits", "greedy_tokens", 2e-4},
        ModelCase{"mixtral", "mixtral", "logits", "greedy_tokens", 1e-4},
        ModelCase{"mamba", "mamba", "logits", "greedy_tokens", 1e-4},
        ModelCase{"jamba", "jamba", "logits", "greedy_tokens", 1e-4},
        ModelCase{"llama-bf16", "llama", "logits_bf16w_f32",
                  "greedy_tokens_bf16w_f32", 1e-4},
        ModelCase{"jamba-bf16", "jamba", "logits_bf16w_f32",
                  "greedy_tokens_bf16w_f32", 1e-4},
        ModelCase{"mod", "mod", "logits", "greedy_tokens", 1e-4, true}),
    [](const ::testing::TestParamInfo<ModelCase> &info) {
      std::string name = info.param.dir;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

} // namespace
