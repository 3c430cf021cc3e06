// mapped_file: a whole file as read-only bytes. On POSIX systems the file is memory-mapped (no copy
// of the payload and no commit charge beyond the page cache, so a 46 GB shard costs no anonymous
// memory); where mapping is unavailable or refused it falls back to reading into an owned buffer.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>

#include <strix/core/buffer.hpp>
#include <strix/core/error.hpp>

#if __has_include(<sys/mman.h>) && __has_include(<unistd.h>)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define STRIX_HAS_MMAP 1
#else
#define STRIX_HAS_MMAP 0
#endif

namespace strix {

enum class file_access {
  map_or_read,  // memory-map, and read into memory only when mapping fails
  read,         // always read into an owned buffer
};

class mapped_file {
 public:
  mapped_file() = default;

  static mapped_file open(const std::filesystem::path& path, file_access access = file_access::map_or_read) {
    mapped_file file;
    file.path_ = path;
#if STRIX_HAS_MMAP
    if (access == file_access::map_or_read && file.try_map()) return file;
#else
    (void)access;
#endif
    file.read_whole();
    return file;
  }

  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& other) noexcept { *this = std::move(other); }
  mapped_file& operator=(mapped_file&& other) noexcept {
    if (this != &other) {
      unmap();
      path_ = std::move(other.path_);
      mapping_ = std::exchange(other.mapping_, nullptr);
      mapping_size_ = std::exchange(other.mapping_size_, 0);
      owned_ = std::move(other.owned_);
      bytes_ = std::exchange(other.bytes_, {});
    }
    return *this;
  }
  ~mapped_file() { unmap(); }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] bool is_mapped() const noexcept { return mapping_ != nullptr; }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw error(error_category::io, path_.string() + ": " + what);
  }

#if STRIX_HAS_MMAP
  bool try_map() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      const int saved = errno;
      ::close(fd);
      fail(std::string("cannot stat: ") + std::strerror(saved));
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd);
      fail("not a regular file");
    }
    const auto length = static_cast<std::size_t>(info.st_size);
    if (length == 0) {
      ::close(fd);
      return true;  // an empty file maps to an empty span
    }
    void* mapping = ::mmap(nullptr, length, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (mapping == MAP_FAILED) return false;
    mapping_ = mapping;
    mapping_size_ = length;
    bytes_ = {static_cast<const std::byte*>(mapping), length};
    return true;
  }
#endif

  void read_whole() {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path_, ec)) fail("not a regular file or cannot be opened");
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail("cannot open for reading");
    const auto length = static_cast<std::size_t>(std::filesystem::file_size(path_, ec));
    if (ec) fail("cannot read size: " + ec.message());
    owned_ = buffer<std::byte>(length);
    if (length != 0 && !in.read(reinterpret_cast<char*>(owned_.data()), static_cast<std::streamsize>(length))) {
      fail("short read");
    }
    bytes_ = owned_.span();
  }

  void unmap() noexcept {
#if STRIX_HAS_MMAP
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
#endif
    mapping_ = nullptr;
    mapping_size_ = 0;
    bytes_ = {};
  }

  std::filesystem::path path_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  buffer<std::byte> owned_;
  std::span<const std::byte> bytes_;
};

}  // namespace strix
