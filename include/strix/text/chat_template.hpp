// Chat formats as code: Gemma 4's turn format and Qwen's ChatML, rendered from a list of messages.
// The GGUF / tokenizer_config chat template (Jinja) is only used to recognise the format. Model
// turns in the history are replayed with their final answer only: a thought block left in the
// history is the most reported multi-turn bug, so render() strips it whatever the caller passes.
// Gemma 4 tool declarations, calls and results are rendered in its tool syntax
// (gemma4_tool_syntax.hpp).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <strix/core/error.hpp>
#include <strix/text/gemma4_tool_syntax.hpp>
#include <strix/text/vocabulary.hpp>

namespace strix::text {

enum class chat_format { gemma4, chatml };

struct chat_message {
  chat_message(std::string message_role, std::string message_content, std::vector<tool_call> calls = {}, std::string tool = {})
      : role(std::move(message_role)), content(std::move(message_content)), tool_calls(std::move(calls)), tool_name(std::move(tool)) {}

  std::string role;     // system, user, model (or assistant), tool
  std::string content;  // for a model turn: the answer, possibly still containing its thought; for a tool: its result
  std::vector<tool_call> tool_calls;  // a model turn's calls
  std::string tool_name;              // a tool message: the function whose result it carries
};

struct chat_options {
  bool thinking = false;               // ask the model to think first
  bool add_generation_prompt = true;   // end with the opening of a model turn
  // OpenAI-style tool declarations: [{"type":"function","function":{"name","description","parameters"}}].
  nlohmann::json tools = nlohmann::json::array();
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

namespace detail {

// A tool result as Gemma 4 reads it: a JSON object as is, anything else under "result".
inline std::string gemma4_tool_result(const std::string& content) {
  const nlohmann::json parsed = nlohmann::json::parse(content, nullptr, false);
  return json_to_gemma4_value(!parsed.is_discarded() && parsed.is_object() ? parsed : nlohmann::json{{"result", content}});
}

inline std::string gemma4_declarations(const nlohmann::json& tools) {
  std::string out;
  for (const nlohmann::json& t : tools) {
    const nlohmann::json& f = t.contains("function") ? t.at("function") : t;
    if (!f.is_object() || !f.contains("name") || !f.at("name").is_string()) throw error(error_category::format, "a tool declaration needs function.name");
    nlohmann::json body = nlohmann::json::object();
    if (f.contains("description")) body["description"] = f.at("description");
    if (f.contains("parameters")) body["parameters"] = f.at("parameters");
    out += "<|tool>declaration:" + f.at("name").get<std::string>() + json_to_gemma4_value(body) + "<tool|>";
  }
  return out;
}

}  // namespace detail

// The prompt text for `messages`; parse it with control tokens enabled. Gemma 4 keeps a model
// turn open across its tool calls and their results (the model continues after
// `<tool_response|>`), so a tool message follows a model turn with calls and a later model message
// completes that turn. Tools are rendered for Gemma 4 only.
inline std::string render_chat(chat_format format, std::span<const chat_message> messages, const chat_options& options = {}) {
  std::string out;
  const auto is_model = [](const chat_message& m) { return m.role == "model" || m.role == "assistant"; };
  const auto role_of = [&](const chat_message& m) -> std::string {
    if (m.role == "system" || m.role == "user") return m.role;
    if (is_model(m)) return format == chat_format::gemma4 ? "model" : "assistant";
    throw error(error_category::format, "chat message role '" + m.role + "' is not system, user, model, assistant or tool");
  };
  const auto content_of = [&](const chat_message& m) { return is_model(m) ? split_thought(format, m.content).answer : m.content; };
  if (format == chat_format::gemma4) {
    std::size_t first = 0;
    const std::string declarations = detail::gemma4_declarations(options.tools);
    if (!messages.empty() && messages[0].role == "system") {
      out += "<|turn>system\n" + std::string(options.thinking ? "<|think|>" : "") + messages[0].content + declarations + "<turn|>\n";
      first = 1;
    } else if (options.thinking || !declarations.empty()) {
      out += "<|turn>system\n" + std::string(options.thinking ? "<|think|>" : "") + declarations + "<turn|>\n";
    }
    bool open_model_turn = false;
    for (std::size_t i = first; i < messages.size(); ++i) {
      const chat_message& m = messages[i];
      if (m.role == "tool") {
        if (!open_model_turn) throw error(error_category::format, "a tool message must follow a model message with tool calls");
        out += "<|tool_response>response:" + m.tool_name + detail::gemma4_tool_result(m.content) + "<tool_response|>";
        continue;
      }
      if (open_model_turn && !is_model(m)) out += "<turn|>\n";
      if (!open_model_turn || !is_model(m)) out += "<|turn>" + role_of(m) + "\n";
      out += content_of(m);
      for (const tool_call& call : m.tool_calls) {
        out += "<|tool_call>call:" + call.name + json_to_gemma4_value(nlohmann::json::parse(call.arguments)) + "<tool_call|>";
      }
      open_model_turn = is_model(m) && !m.tool_calls.empty();
      if (!open_model_turn) out += "<turn|>\n";
    }
    if (options.add_generation_prompt && !open_model_turn) out += "<|turn>model\n";
    return out;
  }
  if (!options.tools.empty()) throw error(error_category::unsupported, "tool declarations are rendered for the Gemma 4 chat format only");
  for (const chat_message& m : messages) {
    if (m.role == "tool" || !m.tool_calls.empty()) throw error(error_category::unsupported, "tool calls are rendered for the Gemma 4 chat format only");
    out += "<|im_start|>" + role_of(m) + "\n" + content_of(m) + "<|im_end|>\n";
  }
  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (!options.thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

}  // namespace strix::text
