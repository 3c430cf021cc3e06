// Gemma 4's tool-call syntax and its JSON equivalent. Gemma 4 writes structured values as
// `{key:value,...}` with unquoted keys, `[a,b]` arrays, bare numbers, true/false/null, and strings
// between two `<|"|>` tokens (no escapes inside). A call is `<|tool_call>call:NAME{args}<tool_call|>`,
// a declaration `<|tool>declaration:NAME{...}<tool|>`, a result
// `<|tool_response>response:NAME{...}<tool_response|>` (the delimiters and call syntax as
// transformers' Gemma 4 response parser reads them; the declaration and response forms follow the
// same pattern and are not yet checked against a checkpoint's template).
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <strix/core/error.hpp>

namespace strix::text {

inline constexpr std::string_view gemma4_string_delimiter = "<|\"|>";

struct tool_call {
  std::string name;
  std::string arguments;  // a JSON object, as text
};

namespace detail {

class gemma4_value_parser {
 public:
  explicit gemma4_value_parser(std::string_view text) : text_(text) {}

  nlohmann::json parse_all() {
    nlohmann::json v = value();
    skip_space();
    if (at_ != text_.size()) fail("unexpected text after the value");
    return v;
  }

  nlohmann::json value() {
    skip_space();
    if (text_.substr(at_).starts_with(gemma4_string_delimiter)) {
      at_ += gemma4_string_delimiter.size();
      const std::size_t end = text_.find(gemma4_string_delimiter, at_);
      if (end == std::string_view::npos) fail("an unterminated string");
      std::string s(text_.substr(at_, end - at_));
      at_ = end + gemma4_string_delimiter.size();
      return s;
    }
    if (peek() == '{') return object();
    if (peek() == '[') return array();
    return literal();
  }

 private:
  nlohmann::json object() {
    ++at_;
    nlohmann::json o = nlohmann::json::object();
    skip_space();
    if (peek() == '}') {
      ++at_;
      return o;
    }
    for (;;) {
      skip_space();
      const std::size_t colon = text_.find(':', at_);
      if (colon == std::string_view::npos) fail("a key without ':'");
      std::string key(text_.substr(at_, colon - at_));
      while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
      if (key.starts_with(gemma4_string_delimiter) && key.ends_with(gemma4_string_delimiter) && key.size() >= 2 * gemma4_string_delimiter.size()) {
        key = key.substr(gemma4_string_delimiter.size(), key.size() - 2 * gemma4_string_delimiter.size());
      }
      at_ = colon + 1;
      o[key] = value();
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      if (peek() == '}') {
        ++at_;
        return o;
      }
      fail("expected ',' or '}'");
    }
  }

  nlohmann::json array() {
    ++at_;
    nlohmann::json a = nlohmann::json::array();
    skip_space();
    if (peek() == ']') {
      ++at_;
      return a;
    }
    for (;;) {
      a.push_back(value());
      skip_space();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      if (peek() == ']') {
        ++at_;
        return a;
      }
      fail("expected ',' or ']'");
    }
  }

  nlohmann::json literal() {
    const std::size_t begin = at_;
    while (at_ < text_.size() && text_[at_] != ',' && text_[at_] != '}' && text_[at_] != ']') ++at_;
    std::string word(text_.substr(begin, at_ - begin));
    while (!word.empty() && std::isspace(static_cast<unsigned char>(word.back()))) word.pop_back();
    if (word.empty()) fail("a missing value");
    const nlohmann::json parsed = nlohmann::json::parse(word, nullptr, false);
    // A bare word that is not a JSON literal is taken as a string, as the model may write one.
    return parsed.is_discarded() || parsed.is_structured() ? nlohmann::json(word) : parsed;
  }

  void skip_space() {
    while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_]))) ++at_;
  }
  [[nodiscard]] char peek() const { return at_ < text_.size() ? text_[at_] : '\0'; }
  [[noreturn]] void fail(const std::string& what) const {
    throw error(error_category::format, "Gemma 4 tool syntax: " + what + " at offset " + std::to_string(at_));
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace detail

// `{key:<|"|>v<|"|>,n:1}` → {"key":"v","n":1}; a format error names the offset.
inline nlohmann::json gemma4_value_to_json(std::string_view text) { return detail::gemma4_value_parser(text).parse_all(); }

// {"key":"v","n":1} → `{key:<|"|>v<|"|>,n:1}`.
inline std::string json_to_gemma4_value(const nlohmann::json& value) {
  if (value.is_string()) return std::string(gemma4_string_delimiter) + value.get<std::string>() + std::string(gemma4_string_delimiter);
  if (value.is_object()) {
    std::string out = "{";
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (out.size() > 1) out += ",";
      out += it.key() + ":" + json_to_gemma4_value(it.value());
    }
    return out + "}";
  }
  if (value.is_array()) {
    std::string out = "[";
    for (const auto& v : value) out += (out.size() > 1 ? "," : "") + json_to_gemma4_value(v);
    return out + "]";
  }
  return value.dump();
}

struct reply_with_tools {
  std::string content;  // the reply with every call removed
  std::vector<tool_call> calls;
};

// Separates `<|tool_call>call:NAME{...}<tool_call|>` blocks from the rest of a reply. A block that
// does not parse stays in the content.
inline reply_with_tools extract_gemma4_tool_calls(std::string_view reply) {
  constexpr std::string_view open = "<|tool_call>call:", close = "<tool_call|>";
  reply_with_tools out;
  std::size_t at = 0;
  for (;;) {
    const std::size_t start = reply.find(open, at);
    const std::size_t end = start == std::string_view::npos ? start : reply.find(close, start);
    if (end == std::string_view::npos) {
      out.content += reply.substr(at);
      return out;
    }
    const std::string_view body = reply.substr(start + open.size(), end - start - open.size());
    const std::size_t brace = body.find('{');
    try {
      if (brace == std::string_view::npos || brace == 0) throw error(error_category::format, "no name or arguments");
      const nlohmann::json args = gemma4_value_to_json(body.substr(brace));
      if (!args.is_object()) throw error(error_category::format, "arguments are not an object");
      out.content += reply.substr(at, start - at);
      out.calls.push_back({std::string(body.substr(0, brace)), args.dump()});
    } catch (const error&) {
      out.content += reply.substr(at, end + close.size() - at);
    }
    at = end + close.size();
  }
}

}  // namespace strix::text
