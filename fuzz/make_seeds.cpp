// Builds the fuzzers' seed corpora at run time from the real files in
// ../shared (which must never be copied into the repository): each real file
// is shrunk to a few KB that keeps its structure (every metadata key with
// arrays cut short, a handful of tensors of every type with tiny shapes;
// safetensors with the real names and dtypes; tokenizers with the first few
// hundred tokens and the merges among them), plus a few hand-made seeds.
//
//   make_seeds <shared-dir> <corpus-dir>
// writes <corpus-dir>/<target>/<name> for gguf, safetensors, hf_config,
// hf_tokenizer and tokenize.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#ifdef LOWBIT_HAVE_IMATRIX
#include "quant/imatrix.h"
#endif

namespace fs = std::filesystem;
using namespace lowbit;
using nlohmann::json;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// Metadata value with arrays cut to at most `keep` elements.
GgufValue shrink_value(const GgufValue& v, size_t keep) {
  if (v.type() != GgufType::ARRAY) return v;
  GgufArray a = v.as_array();
  if (a.count <= keep) return v;
  const size_t elem = a.count ? a.raw.size() / a.count : 0;
  a.count = keep;
  if (!a.strings.empty()) a.strings.resize(keep);
  if (!a.nested.empty()) a.nested.resize(keep);
  if (!a.raw.empty()) a.raw.resize(keep * elem);
  return GgufValue::array(std::move(a));
}

// A small GGUF with the source's metadata (arrays cut short) and its first
// tensor of each type plus a few more, each cut to one or two blocks per row.
void shrink_gguf(const fs::path& src, const fs::path& dst, size_t keep_array) {
  GgufReader r(src.string());
  GgufWriter w(dst.string());
  for (const auto& [k, v] : r.metadata().entries()) w.metadata().set(k, shrink_value(v, keep_array));
  std::set<GgmlType> seen;
  std::vector<std::pair<const GgufTensorInfo*, std::vector<int64_t>>> kept;
  for (const auto& t : r.tensors()) {
    if (kept.size() >= 6 && seen.count(t.type)) continue;
    seen.insert(t.type);
    const int64_t block = type_traits(t.type).block_size;
    std::vector<int64_t> shape = t.shape;
    shape[0] = std::min<int64_t>(shape[0], block * (block == 1 ? 8 : 1));
    for (size_t d = 1; d < shape.size(); ++d) shape[d] = std::min<int64_t>(shape[d], 2);
    kept.push_back({&t, shape});
    w.add_tensor(t.name, shape, t.type);
    if (kept.size() >= 12) break;
  }
  w.begin_data();
  for (const auto& [t, shape] : kept) {
    // Rows of the small tensor come from the first rows of the real one.
    const size_t small_row = row_bytes(t->type, shape[0]);
    const size_t big_row = row_bytes(t->type, t->shape[0]);
    int64_t rows = 1;
    for (size_t d = 1; d < shape.size(); ++d) rows *= shape[d];
    for (int64_t i = 0; i < rows; ++i) w.write_tensor_data(t->data + size_t(i) * big_row, small_row);
  }
  w.finish();
}

// A small safetensors file with up to 10 of the source's tensors, each cut
// to a few elements, keeping names, dtypes, ranks and __metadata__.
void shrink_safetensors(const fs::path& src, const fs::path& dst) {
  SafetensorsFile f(src.string());
  json header = json::object();
  std::string data;
  if (!f.metadata().empty()) {
    json meta = json::object();
    for (const auto& [k, v] : f.metadata()) meta[k] = v;
    header["__metadata__"] = meta;
  }
  int n = 0;
  for (const auto& t : f.tensors()) {
    if (n++ >= 10) break;
    std::vector<int64_t> shape = t.shape;
    int64_t elements = 1;
    for (auto& d : shape) d = std::min<int64_t>(d, 4), elements *= d;
    const size_t bytes = size_t(elements) * (t.element_count() ? t.bytes / size_t(t.element_count()) : 0);
    const size_t begin = data.size();
    data.append(reinterpret_cast<const char*>(t.data), std::min<size_t>(bytes, t.bytes));
    data.resize(begin + bytes);
    header[t.name] = {{"dtype", t.dtype}, {"shape", shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string h = header.dump();
  while (h.size() % 8) h.push_back(' ');
  std::string out(8, '\0');
  uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((len >> (8 * i)) & 0xff);
  write_file(dst, out + h + data);
}

// A tokenizer.json cut to its first `keep` base tokens (plus added tokens)
// and the merges among them.
std::string shrink_tokenizer(const fs::path& src, size_t keep) {
  json j = json::parse(read_file(src));
  json& model = j["model"];
  if (model.value("type", "") == "BPE" && model["vocab"].is_object()) {
    json vocab = json::object();
    std::set<std::string> kept;
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it)
      if (it.value().is_number_integer() && it.value().get<int64_t>() < int64_t(keep)) {
        vocab[it.key()] = it.value();
        kept.insert(it.key());
      }
    json merges = json::array();
    for (const auto& m : model["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        auto sp = s.find(' ');
        if (sp == std::string::npos) continue;
        a = s.substr(0, sp), b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2) {
        a = m[0].get<std::string>(), b = m[1].get<std::string>();
      }
      if (kept.count(a) && kept.count(b) && kept.count(a + b)) merges.push_back(m);
      if (merges.size() >= 200) break;
    }
    model["vocab"] = vocab;
    model["merges"] = merges;
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    json added = json::array();
    for (auto& a : j["added_tokens"]) {
      if (a["id"].get<int64_t>() >= int64_t(keep)) a["id"] = int64_t(keep) + int64_t(added.size());
      added.push_back(a);
    }
    j["added_tokens"] = added;
  }
  return j.dump(1);
}

#ifdef LOWBIT_HAVE_IMATRIX
// A legacy imatrix file with the source's first entries, cut short.
void shrink_imatrix(const fs::path& src, const fs::path& dst) {
  std::string bytes = read_file(src);
  auto m = quant::parse_imatrix(src.string(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  std::string out;
  auto put_i32 = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const int32_t n = int32_t(std::min<size_t>(m.entries.size(), 3));
  put_i32(n);
  int i = 0;
  for (const auto& [name, values] : m.entries) {
    if (i++ >= n) break;
    const int32_t calls = m.call_counts.count(name) ? m.call_counts.at(name) : 1;
    put_i32(int32_t(name.size()));
    out += name;
    put_i32(calls);
    const int32_t count = int32_t(std::min<size_t>(values.size(), 64));
    put_i32(count);
    for (int32_t k = 0; k < count; ++k) {
      float v = values[size_t(k)] * float(calls);
      out.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  put_i32(m.chunk_count);
  put_i32(int32_t(m.dataset.size()));
  out += m.dataset;
  write_file(dst, out);
}
#endif

const char* const kSep = "\n@@@@\n";

// Hand-made inputs for branches the real files do not reach.
const char* const kConfigSeeds[] = {
    R"({"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,
"intermediate_size":172,"vocab_size":512,"max_position_embeddings":256,"rms_norm_eps":1e-5,"rope_theta":10000.0,
"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
"original_max_position_embeddings":8192},"bos_token_id":1,"eos_token_id":[2,3],"tie_word_embeddings":true})",
    R"({"model_type":"mistral","hidden_size":128,"num_hidden_layers":1,"num_attention_heads":4,"head_dim":64,
"intermediate_size":256,"vocab_size":1000,"max_position_embeddings":4096,"rope_scaling":{"type":"yarn","factor":4,
"original_max_position_embeddings":1024},"attention_bias":true})",
    R"({"model_type":"qwen2","hidden_size":32,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":64,
"vocab_size":100,"max_position_embeddings":64,"rope_parameters":{"rope_type":"linear","factor":2.0,"rope_theta":1e6}})",
};

const char* const kTokenizerSeeds[] = {
    // SentencePiece-style Unigram with a Metaspace pre-tokenizer.
    R"({"model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0],["<s>",0],["</s>",0],["▁a",-1.5],["b",-2.0],
["<0x41>",-3]]},"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"},
"added_tokens":[{"id":1,"content":"<s>","special":true},{"id":2,"content":"</s>","special":true}],
"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},
{"Sequence":{"id":"A","type_id":0}}]}})"
    "\n@@@@\n"
    R"({"bos_token":"<s>","eos_token":{"content":"</s>"},"add_bos_token":true,"chat_template":[{"name":"default",
"template":"{{ x }}"},{"name":"tool_use","template":"y"}]})"
    "\n@@@@\n"
    R"({"vocab_size":8,"bos_token_id":1,"eos_token_id":2})",
    // BPE with byte fallback (Llama 2 style).
    R"({"model":{"type":"BPE","byte_fallback":true,"unk_token":"<unk>","vocab":{"<unk>":0,"<s>":1,"</s>":2,
"<0x0A>":3,"▁":4,"t":5,"h":6,"th":7,"▁th":8},"merges":["t h","▁ th"]},"normalizer":{"type":"Sequence",
"normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
"added_tokens":[{"id":1,"content":"<s>","special":true},{"id":9,"content":"<user>","special":false}]})",
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_seeds <shared-dir> <corpus-dir>\n");
    return 2;
  }
  const fs::path shared = argv[1], out = argv[2];
  int made = 0;
  auto attempt = [&](const std::string& what, auto&& fn) {
    try {
      fn();
      ++made;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "make_seeds: skipping %s: %s\n", what.c_str(), e.what());
    }
  };

  // GGUF: real models, golden quantized tensors (one file per type),
  // tokenizer-only vocabularies.
  std::vector<fs::path> ggufs = {shared / "models/stories260K.gguf", shared / "models/gutenberg23m-Q4_K_M.llamacpp.gguf",
                                 shared / "models/gutenberg23m-BF16.llamacpp.gguf"};
  for (const char* dir : {"golden/quant", "golden/imatrix", "vocab"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(shared / dir, ec))
      if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
  }
  fs::create_directories(out / "gguf");
  for (const auto& g : ggufs) {
    const std::string name = g.parent_path().filename().string() + "-" + g.filename().string();
    attempt(g.string(), [&] { shrink_gguf(g, out / "gguf" / name, 24); });
  }
  // The model-level GGUF target starts from the same files.
  fs::create_directories(out / "gguf_model");
  for (const auto& e : fs::directory_iterator(out / "gguf"))
    fs::copy_file(e.path(), out / "gguf_model" / e.path().filename(), fs::copy_options::overwrite_existing);

#ifdef LOWBIT_HAVE_IMATRIX
  attempt("imatrix", [&] {
    shrink_imatrix(shared / "golden/imatrix/gutenberg23m.imatrix.dat", out / "imatrix" / "gutenberg23m.dat");
  });
#endif

  // safetensors: every real file.
  for (const char* model : {"models/qwen2tiny", "models/gutenberg23m"}) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(shared / model, ec))
      if (e.path().extension() == ".safetensors")
        attempt(e.path().string(), [&] {
          shrink_safetensors(e.path(), out / "safetensors" / (fs::path(model).filename().string() + "-" +
                                                              e.path().filename().string()));
        });
  }

  // config.json: the real ones and the hand-made ones.
  for (const char* model : {"qwen2tiny", "gutenberg23m"})
    attempt(model, [&] {
      write_file(out / "hf_config" / model, read_file(shared / "models" / model / "config.json"));
    });
  for (size_t i = 0; i < std::size(kConfigSeeds); ++i)
    attempt("config seed", [&] { write_file(out / "hf_config" / ("hand-" + std::to_string(i)), kConfigSeeds[i]); });

  // tokenizer.json (+ tokenizer_config.json + config.json) bundles.
  for (const char* dir : {"models/qwen2tiny", "models/gutenberg23m", "tokenizers/llama3style"})
    attempt(dir, [&] {
      const fs::path d = shared / dir;
      std::string bundle = shrink_tokenizer(d / "tokenizer.json", 300);
      bundle += kSep + (fs::exists(d / "tokenizer_config.json") ? read_file(d / "tokenizer_config.json") : "{}");
      bundle += std::string(kSep) + R"({"vocab_size":320})";
      write_file(out / "hf_tokenizer" / fs::path(dir).filename(), bundle);
    });
  for (size_t i = 0; i < std::size(kTokenizerSeeds); ++i)
    attempt("tokenizer seed",
            [&] { write_file(out / "hf_tokenizer" / ("hand-" + std::to_string(i)), kTokenizerSeeds[i]); });

  // Text to tokenize: the vocabularies' test strings and slices of the texts,
  // behind fuzz_tokenize's two selector bytes (vocabulary, flags).
  std::error_code ec;
  int n = 0;
  auto text_seed = [&](const std::string& name, const std::string& text) {
    std::string bytes = {char(n % 13), char(0)};
    write_file(out / "tokenize" / name, bytes + text);
  };
  for (const auto& e : fs::directory_iterator(shared / "vocab", ec)) {
    if (e.path().extension() != ".inp" || n > 0) continue;  // every .inp holds the same strings
    std::string all = read_file(e.path());
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t p = 0, q; p < all.size(); p = q + sep.size()) {
      q = all.find(sep, p);
      if (q == std::string::npos) q = all.size();
      text_seed("vocab-" + std::to_string(n), all.substr(p, q - p));
      ++n;
    }
  }
  for (const auto& e : fs::directory_iterator(shared / "text", ec)) {
    std::string all = read_file(e.path());
    for (size_t off : {size_t(0), all.size() / 2})
      if (off < all.size())
        text_seed(e.path().stem().string() + "-" + std::to_string(off), all.substr(off, 600)), ++n;
    ++made;
  }
  std::printf("make_seeds: %d seed groups written to %s\n", made, out.c_str());
  return made > 0 ? 0 : 1;
}
