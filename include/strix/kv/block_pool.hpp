// block_pool: the bookkeeping of a fixed set of KV blocks (no data): reference counts, a free list,
// and the prefix cache. A block whose count drops to zero goes back to the free list, unless it
// holds a cached prefix: then it stays readable as an evictable block, least recently released
// first out when the free list is empty. Everything is sized at construction; steady-state
// operations allocate nothing except prefix-cache map nodes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include <strix/device/paged_kv_view.hpp>

namespace strix {

class block_pool {
 public:
  block_pool(std::size_t blocks, std::size_t block_size)
      : block_size_(block_size),
        refs_(blocks, 0),
        cached_(blocks, false),
        hash_(blocks, 0),
        parent_(blocks, 0),
        tokens_(blocks * block_size, 0),
        lru_prev_(blocks + 1, sentinel()),
        lru_next_(blocks + 1, sentinel()) {
    free_.reserve(blocks);
    // Hand out low ids first: pop from the back.
    for (std::size_t b = blocks; b > 0; --b) free_.push_back(static_cast<kv_block_id>(b - 1));
    by_hash_.reserve(blocks);
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return refs_.size(); }
  [[nodiscard]] std::size_t block_size() const noexcept { return block_size_; }
  // Blocks an allocation can still get: free ones plus evictable cached ones.
  [[nodiscard]] std::size_t available() const noexcept { return free_.size() + evictable_; }
  [[nodiscard]] std::size_t in_use() const noexcept { return capacity() - available(); }
  [[nodiscard]] std::size_t evictable() const noexcept { return evictable_; }
  [[nodiscard]] std::size_t cached() const noexcept { return by_hash_.size(); }
  [[nodiscard]] std::uint32_t refcount(kv_block_id b) const noexcept { return refs_[b]; }
  [[nodiscard]] bool is_cached(kv_block_id b) const noexcept { return cached_[b]; }
  [[nodiscard]] std::size_t evictions() const noexcept { return evictions_; }

  // A block with count one, or nothing when every block is referenced.
  [[nodiscard]] std::optional<kv_block_id> allocate() {
    kv_block_id b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else if (evictable_ != 0) {
      b = lru_next_[sentinel()];
      lru_unlink(b);
      uncache(b);
      ++evictions_;
    } else {
      return std::nullopt;
    }
    refs_[b] = 1;
    return b;
  }

  void retain(kv_block_id b) noexcept {
    if (refs_[b]++ == 0) lru_unlink(b);  // a zero-count block is always an evictable cached one
  }

  void release(kv_block_id b) noexcept {
    if (--refs_[b] != 0) return;
    if (cached_[b]) {
      lru_append(b);
    } else {
      free_.push_back(b);
    }
  }

  // Publishes a full, written block under its chain hash. A hash already held by another block
  // keeps that block (the first writer wins; both hold the same prefix).
  void cache(kv_block_id b, std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) {
    if (cached_[b]) return;
    if (!by_hash_.try_emplace(hash, b).second) return;
    cached_[b] = true;
    hash_[b] = hash;
    parent_[b] = parent;
    std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<std::ptrdiff_t>(b * block_size_));
  }

  // Takes a referenced block out of the prefix cache (its content is about to change).
  void uncache(kv_block_id b) noexcept {
    if (!cached_[b]) return;
    by_hash_.erase(hash_[b]);
    cached_[b] = false;
  }

  // The cached block holding exactly this prefix block, or no_kv_block.
  [[nodiscard]] kv_block_id find(std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) const {
    const auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return no_kv_block;
    const kv_block_id b = it->second;
    const auto stored = std::span(tokens_).subspan(b * block_size_, block_size_);
    if (parent_[b] != parent || !std::equal(stored.begin(), stored.end(), tokens.begin(), tokens.end())) return no_kv_block;
    return b;
  }

 private:
  [[nodiscard]] kv_block_id sentinel() const noexcept { return static_cast<kv_block_id>(refs_.size()); }

  void lru_append(kv_block_id b) noexcept {
    const kv_block_id last = lru_prev_[sentinel()];
    lru_prev_[b] = last;
    lru_next_[b] = sentinel();
    lru_next_[last] = b;
    lru_prev_[sentinel()] = b;
    ++evictable_;
  }
  void lru_unlink(kv_block_id b) noexcept {
    lru_next_[lru_prev_[b]] = lru_next_[b];
    lru_prev_[lru_next_[b]] = lru_prev_[b];
    --evictable_;
  }

  std::size_t block_size_;
  std::vector<std::uint32_t> refs_;
  std::vector<bool> cached_;
  std::vector<std::uint64_t> hash_;
  std::vector<std::uint64_t> parent_;
  std::vector<std::int32_t> tokens_;
  // Evictable blocks in release order, as a ring through a sentinel at index capacity().
  std::vector<kv_block_id> lru_prev_;
  std::vector<kv_block_id> lru_next_;
  std::size_t evictable_ = 0;
  std::size_t evictions_ = 0;
  std::vector<kv_block_id> free_;
  std::unordered_map<std::uint64_t, kv_block_id> by_hash_;
};

}  // namespace strix
