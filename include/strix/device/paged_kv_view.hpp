// How an attention kernel sees a paged KV cache: plain descriptors (no ownership, no allocation),
// shared by every device policy and filled in by strix/kv's paged_kv_cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include <strix/quant/kv_type.hpp>

namespace strix {

using kv_block_id = std::uint32_t;
inline constexpr kv_block_id no_kv_block = std::numeric_limits<kv_block_id>::max();

// One layer's storage. A block holds block_size positions; within it, one head's rows are
// contiguous, row_bytes apart, K and V in separate runs.
struct kv_layer_view {
  kv_type type = kv_type::f32;
  std::size_t block_size = 0;
  std::size_t kv_heads = 0;
  std::size_t head_dim = 0;
  std::size_t row_bytes = 0;
  std::size_t window = 0;  // 0: global attention
  std::byte* base = nullptr;
  std::size_t block_bytes = 0;
  std::size_t k_offset = 0;
  std::size_t v_offset = 0;
  // What lets a device keep its own copy of the blocks (a discrete GPU): the blocks at base, the
  // cache's identity (random, so a new cache at a freed one's address is told apart) and per block
  // a stamp that changes whenever any of the block's bytes are written. block_stamps null: unknown,
  // every block may have changed.
  std::size_t blocks = 0;
  std::uint64_t cache_id = 0;
  const std::uint64_t* block_stamps = nullptr;

  [[nodiscard]] std::byte* k_rows(kv_block_id block, std::size_t head) const noexcept {
    return base + block * block_bytes + k_offset + head * block_size * row_bytes;
  }
  [[nodiscard]] std::byte* v_rows(kv_block_id block, std::size_t head) const noexcept {
    return base + block * block_bytes + v_offset + head * block_size * row_bytes;
  }
};

// One sequence's positions: position p lives in blocks[p / block_size] at slot p % block_size;
// entries of released sliding-window blocks are no_kv_block.
struct kv_sequence_view {
  std::span<const kv_block_id> blocks;
  std::size_t length = 0;
};

}  // namespace strix
