// Chat formats as code: Gemma 4's turn format and Qwen's ChatML, rendered from a list of messages.
// The GGUF / tokenizer_config chat template (Jinja) is only used to recognise the format. Model
// turns in the history are replayed with their final answer only: a thought block left in the
// history is the most reported multi-turn bug, so render() strips it whatever the caller passes.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

enum class chat_format { gemma4, chatml };

struct chat_message {
  std::string role;     // system, user, model (or assistant)
  std::string content;  // for a model turn: the answer, possibly still containing its thought
};

struct chat_options {
  bool thinking = false;               // ask the model to think first
  bool add_generation_prompt = true;   // end with the opening of a model turn
};

struct chat_format_choice {
  chat_format format;
  std::string warning;  // non-empty when the template was not recognised and the format was guessed
};

// Recognises the format from the chat template string, else from the vocabulary's control tokens.
inline chat_format_choice detect_chat_format(const vocabulary& v) {
  const std::string& t = v.chat_template;
  if (t.find("<|turn>") != std::string::npos) return {chat_format::gemma4, {}};
  if (t.find("<|im_start|>") != std::string::npos) return {chat_format::chatml, {}};
  const bool has_turn = v.find("<|turn>").has_value();
  const bool has_im = v.find("<|im_start|>").has_value();
  const chat_format format = has_im && !has_turn ? chat_format::chatml : chat_format::gemma4;
  const char* name = format == chat_format::chatml ? "ChatML" : "Gemma 4's turn format";
  std::string warning;
  if (!t.empty()) warning = std::string("the model's chat template is not one strix knows; using ") + name;
  else if (!has_turn && !has_im) warning = "the tokenizer has no chat tokens; using Gemma 4's turn format";
  return {format, warning};
}

struct split_reply {
  std::string thought;
  std::string answer;
};

// Separates a model reply into its thought block (Gemma 4: <|channel>thought\n…<channel|>;
// ChatML: <think>…</think>) and its answer. An unterminated thought is all thought.
inline split_reply split_thought(chat_format format, std::string_view reply) {
  const std::string_view open = format == chat_format::gemma4 ? "<|channel>" : "<think>";
  const std::string_view close = format == chat_format::gemma4 ? "<channel|>" : "</think>";
  const std::size_t start = reply.find(open);
  if (start == std::string_view::npos) return {{}, std::string(reply)};
  const std::size_t body = start + open.size();
  const std::size_t end = reply.find(close, body);
  std::string_view thought = reply.substr(body, end == std::string_view::npos ? std::string_view::npos : end - body);
  if (format == chat_format::gemma4 && thought.starts_with("thought\n")) thought.remove_prefix(8);
  std::string answer(reply.substr(0, start));
  if (end != std::string_view::npos) {
    std::string_view rest = reply.substr(end + close.size());
    if (format == chat_format::chatml) {
      while (!rest.empty() && rest.front() == '\n') rest.remove_prefix(1);
    }
    answer += rest;
  }
  return {std::string(thought), answer};
}

// The prompt text for `messages`; parse it with control tokens enabled.
inline std::string render_chat(chat_format format, std::span<const chat_message> messages, const chat_options& options = {}) {
  std::string out;
  const auto role_of = [&](const chat_message& m) -> std::string {
    if (m.role == "system" || m.role == "user") return m.role;
    if (m.role == "model" || m.role == "assistant") return format == chat_format::gemma4 ? "model" : "assistant";
    throw error(error_category::format, "chat message role '" + m.role + "' is not system, user, model or assistant");
  };
  const auto content_of = [&](const chat_message& m) {
    return m.role == "model" || m.role == "assistant" ? split_thought(format, m.content).answer : m.content;
  };
  if (format == chat_format::gemma4) {
    std::size_t first = 0;
    if (!messages.empty() && messages[0].role == "system") {
      out += "<|turn>system\n" + std::string(options.thinking ? "<|think|>" : "") + messages[0].content + "<turn|>\n";
      first = 1;
    } else if (options.thinking) {
      out += "<|turn>system\n<|think|><turn|>\n";
    }
    for (std::size_t i = first; i < messages.size(); ++i) {
      out += "<|turn>" + role_of(messages[i]) + "\n" + content_of(messages[i]) + "<turn|>\n";
    }
    if (options.add_generation_prompt) out += "<|turn>model\n";
    return out;
  }
  for (const chat_message& m : messages) out += "<|im_start|>" + role_of(m) + "\n" + content_of(m) + "<|im_end|>\n";
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!options.thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

}  // namespace strix::text
