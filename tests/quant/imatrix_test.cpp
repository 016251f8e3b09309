// The legacy imatrix reader: the real file from llama-imatrix (values checked
// against a byte-level decode done here), and malformed inputs that must be
// refused with a clear message rather than read past the end.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/shared_data.h"
#include "core/error.h"
#include "quant/imatrix.h"

namespace lowbit::quant {
namespace {

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int32_t i32_at(const std::vector<uint8_t>& b, size_t at) {
  int32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

TEST_SHARED(Imatrix, ReadsLlamaCppFile) {
  const std::string path = SHARED_FILE("golden/imatrix/gutenberg23m.imatrix.dat");
  const Imatrix m = read_imatrix(path);
  // gutenberg23m: 6 layers x 7 matrices.
  EXPECT_EQ(m.entries.size(), 42u);
  EXPECT_EQ(m.chunk_count, 282);
  EXPECT_EQ(m.dataset, "text/calibration_gutenberg.txt");
  ASSERT_NE(m.find("blk.0.attn_q.weight"), nullptr);
  EXPECT_EQ(m.find("blk.0.attn_q.weight")->size(), 512u);
  EXPECT_EQ(m.find("blk.0.ffn_down.weight")->size(), 1536u);
  EXPECT_EQ(m.find("output.weight"), nullptr);  // llama-imatrix skips the output matrix by default

  // Decode the first entry by hand: the reader must return value / call count.
  const std::vector<uint8_t> b = file_bytes(path);
  const int32_t name_len = i32_at(b, 4);
  const std::string name(reinterpret_cast<const char*>(b.data() + 8), size_t(name_len));
  const size_t at = 8 + size_t(name_len);
  const int32_t calls = i32_at(b, at), count = i32_at(b, at + 4);
  const std::vector<float>* v = m.find(name);
  ASSERT_NE(v, nullptr) << name;
  ASSERT_EQ(int32_t(v->size()), count);
  EXPECT_EQ(m.call_counts.at(name), calls);
  for (int32_t c = 0; c < count; ++c) {
    float raw;
    std::memcpy(&raw, b.data() + at + 8 + 4 * size_t(c), 4);
    EXPECT_EQ((*v)[size_t(c)], raw / float(calls)) << c;
  }
}

std::vector<uint8_t> tiny_file() {
  std::vector<uint8_t> b;
  auto put = [&](int32_t v) {
    uint8_t t[4];
    std::memcpy(t, &v, 4);
    b.insert(b.end(), t, t + 4);
  };
  auto put_f = [&](float v) {
    uint8_t t[4];
    std::memcpy(t, &v, 4);
    b.insert(b.end(), t, t + 4);
  };
  put(1);
  put(3);
  b.insert(b.end(), {'a', 'b', 'c'});
  put(4);  // calls
  put(2);  // values
  put_f(8.f);
  put_f(2.f);
  put(10);  // chunks
  put(2);
  b.insert(b.end(), {'d', 's'});
  return b;
}

TEST(Imatrix, ParsesMinimalFile) {
  const std::vector<uint8_t> b = tiny_file();
  const Imatrix m = parse_imatrix("tiny", b.data(), b.size());
  ASSERT_NE(m.find("abc"), nullptr);
  EXPECT_EQ(*m.find("abc"), (std::vector<float>{2.f, 0.5f}));
  EXPECT_EQ(m.chunk_count, 10);
  EXPECT_EQ(m.dataset, "ds");
  // without the optional trailer
  const Imatrix m2 = parse_imatrix("tiny", b.data(), b.size() - 10);
  EXPECT_EQ(m2.chunk_count, -1);
}

void expect_error(const std::vector<uint8_t>& b, const std::string& needle) {
  try {
    parse_imatrix("bad.dat", b.data(), b.size());
    ADD_FAILURE() << "accepted a bad file (expected: " << needle << ")";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.dat"), std::string::npos) << e.what();
  }
}

TEST(Imatrix, RefusesMalformedFiles) {
  const std::vector<uint8_t> good = tiny_file();
  // every truncation inside the entries fails cleanly
  for (size_t cut = 0; cut < good.size() - 10; ++cut) {
    std::vector<uint8_t> b(good.begin(), good.begin() + long(cut));
    EXPECT_THROW(parse_imatrix("bad.dat", b.data(), b.size()), Error) << cut;
  }
  auto patched = [&](size_t at, int32_t v) {
    std::vector<uint8_t> b = good;
    std::memcpy(b.data() + at, &v, 4);
    return b;
  };
  expect_error(patched(0, 1000000), "entry count");
  expect_error(patched(0, -1), "negative entry count");
  expect_error(patched(0, 0), "no entries");
  expect_error(patched(4, 0x7fffffff), "tensor name length");
  expect_error(patched(11, -5), "negative call count");
  expect_error(patched(15, 1 << 30), "value count");
  expect_error(patched(15, 0), "no values");
  std::vector<uint8_t> neg = good;
  const float minus = -1.f;
  std::memcpy(neg.data() + 19, &minus, 4);
  expect_error(neg, "column 0");
  std::vector<uint8_t> extra = good;
  extra.push_back(0);
  expect_error(extra, "unexpected bytes");
  EXPECT_THROW(read_imatrix("/nonexistent/imatrix.dat"), Error);
}

}  // namespace
}  // namespace lowbit::quant
