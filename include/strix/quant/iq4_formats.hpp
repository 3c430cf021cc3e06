// IQ4_NL (32-element blocks) and IQ4_XS (256-element super-blocks of 8 x 32 with 6-bit scales):
// 4-bit indices into ggml's fixed non-linear code table. Dequantizers are bit-exact with ggml's;
// quantizers are least-squares table fits (scale_fit.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include <strix/core/f16.hpp>
#include <strix/quant/block_format.hpp>
#include <strix/quant/scale_fit.hpp>

namespace strix {

// ggml's kvalues_iq4nl, ascending.
inline constexpr std::array<std::int8_t, 16> iq4_code_table{-127, -104, -83, -65, -49, -35, -22, -10,
                                                            1,    13,   25,  38,  53,  69,  89,  113};

struct block_iq4_nl {
  f16 d;
  std::uint8_t qs[16];
};
struct block_iq4_xs {
  f16 d;
  std::uint16_t scales_h;   // high two bits of each sub-block's 6-bit scale
  std::uint8_t scales_l[4]; // low four bits, two sub-blocks per byte
  std::uint8_t qs[128];
};

namespace detail {
inline constexpr auto iq4_code_table_f = [] {
  std::array<float, 16> t{};
  for (std::size_t i = 0; i < 16; ++i) t[i] = iq4_code_table[i];
  return t;
}();

// 32 values as 16 bytes: element j < 16 in the low nibble of byte j, element j + 16 in its high nibble.
inline void pack_nibbles_32(const std::uint8_t* idx, std::uint8_t* qs) noexcept {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<std::uint8_t>(idx[j] | (idx[j + 16] << 4));
}
inline void recode_iq4(const float* x, float step, std::uint8_t* idx) noexcept {
  for (int j = 0; j < 32; ++j) {
    idx[j] = static_cast<std::uint8_t>(step != 0.0f ? nearest_index(iq4_code_table_f, x[j] / step) : nearest_index(iq4_code_table_f, 0.0f));
  }
}
}  // namespace detail

struct iq4_nl_format {
  using block_type = block_iq4_nl;
  static constexpr ggml_type type = ggml_type::iq4_nl;
  static constexpr std::size_t block_size = 32;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(iq4_code_table[b.qs[j] & 0x0f]);
      y[j + 16] = d * static_cast<float>(iq4_code_table[b.qs[j] >> 4]);
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    std::uint8_t idx[32];
    out.d = f16::from_float(detail::fit_table(x, 32, detail::iq4_code_table_f, idx));
    detail::recode_iq4(x, out.d.to_float(), idx);
    detail::pack_nibbles_32(idx, out.qs);
  }
};

struct iq4_xs_format {
  using block_type = block_iq4_xs;
  static constexpr ggml_type type = ggml_type::iq4_xs;
  static constexpr std::size_t block_size = 256;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    for (int ib = 0; ib < 8; ++ib, y += 32) {
      const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((b.scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      const std::uint8_t* qs = b.qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(iq4_code_table[qs[j] & 0x0f]);
        y[j + 16] = dl * static_cast<float>(iq4_code_table[qs[j] >> 4]);
      }
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    float sub_d[8];
    std::uint8_t idx[32];
    for (int ib = 0; ib < 8; ++ib) sub_d[ib] = detail::fit_table(x + 32 * ib, 32, detail::iq4_code_table_f, idx);
    out.d = f16::from_float(detail::signed_absmax(sub_d, 8) / -32.0f);
    const float d = out.d.to_float();
    out.scales_h = 0;
    std::memset(out.scales_l, 0, sizeof out.scales_l);
    for (int ib = 0; ib < 8; ++ib) {
      const int l = d != 0.0f ? std::clamp(nearest_int(sub_d[ib] / d), -32, 31) : 0;
      const int ls = l + 32;
      out.scales_l[ib / 2] = static_cast<std::uint8_t>(out.scales_l[ib / 2] | ((ls & 0x0f) << (4 * (ib % 2))));
      out.scales_h = static_cast<std::uint16_t>(out.scales_h | ((ls >> 4) << (2 * ib)));
      detail::recode_iq4(x + 32 * ib, d * static_cast<float>(l), idx);
      detail::pack_nibbles_32(idx, out.qs + 16 * ib);
    }
  }
};

static_assert(block_format<iq4_nl_format> && block_format<iq4_xs_format>);

}  // namespace strix
