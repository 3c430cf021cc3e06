// The hip policy's weight decoders, compiled for the host (host_device.hpp), against each format's
// reference dequantization: unit_decoders.hpp (floats, an 8-weight slice at a time) and
// code_decoders.hpp (integer codes with a scale and offset per 16 weights, a 32-weight unit at a
// time). Runs in the CPU suite on every CI run, where no GPU is; the GPU tests check the same code
// inside the matmul. Rows are also placed at the least aligned addresses the policy accepts
// (gpu_format::row_alignment), where the code decoders join aligned words with funnel shifts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <strix/device/hip/code_decoders.hpp>
#include <strix/device/hip/kv_quantizers.hpp>
#include <strix/device/hip/unit_decoders.hpp>
#include <strix/quant/formats.hpp>

#include "device/kernel_test_support.hpp"

using namespace strix;

namespace {

// A copy of one weight row `offset` bytes past a 16-byte-aligned address, with room after it for
// the code decoders' reads of up to 3 bytes past a unit's last word.
template <class Format>
struct placed_row {
  std::vector<std::uint8_t> storage;
  std::size_t offset;
  placed_row(std::span<const typename Format::block_type> blocks, std::size_t offset_) : storage(blocks.size_bytes() + 48), offset(offset_) {
    std::memcpy(start(), blocks.data(), blocks.size_bytes());
  }
  std::uint8_t* start() {
    const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    return storage.data() + ((16 - address % 16) % 16) + offset;
  }
  const typename Format::block_type* row() { return reinterpret_cast<const typename Format::block_type*>(start()); }
};

// |actual − expected| within float rounding of the row's largest weight.
void require_close(float actual, float expected, float largest) {
  CHECK(std::fabs(actual - expected) <= 1e-6f * std::max(1.0f, largest));
}

}  // namespace

TEMPLATE_TEST_CASE("GPU weight decoders compiled for the host equal reference dequantization", "[device][hip]", f32_format,
                   f16_format, bf16_format, q8_0_format, q4_0_format, mxfp4_format, iq4_xs_format, q4_k_format, q5_k_format,
                   q6_k_format) {
  using decoder = hip_kernels::gpu_format<TestType>;
  const std::size_t block = TestType::block_size;
  // Element formats: rows ending inside a unit (40) too; block formats: 1, 3 and 9 blocks.
  const std::vector<std::size_t> widths = block == 1 ? std::vector<std::size_t>{64, 40} : std::vector<std::size_t>{block, 3 * block, 9 * block};
  for (const std::size_t cols : widths) {
    for (const float sigma : {1.0f, 1e3f}) {
      const testing::quantized_matrix<TestType> w(3, cols, static_cast<std::uint32_t>(cols * 7 + 1), sigma);
      for (std::size_t r = 0; r < w.rows; ++r) {
        std::vector<float> expected(cols);
        w.view().dequantize_row(r, expected);
        float largest = 0.0f;
        for (float v : expected) largest = std::max(largest, std::fabs(v));
        for (std::size_t offset = 0; offset < 4; offset += decoder::row_alignment) {
          placed_row<TestType> placed(w.view().row(r), offset);
          INFO(name_of(TestType::type) << ", " << cols << " columns, sigma " << sigma << ", row " << r << ", address offset " << offset);
          for (std::size_t slice = 0; slice < cols / hip_kernels::slice_size; ++slice) {
            float got[hip_kernels::slice_size];
            decoder::decode(placed.row(), static_cast<hip_kernels::row_index>(slice), got);
            for (int k = 0; k < hip_kernels::slice_size; ++k) require_close(got[k], expected[slice * hip_kernels::slice_size + k], largest);
          }
          if constexpr (decoder::units_per_block == 0) {
            for (std::size_t i = 0; i < cols; ++i) require_close(decoder::element(placed.row(), i), expected[i], largest);
          }
          if constexpr (hip_kernels::has_gpu_codes<TestType>) {
            for (std::size_t unit = 0; unit < cols / hip_kernels::unit_size; ++unit) {
              const hip_kernels::unit_codes u = hip_kernels::gpu_codes<TestType>::decode(placed.row(), static_cast<hip_kernels::row_index>(unit));
              for (int k = 0; k < hip_kernels::unit_size; ++k) {
                const auto code = static_cast<float>(static_cast<std::int8_t>(u.words[k / 4] >> (8 * (k % 4))));
                const float value = u.scale[k / 16] * code - u.offset[k / 16];
                require_close(value, expected[unit * hip_kernels::unit_size + static_cast<std::size_t>(k)], largest);
              }
            }
          }
        }
      }
    }
  }
}

// The KV cache's quantizers as the GPU's write_kv runs them (kv_quantizers.hpp), compiled for the
// host: the bytes of each KV type's Format::quantize, on random rows and rows of zeros, of huge and
// subnormal values, of rounding ties and of equal magnitudes of both signs (Q4_0's pivot).
TEMPLATE_TEST_CASE("GPU KV quantizers compiled for the host write the bytes of the reference quantizers", "[device][hip]", f32_format,
                   f16_format, bf16_format, q8_0_format, q4_0_format) {
  using block = typename TestType::block_type;
  constexpr std::size_t n = 32;
  std::vector<std::vector<float>> rows;
  for (std::uint32_t seed = 1; seed <= 200; ++seed) rows.push_back(testing::gaussian(n, seed));
  rows.emplace_back(n, 0.0f);
  rows.emplace_back(n, -0.0f);
  std::vector<float> extremes(n), ties(n), signs(n);
  for (std::size_t i = 0; i < n; ++i) {
    extremes[i] = i % 3 == 0 ? 3e38f : i % 3 == 1 ? -7e-42f : 65519.0f + static_cast<float>(i);
    ties[i] = static_cast<float>(i) - 15.5f;
    signs[i] = i % 2 == 0 ? 2.5f : -2.5f;
  }
  rows.push_back(extremes);
  rows.push_back(ties);
  rows.push_back(signs);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::vector<block> expected(n / TestType::block_size), actual(expected.size());
    std::memset(static_cast<void*>(expected.data()), 0, expected.size() * sizeof(block));
    std::memset(static_cast<void*>(actual.data()), 0, actual.size() * sizeof(block));
    quantize_row<TestType>(rows[r], expected);
    for (std::size_t u = 0; u < actual.size(); ++u) hip_kernels::quantize_kv_unit<TestType>(rows[r].data() + u * TestType::block_size, actual[u]);
    INFO("row " << r);
    CHECK(std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(block)) == 0);
  }
}
