// safetensors_file and safetensors_checkpoint: Hugging Face safetensors weights, read in place from
// a memory mapping. One file, or a sharded checkpoint through model.safetensors.index.json. The JSON
// header is parsed with nlohmann-json and every dtype, shape, offset and overlap is validated
// before any tensor byte is touched.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/core/error.hpp>
#include <strix/io/byte_cursor.hpp>
#include <strix/io/mapped_file.hpp>

namespace strix {

enum class safetensors_dtype { f32, f16, bf16, i64, i32, i8, u8, boolean };

struct safetensors_dtype_traits {
  safetensors_dtype dtype;
  std::string_view name;
  std::size_t bytes;
};

inline constexpr safetensors_dtype_traits safetensors_dtypes[] = {
    {safetensors_dtype::f32, "F32", 4}, {safetensors_dtype::f16, "F16", 2}, {safetensors_dtype::bf16, "BF16", 2},
    {safetensors_dtype::i64, "I64", 8}, {safetensors_dtype::i32, "I32", 4}, {safetensors_dtype::i8, "I8", 1},
    {safetensors_dtype::u8, "U8", 1},   {safetensors_dtype::boolean, "BOOL", 1},
};

constexpr const safetensors_dtype_traits& traits_of(safetensors_dtype dtype) noexcept {
  for (const auto& t : safetensors_dtypes) {
    if (t.dtype == dtype) return t;
  }
  return safetensors_dtypes[0];
}

struct safetensors_tensor_info {
  std::string name;
  safetensors_dtype dtype = safetensors_dtype::f32;
  std::vector<std::uint64_t> shape;  // outermost first, as PyTorch
  std::uint64_t begin = 0;           // byte range within the data section
  std::uint64_t end = 0;

  [[nodiscard]] std::uint64_t element_count() const noexcept {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  [[nodiscard]] std::uint64_t size_bytes() const noexcept { return end - begin; }
};

class safetensors_file {
 public:
  // The format's own bound on the JSON header (100 MB), which also stops absurd lengths early.
  static constexpr std::uint64_t max_header_bytes = 100'000'000;

  static safetensors_file open(const std::filesystem::path& path, file_access access = file_access::map_or_read) {
    safetensors_file file;
    file.mapping_ = mapped_file::open(path, access);
    file.bytes_ = file.mapping_.bytes();
    file.parse(path.string());
    return file;
  }

  // Parses bytes the caller keeps alive (tests, fuzzers); `source` names them in errors.
  static safetensors_file parse(std::span<const std::byte> bytes, const std::string& source) {
    safetensors_file file;
    file.bytes_ = bytes;
    file.parse(source);
    return file;
  }

  [[nodiscard]] const std::string& source() const noexcept { return source_; }
  [[nodiscard]] const std::vector<safetensors_tensor_info>& tensors() const noexcept { return tensors_; }
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  [[nodiscard]] std::uint64_t data_offset() const noexcept { return data_offset_; }

  [[nodiscard]] const safetensors_tensor_info* find_tensor(std::string_view name) const noexcept {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  [[nodiscard]] const safetensors_tensor_info& tensor(std::string_view name) const {
    const auto* info = find_tensor(name);
    if (info == nullptr) throw error(error_category::format, source_ + ": tensor '" + std::string(name) + "' is missing");
    return *info;
  }
  [[nodiscard]] std::span<const std::byte> file_bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::span<const std::byte> tensor_data(const safetensors_tensor_info& info) const noexcept {
    return bytes_.subspan(static_cast<std::size_t>(data_offset_ + info.begin), static_cast<std::size_t>(info.size_bytes()));
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw error(error_category::format, source_ + ": " + message);
  }

  void parse(const std::string& source) {
    source_ = source;
    byte_cursor in(bytes_, source);
    const auto header_size = in.read<std::uint64_t>("header length");
    if (header_size > max_header_bytes) fail("header length " + std::to_string(header_size) + " exceeds the format's 100 MB limit");
    const auto header_bytes = in.read_bytes(static_cast<std::size_t>(header_size), "JSON header");
    data_offset_ = 8 + header_size;
    const std::string_view header(reinterpret_cast<const char*>(header_bytes.data()), header_bytes.size());
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(header);
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("header is not valid JSON: ") + e.what());
    }
    if (!json.is_object()) fail("header is not a JSON object");
    const std::uint64_t data_size = bytes_.size() - data_offset_;
    for (const auto& [name, entry] : json.items()) {
      if (name == "__metadata__") {
        read_metadata(entry);
        continue;
      }
      tensors_.push_back(read_tensor(name, entry, data_size));
      index_.emplace(name, tensors_.size() - 1);
    }
    check_overlaps();
  }

  void read_metadata(const nlohmann::json& entry) {
    if (!entry.is_object()) fail("__metadata__ is not an object");
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_string()) fail("__metadata__ value of '" + key + "' is not a string");
      metadata_.emplace(key, value.get<std::string>());
    }
  }

  safetensors_tensor_info read_tensor(const std::string& name, const nlohmann::json& entry, std::uint64_t data_size) const {
    const std::string what = "tensor '" + name + "'";
    if (!entry.is_object()) fail(what + " entry is not an object");
    safetensors_tensor_info t;
    t.name = name;
    const auto dtype = entry.find("dtype");
    if (dtype == entry.end() || !dtype->is_string()) fail(what + " has no string 'dtype'");
    const auto dtype_name = dtype->get<std::string>();
    const auto* traits = std::find_if(std::begin(safetensors_dtypes), std::end(safetensors_dtypes),
                                      [&](const auto& d) { return d.name == dtype_name; });
    if (traits == std::end(safetensors_dtypes)) {
      throw error(error_category::unsupported,
                  source_ + ": " + what + " has dtype '" + dtype_name + "' (supported: F32, F16, BF16, I64, I32, I8, U8, BOOL)");
    }
    t.dtype = traits->dtype;
    const auto shape = entry.find("shape");
    if (shape == entry.end() || !shape->is_array()) fail(what + " has no array 'shape'");
    std::uint64_t elements = 1;
    for (const auto& dim : *shape) {
      if (!dim.is_number_unsigned()) fail(what + " shape has an entry that is not a non-negative integer");
      const auto n = dim.get<std::uint64_t>();
      if (n != 0 && elements > std::numeric_limits<std::uint64_t>::max() / traits->bytes / n) fail(what + " shape overflows");
      elements *= n;
      t.shape.push_back(n);
    }
    const auto offsets = entry.find("data_offsets");
    if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
        !(*offsets)[1].is_number_unsigned()) {
      fail(what + " needs 'data_offsets' as two non-negative integers");
    }
    t.begin = (*offsets)[0].get<std::uint64_t>();
    t.end = (*offsets)[1].get<std::uint64_t>();
    if (t.begin > t.end) fail(what + " data_offsets are reversed");
    if (t.end > data_size) {
      fail(what + " data ends at " + std::to_string(t.end) + ", past the " + std::to_string(data_size) + " data bytes in the file");
    }
    if (t.end - t.begin != elements * traits->bytes) {
      fail(what + " holds " + std::to_string(t.end - t.begin) + " bytes but its shape and dtype need " +
           std::to_string(elements * traits->bytes));
    }
    return t;
  }

  void check_overlaps() const {
    std::vector<const safetensors_tensor_info*> sorted;
    for (const auto& t : tensors_) {
      if (t.size_bytes() != 0) sorted.push_back(&t);
    }
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i]->begin < sorted[i - 1]->end) fail("tensors '" + sorted[i - 1]->name + "' and '" + sorted[i]->name + "' overlap");
    }
  }

  mapped_file mapping_;
  std::span<const std::byte> bytes_;
  std::string source_;
  std::uint64_t data_offset_ = 0;
  std::vector<safetensors_tensor_info> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint of one or more safetensors shards: a folder (holding model.safetensors or
// model.safetensors.index.json), an index file, or a single .safetensors file.
class safetensors_checkpoint {
 public:
  static safetensors_checkpoint open(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    safetensors_checkpoint checkpoint;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      if (fs::exists(path / "model.safetensors.index.json")) checkpoint.open_index(path / "model.safetensors.index.json");
      else if (fs::exists(path / "model.safetensors")) checkpoint.add_shard(path / "model.safetensors");
      else throw error(error_category::io, path.string() + ": folder has neither model.safetensors nor model.safetensors.index.json");
    } else if (path.filename().string().ends_with(".index.json")) {
      checkpoint.open_index(path);
    } else {
      checkpoint.add_shard(path);
    }
    return checkpoint;
  }

  struct located_tensor {
    const safetensors_file* shard;
    const safetensors_tensor_info* info;
    [[nodiscard]] std::span<const std::byte> data() const noexcept { return shard->tensor_data(*info); }
  };

  [[nodiscard]] std::optional<located_tensor> find(std::string_view name) const noexcept {
    const auto it = location_.find(name);
    if (it == location_.end()) return std::nullopt;
    const auto& shard = *shards_[it->second];
    return located_tensor{&shard, shard.find_tensor(name)};
  }
  [[nodiscard]] located_tensor at(std::string_view name) const {
    if (auto found = find(name)) return *found;
    throw error(error_category::format, description_ + ": tensor '" + std::string(name) + "' is missing");
  }
  [[nodiscard]] const std::vector<std::unique_ptr<safetensors_file>>& shards() const noexcept { return shards_; }
  // Every tensor name, sorted.
  [[nodiscard]] std::vector<std::string> tensor_names() const {
    std::vector<std::string> names;
    names.reserve(location_.size());
    for (const auto& [name, shard] : location_) names.push_back(name);
    return names;
  }

 private:
  void open_index(const std::filesystem::path& index_path) {
    description_ = index_path.string();
    std::ifstream in(index_path);
    if (!in) throw error(error_category::io, description_ + ": cannot open");
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw error(error_category::format, description_ + ": not valid JSON: " + e.what());
    }
    const auto weight_map = index.find("weight_map");
    if (!index.is_object() || weight_map == index.end() || !weight_map->is_object()) {
      throw error(error_category::format, description_ + ": has no 'weight_map' object");
    }
    std::map<std::string, std::size_t> shard_of_file;
    for (const auto& [tensor_name, file_name] : weight_map->items()) {
      if (!file_name.is_string()) throw error(error_category::format, description_ + ": weight_map['" + tensor_name + "'] is not a string");
      const auto file = file_name.get<std::string>();
      // Shards live beside the index; a name with a path in it could point anywhere.
      if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos || file == "." || file == "..") {
        throw error(error_category::format, description_ + ": weight_map['" + tensor_name + "'] names '" + file + "', not a file beside the index");
      }
      auto [it, inserted] = shard_of_file.try_emplace(file, shards_.size());
      if (inserted) shards_.push_back(std::make_unique<safetensors_file>(safetensors_file::open(index_path.parent_path() / file)));
      const auto& shard = *shards_[it->second];
      if (shard.find_tensor(tensor_name) == nullptr) {
        throw error(error_category::format, description_ + ": tensor '" + tensor_name + "' is listed in shard '" + file + "' but absent from it");
      }
      location_.emplace(tensor_name, it->second);
    }
  }

  void add_shard(const std::filesystem::path& path) {
    description_ = path.string();
    shards_.push_back(std::make_unique<safetensors_file>(safetensors_file::open(path)));
    for (const auto& t : shards_.back()->tensors()) location_.emplace(t.name, shards_.size() - 1);
  }

  std::string description_;
  std::vector<std::unique_ptr<safetensors_file>> shards_;
  std::map<std::string, std::size_t, std::less<>> location_;
};

}  // namespace strix
