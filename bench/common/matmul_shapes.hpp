// The weight shapes the matmul benches (zen5 and hip) measure, so their tables line up: Gemma 4
// E4B's FFN projections up (many short rows) and down (few long rows: Q6_K in Q4_K_M files), the
// 4096x14336 matrix the ggml comparison uses, and one expert of Gemma 4 26B-A4B. Rows x columns
// (outputs x inputs).
#pragma once

#include <cstddef>

namespace strix::bench {

struct matmul_shape {
  const char* name;
  std::size_t rows, cols;
};

inline constexpr matmul_shape decode_shapes[] = {
    {"gemma4-e4b.ffn_up 10240x2560", 10240, 2560},
    {"gemma4-e4b.ffn_down 2560x10240", 2560, 10240},
    {"4096x14336", 4096, 14336},
    {"gemma4-26b.expert 704x2816", 704, 2816},
};

}  // namespace strix::bench
