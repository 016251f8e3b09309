// ModelSource: opening a GGUF file or an HF folder as one model description,
// and the TensorView helpers (row addressing, RoPE row permutation).
#include "io/model_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace lowbit {

int64_t TensorView::row_count() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

int64_t TensorView::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t TensorView::row_bytes() const { return lowbit::row_bytes(type, row_length()); }

// llama.cpp's converter reorders attn_q / attn_k rows per head from HF's
// half-split layout [x0..x(D/2-1), y0..y(D/2-1)] to interleaved pairs
// [x0, y0, x1, y1, ...]: GGUF row h*D + 2i + j comes from HF row
// h*D + j*D/2 + i (D = rows per head). A 1-D tensor (a bias) has one row;
// its elements are permuted the same way, which is the caller's to apply
// (see convert.cpp), so here it is left alone.
int64_t TensorView::source_row(int64_t r) const {
  if (rope_permute_heads <= 0) return r;
  const int64_t per_head = row_count() / rope_permute_heads;
  if (per_head < 2) return r;
  const int64_t head = r / per_head, within = r % per_head;
  return head * per_head + (within % 2) * (per_head / 2) + within / 2;
}

void ModelSource::keep_alive(std::shared_ptr<const MappedFile> file) { mappings_.push_back(std::move(file)); }

uint8_t* ModelSource::private_bytes(const TensorView& t) const {
  for (const auto& file : mappings_) {
    if (!file || !file->private_bytes() || !t.data) continue;
    const uint8_t* begin = file->data();
    if (t.data >= begin && t.bytes <= file->size() && size_t(t.data - begin) <= file->size() - t.bytes)
      return file->private_bytes() + (t.data - begin);
  }
  return nullptr;
}

const TensorView* ModelSource::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorView& ModelSource::at(std::string_view name) const {
  if (const TensorView* t = find(name)) return *t;
  fail("{}: no tensor '{}'", path_, name);
}

uint64_t ModelSource::parameter_count() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += uint64_t(t.element_count());
  return n;
}

uint64_t ModelSource::tensor_bytes() const {
  uint64_t n = 0;
  for (const auto& t : tensors_) n += t.bytes;
  return n;
}

std::unique_ptr<ModelSource> ModelSource::open(const std::string& path, FileAccess access) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return open_hf_folder(path, access);

  GgufReader reader(path, access);
  auto src = std::make_unique<ModelSource>(path, true);
  src->metadata_ = reader.metadata();
  for (const GgufTensorInfo& info : reader.tensors()) {
    TensorView v;
    v.name = info.name;
    v.shape = info.shape;
    v.type = info.type;
    v.data = info.data;
    v.bytes = info.bytes;
    v.source_file = path;
    src->add_tensor(std::move(v));
  }
  src->keep_alive(reader.mapping());
  src->add_file(path);
  return src;
}

}  // namespace lowbit
