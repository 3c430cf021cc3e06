// Opens what a user points the tool at: a GGUF file, or a safetensors file, index or folder.
#pragma once

#include <filesystem>
#include <fstream>
#include <variant>

#include <strix/io/gguf_reader.hpp>
#include <strix/io/safetensors_reader.hpp>

namespace strix::tool {

using weight_file = std::variant<gguf_file, safetensors_checkpoint>;

inline bool has_gguf_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string_view(magic, 4) == "GGUF";
}

inline weight_file open_weight_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw error(error_category::io, path.string() + ": no such file or folder");
  if (std::filesystem::is_regular_file(path, ec) && has_gguf_magic(path)) return gguf_file::open(path);
  return safetensors_checkpoint::open(path);
}

}  // namespace strix::tool
