// Damaged GGUF files through the real CLI: `lowbit inspect`, `convert` and
// `quantize` on copies of stories260K.gguf with one thing broken each
// (truncations all through the header and into the data, wrong magic and
// version, counts and lengths near 2^64, offsets past the end, overlapping or
// misaligned, dimensions whose product overflows, unknown types, NaN / Inf
// weights, ...). Each run must end with exit code 1 or 2, within the time
// and memory limits, with an error naming the file, and leave nothing in the
// output folder. Where the damage leaves a file that is still well formed
// (a non-UTF-8 key, a renamed architecture) lowbit may succeed, and then its
// output must be a complete GGUF.
#include <sys/stat.h>

#include <cmath>
#include <functional>
#include <limits>

#include "bad_input/guarded_run.h"
#include "io/gguf.h"

namespace lowbit::test {
namespace {

enum class Expect { Refuse, MayPass };

struct Damage {
  std::string name;
  std::function<void(std::string&, const GgufLayout&)> apply;
  Expect expect = Expect::Refuse;
  bool quantize_must_refuse = false;  // e.g. NaN weights: only quantize must refuse
};

class GgufDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      source_ = SHARED_FILE("models/stories260K.gguf");
    } catch (const SkipShared& s) {
      if (running_in_ci()) FAIL() << "CI=true but the shared test data is missing: " << s.path;
      GTEST_SKIP() << "needs ../shared (not found: " << s.path << ")";
    }
    original_ = read_bytes(source_);
    layout_ = walk_gguf(original_);
    ASSERT_EQ(layout_.tensors.size(), 48u);
    out_dir_ = tmp_.file("out");
    fs::create_directories(out_dir_);
  }

  // Runs the three commands on `bytes` saved as <name>.gguf and checks each.
  void check(const std::string& name, const std::string& bytes, Expect expect, bool quantize_must_refuse = false) {
    const std::string input = tmp_.file(name + ".gguf");
    write_bytes(input, bytes);
    const std::string out = out_dir_ + "/out.gguf";
    const std::pair<std::string, std::string> commands[] = {
        {"inspect", "inspect " + input},
        {"inspect --json", "inspect --json " + input},
        {"convert", "convert -q " + input + " -o " + out},
        {"quantize", "quantize -q " + input + " -o " + out + " --preset Q4_0"},
    };
    for (const auto& [cmd, args] : commands) {
      GuardedRun r = run_guarded(args, tmp_.path());
      const std::string what = name + " / " + cmd;
      const bool must_refuse = expect == Expect::Refuse || (quantize_must_refuse && cmd == "quantize");
      if (must_refuse || r.exit_code != 0) {
        expect_clean_refusal(r, input, out_dir_, what);
      } else {
        // Accepted: the output (if the command writes one) must be whole.
        if (cmd == "convert" || cmd == "quantize") {
          EXPECT_EQ(folder_entries(out_dir_), std::vector<std::string>{"out.gguf"}) << what;
          EXPECT_NO_THROW(GgufReader{out}) << what;
        }
      }
      fs::remove(out);
    }
    fs::remove(input);
  }

  TempDir tmp_;
  std::string source_, original_, out_dir_;
  GgufLayout layout_;
};

TEST_F(GgufDamage, TruncatedThroughoutTheHeaderAndData) {
  // Every 1/50th of the header region, then a few points in the data.
  std::vector<uint64_t> cuts;
  for (int i = 0; i < 50; ++i) cuts.push_back(layout_.data_offset * uint64_t(i) / 50);
  for (uint64_t c : {layout_.header_end, layout_.data_offset, layout_.data_offset + 1,
                     (layout_.data_offset + original_.size()) / 2, uint64_t(original_.size()) - 1})
    cuts.push_back(c);
  for (uint64_t cut : cuts) check("truncated-at-" + std::to_string(cut), original_.substr(0, cut), Expect::Refuse);
}

TEST_F(GgufDamage, HeaderFields) {
  const auto& L = layout_;
  const auto& tokens = *L.find_kv("tokenizer.ggml.tokens");
  const auto& t0 = L.tensors[0];
  const auto& t1 = L.tensors[1];
  const auto& last = L.tensors.back();
  // The last matrix (2-D tensor), for damage to its second dimension.
  const GgufLayout::Tensor* mat_ptr = nullptr;
  for (const auto& t : L.tensors)
    if (t.dims.size() == 2) mat_ptr = &t;
  ASSERT_NE(mat_ptr, nullptr);
  const auto& mat = *mat_ptr;
  const uint64_t data_size = original_.size() - L.data_offset;
  const uint64_t u64max = std::numeric_limits<uint64_t>::max();
  std::vector<Damage> cases = {
      {"wrong-magic", [](std::string& b, auto&) { b[3] = 'X'; }},
      {"version-1", [](std::string& b, auto&) { poke<uint32_t>(b, 4, 1); }},
      {"version-4", [](std::string& b, auto&) { poke<uint32_t>(b, 4, 4); }},
      {"version-big-endian", [](std::string& b, auto&) { poke<uint32_t>(b, 4, 0x03000000); }},
      {"tensor-count-max", [&](std::string& b, auto&) { poke<uint64_t>(b, 8, u64max); }},
      {"tensor-count-2^63", [&](std::string& b, auto&) { poke<uint64_t>(b, 8, uint64_t(1) << 63); }},
      {"tensor-count-plus-1", [&](std::string& b, auto&) { poke<uint64_t>(b, 8, L.n_tensors + 1); }},
      {"kv-count-max", [&](std::string& b, auto&) { poke<uint64_t>(b, 16, u64max); }},
      {"kv-count-2^62", [&](std::string& b, auto&) { poke<uint64_t>(b, 16, uint64_t(1) << 62); }},
      {"kv-count-plus-1", [&](std::string& b, auto&) { poke<uint64_t>(b, 16, L.n_kv + 1); }},
      {"key-length-max", [&](std::string& b, auto&) { poke<uint64_t>(b, L.kvs[0].key_len_pos, u64max); }},
      {"key-length-2^63", [&](std::string& b, auto&) { poke<uint64_t>(b, L.kvs[0].key_len_pos, uint64_t(1) << 63); }},
      {"key-length-file-size", [&](std::string& b, auto&) { poke<uint64_t>(b, L.kvs[0].key_len_pos, b.size()); }},
      {"key-empty", [&](std::string& b, auto&) { poke<uint64_t>(b, L.kvs[0].key_len_pos, 0); }},
      {"value-type-unknown", [&](std::string& b, auto&) { poke<uint32_t>(b, L.kvs[0].type_pos, 13); }},
      {"value-type-max", [&](std::string& b, auto&) { poke<uint32_t>(b, L.kvs[0].type_pos, 0xffffffffu); }},
      {"array-length-max", [&](std::string& b, auto&) { poke<uint64_t>(b, tokens.array_count_pos, u64max); }},
      {"array-length-2^61", [&](std::string& b, auto&) { poke<uint64_t>(b, tokens.array_count_pos, uint64_t(1) << 61); }},
      {"array-length-plus-1",
       [&](std::string& b, auto&) { poke<uint64_t>(b, tokens.array_count_pos, peek<uint64_t>(b, tokens.array_count_pos) + 1); }},
      {"array-element-type-unknown", [&](std::string& b, auto&) { poke<uint32_t>(b, tokens.value_pos, 99); }},
      {"array-string-length-max", [&](std::string& b, auto&) { poke<uint64_t>(b, tokens.array_count_pos + 8, u64max); }},
      {"duplicate-key",
       [&](std::string& b, auto&) {
         // The second key of some length becomes a copy of the first.
         for (size_t i = 0; i < L.kvs.size(); ++i)
           for (size_t j = i + 1; j < L.kvs.size(); ++j)
             if (L.kvs[i].key.size() == L.kvs[j].key.size()) {
               b.replace(L.kvs[j].key_pos, L.kvs[i].key.size(), L.kvs[i].key);
               return;
             }
         FAIL() << "no two keys of equal length";
       }},
      {"tensor-name-length-max", [&](std::string& b, auto&) { poke<uint64_t>(b, t0.name_len_pos, u64max); }},
      {"tensor-dims-0", [&](std::string& b, auto&) { poke<uint32_t>(b, t0.n_dims_pos, 0); }},
      {"tensor-dims-5", [&](std::string& b, auto&) { poke<uint32_t>(b, t0.n_dims_pos, 5); }},
      {"tensor-dims-max", [&](std::string& b, auto&) { poke<uint32_t>(b, t0.n_dims_pos, 0xffffffffu); }},
      {"dims-product-overflows",
       [&](std::string& b, auto&) {
         poke<uint64_t>(b, mat.dims_pos, uint64_t(1) << 32);
         poke<uint64_t>(b, mat.dims_pos + 8, uint64_t(1) << 32);
       }},
      {"dims-2^62-by-4",
       [&](std::string& b, auto&) {
         poke<uint64_t>(b, mat.dims_pos, 64);
         poke<uint64_t>(b, mat.dims_pos + 8, uint64_t(1) << 62);
       }},
      {"dim-negative", [&](std::string& b, auto&) { poke<int64_t>(b, t0.dims_pos, -64); }},
      // Zero elements, so well formed (and then written as is), but 2^62
      // rows: nothing may loop over them or overflow counting them.
      {"zero-row-length-huge-rows",
       [&](std::string& b, auto&) {
         poke<uint64_t>(b, mat.dims_pos, 0);
         poke<uint64_t>(b, mat.dims_pos + 8, uint64_t(1) << 62);
       },
       Expect::MayPass},
      {"dims-larger-than-data", [&](std::string& b, auto&) { poke<uint64_t>(b, mat.dims_pos + 8, mat.dims[1] * 1000); }},
      {"type-unknown-99", [&](std::string& b, auto&) { poke<uint32_t>(b, t0.type_pos, 99); }},
      {"type-removed-q4_2", [&](std::string& b, auto&) { poke<uint32_t>(b, t0.type_pos, 4); }},
      {"type-max", [&](std::string& b, auto&) { poke<uint32_t>(b, t0.type_pos, 0xffffffffu); }},
      {"offset-past-end", [&](std::string& b, auto&) { poke<uint64_t>(b, last.offset_pos, (data_size + 31) / 32 * 32); }},
      {"offset-near-2^64", [&](std::string& b, auto&) { poke<uint64_t>(b, last.offset_pos, u64max - 31); }},
      {"offset-misaligned", [&](std::string& b, auto&) { poke<uint64_t>(b, t1.offset_pos, t1.offset + 4); }},
      {"offsets-overlap", [&](std::string& b, auto&) { poke<uint64_t>(b, t1.offset_pos, t0.offset); }},
      {"duplicate-tensor-name",
       [&](std::string& b, auto&) {
         // The second tensor name of some length becomes a copy of the first.
         for (size_t i = 0; i < L.tensors.size(); ++i)
           for (size_t j = i + 1; j < L.tensors.size(); ++j)
             if (L.tensors[i].name.size() == L.tensors[j].name.size()) {
               b.replace(L.tensors[j].name_len_pos + 8, L.tensors[i].name.size(), L.tensors[i].name);
               return;
             }
         FAIL() << "no two tensor names of equal length";
       }},
      // Still well formed: lowbit may accept these.
      {"non-utf8-key", [&](std::string& b, auto&) { b[L.kvs[0].key_pos + 2] = char(0xff); }, Expect::MayPass},
      {"non-utf8-tensor-name", [&](std::string& b, auto&) { b[t0.name_len_pos + 8] = char(0xc3); }, Expect::MayPass},
      {"architecture-renamed",
       [&](std::string& b, auto&) {
         const auto* arch = L.find_kv("general.architecture");
         b[arch->value_pos + 8] = 'X';
       },
       Expect::MayPass},
  };
  for (auto& c : cases) {
    std::string bytes = original_;
    c.apply(bytes, L);
    ASSERT_TRUE(bytes != original_) << c.name << " changed nothing";
    check(c.name, bytes, c.expect, c.quantize_must_refuse);
  }
}

TEST_F(GgufDamage, NonFiniteWeights) {
  // A NaN, then an Inf, in the middle of blk.0.attn_q.weight (F32): quantize
  // must refuse naming the tensor; inspect and a float convert may pass.
  const GgufLayout::Tensor* q = nullptr;
  for (const auto& t : layout_.tensors)
    if (t.name == "blk.0.attn_q.weight") q = &t;
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(q->type, 0u);  // F32
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::string bytes = original_;
    poke<float>(bytes, layout_.data_offset + q->offset + 4 * 100, bad);
    const std::string name = std::isnan(bad) ? "nan" : bad > 0 ? "inf" : "minus-inf";
    check("weights-" + name, bytes, Expect::MayPass, /*quantize_must_refuse=*/true);
    const std::string input = tmp_.file("w.gguf");
    write_bytes(input, bytes);
    GuardedRun r = run_guarded("quantize -q " + input + " -o " + out_dir_ + "/o.gguf --preset Q4_0", tmp_.path());
    EXPECT_NE(r.err.find("blk.0.attn_q.weight"), std::string::npos) << describe(r);
    EXPECT_TRUE(folder_entries(out_dir_).empty());
  }
}

TEST_F(GgufDamage, NotAFileAtAll) {
  const std::string empty = tmp_.file("empty.gguf");
  write_bytes(empty, "");
  const std::string dir = tmp_.file("a-directory");
  fs::create_directories(dir);
  const std::string fifo = tmp_.file("a-fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  const std::string text = tmp_.file("text.gguf");
  write_bytes(text, "hello, this is not a model\n");
  for (const std::string& input : {empty, dir, fifo, text, tmp_.file("does-not-exist.gguf"), std::string("/dev/zero")}) {
    for (const std::string& cmd : {"inspect " + input, "convert -q " + input + " -o " + out_dir_ + "/o.gguf",
                                   "quantize -q " + input + " -o " + out_dir_ + "/o.gguf --preset Q4_0"}) {
      GuardedRun r = run_guarded(cmd, tmp_.path());
      expect_clean_refusal(r, input, out_dir_, cmd);
    }
  }
}

TEST_F(GgufDamage, BadOutputPaths) {
  // The output is a folder, sits in a missing folder, or is the input itself.
  const std::string dir = tmp_.file("out-is-a-dir");
  fs::create_directories(dir);
  const std::string input = tmp_.file("model.gguf");
  write_bytes(input, original_);
  for (const std::string& out : {dir, tmp_.file("missing/sub/o.gguf"), input}) {
    for (const std::string& cmd : {"convert -q " + input + " -o " + out, "quantize -q " + input + " -o " + out + " --preset Q4_0"}) {
      GuardedRun r = run_guarded(cmd, tmp_.path());
      EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << cmd << "\n" << describe(r);
      EXPECT_NE(r.err.find(out), std::string::npos) << cmd << "\n" << describe(r);
    }
  }
  EXPECT_EQ(read_bytes(input), original_) << "the input was modified";
  EXPECT_TRUE(folder_entries(dir).empty());
}

}  // namespace
}  // namespace lowbit::test

namespace lowbit::test {
namespace {

// A header whose objects would need far more memory than the file's bytes:
// 3 million empty nested arrays take 12 bytes each in the file but ~100
// bytes each in memory. lowbit must refuse before allocating them.
TEST(GgufMemory, NestedArrayBombIsRefused) {
  TempDir tmp;
  const uint64_t count = 3'000'000;
  std::string b = "GGUF";
  auto put32 = [&](uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
  auto put64 = [&](uint64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); };
  put32(3);
  put64(0);  // tensors
  put64(1);  // key/value pairs
  put64(4);
  b += "bomb";
  put32(9);  // array
  put32(9);  // of arrays
  put64(count);
  std::string empty_array(12, '\0');  // element type UINT8 (0), count 0
  b.reserve(b.size() + count * 12);
  for (uint64_t i = 0; i < count; ++i) b += empty_array;
  const std::string path = tmp.file("bomb.gguf");
  write_bytes(path, b);
  GuardedRun r = run_guarded("inspect " + path, tmp.path());
  expect_clean_refusal(r, path, "", "nested array bomb");
  EXPECT_NE(r.err.find("MiB of memory"), std::string::npos) << describe(r);
}

}  // namespace
}  // namespace lowbit::test
