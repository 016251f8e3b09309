#include "eval/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "io/gguf.h"

namespace lowbit::eval {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Approximately normal values (sum of two uniforms) with the given std.
void fill_row(float* out, int64_t n, uint64_t seed, float stddev) {
  uint64_t state = seed;
  const float scale = stddev * std::sqrt(6.0f) / float(1ull << 31);  // var of U(-1,1)+U(-1,1) = 2/3
  for (int64_t i = 0; i < n; ++i) {
    uint64_t r = splitmix64(state);
    float a = float(int32_t(uint32_t(r))), b = float(int32_t(uint32_t(r >> 32)));
    out[i] = (a + b) * scale * 0.5f;
  }
}

// The GPT-2 byte-to-text mapping, so the vocabulary is a valid byte-level BPE vocabulary.
std::string byte_token(int b) {
  int cp = b;
  bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (!printable) {
    int n = 0;
    for (int c = 0; c < b; ++c) {
      bool p = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
      if (!p) ++n;
    }
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

}  // namespace

SyntheticShape synthetic_shape(const std::string& name) {
  if (name == "tiny") return {"tiny", 256, 4, 4, 2, 768, 4096, 1024};
  if (name == "small") return {"small", 768, 8, 12, 4, 2048, 8192, 2048};
  if (name == "1B") return {"1B", 2048, 16, 32, 8, 8192, 32000, 4096};
  if (name == "7B") return {"7B", 4096, 32, 32, 32, 11008, 32000, 4096};
  fail("unknown synthetic model shape '{}' (tiny, small, 1B, 7B)", name);
}

SyntheticResult write_synthetic_model(const std::string& path, const SyntheticShape& s, GgmlType type, uint64_t seed,
                                      bool show_progress) {
  if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16)
    fail("synthetic models are written as F32, F16 or BF16 (quantize them afterwards), not {}", type_name(type));
  if (s.n_vocab < 258) fail("synthetic vocabulary needs at least 258 tokens");
  GgufWriter w(path);
  auto& m = w.metadata();
  m.set("general.architecture", GgufValue::string("llama"));
  m.set("general.name", GgufValue::string("lowbit synthetic " + s.name));
  m.set("llama.context_length", GgufValue::u32(uint32_t(s.n_ctx)));
  m.set("llama.embedding_length", GgufValue::u32(uint32_t(s.n_embd)));
  m.set("llama.block_count", GgufValue::u32(uint32_t(s.n_layer)));
  m.set("llama.feed_forward_length", GgufValue::u32(uint32_t(s.n_ff)));
  m.set("llama.rope.dimension_count", GgufValue::u32(uint32_t(s.n_embd / s.n_head)));
  m.set("llama.attention.head_count", GgufValue::u32(uint32_t(s.n_head)));
  m.set("llama.attention.head_count_kv", GgufValue::u32(uint32_t(s.n_head_kv)));
  m.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
  m.set("llama.rope.freq_base", GgufValue::f32(10000.0f));
  m.set("llama.vocab_size", GgufValue::u32(uint32_t(s.n_vocab)));
  m.set("general.file_type", GgufValue::u32(type == GgmlType::F32 ? 0 : type == GgmlType::F16 ? 1 : 32));
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;
  for (int b = 0; b < 256; ++b) tokens.push_back(byte_token(b)), token_types.push_back(1);
  tokens.push_back("<|bos|>"), token_types.push_back(3);
  tokens.push_back("<|eos|>"), token_types.push_back(3);
  while (int64_t(tokens.size()) < s.n_vocab) {
    tokens.push_back("<|unused_" + std::to_string(tokens.size()) + "|>");
    token_types.push_back(3);
  }
  m.set("tokenizer.ggml.model", GgufValue::string("gpt2"));
  m.set("tokenizer.ggml.pre", GgufValue::string("gpt-2"));
  m.set("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  m.set("tokenizer.ggml.token_type", GgufValue::i32_array(token_types));
  m.set("tokenizer.ggml.merges", GgufValue::string_array({}));
  m.set("tokenizer.ggml.bos_token_id", GgufValue::u32(256));
  m.set("tokenizer.ggml.eos_token_id", GgufValue::u32(257));
  m.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));

  struct Spec { std::string name; std::vector<int64_t> shape; bool norm; };
  std::vector<Spec> specs;
  const int64_t hd = s.n_embd / s.n_head;
  specs.push_back({"token_embd.weight", {s.n_embd, s.n_vocab}, false});
  for (int64_t l = 0; l < s.n_layer; ++l) {
    std::string p = "blk." + std::to_string(l) + ".";
    specs.push_back({p + "attn_norm.weight", {s.n_embd}, true});
    specs.push_back({p + "attn_q.weight", {s.n_embd, s.n_head * hd}, false});
    specs.push_back({p + "attn_k.weight", {s.n_embd, s.n_head_kv * hd}, false});
    specs.push_back({p + "attn_v.weight", {s.n_embd, s.n_head_kv * hd}, false});
    specs.push_back({p + "attn_output.weight", {s.n_head * hd, s.n_embd}, false});
    specs.push_back({p + "ffn_norm.weight", {s.n_embd}, true});
    specs.push_back({p + "ffn_gate.weight", {s.n_embd, s.n_ff}, false});
    specs.push_back({p + "ffn_up.weight", {s.n_embd, s.n_ff}, false});
    specs.push_back({p + "ffn_down.weight", {s.n_ff, s.n_embd}, false});
  }
  specs.push_back({"output_norm.weight", {s.n_embd}, true});
  specs.push_back({"output.weight", {s.n_embd, s.n_vocab}, false});

  SyntheticResult result;
  for (const auto& sp : specs) {
    w.add_tensor(sp.name, sp.shape, sp.norm ? GgmlType::F32 : type);
    int64_t n = 1;
    for (int64_t d : sp.shape) n *= d;
    result.parameters += uint64_t(n);
  }
  w.begin_data();
  Progress progress("synthesize", double(result.parameters), show_progress);
  double done = 0;
  for (size_t ti = 0; ti < specs.size(); ++ti) {
    const auto& sp = specs[ti];
    const int64_t cols = sp.shape[0];
    const int64_t rows = sp.shape.size() > 1 ? sp.shape[1] : 1;
    if (sp.norm) {
      std::vector<float> ones(size_t(cols), 1.0f);
      w.write_tensor_data(ones.data(), ones.size() * 4);
    } else {
      const size_t elem = type == GgmlType::F32 ? 4 : 2;
      const int64_t chunk_rows = std::max<int64_t>(1, (int64_t(1) << 22) / cols);  // ~4M values at a time
      std::vector<uint8_t> buf(size_t(chunk_rows * cols) * elem);
      for (int64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
        const int64_t nr = std::min(chunk_rows, rows - r0);
        parallel_for(nr, 1, [&](int64_t a, int64_t b) {
          std::vector<float> row(static_cast<size_t>(cols));
          for (int64_t r = a; r < b; ++r) {
            fill_row(row.data(), cols, seed * 1000003u + ti * 7919u + uint64_t(r0 + r) * 104729u, 0.02f);
            uint8_t* dst = buf.data() + size_t(r * cols) * elem;
            for (int64_t i = 0; i < cols; ++i) {
              if (type == GgmlType::F32) std::memcpy(dst + i * 4, &row[size_t(i)], 4);
              else {
                uint16_t h = type == GgmlType::F16 ? float_to_fp16(row[size_t(i)]) : float_to_bf16(row[size_t(i)]);
                std::memcpy(dst + i * 2, &h, 2);
              }
            }
          }
        });
        w.write_tensor_data(buf.data(), size_t(nr * cols) * elem);
        done += double(nr * cols);
        progress.update(done, sp.name);
      }
    }
  }
  w.finish();
  progress.finish();
  result.file_bytes = w.total_bytes();
  result.seconds = progress.elapsed_seconds();
  return result;
}

}  // namespace lowbit::eval
