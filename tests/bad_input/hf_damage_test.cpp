// Damaged Hugging Face folders through the real CLI (`lowbit inspect`,
// `convert`, `quantize`): copies of qwen2tiny (single safetensors file) and
// gutenberg23m (four shards + index) with one file broken each: safetensors
// header length past the end, bad JSON, overlapping or out-of-range offsets,
// shape / size mismatches, unknown dtypes, truncated data, NaN / Inf
// weights, missing or broken config.json / tokenizer.json, missing shards,
// bad shard indexes. Unchanged files are symlinked, not copied. The checks
// are those of gguf_damage_test.cpp.
#include <nlohmann/json.hpp>

#include <functional>
#include <limits>

#include "bad_input/guarded_run.h"
#include "io/gguf.h"

namespace lowbit::test {
namespace {

using nlohmann::json;

enum class Expect { Refuse, MayPass };

// Expectations per command: inspect, convert, quantize.
struct Expectations {
  Expect inspect = Expect::Refuse, convert = Expect::Refuse, quantize = Expect::Refuse;
};
constexpr Expectations kRefuseAll{};
constexpr Expectations kOnlyQuantizeRefuses{Expect::MayPass, Expect::MayPass, Expect::Refuse};

// A safetensors file split into its JSON header and data section.
struct Safetensors {
  json header;
  std::string data;

  static Safetensors load(const std::string& path) {
    std::string bytes = read_bytes(path);
    uint64_t n = peek<uint64_t>(bytes, 0);
    Safetensors s;
    s.header = json::parse(bytes.substr(8, n));
    s.data = bytes.substr(8 + n);
    return s;
  }
  static std::string assemble(const std::string& header_text, const std::string& data) {
    std::string h = header_text;
    while (h.size() % 8) h.push_back(' ');
    std::string out(8, '\0');
    uint64_t n = h.size();
    std::memcpy(out.data(), &n, 8);
    return out + h + data;
  }
  std::string bytes() const { return assemble(header.dump(), data); }
  // Name of the first tensor whose name contains `part`.
  std::string tensor(const std::string& part) const {
    for (auto it = header.begin(); it != header.end(); ++it)
      if (it.key().find(part) != std::string::npos) return it.key();
    return "";
  }
};

class HfDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      qwen_ = SHARED_FILE("models/qwen2tiny/model.safetensors");
      gutenberg_ = SHARED_FILE("models/gutenberg23m/model.safetensors.index.json");
    } catch (const SkipShared& s) {
      if (running_in_ci()) FAIL() << "CI=true but the shared test data is missing: " << s.path;
      GTEST_SKIP() << "needs ../shared (not found: " << s.path << ")";
    }
    qwen_ = fs::path(qwen_).parent_path().string();
    gutenberg_ = fs::path(gutenberg_).parent_path().string();
    out_dir_ = tmp_.file("out");
    fs::create_directories(out_dir_);
  }

  // A fresh folder of symlinks to every file of `source`, except those the
  // caller then replaces.
  std::string linked_copy(const std::string& source, const std::string& name) {
    const std::string dir = tmp_.file(name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(source))
      fs::create_symlink(fs::absolute(e.path()), fs::path(dir) / e.path().filename());
    return dir;
  }
  // Replaces one file of a linked copy (or removes it when bytes is null).
  static void replace(const std::string& dir, const std::string& file, const std::string* bytes) {
    fs::remove(fs::path(dir) / file);
    if (bytes) write_bytes((fs::path(dir) / file).string(), *bytes);
  }

  void check(const std::string& dir, const std::string& name, Expectations e) {
    const std::string out = out_dir_ + "/out.gguf";
    const std::tuple<std::string, std::string, Expect> commands[] = {
        {"inspect", "inspect " + dir, e.inspect},
        {"convert", "convert -q " + dir + " -o " + out, e.convert},
        {"quantize", "quantize -q " + dir + " -o " + out + " --preset Q4_0", e.quantize},
    };
    for (const auto& [cmd, args, expect] : commands) {
      GuardedRun r = run_guarded(args, tmp_.path());
      const std::string what = name + " / " + cmd;
      if (expect == Expect::Refuse || r.exit_code != 0) {
        expect_clean_refusal(r, dir, out_dir_, what);
      } else if (cmd != "inspect") {
        EXPECT_EQ(folder_entries(out_dir_), std::vector<std::string>{"out.gguf"}) << what;
        EXPECT_NO_THROW(GgufReader{out}) << what;
      }
      fs::remove(out);
    }
  }

  // qwen2tiny with model.safetensors replaced by `bytes`.
  void check_qwen_weights(const std::string& name, const std::string& bytes, Expectations e = kRefuseAll) {
    const std::string dir = linked_copy(qwen_, name);
    replace(dir, "model.safetensors", &bytes);
    check(dir, name, e);
    fs::remove_all(dir);
  }
  void check_qwen_file(const std::string& file, const std::string& name, const std::string* bytes,
                       Expectations e = kRefuseAll) {
    const std::string dir = linked_copy(qwen_, name);
    replace(dir, file, bytes);
    check(dir, name, e);
    fs::remove_all(dir);
  }

  TempDir tmp_;
  std::string qwen_, gutenberg_, out_dir_;
};

TEST_F(HfDamage, SafetensorsHeader) {
  const std::string original = read_bytes(qwen_ + "/model.safetensors");
  const Safetensors st = Safetensors::load(qwen_ + "/model.safetensors");
  const uint64_t u64max = std::numeric_limits<uint64_t>::max();
  auto with_len = [&](uint64_t n) {
    std::string b = original;
    poke<uint64_t>(b, 0, n);
    return b;
  };
  check_qwen_weights("header-length-past-file", with_len(original.size()));
  check_qwen_weights("header-length-max", with_len(u64max));
  check_qwen_weights("header-length-zero", with_len(0));
  check_qwen_weights("header-length-short", with_len(peek<uint64_t>(original, 0) - 40));  // cuts the JSON
  std::string garbled = original;
  garbled[9] = '#';
  check_qwen_weights("header-bad-json", garbled);
  check_qwen_weights("header-not-object", Safetensors::assemble("[1, 2, 3]", st.data));
  check_qwen_weights("header-deeply-nested", Safetensors::assemble(std::string(100000, '[') + std::string(100000, ']'), st.data));
  check_qwen_weights("empty-file", "");
  check_qwen_weights("seven-bytes", "\x08\0\0\0\0\0\0");

  const std::string q = st.tensor("layers.0.self_attn.q_proj.weight");
  const std::string k = st.tensor("layers.0.self_attn.k_proj.weight");
  ASSERT_FALSE(q.empty());
  ASSERT_FALSE(k.empty());
  auto edited = [&](const std::function<void(json&)>& edit) {
    Safetensors s = st;
    edit(s.header);
    return s.bytes();
  };
  check_qwen_weights("offsets-overlap", edited([&](json& h) { h[k]["data_offsets"] = h[q]["data_offsets"]; }));
  check_qwen_weights("offsets-past-end", edited([&](json& h) {
    uint64_t begin = h[q]["data_offsets"][0], end = h[q]["data_offsets"][1];
    h[q]["data_offsets"] = {begin + st.data.size(), end + st.data.size()};
  }));
  check_qwen_weights("offsets-reversed", edited([&](json& h) {
    h[q]["data_offsets"] = {h[q]["data_offsets"][1], h[q]["data_offsets"][0]};
  }));
  check_qwen_weights("offsets-negative", edited([&](json& h) { h[q]["data_offsets"][0] = -8; }));
  check_qwen_weights("offsets-huge", edited([&](json& h) { h[q]["data_offsets"] = {u64max - 1, u64max}; }));
  check_qwen_weights("offsets-not-numbers", edited([&](json& h) { h[q]["data_offsets"] = {"0", "8"}; }));
  check_qwen_weights("shape-size-mismatch", edited([&](json& h) { h[q]["shape"][0] = h[q]["shape"][0].get<int64_t>() + 1; }));
  check_qwen_weights("shape-negative", edited([&](json& h) { h[q]["shape"][0] = -256; }));
  check_qwen_weights("shape-overflows", edited([&](json& h) { h[q]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40}; }));
  check_qwen_weights("shape-missing", edited([&](json& h) { h[q].erase("shape"); }));
  check_qwen_weights("dtype-unknown", edited([&](json& h) { h[q]["dtype"] = "F12"; }));
  check_qwen_weights("dtype-integer", edited([&](json& h) { h[q]["dtype"] = "I16"; }));
  check_qwen_weights("dtype-not-string", edited([&](json& h) { h[q]["dtype"] = 16; }));
  check_qwen_weights("tensor-unknown-name", edited([&](json& h) { h["model.mystery.weight"] = h[q]; h.erase(q); }));
  check_qwen_weights("tensor-missing", edited([&](json& h) { h.erase(q); }),
                     {Expect::MayPass, Expect::Refuse, Expect::Refuse});
  check_qwen_weights("truncated-data", original.substr(0, original.size() - 100));
  check_qwen_weights("truncated-header", original.substr(0, 8 + peek<uint64_t>(original, 0) / 2));
}

TEST_F(HfDamage, NonFiniteWeights) {
  Safetensors st = Safetensors::load(qwen_ + "/model.safetensors");
  const std::string q = st.tensor("layers.0.self_attn.q_proj.weight");
  ASSERT_EQ(st.header[q]["dtype"], "F16");
  const uint64_t begin = st.header[q]["data_offsets"][0];
  for (uint16_t bits : {uint16_t(0x7e00), uint16_t(0x7c00), uint16_t(0xfc00)}) {  // NaN, +Inf, -Inf
    Safetensors s = st;
    poke<uint16_t>(s.data, begin + 2 * 77, bits);
    check_qwen_weights("weights-" + std::to_string(bits), s.bytes(), kOnlyQuantizeRefuses);
    const std::string dir = linked_copy(qwen_, "nonfinite");
    const std::string bytes = s.bytes();
    replace(dir, "model.safetensors", &bytes);
    GuardedRun r = run_guarded("quantize -q " + dir + " -o " + out_dir_ + "/o.gguf --preset Q4_0", tmp_.path());
    EXPECT_NE(r.err.find("attn_q"), std::string::npos) << "the error should name the tensor\n" << describe(r);
    EXPECT_TRUE(folder_entries(out_dir_).empty());
  }
}

TEST_F(HfDamage, ConfigJson) {
  const json config = json::parse(read_bytes(qwen_ + "/config.json"));
  auto edited = [&](const std::function<void(json&)>& edit) {
    json c = config;
    edit(c);
    return c.dump();
  };
  check_qwen_file("config.json", "config-missing", nullptr);
  const std::string empty, garbage = "{\"model_type\": \"qwen2\", ", nested = std::string(50000, '[');
  check_qwen_file("config.json", "config-empty", &empty);
  check_qwen_file("config.json", "config-bad-json", &garbage);
  check_qwen_file("config.json", "config-deeply-nested", &nested);
  const std::pair<std::string, std::function<void(json&)>> edits[] = {
      {"config-hidden-size-text", [](json& c) { c["hidden_size"] = "abc"; }},
      {"config-hidden-size-huge", [](json& c) { c["hidden_size"] = int64_t(1) << 40; }},
      {"config-hidden-size-negative", [](json& c) { c["hidden_size"] = -256; }},
      {"config-hidden-size-float", [](json& c) { c["hidden_size"] = 1e300; }},
      {"config-fewer-layers", [](json& c) { c["num_hidden_layers"] = c["num_hidden_layers"].get<int>() - 1; }},
      {"config-more-layers", [](json& c) { c["num_hidden_layers"] = c["num_hidden_layers"].get<int>() + 1; }},
      {"config-heads-zero", [](json& c) { c["num_attention_heads"] = 0; }},
      {"config-kv-heads-not-divisor", [](json& c) { c["num_key_value_heads"] = 3; }},
      {"config-vocab-mismatch", [](json& c) { c["vocab_size"] = c["vocab_size"].get<int>() - 1; }},
      {"config-model-type-unknown", [](json& c) { c["model_type"] = "gpt-neox"; }},
      {"config-not-object", [](json& c) { c = json::array({1, 2}); }},
  };
  for (const auto& [name, edit] : edits) {
    const std::string bytes = edited(edit);
    check_qwen_file("config.json", name, &bytes);
  }
  // config.json is a folder.
  const std::string dir = linked_copy(qwen_, "config-is-dir");
  replace(dir, "config.json", nullptr);
  fs::create_directories(dir + "/config.json");
  check(dir, "config-is-dir", kRefuseAll);
}

TEST_F(HfDamage, TokenizerJson) {
  const std::string empty, garbage = "{\"model\": {\"type\": \"BPE\", \"vocab\": {";
  // Without a usable tokenizer a GGUF cannot be written; inspect may still
  // describe the weights.
  const Expectations e{Expect::MayPass, Expect::Refuse, Expect::Refuse};
  check_qwen_file("tokenizer.json", "tokenizer-missing", nullptr, e);
  check_qwen_file("tokenizer.json", "tokenizer-empty", &empty, e);
  check_qwen_file("tokenizer.json", "tokenizer-bad-json", &garbage, e);
  json tok = json::parse(read_bytes(qwen_ + "/tokenizer.json"));
  json huge_id = tok;
  huge_id["model"]["vocab"]["zzz-huge-id"] = int64_t(1) << 40;
  const std::string huge = huge_id.dump();
  check_qwen_file("tokenizer.json", "tokenizer-huge-id", &huge, e);
  json wrong_type = tok;
  wrong_type["model"]["type"] = 7;
  const std::string wt = wrong_type.dump();
  check_qwen_file("tokenizer.json", "tokenizer-type-not-string", &wt, e);
  json pre_type = tok;
  pre_type["pre_tokenizer"]["type"] = json::array();
  const std::string pt = pre_type.dump();
  check_qwen_file("tokenizer.json", "tokenizer-pre-type-not-string", &pt, e);
}

TEST_F(HfDamage, Shards) {
  const std::string index_name = "model.safetensors.index.json";
  const json index = json::parse(read_bytes(gutenberg_ + "/" + index_name));
  {
    const std::string dir = linked_copy(gutenberg_, "missing-shard");
    replace(dir, "model-00003-of-00004.safetensors", nullptr);
    check(dir, "missing-shard", kRefuseAll);
    GuardedRun r = run_guarded("inspect " + dir, tmp_.path());
    EXPECT_NE(r.err.find("model-00003-of-00004.safetensors"), std::string::npos) << describe(r);
  }
  auto check_index = [&](const std::string& name, const std::string& bytes) {
    const std::string dir = linked_copy(gutenberg_, name);
    replace(dir, index_name, &bytes);
    check(dir, name, kRefuseAll);
    fs::remove_all(dir);
  };
  const std::string first = index["weight_map"].begin().key();
  json j = index;
  j["weight_map"][first] = "../../../etc/passwd";
  check_index("index-path-escape", j.dump());
  j = index;
  j["weight_map"][first] = "model-00009-of-00004.safetensors";
  check_index("index-names-missing-file", j.dump());
  j = index;
  const std::string shard = j["weight_map"][first];
  j["weight_map"][first] = shard == "model-00001-of-00004.safetensors" ? "model-00002-of-00004.safetensors"
                                                                     : "model-00001-of-00004.safetensors";
  check_index("index-wrong-shard", j.dump());
  j = index;
  j["weight_map"] = json::object();
  check_index("index-empty-map", j.dump());
  check_index("index-bad-json", "{\"weight_map\": {");
  check_index("index-empty", "");
}

TEST_F(HfDamage, EmptyAndStrayFolders) {
  const std::string empty = tmp_.file("empty-folder");
  fs::create_directories(empty);
  check(empty, "empty-folder", kRefuseAll);
  const std::string only_config = tmp_.file("only-config");
  fs::create_directories(only_config);
  fs::copy_file(qwen_ + "/config.json", only_config + "/config.json");
  check(only_config, "only-config", kRefuseAll);
  const std::string dir = linked_copy(qwen_, "weights-is-dir");
  replace(dir, "model.safetensors", nullptr);
  fs::create_directories(dir + "/model.safetensors");
  check(dir, "weights-is-dir", kRefuseAll);
}

}  // namespace
}  // namespace lowbit::test
