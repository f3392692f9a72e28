//===- Outputs.cpp - files chimera-run writes -----------------------------===//
#include "tools/chimera-run/Outputs.h"

#include "tools/common/RuntimeApi.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace chimera::tools;

namespace {

/// Writes `bytes` to `path` through a temporary file and a rename.
void writeAtomically(const std::string &path, const std::string &bytes) {
  std::string tmp = path + ".tmp";
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f)
    die("%s: cannot write: %s", path.c_str(), std::strerror(errno));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    die("%s: write failed: %s", path.c_str(), std::strerror(errno));
  }
}

uint32_t crc32(const unsigned char *p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void putBE32(std::string &out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8)
    out.push_back(char((v >> s) & 0xFF));
}

void chunk(std::string &png, const char *type, const std::string &data) {
  putBE32(png, uint32_t(data.size()));
  std::string body = std::string(type, 4) + data;
  png += body;
  putBE32(png, crc32(reinterpret_cast<const unsigned char *>(body.data()),
                     body.size()));
}

/// A zlib stream of stored (uncompressed) deflate blocks: no dependency,
/// and images of this size are small.
std::string zlibStored(const std::string &raw) {
  std::string z = "\x78\x01";
  size_t pos = 0;
  do {
    size_t n = std::min<size_t>(65535, raw.size() - pos);
    bool last = pos + n == raw.size();
    z.push_back(char(last ? 1 : 0));
    z.push_back(char(n & 0xFF));
    z.push_back(char(n >> 8));
    z.push_back(char(~n & 0xFF));
    z.push_back(char((~n >> 8) & 0xFF));
    z.append(raw, pos, n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  putBE32(z, (b << 16) | a);
  return z;
}

} // namespace

void chimera::tools::writeSafetensors(const std::string &path,
                                      std::vector<DumpTensor> tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const DumpTensor &a, const DumpTensor &b) { return a.name < b.name; });
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  size_t offset = 0;
  for (const DumpTensor &t : tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + t.bytes) + "]}";
    offset += t.bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string file;
  uint64_t n = header.size();
  file.append(reinterpret_cast<const char *>(&n), 8);
  file += header;
  for (const DumpTensor &t : tensors)
    file.append(static_cast<const char *>(t.data), t.bytes);
  writeAtomically(path, file);
}

void chimera::tools::writePngGrid(const std::string &path, const float *images,
                                  int64_t count, int64_t channels, int64_t h,
                                  int64_t w) {
  if (channels != 1 && channels != 3)
    die("%s: a PNG holds 1 or 3 channels, the images have %lld", path.c_str(),
        (long long)channels);
  int64_t width = count * w;
  std::string raw;
  raw.reserve(size_t(h * (1 + width * channels)));
  for (int64_t y = 0; y < h; ++y) {
    raw.push_back('\0'); // filter: none
    for (int64_t i = 0; i < count; ++i)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t c = 0; c < channels; ++c) {
          float v = images[((i * channels + c) * h + y) * w + x];
          // torchvision's save_image: x * 255 + 0.5, clamped.
          float q = std::clamp(v * 255.0f + 0.5f, 0.0f, 255.0f);
          raw.push_back(char(uint8_t(q)));
        }
  }
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  putBE32(ihdr, uint32_t(width));
  putBE32(ihdr, uint32_t(h));
  ihdr += std::string{char(8), char(channels == 3 ? 2 : 0), 0, 0, 0};
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", zlibStored(raw));
  chunk(png, "IEND", "");
  writeAtomically(path, png);
}
