// Reading a model's hyper-parameters from GGUF metadata under its architecture's prefix
// ("gemma4.", "qwen35."), with errors that name the file and the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>

namespace strix::models {

class gguf_metadata {
 public:
  gguf_metadata(const gguf_file& f, std::string architecture) : f_(f), prefix_(std::move(architecture) + ".") {}

  [[noreturn]] void fail(const std::string& what) const { throw error(error_category::format, f_.source() + ": " + what); }

  [[nodiscard]] std::string key(const std::string& k) const { return prefix_ + k; }
  [[nodiscard]] bool has(const std::string& k) const { return f_.find(key(k)) != nullptr; }

  // A non-negative count.
  [[nodiscard]] std::size_t count(const std::string& k) const {
    const std::int64_t v = f_.get_integer(key(k));
    if (v < 0) fail(key(k) + " is negative");
    return static_cast<std::size_t>(v);
  }
  [[nodiscard]] std::size_t count_or(const std::string& k, std::size_t fallback) const { return has(k) ? count(k) : fallback; }
  [[nodiscard]] float real(const std::string& k) const { return f_.get<float>(key(k)); }

  // A per-layer value: a scalar for every layer, or an array with one entry per layer.
  [[nodiscard]] std::vector<std::size_t> per_layer(const std::string& k, std::size_t layers) const {
    const gguf_value& v = f_.at(key(k));
    if (!v.is_array()) return std::vector<std::size_t>(layers, count(k));
    const std::vector<std::size_t> values = counts(k);
    if (values.size() != layers) fail(key(k) + " has " + std::to_string(values.size()) + " entries for " + std::to_string(layers) + " layers");
    return values;
  }

  // An array of non-negative integers (u32 or i32).
  [[nodiscard]] std::vector<std::size_t> counts(const std::string& k) const {
    const gguf_value& v = f_.at(key(k));
    std::vector<std::size_t> values;
    auto take = [&](auto span) {
      for (auto x : span) {
        if constexpr (std::is_signed_v<decltype(x)>) {
          if (x < 0) fail(key(k) + " has a negative entry");
        }
        values.push_back(static_cast<std::size_t>(x));
      }
    };
    if (v.is_array() && v.element_type() == gguf_type::u32) take(v.as_array<std::uint32_t>());
    else if (v.is_array() && v.element_type() == gguf_type::i32) take(v.as_array<std::int32_t>());
    else fail(key(k) + " must be an array of u32 or i32");
    return values;
  }

 private:
  const gguf_file& f_;
  std::string prefix_;
};

}  // namespace strix::models
