// Per-tensor type rules of the presets, checked against llama.cpp's own
// output: the tensor types of llama.cpp's Q4_K_M file, and the file size
// llama.cpp reports for every preset (../shared/reference/llamacpp/
// gutenberg23m-quality.md). Sizes depend on every tensor's type, so a size
// match per preset is an independent check of the whole type map.
// stories260K (rows of 64 and 172 weights) exercises the fallbacks; the
// expected types there are worked out by hand from llama.cpp's rules.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include "common/shared_data.h"
#include "core/error.h"
#include "io/gguf.h"
#include "quant/presets.h"

namespace lowbit::quant {
namespace {

std::vector<TensorDesc> describe(const GgufReader& r) {
  std::vector<TensorDesc> out;
  for (const auto& t : r.tensors()) out.push_back({t.name, t.shape, t.type});
  return out;
}

std::map<std::string, GgmlType> type_map(const std::vector<TypeChoice>& choices) {
  std::map<std::string, GgmlType> m;
  for (const auto& c : choices) m[c.name] = c.type;
  return m;
}

uint64_t align32(uint64_t x) { return (x + 31) / 32 * 32; }

// Bytes of the tensor data section for the chosen types.
uint64_t data_bytes(const std::vector<TensorDesc>& tensors, const std::vector<TypeChoice>& choices) {
  uint64_t total = 0;
  for (const auto& c : choices) {
    const TensorDesc& t = tensors[c.index];
    int64_t rows = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) rows *= t.shape[d];
    total += align32(row_bytes(c.type, t.shape[0]) * uint64_t(rows));
  }
  return total;
}

// "| Q4_K_M | 14,147,232 | ..." rows of the llama.cpp reference table (no imatrix).
std::map<std::string, uint64_t> llamacpp_file_sizes(const std::string& md_path) {
  std::map<std::string, uint64_t> sizes;
  std::istringstream in(test::read_text_file(md_path));
  std::string line;
  std::regex row(R"(^\|\s*([A-Z0-9_]+)\s*\|\s*([0-9,]+)\s*\|)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_search(line, m, row)) continue;
    std::string digits;
    for (char ch : m[2].str())
      if (ch != ',') digits += ch;
    sizes[m[1].str()] = std::stoull(digits);
  }
  return sizes;
}

TEST_SHARED(Presets, Q4KMTypesMatchLlamaCppFile) {
  GgufReader src(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  GgufReader ref(SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf"));
  auto choices = choose_tensor_types(src.metadata(), describe(src), find_preset("Q4_K_M"), {});
  ASSERT_EQ(choices.size(), ref.tensors().size());
  // Same order as llama.cpp's file, too.
  for (size_t i = 0; i < choices.size(); ++i) {
    EXPECT_EQ(choices[i].name, ref.tensors()[i].name);
    EXPECT_EQ(type_name(choices[i].type), type_name(ref.tensors()[i].type)) << choices[i].name;
  }
}

TEST_SHARED(Presets, EveryPresetGivesLlamaCppFileSize) {
  GgufReader src(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  GgufReader ref(SHARED_FILE("models/gutenberg23m-Q4_K_M.llamacpp.gguf"));
  auto sizes = llamacpp_file_sizes(SHARED_FILE("reference/llamacpp/gutenberg23m-quality.md"));
  ASSERT_GE(sizes.size(), 16u);
  // Every preset's header is the same size as this one (same keys, names, shapes).
  const uint64_t header = ref.data_offset();
  const auto tensors = describe(src);
  for (const auto& [preset, bytes] : sizes) {
    auto choices = choose_tensor_types(src.metadata(), tensors, find_preset(preset), {});
    EXPECT_EQ(header + data_bytes(tensors, choices), bytes) << preset;
  }
}

TEST_SHARED(Presets, LayerMixesOnGutenberg) {
  GgufReader src(SHARED_FILE("models/gutenberg23m-BF16.llamacpp.gguf"));
  const auto tensors = describe(src);
  // 6 layers: use_more_bits picks layers 2 and 5 (every third from n/8, and i >= 7n/8).
  auto q5km = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q5_K_M"), {}));
  for (int l = 0; l < 6; ++l) {
    const bool more = l == 2 || l == 5;
    EXPECT_EQ(q5km[fmt::format("blk.{}.attn_v.weight", l)], more ? GgmlType::Q6_K : GgmlType::Q5_K) << l;
    EXPECT_EQ(q5km[fmt::format("blk.{}.ffn_down.weight", l)], more ? GgmlType::Q6_K : GgmlType::Q5_K) << l;
    EXPECT_EQ(q5km[fmt::format("blk.{}.attn_q.weight", l)], GgmlType::Q5_K) << l;
  }
  // Q3_K_M: attn_v Q5_K in the first two layers then Q4_K; attn_output Q4_K; ffn_down Q4_K.
  auto q3km = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q3_K_M"), {}));
  EXPECT_EQ(q3km["blk.0.attn_v.weight"], GgmlType::Q5_K);
  EXPECT_EQ(q3km["blk.1.attn_v.weight"], GgmlType::Q5_K);
  EXPECT_EQ(q3km["blk.2.attn_v.weight"], GgmlType::Q4_K);
  EXPECT_EQ(q3km["blk.3.attn_output.weight"], GgmlType::Q4_K);
  EXPECT_EQ(q3km["blk.3.ffn_down.weight"], GgmlType::Q4_K);
  EXPECT_EQ(q3km["blk.3.ffn_up.weight"], GgmlType::Q3_K);
  EXPECT_EQ(q3km["output.weight"], GgmlType::Q6_K);
  EXPECT_EQ(q3km["token_embd.weight"], GgmlType::Q3_K);
  // Q4_K_S: attn_v Q5_K in the first four layers.
  auto q4ks = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q4_K_S"), {}));
  EXPECT_EQ(q4ks["blk.3.attn_v.weight"], GgmlType::Q5_K);
  EXPECT_EQ(q4ks["blk.4.attn_v.weight"], GgmlType::Q4_K);
  // Q8_0 keeps Q8_0 for the output.
  auto q8 = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q8_0"), {}));
  EXPECT_EQ(q8["output.weight"], GgmlType::Q8_0);
  EXPECT_EQ(q8["blk.0.attn_norm.weight"], GgmlType::F32);
}

TEST_SHARED(Presets, Stories260KFallbacks) {
  GgufReader src(SHARED_FILE("models/stories260K.gguf"));
  const auto tensors = describe(src);
  // 5 layers: use_more_bits picks layers 2 and 4. Rows are 64 (most) and 172 (ffn_down).
  auto q4km = choose_tensor_types(src.metadata(), tensors, find_preset("Q4_K_M"), {});
  auto m = type_map(q4km);
  EXPECT_EQ(m["output.weight"], GgmlType::Q8_0);      // 64 % 256 != 0 -> Q8_0 by the output rule
  EXPECT_EQ(m["token_embd.weight"], GgmlType::Q5_0);  // Q4_K -> Q5_0
  EXPECT_EQ(m["blk.0.attn_q.weight"], GgmlType::Q5_0);
  EXPECT_EQ(m["blk.0.attn_v.weight"], GgmlType::Q5_0);
  EXPECT_EQ(m["blk.2.attn_v.weight"], GgmlType::Q8_0);  // Q6_K -> Q8_0
  EXPECT_EQ(m["blk.4.attn_v.weight"], GgmlType::Q8_0);
  EXPECT_EQ(m["blk.1.ffn_gate.weight"], GgmlType::Q5_0);
  EXPECT_EQ(m["blk.1.ffn_down.weight"], GgmlType::F16);  // Q4_K -> Q5_0 -> 172 % 32 != 0 -> F16
  EXPECT_EQ(m["blk.2.ffn_down.weight"], GgmlType::F16);  // Q6_K -> Q8_0 -> F16
  EXPECT_EQ(m["blk.0.attn_norm.weight"], GgmlType::F32);
  int fallbacks = 0;
  for (const auto& c : q4km) fallbacks += c.fallback;
  EXPECT_EQ(fallbacks, 5 * 7 + 1);  // every layer matrix and token_embd

  auto q2 = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q2_K"), {}));
  EXPECT_EQ(q2["blk.0.attn_q.weight"], GgmlType::IQ4_NL);       // Q2_K -> IQ4_NL
  EXPECT_EQ(q2["blk.0.attn_v.weight"], GgmlType::IQ4_NL);       // GQA 2: Q3_K -> IQ4_NL
  EXPECT_EQ(q2["blk.0.attn_output.weight"], GgmlType::IQ4_NL);  // Q3_K -> IQ4_NL
  EXPECT_EQ(q2["blk.0.ffn_down.weight"], GgmlType::F16);
  EXPECT_EQ(q2["output.weight"], GgmlType::Q8_0);

  auto q5ks = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q5_K_S"), {}));
  EXPECT_EQ(q5ks["blk.0.attn_q.weight"], GgmlType::Q5_1);  // Q5_K -> Q5_1
  auto q6 = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q6_K"), {}));
  EXPECT_EQ(q6["blk.0.attn_q.weight"], GgmlType::Q8_0);  // Q6_K -> Q8_0
  auto iq4xs = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("IQ4_XS"), {}));
  EXPECT_EQ(iq4xs["blk.0.attn_q.weight"], GgmlType::IQ4_NL);
  // 32-weight blocks do not fit 172 either: F16.
  auto q8 = type_map(choose_tensor_types(src.metadata(), tensors, find_preset("Q8_0"), {}));
  EXPECT_EQ(q8["blk.0.ffn_down.weight"], GgmlType::F16);
  EXPECT_EQ(q8["blk.0.ffn_up.weight"], GgmlType::Q8_0);
}

TEST(Presets, FallbackChain) {
  EXPECT_EQ(fallback_type(GgmlType::Q4_K, 512), GgmlType::Q4_K);
  EXPECT_EQ(fallback_type(GgmlType::Q4_K, 96), GgmlType::Q5_0);
  EXPECT_EQ(fallback_type(GgmlType::Q5_K, 96), GgmlType::Q5_1);
  EXPECT_EQ(fallback_type(GgmlType::Q6_K, 96), GgmlType::Q8_0);
  EXPECT_EQ(fallback_type(GgmlType::Q2_K, 96), GgmlType::IQ4_NL);
  EXPECT_EQ(fallback_type(GgmlType::Q3_K, 96), GgmlType::IQ4_NL);
  EXPECT_EQ(fallback_type(GgmlType::IQ4_XS, 96), GgmlType::IQ4_NL);
  EXPECT_EQ(fallback_type(GgmlType::Q4_K, 100), GgmlType::F16);
  EXPECT_EQ(fallback_type(GgmlType::Q4_0, 100), GgmlType::F16);
  EXPECT_EQ(fallback_type(GgmlType::F16, 100), GgmlType::F16);
}

// A synthetic llama model: n_layer layers with the usual tensors.
std::vector<TensorDesc> synthetic(int n_layer, int64_t dim, int64_t kv_dim, bool with_output) {
  std::vector<TensorDesc> t;
  t.push_back({"token_embd.weight", {dim, 1000}, GgmlType::F16});
  if (with_output) t.push_back({"output.weight", {dim, 1000}, GgmlType::F16});
  t.push_back({"output_norm.weight", {dim}, GgmlType::F32});
  for (int l = 0; l < n_layer; ++l) {
    auto n = [&](const char* s) { return fmt::format("blk.{}.{}", l, s); };
    t.push_back({n("attn_q.weight"), {dim, dim}, GgmlType::F16});
    t.push_back({n("attn_k.weight"), {dim, kv_dim}, GgmlType::F16});
    t.push_back({n("attn_v.weight"), {dim, kv_dim}, GgmlType::F16});
    t.push_back({n("attn_output.weight"), {dim, dim}, GgmlType::F16});
    t.push_back({n("ffn_down.weight"), {dim, dim}, GgmlType::F16});
    t.push_back({n("attn_q.bias"), {dim}, GgmlType::F16});
    t.push_back({n("attn_norm.weight"), {dim}, GgmlType::BF16});
  }
  return t;
}

GgufMetadata llama_metadata(int n_layer, int n_head, int n_head_kv) {
  GgufMetadata md;
  md.set("general.architecture", GgufValue::string("llama"));
  md.set("llama.block_count", GgufValue::u32(uint32_t(n_layer)));
  md.set("llama.attention.head_count", GgufValue::u32(uint32_t(n_head)));
  md.set("llama.attention.head_count_kv", GgufValue::u32(uint32_t(n_head_kv)));
  return md;
}

TEST(Presets, TiedEmbeddingsAndGqa) {
  // 32 heads over 8 KV heads: GQA 4 -> attn_v gets Q4_K in Q2_K, Q5_K in IQ4_*.
  auto md = llama_metadata(8, 32, 8);
  auto tensors = synthetic(8, 1024, 256, /*with_output=*/false);
  auto q2 = type_map(choose_tensor_types(md, tensors, find_preset("Q2_K"), {}));
  EXPECT_EQ(q2["blk.3.attn_v.weight"], GgmlType::Q4_K);
  EXPECT_EQ(q2["blk.3.attn_k.weight"], GgmlType::Q2_K);
  EXPECT_EQ(q2["token_embd.weight"], GgmlType::Q6_K);  // tied: treated as the output matrix
  EXPECT_EQ(q2["blk.0.attn_q.bias"], GgmlType::F32);   // 1-D float -> F32
  EXPECT_EQ(q2["blk.0.attn_norm.weight"], GgmlType::F32);
  auto iq4 = type_map(choose_tensor_types(md, tensors, find_preset("IQ4_XS"), {}));
  EXPECT_EQ(iq4["blk.3.attn_v.weight"], GgmlType::Q5_K);
  EXPECT_EQ(iq4["blk.0.ffn_down.weight"], GgmlType::Q5_K);  // i < n/8 without imatrix
  EXPECT_EQ(iq4["blk.1.ffn_down.weight"], GgmlType::IQ4_XS);
  TypeOptions with_imatrix;
  with_imatrix.has_imatrix = true;
  auto iq4i = type_map(choose_tensor_types(md, tensors, find_preset("IQ4_XS"), with_imatrix));
  EXPECT_EQ(iq4i["blk.0.ffn_down.weight"], GgmlType::IQ4_XS);
  auto q40i = type_map(choose_tensor_types(md, tensors, find_preset("Q4_0"), with_imatrix));
  EXPECT_EQ(q40i["blk.0.ffn_down.weight"], GgmlType::Q4_1);  // guard for the first eighth with an imatrix
  EXPECT_EQ(q40i["blk.1.ffn_down.weight"], GgmlType::Q4_0);
  // With output.weight present, token_embd keeps the base type.
  auto with_out = type_map(choose_tensor_types(md, synthetic(8, 1024, 256, true), find_preset("Q2_K"), {}));
  EXPECT_EQ(with_out["token_embd.weight"], GgmlType::Q2_K);
  EXPECT_EQ(with_out["output.weight"], GgmlType::Q6_K);
}

TEST(Presets, SeventyBAttnV) {
  auto md = llama_metadata(80, 64, 8);
  auto q4ks = type_map(choose_tensor_types(md, synthetic(80, 256, 256, true), find_preset("Q4_K_S"), {}));
  EXPECT_EQ(q4ks["blk.40.attn_v.weight"], GgmlType::Q5_K);  // Q4_K bumped for 70B
  EXPECT_EQ(q4ks["blk.40.attn_q.weight"], GgmlType::Q4_K);
}

TEST(Presets, FloatPresetsAndPure) {
  auto md = llama_metadata(4, 8, 8);
  auto tensors = synthetic(4, 512, 512, true);
  auto f32 = type_map(choose_tensor_types(md, tensors, find_preset("F32"), {}));
  EXPECT_EQ(f32["output.weight"], GgmlType::F32);
  EXPECT_EQ(f32["blk.1.attn_v.weight"], GgmlType::F32);
  auto bf16 = type_map(choose_tensor_types(md, tensors, find_preset("bf16"), {}));
  EXPECT_EQ(bf16["output.weight"], GgmlType::BF16);
  EXPECT_EQ(bf16["blk.1.attn_norm.weight"], GgmlType::F32);
  TypeOptions pure;
  pure.pure = true;
  for (const auto& c : choose_tensor_types(md, tensors, find_preset("Q4_K_M"), pure))
    EXPECT_EQ(c.type, c.weight_matrix ? GgmlType::Q4_K : GgmlType::F32) << c.name;
}

TEST(Presets, Overrides) {
  auto md = llama_metadata(4, 8, 8);
  auto tensors = synthetic(4, 512, 512, true);
  TypeOptions o;
  o.overrides.push_back(parse_tensor_type_override("attn_(q|k)=q8_0"));
  o.overrides.push_back(parse_tensor_type_override("blk\\.3\\.attn_q=Q5_K"));  // later match wins
  o.output_type = parse_output_type("q4_k");
  o.embd_type = parse_output_type("Q8_0");
  auto choices = choose_tensor_types(md, tensors, find_preset("Q4_K_M"), o);
  auto m = type_map(choices);
  EXPECT_EQ(m["blk.0.attn_q.weight"], GgmlType::Q8_0);
  EXPECT_EQ(m["blk.0.attn_k.weight"], GgmlType::Q8_0);
  EXPECT_EQ(m["blk.3.attn_q.weight"], GgmlType::Q5_K);
  EXPECT_EQ(m["blk.0.attn_output.weight"], GgmlType::Q4_K);
  EXPECT_EQ(m["output.weight"], GgmlType::Q4_K);
  EXPECT_EQ(m["token_embd.weight"], GgmlType::Q8_0);
  EXPECT_EQ(m["blk.0.attn_q.bias"], GgmlType::F32);  // overrides touch weight matrices only
  // An override that does not fit the row length falls back like a rule would.
  TypeOptions k;
  k.overrides.push_back(parse_tensor_type_override("ffn_down=q6_k"));
  auto small = synthetic(1, 96, 96, true);
  EXPECT_EQ(type_map(choose_tensor_types(md, small, find_preset("Q8_0"), k))["blk.0.ffn_down.weight"], GgmlType::Q8_0);
}

TEST(Presets, BadNames) {
  EXPECT_THROW(find_preset("Q4_K_XL"), Error);
  try {
    find_preset("Q7");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K_M"), std::string::npos) << e.what();
  }
  EXPECT_EQ(find_preset("q4_k").file_type, 15u);  // llama.cpp's alias for Q4_K_M
  EXPECT_EQ(find_preset("Q5_K").file_type, 17u);
  EXPECT_EQ(find_preset("F32").file_type, 0u);
  EXPECT_EQ(find_preset("BF16").file_type, 32u);
  EXPECT_EQ(find_preset("IQ4_XS").file_type, 30u);
  EXPECT_THROW(parse_tensor_type_override("attn_v"), Error);
  EXPECT_THROW(parse_tensor_type_override("attn_v=Q9_9"), Error);
  EXPECT_THROW(parse_tensor_type_override("attn_(v=Q8_0"), Error);
  EXPECT_THROW(parse_output_type("IQ2_XXS"), Error);  // a type lowbit cannot write
}

TEST(Presets, LlamaOrder) {
  EXPECT_TRUE(llama_tensor_order_less("output.weight", "blk.0.attn_q.weight"));
  EXPECT_TRUE(llama_tensor_order_less("blk.2.ffn_up.weight", "blk.10.attn_k.weight"));
  EXPECT_TRUE(llama_tensor_order_less("blk.2.attn_v.weight", "blk.2.ffn_down.weight"));
}

}  // namespace
}  // namespace lowbit::quant
