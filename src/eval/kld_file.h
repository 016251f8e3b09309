// The base-logits file of `lowbit kld --save-base / --base-logits`: the base
// model's next-token distributions at the scored positions of a chunk plan,
// so quantized models can be compared without re-running the base model.
//
// Layout (little-endian):
//   header, 512 bytes:
//     0   char[8] magic "LBKLDLP1"      8  u32 version (1)      12 u32 header bytes (512)
//     16  u32 n_vocab   20 u32 ctx   24 u32 n_fed   28 u32 n_chunks
//     32  u32 first_scored   36 u32 n_scored   40 u32 convention (PplConvention)
//     44  i32 bos   48 u32 flags (1: prepend_bos, 2: bos_first)   52 u32 top_k
//     56  u64 base file bytes   64 u64 base parameters   72 u64 base tensor bytes
//     80  char[400] base model path (NUL-padded, truncated)
//     504 u64 checksum of bytes 0..503
//   tokens: n_chunks x n_fed i32, the fed tokens of every chunk
//   per chunk: n_scored positions, each
//       f32 log-prob of the token that follows  (exact base perplexity)
//       top_k x {u32 token id, f32 log-prob}   the most likely tokens, exact
//       n_vocab x fp16 log-prob                the whole distribution
//     then u64 checksum of the chunk's bytes
// Every log-prob is log(softmax(logits)); the exact values replace their fp16
// copies on read, and each row is renormalised, so the KLD from a
// file matches the in-run one to ~1e-6 while costing ~2 bytes per vocab entry.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/output_file.h"
#include "eval/kld.h"
#include "eval/perplexity.h"

namespace lowbit {
class MappedFile;
}

namespace lowbit::eval {

inline constexpr uint32_t kBaseLogitsTopK = 32;

class BaseLogitsWriter {
 public:
  // Writes the header and the fed tokens of every chunk of `plan`. `inputs`
  // are files the destination must not overwrite.
  BaseLogitsWriter(const std::string& path, const ChunkPlan& plan, std::span<const int32_t> text, int64_t n_vocab,
                   const ModelSizeInfo& base, const std::vector<std::string>& inputs);
  // Appends chunk k (must come in order): n_scored rows of n_vocab log-probs.
  void add_chunk(int64_t k, const float* logprobs);
  void commit();  // throws unless every chunk was written

 private:
  OutputFile out_;
  ChunkPlan plan_;
  int64_t n_vocab_;
  int64_t next_chunk_ = 0;
  std::vector<int32_t> tokens_;  // fed tokens of every chunk
  std::vector<uint8_t> record_;
};

class BaseLogitsReader {
 public:
  // Maps and validates the header and the file size. Throws lowbit::Error
  // naming the file and what is wrong.
  explicit BaseLogitsReader(const std::string& path);
  ~BaseLogitsReader();

  int64_t n_vocab() const { return n_vocab_; }
  int64_t n_chunks() const { return plan_.n_chunks; }
  const ChunkPlan& plan() const { return plan_; }
  const ModelSizeInfo& base_info() const { return base_; }

  // Checks that `plan` (up to plan.n_chunks chunks) and the text's fed tokens
  // are what the file was made with, and that the vocab size matches.
  void check_compatible(const ChunkPlan& plan, std::span<const int32_t> text, int64_t n_vocab) const;

  // Chunk k's n_scored x n_vocab log-probs (checksum verified).
  void read_chunk(int64_t k, std::vector<float>& logprobs) const;

 private:
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  ChunkPlan plan_;
  int64_t n_vocab_ = 0;
  int64_t n_fed_ = 0;
  uint32_t top_k_ = 0;
  ModelSizeInfo base_;
  std::vector<int32_t> tokens_;  // fed tokens of every chunk
  uint64_t tokens_offset_ = 0, chunks_offset_ = 0, chunk_bytes_ = 0;
};

}  // namespace lowbit::eval
