// Writing and validated reading of base-logits files (layout in kld_file.h).
#include "eval/kld_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/half.h"
#include "core/mapped_file.h"

namespace lowbit::eval {
namespace {

constexpr char kMagic[8] = {'L', 'B', 'K', 'L', 'D', 'L', 'P', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 512;
constexpr size_t kPathOffset = 80, kPathBytes = 400, kChecksumOffset = 504;
constexpr uint32_t kFlagPrependBos = 1, kFlagBosFirst = 2;
constexpr int64_t kMaxVocab = int64_t(1) << 24, kMaxCtx = int64_t(1) << 24, kMaxChunks = int64_t(1) << 24;

// 64-bit checksum, 8 bytes per step (FNV-1a style mixing of whole words).
uint64_t checksum(const uint8_t* data, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

template <typename T>
void put(uint8_t* buf, size_t off, T v) {
  std::memcpy(buf + off, &v, sizeof v);
}
template <typename T>
T get(const uint8_t* buf, size_t off) {
  T v;
  std::memcpy(&v, buf + off, sizeof v);
  return v;
}

// Target log-prob, top-k pairs, fp16 row.
uint64_t position_bytes(int64_t n_vocab, uint32_t top_k) { return 4 + uint64_t(top_k) * 8 + uint64_t(n_vocab) * 2; }

}  // namespace

BaseLogitsWriter::BaseLogitsWriter(const std::string& path, const ChunkPlan& plan, std::span<const int32_t> text,
                                   int64_t n_vocab, const ModelSizeInfo& base, const std::vector<std::string>& inputs)
    : out_(path, inputs), plan_(plan), n_vocab_(n_vocab) {
  if (n_vocab < int64_t(kBaseLogitsTopK) || n_vocab > kMaxVocab)
    fail("{}: vocabulary size {} cannot be stored in a base-logits file", path, n_vocab);
  uint8_t h[kHeaderBytes] = {};
  std::memcpy(h, kMagic, 8);
  put<uint32_t>(h, 8, kVersion);
  put<uint32_t>(h, 12, uint32_t(kHeaderBytes));
  put<uint32_t>(h, 16, uint32_t(n_vocab));
  put<uint32_t>(h, 20, uint32_t(plan.ctx));
  put<uint32_t>(h, 24, uint32_t(plan.n_fed()));
  put<uint32_t>(h, 28, uint32_t(plan.n_chunks));
  put<uint32_t>(h, 32, uint32_t(plan.first_scored));
  put<uint32_t>(h, 36, uint32_t(plan.n_scored));
  put<uint32_t>(h, 40, uint32_t(plan.convention));
  put<int32_t>(h, 44, plan.bos);
  put<uint32_t>(h, 48, (plan.prepend_bos ? kFlagPrependBos : 0) | (plan.bos_first ? kFlagBosFirst : 0));
  put<uint32_t>(h, 52, kBaseLogitsTopK);
  put<uint64_t>(h, 56, base.file_bytes);
  put<uint64_t>(h, 64, base.parameters);
  put<uint64_t>(h, 72, base.tensor_bytes);
  std::memcpy(h + kPathOffset, base.path.data(), std::min(base.path.size(), kPathBytes - 1));
  put<uint64_t>(h, kChecksumOffset, checksum(h, kChecksumOffset));
  out_.write(h, kHeaderBytes);
  for (int64_t k = 0; k < plan.n_chunks; ++k) {
    const std::vector<int32_t> fed = plan.chunk_tokens(text, k);
    tokens_.insert(tokens_.end(), fed.begin(), fed.end());
  }
  out_.write(tokens_.data(), tokens_.size() * sizeof(int32_t));
  record_.resize(size_t(plan.n_scored) * position_bytes(n_vocab, kBaseLogitsTopK) + 8);
}

void BaseLogitsWriter::add_chunk(int64_t k, const float* logprobs) {
  if (k != next_chunk_) fail("{}: chunk {} written out of order (expected {})", out_.destination(), k, next_chunk_);
  if (k >= plan_.n_chunks) fail("{}: more chunks than the plan's {}", out_.destination(), plan_.n_chunks);
  const size_t pos_bytes = position_bytes(n_vocab_, kBaseLogitsTopK);
  std::vector<int32_t> order(static_cast<size_t>(n_vocab_));
  for (int64_t j = 0; j < plan_.n_scored; ++j) {
    const float* row = logprobs + j * n_vocab_;
    const int32_t target = tokens_[size_t(k * plan_.n_fed() + plan_.first_scored + j)];
    put<float>(record_.data(), size_t(j) * pos_bytes, row[target]);
    uint8_t* dst = record_.data() + size_t(j) * pos_bytes + 4;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + kBaseLogitsTopK, order.end(),
                      [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (uint32_t t = 0; t < kBaseLogitsTopK; ++t) {
      put<uint32_t>(dst, t * 8, uint32_t(order[t]));
      put<float>(dst, t * 8 + 4, row[order[t]]);
    }
    uint8_t* half = dst + kBaseLogitsTopK * 8;
    for (int64_t i = 0; i < n_vocab_; ++i) {
      // Log-probs below fp16's range are as good as zero probability.
      put<uint16_t>(half, size_t(i) * 2, float_to_fp16(std::max(row[i], -65000.0f)));
    }
  }
  const size_t body = size_t(plan_.n_scored) * pos_bytes;
  put<uint64_t>(record_.data(), body, checksum(record_.data(), body));
  out_.write(record_.data(), record_.size());
  ++next_chunk_;
}

void BaseLogitsWriter::commit() {
  if (next_chunk_ != plan_.n_chunks)
    fail("{}: only {} of {} chunks were written", out_.destination(), next_chunk_, plan_.n_chunks);
  out_.commit();
}

BaseLogitsReader::~BaseLogitsReader() = default;

BaseLogitsReader::BaseLogitsReader(const std::string& path) : path_(path) {
  file_ = std::make_unique<MappedFile>(path);
  const uint8_t* h = file_->data();
  const size_t size = file_->size();
  if (size < kHeaderBytes || std::memcmp(h, kMagic, 8) != 0)
    fail("{}: not a lowbit base-logits file (bad magic or shorter than its header)", path);
  if (get<uint32_t>(h, 8) != kVersion)
    fail("{}: base-logits file version {} is not supported (expected {})", path, get<uint32_t>(h, 8), kVersion);
  if (get<uint32_t>(h, 12) != kHeaderBytes) fail("{}: header size {} is not {}", path, get<uint32_t>(h, 12), kHeaderBytes);
  if (get<uint64_t>(h, kChecksumOffset) != checksum(h, kChecksumOffset))
    fail("{}: header checksum mismatch (the file is corrupt)", path);
  n_vocab_ = get<uint32_t>(h, 16);
  plan_.ctx = get<uint32_t>(h, 20);
  n_fed_ = get<uint32_t>(h, 24);
  plan_.n_chunks = get<uint32_t>(h, 28);
  plan_.first_scored = get<uint32_t>(h, 32);
  plan_.n_scored = get<uint32_t>(h, 36);
  const uint32_t conv = get<uint32_t>(h, 40);
  plan_.bos = get<int32_t>(h, 44);
  const uint32_t flags = get<uint32_t>(h, 48);
  top_k_ = get<uint32_t>(h, 52);
  if (conv > uint32_t(PplConvention::LlamaCpp)) fail("{}: unknown convention id {}", path, conv);
  plan_.convention = PplConvention(conv);
  plan_.prepend_bos = flags & kFlagPrependBos;
  plan_.bos_first = flags & kFlagBosFirst;
  if (n_vocab_ < 1 || n_vocab_ > kMaxVocab) fail("{}: vocabulary size {} is out of range", path, n_vocab_);
  if (plan_.ctx < 2 || plan_.ctx > kMaxCtx || n_fed_ != plan_.n_fed())
    fail("{}: context {} / fed tokens {} are inconsistent", path, plan_.ctx, n_fed_);
  if (plan_.n_chunks < 1 || plan_.n_chunks > kMaxChunks) fail("{}: chunk count {} is out of range", path, plan_.n_chunks);
  if (plan_.n_scored < 1 || plan_.first_scored < 1 || plan_.first_scored + plan_.n_scored > n_fed_)
    fail("{}: scored range {}+{} does not fit {} fed tokens", path, plan_.first_scored, plan_.n_scored, n_fed_);
  if (top_k_ < 1 || top_k_ > n_vocab_) fail("{}: top-k {} is out of range", path, top_k_);
  base_.file_bytes = get<uint64_t>(h, 56);
  base_.parameters = get<uint64_t>(h, 64);
  base_.tensor_bytes = get<uint64_t>(h, 72);
  const char* p = reinterpret_cast<const char*>(h + kPathOffset);
  base_.path.assign(p, strnlen(p, kPathBytes));

  // All factors are bounded above (< 2^24 each, products < 2^63).
  tokens_offset_ = kHeaderBytes;
  chunks_offset_ = tokens_offset_ + uint64_t(plan_.n_chunks) * uint64_t(n_fed_) * 4;
  chunk_bytes_ = uint64_t(plan_.n_scored) * position_bytes(n_vocab_, top_k_) + 8;
  const long double expected = (long double)chunks_offset_ + (long double)plan_.n_chunks * (long double)chunk_bytes_;
  if ((long double)size != expected)
    fail("{}: file holds {} bytes, its header describes {} (truncated or corrupt)", path, size,
         uint64_t(expected));
  tokens_.resize(size_t(plan_.n_chunks * n_fed_));
  std::memcpy(tokens_.data(), file_->data() + tokens_offset_, tokens_.size() * 4);
  for (int32_t t : tokens_)
    if (t < 0 || t >= n_vocab_) fail("{}: holds token id {}, outside its vocabulary of {}", path, t, n_vocab_);
}

void BaseLogitsReader::check_compatible(const ChunkPlan& plan, std::span<const int32_t> text, int64_t n_vocab) const {
  if (n_vocab != n_vocab_)
    fail("{}: base logits have a vocabulary of {} tokens, the model has {}", path_, n_vocab_, n_vocab);
  if (plan.convention != plan_.convention || plan.ctx != plan_.ctx || plan.first_scored != plan_.first_scored ||
      plan.n_scored != plan_.n_scored || plan.n_fed() != n_fed_)
    fail("{}: made with {} and ctx {}, but this run uses {} and ctx {}", path_, convention_name(plan_.convention),
         plan_.ctx, convention_name(plan.convention), plan.ctx);
  if (plan.n_chunks > plan_.n_chunks)
    fail("{}: holds {} chunks, this run needs {} (use --chunks {} or save a longer base)", path_, plan_.n_chunks,
         plan.n_chunks, plan_.n_chunks);
  for (int64_t k = 0; k < plan.n_chunks; ++k) {
    const std::vector<int32_t> fed = plan.chunk_tokens(text, k);
    if (!std::equal(fed.begin(), fed.end(), tokens_.begin() + k * n_fed_))
      fail("{}: chunk {} holds other tokens than this text gives (made from another text or tokenizer?)", path_, k);
  }
  // Verify every chunk now rather than fail midway through a long run.
  for (int64_t k = 0; k < plan.n_chunks; ++k) {
    const uint8_t* rec = file_->data() + chunks_offset_ + uint64_t(k) * chunk_bytes_;
    const size_t body = size_t(chunk_bytes_ - 8);
    if (get<uint64_t>(rec, body) != checksum(rec, body)) fail("{}: chunk {} checksum mismatch (the file is corrupt)", path_, k);
  }
}

void BaseLogitsReader::read_chunk(int64_t k, std::vector<float>& logprobs) const {
  if (k < 0 || k >= plan_.n_chunks) fail("{}: chunk {} is outside the file's {} chunks", path_, k, plan_.n_chunks);
  const uint8_t* rec = file_->data() + chunks_offset_ + uint64_t(k) * chunk_bytes_;
  const size_t body = size_t(chunk_bytes_ - 8);
  if (get<uint64_t>(rec, body) != checksum(rec, body)) fail("{}: chunk {} checksum mismatch (the file is corrupt)", path_, k);
  const size_t pos_bytes = position_bytes(n_vocab_, top_k_);
  logprobs.resize(size_t(plan_.n_scored) * size_t(n_vocab_));
  std::vector<uint8_t> exact(static_cast<size_t>(n_vocab_));
  for (int64_t j = 0; j < plan_.n_scored; ++j) {
    const uint8_t* src = rec + size_t(j) * pos_bytes;
    float* row = logprobs.data() + size_t(j) * size_t(n_vocab_);
    const uint8_t* half = src + 4 + size_t(top_k_) * 8;
    for (int64_t i = 0; i < n_vocab_; ++i) row[i] = fp16_to_float(get<uint16_t>(half, size_t(i) * 2));
    std::fill(exact.begin(), exact.end(), 0);
    for (uint32_t t = 0; t < top_k_; ++t) {
      const uint32_t id = get<uint32_t>(src, 4 + t * 8);
      if (id >= uint32_t(n_vocab_)) fail("{}: chunk {} names token {} outside the vocabulary", path_, k, id);
      row[id] = get<float>(src, 4 + t * 8 + 4);
      exact[id] = 1;
    }
    const int32_t target = tokens_[size_t(k * n_fed_ + plan_.first_scored + j)];
    row[target] = get<float>(src, 0);
    exact[size_t(target)] = 1;
    double exact_mass = 0, tail_mass = 0;
    for (int64_t i = 0; i < n_vocab_; ++i) {
      if (!(row[i] <= 0.001f) || !std::isfinite(row[i]))
        fail("{}: chunk {} holds an invalid log-probability {}", path_, k, row[i]);
      (exact[size_t(i)] ? exact_mass : tail_mass) += std::exp(double(row[i]));
    }
    const double sum = exact_mass + tail_mass;
    if (!(sum > 0.99 && sum < 1.01)) fail("{}: chunk {} holds a distribution summing to {}", path_, k, sum);
    // Renormalise through the fp16 entries only, so the exact ones stay exact.
    if (tail_mass > 0 && exact_mass < 1) {
      const float shift = float(std::log((1 - exact_mass) / tail_mass));
      for (int64_t i = 0; i < n_vocab_; ++i)
        if (!exact[size_t(i)]) row[i] += shift;
    }
  }
}

}  // namespace lowbit::eval
