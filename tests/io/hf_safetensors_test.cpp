// safetensors reading: the real shard set of gutenberg23m and the single
// file of qwen2tiny (facts from ../shared/README.md and the index file), and
// every kind of damaged header, each a clear error naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "common/shared_data.h"
#include "core/half.h"
#include "hf_test_util.h"
#include "io/safetensors.h"

using namespace lowbit;
using namespace lowbit::test;

TEST_SHARED(HfSafetensors, ShardedGutenberg23m) {
  auto dir = SHARED_FILE("models/gutenberg23m");
  SafetensorsModel m = SafetensorsModel::open_folder(dir);
  ASSERT_EQ(m.files().size(), 4u);
  EXPECT_NE(m.files()[0]->path().find("model-00001-of-00004"), std::string::npos);
  EXPECT_NE(m.index_path().find("model.safetensors.index.json"), std::string::npos);
  auto all = m.tensors();
  EXPECT_EQ(all.size(), 2u + 6 * 9 + 1);  // embed, lm_head, norm + 9 per layer
  uint64_t params = 0, bytes = 0;
  for (const auto* t : all) {
    params += uint64_t(t->element_count());
    bytes += t->bytes;
    EXPECT_EQ(t->dtype, "BF16");
    EXPECT_EQ(t->float_type(), GgmlType::BF16);
  }
  // model.safetensors.index.json: total_parameters 23075328, total_size 46150656
  EXPECT_EQ(params, 23075328u);
  EXPECT_EQ(bytes, 46150656u);
  const SafetensorsTensor* q = m.find("model.layers.3.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{512, 512}));
  EXPECT_EQ(q->gguf_shape(), (std::vector<int64_t>{512, 512}));
  EXPECT_NE(q->file.find("model-00002-of-00004"), std::string::npos);
  const SafetensorsTensor* down = m.find("model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(down->gguf_shape(), (std::vector<int64_t>{1536, 512}));
  // Zero-copy: the view points into the mapped file at 8 + header + offset.
  const auto& f0 = *m.files()[0];
  const SafetensorsTensor* e = f0.find("model.embed_tokens.weight");
  ASSERT_NE(e, nullptr);
  EXPECT_GE(e->data, f0.mapping()->data());
  EXPECT_LT(e->data, f0.mapping()->data() + f0.mapping()->size());
  EXPECT_EQ(f0.metadata().at("format"), "pt");
  // Tensors are listed in name order within a file.
  for (size_t i = 1; i < f0.tensors().size(); ++i) EXPECT_LT(f0.tensors()[i - 1].name, f0.tensors()[i].name);
}

TEST_SHARED(HfSafetensors, SingleFileQwen2Tiny) {
  SafetensorsModel m = SafetensorsModel::open_folder(SHARED_FILE("models/qwen2tiny"));
  ASSERT_EQ(m.files().size(), 1u);
  EXPECT_TRUE(m.index_path().empty());
  const SafetensorsTensor* b = m.find("model.layers.0.self_attn.k_proj.bias");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, "F16");
  EXPECT_EQ(b->shape, (std::vector<int64_t>{128}));  // 2 KV heads x head dim 64
  EXPECT_EQ(m.find("lm_head.weight"), nullptr);      // tied embeddings
  const SafetensorsTensor* norm = m.find("model.norm.weight");
  ASSERT_NE(norm, nullptr);
  // An RMSNorm gain of a trained model: finite, mostly near 1.
  double sum = 0;
  for (int64_t i = 0; i < norm->element_count(); ++i) {
    uint16_t h;
    std::memcpy(&h, norm->data + 2 * i, 2);
    sum += fp16_to_float(h);
  }
  EXPECT_GT(sum / 256, 0.2);
  EXPECT_LT(sum / 256, 5.0);
}

TEST(HfSafetensors, DamagedHeaders) {
  TempDir d;
  const std::string p = d.file("x.safetensors");
  auto err = [&](const std::string& bytes) {
    write_bytes(p, bytes);
    std::string e = error_of([&] { SafetensorsFile f(p); });
    EXPECT_NE(e.find(p), std::string::npos) << "error does not name the file: " << e;
    return e;
  };
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  // sanity: the undamaged file opens
  write_bytes(p, safetensors_bytes(ok_header, std::string(16, '\0')));
  EXPECT_EQ(SafetensorsFile(p).tensors().size(), 1u);

  EXPECT_NE(err("abc").find("8-byte header length"), std::string::npos);
  std::string huge(8, '\xff');
  EXPECT_NE(err(huge + "{}").find("past the end"), std::string::npos);
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"F32",)", "")).find("malformed JSON"), std::string::npos);
  EXPECT_NE(err(safetensors_bytes(ok_header, std::string(15, '\0'))).find("past the end of the data"),
            std::string::npos);  // truncated data
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})",
                                  std::string(16, '\0')))
                .find("needs 16 bytes"),
            std::string::npos);  // shape/size mismatch
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                      "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                  std::string(12, '\0')))
                .find("overlap"),
            std::string::npos);
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')))
                .find("unknown dtype 'Q9'"),
            std::string::npos);
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                                  std::string(8, '\0')))
                .find("overflows"),
            std::string::npos);
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0')))
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(err(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, '\0')))
                .find("end before they begin"),
            std::string::npos);
  EXPECT_NE(err(safetensors_bytes("[1,2]", "")).find("JSON object"), std::string::npos);
  // A file far larger than any real header would be: refused before parsing.
  std::string big_len(8, '\0');
  big_len[3] = 0x10;  // 256 MiB header length, file only a few bytes long
  EXPECT_NE(err(big_len + "{}").find("past the end"), std::string::npos);
}

TEST(HfSafetensors, OtherDtypesAreNamedWhenUsed) {
  TempDir d;
  const std::string p = d.file("x.safetensors");
  write_bytes(p, safetensors_bytes(R"({"pos":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", std::string(16, '\0')));
  SafetensorsFile f(p);  // the header itself is valid
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_FALSE(f.tensors()[0].type.has_value());
  std::string e = error_of([&] { f.tensors()[0].float_type(); });
  EXPECT_NE(e.find("I64"), std::string::npos) << e;
  EXPECT_NE(e.find("'pos'"), std::string::npos) << e;
  EXPECT_NE(e.find(p), std::string::npos) << e;
}

TEST_SHARED(HfSafetensors, MissingShard) {
  auto src = SHARED_FILE("models/gutenberg23m");
  TempDir d;
  link_folder(src, d.path(), {"model-00003-of-00004.safetensors"});
  std::string e = error_of([&] { SafetensorsModel::open_folder(d.path()); });
  EXPECT_NE(e.find("model-00003-of-00004.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("model.safetensors.index.json"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
}

TEST(HfSafetensors, IndexErrors) {
  TempDir d;
  write_bytes(d.file("model.safetensors.index.json"), R"({"weight_map": {"a": "../etc/passwd"}})");
  EXPECT_NE(error_of([&] { SafetensorsModel::open_folder(d.path()); }).find("not a plain file name"), std::string::npos);
  write_bytes(d.file("model.safetensors.index.json"), R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  write_bytes(d.file("s1.safetensors"),
              safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')));
  std::string e = error_of([&] { SafetensorsModel::open_folder(d.path()); });
  EXPECT_NE(e.find("'b'"), std::string::npos) << e;
  EXPECT_NE(e.find("s1.safetensors"), std::string::npos) << e;
  write_bytes(d.file("model.safetensors.index.json"), R"({"weight_map": )");
  e = error_of([&] { SafetensorsModel::open_folder(d.path()); });
  EXPECT_NE(e.find("model.safetensors.index.json"), std::string::npos) << e;
}
