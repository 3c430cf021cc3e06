#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

#include <strix/io/gguf_reader.hpp>
#include <strix/io/gguf_writer.hpp>

#include "gguf_test_files.hpp"

using namespace strix;

TEST_CASE("a written GGUF reads back with every value type, nested arrays and tensors", "[io][gguf]") {
  const auto bytes = testing::valid_gguf();
  const auto file = gguf_file::parse(bytes, "roundtrip.gguf");
  CHECK(file.version() == 3);
  CHECK(file.get<std::string>("general.architecture") == "test");
  CHECK(file.get<std::uint8_t>("u8") == 200);
  CHECK(file.get<std::int8_t>("i8") == -100);
  CHECK(file.get<std::uint16_t>("u16") == 60000);
  CHECK(file.get<std::int16_t>("i16") == -30000);
  CHECK(file.get<std::uint32_t>("u32") == 4000000000u);
  CHECK(file.get<std::int32_t>("i32") == -2000000000);
  CHECK(file.get<float>("f32") == 1.5f);
  CHECK(file.get<bool>("bool"));
  CHECK(file.get<std::uint64_t>("u64") == std::uint64_t{1} << 60);
  CHECK(file.get<std::int64_t>("i64") == -(std::int64_t{1} << 60));
  CHECK(file.get<double>("f64") == -0.125);
  CHECK(file.get_integer("u16") == 60000);
  const auto scores = file.get_array<float>("scores");
  REQUIRE(scores.size() == 3);
  CHECK(scores[2] == 2.0f);
  const auto flags = file.get_array<bool>("flags");
  CHECK((flags.size() == 3 && flags[0] && !flags[1] && flags[2]));
  const auto tokens = file.get_array<std::string>("tokens");
  CHECK(tokens[1] == "\xe2\x96\x81hi");
  CHECK(tokens[2].empty());
  const auto nested = file.at("nested").as_arrays();
  REQUIRE(nested.size() == 2);
  CHECK(nested[0].as_array<std::int32_t>()[1] == 2);
  CHECK(nested[1].as_array<std::int32_t>()[0] == 3);

  REQUIRE(file.tensors().size() == 3);
  const auto& w = file.tensor("weights");
  CHECK(w.type == ggml_type::f32);
  CHECK(w.ne[0] == 4);
  CHECK(w.ne[1] == 2);
  CHECK(w.offset % 32 == 0);
  float values[8];
  std::memcpy(values, file.tensor_data(w).data(), sizeof values);
  CHECK(values[2] == 3.5f);
  CHECK(file.tensor("blk.0.q8").size_bytes == 68);
  CHECK(file.data_offset() % 32 == 0);
}

TEST_CASE("metadata accessors name the file and key on a wrong type or a missing key", "[io][gguf]") {
  const auto bytes = testing::valid_gguf();
  const auto file = gguf_file::parse(bytes, "model.gguf");
  CHECK_THROWS_WITH(file.get<std::uint32_t>("f32"), Catch::Contains("model.gguf") && Catch::Contains("'f32'") &&
                                                       Catch::Contains("expected u32"));
  CHECK_THROWS_WITH(file.get<std::string>("gemma4.block_count"), Catch::Contains("gemma4.block_count") && Catch::Contains("missing"));
  CHECK_THROWS_WITH(file.get_array<std::int32_t>("scores"), Catch::Contains("array of f32"));
  CHECK_THROWS_WITH(file.tensor("output.weight"), Catch::Contains("output.weight"));
}

TEST_CASE("the writer honours a custom alignment and rejects inconsistent tensors", "[io][gguf]") {
  gguf_writer w(64);
  const std::vector<std::byte> one(4);
  const std::uint64_t ne1[] = {1};
  w.add_tensor("a", ggml_type::f32, ne1, one);
  w.add_tensor("b", ggml_type::f32, ne1, one);
  const auto bytes = w.to_bytes();
  const auto file = gguf_file::parse(bytes, "aligned.gguf");
  CHECK(file.alignment() == 64);
  CHECK(file.tensor("b").offset == 64);
  CHECK(file.data_offset() % 64 == 0);

  CHECK_THROWS_AS(w.add_tensor("a", ggml_type::f32, ne1, one), error);  // duplicate
  const std::uint64_t ne_bad[] = {33};
  CHECK_THROWS_WITH(w.add_tensor("c", ggml_type::q8_0, ne_bad, one), Catch::Contains("block size"));
  const std::uint64_t ne2[] = {2};
  CHECK_THROWS_WITH(w.add_tensor("d", ggml_type::f32, ne2, one), Catch::Contains("needs 8 bytes"));
  CHECK_THROWS_AS(gguf_writer(48), error);
}

TEST_CASE("a GGUF written to disk opens through the memory mapping", "[io][gguf]") {
  const auto path = std::filesystem::temp_directory_path() / "strix_writer_test.gguf";
  gguf_writer w;
  w.set("general.architecture", gguf_value("disk"));
  const std::vector<float> data(256, 0.5f);
  const std::uint64_t ne[] = {16, 16};
  w.add_tensor("t", ggml_type::f32, ne, std::as_bytes(std::span(data)));
  w.write(path);
  const auto file = gguf_file::open(path);
  CHECK(file.get<std::string>("general.architecture") == "disk");
  CHECK(file.tensor_data(file.tensor("t")).size() == 1024);
  std::filesystem::remove(path);
}
