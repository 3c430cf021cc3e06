// gguf_writer: builds a GGUF v3 file from metadata values and tensors, with each tensor's data
// aligned as the reader expects. Tensor bytes are borrowed (the caller keeps them alive until the
// file is written), so writing a converted model does not hold a second copy of its weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/gguf_value.hpp>
#include <strix/quant/ggml_type.hpp>

namespace strix {

class gguf_writer {
 public:
  explicit gguf_writer(std::uint32_t alignment = 32) : alignment_(alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      throw error(error_category::format, "GGUF alignment " + std::to_string(alignment) + " is not a power of two");
    }
    if (alignment != 32) set("general.alignment", gguf_value(alignment));
  }

  // Sets a metadata value; keys keep the order of their first set.
  void set(const std::string& key, gguf_value value) {
    for (auto& [existing, v] : metadata_) {
      if (existing == key) {
        v = std::move(value);
        return;
      }
    }
    metadata_.emplace_back(key, std::move(value));
  }

  // Adds a tensor of `type` with dims ne (ne[0] = row length) whose bytes are `data`.
  void add_tensor(const std::string& name, ggml_type type, std::span<const std::uint64_t> ne,
                  std::span<const std::byte> data) {
    const auto& traits = traits_of(type);
    if (ne.empty() || ne.size() > 4) throw error(error_category::shape, "tensor '" + name + "' must have 1 to 4 dims");
    if (!names_.insert(name).second) throw error(error_category::format, "duplicate tensor name '" + name + "'");
    if (ne[0] % traits.block_size != 0) {
      throw error(error_category::shape, "tensor '" + name + "' row length " + std::to_string(ne[0]) +
                                             " is not a multiple of the " + std::string(traits.name) + " block size");
    }
    std::uint64_t elements = 1;
    for (auto n : ne) elements *= n;
    const std::uint64_t expected = elements / traits.block_size * traits.block_bytes;
    if (expected != data.size()) {
      throw error(error_category::shape, "tensor '" + name + "' of type " + std::string(traits.name) + " needs " +
                                             std::to_string(expected) + " bytes, got " + std::to_string(data.size()));
    }
    tensors_.push_back({name, type, {ne.begin(), ne.end()}, data, padded(data_size_)});
    data_size_ = padded(data_size_) + data.size();
  }

  [[nodiscard]] std::vector<std::byte> to_bytes() const {
    std::vector<std::byte> out;
    emit([&](const void* p, std::size_t n) {
      const auto* b = static_cast<const std::byte*>(p);
      out.insert(out.end(), b, b + n);
    });
    return out;
  }

  void write(const std::filesystem::path& path) const {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw error(error_category::io, path.string() + ": cannot open for writing");
    emit([&](const void* p, std::size_t n) { out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n)); });
    out.flush();
    if (!out) throw error(error_category::io, path.string() + ": write failed");
  }

 private:
  struct pending_tensor {
    std::string name;
    ggml_type type;
    std::vector<std::uint64_t> ne;
    std::span<const std::byte> data;
    std::uint64_t offset;
  };

  [[nodiscard]] std::uint64_t padded(std::uint64_t n) const { return (n + alignment_ - 1) / alignment_ * alignment_; }

  template <class Sink>
  void emit(Sink&& sink) const {
    std::uint64_t written = 0;
    auto put = [&](const void* p, std::size_t n) {
      sink(p, n);
      written += n;
    };
    auto put_u32 = [&](std::uint32_t v) { put(&v, 4); };
    auto put_u64 = [&](std::uint64_t v) { put(&v, 8); };
    auto put_string = [&](std::string_view s) {
      put_u64(s.size());
      put(s.data(), s.size());
    };
    put("GGUF", 4);
    put_u32(3);
    put_u64(tensors_.size());
    put_u64(metadata_.size());
    for (const auto& [key, value] : metadata_) {
      put_string(key);
      put_value(value, put, put_u32, put_u64, put_string);
    }
    for (const auto& t : tensors_) {
      put_string(t.name);
      put_u32(static_cast<std::uint32_t>(t.ne.size()));
      for (auto n : t.ne) put_u64(n);
      put_u32(static_cast<std::uint32_t>(t.type));
      put_u64(t.offset);
    }
    const std::byte zeros[256]{};
    auto pad_to = [&](std::uint64_t target) {
      while (written < target) put(zeros, static_cast<std::size_t>(std::min<std::uint64_t>(sizeof zeros, target - written)));
    };
    pad_to(padded(written));
    const std::uint64_t data_start = written;
    for (const auto& t : tensors_) {
      pad_to(data_start + t.offset);
      if (!t.data.empty()) put(t.data.data(), t.data.size());
    }
  }

  template <class Put, class PutU32, class PutU64, class PutString>
  static void put_value(const gguf_value& value, Put& put, PutU32& put_u32, PutU64& put_u64, PutString& put_string) {
    put_u32(static_cast<std::uint32_t>(value.type()));
    put_payload(value, put, put_u32, put_u64, put_string);
  }

  template <class Put, class PutU32, class PutU64, class PutString>
  static void put_payload(const gguf_value& value, Put& put, PutU32& put_u32, PutU64& put_u64, PutString& put_string) {
    if (value.type() == gguf_type::string) {
      put_string(value.as_string());
    } else if (value.type() != gguf_type::array) {
      const auto bytes = value.packed_bytes();
      put(bytes.data(), bytes.size());
    } else {
      put_u32(static_cast<std::uint32_t>(value.element_type()));
      put_u64(value.size());
      if (value.element_type() == gguf_type::string) {
        for (const auto& s : value.as_strings()) put_string(s);
      } else if (value.element_type() == gguf_type::array) {
        for (const auto& inner : value.as_arrays()) put_payload(inner, put, put_u32, put_u64, put_string);
      } else {
        const auto bytes = value.packed_bytes();
        if (!bytes.empty()) put(bytes.data(), bytes.size());
      }
    }
  }

  std::uint32_t alignment_;
  std::vector<std::pair<std::string, gguf_value>> metadata_;
  std::vector<pending_tensor> tensors_;
  std::set<std::string> names_;
  std::uint64_t data_size_ = 0;
};

}  // namespace strix
