// The tensor half of writing a model as GGUF, shared by the model writers: each tensor is described
// by its GGUF name and shape and a function giving its rows as f32 (whatever renaming, stacking,
// permuting or arithmetic the model's converter needs), and is stored quantized to the requested
// matrix type where its row length allows, else as F32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <strix/io/gguf_writer.hpp>
#include <strix/quant/formats.hpp>
#include <strix/quant/weight_matrix.hpp>

#include "models/weight_source.hpp"

namespace strix::models {

struct converted_tensor {
  std::string name;               // GGUF name
  std::vector<std::uint64_t> ne;  // GGUF order: row length first
  bool matrix = true;             // stored as the matrix type where possible; else always F32
  std::function<void(std::size_t row, std::span<float> values)> row;

  [[nodiscard]] std::size_t row_length() const noexcept { return static_cast<std::size_t>(ne[0]); }
  [[nodiscard]] std::size_t rows() const noexcept {
    std::size_t n = 1;
    for (std::size_t d = 1; d < ne.size(); ++d) n *= static_cast<std::size_t>(ne[d]);
    return n;
  }
};

// Rows of the matrix `name` of `source` (rows × cols, a stack flattened to rows).
inline std::function<void(std::size_t, std::span<float>)> matrix_rows(const weight_source& source, const std::string& name, std::size_t rows,
                                                                      std::size_t cols) {
  return [m = source.matrix(name, rows, cols)](std::size_t r, std::span<float> out) { m.dequantize_row(r, out); };
}

// Rows of the vector `name` of `source`, `cols` values per row.
inline std::function<void(std::size_t, std::span<float>)> vector_rows(const weight_source& source, const std::string& name, std::size_t size,
                                                                      std::size_t cols) {
  return [values = source.vector(name, size), cols](std::size_t r, std::span<float> out) {
    std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(r * cols), cols, out.begin());
  };
}

// Adds `tensors` to `w`, quantizing as they go; `storage` keeps the bytes the writer points into.
inline void add_converted_tensors(gguf_writer& w, std::deque<std::vector<std::byte>>& storage, std::span<const converted_tensor> tensors,
                                  ggml_type matrix_type, const std::function<void(std::size_t, std::size_t)>& progress) {
  std::vector<float> row;
  for (std::size_t n = 0; n < tensors.size(); ++n) {
    const converted_tensor& t = tensors[n];
    const std::size_t rows = t.rows(), cols = t.row_length();
    const ggml_type type = t.matrix && cols % traits_of(matrix_type).block_size == 0 ? matrix_type : ggml_type::f32;
    storage.emplace_back(rows * cols / traits_of(type).block_size * traits_of(type).block_bytes);
    std::byte* dst = storage.back().data();
    visit_format(type, [&]<class Format>() {
      using block = typename Format::block_type;
      const std::span<block> blocks(reinterpret_cast<block*>(dst), rows * cols / Format::block_size);
      row.resize(cols);
      for (std::size_t r = 0; r < rows; ++r) {
        t.row(r, row);
        quantize_row<Format>(row, blocks.subspan(r * (cols / Format::block_size), cols / Format::block_size));
      }
    }, "convert " + t.name);
    w.add_tensor(t.name, type, t.ne, storage.back());
    if (progress) progress(n + 1, tensors.size());
  }
}

}  // namespace strix::models
