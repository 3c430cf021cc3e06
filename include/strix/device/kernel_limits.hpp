// kernel_limits: the largest shapes a model will hand a device policy, so the policy can size its
// workspace once at plan time and kernels allocate nothing in steady state.
#pragma once

#include <cstddef>

namespace strix {

struct kernel_limits {
  std::size_t max_tokens = 1;      // rows of activations per call (1 for decode, the prefill chunk otherwise)
  std::size_t max_row_length = 0;  // longest weight row (a matmul's input width)
};

}  // namespace strix
