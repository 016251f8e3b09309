// tokenizer.json -> GGUF tokenizer metadata (see hf_tokenizer.h).
#include "io/hf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "io/hf_json.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kMaxVocab = int64_t(1) << 24;

// The split regexes of the pre-tokenizer families lowbit knows, as they
// appear in tokenizer.json.
const char* const kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct AddedToken {
  int64_t id;
  std::string content;
  bool special;
};

// Everything read from the files, before it becomes GGUF metadata.
struct Sources {
  std::string folder;
  std::string tokenizer_path;
  Json tokenizer;
  std::string config_path;     // tokenizer_config.json, may be absent
  Json tokenizer_config = Json::object();
  std::string model_config_path;  // config.json, may be absent
  Json model_config = Json::object();
  std::vector<AddedToken> added;
};

// An object's "type" string; "" when absent or not a string (nlohmann's
// value() would throw its own exception for a non-string).
std::string type_of(const Json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool looks_special(const std::string& t) {
  auto ends = [&](const std::string& s) { return t.size() >= s.size() && t.compare(t.size() - s.size(), s.size(), s) == 0; };
  auto starts = [&](const std::string& s) { return t.rfind(s, 0) == 0; };
  if (t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]") return true;
  if (t.size() >= 4 && starts("<|") && ends("|>")) return true;
  if (starts("<\xEF\xBD\x9C") && ends("\xEF\xBD\x9C>")) return true;  // <｜...｜> (deepseek)
  if (starts("<unused") && ends(">")) return true;
  return false;
}

bool is_byte_token(const std::string& t) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && hex(t[3]) && hex(t[4]) && t[5] == '>';
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

// Every pre-tokenizer in a (possibly nested) Sequence, in order.
void flatten_pre_tokenizers(const Json& p, std::vector<const Json*>& out) {
  if (!p.is_object()) return;
  if (type_of(p) == "Sequence") {
    auto it = p.find("pretokenizers");
    if (it != p.end() && it->is_array())
      for (const Json& q : *it) flatten_pre_tokenizers(q, out);
    return;
  }
  out.push_back(&p);
}

std::string detect_bpe_pre(const Sources& s) {
  const std::string& file = s.tokenizer_path;
  std::vector<const Json*> steps;
  if (auto it = s.tokenizer.find("pre_tokenizer"); it != s.tokenizer.end()) flatten_pre_tokenizers(*it, steps);
  std::vector<std::string> regexes;
  bool byte_level = false;
  for (const Json* st : steps) {
    std::string type = type_of(*st);
    if (type == "ByteLevel") {
      byte_level = true;
      if (json_bool(*st, "use_regex", file).value_or(true)) regexes.push_back(kGpt2Regex);
    } else if (type == "Split") {
      auto pat = st->find("pattern");
      if (pat == st->end() || !pat->is_object() || !pat->contains("Regex") || !(*pat)["Regex"].is_string())
        fail("{}: Split pre-tokenizer without a regex pattern is not supported", file);
      regexes.push_back((*pat)["Regex"].get<std::string>());
    } else if (type == "Digits" || type == "Punctuation" || type == "Whitespace" || type == "Metaspace") {
      fail("{}: byte-level BPE with a {} pre-tokenizer is not supported", file, type);
    }
  }
  if (!byte_level) fail("{}: BPE tokenizer without a ByteLevel pre-tokenizer is not supported", file);
  if (regexes.size() != 1)
    fail("{}: pre-tokenizer with {} split regexes is not supported (one GPT-2, Llama-3 or Qwen2 regex is)", file,
         regexes.size());
  std::string pre = hf_pre_tokenizer_for_regex(regexes[0]);
  if (pre.empty())
    fail("{}: pre-tokenizer regex not recognised (supported: GPT-2, Llama-3, Qwen2 families): {}", file,
         regexes[0].substr(0, 200));
  return pre;
}

// The id of a special token named in tokenizer_config.json (a string or an
// AddedToken object {"content": ...}).
std::optional<int64_t> config_token_id(const Sources& s, const char* key,
                                       const std::unordered_map<std::string, int64_t>& by_text) {
  auto it = s.tokenizer_config.find(key);
  if (it == s.tokenizer_config.end() || it->is_null()) return std::nullopt;
  std::string text;
  if (it->is_string()) text = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) text = (*it)["content"].get<std::string>();
  else fail("{}: \"{}\" must be a string or an object with \"content\"", s.config_path, key);
  for (const auto& a : s.added)
    if (a.content == text) return a.id;
  if (auto f = by_text.find(text); f != by_text.end()) return f->second;
  return std::nullopt;
}

// add_bos / add_eos from a TemplateProcessing post-processor (possibly in a
// Sequence): a special token first / last in the single-sequence template.
struct TemplateInfo {
  bool found = false;
  bool add_bos = false, add_eos = false;
  std::string bos_text, eos_text;
};

void read_template(const Json& pp, TemplateInfo& info) {
  if (!pp.is_object()) return;
  std::string type = type_of(pp);
  if (type == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
    for (const Json& q : pp["processors"]) read_template(q, info);
    return;
  }
  if (type != "TemplateProcessing") return;
  auto single = pp.find("single");
  if (single == pp.end() || !single->is_array() || single->empty()) return;
  info.found = true;
  auto special_of = [](const Json& piece) -> std::optional<std::string> {
    if (piece.is_object() && piece.contains("SpecialToken") && piece["SpecialToken"].is_object() &&
        piece["SpecialToken"].contains("id") && piece["SpecialToken"]["id"].is_string())
      return piece["SpecialToken"]["id"].get<std::string>();
    return std::nullopt;
  };
  if (auto first = special_of(single->front())) info.add_bos = true, info.bos_text = *first;
  if (single->size() > 1)
    if (auto last = special_of(single->back())) info.add_eos = true, info.eos_text = *last;
}

std::optional<bool> config_flag(const Sources& s, const char* key) {
  return json_bool(s.tokenizer_config, key, s.config_path);
}

void add_chat_template(const Sources& s, GgufMetadata& m) {
  auto it = s.tokenizer_config.find("chat_template");
  if (it != s.tokenizer_config.end() && it->is_string()) {
    m.set("tokenizer.chat_template", GgufValue::string(it->get<std::string>()));
    return;
  }
  if (it != s.tokenizer_config.end() && it->is_array()) {  // [{"name": ..., "template": ...}]
    for (const Json& t : *it) {
      if (!t.is_object() || !t.contains("name") || !t.contains("template") || !t["name"].is_string() ||
          !t["template"].is_string())
        fail("{}: chat_template list entries need \"name\" and \"template\" strings", s.config_path);
      std::string name = t["name"].get<std::string>();
      m.set(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name,
            GgufValue::string(t["template"].get<std::string>()));
    }
    return;
  }
  // transformers 5 keeps the template in its own file.
  const fs::path jinja = fs::path(s.folder) / "chat_template.jinja";
  std::error_code ec;
  if (fs::is_regular_file(jinja, ec)) {
    std::ifstream in(jinja, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    m.set("tokenizer.chat_template", GgufValue::string(ss.str()));
  }
}

Sources load(const std::string& folder) {
  Sources s;
  s.folder = folder;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail("{}: not a directory", folder);
  s.tokenizer_path = (fs::path(folder) / "tokenizer.json").string();
  if (!fs::exists(s.tokenizer_path, ec)) {
    if (fs::exists(fs::path(folder) / "tokenizer.model", ec))
      fail("{}: no tokenizer.json (a SentencePiece tokenizer.model alone is not supported)", folder);
    fail("{}: no tokenizer.json", folder);
  }
  s.tokenizer = read_json_file(s.tokenizer_path);
  if (!s.tokenizer.is_object() || !s.tokenizer.contains("model") || !s.tokenizer["model"].is_object())
    fail("{}: no \"model\" object", s.tokenizer_path);
  s.config_path = (fs::path(folder) / "tokenizer_config.json").string();
  if (fs::exists(s.config_path, ec)) {
    s.tokenizer_config = read_json_file(s.config_path, 64ull << 20);
    if (!s.tokenizer_config.is_object()) fail("{}: expected a JSON object", s.config_path);
  }
  s.model_config_path = (fs::path(folder) / "config.json").string();
  if (fs::exists(s.model_config_path, ec)) {
    s.model_config = read_json_file(s.model_config_path, 64ull << 20);
    if (!s.model_config.is_object()) fail("{}: expected a JSON object", s.model_config_path);
  }
  if (auto it = s.tokenizer.find("added_tokens"); it != s.tokenizer.end() && !it->is_null()) {
    if (!it->is_array()) fail("{}: \"added_tokens\" must be an array", s.tokenizer_path);
    for (const Json& a : *it) {
      auto id = json_int(a, "id", s.tokenizer_path + ": added_tokens");
      auto content = json_string(a, "content", s.tokenizer_path + ": added_tokens");
      if (!id || !content || *id < 0 || *id >= kMaxVocab)
        fail("{}: added token {} needs an \"id\" in [0, {}) and a \"content\" string", s.tokenizer_path, brief(a),
             kMaxVocab);
      s.added.push_back({*id, *content, json_bool(a, "special", s.tokenizer_path).value_or(false)});
    }
  }
  return s;
}

}  // namespace

std::string hf_pre_tokenizer_for_regex(const std::string& regex) {
  if (regex == kGpt2Regex) return "gpt-2";
  if (regex == kLlama3Regex) return "llama-bpe";
  if (regex == kQwen2Regex) return "qwen2";
  return "";
}

GgufMetadata hf_tokenizer_metadata(const std::string& folder, int64_t vocab_size) {
  Sources s = load(folder);
  const std::string& file = s.tokenizer_path;
  const Json& model = s.tokenizer["model"];
  const std::string model_type = type_of(model);
  if (model_type != "BPE" && model_type != "Unigram")
    fail("{}: tokenizer model type '{}' is not supported (BPE and Unigram are)", file, model_type);

  // SentencePiece style: Unigram, or BPE over "▁"-marked words with byte fallback.
  bool spm = model_type == "Unigram" || json_bool(model, "byte_fallback", file).value_or(false);
  std::vector<const Json*> pre_steps;
  if (auto it = s.tokenizer.find("pre_tokenizer"); it != s.tokenizer.end()) flatten_pre_tokenizers(*it, pre_steps);
  const Json* metaspace = nullptr;
  for (const Json* st : pre_steps)
    if (type_of(*st) == "Metaspace") metaspace = st;
  if (metaspace) spm = true;

  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end()) fail("{}: model has no \"vocab\"", file);
  // Ids may leave holes (padding), but not so many that a small file could
  // make us allocate millions of entries.
  const int64_t listed = int64_t(vocab_it->size() + s.added.size());
  const int64_t max_ids = std::min<int64_t>(kMaxVocab, 2 * listed + 65536);

  // id -> text for the base vocabulary, then added tokens on top.
  std::vector<std::string> texts;
  std::vector<float> scores;
  std::vector<bool> present;
  auto put = [&](int64_t id, std::string text, float score) {
    if (id < 0 || id >= max_ids)
      fail("{}: token id {} is out of range (the file lists {} tokens)", file, id, listed);
    if (size_t(id) >= texts.size()) texts.resize(size_t(id) + 1), scores.resize(size_t(id) + 1), present.resize(size_t(id) + 1);
    texts[size_t(id)] = std::move(text);
    scores[size_t(id)] = score;
    present[size_t(id)] = true;
  };
  std::unordered_map<std::string, int64_t> by_text;
  if (model_type == "BPE") {
    if (!vocab_it->is_object()) fail("{}: BPE \"vocab\" must be an object of token -> id", file);
    for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
      if (!it.value().is_number_integer()) fail("{}: vocab entry '{}' has a non-integer id", file, it.key());
      int64_t id = it.value().get<int64_t>();
      if (id >= 0 && size_t(id) < present.size() && present[size_t(id)])
        fail("{}: token id {} is used by both '{}' and '{}'", file, id, texts[size_t(id)], it.key());
      put(id, it.key(), 0.0f);
      by_text[it.key()] = id;
    }
  } else {
    if (!vocab_it->is_array()) fail("{}: Unigram \"vocab\" must be an array of [piece, score]", file);
    int64_t id = 0;
    for (const Json& e : *vocab_it) {
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
        fail("{}: Unigram vocab entry {} is not [piece, score]", file, id);
      put(id, e[0].get<std::string>(), e[1].get<float>());
      by_text[e[0].get<std::string>()] = id;
      ++id;
    }
  }

  // Merges: "a b" strings (older files) or ["a", "b"] pairs (newer).
  std::vector<std::string> merges;
  if (model_type == "BPE") {
    auto mit = model.find("merges");
    if (mit == model.end() || !mit->is_array()) fail("{}: BPE model has no \"merges\" array", file);
    merges.reserve(mit->size());
    for (const Json& mg : *mit) {
      if (mg.is_string()) merges.push_back(mg.get<std::string>());
      else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string())
        merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
      else fail("{}: merge {} is neither \"a b\" nor [\"a\", \"b\"]", file, merges.size());
    }
  }

  std::map<int64_t, const AddedToken*> added_by_id;
  for (const auto& a : s.added) {
    added_by_id[a.id] = &a;
    if (size_t(a.id) >= present.size() || !present[size_t(a.id)]) put(a.id, a.content, 0.0f);
  }

  // Vocabulary size: the model's embedding rows (config.json), padded.
  if (vocab_size <= 0) {
    if (auto v = json_int(s.model_config, "vocab_size", s.model_config_path)) vocab_size = *v;
  }
  if (vocab_size > max_ids)
    fail("{}: vocab_size {} is far beyond the {} tokens of {}", s.model_config_path, vocab_size, listed, file);
  if (vocab_size > 0 && int64_t(texts.size()) > vocab_size)
    fail("{}: token id {} is beyond the model's vocab_size {} ({})", file, texts.size() - 1, vocab_size,
         s.model_config_path);
  const size_t n = size_t(std::max<int64_t>(vocab_size, int64_t(texts.size())));

  std::optional<int64_t> unk_id;
  if (model_type == "Unigram") unk_id = json_int(model, "unk_id", file);
  else if (auto u = json_string(model, "unk_token", file); u && by_text.count(*u)) unk_id = by_text[*u];

  // Scores for BPE in SentencePiece form: llama.cpp merges the adjacent pair
  // with the highest score, so a token made by merge r gets -r (earlier
  // merges win); tokens no merge produces get the lowest priority.
  std::unordered_map<std::string, size_t> merge_rank;
  if (spm && model_type == "BPE")
    for (size_t r = 0; r < merges.size(); ++r) {
      std::string joined = merges[r];
      auto sp = joined.find(' ');
      if (sp != std::string::npos) joined.erase(sp, 1);
      merge_rank.emplace(std::move(joined), r);
    }

  std::vector<std::string> tokens(n);
  std::vector<float> token_scores(n, 0.0f);
  std::vector<int32_t> types(n);
  for (size_t i = 0; i < n; ++i) {
    if (i >= texts.size() || !present[i]) {
      tokens[i] = fmt::format("[PAD{}]", i);
      types[i] = int32_t(HfTokenType::UNUSED);
      continue;
    }
    tokens[i] = texts[i];
    token_scores[i] = scores[i];
    HfTokenType type = HfTokenType::NORMAL;
    if (auto a = added_by_id.find(int64_t(i)); a != added_by_id.end()) {
      tokens[i] = a->second->content;
      if (a->second->special || looks_special(tokens[i])) {
        type = HfTokenType::CONTROL;
      } else {
        type = HfTokenType::USER_DEFINED;
        // llama.cpp matches user-defined tokens on raw text: "▁" means " ".
        if (!spm) tokens[i] = replace_all(tokens[i], "\xE2\x96\x81", " ");
      }
    } else if (unk_id && int64_t(i) == *unk_id) {
      type = HfTokenType::UNKNOWN;
    } else if (spm && is_byte_token(tokens[i])) {
      type = HfTokenType::BYTE;
    }
    if (spm && model_type == "BPE") {
      if (type != HfTokenType::NORMAL) token_scores[i] = 0.0f;
      else if (auto r = merge_rank.find(tokens[i]); r != merge_rank.end()) token_scores[i] = -float(r->second);
      else token_scores[i] = -float(merges.size() + i);
    }
    types[i] = int32_t(type);
  }

  GgufMetadata m;
  m.set("tokenizer.ggml.model", GgufValue::string(spm ? "llama" : "gpt2"));
  if (!spm) m.set("tokenizer.ggml.pre", GgufValue::string(detect_bpe_pre(s)));
  m.set("tokenizer.ggml.tokens", GgufValue::string_array(std::move(tokens)));
  if (spm) m.set("tokenizer.ggml.scores", GgufValue::f32_array(token_scores));
  m.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  if (!spm) m.set("tokenizer.ggml.merges", GgufValue::string_array(std::move(merges)));

  // Special tokens: tokenizer_config.json names them; config.json's
  // *_token_id fill in the rest (llama.cpp's order and key spellings).
  TemplateInfo tmpl;
  if (auto it = s.tokenizer.find("post_processor"); it != s.tokenizer.end()) read_template(*it, tmpl);
  const std::pair<const char*, const char*> specials[] = {
      {"bos", "bos_token_id"},   {"eos", "eos_token_id"}, {"unk", "unknown_token_id"},
      {"sep", "seperator_token_id"}, {"pad", "padding_token_id"}, {"cls", "cls_token_id"},
      {"mask", "mask_token_id"}};
  for (const auto& [kind, key] : specials) {
    std::optional<int64_t> id = config_token_id(s, (std::string(kind) + "_token").c_str(), by_text);
    if (!id && s.model_config.contains(std::string(kind) + "_token_id")) {
      const Json& v = s.model_config[std::string(kind) + "_token_id"];
      if (v.is_number_integer()) id = v.get<int64_t>();
      else if (v.is_array() && !v.empty() && v[0].is_number_integer()) id = v[0].get<int64_t>();
    }
    if (!id && std::string(kind) == "bos" && tmpl.add_bos && by_text.count(tmpl.bos_text)) id = by_text[tmpl.bos_text];
    if (!id && std::string(kind) == "unk" && unk_id) id = unk_id;
    if (!id) continue;
    if (*id < 0 || size_t(*id) >= n) fail("{}: {} token id {} is not in the vocabulary of {}", folder, kind, *id, n);
    m.set(std::string("tokenizer.ggml.") + key, GgufValue::u32(uint32_t(*id)));
  }

  std::optional<bool> add_bos = config_flag(s, "add_bos_token");
  std::optional<bool> add_eos = config_flag(s, "add_eos_token");
  if (tmpl.found) {
    if (!add_bos) add_bos = tmpl.add_bos;
    if (!add_eos) add_eos = tmpl.add_eos;
  }
  if (add_bos) m.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(*add_bos));
  if (add_eos) m.set("tokenizer.ggml.add_eos_token", GgufValue::boolean(*add_eos));
  if (spm) {
    // SentencePiece's dummy prefix: Metaspace's prepend_scheme (or older
    // add_prefix_space), or a normalizer that prepends "▁".
    bool prefix = true;
    if (metaspace) {
      if (auto scheme = json_string(*metaspace, "prepend_scheme", file)) prefix = *scheme != "never";
      else prefix = json_bool(*metaspace, "add_prefix_space", file).value_or(true);
    } else if (auto norm = s.tokenizer.find("normalizer"); norm != s.tokenizer.end()) {
      prefix = norm->dump().find("\"Prepend\"") != std::string::npos;
    }
    m.set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(prefix));
  }
  add_chat_template(s, m);
  return m;
}

}  // namespace lowbit
