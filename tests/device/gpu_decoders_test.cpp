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
