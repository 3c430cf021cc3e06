// Opening a model from what people have: a GGUF file (recognised by its magic) or a Hugging Face
// folder. Returns the weights' source and the config read from it.
#pragma once

#include <filesystem>
#include <memory>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>

#include "models/gemma4_config.hpp"
#include "models/gemma4_gguf.hpp"
#include "models/gguf_tensors.hpp"
#include "models/hf_tensors.hpp"
#include "models/qwen35.hpp"
#include "models/qwen35_gguf.hpp"

namespace strix::models {

template <class Config>
struct model_files {
  std::unique_ptr<weight_source> source;
  Config config;
};
using gemma4_files = model_files<gemma4_config>;
using qwen35_files = model_files<qwen35_config>;

namespace detail {

template <class Config, class FromGguf, class FromJson>
model_files<Config> open_model_files(const std::filesystem::path& path, FromGguf from_gguf, FromJson from_json) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw error(error_category::io, path.string() + ": no such file or folder");
  if (is_gguf_file(path)) {
    auto gguf = std::make_unique<gguf_tensors>(path);
    Config config = from_gguf(gguf->file());
    return {std::move(gguf), std::move(config)};
  }
  auto hf = std::make_unique<hf_tensors>(path);
  Config config = from_json(hf->config(), (path / "config.json").string());
  return {std::move(hf), std::move(config)};
}

}  // namespace detail

inline gemma4_files open_gemma4(const std::filesystem::path& path) {
  return detail::open_model_files<gemma4_config>(path, gemma4_config_from_gguf, gemma4_config::from_json);
}

inline qwen35_files open_qwen35(const std::filesystem::path& path) {
  return detail::open_model_files<qwen35_config>(path, qwen35_config_from_gguf, qwen35_config::from_json);
}

}  // namespace strix::models
