//===- RuntimeTest.cpp - the runtime's sampler and thread pool ------------===//
#include "runtime/internal.h"

#include "gtest/gtest.h"

#include <atomic>
#include <thread>
#include <vector>

namespace {

TEST(Sampler, GreedyIsArgmaxWithTiesToTheLowerId) {
  const float logits[] = {0.5f, 2.0f, -1.0f, 2.0f};
  chimera_sampler greedy = {0.0f, 0, 1.0f, 0};
  uint64_t state = chimera_sampler_seed(1);
  int64_t token = -1;
  ASSERT_EQ(chimera_sample(&greedy, logits, 4, &state, &token), CHIMERA_OK);
  EXPECT_EQ(token, 1);
}

TEST(Sampler, SeededSamplingIsReproducibleAndRespectsTopK) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = float(i % 7) * 0.3f;
  chimera_sampler s = {1.0f, 3, 1.0f, 42};
  // The three largest logits are ids 6, 13, 20 (value 1.8, ties to lower ids).
  auto draw = [&](uint64_t seed) {
    uint64_t state = chimera_sampler_seed(seed);
    std::vector<int64_t> out;
    for (int i = 0; i < 200; ++i) {
      int64_t t;
      EXPECT_EQ(chimera_sample(&s, logits.data(), 50, &state, &t), CHIMERA_OK);
      out.push_back(t);
    }
    return out;
  };
  std::vector<int64_t> a = draw(42), b = draw(42), c = draw(7);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (int64_t t : a)
    EXPECT_TRUE(t == 6 || t == 13 || t == 20) << t;
}

TEST(Sampler, TinyTopPKeepsOnlyTheBest) {
  const float logits[] = {0.1f, 3.0f, 0.2f, 2.9f};
  chimera_sampler s = {0.7f, 0, 0.01f, 3};
  uint64_t state = chimera_sampler_seed(3);
  for (int i = 0; i < 20; ++i) {
    int64_t t;
    ASSERT_EQ(chimera_sample(&s, logits, 4, &state, &t), CHIMERA_OK);
    EXPECT_EQ(t, 1);
  }
}

TEST(Sampler, RejectsNullArguments) {
  int64_t t;
  uint64_t state = 0;
  EXPECT_EQ(chimera_sample(nullptr, nullptr, 0, &state, &t),
            CHIMERA_ERROR_INVALID_ARGUMENT);
  EXPECT_STRNE(chimera_last_error(), "");
}

TEST(ThreadPool, RunsEveryItemOnceForAnyThreadCount) {
  for (int threads : {1, 2, 4, 0}) {
    ASSERT_EQ(chimera_set_threads(threads), CHIMERA_OK);
    // Unknown work, little work (one thread) and much work per item.
    for (int64_t work : {0, 1, 1 << 20})
      for (int64_t n : {0, 1, 3, 1000, 100003}) {
        std::vector<std::atomic<int>> hits(n);
        chimera_parallel_for(
            n, work,
            [](int64_t begin, int64_t end, void *ctx) {
              for (int64_t i = begin; i < end; ++i)
                (*static_cast<std::vector<std::atomic<int>> *>(ctx))[i]++;
            },
            &hits);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << "threads " << threads << " work "
                                       << work << " n " << n << " item " << i;
      }
  }
  EXPECT_EQ(chimera_set_threads(-1), CHIMERA_ERROR_INVALID_ARGUMENT);
}

TEST(ThreadPool, RunsALittleWorkOnTheCallingThread) {
  ASSERT_EQ(chimera_set_threads(4), CHIMERA_OK);
  struct Seen {
    std::thread::id caller;
    std::atomic<int> elsewhere{0};
  } seen;
  seen.caller = std::this_thread::get_id();
  // 12 items of 64 operations: a decode step's zero fill of 768 floats.
  chimera_parallel_for(
      12, 64,
      [](int64_t, int64_t, void *ctx) {
        auto *s = static_cast<Seen *>(ctx);
        if (std::this_thread::get_id() != s->caller)
          s->elsewhere++;
      },
      &seen);
  EXPECT_EQ(seen.elsewhere.load(), 0);
  ASSERT_EQ(chimera_set_threads(0), CHIMERA_OK);
}

} // namespace
