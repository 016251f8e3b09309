// Fuzz target: tokenization of arbitrary bytes with every real vocabulary
// (the tokenizer-only GGUFs in ../shared/vocab, stories260K, and the three
// Hugging Face tokenizer.json files converted to GGUF metadata). Input byte
// 0 picks the vocabulary, byte 1 the flags, the rest is the text.
// Invariants: no crash or non-lowbit exception, every id is inside the
// vocabulary, and for byte-level BPE (gpt2) vocabularies on valid UTF-8
// decode(encode(text)) gives the text back when the vocabulary has a token
// for every byte.
// Without ../shared (LOWBIT_SHARED) a small built-in vocabulary is used.
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "fuzz_common.h"
#include "io/gguf.h"
#include "io/hf_tokenizer.h"
#include "tokenizer/tokenizer.h"

using namespace lowbit;
namespace fs = std::filesystem;

namespace {

std::vector<Tokenizer>& tokenizers() {
  static std::vector<Tokenizer> all;
  return all;
}
// Per tokenizer: does decode(encode(text)) have to give the text back? Only
// for byte-level BPE vocabularies holding a token for every byte (falcon's
// lacks some control bytes, which are then dropped, as in llama.cpp).
std::vector<bool>& round_trips() {
  static std::vector<bool> all;
  return all;
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) s += char(cp);
  else if (cp < 0x800) s += char(0xc0 | (cp >> 6)), s += char(0x80 | (cp & 0x3f));
  else s += char(0xe0 | (cp >> 12)), s += char(0x80 | ((cp >> 6) & 0x3f)), s += char(0x80 | (cp & 0x3f));
  return s;
}

// GPT-2's byte-level alphabet: printable Latin-1 bytes stand for
// themselves, the other 68 bytes for U+0100, U+0101, ... in byte order.
bool has_every_byte(const Tokenizer& tok) {
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    if (tok.find_token(utf8(printable ? b : next++)) < 0) return false;
  }
  return true;
}

// A tiny SentencePiece vocabulary for runs without ../shared.
GgufMetadata builtin_vocab() {
  GgufMetadata m;
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    tokens.push_back(buf), scores.push_back(0), types.push_back(6);
  }
  for (const char* t : {"\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab"})
    tokens.push_back(t), scores.push_back(-float(tokens.size())), types.push_back(1);
  m.set("tokenizer.ggml.model", GgufValue::string("llama"));
  m.set("tokenizer.ggml.tokens", GgufValue::string_array(tokens));
  m.set("tokenizer.ggml.scores", GgufValue::f32_array(scores));
  m.set("tokenizer.ggml.token_type", GgufValue::i32_array(types));
  m.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
  m.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
  return m;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = uint8_t(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      if ((uint8_t(s[i + k]) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("LOWBIT_SHARED");
  const fs::path shared = env ? fs::path(env) : fs::path(LOWBIT_SOURCE_DIR) / ".." / "shared";
  std::vector<fs::path> ggufs = {shared / "models/stories260K.gguf"};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(shared / "vocab", ec))
    if (e.path().extension() == ".gguf") ggufs.push_back(e.path());
  std::sort(ggufs.begin(), ggufs.end());
  for (const auto& g : ggufs) {
    if (!fs::exists(g)) continue;
    tokenizers().push_back(Tokenizer::from_metadata(GgufReader(g.string()).metadata()));
  }
  for (const char* dir : {"models/gutenberg23m", "models/qwen2tiny", "tokenizers/llama3style"})
    if (fs::exists(shared / dir / "tokenizer.json"))
      tokenizers().push_back(Tokenizer::from_metadata(hf_tokenizer_metadata((shared / dir).string())));
  if (tokenizers().empty()) tokenizers().push_back(Tokenizer::from_metadata(builtin_vocab()));
  for (const auto& t : tokenizers())
    round_trips().push_back(t.kind() == Tokenizer::Kind::BytePairEncoding && has_every_byte(t));
  int checked = 0;
  for (bool b : round_trips()) checked += b;
  std::fprintf(stderr, "fuzz_tokenize: %zu vocabularies, %d with round-trip checks\n", tokenizers().size(), checked);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t which = data[0] % tokenizers().size();
  const Tokenizer& tok = tokenizers()[which];
  const bool add_special = data[1] & 1, parse_special = data[1] & 2, render_special = data[1] & 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, add_special, parse_special);
  } catch (const Error&) {
    return 0;
  }
  const int32_t n = tok.n_vocab();
  for (int32_t id : ids) {
    LOWBIT_FUZZ_CHECK(id >= 0 && id < n);
    fuzz::consume(tok.token_to_piece(id).size());
  }
  std::string back = tok.decode(ids, render_special);
  if (round_trips()[which] && !add_special && !parse_special && valid_utf8(text)) {
    if (back != text) {
      std::fprintf(stderr, "round trip differs with vocabulary %d (pre %s): %zu bytes in, %zu out\n",
                   int(which), tok.pre_tokenizer().c_str(), text.size(), back.size());
      for (std::string_view s : {text, std::string_view(back)}) {
        for (unsigned char ch : s) std::fprintf(stderr, "%02x ", ch);
        std::fprintf(stderr, "\n");
      }
      for (int32_t id : ids) std::fprintf(stderr, "%d ", id);
      std::fprintf(stderr, "\n");
      LOWBIT_FUZZ_CHECK(back == text);
    }
  }
  return 0;
}
