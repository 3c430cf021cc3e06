// quantized_view<Format>: a read-only view of rows of blocks of one block format (a GGUF weight
// matrix, an expert slice, a KV page). Validated at construction: row length a multiple of the
// block size, the byte span exactly rows x blocks x block bytes, the pointer aligned for the block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <strix/core/error.hpp>
#include <strix/quant/block_format.hpp>

namespace strix {

// Quantizes n values (n a multiple of the block size) into blocks.
template <block_format Format>
void quantize_row(std::span<const float> x, std::span<typename Format::block_type> out) noexcept {
  for (std::size_t b = 0; b < out.size(); ++b) Format::quantize(x.data() + b * Format::block_size, out[b]);
}

template <block_format Format>
void dequantize_row(std::span<const typename Format::block_type> blocks, std::span<float> out) noexcept {
  for (std::size_t b = 0; b < blocks.size(); ++b) Format::dequantize(blocks[b], out.data() + b * Format::block_size);
}

template <block_format Format>
class quantized_view {
 public:
  using format = Format;
  using block_type = typename Format::block_type;

  quantized_view() = default;

  // `what` names the tensor in errors.
  quantized_view(std::span<const std::byte> bytes, std::size_t rows, std::size_t row_length, const std::string& what = "tensor")
      : rows_(rows), row_length_(row_length) {
    if (row_length % Format::block_size != 0) {
      throw error(error_category::shape, what + ": row length " + std::to_string(row_length) + " is not a multiple of the " +
                                             std::string(name_of(Format::type)) + " block size " +
                                             std::to_string(Format::block_size));
    }
    blocks_per_row_ = row_length / Format::block_size;
    const std::size_t expected = rows * blocks_per_row_ * sizeof(block_type);
    if (bytes.size() != expected) {
      throw error(error_category::shape, what + ": " + std::to_string(rows) + " rows of " + std::to_string(row_length) + " " +
                                             std::string(name_of(Format::type)) + " values need " + std::to_string(expected) +
                                             " bytes, got " + std::to_string(bytes.size()));
    }
    if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(block_type) != 0) {
      throw error(error_category::format, what + ": data is not aligned to " + std::to_string(alignof(block_type)) + " bytes");
    }
    blocks_ = reinterpret_cast<const block_type*>(bytes.data());
  }

  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] std::size_t row_length() const noexcept { return row_length_; }
  [[nodiscard]] std::size_t blocks_per_row() const noexcept { return blocks_per_row_; }
  [[nodiscard]] std::span<const block_type> row(std::size_t i) const noexcept {
    return {blocks_ + i * blocks_per_row_, blocks_per_row_};
  }
  // Rows [begin, end) as a view of their own (an expert's slice of a 3-D tensor, say).
  [[nodiscard]] quantized_view rows_between(std::size_t begin, std::size_t end) const noexcept {
    quantized_view v = *this;
    v.blocks_ = blocks_ + begin * blocks_per_row_;
    v.rows_ = end - begin;
    return v;
  }

  void dequantize_row(std::size_t i, std::span<float> out) const noexcept { strix::dequantize_row<Format>(row(i), out); }

 private:
  const block_type* blocks_ = nullptr;
  std::size_t rows_ = 0;
  std::size_t row_length_ = 0;
  std::size_t blocks_per_row_ = 0;
};

}  // namespace strix
