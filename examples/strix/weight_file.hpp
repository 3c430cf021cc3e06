// Opens what a user points the tool at: a GGUF file, or a safetensors file, index or folder.
#pragma once

#include <filesystem>
#include <variant>

#include <strix/io/gguf_reader.hpp>
#include <strix/io/safetensors_reader.hpp>

namespace strix::tool {

using weight_file = std::variant<gguf_file, safetensors_checkpoint>;

inline weight_file open_weight_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw error(error_category::io, path.string() + ": no such file or folder");
  if (is_gguf_file(path)) return gguf_file::open(path);
  return safetensors_checkpoint::open(path);
}

}  // namespace strix::tool
