// Token text index (see vocab.h).
#include "tokenizer/vocab.h"

#include <cstring>

namespace lowbit::tokenizer_detail {

// FNV-1a over 8-byte words, then a final avalanche (tokens are short, so a
// cheap hash wins; the mix spreads the bits used for the slot and the tag).
uint64_t hash_text(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < s.size(); ++i) h = (h ^ uint8_t(s[i])) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void TokenIndex::build(const std::vector<std::string>& tokens) {
  size_t capacity = 16;
  while (capacity < tokens.size() * 2) capacity *= 2;
  slots_.assign(capacity, 0);
  mask_ = capacity - 1;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const uint64_t h = hash_text(tokens[id]);
    const uint64_t tag = h & 0xFFFFFFFF00000000ull;
    for (uint64_t pos = h & mask_;; pos = (pos + 1) & mask_) {
      uint64_t& slot = slots_[pos];
      if (slot == 0) {
        slot = tag | (id + 1);
        break;
      }
      if ((slot & 0xFFFFFFFF00000000ull) == tag && tokens[(slot & 0xFFFFFFFFull) - 1] == tokens[id]) {
        slot = tag | (id + 1);  // duplicate text: the later id wins
        break;
      }
    }
  }
}

int32_t TokenIndex::find(std::string_view text, const std::vector<std::string>& tokens) const {
  if (slots_.empty()) return -1;
  const uint64_t h = hash_text(text);
  const uint64_t tag = h & 0xFFFFFFFF00000000ull;
  for (uint64_t pos = h & mask_;; pos = (pos + 1) & mask_) {
    const uint64_t slot = slots_[pos];
    if (slot == 0) return -1;
    if ((slot & 0xFFFFFFFF00000000ull) == tag) {
      const size_t id = (slot & 0xFFFFFFFFull) - 1;
      if (tokens[id] == text) return int32_t(id);
    }
  }
}

}  // namespace lowbit::tokenizer_detail
