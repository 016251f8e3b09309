// HF folder -> ModelSource -> GGUF conversion. The acceptance test converts
// gutenberg23m to BF16 and compares it with llama.cpp's own conversion in
// ../shared: same tensors (names, order, shapes, types, bytes) and the same
// metadata apart from the differences listed in kExpectedDifferences.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "common/shared_data.h"
#include "core/half.h"
#include "hf_test_util.h"
#include "io/convert.h"
#include "io/gguf.h"
#include "io/model_source.h"

using namespace lowbit;
using namespace lowbit::test;
namespace fs = std::filesystem;

namespace {

// Keys where our conversion deliberately differs from llama.cpp b4747's:
//  general.name: llama.cpp named it after the folder it converted from
//    ("Model"); we use this folder's name.
//  llama.rope.freq_base: b4747 reads only the top-level rope_theta, so it
//    dropped theta from transformers 5's rope_parameters (the runtime
//    default 10000 happens to match); we write it.
//  tokenizer.ggml.add_bos_token / add_eos_token: from the post-processor
//    template (HF adds <|bos|>); b4747 only read tokenizer_config.json.
const std::set<std::string> kOnlyInOurs = {"llama.rope.freq_base", "tokenizer.ggml.add_bos_token",
                                           "tokenizer.ggml.add_eos_token"};
const std::set<std::string> kDifferentValue = {"general.name"};

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type() != b.type()) return false;
  return a.to_display(1u << 30) == b.to_display(1u << 30);
}

}  // namespace

TEST_SHARED(HfModel, Gutenberg23mSource) {
  auto dir = SHARED_FILE("models/gutenberg23m");
  GgufReader ref(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  auto src = ModelSource::open(dir);
  EXPECT_FALSE(src->is_gguf());
  EXPECT_EQ(src->architecture(), "llama");
  EXPECT_EQ(src->parameter_count(), 23075328u);
  EXPECT_EQ(src->tensor_bytes(), 46150656u);  // all BF16, norms too
  ASSERT_EQ(src->tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    EXPECT_EQ(src->tensors()[i].name, ref.tensors()[i].name) << i;  // llama.cpp's order
    EXPECT_EQ(src->tensors()[i].shape, ref.tensors()[i].shape) << ref.tensors()[i].name;
  }
  EXPECT_EQ(src->at("blk.0.attn_q.weight").rope_permute_heads, 8);
  EXPECT_EQ(src->at("blk.0.attn_k.weight").rope_permute_heads, 4);
  EXPECT_EQ(src->at("blk.0.attn_v.weight").rope_permute_heads, 0);
  // row(r) gives GGUF order: row for row, the bytes of llama.cpp's permuted tensor.
  for (const char* name : {"blk.2.attn_q.weight", "blk.5.attn_k.weight"}) {
    const TensorView& v = src->at(name);
    const GgufTensorInfo* r = ref.find_tensor(name);
    for (int64_t row = 0; row < v.row_count(); ++row)
      ASSERT_EQ(std::memcmp(v.row(row), r->data + size_t(row) * v.row_bytes(), v.row_bytes()), 0) << name << row;
  }
  EXPECT_EQ(src->metadata().get_u64("llama.block_count", 0), 6u);
  EXPECT_EQ(src->metadata().get_string("general.size_label"), "23M");
  EXPECT_EQ(src->metadata().get_u64("general.file_type", 99), 32u);
  EXPECT_EQ(src->metadata().get_string("general.name"), "gutenberg23m");
  // Outputs must not overwrite: every shard, the index and the JSON files.
  EXPECT_EQ(src->files().size(), 4u + 1 + 3);
}

TEST_SHARED(HfModel, ConvertGutenberg23mMatchesLlamaCpp) {
  auto dir = SHARED_FILE("models/gutenberg23m");
  auto ref_path = SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf");
  TempDir tmp;
  const std::string out = tmp.file("g.gguf");
  auto src = ModelSource::open(dir);
  size_t calls = 0;
  ConvertResult res = convert_to_gguf(*src, out, GgmlType::BF16, [&](size_t i, size_t n, const TensorView&) {
    EXPECT_EQ(i, calls++);
    EXPECT_EQ(n, 57u);
  });
  EXPECT_EQ(res.tensors, 57u);
  EXPECT_EQ(res.parameters, 23075328u);

  GgufReader ours(out), ref(ref_path);
  EXPECT_EQ(res.output_bytes, ours.file_size());
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    const auto &a = ours.tensors()[i], &b = ref.tensors()[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.shape, b.shape) << b.name;
    EXPECT_EQ(a.type, b.type) << b.name;  // norms F32, matrices BF16
    EXPECT_EQ(a.offset, b.offset) << b.name;
    ASSERT_EQ(a.bytes, b.bytes) << b.name;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.bytes), 0) << "bytes differ in " << b.name;
  }

  const GgufMetadata &om = ours.metadata(), &rm = ref.metadata();
  std::vector<std::string> ours_keys, ref_keys;
  for (const auto& [k, v] : rm.entries()) {
    ref_keys.push_back(k);
    const GgufValue* mine = om.find(k);
    ASSERT_NE(mine, nullptr) << "missing key " << k;
    if (kDifferentValue.count(k)) continue;
    EXPECT_TRUE(same_value(*mine, v)) << k << ": ours " << mine->to_display() << ", llama.cpp " << v.to_display();
  }
  for (const auto& [k, v] : om.entries()) {
    if (!rm.contains(k)) {
      EXPECT_TRUE(kOnlyInOurs.count(k)) << "unexpected extra key " << k;
    }
    if (!kOnlyInOurs.count(k)) ours_keys.push_back(k);
  }
  EXPECT_EQ(ours_keys, ref_keys);  // same order too
  EXPECT_FLOAT_EQ(float(om.at("llama.rope.freq_base").as_f64()), 10000.0f);
}

TEST_SHARED(HfModel, Qwen2TinyConvert) {
  auto src = ModelSource::open(SHARED_FILE("models/qwen2tiny"));
  EXPECT_EQ(src->architecture(), "qwen2");
  EXPECT_EQ(src->find("output.weight"), nullptr);  // tied
  const TensorView& qb = src->at("blk.1.attn_q.bias");
  EXPECT_EQ(qb.shape, (std::vector<int64_t>{256}));
  EXPECT_EQ(qb.type, GgmlType::F16);
  EXPECT_EQ(src->at("blk.1.attn_q.weight").rope_permute_heads, 0);  // qwen2: no permutation
  EXPECT_EQ(src->tensors().size(), 1u + 4 * 12 + 1);
  EXPECT_EQ(src->metadata().get_string("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(src->metadata().get_u64("general.file_type", 99), 1u);

  TempDir tmp;
  ConvertResult r = convert_to_gguf(*src, tmp.file("q32.gguf"), GgmlType::F32);
  EXPECT_EQ(r.parameters, src->parameter_count());
  GgufReader f32(tmp.file("q32.gguf"));
  EXPECT_EQ(f32.metadata().get_u64("general.file_type", 99), 0u);
  EXPECT_EQ(f32.metadata().get_u64("general.quantization_version", 0), 2u);
  convert_to_gguf(*src, tmp.file("q16.gguf"), GgmlType::BF16);
  GgufReader b16(tmp.file("q16.gguf"));
  for (const auto& v : src->tensors()) {
    const GgufTensorInfo* a = f32.find_tensor(v.name);
    const GgufTensorInfo* b = b16.find_tensor(v.name);
    ASSERT_TRUE(a && b) << v.name;
    EXPECT_EQ(a->type, GgmlType::F32);
    EXPECT_EQ(b->type, v.shape.size() == 1 ? GgmlType::F32 : GgmlType::BF16) << v.name;
    // Every element: F16 -> F32 exactly; F16 -> BF16 by round-to-nearest-even
    // of the float value (checked here with plain bit arithmetic).
    for (int64_t i = 0; i < v.element_count(); i += 97) {
      uint16_t h;
      std::memcpy(&h, v.data + 2 * i, 2);
      float want = fp16_to_float(h);
      float got;
      std::memcpy(&got, a->data + 4 * i, 4);
      ASSERT_EQ(got, want) << v.name << " " << i;
      if (b->type == GgmlType::BF16) {
        uint16_t g;
        std::memcpy(&g, b->data + 2 * i, 2);
        uint32_t bits;
        std::memcpy(&bits, &want, 4);
        uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
        ASSERT_EQ(g, uint16_t(rounded)) << v.name << " " << i;
      }
    }
  }
  // Converting the converted GGUF back (GGUF source) keeps the bytes.
  auto again = ModelSource::open(tmp.file("q16.gguf"));
  EXPECT_TRUE(again->is_gguf());
  convert_to_gguf(*again, tmp.file("q16b.gguf"), GgmlType::BF16);
  GgufReader b16b(tmp.file("q16b.gguf"));
  for (const auto& t : b16.tensors())
    EXPECT_EQ(std::memcmp(t.data, b16b.find_tensor(t.name)->data, t.bytes), 0) << t.name;
}

TEST_SHARED(HfModel, BadFolders) {
  auto g = SHARED_FILE("models/gutenberg23m");
  auto q = SHARED_FILE("models/qwen2tiny");
  TempDir tmp;
  auto folder = [&](const std::string& name) {
    std::string p = tmp.file(name);
    fs::create_directory(p);
    return p;
  };
  auto expect_error = [](const std::string& path, const std::vector<std::string>& parts) {
    std::string e = error_of([&] { ModelSource::open(path); });
    ASSERT_FALSE(e.empty()) << path << " opened without error";
    for (const auto& p : parts) EXPECT_NE(e.find(p), std::string::npos) << "'" << p << "' not in: " << e;
  };

  expect_error(folder("empty"), {"not a model folder"});

  std::string bad_config = folder("bad_config");
  link_folder(q, bad_config, {"config.json"});
  write_bytes(bad_config + "/config.json", R"({"model_type": "qwen2", "hidden_size": 256,)");
  expect_error(bad_config, {bad_config + "/config.json", "malformed JSON"});

  std::string no_shard = folder("no_shard");
  link_folder(g, no_shard, {"model-00002-of-00004.safetensors"});
  expect_error(no_shard, {"model-00002-of-00004.safetensors", "model.safetensors.index.json"});

  // Truncated: the single file cut short.
  std::string trunc = folder("truncated");
  link_folder(q, trunc, {"model.safetensors"});
  std::string whole = read_text_file(q + "/model.safetensors");
  write_bytes(trunc + "/model.safetensors", whole.substr(0, whole.size() - 1000));
  expect_error(trunc, {trunc + "/model.safetensors", "past the end"});

  // A weight stored as I64.
  std::string i64 = folder("i64");
  link_folder(q, i64, {"model.safetensors"});
  uint64_t hlen;
  std::memcpy(&hlen, whole.data(), 8);
  std::string header = whole.substr(8, hlen);
  auto pos = header.find(R"("model.norm.weight":{"dtype":"F16","shape":[256])");
  ASSERT_NE(pos, std::string::npos);
  // 256 F16 = 512 bytes = 64 I64 values.
  header.replace(pos, 48, R"("model.norm.weight":{"dtype":"I64","shape":[64] )");
  write_bytes(i64 + "/model.safetensors", whole.substr(0, 8) + header + whole.substr(8 + hlen));
  expect_error(i64, {"I64", "model.norm.weight", i64 + "/model.safetensors"});

  // Shape that disagrees with config.json.
  std::string shape = folder("shape");
  link_folder(q, shape, {"config.json"});
  std::string cfg = read_text_file(q + "/config.json");
  cfg.replace(cfg.find("\"intermediate_size\": 768"), 24, "\"intermediate_size\": 512");
  write_bytes(shape + "/config.json", cfg);
  expect_error(shape, {"down_proj", "[768, 256]", "[512, 256]", "config.json"});
}

TEST_SHARED(HfModel, ConvertCliAndNoLeftovers) {
  auto q = SHARED_FILE("models/qwen2tiny");
  TempDir tmp;
  const std::string out = tmp.file("out.gguf");
  auto r = run_lowbit("convert " + q + " -o " + out + " --type f16 -q");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tensors"), std::string::npos) << r.output;
  EXPECT_EQ(GgufReader(out).metadata().get_u64("general.file_type", 99), 1u);

  // Refuses to overwrite its input; the input is unchanged.
  const auto size_before = fs::file_size(out);
  r = run_lowbit("convert " + out + " -o " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(fs::file_size(out), size_before);

  // A bad model: clear error, exit 1, nothing written.
  fs::create_directory(tmp.file("broken"));
  link_folder(q, tmp.file("broken"), {"config.json"});
  write_bytes(tmp.file("broken/config.json"), "{");
  r = run_lowbit("convert " + tmp.file("broken") + " -o " + tmp.file("b.gguf"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("config.json"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(tmp.file("b.gguf")));
  EXPECT_NE(run_lowbit("convert " + q + " -o " + tmp.file("c.gguf") + " --type q4").exit_code, 0);

  // An error in the middle of writing leaves neither the file nor a temporary.
  auto src = ModelSource::open(q);
  std::string e = error_of([&] {
    convert_to_gguf(*src, tmp.file("mid.gguf"), GgmlType::BF16, [](size_t i, size_t, const TensorView&) {
      if (i == 7) throw Error("stopped on purpose");
    });
  });
  EXPECT_EQ(e, "stopped on purpose");
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(tmp.path())) names.insert(entry.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"out.gguf", "broken"}));
}

namespace {

// A tiny llama folder with F32 weights whose values encode their HF position
// (row * 1000 + column), llama3 RoPE scaling and attention biases.
struct TinyTensor {
  std::string name;
  std::vector<int64_t> shape;  // HF order
};

void write_tiny_llama(const std::string& dir) {
  const std::vector<TinyTensor> tensors = {
      {"lm_head.weight", {4, 8}},
      {"model.embed_tokens.weight", {4, 8}},
      {"model.layers.0.input_layernorm.weight", {8}},
      {"model.layers.0.mlp.down_proj.weight", {8, 16}},
      {"model.layers.0.mlp.gate_proj.weight", {16, 8}},
      {"model.layers.0.mlp.up_proj.weight", {16, 8}},
      {"model.layers.0.post_attention_layernorm.weight", {8}},
      {"model.layers.0.self_attn.k_proj.bias", {4}},
      {"model.layers.0.self_attn.k_proj.weight", {4, 8}},
      {"model.layers.0.self_attn.o_proj.bias", {8}},
      {"model.layers.0.self_attn.o_proj.weight", {8, 8}},
      {"model.layers.0.self_attn.q_proj.bias", {8}},
      {"model.layers.0.self_attn.q_proj.weight", {8, 8}},
      {"model.layers.0.self_attn.rotary_emb.inv_freq", {2}},
      {"model.layers.0.self_attn.v_proj.bias", {4}},
      {"model.layers.0.self_attn.v_proj.weight", {4, 8}},
      {"model.norm.weight", {8}},
  };
  std::string header = "{", data;
  for (const auto& t : tensors) {
    int64_t rows = t.shape.size() == 2 ? t.shape[0] : t.shape[0], cols = t.shape.size() == 2 ? t.shape[1] : 1;
    size_t begin = data.size();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        float v = float(r * 1000 + c);
        data.append(reinterpret_cast<const char*>(&v), 4);
      }
    header += (header.size() > 1 ? "," : "") + std::string("\"") + t.name + "\":{\"dtype\":\"F32\",\"shape\":[" +
              std::to_string(t.shape[0]) + (t.shape.size() == 2 ? "," + std::to_string(t.shape[1]) : "") +
              "],\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(data.size()) + "]}";
  }
  header += "}";
  write_bytes(dir + "/model.safetensors", safetensors_bytes(header, data));
  write_bytes(dir + "/config.json", R"({"model_type": "llama", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 4,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "attention_bias": true, "rope_theta": 10000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 64}})");
  write_bytes(dir + "/tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3},
    "merges": [["a", "b"]]}, "pre_tokenizer": {"type": "ByteLevel", "use_regex": true},
    "added_tokens": [{"id": 3, "content": "<s>", "special": true}]})");
}

// llama.cpp's permutation, stated directly: view the rows as
// [heads][2][D/2] and swap the last two axes, so GGUF row h*D + 2i + j is
// HF row h*D + j*D/2 + i.
int64_t hf_row_for(int64_t gguf_row, int64_t rows, int64_t heads) {
  int64_t d = rows / heads, h = gguf_row / d, w = gguf_row % d;
  return h * d + (w % 2) * (d / 2) + w / 2;
}

}  // namespace

TEST(HfModel, TinyLlamaPermutationBiasesAndRopeFreqs) {
  TempDir tmp;
  write_tiny_llama(tmp.path());
  auto src = ModelSource::open(tmp.path());
  ASSERT_EQ(src->tensors().front().name, "rope_freqs.weight");  // llama.cpp writes it first
  EXPECT_EQ(src->tensors().front().shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(src->find("blk.0.rotary_emb.inv_freq"), nullptr);
  EXPECT_EQ(src->at("blk.0.attn_q.bias").rope_permute_heads, 2);
  EXPECT_EQ(src->at("blk.0.attn_k.bias").rope_permute_heads, 1);
  EXPECT_EQ(src->metadata().get_u64("tokenizer.ggml.bos_token_id", 99), 99u);  // nothing names one

  ConvertResult r = convert_to_gguf(*src, tmp.file("t.gguf"), GgmlType::F32);
  EXPECT_EQ(r.tensors, src->tensors().size());
  GgufReader g(tmp.file("t.gguf"));
  auto value = [&](const char* name, int64_t i) {
    float v;
    std::memcpy(&v, g.find_tensor(name)->data + 4 * i, 4);
    return v;
  };
  for (int64_t row = 0; row < 8; ++row) {
    EXPECT_EQ(value("blk.0.attn_q.weight", row * 8 + 3), float(hf_row_for(row, 8, 2) * 1000 + 3)) << row;
    EXPECT_EQ(value("blk.0.attn_q.bias", row), float(hf_row_for(row, 8, 2) * 1000)) << row;
    EXPECT_EQ(value("blk.0.attn_output.bias", row), float(row * 1000));  // not permuted
  }
  for (int64_t row = 0; row < 4; ++row) {
    EXPECT_EQ(value("blk.0.attn_k.weight", row * 8 + 5), float(hf_row_for(row, 4, 1) * 1000 + 5)) << row;
    EXPECT_EQ(value("blk.0.attn_k.bias", row), float(hf_row_for(row, 4, 1) * 1000)) << row;
    EXPECT_EQ(value("blk.0.attn_v.weight", row * 8 + 5), float(row * 1000 + 5));  // not permuted
  }
  // Example: head 0 of attn_q (D = 4) is HF rows 0, 2, 1, 3.
  EXPECT_EQ(value("blk.0.attn_q.bias", 1), 2000.0f);
  EXPECT_EQ(value("blk.0.attn_q.bias", 2), 1000.0f);
  // rope_freqs: head_dim 4 -> freqs 1 and 0.01; wavelengths 6.28 (< 64/4:
  // kept) and 628 (> 64/1: divided by factor 8).
  EXPECT_EQ(value("rope_freqs.weight", 0), 1.0f);
  EXPECT_EQ(value("rope_freqs.weight", 1), 8.0f);
}

TEST(HfModel, MistralIsLlama) {
  TempDir tmp;
  write_tiny_llama(tmp.path());
  write_bytes(tmp.file("config.json"), R"({"model_type": "mistral", "hidden_size": 8, "num_hidden_layers": 1,
    "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 16, "vocab_size": 4,
    "max_position_embeddings": 64, "rope_theta": 1000000.0, "sliding_window": 4096, "attention_bias": true})");
  auto src = ModelSource::open(tmp.path());
  EXPECT_EQ(src->architecture(), "llama");
  EXPECT_EQ(src->tensors().front().name, "output.weight");  // no llama3 scaling: no rope_freqs
  EXPECT_FLOAT_EQ(float(src->metadata().at("llama.rope.freq_base").as_f64()), 1e6f);
  EXPECT_EQ(src->metadata().get_u64("general.file_type", 99), 0u);
}
