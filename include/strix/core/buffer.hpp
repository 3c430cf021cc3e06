// buffer<T, MemorySpace>: an owning, aligned, move-only array of trivially copyable elements.
// The memory space is a type (host_memory here; GPU policies add their own), so where a buffer
// lives is part of its type and cannot be confused at a call site.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <strix/core/error.hpp>
#include <strix/core/tensor_view.hpp>

namespace strix {

template <class S>
concept memory_space = requires(std::size_t bytes, void* p) {
  { S::alignment } -> std::convertible_to<std::size_t>;
  { S::allocate(bytes) } -> std::same_as<void*>;
  { S::deallocate(p, bytes) } noexcept;
};

// Host memory aligned to a cache line / AVX-512 register (64 bytes). Allocations of a huge page
// (2 MiB) or more are aligned to one and, on Linux, advised to use transparent huge pages (in
// THP's "madvise" mode, the development VM's, the kernel gives them only where asked): a decode
// step streams every weight once, and with 4 KiB pages the second thread waited on the first; over
// DRAM Q8_0, Q6_K and BF16 decode took 8-27 % less time with huge pages on the Zen 5 VM
// (docs/performance.md, session 31). A refused advice changes nothing.
struct host_memory {
  static constexpr std::size_t alignment = 64;
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  static constexpr std::size_t alignment_for(std::size_t bytes) noexcept { return bytes >= huge_page ? huge_page : alignment; }

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = ::operator new(bytes, std::align_val_t{alignment_for(bytes)}, std::nothrow);
    if (p == nullptr) {
      throw error(error_category::memory, "cannot allocate " + std::to_string(bytes) + " bytes of host memory");
    }
#if defined(__linux__)
    if (bytes >= huge_page) (void)::madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
  }

  static void deallocate(void* p, std::size_t bytes) noexcept {
    if (p != nullptr) ::operator delete(p, std::align_val_t{alignment_for(bytes)});
  }
};

template <class T, memory_space Space = host_memory>
class buffer {
  static_assert(std::is_trivially_copyable_v<T>, "buffer<T> holds trivially copyable element types only");

 public:
  buffer() noexcept = default;

  // Uninitialised storage for n elements: filling it is the caller's first job (no hidden memset of
  // gigabytes of weights or KV that are about to be overwritten).
  explicit buffer(std::size_t n) : data_(static_cast<T*>(Space::allocate(bytes_for(n)))), size_(n) {}

  buffer(std::size_t n, const T& value) : buffer(n) {
    for (std::size_t i = 0; i < n; ++i) data_[i] = value;
  }

  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
  buffer(buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  buffer& operator=(buffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~buffer() { release(); }

  // Copies are explicit because they can be gigabytes.
  [[nodiscard]] buffer copy() const {
    buffer result(size_);
    if (size_ != 0) std::memcpy(result.data_, data_, size_ * sizeof(T));
    return result;
  }

  [[nodiscard]] T* data() noexcept { return data_; }
  [[nodiscard]] const T* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t size_bytes() const noexcept { return size_ * sizeof(T); }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  T& operator[](std::size_t i) noexcept { return data_[i]; }
  const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  [[nodiscard]] std::span<T> span() noexcept { return {data_, size_}; }
  [[nodiscard]] std::span<const T> span() const noexcept { return {data_, size_}; }
  T* begin() noexcept { return data_; }
  T* end() noexcept { return data_ + size_; }
  const T* begin() const noexcept { return data_; }
  const T* end() const noexcept { return data_ + size_; }

  // The elements viewed with the given extents, which must cover exactly size() elements.
  template <std::size_t Rank>
  [[nodiscard]] tensor_view<T, Rank> view(const std::array<std::size_t, Rank>& extents) {
    check_extents(extents);
    return {data_, extents};
  }
  template <std::size_t Rank>
  [[nodiscard]] tensor_view<const T, Rank> view(const std::array<std::size_t, Rank>& extents) const {
    check_extents(extents);
    return {data_, extents};
  }

 private:
  static std::size_t bytes_for(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) {
      throw error(error_category::memory, "buffer of " + std::to_string(n) + " elements overflows the address space");
    }
    return n * sizeof(T);
  }

  template <std::size_t Rank>
  void check_extents(const std::array<std::size_t, Rank>& extents) const {
    std::size_t n = 1;
    for (std::size_t e : extents) n *= e;
    if (n != size_) {
      throw error(error_category::shape, "view of " + std::to_string(n) + " elements over a buffer of " +
                                             std::to_string(size_));
    }
  }

  void release() noexcept {
    Space::deallocate(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace strix
