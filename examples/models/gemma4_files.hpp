// Opening a Gemma 4 model from what people have: a GGUF file (recognised by its magic) or a
// Hugging Face folder. Returns the weights' source and the config read from it.
#pragma once

#include <filesystem>
#include <memory>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>

#include "models/gemma4_config.hpp"
#include "models/gemma4_gguf.hpp"
#include "models/gguf_tensors.hpp"
#include "models/hf_tensors.hpp"

namespace strix::models {

struct gemma4_files {
  std::unique_ptr<weight_source> source;
  gemma4_config config;
};

inline gemma4_files open_gemma4(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw error(error_category::io, path.string() + ": no such file or folder");
  if (is_gguf_file(path)) {
    auto gguf = std::make_unique<gguf_tensors>(path);
    gemma4_config config = gemma4_config_from_gguf(gguf->file());
    return {std::move(gguf), std::move(config)};
  }
  auto hf = std::make_unique<hf_tensors>(path);
  gemma4_config config = gemma4_config::from_json(hf->config(), (path / "config.json").string());
  return {std::move(hf), std::move(config)};
}

}  // namespace strix::models
