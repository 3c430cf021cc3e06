// The GGUF reader against real files (the ggml-written golden file) and a corpus of broken and
// hostile ones generated here: every truncation, random corruptions, and hand-made lies in each
// field. All must end in a strix::error that names the file, never a crash (ASan runs this in CI).
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include <strix/io/gguf_reader.hpp>

#include "../test_data.hpp"
#include "gguf_test_files.hpp"

using namespace strix;
using testing::raw_gguf;

namespace {
// Parses bytes; returns the error message, or "" when the file is accepted.
std::string parse_error(const std::vector<std::byte>& bytes) {
  try {
    const auto file = gguf_file::parse(bytes, "hostile.gguf");
    for (const auto& t : file.tensors()) {
      const auto data = file.tensor_data(t);
      REQUIRE(data.data() >= bytes.data());
      REQUIRE(data.data() + data.size() <= bytes.data() + bytes.size());
    }
    return "";
  } catch (const error& e) {
    REQUIRE_THAT(e.what(), Catch::Contains("hostile.gguf"));
    return e.what();
  }
}
}  // namespace

TEST_CASE("the golden file written by ggml opens and lists its tensors", "[io][gguf]") {
  const auto file = gguf_file::open(testing::data_path("quant-golden.gguf"));
  CHECK(file.version() == 3);
  CHECK(file.get<std::string>("general.architecture") == "quant-golden");
  CHECK(file.tensors().size() == 31);
  const auto& q4k = file.tensor("q4_K.quantized");
  CHECK(q4k.type == ggml_type::q4_k);
  CHECK(q4k.size_bytes == 6 * 4 * 144);
}

TEST_CASE("a file truncated at any byte is an error, never a crash", "[io][gguf][hostile]") {
  const auto full = testing::valid_gguf();
  REQUIRE(parse_error(full).empty());
  for (std::size_t n = 0; n < full.size(); ++n) {
    const std::vector<std::byte> prefix(full.begin(), full.begin() + static_cast<long>(n));
    INFO("truncated to " << n << " of " << full.size() << " bytes");
    CHECK_FALSE(parse_error(prefix).empty());
  }
}

TEST_CASE("random corruption of the header is either accepted safely or an error", "[io][gguf][hostile]") {
  const auto full = testing::valid_gguf();
  const auto header_size = static_cast<std::size_t>(gguf_file::parse(full, "x").data_offset());
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::size_t> position(0, header_size - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> flips(1, 4);
  for (int trial = 0; trial < 4000; ++trial) {
    auto mutated = full;
    for (int f = flips(rng); f > 0; --f) mutated[position(rng)] = static_cast<std::byte>(byte(rng));
    (void)parse_error(mutated);  // REQUIREs inside check the accepted case
  }
}

TEST_CASE("hand-made lies in each field give errors that say what is wrong", "[io][gguf][hostile]") {
  auto expect = [](const raw_gguf& file, const char* words) {
    const auto message = parse_error(file.bytes);
    INFO(message);
    CHECK_THAT(message, Catch::Contains(words));
  };
  expect(raw_gguf{}.put<std::uint32_t>(0x46554747u + 1).put<std::uint32_t>(3), "magic");
  expect(raw_gguf{}.header(0, 0, 1), "version 1");
  expect(raw_gguf{}.header(0, std::uint64_t{1} << 62), "metadata_kv_count");
  expect(raw_gguf{}.header(std::uint64_t{1} << 62, 0), "tensor_count");
  expect(raw_gguf{}.header(0, 1).put<std::uint64_t>(~0ull).zeros(16), "exceeds");
  expect(raw_gguf{}.header(0, 1).str("k").put<std::uint32_t>(99).zeros(8), "unknown value type 99");
  expect(raw_gguf{}.header(0, 1).str("k").put<std::uint32_t>(8).put<std::uint64_t>(1ull << 40).zeros(8), "exceeds");
  expect(raw_gguf{}.header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(6).put<std::uint64_t>(1ull << 61), "more than the file can hold");
  expect(raw_gguf{}.header(0, 1).str("k").put<std::uint32_t>(9).put<std::uint32_t>(42).put<std::uint64_t>(1), "unknown element type 42");
  expect(raw_gguf{}.header(0, 1).str("k").put<std::uint32_t>(7).put<std::uint8_t>(2), "neither 0 nor 1");
  expect(raw_gguf{}.header(0, 1).str("k\xff").put<std::uint32_t>(0).put<std::uint8_t>(0), "UTF-8");
  expect(raw_gguf{}.header(0, 1).str("k").put<std::uint32_t>(8).str("\xc0\xaf"), "UTF-8");
  expect(raw_gguf{}.header(0, 2).str("k").put<std::uint32_t>(0).put<std::uint8_t>(1).str("k").put<std::uint32_t>(0).put<std::uint8_t>(1),
         "duplicate metadata key 'k'");
  expect(raw_gguf{}.header(0, 1).str("general.alignment").put<std::uint32_t>(4).put<std::uint32_t>(24), "not a power of two");
  expect(raw_gguf{}.header(0, 1).str("general.alignment").put<std::uint32_t>(4).put<std::uint32_t>(0), "not a power of two");

  {  // arrays nested without end
    raw_gguf deep;
    deep.header(0, 1).str("deep").put<std::uint32_t>(9);
    for (int i = 0; i < 100; ++i) deep.put<std::uint32_t>(9).put<std::uint64_t>(1);
    deep.put<std::uint32_t>(0).put<std::uint64_t>(0);
    expect(deep, "deeper");
  }

  auto one_tensor = [](std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset, std::size_t data_bytes) {
    raw_gguf f;
    f.header(1, 0).tensor("blk.0.attn_q.weight", std::move(ne), type, offset).pad_to(32).zeros(data_bytes);
    return f;
  };
  REQUIRE(parse_error(one_tensor({8, 2}, 0, 0, 64).bytes).empty());
  expect(one_tensor({8, 2}, 0, 0, 63), "extends past the end");
  expect(one_tensor({8, 2}, 0, 32, 64), "extends past the end");
  expect(one_tensor({8, 2}, 0, 1ull << 62, 64), "extends past the end");
  expect(one_tensor({8, 2}, 0, 4, 128), "not a multiple of the alignment");
  expect(one_tensor({8, 2}, 77, 0, 64), "unknown ggml type 77");
  expect(one_tensor({33, 2}, 8, 0, 128), "block size 32");
  expect(one_tensor({1ull << 40, 1ull << 40}, 0, 0, 64), "overflows");
  expect(one_tensor({1ull << 62, 1, 1, 4}, 0, 0, 64), "overflows");
  {
    raw_gguf f;
    f.header(1, 0).str("t").put<std::uint32_t>(5);
    f.zeros(64);
    expect(f, "5 dimensions");
  }
  {
    raw_gguf f;
    f.header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {8}, 0, 0).pad_to(32).zeros(64);
    expect(f, "overlap");
  }
  {
    raw_gguf f;
    f.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad_to(32).zeros(64);
    expect(f, "duplicate tensor name 'a'");
  }
}
