// gguf_file: a GGUF v2/v3 file opened read-only: metadata (every value type, nested arrays), the
// tensor table, and each tensor's bytes in place in the mapping. Every count, length, offset and
// size is checked against the file before it is used, so truncated or hostile files fail with a
// strix::error naming the file and the field, never with a crash.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/byte_cursor.hpp>
#include <strix/io/gguf_value.hpp>
#include <strix/io/mapped_file.hpp>
#include <strix/quant/ggml_type.hpp>

namespace strix {

struct gguf_tensor_info {
  std::string name;
  ggml_type type = ggml_type::f32;
  std::uint32_t n_dims = 0;
  std::array<std::uint64_t, 4> ne{1, 1, 1, 1};  // ne[0] is the row length (fastest-varying)
  std::uint64_t offset = 0;                     // relative to the data section
  std::uint64_t size_bytes = 0;

  [[nodiscard]] std::uint64_t element_count() const noexcept { return ne[0] * ne[1] * ne[2] * ne[3]; }
  [[nodiscard]] std::uint64_t row_count() const noexcept { return ne[1] * ne[2] * ne[3]; }
};

// Whether `path` is a regular file starting with the GGUF magic.
inline bool is_gguf_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

class gguf_file {
 public:
  static constexpr std::uint32_t default_alignment = 32;
  static constexpr std::size_t max_array_depth = 8;

  static gguf_file open(const std::filesystem::path& path, file_access access = file_access::map_or_read) {
    gguf_file file;
    file.mapping_ = mapped_file::open(path, access);
    file.bytes_ = file.mapping_.bytes();
    file.parse(path.string());
    return file;
  }

  // Parses bytes the caller keeps alive for the life of the returned object (tests, fuzzers,
  // in-memory conversions). `source` names them in errors.
  static gguf_file parse(std::span<const std::byte> bytes, const std::string& source) {
    gguf_file file;
    file.bytes_ = bytes;
    file.parse(source);
    return file;
  }

  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] std::uint32_t version() const noexcept { return version_; }
  [[nodiscard]] std::uint32_t alignment() const noexcept { return alignment_; }
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }
  [[nodiscard]] std::span<const std::byte> file_bytes() const noexcept { return bytes_; }

  // Metadata in file order.
  [[nodiscard]] const std::vector<std::pair<std::string, gguf_value>>& metadata() const noexcept { return metadata_; }
  [[nodiscard]] const gguf_value* find(std::string_view key) const noexcept {
    const auto it = metadata_index_.find(key);
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
  }
  [[nodiscard]] const gguf_value& at(std::string_view key) const {
    const gguf_value* value = find(key);
    if (value == nullptr) {
      throw error(error_category::format, source_ + ": metadata key '" + std::string(key) + "' is missing");
    }
    return *value;
  }
  // The value of `key` as a T (a scalar type, or std::string); errors name the file and the key.
  template <class T>
  [[nodiscard]] T get(std::string_view key) const {
    return typed(key, [](const gguf_value& v) {
      if constexpr (std::is_same_v<T, std::string>) return v.as_string();
      else return v.template as<T>();
    });
  }
  template <class T>
  [[nodiscard]] std::span<const T> get_array(std::string_view key) const {
    return typed(key, [](const gguf_value& v) {
      if constexpr (std::is_same_v<T, std::string>) return v.as_strings();
      else return v.template as_array<T>();
    });
  }
  // Any integer scalar type, widened (llama.cpp writes some counts as u32, others as i32 or u64).
  [[nodiscard]] std::int64_t get_integer(std::string_view key) const {
    return typed(key, [](const gguf_value& v) { return v.as_integer(); });
  }

  [[nodiscard]] const std::vector<gguf_tensor_info>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const gguf_tensor_info* find_tensor(std::string_view name) const noexcept {
    const auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  [[nodiscard]] const gguf_tensor_info& tensor(std::string_view name) const {
    const gguf_tensor_info* info = find_tensor(name);
    if (info == nullptr) throw error(error_category::format, source_ + ": tensor '" + std::string(name) + "' is missing");
    return *info;
  }
  // The tensor's bytes, in place (validated at open).
  [[nodiscard]] std::span<const std::byte> tensor_data(const gguf_tensor_info& info) const noexcept {
    return bytes_.subspan(static_cast<std::size_t>(data_offset_ + info.offset), static_cast<std::size_t>(info.size_bytes));
  }

 private:
  // Runs an accessor on the value of `key`, naming the file and key when the type is wrong.
  template <class Accessor>
  auto typed(std::string_view key, Accessor&& accessor) const -> decltype(accessor(std::declval<const gguf_value&>())) {
    const gguf_value& value = at(key);
    try {
      return accessor(value);
    } catch (const error& e) {
      throw error(e.category(), source_ + ": metadata key '" + std::string(key) + "': " + e.what());
    }
  }

  void parse(const std::string& source) {
    source_ = source;
    byte_cursor in(bytes_, source);
    const auto magic = in.read<std::array<char, 4>>("magic");
    if (std::string_view(magic.data(), 4) != "GGUF") in.fail("not a GGUF file (magic is not 'GGUF')");
    version_ = in.read<std::uint32_t>("version");
    if (version_ != 2 && version_ != 3) in.fail("unsupported GGUF version " + std::to_string(version_) + " (2 and 3 are supported)");
    const auto tensor_count = in.read<std::uint64_t>("tensor_count");
    const auto kv_count = in.read<std::uint64_t>("metadata_kv_count");
    // Each key/value needs at least 8 + 4 + 1 bytes, each tensor info at least 8 + 4 + 8 + 4 + 8.
    if (kv_count > in.remaining() / 13) in.fail("metadata_kv_count " + std::to_string(kv_count) + " exceeds what the file can hold");
    if (tensor_count > in.remaining() / 32) in.fail("tensor_count " + std::to_string(tensor_count) + " exceeds what the file can hold");

    metadata_.reserve(static_cast<std::size_t>(kv_count));
    for (std::uint64_t i = 0; i < kv_count; ++i) {
      std::string key = read_string(in, "metadata key #" + std::to_string(i));
      if (metadata_index_.contains(key)) in.fail("duplicate metadata key '" + key + "'");
      const auto type = in.read<std::uint32_t>("type of metadata key '" + key + "'");
      gguf_value value = read_value(in, type, key, 0);
      metadata_index_.emplace(key, metadata_.size());
      metadata_.emplace_back(std::move(key), std::move(value));
    }

    alignment_ = default_alignment;
    if (const gguf_value* a = find("general.alignment")) {
      if (!a->holds<std::uint32_t>()) in.fail("general.alignment must be a u32");
      alignment_ = a->as<std::uint32_t>();
      if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
        in.fail("general.alignment " + std::to_string(alignment_) + " is not a power of two");
      }
    }

    tensors_.reserve(static_cast<std::size_t>(tensor_count));
    for (std::uint64_t i = 0; i < tensor_count; ++i) {
      tensors_.push_back(read_tensor_info(in, i));
      if (tensor_index_.contains(tensors_.back().name)) in.fail("duplicate tensor name '" + tensors_.back().name + "'");
      tensor_index_.emplace(tensors_.back().name, tensors_.size() - 1);
    }

    const std::uint64_t header_end = in.offset();
    data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;
    if (tensors_.empty()) return;
    if (data_offset_ > bytes_.size()) in.fail("data section starts past the end of the file");
    validate_tensor_extents(bytes_.size() - data_offset_);
  }

  void validate_tensor_extents(std::uint64_t data_size) const {
    std::vector<const gguf_tensor_info*> by_offset;
    by_offset.reserve(tensors_.size());
    for (const auto& t : tensors_) {
      if (t.offset % alignment_ != 0) {
        throw error(error_category::format, source_ + ": tensor '" + t.name + "' offset " + std::to_string(t.offset) +
                                                " is not a multiple of the alignment " + std::to_string(alignment_));
      }
      if (t.offset > data_size || t.size_bytes > data_size - t.offset) {
        throw error(error_category::format, source_ + ": tensor '" + t.name + "' (" + std::to_string(t.size_bytes) +
                                                " bytes at data offset " + std::to_string(t.offset) +
                                                ") extends past the end of the file (data section holds " +
                                                std::to_string(data_size) + " bytes)");
      }
      if (t.size_bytes != 0) by_offset.push_back(&t);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
      const auto* prev = by_offset[i - 1];
      if (by_offset[i]->offset < prev->offset + prev->size_bytes) {
        throw error(error_category::format, source_ + ": tensors '" + prev->name + "' and '" + by_offset[i]->name + "' overlap");
      }
    }
  }

  std::string read_string(byte_cursor& in, const std::string& what) {
    const auto length = in.read<std::uint64_t>(what + " length");
    if (length > in.remaining()) {
      in.fail(what + " length " + std::to_string(length) + " exceeds the " + std::to_string(in.remaining()) + " bytes left");
    }
    const auto raw = in.read_bytes(static_cast<std::size_t>(length), what);
    std::string text(reinterpret_cast<const char*>(raw.data()), raw.size());
    if (!is_valid_utf8(text)) in.fail(what + " is not valid UTF-8");
    return text;
  }

  gguf_value read_value(byte_cursor& in, std::uint32_t raw_type, const std::string& key, std::size_t depth) {
    const auto type = static_cast<gguf_type>(raw_type);
    if (!is_known(type)) in.fail("metadata key '" + key + "' has unknown value type " + std::to_string(raw_type));
    if (type == gguf_type::string) return gguf_value(read_string(in, "string value of '" + key + "'"));
    if (type != gguf_type::array) {
      const auto raw = in.read_bytes(scalar_width(type), "value of '" + key + "'");
      if (type == gguf_type::boolean && static_cast<std::uint8_t>(raw[0]) > 1) in.fail("bool value of '" + key + "' is neither 0 nor 1");
      return gguf_value::packed_scalar(type, raw);
    }
    if (depth >= max_array_depth) in.fail("metadata key '" + key + "' nests arrays deeper than " + std::to_string(max_array_depth));
    const auto raw_element = in.read<std::uint32_t>("array element type of '" + key + "'");
    const auto element = static_cast<gguf_type>(raw_element);
    if (!is_known(element)) in.fail("array '" + key + "' has unknown element type " + std::to_string(raw_element));
    const auto count = in.read<std::uint64_t>("array length of '" + key + "'");
    // The smallest encoding of one element bounds how many the rest of the file can hold.
    const std::uint64_t min_element_bytes =
        element == gguf_type::string ? 8 : element == gguf_type::array ? 12 : scalar_width(element);
    if (count > in.remaining() / min_element_bytes) {
      in.fail("array '" + key + "' claims " + std::to_string(count) + " elements, more than the file can hold");
    }
    if (element == gguf_type::string) {
      std::vector<std::string> strings;
      strings.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i < count; ++i) strings.push_back(read_string(in, "'" + key + "'[" + std::to_string(i) + "]"));
      return gguf_value::array(std::move(strings));
    }
    if (element == gguf_type::array) {
      std::vector<gguf_value> arrays;
      arrays.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i < count; ++i) {
        arrays.push_back(read_value(in, raw_element, key + "[" + std::to_string(i) + "]", depth + 1));
      }
      return gguf_value::array_of_arrays(std::move(arrays));
    }
    const auto raw = in.read_bytes(static_cast<std::size_t>(count * scalar_width(element)), "elements of '" + key + "'");
    if (element == gguf_type::boolean) {
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (static_cast<std::uint8_t>(raw[i]) > 1) in.fail("'" + key + "'[" + std::to_string(i) + "] is a bool neither 0 nor 1");
      }
    }
    return gguf_value::packed_array(element, static_cast<std::size_t>(count), raw);
  }

  gguf_tensor_info read_tensor_info(byte_cursor& in, std::uint64_t index) {
    gguf_tensor_info t;
    t.name = read_string(in, "name of tensor #" + std::to_string(index));
    const std::string what = "tensor '" + t.name + "'";
    t.n_dims = in.read<std::uint32_t>(what + " n_dims");
    if (t.n_dims == 0 || t.n_dims > 4) in.fail(what + " has " + std::to_string(t.n_dims) + " dimensions (1 to 4 are allowed)");
    std::uint64_t elements = 1;
    for (std::uint32_t d = 0; d < t.n_dims; ++d) {
      t.ne[d] = in.read<std::uint64_t>(what + " ne[" + std::to_string(d) + "]");
      if (t.ne[d] > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
          (t.ne[d] != 0 && elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / t.ne[d])) {
        in.fail(what + " has an element count that overflows 63 bits");
      }
      elements *= t.ne[d];
    }
    const auto raw_type = in.read<std::uint32_t>(what + " type");
    const auto traits = find_ggml_type(raw_type);
    if (!traits) in.fail(what + " has unknown ggml type " + std::to_string(raw_type));
    t.type = traits->type;
    if (t.ne[0] % traits->block_size != 0) {
      in.fail(what + " row length " + std::to_string(t.ne[0]) + " is not a multiple of the " + std::string(traits->name) +
              " block size " + std::to_string(traits->block_size));
    }
    // elements < 2^63 and block_bytes / block_size <= 4.5, but check the product honestly.
    const std::uint64_t blocks = elements / traits->block_size;
    if (blocks > std::numeric_limits<std::uint64_t>::max() / traits->block_bytes) in.fail(what + " byte size overflows");
    t.size_bytes = blocks * traits->block_bytes;
    t.offset = in.read<std::uint64_t>(what + " offset");
    return t;
  }

  mapped_file mapping_;
  std::span<const std::byte> bytes_;
  std::string source_;
  std::uint32_t version_ = 0;
  std::uint32_t alignment_ = default_alignment;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, gguf_value>> metadata_;
  std::map<std::string, std::size_t, std::less<>> metadata_index_;
  std::vector<gguf_tensor_info> tensors_;
  std::map<std::string, std::size_t, std::less<>> tensor_index_;
};

}  // namespace strix
