//===- SafeTensorsTest.cpp - the safetensors reader on good and bad files -===//
#include "frontends/hf/SafeTensors.h"

#include "gtest/gtest.h"

#include <cstring>

using chimera::hf::DType;
using chimera::hf::SafeTensorsFile;

namespace {

/// A file image: little-endian header length, header, data.
std::string image(const std::string &header, size_t dataBytes) {
  std::string s(8, '\0');
  uint64_t n = header.size();
  std::memcpy(&s[0], &n, 8);
  return s + header + std::string(dataBytes, '\0');
}

std::string openError(const std::string &bytes) {
  auto file = SafeTensorsFile::fromBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "t"), "t.safetensors");
  if (file)
    return "";
  return llvm::toString(file.takeError());
}

TEST(SafeTensors, ReadsTheMambaOpsFixture) {
  auto file = SafeTensorsFile::open(CHIMERA_TEST_FIXTURES "/mamba/ops.safetensors");
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  const auto *u = (*file)->find("scan0.u");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->dtype, DType::F32);
  EXPECT_EQ(u->shape, (llvm::SmallVector<int64_t, 4>{2, 4, 16}));
}

TEST(SafeTensors, AcceptsAWellFormedFileAndSkipsMetadata) {
  std::string h = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})";
  EXPECT_EQ(openError(image(h, 4)), "");
}

TEST(SafeTensors, ReadsEveryFloatDtypeAsF32) {
  // 1.5 as F64, F32, F16 (0x3E00) and BF16 (0x3FC0).
  std::string h = R"({"d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                  R"("f":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                  R"("h":{"dtype":"F16","shape":[1],"data_offsets":[12,14]},)"
                  R"("b":{"dtype":"BF16","shape":[1],"data_offsets":[14,16]}})";
  std::string bytes = image(h, 0);
  double d = 1.5;
  float f = 1.5f;
  bytes.append(reinterpret_cast<const char *>(&d), 8);
  bytes.append(reinterpret_cast<const char *>(&f), 4);
  bytes += std::string("\x00\x3e", 2) + std::string("\xc0\x3f", 2);
  auto file = SafeTensorsFile::fromBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "t"), "t.safetensors");
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  for (const char *name : {"d", "f", "h", "b"}) {
    auto values = (*file)->readF32(name);
    ASSERT_TRUE(bool(values)) << llvm::toString(values.takeError());
    EXPECT_EQ((*values)[0], 1.5f) << name;
  }
  auto wrong = (*file)->readI64("f");
  ASSERT_FALSE(bool(wrong));
  EXPECT_NE(llvm::toString(wrong.takeError()).find("tensor 'f' has dtype F32"),
            std::string::npos);
}

struct Malformed {
  const char *what;
  std::string bytes;
  const char *expected;
};

TEST(SafeTensors, RejectsEachMalformation) {
  const Malformed cases[] = {
      {"short file", std::string(5, '\0'), "too short"},
      {"header past end", image("{}", 0).substr(0, 8) + "{", "exceeds the file size"},
      {"bad json", image("{\"a\":", 0), "not valid JSON"},
      {"not an object", image("[1,2]", 0), "not a JSON object"},
      {"unknown dtype",
       image(R"({"a":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", 4),
       "unknown dtype 'F12'"},
      {"missing shape", image(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4),
       "missing array field 'shape'"},
      {"negative dim",
       image(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
       "non-negative"},
      {"span mismatch",
       image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 8),
       "needs 8"},
      {"offsets past data",
       image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
       "past the data section"},
      {"reversed offsets",
       image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4),
       "begin <= end"},
      {"overlap",
       image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             8),
       "overlap"},
      {"duplicate",
       image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             8),
       "duplicate"},
      {"entry not an object", image(R"({"a":[1,2]})", 0), "entry is not an object"},
      {"missing dtype", image(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4),
       "missing string field 'dtype'"},
      {"dtype not a string",
       image(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 4),
       "missing string field 'dtype'"},
      {"fractional dim",
       image(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
       "non-negative integers"},
      {"offsets of one entry",
       image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
       "must be an array [begin, end]"},
      {"offsets not integers",
       image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}})", 4),
       "must be integers"},
      {"header length beyond 100 MB",
       [] {
         std::string s(8, '\0');
         uint64_t n = 200ull << 20;
         std::memcpy(&s[0], &n, 8);
         return s + "{}";
       }(),
       "exceeds the file size"},
      {"huge shape",
       image(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
             8),
       "overflows"},
  };
  for (const Malformed &c : cases) {
    std::string err = openError(c.bytes);
    EXPECT_NE(err.find(c.expected), std::string::npos)
        << c.what << ": got '" << err << "'";
    EXPECT_NE(err.find("t.safetensors"), std::string::npos)
        << c.what << ": the error must name the file";
  }
}

} // namespace
