// safetensors reading: header validation, zero-copy tensor views and shard
// sets (see safetensors.h for the layout).
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "io/hf_json.h"

namespace lowbit {

namespace fs = std::filesystem;

namespace {

// Element sizes of every dtype the safetensors format defines; only F32,
// F16 and BF16 are usable as weights, the rest are recognised so their
// headers can still be validated (and named in errors).
struct DtypeInfo {
  const char* name;
  uint64_t bytes;
  std::optional<GgmlType> type;
};
constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, GgmlType::F32}, {"F16", 2, GgmlType::F16}, {"BF16", 2, GgmlType::BF16},
    {"F64", 8, std::nullopt},  {"I64", 8, std::nullopt},  {"U64", 8, std::nullopt},
    {"I32", 4, std::nullopt},  {"U32", 4, std::nullopt},  {"I16", 2, std::nullopt},
    {"U16", 2, std::nullopt},  {"I8", 1, std::nullopt},   {"U8", 1, std::nullopt},
    {"BOOL", 1, std::nullopt}, {"F8_E4M3", 1, std::nullopt}, {"F8_E5M2", 1, std::nullopt},
    {"F8_E8M0", 1, std::nullopt},
};

const DtypeInfo* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t json_u64(const Json& v, const std::string& path, const std::string& tensor, const char* field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return uint64_t(v.get<int64_t>());
  fail("{}: tensor '{}': {} must hold non-negative integers, found {}", path, tensor, field, brief(v));
}

}  // namespace

int64_t SafetensorsTensor::element_count() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow on open
  return n;
}

GgmlType SafetensorsTensor::float_type() const {
  if (!type)
    fail("{}: tensor '{}' has dtype {}; only F32, F16 and BF16 weights are supported", file, name, dtype);
  return *type;
}

std::vector<int64_t> SafetensorsTensor::gguf_shape() const {
  std::vector<int64_t> ne(shape.rbegin(), shape.rend());
  if (ne.empty()) ne.push_back(1);  // a scalar is one element
  return ne;
}

SafetensorsFile::SafetensorsFile(const std::string& path, FileAccess access)
    : file_(std::make_shared<MappedFile>(path, access)) {
  const uint8_t* base = file_->data();
  const uint64_t size = file_->size();
  if (size < 8) fail("{}: not a safetensors file (only {} bytes; the 8-byte header length is missing)", path, size);
  const uint64_t header_len = read_u64_le(base);
  if (header_len > size - 8)
    fail("{}: header length {} runs past the end of the file ({} bytes): truncated or not safetensors", path,
         header_len, size);
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} exceeds the {} byte limit", path, header_len, kMaxHeaderBytes);
  if (header_len < 2 || base[8] != '{')
    fail("{}: not a safetensors file (header does not start with a JSON object)", path);
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;

  Json header = parse_json_text(
      std::string_view(reinterpret_cast<const char*>(base + 8), size_t(header_len)), path + ": header");
  if (!header.is_object()) fail("{}: header is not a JSON object", path);

  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const Json& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("{}: __metadata__ must be an object of strings", path);
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) fail("{}: __metadata__ value '{}' is not a string", path, m.key());
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail("{}: tensor '{}': entry is not an object", path, name);
    auto dt = entry.find("dtype");
    auto sh = entry.find("shape");
    auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string()) fail("{}: tensor '{}': missing or non-string dtype", path, name);
    if (sh == entry.end() || !sh->is_array()) fail("{}: tensor '{}': missing or non-array shape", path, name);
    if (off == entry.end() || !off->is_array() || off->size() != 2)
      fail("{}: tensor '{}': data_offsets must be [begin, end]", path, name);

    SafetensorsTensor t;
    t.name = name;
    t.dtype = dt->get<std::string>();
    t.file = path;
    const DtypeInfo* info = find_dtype(t.dtype);
    if (!info) fail("{}: tensor '{}' has unknown dtype '{}'", path, name, t.dtype);
    t.type = info->type;
    if (sh->size() > 8) fail("{}: tensor '{}': {} dimensions is too many", path, name, sh->size());
    uint64_t elements = 1;
    for (const Json& d : *sh) {
      uint64_t dim = json_u64(d, path, name, "shape");
      if (dim > uint64_t(INT64_MAX) || (dim != 0 && elements > UINT64_MAX / dim))
        fail("{}: tensor '{}': shape {} overflows", path, name, sh->dump());
      elements *= dim;
      t.shape.push_back(int64_t(dim));
    }
    if (elements > UINT64_MAX / info->bytes || elements * info->bytes > uint64_t(INT64_MAX))
      fail("{}: tensor '{}': shape {} overflows", path, name, sh->dump());
    const uint64_t begin = json_u64((*off)[0], path, name, "data_offsets");
    const uint64_t end = json_u64((*off)[1], path, name, "data_offsets");
    if (begin > end) fail("{}: tensor '{}': data_offsets [{}, {}] end before they begin", path, name, begin, end);
    if (end > data_size)
      fail("{}: tensor '{}': data_offsets [{}, {}] run past the end of the data ({} bytes): file truncated?", path,
           name, begin, end, data_size);
    if (end - begin != elements * info->bytes)
      fail("{}: tensor '{}': shape {} of {} needs {} bytes but data_offsets [{}, {}] hold {}", path, name,
           sh->dump(), t.dtype, elements * info->bytes, begin, end, end - begin);
    t.bytes = end - begin;
    t.data = base + data_start + begin;
    spans.push_back({begin, end, tensors_.size()});
    tensors_.push_back(std::move(t));
  }

  // Overlap check: sort by start; each tensor must begin at or after the end
  // of the one before it (empty tensors overlap nothing).
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    if (prev && s.begin < prev->end)
      fail("{}: tensors '{}' and '{}' overlap (data_offsets [{}, {}] and [{}, {}])", path,
           tensors_[prev->index].name, tensors_[s.index].name, prev->begin, prev->end, s.begin, s.end);
    prev = &s;
  }

  // The safetensors library lists tensors sorted by name; llama.cpp's
  // converter (and so our tensor order) follows that.
  std::sort(tensors_.begin(), tensors_.end(),
            [](const SafetensorsTensor& a, const SafetensorsTensor& b) { return a.name < b.name; });
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const SafetensorsTensor& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

void SafetensorsModel::add(std::shared_ptr<const SafetensorsFile> f) {
  for (const auto& t : f->tensors()) {
    auto [it, inserted] = by_name_.emplace(t.name, &t);
    if (!inserted) fail("tensor '{}' appears in both {} and {}", t.name, it->second->file, t.file);
  }
  files_.push_back(std::move(f));
}

SafetensorsModel SafetensorsModel::open_file(const std::string& path) {
  SafetensorsModel m;
  m.add(std::make_shared<SafetensorsFile>(path));
  return m;
}

SafetensorsModel SafetensorsModel::open_folder(const std::string& dir, FileAccess access) {
  SafetensorsModel m;
  const fs::path folder(dir);
  const fs::path index = folder / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index, ec)) {
    const std::string ipath = index.string();
    m.index_path_ = ipath;
    Json j = read_json_file(ipath);
    auto wm = j.is_object() ? j.find("weight_map") : j.end();
    if (wm == j.end() || !wm->is_object()) fail("{}: missing \"weight_map\" object", ipath);
    std::map<std::string, std::vector<std::string>> shards;  // file -> tensors it should hold
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) fail("{}: weight_map entry '{}' is not a file name", ipath, it.key());
      std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
          shard.find('\\') != std::string::npos)
        fail("{}: weight_map entry '{}' names '{}', which is not a plain file name", ipath, it.key(), shard);
      shards[shard].push_back(it.key());
    }
    if (shards.empty()) fail("{}: weight_map lists no tensors", ipath);
    for (const auto& [shard, names] : shards) {  // std::map: sorted by file name
      const std::string spath = (folder / shard).string();
      if (!fs::is_regular_file(spath, ec))
        fail("{}: shard '{}' listed in {} is missing", spath, shard, ipath);
      auto f = std::make_shared<SafetensorsFile>(spath, access);
      for (const auto& n : names)
        if (!f->find(n)) fail("{}: tensor '{}' listed in {} is not in this shard", spath, n, ipath);
      m.add(std::move(f));
    }
    return m;
  }
  const fs::path single = folder / "model.safetensors";
  if (fs::exists(single, ec)) {
    m.add(std::make_shared<SafetensorsFile>(single.string(), access));
    return m;
  }
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(folder, ec))
    if (e.path().extension() == ".safetensors" && e.is_regular_file(ec)) found.push_back(e.path().string());
  if (found.empty()) fail("{}: no safetensors weights (model.safetensors or model.safetensors.index.json)", dir);
  std::sort(found.begin(), found.end());
  for (const auto& f : found) m.add(std::make_shared<SafetensorsFile>(f, access));
  return m;
}

std::vector<const SafetensorsTensor*> SafetensorsModel::tensors() const {
  std::vector<const SafetensorsTensor*> all;
  for (const auto& f : files_)
    for (const auto& t : f->tensors()) all.push_back(&t);
  return all;
}

const SafetensorsTensor* SafetensorsModel::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> SafetensorsModel::file_paths() const {
  std::vector<std::string> paths;
  for (const auto& f : files_) paths.push_back(f->path());
  if (!index_path_.empty()) paths.push_back(index_path_);
  return paths;
}

bool folder_has_safetensors(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".safetensors" || e.path().filename() == "model.safetensors.index.json")
      return true;
  return false;
}

}  // namespace lowbit
