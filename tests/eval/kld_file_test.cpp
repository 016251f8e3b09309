// Base-logits files: round trip of synthetic distributions (exact top-k,
// fp16 rest) and clear errors for every kind of bad file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "common/shared_data.h"
#include "core/error.h"
#include "eval/kld.h"
#include "eval/kld_file.h"
#include "eval/perplexity.h"

namespace lowbit::eval {
namespace {

constexpr int64_t kVocab = 300;

struct Fixture {
  std::vector<int32_t> text;
  ChunkPlan plan;
  std::vector<std::vector<float>> chunks;  // per chunk: n_scored x vocab log-probs
};

Fixture make_fixture(uint64_t seed) {
  Fixture f;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> tok(0, kVocab - 1);
  for (int i = 0; i < 100; ++i) f.text.push_back(tok(rng));
  f.plan = make_chunk_plan(PplConvention::SecondHalf, 16, int64_t(f.text.size()), 0, -1, false);
  std::normal_distribution<float> logit(0.0f, 3.0f);
  for (int64_t k = 0; k < f.plan.n_chunks; ++k) {
    std::vector<float> lp(size_t(f.plan.n_scored * kVocab));
    std::vector<float> logits(kVocab);
    for (int64_t j = 0; j < f.plan.n_scored; ++j) {
      for (auto& x : logits) x = logit(rng);
      log_softmax(logits.data(), kVocab, lp.data() + j * kVocab);
    }
    f.chunks.push_back(std::move(lp));
  }
  return f;
}

std::string write_file(const test::TempDir& dir, const Fixture& f, const std::string& name = "base.lbkld") {
  const std::string path = dir.file(name);
  ModelSizeInfo info;
  info.path = "synthetic-base";
  info.file_bytes = 1234;
  info.parameters = 1000;
  info.tensor_bytes = 2000;
  BaseLogitsWriter w(path, f.plan, f.text, kVocab, info, {});
  for (int64_t k = 0; k < f.plan.n_chunks; ++k) w.add_chunk(k, f.chunks[size_t(k)].data());
  w.commit();
  return path;
}

void expect_error(const std::function<void()>& fn, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

void patch_byte(const std::string& path, uint64_t offset, uint8_t xor_mask) {
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(std::streamoff(offset));
  char c;
  io.get(c);
  io.seekp(std::streamoff(offset));
  io.put(char(c ^ char(xor_mask)));
}

TEST(BaseLogitsFile, RoundTrip) {
  test::TempDir dir;
  const Fixture f = make_fixture(1);
  const std::string path = write_file(dir, f);
  const uint64_t expected_size = 512 + uint64_t(f.plan.n_chunks) * 16 * 4 +
                                 uint64_t(f.plan.n_chunks) * (uint64_t(f.plan.n_scored) * (4 + 32 * 8 + kVocab * 2) + 8);
  EXPECT_EQ(std::filesystem::file_size(path), expected_size);

  BaseLogitsReader r(path);
  EXPECT_EQ(r.n_vocab(), kVocab);
  EXPECT_EQ(r.n_chunks(), f.plan.n_chunks);
  EXPECT_EQ(r.base_info().path, "synthetic-base");
  EXPECT_EQ(r.base_info().file_bytes, 1234u);
  r.check_compatible(f.plan, f.text, kVocab);
  std::vector<float> lp;
  double max_kld = 0;
  for (int64_t k = 0; k < f.plan.n_chunks; ++k) {
    r.read_chunk(k, lp);
    ASSERT_EQ(lp.size(), f.chunks[size_t(k)].size());
    for (int64_t j = 0; j < f.plan.n_scored; ++j) {
      const float* want = f.chunks[size_t(k)].data() + j * kVocab;
      const float* got = lp.data() + j * kVocab;
      double sum = 0;
      for (int64_t i = 0; i < kVocab; ++i) {
        // fp16 rounding: relative error <= 2^-11; the tail renormalisation adds a little.
        EXPECT_NEAR(got[i], want[i], std::abs(want[i]) * 0.0005 + 1e-3);
        sum += std::exp(double(got[i]));
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
      // The top token and the token that follows are stored exactly (up to
      // the renormalisation).
      const int64_t top = std::max_element(want, want + kVocab) - want;
      EXPECT_NEAR(got[top], want[top], 1e-5);
      const int32_t next = f.text[size_t(k * 16 + f.plan.first_scored + j)];
      EXPECT_NEAR(got[next], want[next], 1e-5);
      max_kld = std::max(max_kld, compare_distributions(want, got, kVocab, 0).kld);
    }
  }
  EXPECT_LT(max_kld, 1e-5);
}

TEST(BaseLogitsFile, PrefixOfChunksIsAccepted) {
  test::TempDir dir;
  const Fixture f = make_fixture(2);
  const std::string path = write_file(dir, f);
  BaseLogitsReader r(path);
  ChunkPlan fewer = make_chunk_plan(PplConvention::SecondHalf, 16, int64_t(f.text.size()), 2, -1, false);
  r.check_compatible(fewer, f.text, kVocab);
}

TEST(BaseLogitsFile, MismatchesAreReported) {
  test::TempDir dir;
  const Fixture f = make_fixture(3);
  const std::string path = write_file(dir, f);
  BaseLogitsReader r(path);
  expect_error([&] { r.check_compatible(f.plan, f.text, kVocab + 1); }, "vocabulary of 300 tokens");
  std::vector<int32_t> other = f.text;
  other[40] = (other[40] + 1) % kVocab;  // in chunk 2
  expect_error([&] { r.check_compatible(f.plan, other, kVocab); }, "chunk 2 holds other tokens");
  ChunkPlan bos = make_chunk_plan(PplConvention::BosAll, 16, int64_t(f.text.size()), 0, 0, false);
  expect_error([&] { r.check_compatible(bos, f.text, kVocab); }, "made with second_half");
  ChunkPlan wider = make_chunk_plan(PplConvention::SecondHalf, 32, int64_t(f.text.size()), 0, -1, false);
  expect_error([&] { r.check_compatible(wider, f.text, kVocab); }, "ctx 16");
}

TEST(BaseLogitsFile, CorruptFilesAreRejected) {
  test::TempDir dir;
  const Fixture f = make_fixture(4);
  const std::string good = write_file(dir, f);
  const uint64_t size = std::filesystem::file_size(good);
  auto copy = [&](const std::string& name) {
    const std::string p = dir.file(name);
    std::filesystem::copy_file(good, p);
    return p;
  };

  const std::string truncated = copy("truncated");
  std::filesystem::resize_file(truncated, size - 10);
  expect_error([&] { BaseLogitsReader r(truncated); }, "truncated or corrupt");

  const std::string tiny = copy("tiny");
  std::filesystem::resize_file(tiny, 100);
  expect_error([&] { BaseLogitsReader r(tiny); }, "not a lowbit base-logits file");

  const std::string magic = copy("magic");
  patch_byte(magic, 0, 0x20);
  expect_error([&] { BaseLogitsReader r(magic); }, "bad magic");

  const std::string header = copy("header");
  patch_byte(header, 20, 0x01);  // ctx field
  expect_error([&] { BaseLogitsReader r(header); }, "header checksum");

  const std::string body = copy("body");
  patch_byte(body, size - 100, 0x10);  // inside the last chunk
  BaseLogitsReader r(body);
  std::vector<float> lp;
  r.read_chunk(0, lp);  // intact
  expect_error([&] { r.read_chunk(f.plan.n_chunks - 1, lp); }, "checksum mismatch");
  expect_error([&] { r.check_compatible(f.plan, f.text, kVocab); }, "chunk 5 checksum mismatch");

  const std::string missing = dir.file("does-not-exist");
  EXPECT_THROW(BaseLogitsReader r2(missing), Error);
}

TEST(BaseLogitsFile, IncompleteWriteLeavesNoFile) {
  test::TempDir dir;
  const Fixture f = make_fixture(5);
  const std::string path = dir.file("partial.lbkld");
  {
    BaseLogitsWriter w(path, f.plan, f.text, kVocab, ModelSizeInfo{}, {});
    w.add_chunk(0, f.chunks[0].data());
    EXPECT_THROW(w.add_chunk(2, f.chunks[2].data()), Error);  // out of order
    EXPECT_THROW(w.commit(), Error);                            // not all chunks
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace lowbit::eval
