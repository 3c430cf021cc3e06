// A [row][head][dim] tensor as the hip kernels read it: rows and heads at any stride, each head's
// values contiguous (the layers' q / k / v are views into one wider projection output).
#pragma once

#include <cstddef>

#include <strix/device/hip/host_device.hpp>

namespace strix::hip_kernels {

template <class T>
struct head_rows {
  T* data = nullptr;
  std::size_t row_stride = 0;
  std::size_t head_stride = 0;

  STRIX_HOST_DEVICE T* at(std::size_t row, std::size_t head) const { return data + row * row_stride + head * head_stride; }
};

}  // namespace strix::hip_kernels
