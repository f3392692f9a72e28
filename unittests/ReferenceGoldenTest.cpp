//===- ReferenceGoldenTest.cpp - reference lowering vs public goldens -----===//
//
// Runs chimera.selective_scan (prefill and one decode step) and
// chimera.causal_conv1d through the reference lowering and compares with
// test/fixtures/mamba/ops.safetensors, produced by state-spaces/mamba's
// selective_scan_ref / selective_state_update_ref and Dao-AILab's
// causal_conv1d_ref. Tolerance per the fixtures README: 1e-5 + 1e-5·|ref|.
// The goldens are [B, D, L] (channel-major); the ops are token-major, so the
// test functions transpose in MLIR.
//
//===----------------------------------------------------------------------===//
#include "unittests/JitHarness.h"

#include "frontends/hf/SafeTensors.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdio>

using namespace chimera::testing;
using chimera::hf::SafeTensorsFile;

namespace {

class MambaOpsGolden : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    auto file = SafeTensorsFile::open(CHIMERA_TEST_FIXTURES "/mamba/ops.safetensors");
    if (!file) {
      error = llvm::toString(file.takeError());
      return;
    }
    ops = std::move(*file);
  }
  static void TearDownTestSuite() { ops.reset(); }

  void SetUp() override { ASSERT_TRUE(ops) << error; }

  HostTensor load(const std::string &name) {
    const chimera::hf::TensorView *view = ops->find(name);
    EXPECT_NE(view, nullptr) << "missing golden tensor " << name;
    HostTensor t;
    if (!view)
      return t;
    t.shape.assign(view->shape.begin(), view->shape.end());
    auto data = ops->readF32(name);
    EXPECT_TRUE(bool(data)) << llvm::toString(data.takeError());
    if (data)
      t.data = std::move(*data);
    return t;
  }

  void expectClose(const HostTensor &got, const HostTensor &want,
                   const std::string &what) {
    ASSERT_EQ(got.data.size(), want.data.size()) << what;
    double worst = 0.0;
    size_t bad = 0;
    for (size_t i = 0; i < got.data.size(); ++i) {
      double diff = std::fabs(double(got.data[i]) - double(want.data[i]));
      double tol = 1e-5 + 1e-5 * std::fabs(double(want.data[i]));
      worst = std::max(worst, diff);
      if (!(diff <= tol))
        ++bad;
    }
    EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.data.size()
                       << " values outside 1e-5 + 1e-5|ref|, max |diff| "
                       << worst;
    std::printf("  %-22s max |diff| %.3g over %zu values\n", what.c_str(), worst,
                got.data.size());
  }

  static std::unique_ptr<SafeTensorsFile> ops;
  static std::string error;
};

std::unique_ptr<SafeTensorsFile> MambaOpsGolden::ops;
std::string MambaOpsGolden::error;

std::string dims(const std::vector<int64_t> &s) { return tensorType(s); }

/// `linalg.transpose` of a rank-3 value swapping dims 1 and 2.
std::string transpose12(const std::string &in, const std::string &out,
                        const std::vector<int64_t> &shape) {
  std::vector<int64_t> t = {shape[0], shape[2], shape[1]};
  return "  %" + out + "_e = tensor.empty() : " + dims(t) + "\n  %" + out +
         " = linalg.transpose ins(%" + in + " : " + dims(shape) + ") outs(%" +
         out + "_e : " + dims(t) + ") permutation = [0, 2, 1]\n";
}

TEST_F(MambaOpsGolden, SelectiveScanPrefill) {
  for (int i = 0; i < 4; ++i) {
    std::string p = "scan" + std::to_string(i) + ".";
    bool full = i < 3;
    HostTensor u = load(p + "u"), delta = load(p + "delta"), A = load(p + "A"),
               Bm = load(p + "B"), Cm = load(p + "C");
    int64_t b = u.shape[0], d = u.shape[1], l = u.shape[2], n = A.shape[1];
    std::vector<HostTensor> inputs = {u, delta, A, Bm, Cm};
    std::string sig = "%u: " + dims(u.shape) + ", %dl: " + dims(delta.shape) +
                      ", %A: " + dims(A.shape) + ", %B: " + dims(Bm.shape) +
                      ", %C: " + dims(Cm.shape);
    std::string body = transpose12("u", "ut", u.shape) +
                       transpose12("dl", "dlt", delta.shape) +
                       transpose12("B", "Bt", Bm.shape) +
                       transpose12("C", "Ct", Cm.shape);
    std::string opt, optTypes, attrs;
    if (full) {
      HostTensor D = load(p + "D"), z = load(p + "z"), bias = load(p + "delta_bias");
      inputs.push_back(D);
      inputs.push_back(z);
      inputs.push_back(bias);
      sig += ", %D: " + dims(D.shape) + ", %z: " + dims(z.shape) +
             ", %bias: " + dims(bias.shape);
      body += transpose12("z", "zt", z.shape);
      opt = " D(%D) z(%zt) delta_bias(%bias)";
      optTypes = ", " + dims(D.shape) + ", " + dims({b, l, d}) + ", " +
                 dims(bias.shape);
      attrs = " {delta_softplus}";
    }
    std::string src =
        "func.func @scan(" + sig + ") -> (" + dims({b, d, l}) + ", " +
        dims({b, d, n}) + ") attributes {llvm.emit_c_interface} {\n" + body +
        "  %y, %s = chimera.selective_scan %ut, %dlt, %A, %Bt, %Ct" + opt +
        attrs + " : (" + dims({b, l, d}) + ", " + dims({b, l, d}) + ", " +
        dims(A.shape) + ", " + dims({b, l, n}) + ", " + dims({b, l, n}) +
        optTypes + ") -> (" + dims({b, l, d}) + ", " + dims({b, d, n}) + ")\n" +
        transpose12("y", "yt", {b, l, d}) + "  return %yt, %s : " +
        dims({b, d, l}) + ", " + dims({b, d, n}) + "\n}\n";
    std::vector<HostTensor> outputs = {HostTensor::zeros({b, d, l}),
                                       HostTensor::zeros({b, d, n})};
    llvm::Error err = runReference(src, "scan", inputs, outputs);
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err)) << "\n" << src;
    expectClose(outputs[0], load(p + "out"), p + "out");
    expectClose(outputs[1], load(p + "last_state"), p + "last_state");
  }
}

TEST_F(MambaOpsGolden, SelectiveScanDecodeStep) {
  for (int i = 0; i < 2; ++i) {
    std::string p = "step" + std::to_string(i) + ".";
    HostTensor state = load(p + "state_in"), x = load(p + "x"), dt = load(p + "dt"),
               A = load(p + "A"), Bm = load(p + "B"), Cm = load(p + "C"),
               D = load(p + "D"), z = load(p + "z"), bias = load(p + "dt_bias");
    int64_t b = x.shape[0], d = x.shape[1], n = A.shape[1];
    // One token: [B, D] -> [B, 1, D] is a pure reshape.
    auto expand = [&](const std::string &v, const HostTensor &t) {
      return "  %" + v + "3 = tensor.expand_shape %" + v + " [[0], [1, 2]] output_shape [" +
             std::to_string(t.shape[0]) + ", 1, " + std::to_string(t.shape[1]) +
             "] : " + dims(t.shape) + " into " +
             dims({t.shape[0], 1, t.shape[1]}) + "\n";
    };
    std::string src =
        "func.func @step(%h: " + dims(state.shape) + ", %x: " + dims(x.shape) +
        ", %dt: " + dims(dt.shape) + ", %A: " + dims(A.shape) + ", %B: " +
        dims(Bm.shape) + ", %C: " + dims(Cm.shape) + ", %D: " + dims(D.shape) +
        ", %z: " + dims(z.shape) + ", %bias: " + dims(bias.shape) + ") -> (" +
        dims({b, d}) + ", " + dims({b, d, n}) +
        ") attributes {llvm.emit_c_interface} {\n" + expand("x", x) +
        expand("dt", dt) + expand("B", Bm) + expand("C", Cm) + expand("z", z) +
        "  %y, %s = chimera.selective_scan %x3, %dt3, %A, %B3, %C3 D(%D) z(%z3) "
        "delta_bias(%bias) init(%h) {delta_softplus} : (" +
        dims({b, 1, d}) + ", " + dims({b, 1, d}) + ", " + dims(A.shape) + ", " +
        dims({b, 1, n}) + ", " + dims({b, 1, n}) + ", " + dims(D.shape) + ", " +
        dims({b, 1, d}) + ", " + dims(bias.shape) + ", " + dims(state.shape) +
        ") -> (" + dims({b, 1, d}) + ", " + dims({b, d, n}) + ")\n" +
        "  %y2 = tensor.collapse_shape %y [[0], [1, 2]] : " + dims({b, 1, d}) +
        " into " + dims({b, d}) + "\n  return %y2, %s : " + dims({b, d}) + ", " +
        dims({b, d, n}) + "\n}\n";
    std::vector<HostTensor> inputs = {state, x, dt, A, Bm, Cm, D, z, bias};
    std::vector<HostTensor> outputs = {HostTensor::zeros({b, d}),
                                       HostTensor::zeros({b, d, n})};
    llvm::Error err = runReference(src, "step", inputs, outputs);
    ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err)) << "\n" << src;
    expectClose(outputs[0], load(p + "out"), p + "out");
    expectClose(outputs[1], load(p + "state_out"), p + "state_out");
  }
}

TEST_F(MambaOpsGolden, CausalConv1d) {
  HostTensor x = load("conv0.x"), w = load("conv0.weight"), bias = load("conv0.bias");
  int64_t b = x.shape[0], d = x.shape[1], l = x.shape[2], k = w.shape[1];
  std::string src =
      "func.func @conv(%x: " + dims(x.shape) + ", %w: " + dims(w.shape) +
      ", %bias: " + dims(bias.shape) + ") -> " + dims(x.shape) +
      " attributes {llvm.emit_c_interface} {\n" + transpose12("x", "xt", x.shape) +
      "  %y, %s = chimera.causal_conv1d %xt, %w bias(%bias) {activation = "
      "#chimera<activation silu>} : (" +
      dims({b, l, d}) + ", " + dims(w.shape) + ", " + dims(bias.shape) +
      ") -> (" + dims({b, l, d}) + ", " + dims({b, k - 1, d}) + ")\n" +
      transpose12("y", "yt", {b, l, d}) + "  return %yt : " + dims(x.shape) +
      "\n}\n";
  std::vector<HostTensor> inputs = {x, w, bias};
  std::vector<HostTensor> outputs = {HostTensor::zeros(x.shape)};
  llvm::Error err = runReference(src, "conv", inputs, outputs);
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err)) << "\n" << src;
  expectClose(outputs[0], load("conv0.out"), "conv0.out");
}

} // namespace

namespace {

/// `t` ([B, D, L]) with `extra` steps of junk appended along L.
HostTensor padTime(const HostTensor &t, int64_t extra) {
  int64_t b = t.shape[0], d = t.shape[1], l = t.shape[2];
  HostTensor out = HostTensor::zeros({b, d, l + extra});
  for (int64_t i = 0; i < b * d; ++i)
    for (int64_t s = 0; s < l + extra; ++s)
      out.data[i * (l + extra) + s] =
          s < l ? t.data[i * l + s] : 3.0f + 0.5f * float((i + s) % 7);
  return out;
}

/// A right-padded batch: junk steps past `lengths` must leave the final
/// scan state and the conv state where the golden (unpadded) run left them.
TEST_F(MambaOpsGolden, SelectiveScanStopsAtRowLengths) {
  const std::string p = "scan0.";
  const int64_t pad = 5;
  HostTensor u = load(p + "u"), delta = load(p + "delta"), A = load(p + "A"),
             Bm = load(p + "B"), Cm = load(p + "C"), D = load(p + "D"),
             z = load(p + "z"), bias = load(p + "delta_bias");
  int64_t b = u.shape[0], d = u.shape[1], l = u.shape[2], n = A.shape[1];
  int64_t lp = l + pad;
  std::vector<HostTensor> inputs = {padTime(u, pad), padTime(delta, pad), A,
                                    padTime(Bm, pad), padTime(Cm, pad), D,
                                    padTime(z, pad), bias};
  std::string src =
      "func.func @scan(%u: " + dims({b, d, lp}) + ", %dl: " + dims({b, d, lp}) +
      ", %A: " + dims(A.shape) + ", %B: " + dims({b, n, lp}) + ", %C: " +
      dims({b, n, lp}) + ", %D: " + dims(D.shape) + ", %z: " + dims({b, d, lp}) +
      ", %bias: " + dims(bias.shape) + ") -> " + dims({b, d, n}) +
      " attributes {llvm.emit_c_interface} {\n" +
      transpose12("u", "ut", {b, d, lp}) + transpose12("dl", "dlt", {b, d, lp}) +
      transpose12("B", "Bt", {b, n, lp}) + transpose12("C", "Ct", {b, n, lp}) +
      transpose12("z", "zt", {b, d, lp}) + "  %len = arith.constant dense<" +
      std::to_string(l) + "> : tensor<" + std::to_string(b) + "xi64>\n" +
      "  %y, %s = chimera.selective_scan %ut, %dlt, %A, %Bt, %Ct D(%D) z(%zt) "
      "delta_bias(%bias) lengths(%len) {delta_softplus} : (" +
      dims({b, lp, d}) + ", " + dims({b, lp, d}) + ", " + dims(A.shape) + ", " +
      dims({b, lp, n}) + ", " + dims({b, lp, n}) + ", " + dims(D.shape) + ", " +
      dims({b, lp, d}) + ", " + dims(bias.shape) + ", tensor<" +
      std::to_string(b) + "xi64>) -> (" + dims({b, lp, d}) + ", " +
      dims({b, d, n}) + ")\n  return %s : " + dims({b, d, n}) + "\n}\n";
  std::vector<HostTensor> outputs = {HostTensor::zeros({b, d, n})};
  llvm::Error err = runReference(src, "scan", inputs, outputs);
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err)) << "\n" << src;
  expectClose(outputs[0], load(p + "last_state"), p + "last_state (padded)");
}

TEST_F(MambaOpsGolden, CausalConv1dStateStopsAtRowLengths) {
  const int64_t pad = 4;
  HostTensor x = load("conv0.x"), w = load("conv0.weight"), bias = load("conv0.bias");
  int64_t b = x.shape[0], d = x.shape[1], l = x.shape[2], k = w.shape[1];
  int64_t lp = l + pad;
  std::string src =
      "func.func @conv(%x: " + dims({b, d, lp}) + ", %w: " + dims(w.shape) +
      ", %bias: " + dims(bias.shape) + ") -> " + dims({b, k - 1, d}) +
      " attributes {llvm.emit_c_interface} {\n" +
      transpose12("x", "xt", {b, d, lp}) + "  %len = arith.constant dense<" +
      std::to_string(l) + "> : tensor<" + std::to_string(b) + "xi64>\n" +
      "  %y, %s = chimera.causal_conv1d %xt, %w bias(%bias) lengths(%len) "
      "{activation = #chimera<activation silu>} : (" +
      dims({b, lp, d}) + ", " + dims(w.shape) + ", " + dims(bias.shape) +
      ", tensor<" + std::to_string(b) + "xi64>) -> (" + dims({b, lp, d}) + ", " +
      dims({b, k - 1, d}) + ")\n  return %s : " + dims({b, k - 1, d}) + "\n}\n";
  std::vector<HostTensor> inputs = {padTime(x, pad), w, bias};
  std::vector<HostTensor> outputs = {HostTensor::zeros({b, k - 1, d})};
  llvm::Error err = runReference(src, "conv", inputs, outputs);
  ASSERT_FALSE(bool(err)) << llvm::toString(std::move(err)) << "\n" << src;
  // The conv state is, by definition, the last k-1 inputs of the unpadded
  // golden input, token-major.
  HostTensor want = HostTensor::zeros({b, k - 1, d});
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t i = 0; i < k - 1; ++i)
      for (int64_t c = 0; c < d; ++c)
        want.data[(bi * (k - 1) + i) * d + c] =
            x.data[(bi * d + c) * l + (l - (k - 1) + i)];
  expectClose(outputs[0], want, "conv0 state (padded)");
}

} // namespace
