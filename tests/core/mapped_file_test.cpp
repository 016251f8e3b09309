// MappedFile in both modes: Map (mmap) and Read (into huge-page memory) hold
// exactly the file's bytes; bad paths are errors naming the path.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "common/shared_data.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace lowbit {
namespace {

using test::TempDir;

std::string bytes_of(const MappedFile& f) {
  return f.size() ? std::string(reinterpret_cast<const char*>(f.data()), f.size()) : std::string();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

TEST(MappedFile, BothModesHoldTheFileBytes) {
  TempDir dir;
  std::mt19937 rng(7);
  // Sizes around page and huge-page boundaries.
  for (size_t size : {size_t(1), size_t(4095), size_t(4097), (size_t(2) << 20) + 17, size_t(5) << 20}) {
    std::string bytes(size, '\0');
    for (char& c : bytes) c = char(rng());
    const std::string path = dir.file("f" + std::to_string(size));
    write_file(path, bytes);
    for (FileAccess access : {FileAccess::Map, FileAccess::Read}) {
      MappedFile f(path, access);
      EXPECT_EQ(f.size(), size);
      EXPECT_EQ(f.path(), path);
      EXPECT_TRUE(bytes_of(f) == bytes) << size;
    }
  }
}

TEST(MappedFile, EmptyFileHasNoBytes) {
  TempDir dir;
  write_file(dir.file("empty"), "");
  for (FileAccess access : {FileAccess::Map, FileAccess::Read}) {
    MappedFile f(dir.file("empty"), access);
    EXPECT_EQ(f.size(), 0u);
  }
}

TEST(MappedFile, BadPathsNameThePath) {
  TempDir dir;
  for (FileAccess access : {FileAccess::Map, FileAccess::Read}) {
    try {
      MappedFile f(dir.file("missing.gguf"), access);
      FAIL() << "no error for a missing file";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("missing.gguf"), std::string::npos) << e.what();
    }
    try {
      MappedFile f(dir.path(), access);
      FAIL() << "no error for a directory";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
    }
  }
}

TEST_SHARED(MappedFile, RealModelReadEqualsMapped) {
  const std::string path = SHARED_FILE("models/stories260K.gguf");
  MappedFile mapped(path, FileAccess::Map), read(path, FileAccess::Read);
  ASSERT_EQ(mapped.size(), read.size());
  EXPECT_TRUE(bytes_of(mapped) == bytes_of(read));
}

}  // namespace
}  // namespace lowbit
