#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <strix/io/mapped_file.hpp>

using namespace strix;
namespace fs = std::filesystem;

namespace {
fs::path temp_file(const std::string& name, const std::string& contents) {
  const auto path = fs::temp_directory_path() / ("strix_mapped_file_" + name);
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}
}  // namespace

TEST_CASE("mapped_file exposes a file's bytes by mapping or by reading", "[io]") {
  const auto path = temp_file("hello", "hello, strix");
  for (auto access : {file_access::map_or_read, file_access::read}) {
    const auto file = mapped_file::open(path, access);
    REQUIRE(file.size() == 12);
    CHECK(std::string(reinterpret_cast<const char*>(file.bytes().data()), file.size()) == "hello, strix");
    if (access == file_access::read) CHECK_FALSE(file.is_mapped());
  }
  auto moved = mapped_file::open(path);
  const auto* before = moved.bytes().data();
  mapped_file target = std::move(moved);
  CHECK(target.bytes().data() == before);
  fs::remove(path);
}

TEST_CASE("an empty file maps to no bytes", "[io]") {
  const auto path = temp_file("empty", "");
  CHECK(mapped_file::open(path).size() == 0);
  CHECK(mapped_file::open(path, file_access::read).size() == 0);
  fs::remove(path);
}

TEST_CASE("missing files and folders are io errors naming the path", "[io]") {
  try {
    (void)mapped_file::open("/nonexistent/strix/model.gguf");
    FAIL("opened a missing file");
  } catch (const error& e) {
    CHECK(e.category() == error_category::io);
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/strix/model.gguf"));
  }
  CHECK_THROWS_WITH(mapped_file::open(fs::temp_directory_path()), Catch::Contains("not a regular file"));
}
