// The tokenizer that comes with a model: the GGUF file's tokenizer.ggml.* metadata, or the
// tokenizer.json of a Hugging Face folder. Empty when the model has none (test fixtures).
#pragma once

#include <filesystem>
#include <optional>

#include <strix/io/gguf_reader.hpp>
#include <strix/text/tokenizer_gguf.hpp>
#include <strix/text/tokenizer_json.hpp>

namespace strix::models {

inline std::optional<text::vocabulary> load_model_vocabulary(const std::filesystem::path& path) {
  if (is_gguf_file(path)) {
    const gguf_file file = gguf_file::open(path);
    if (file.find("tokenizer.ggml.model") == nullptr) return std::nullopt;
    return text::vocabulary_from_gguf(file, path.string());
  }
  const auto json = path / "tokenizer.json";
  if (!std::filesystem::exists(json)) return std::nullopt;
  return text::load_tokenizer_json(json);
}

}  // namespace strix::models
