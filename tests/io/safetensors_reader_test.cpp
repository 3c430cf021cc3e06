// The safetensors reader on generated files: every dtype, metadata, sharded checkpoints through an
// index, and a corpus of broken files (every truncation, lying headers, hostile indexes).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <strix/io/safetensors_reader.hpp>

using namespace strix;
namespace fs = std::filesystem;

namespace {
std::vector<std::byte> make_safetensors(const std::string& header, std::size_t data_bytes, std::uint8_t fill = 0xab) {
  std::vector<std::byte> out(8 + header.size() + data_bytes, static_cast<std::byte>(fill));
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

const std::string valid_header =
    R"({"__metadata__":{"format":"pt"},)"
    R"("a.f32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("b.bf16":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},)"
    R"("c.f16":{"dtype":"F16","shape":[1],"data_offsets":[32,34]},)"
    R"("d.i64":{"dtype":"I64","shape":[1],"data_offsets":[34,42]},)"
    R"("e.i32":{"dtype":"I32","shape":[1],"data_offsets":[42,46]},)"
    R"("f.i8":{"dtype":"I8","shape":[2],"data_offsets":[46,48]},)"
    R"("g.u8":{"dtype":"U8","shape":[1],"data_offsets":[48,49]},)"
    R"("h.bool":{"dtype":"BOOL","shape":[1],"data_offsets":[49,50]},)"
    R"("scalar":{"dtype":"F32","shape":[],"data_offsets":[50,54]},)"
    R"("empty":{"dtype":"F32","shape":[0,5],"data_offsets":[54,54]}})";

std::string parse_error(const std::vector<std::byte>& bytes) {
  try {
    const auto file = safetensors_file::parse(bytes, "hostile.safetensors");
    for (const auto& t : file.tensors()) {
      const auto data = file.tensor_data(t);
      REQUIRE(data.data() + data.size() <= bytes.data() + bytes.size());
    }
    return "";
  } catch (const error& e) {
    REQUIRE_THAT(e.what(), Catch::Contains("hostile.safetensors"));
    return e.what();
  }
}

void write_file(const fs::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
}  // namespace

TEST_CASE("a safetensors file reads with every supported dtype and its metadata", "[io][safetensors]") {
  const auto bytes = make_safetensors(valid_header, 54);
  const auto file = safetensors_file::parse(bytes, "model.safetensors");
  CHECK(file.tensors().size() == 10);
  CHECK(file.metadata().at("format") == "pt");
  const auto& a = file.tensor("a.f32");
  CHECK(a.dtype == safetensors_dtype::f32);
  CHECK(a.shape == std::vector<std::uint64_t>{2, 3});
  CHECK(file.tensor_data(a).size() == 24);
  CHECK(file.tensor_data(a).data() == bytes.data() + 8 + valid_header.size());
  CHECK(file.tensor("b.bf16").dtype == safetensors_dtype::bf16);
  CHECK(file.tensor("h.bool").dtype == safetensors_dtype::boolean);
  CHECK(file.tensor("scalar").element_count() == 1);
  CHECK(file.tensor("empty").size_bytes() == 0);
  CHECK_THROWS_WITH(file.tensor("lm_head.weight"), Catch::Contains("lm_head.weight"));
}

TEST_CASE("a safetensors file truncated at any byte is an error", "[io][safetensors][hostile]") {
  const auto full = make_safetensors(valid_header, 54);
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("truncated to " << n);
    CHECK_FALSE(parse_error(std::vector<std::byte>(full.begin(), full.begin() + static_cast<long>(n))).empty());
  }
}

TEST_CASE("random corruption of a safetensors header is accepted safely or an error", "[io][safetensors][hostile]") {
  const auto full = make_safetensors(valid_header, 54);
  std::mt19937 rng(99);
  std::uniform_int_distribution<std::size_t> position(0, 8 + valid_header.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int trial = 0; trial < 3000; ++trial) {
    auto mutated = full;
    mutated[position(rng)] = static_cast<std::byte>(byte(rng));
    (void)parse_error(mutated);
  }
}

TEST_CASE("lying safetensors headers give errors naming the tensor", "[io][safetensors][hostile]") {
  auto expect = [](const std::string& header, std::size_t data, const char* words) {
    const auto message = parse_error(make_safetensors(header, data));
    INFO(header << " -> " << message);
    CHECK_THAT(message, Catch::Contains(words));
  };
  {
    std::vector<std::byte> huge(16, std::byte{0});
    const std::uint64_t n = 1ull << 40;
    std::memcpy(huge.data(), &n, 8);
    CHECK_THAT(parse_error(huge), Catch::Contains("100 MB"));
  }
  expect("not json", 0, "not valid JSON");
  expect("[1,2]", 0, "not a JSON object");
  expect(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8, "dtype 'F64'");
  expect(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4, "'w' has no string 'dtype'");
  expect(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4, "non-negative");
  expect(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4, "need 8");
  expect(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 2, "past the 2 data bytes");
  expect(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4, "reversed");
  expect(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, "two non-negative integers");
  expect(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", 4, "overflows");
  expect(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, "overlap");
  expect("{\"w\xff\":{}}", 0, "not valid JSON");
  expect(R"({"__metadata__":{"k":1}})", 0, "not a string");
}

TEST_CASE("a sharded checkpoint resolves tensors through its index", "[io][safetensors]") {
  const auto dir = fs::temp_directory_path() / "strix_sharded";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_file(dir / "model-00001-of-00002.safetensors",
             make_safetensors(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 1));
  write_file(dir / "model-00002-of-00002.safetensors",
             make_safetensors(R"({"y":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", 4, 2));
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"metadata":{"total_size":8},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}})";

  const auto checkpoint = safetensors_checkpoint::open(dir);
  CHECK(checkpoint.shards().size() == 2);
  CHECK(checkpoint.tensor_names() == std::vector<std::string>{"x", "y"});
  CHECK(static_cast<int>(checkpoint.at("y").data()[0]) == 2);
  CHECK(checkpoint.at("y").info->dtype == safetensors_dtype::bf16);
  CHECK_FALSE(checkpoint.find("z"));
  CHECK_THROWS_WITH(checkpoint.at("z"), Catch::Contains("'z'"));

  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map":{"z":"model-00001-of-00002.safetensors"}})";
  CHECK_THROWS_WITH(safetensors_checkpoint::open(dir), Catch::Contains("'z'") && Catch::Contains("absent"));
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map":{"x":"../../etc/passwd"}})";
  CHECK_THROWS_WITH(safetensors_checkpoint::open(dir), Catch::Contains("not a file beside the index"));
  std::ofstream(dir / "model.safetensors.index.json") << R"({"weight_map":[]})";
  CHECK_THROWS_WITH(safetensors_checkpoint::open(dir), Catch::Contains("weight_map"));
  fs::remove_all(dir);
  CHECK_THROWS_AS(safetensors_checkpoint::open(dir), error);
}
