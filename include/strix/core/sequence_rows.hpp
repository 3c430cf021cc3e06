// sequence_rows: which rows of a batch belong to which sequence. Every layer of a model takes the
// same description of a batch: rows [first_row, first_row + rows) are one sequence's newest
// positions, in order.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strix {

struct sequence_rows {
  std::uint32_t sequence = 0;
  std::size_t first_row = 0;
  std::size_t rows = 0;
};

}  // namespace strix
