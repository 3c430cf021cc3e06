// The tokenizer in GGUF metadata (llama.cpp's tokenizer.ggml.* keys): read into a `vocabulary`,
// and written from one, so a converted model carries the same tokenizer as its tokenizer.json.
// tokenizer.ggml.model "gemma4" is SentencePiece-style BPE; "gpt2" with pre-tokenizer "qwen2" or "qwen35" is
// byte-level BPE. Other models are refused by name.
#pragma once

#include <string>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/io/gguf_reader.hpp>
#include <strix/io/gguf_writer.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

inline vocabulary vocabulary_from_gguf(const gguf_file& file, const std::string& source) {
  const auto fail = [&](error_category category, const std::string& what) { throw error(category, source + ": " + what); };
  const auto string_at = [&](const char* key) -> std::string {
    const gguf_value* value = file.find(key);
    if (value == nullptr) return {};
    if (value->type() != gguf_type::string) fail(error_category::format, std::string("metadata key '") + key + "' is not a string");
    return value->as_string();
  };
  vocabulary v;
  const std::string model = string_at("tokenizer.ggml.model");
  if (model.empty()) fail(error_category::format, "has no tokenizer (metadata key 'tokenizer.ggml.model' is missing)");
  if (model == "gemma4") {
    v.algorithm = tokenizer_algorithm::sentencepiece_bpe;
  } else if (model == "gpt2") {
    v.algorithm = tokenizer_algorithm::byte_level_bpe;
    const std::string pre = string_at("tokenizer.ggml.pre");
    if (pre == "qwen2") v.pre = pre_tokenizer::qwen2;
    else if (pre == "qwen35") v.pre = pre_tokenizer::qwen35;
    else fail(error_category::unsupported, "byte-level pre-tokenizer 'tokenizer.ggml.pre' = '" + pre + "' (strix knows 'qwen2' and 'qwen35')");
    v.normalize_nfc = true;
  } else {
    fail(error_category::unsupported, "tokenizer model 'tokenizer.ggml.model' = '" + model + "' (strix knows 'gemma4' and 'gpt2')");
  }
  // Runs `read` on the value of `key`, naming the file and key when its type is wrong.
  const auto keyed = [&](const char* key, auto&& read) {
    try {
      read(file.at(key));
    } catch (const error& e) {
      const std::string what = e.what();
      if (what.starts_with(source)) throw;
      fail(e.category(), std::string("metadata key '") + key + "': " + what);
    }
  };
  keyed("tokenizer.ggml.tokens", [&](const gguf_value& tokens) {
    const auto pieces = tokens.as_strings();
    v.pieces.assign(pieces.begin(), pieces.end());
  });
  if (file.find("tokenizer.ggml.token_type") != nullptr) {
    keyed("tokenizer.ggml.token_type", [&](const gguf_value& types) {
      for (const auto t : types.as_array<std::int32_t>()) {
        if (t < 1 || t > 6) fail(error_category::format, "tokenizer.ggml.token_type has unknown type " + std::to_string(t));
        v.kinds.push_back(static_cast<token_kind>(t));
      }
    });
  } else {
    v.kinds.assign(v.pieces.size(), token_kind::normal);
  }
  if (file.find("tokenizer.ggml.scores") != nullptr) {
    keyed("tokenizer.ggml.scores", [&](const gguf_value& scores) {
      const auto s = scores.as_array<float>();
      v.scores.assign(s.begin(), s.end());
    });
  }
  if (file.find("tokenizer.ggml.merges") != nullptr) {
    keyed("tokenizer.ggml.merges", [&](const gguf_value& merges) {
      for (const auto& m : merges.as_strings()) {
        const auto space = m.find(' ', 1);
        if (space == std::string::npos) fail(error_category::format, "tokenizer.ggml.merges entry '" + m + "' has no space");
        v.merges.emplace_back(m.substr(0, space), m.substr(space + 1));
      }
    });
  }
  const auto id_at = [&](const char* key) -> token_id {
    token_id id = no_token;
    if (file.find(key) != nullptr) keyed(key, [&](const gguf_value& value) { id = static_cast<token_id>(value.as_integer()); });
    return id;
  };
  v.bos = id_at("tokenizer.ggml.bos_token_id");
  v.eos = id_at("tokenizer.ggml.eos_token_id");
  v.end_of_turn = id_at("tokenizer.ggml.eot_token_id");
  v.unknown = id_at("tokenizer.ggml.unknown_token_id");
  v.padding = id_at("tokenizer.ggml.padding_token_id");
  if (v.end_of_turn == no_token) {
    for (const std::string_view name : {"<turn|>", "<end_of_turn>", "<|im_end|>"}) {
      if (const auto id = v.find(name)) {
        v.end_of_turn = *id;
        break;
      }
    }
  }
  if (file.find("tokenizer.ggml.add_bos_token") != nullptr) {
    keyed("tokenizer.ggml.add_bos_token", [&](const gguf_value& value) { v.add_bos = value.as<bool>(); });
  }
  if (file.find("tokenizer.ggml.add_space_prefix") != nullptr) {
    keyed("tokenizer.ggml.add_space_prefix", [&](const gguf_value& value) {
      if (value.as<bool>()) fail(error_category::unsupported, "tokenizer.ggml.add_space_prefix = true is not supported");
    });
  }
  v.chat_template = string_at("tokenizer.chat_template");
  v.validate(source);
  return v;
}

inline void write_vocabulary_gguf(const vocabulary& v, gguf_writer& out) {
  const bool byte_level = v.algorithm == tokenizer_algorithm::byte_level_bpe;
  out.set("tokenizer.ggml.model", gguf_value(byte_level ? "gpt2" : "gemma4"));
  if (byte_level) out.set("tokenizer.ggml.pre", gguf_value(std::string(gguf_name_of(v.pre))));
  out.set("tokenizer.ggml.tokens", gguf_value::array(v.pieces));
  std::vector<std::int32_t> kinds;
  kinds.reserve(v.kinds.size());
  for (const auto k : v.kinds) kinds.push_back(static_cast<std::int32_t>(k));
  out.set("tokenizer.ggml.token_type", gguf_value::array(std::span<const std::int32_t>(kinds)));
  if (!v.scores.empty()) out.set("tokenizer.ggml.scores", gguf_value::array(std::span<const float>(v.scores)));
  std::vector<std::string> merges;
  merges.reserve(v.merges.size());
  for (const auto& [a, b] : v.merges) merges.push_back(a + " " + b);
  out.set("tokenizer.ggml.merges", gguf_value::array(std::move(merges)));
  const auto set_id = [&](const char* key, token_id id) {
    if (id != no_token) out.set(key, gguf_value(static_cast<std::uint32_t>(id)));
  };
  set_id("tokenizer.ggml.bos_token_id", v.bos);
  set_id("tokenizer.ggml.eos_token_id", v.eos);
  set_id("tokenizer.ggml.eot_token_id", v.end_of_turn);
  set_id("tokenizer.ggml.unknown_token_id", v.unknown);
  set_id("tokenizer.ggml.padding_token_id", v.padding);
  out.set("tokenizer.ggml.add_bos_token", gguf_value(v.add_bos));
  out.set("tokenizer.ggml.add_space_prefix", gguf_value(false));
  if (!v.chat_template.empty()) out.set("tokenizer.chat_template", gguf_value(v.chat_template));
}

}  // namespace strix::text
