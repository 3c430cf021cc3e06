// Loads a Hugging Face tokenizer.json (and, beside it, tokenizer_config.json for the special
// tokens and chat template) into a `vocabulary`. Only the pipelines strix reproduces exactly are
// accepted: Gemma's (Replace " "→"▁", BPE with byte fallback) and Qwen's (NFC, the qwen2 or qwen35 split
// regex, byte-level BPE). Anything else is an error that names the component, so a tokenizer that
// would silently give different ids is never used.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include <strix/core/error.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

namespace detail {

inline std::string json_text(const nlohmann::json& j) { return j.is_null() ? std::string("null") : j.dump(); }

// The content of a special-token entry of tokenizer_config.json: a string or {"content": ...}.
inline std::string token_content(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return {};
}

inline bool is_space_to_marker(const nlohmann::json& normalizer) {
  return normalizer.is_object() && normalizer.value("type", "") == "Replace" &&
         normalizer.value("pattern", nlohmann::json::object()).value("String", "") == " " &&
         normalizer.value("content", "") == "\u2581";
}

}  // namespace detail

inline vocabulary vocabulary_from_tokenizer_json(const nlohmann::json& j, const std::string& source) {
  const auto fail = [&](error_category category, const std::string& what) { throw error(category, source + ": " + what); };
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) fail(error_category::format, "no \"model\" object");
  const auto& model = j["model"];
  if (model.value("type", "") != "BPE") fail(error_category::unsupported, "tokenizer model " + detail::json_text(model["type"]) + " is not BPE");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(key) && !model[key].is_null() && model[key] != "") {
      fail(error_category::unsupported, std::string("model.") + key + " " + model[key].dump() + " is not supported");
    }
  }
  if (model.value("ignore_merges", false)) fail(error_category::unsupported, "model.ignore_merges is not supported");

  vocabulary v;
  const auto& normalizer = j.value("normalizer", nlohmann::json());
  const auto& pre = j.value("pre_tokenizer", nlohmann::json());
  const auto& decoder = j.value("decoder", nlohmann::json());
  if (decoder.is_object() && decoder.value("type", "") == "ByteLevel") {
    v.algorithm = tokenizer_algorithm::byte_level_bpe;
    if (!normalizer.is_null() && !(normalizer.is_object() && normalizer.value("type", "") == "NFC")) {
      fail(error_category::unsupported, "byte-level normalizer " + detail::json_text(normalizer) + " (only NFC or none)");
    }
    v.normalize_nfc = !normalizer.is_null();
    const bool split_then_bytes = pre.is_object() && pre.value("type", "") == "Sequence" && pre["pretokenizers"].size() == 2 &&
                                  pre["pretokenizers"][0].value("type", "") == "Split" &&
                                  pre["pretokenizers"][0].value("behavior", "") == "Isolated" &&
                                  pre["pretokenizers"][1].value("type", "") == "ByteLevel" &&
                                  !pre["pretokenizers"][1].value("use_regex", true) &&
                                  !pre["pretokenizers"][1].value("add_prefix_space", true);
    const std::string regex = split_then_bytes ? pre["pretokenizers"][0]["pattern"].value("Regex", "") : std::string();
    if (regex == qwen2_split_regex) v.pre = pre_tokenizer::qwen2;
    else if (regex == qwen35_split_regex) v.pre = pre_tokenizer::qwen35;
    else fail(error_category::unsupported, "pre-tokenizer " + detail::json_text(pre).substr(0, 300) + " is neither the qwen2 nor the qwen35 one");
  } else {
    v.algorithm = tokenizer_algorithm::sentencepiece_bpe;
    if (!detail::is_space_to_marker(normalizer)) {
      fail(error_category::unsupported, "normalizer " + detail::json_text(normalizer).substr(0, 300) +
                                            " (SentencePiece-style BPE needs Replace \" \" -> \"\u2581\")");
    }
    // After spaces became "▁", a split at " " never fires: the whole segment is one word.
    const bool no_split = pre.is_null() || (pre.is_object() && pre.value("type", "") == "Split" &&
                                            pre["pattern"].value("String", "") == " ");
    if (!no_split) fail(error_category::unsupported, "pre-tokenizer " + detail::json_text(pre).substr(0, 300));
  }

  const auto& vocab = model["vocab"];
  if (!vocab.is_object()) fail(error_category::format, "model.vocab is not an object");
  std::size_t size = 0;
  for (const auto& [piece, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0) fail(error_category::format, "vocab entry '" + piece + "' has a bad id");
    size = std::max(size, static_cast<std::size_t>(id.get<std::int64_t>()) + 1);
  }
  const auto& added = j.value("added_tokens", nlohmann::json::array());
  for (const auto& t : added) {
    if (!t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") || !t["content"].is_string()) {
      fail(error_category::format, "malformed added_tokens entry " + t.dump());
    }
    size = std::max(size, static_cast<std::size_t>(t["id"].get<std::int64_t>()) + 1);
  }
  if (size > (1u << 24)) fail(error_category::format, "vocabulary of " + std::to_string(size) + " ids is implausibly large");
  v.pieces.assign(size, {});
  v.kinds.assign(size, token_kind::unused);
  std::vector<bool> seen(size, false);
  const bool byte_fallback = model.value("byte_fallback", false);
  for (const auto& [piece, id] : vocab.items()) {
    const auto index = static_cast<std::size_t>(id.get<std::int64_t>());
    v.pieces[index] = piece;
    seen[index] = true;
    const bool byte_piece = byte_fallback && piece.size() == 6 && piece.starts_with("<0x") && piece.ends_with('>');
    v.kinds[index] = byte_piece ? token_kind::byte : token_kind::normal;
  }
  for (const auto& t : added) {
    const auto index = static_cast<std::size_t>(t["id"].get<std::int64_t>());
    for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
      if (t.value(flag, false)) fail(error_category::unsupported, "added token '" + t["content"].get<std::string>() + "' sets " + flag);
    }
    v.pieces[index] = t["content"].get<std::string>();
    v.kinds[index] = t.value("special", false) ? token_kind::control : token_kind::user_defined;
    seen[index] = true;
  }
  for (std::size_t i = 0; i < size; ++i) {
    if (!seen[i]) fail(error_category::format, "token id " + std::to_string(i) + " has no piece");
  }

  const auto& merges = model.value("merges", nlohmann::json::array());
  v.merges.reserve(merges.size());
  for (const auto& m : merges) {
    if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      v.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else if (m.is_string()) {
      const auto& text = m.get_ref<const std::string&>();
      const auto space = text.find(' ', 1);
      if (space == std::string::npos) fail(error_category::format, "merge '" + text + "' has no space");
      v.merges.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else {
      fail(error_category::format, "malformed merge " + m.dump());
    }
  }

  const auto id_named = [&](std::string_view piece) { return v.find(piece).value_or(no_token); };
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    v.unknown = id_named(model["unk_token"].get<std::string>());
    if (v.unknown != no_token && v.kinds[static_cast<std::size_t>(v.unknown)] == token_kind::normal) {
      v.kinds[static_cast<std::size_t>(v.unknown)] = token_kind::unknown;
    }
  }
  const auto& post = j.value("post_processor", nlohmann::json());
  if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single") &&
      !post["single"].empty() && post["single"][0].contains("SpecialToken")) {
    v.bos = id_named(post["single"][0]["SpecialToken"].value("id", ""));
    v.add_bos = v.bos != no_token;
  }
  const auto first_present = [&](std::initializer_list<std::string_view> names) {
    for (const auto name : names) {
      if (const token_id id = id_named(name); id != no_token) return id;
    }
    return no_token;
  };
  if (v.bos == no_token) v.bos = first_present({"<bos>"});
  v.eos = first_present({"<eos>", "<|endoftext|>"});
  v.end_of_turn = first_present({"<turn|>", "<end_of_turn>", "<|im_end|>"});
  v.padding = first_present({"<pad>", "<|endoftext|>"});
  return v;
}

// Reads `path` (a tokenizer.json) and, when present beside it, tokenizer_config.json.
inline vocabulary load_tokenizer_json(const std::filesystem::path& path) {
  const std::string source = path.string();
  const auto parse = [&](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw error(error_category::io, p.string() + ": cannot open");
    try {
      return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw error(error_category::format, p.string() + ": not valid JSON: " + e.what());
    }
  };
  vocabulary v = vocabulary_from_tokenizer_json(parse(path), source);
  const auto config_path = path.parent_path() / "tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const auto config = parse(config_path);
    const auto special = [&](const char* key, token_id& id) {
      if (!config.contains(key)) return;
      const std::string content = detail::token_content(config[key]);
      if (content.empty()) return;
      const auto found = v.find(content);
      if (!found) throw error(error_category::format, config_path.string() + ": " + key + " '" + content + "' is not a token");
      id = *found;
    };
    special("bos_token", v.bos);
    special("eos_token", v.eos);
    special("pad_token", v.padding);
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) v.add_bos = config["add_bos_token"].get<bool>();
    if (config.contains("chat_template") && config["chat_template"].is_string()) v.chat_template = config["chat_template"].get<std::string>();
  }
  v.validate(source);
  return v;
}

}  // namespace strix::text
