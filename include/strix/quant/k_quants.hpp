// The K-quants: 256-element super-blocks split into sub-blocks of 16 or 32, each with its own
// quantized scale (and min), under fp16 super-scales. Dequantizers are bit-exact with ggml's
// to_float; quantizers are least-squares fits (scale_fit.hpp) that match or beat the RMSE of ggml's
// reference quantizers on the golden rows (tests/quant).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <strix/core/f16.hpp>
#include <strix/core/rounded_product.hpp>
#include <strix/quant/block_format.hpp>
#include <strix/quant/scale_fit.hpp>

namespace strix {

struct block_q2_k {
  std::uint8_t scales[16];  // low nibble scale, high nibble min, per 16 elements
  std::uint8_t qs[64];
  f16 d;
  f16 dmin;
};
struct block_q3_k {
  std::uint8_t hmask[32];
  std::uint8_t qs[64];
  std::uint8_t scales[12];  // 16 six-bit signed scales (+32), packed
  f16 d;
};
struct block_q4_k {
  f16 d;
  f16 dmin;
  std::uint8_t scales[12];  // 8 six-bit scales and 8 six-bit mins, packed
  std::uint8_t qs[128];
};
struct block_q5_k {
  f16 d;
  f16 dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[32];
  std::uint8_t qs[128];
};
struct block_q6_k {
  std::uint8_t ql[128];
  std::uint8_t qh[64];
  std::int8_t scales[16];
  f16 d;
};

namespace detail {

// Scale and min of sub-block j of 8 in Q4_K/Q5_K's 12-byte packing.
inline void unpack_scale_min_k4(int j, const std::uint8_t* q, int& scale, int& min) noexcept {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

inline void pack_scale_min_k4(const std::uint8_t* scale, const std::uint8_t* min, std::uint8_t* q) noexcept {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      q[j] = scale[j];
      q[j + 4] = min[j];
    } else {
      q[j + 4] = static_cast<std::uint8_t>((scale[j] & 0x0f) | ((min[j] & 0x0f) << 4));
      q[j - 4] = static_cast<std::uint8_t>(q[j - 4] | ((scale[j] >> 4) << 6));
      q[j] = static_cast<std::uint8_t>(q[j] | ((min[j] >> 4) << 6));
    }
  }
}

// Q3_K's 16 scales (each + 32) from their 12-byte packing.
inline void unpack_q3_k_scales(const std::uint8_t* packed, std::int8_t* scales) noexcept {
  std::uint32_t a[3];
  std::memcpy(a, packed, 12);
  constexpr std::uint32_t low4 = 0x0f0f0f0f;
  constexpr std::uint32_t low2 = 0x03030303;
  const std::uint32_t s[4] = {
      (a[0] & low4) | (((a[2] >> 0) & low2) << 4),
      (a[1] & low4) | (((a[2] >> 2) & low2) << 4),
      ((a[0] >> 4) & low4) | (((a[2] >> 4) & low2) << 4),
      ((a[1] >> 4) & low4) | (((a[2] >> 6) & low2) << 4),
  };
  std::memcpy(scales, s, 16);
}

inline void pack_q3_k_scales(const std::uint8_t* biased, std::uint8_t* packed) noexcept {
  std::memset(packed, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const std::uint8_t v = biased[j];  // 0..63
    if (j < 8) packed[j] = static_cast<std::uint8_t>(v & 0x0f);
    else packed[j - 8] = static_cast<std::uint8_t>(packed[j - 8] | ((v & 0x0f) << 4));
    packed[8 + j % 4] = static_cast<std::uint8_t>(packed[8 + j % 4] | ((v >> 4) << (2 * (j / 4))));
  }
}

// Sub-block fits with an offset, their scales and mins quantized to `levels` under two fp16
// super-scales; then every value is re-coded against the final, rounded scales.
template <int SubBlocks, int SubSize, int CodeMax, int ScaleLevels>
struct min_scaled_fit {
  std::uint8_t q[SubBlocks * SubSize];
  std::uint8_t scale[SubBlocks];
  std::uint8_t min[SubBlocks];
  f16 d;
  f16 dmin;

  explicit min_scaled_fit(const float* x) noexcept {
    float sub_d[SubBlocks];
    float sub_m[SubBlocks];
    float max_d = 0.0f;
    float max_m = 0.0f;
    for (int j = 0; j < SubBlocks; ++j) {
      const auto fit = fit_with_min(x + j * SubSize, SubSize, CodeMax, q + j * SubSize);
      sub_d[j] = fit.d;
      sub_m[j] = fit.m;
      max_d = std::max(max_d, fit.d);
      max_m = std::max(max_m, fit.m);
    }
    d = f16::from_float(max_d / ScaleLevels);
    dmin = f16::from_float(max_m / ScaleLevels);
    const float dd = d.to_float();
    const float dm = dmin.to_float();
    for (int j = 0; j < SubBlocks; ++j) {
      // The nearest quantized scale and min need not be the best pair once codes are re-chosen:
      // search the neighbourhood.
      const int scale0 = dd > 0 ? std::clamp(nearest_int(sub_d[j] / dd), 0, ScaleLevels) : 0;
      const int min0 = dm > 0 ? std::clamp(nearest_int(sub_m[j] / dm), 0, ScaleLevels) : 0;
      const float* xs = x + j * SubSize;
      float best_error = INFINITY;
      for (int sc = std::max(0, scale0 - 2); sc <= std::min(ScaleLevels, scale0 + 2); ++sc) {
        for (int mn = std::max(0, min0 - 2); mn <= std::min(ScaleLevels, min0 + 2); ++mn) {
          const float step = rounded_product(dd, static_cast<float>(sc));
          const float offset = rounded_product(dm, static_cast<float>(mn));
          float err = 0.0f;
          for (int i = 0; i < SubSize; ++i) {
            const int code = step > 0 ? std::clamp(nearest_int((xs[i] + offset) / step), 0, CodeMax) : 0;
            const float r = xs[i] - (rounded_product(step, static_cast<float>(code)) - offset);
            err += r * r;
          }
          if (err < best_error) {
            best_error = err;
            scale[j] = static_cast<std::uint8_t>(sc);
            min[j] = static_cast<std::uint8_t>(mn);
          }
        }
      }
      const float step = dd * scale[j];
      const float offset = dm * min[j];
      for (int i = 0; i < SubSize; ++i) {
        q[j * SubSize + i] = static_cast<std::uint8_t>(step > 0 ? std::clamp(nearest_int((xs[i] + offset) / step), 0, CodeMax) : 0);
      }
    }
  }
};

// Symmetric sub-block fits with signed scales quantized to [ScaleMin, ScaleMax] under one fp16
// super-scale; codes in [CodeMin, CodeMax], re-coded against the final scales.
template <int SubBlocks, int SubSize, int CodeMin, int CodeMax, int ScaleMin, int ScaleMax>
struct signed_scaled_fit {
  std::int8_t q[SubBlocks * SubSize];
  std::int8_t scale[SubBlocks];
  f16 d;

  explicit signed_scaled_fit(const float* x) noexcept {
    float sub_d[SubBlocks];
    for (int j = 0; j < SubBlocks; ++j) sub_d[j] = fit_symmetric(x + j * SubSize, SubSize, CodeMin, CodeMax, q + j * SubSize);
    const float pivot = signed_absmax(sub_d, SubBlocks);
    d = f16::from_float(pivot / static_cast<float>(ScaleMin));
    const float dd = d.to_float();
    for (int j = 0; j < SubBlocks; ++j) {
      const float* xs = x + j * SubSize;
      const int scale0 = dd != 0 ? std::clamp(nearest_int(sub_d[j] / dd), ScaleMin, ScaleMax) : 0;
      float best_error = INFINITY;
      for (int sc = std::max(ScaleMin, scale0 - 2); sc <= std::min(ScaleMax, scale0 + 2); ++sc) {
        const float step = dd * static_cast<float>(sc);
        float err = 0.0f;
        for (int i = 0; i < SubSize; ++i) {
          const int code = step != 0 ? std::clamp(nearest_int(xs[i] / step), CodeMin, CodeMax) : 0;
          const float r = xs[i] - step * static_cast<float>(code);
          err += r * r;
        }
        if (err < best_error) {
          best_error = err;
          scale[j] = static_cast<std::int8_t>(sc);
        }
      }
      const float step = dd * scale[j];
      for (int i = 0; i < SubSize; ++i) {
        q[j * SubSize + i] = static_cast<std::int8_t>(step != 0 ? std::clamp(nearest_int(xs[i] / step), CodeMin, CodeMax) : 0);
      }
    }
  }
};

}  // namespace detail

struct q2_k_format {
  using block_type = block_q2_k;
  static constexpr ggml_type type = ggml_type::q2_k;
  static constexpr std::size_t block_size = 256;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    const float dmin = b.dmin.to_float();
    const std::uint8_t* q = b.qs;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part) {
          const std::uint8_t sc = b.scales[is++];
          const float dl = d * static_cast<float>(sc & 0x0f);
          const float ml = dmin * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) {
            *y++ = rounded_product(dl, static_cast<float>((q[l + 16 * part] >> shift) & 3)) - ml;
          }
        }
      }
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    const detail::min_scaled_fit<16, 16, 3, 15> fit(x);
    out.d = fit.d;
    out.dmin = fit.dmin;
    for (int j = 0; j < 16; ++j) out.scales[j] = static_cast<std::uint8_t>(fit.scale[j] | (fit.min[j] << 4));
    // Element order mirrors dequantize: 128-halves, then shifts, then the two 16-runs.
    std::memset(out.qs, 0, sizeof out.qs);
    for (int n = 0; n < 256; ++n) {
      const int half = n / 128;
      const int shift = 2 * ((n % 128) / 32);
      const int l = n % 32;
      out.qs[32 * half + l] = static_cast<std::uint8_t>(out.qs[32 * half + l] | (fit.q[n] << shift));
    }
  }
};

struct q3_k_format {
  using block_type = block_q3_k;
  static constexpr ggml_type type = ggml_type::q3_k;
  static constexpr std::size_t block_size = 256;

  static void dequantize(const block_type& b, float* y) noexcept {
    std::int8_t scales[16];
    detail::unpack_q3_k_scales(b.scales, scales);
    const float d = b.d.to_float();
    const std::uint8_t* q = b.qs;
    std::uint8_t mask = 1;
    int is = 0;
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, mask = static_cast<std::uint8_t>(mask << 1)) {
        for (int part = 0; part < 2; ++part) {
          const float dl = d * static_cast<float>(scales[is++] - 32);
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * part;
            const int code = ((q[k] >> shift) & 3) - ((b.hmask[k] & mask) ? 0 : 4);
            *y++ = dl * static_cast<float>(code);
          }
        }
      }
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    const detail::signed_scaled_fit<16, 16, -4, 3, -32, 31> fit(x);
    out.d = fit.d;
    std::uint8_t biased[16];
    for (int j = 0; j < 16; ++j) biased[j] = static_cast<std::uint8_t>(fit.scale[j] + 32);
    detail::pack_q3_k_scales(biased, out.scales);
    std::memset(out.qs, 0, sizeof out.qs);
    std::memset(out.hmask, 0, sizeof out.hmask);
    for (int n = 0; n < 256; ++n) {
      const int half = n / 128;
      const int step = (n % 128) / 32;  // which shift within the half
      const int k = n % 32;
      const int code = fit.q[n] + 4;    // 0..7: low two bits in qs, the third in hmask
      out.qs[32 * half + k] = static_cast<std::uint8_t>(out.qs[32 * half + k] | ((code & 3) << (2 * step)));
      if (code & 4) out.hmask[k] = static_cast<std::uint8_t>(out.hmask[k] | (1 << (4 * half + step)));
    }
  }
};

// Q4_K and Q5_K share everything but the fifth bit.
template <ggml_type Type, class Block, int Bits>
struct q45_k_format {
  using block_type = Block;
  static constexpr ggml_type type = Type;
  static constexpr std::size_t block_size = 256;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    const float dmin = b.dmin.to_float();
    const std::uint8_t* q = b.qs;
    for (int pair = 0; pair < 4; ++pair, q += 32) {
      for (int nibble = 0; nibble < 2; ++nibble) {
        int sc = 0;
        int m = 0;
        detail::unpack_scale_min_k4(2 * pair + nibble, b.scales, sc, m);
        const float dl = d * static_cast<float>(sc);
        const float ml = dmin * static_cast<float>(m);
        for (int l = 0; l < 32; ++l) {
          int code = nibble == 0 ? (q[l] & 0x0f) : (q[l] >> 4);
          if constexpr (Bits == 5) code += (b.qh[l] >> (2 * pair + nibble) & 1) ? 16 : 0;
          *y++ = rounded_product(dl, static_cast<float>(code)) - ml;
        }
      }
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    const detail::min_scaled_fit<8, 32, (1 << Bits) - 1, 63> fit(x);
    out.d = fit.d;
    out.dmin = fit.dmin;
    std::memset(out.scales, 0, sizeof out.scales);
    detail::pack_scale_min_k4(fit.scale, fit.min, out.scales);
    std::memset(out.qs, 0, sizeof out.qs);
    if constexpr (Bits == 5) std::memset(out.qh, 0, sizeof out.qh);
    for (int n = 0; n < 256; ++n) {
      const int sub = n / 32;
      const int l = n % 32;
      const int code = fit.q[n];
      out.qs[32 * (sub / 2) + l] = static_cast<std::uint8_t>(out.qs[32 * (sub / 2) + l] | ((code & 0x0f) << (4 * (sub % 2))));
      if constexpr (Bits == 5) {
        if (code & 16) out.qh[l] = static_cast<std::uint8_t>(out.qh[l] | (1 << sub));
      }
    }
  }
};

using q4_k_format = q45_k_format<ggml_type::q4_k, block_q4_k, 4>;
using q5_k_format = q45_k_format<ggml_type::q5_k, block_q5_k, 5>;

struct q6_k_format {
  using block_type = block_q6_k;
  static constexpr ggml_type type = ggml_type::q6_k;
  static constexpr std::size_t block_size = 256;

  static void dequantize(const block_type& b, float* y) noexcept {
    const float d = b.d.to_float();
    const std::uint8_t* ql = b.ql;
    const std::uint8_t* qh = b.qh;
    const std::int8_t* sc = b.scales;
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }

  static void quantize(const float* x, block_type& out) noexcept {
    const detail::signed_scaled_fit<16, 16, -32, 31, -128, 127> fit(x);
    out.d = fit.d;
    std::memcpy(out.scales, fit.scale, 16);
    std::memset(out.ql, 0, sizeof out.ql);
    std::memset(out.qh, 0, sizeof out.qh);
    for (int n = 0; n < 256; ++n) {
      const int half = n / 128;
      const int quarter = (n % 128) / 32;  // which of q1..q4
      const int l = n % 32;
      const int code = fit.q[n] + 32;      // 0..63
      const int low_index = 64 * half + l + 32 * (quarter % 2);
      out.ql[low_index] = static_cast<std::uint8_t>(out.ql[low_index] | ((code & 0x0f) << (4 * (quarter / 2))));
      out.qh[32 * half + l] = static_cast<std::uint8_t>(out.qh[32 * half + l] | ((code >> 4) << (2 * quarter)));
    }
  }
};

static_assert(block_format<q2_k_format> && block_format<q3_k_format> && block_format<q4_k_format> &&
              block_format<q5_k_format> && block_format<q6_k_format>);

}  // namespace strix
