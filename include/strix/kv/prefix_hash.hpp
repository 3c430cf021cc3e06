// Chain hash of a token prefix, one value per full KV block: block b's hash mixes block b-1's hash
// with block b's token ids, so equal hashes mean equal whole prefixes (up to 64-bit collisions,
// which the block pool rules out by also comparing the block's tokens and parent hash).
#pragma once

#include <cstdint>
#include <span>

namespace strix {

inline constexpr std::uint64_t prefix_hash_seed = 0x9e3779b97f4a7c15ULL;

constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  // splitmix64 finaliser: a bijection with full avalanche.
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

constexpr std::uint64_t chain_hash(std::uint64_t parent, std::span<const std::int32_t> tokens) noexcept {
  std::uint64_t h = mix64(parent ^ (tokens.size() * prefix_hash_seed));
  for (std::int32_t token : tokens) h = mix64(h ^ static_cast<std::uint32_t>(token)) + prefix_hash_seed;
  return h;
}

}  // namespace strix
