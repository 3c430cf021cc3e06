// The block formats against ../shared/fixtures/quant-golden.gguf (copied to tests/data): bytes and
// floats written by ggml itself. Dequantization must reproduce ggml's floats bit for bit; the
// quantizers ggml pins must reproduce its bytes; the others must do no worse in RMSE.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <strix/io/gguf_reader.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/quantized_view.hpp>

#include "../test_data.hpp"

using namespace strix;

namespace {

constexpr std::size_t golden_rows = 6;
constexpr std::size_t golden_cols = 1024;

const gguf_file& golden() {
  static const gguf_file file = gguf_file::open(testing::data_path("quant-golden.gguf"));
  return file;
}

std::vector<float> floats_of(const std::string& tensor) {
  const auto& info = golden().tensor(tensor);
  REQUIRE(info.type == ggml_type::f32);
  const auto bytes = golden().tensor_data(info);
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

template <class Format>
std::vector<float> dequantize_all(std::span<const std::byte> bytes, std::size_t rows, std::size_t cols) {
  const quantized_view<Format> view(bytes, rows, cols);
  std::vector<float> out(rows * cols);
  for (std::size_t r = 0; r < rows; ++r) view.dequantize_row(r, std::span(out).subspan(r * cols, cols));
  return out;
}

template <class Format>
std::vector<std::byte> quantize_all(const std::vector<float>& x) {
  std::vector<typename Format::block_type> blocks(x.size() / Format::block_size);
  quantize_row<Format>(x, blocks);
  std::vector<std::byte> bytes(blocks.size() * sizeof(typename Format::block_type));
  std::memcpy(bytes.data(), blocks.data(), bytes.size());
  return bytes;
}

double relative_rmse(const std::vector<float>& reference, const std::vector<float>& approx) {
  double err = 0.0;
  double norm = 0.0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    err += (static_cast<double>(reference[i]) - approx[i]) * (static_cast<double>(reference[i]) - approx[i]);
    norm += static_cast<double>(reference[i]) * reference[i];
  }
  return std::sqrt(err / norm);
}

std::size_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return i;
  }
  return a.size();
}

// The fixtures' golden types, and whether ggml's quantizer for each is pinned bit for bit.
struct golden_case {
  const char* name;
  bool bit_exact_quantizer;
};
constexpr golden_case golden_cases[] = {
    {"f16", true},   {"bf16", true},  {"q4_0", true},  {"q4_1", true},   {"q5_0", true},
    {"q5_1", true},  {"q8_0", true},  {"q2_K", false}, {"q3_K", false},  {"q4_K", false},
    {"q5_K", false}, {"q6_K", false}, {"iq4_nl", false}, {"iq4_xs", false}, {"mxfp4", false},
};

}  // namespace

TEST_CASE("dequantizing ggml's bytes reproduces ggml's floats bit for bit", "[quant][golden]") {
  for (const auto& c : golden_cases) {
    const std::string name = c.name;
    SECTION(name) {
      const auto& info = golden().tensor(name + ".quantized");
      REQUIRE(info.ne[0] == golden_cols);
      REQUIRE(info.ne[1] == golden_rows);
      const auto expected = floats_of(name + ".dequantized");
      const auto actual = visit_format(info.type, [&]<class Format>() {
        return dequantize_all<Format>(golden().tensor_data(info), golden_rows, golden_cols);
      });
      const auto at = first_bit_difference(expected, actual);
      INFO(name << ": first difference at element " << at);
      CHECK(at == expected.size());
    }
  }
}

TEST_CASE("quantizers reproduce ggml's bytes where ggml pins them, and its RMSE elsewhere", "[quant][golden]") {
  const auto source = floats_of("source.f32");
  for (const auto& c : golden_cases) {
    const std::string name = c.name;
    SECTION(name) {
      const auto& info = golden().tensor(name + ".quantized");
      const auto ggml_bytes = golden().tensor_data(info);
      visit_format(info.type, [&]<class Format>() {
        const auto ours = quantize_all<Format>(source);
        REQUIRE(ours.size() == ggml_bytes.size());
        if (c.bit_exact_quantizer) {
          std::size_t at = 0;
          while (at < ours.size() && ours[at] == ggml_bytes[at]) ++at;
          INFO(name << ": first differing byte " << at << " of " << ours.size());
          CHECK(at == ours.size());
        } else {
          const double ggml_rmse = relative_rmse(source, floats_of(name + ".dequantized"));
          const double our_rmse = relative_rmse(source, dequantize_all<Format>(ours, golden_rows, golden_cols));
          INFO(name << ": relative RMSE ours " << our_rmse << ", ggml " << ggml_rmse);
          CHECK(our_rmse <= ggml_rmse);
          // No row may be much worse either: the aggregate is dominated by the outlier row.
          for (std::size_t r = 0; r < golden_rows; ++r) {
            const auto row = [&](const std::vector<float>& v) {
              return std::vector<float>(v.begin() + static_cast<long>(r * golden_cols), v.begin() + static_cast<long>((r + 1) * golden_cols));
            };
            const double ggml_row = relative_rmse(row(source), row(floats_of(name + ".dequantized")));
            const double our_row = relative_rmse(row(source), row(dequantize_all<Format>(ours, golden_rows, golden_cols)));
            INFO("row " << r << ": ours " << our_row << ", ggml " << ggml_row);
            CHECK(our_row <= ggml_row * 1.05);
          }
        }
      });
    }
  }
}

TEMPLATE_TEST_CASE("every format survives adversarial blocks", "[quant]", q4_0_format, q4_1_format, q5_0_format,
                   q5_1_format, q8_0_format, q8_1_format, q2_k_format, q3_k_format, q4_k_format, q5_k_format,
                   q6_k_format, q8_k_format, iq4_nl_format, iq4_xs_format, mxfp4_format, f16_format, bf16_format) {
  constexpr std::size_t n = TestType::block_size * 2;
  std::vector<float> x(n);
  auto round_trip = [&] {
    typename TestType::block_type blocks[2];
    quantize_row<TestType>(x, blocks);
    std::vector<float> y(n);
    dequantize_row<TestType>(blocks, y);
    return y;
  };
  auto amax = [&] {
    float m = 0;
    for (float v : x) m = std::max(m, std::fabs(v));
    return m;
  };
  // The worst error any of these formats makes, relative to the block's largest magnitude.
  const float tolerance = 0.5f;

  SECTION("all zeros dequantize to exact zeros") {
    const auto y = round_trip();
    for (float v : y) CHECK(v == 0.0f);
  }
  SECTION("a constant block") {
    std::fill(x.begin(), x.end(), -0.75f);
    const auto y = round_trip();
    for (std::size_t i = 0; i < n; ++i) CHECK(std::fabs(y[i] - x[i]) <= tolerance * amax());
  }
  SECTION("one outlier among zeros") {
    x[n / 3] = 1000.0f;
    const auto y = round_trip();
    CHECK(std::fabs(y[n / 3] - 1000.0f) <= tolerance * 1000.0f);
    for (float v : y) CHECK(std::isfinite(v));
  }
  SECTION("all negative and small, like the golden tiny row") {
    const auto g = testing::gaussian(n, 7);
    for (std::size_t i = 0; i < n; ++i) x[i] = -std::fabs(g[i]) * 1e-3f;
    const auto y = round_trip();
    for (std::size_t i = 0; i < n; ++i) CHECK(std::fabs(y[i] - x[i]) <= tolerance * amax());
  }
  SECTION("gaussian values stay within the format's error") {
    x = testing::gaussian(n, 11);
    const auto y = round_trip();
    for (std::size_t i = 0; i < n; ++i) CHECK(std::fabs(y[i] - x[i]) <= tolerance * amax());
  }
}

TEST_CASE("activation formats keep their sums consistent with their codes", "[quant]") {
  const auto x = testing::gaussian(256, 3);
  block_q8_k k{};
  q8_k_format::quantize(x.data(), k);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int j = 0; j < 16; ++j) sum += k.qs[g * 16 + j];
    CHECK(k.bsums[g] == sum);
  }
  std::vector<float> y(256);
  q8_k_format::dequantize(k, y.data());
  for (std::size_t i = 0; i < 256; ++i) CHECK(std::fabs(y[i] - x[i]) <= k.d * 0.5f + 1e-6f);

  block_q8_1 b{};
  q8_1_format::quantize(x.data(), b);
  int sum = 0;
  for (auto q : b.qs) sum += q;
  CHECK(b.s.to_float() == f16::from_float(static_cast<float>(sum) * b.d.to_float()).to_float());
}

TEST_CASE("type ids strix cannot decode are named in the error", "[quant]") {
  CHECK(is_implemented(ggml_type::q4_k));
  CHECK_FALSE(is_implemented(ggml_type::iq2_xxs));
  try {
    visit_format(ggml_type::iq2_xxs, []<class>() {}, "model.gguf: tensor 'blk.0.attn_q.weight'");
    FAIL("no error");
  } catch (const error& e) {
    CHECK(e.category() == error_category::unsupported);
    CHECK_THAT(e.what(), Catch::Contains("blk.0.attn_q.weight") && Catch::Contains("iq2_xxs") && Catch::Contains("q4_K"));
  }
}
