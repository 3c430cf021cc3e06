// strix serve: an OpenAI-compatible HTTP server (cpp-httplib) over the continuous-batching
// scheduler. Endpoints: GET /health, GET /v1/models, POST /v1/chat/completions, POST
// /v1/completions (streaming as server-sent events or not), GET /metrics (Prometheus text). One
// thread runs the model; each connection's handler renders and tokenizes its prompt, submits it
// and turns the token stream into OpenAI JSON, holding back text that could still become a stop
// string. A client that disconnects (streaming or not) cancels its request, and the scheduler
// frees its sequence at its next step. With --ngram or --draft every request decodes
// speculatively (serve/sequence_drafter.hpp).
#include <atomic>
#include <chrono>
#include <map>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <strix/sample/gguf_defaults.hpp>
#include <strix/text/chat_template.hpp>
#include <strix/text/streaming_decoder.hpp>
#include <strix/text/tokenizer.hpp>
#include <strix/text/utf8.hpp>

#include "commands.hpp"
#include "model_session.hpp"
#include "models/model_vocabulary.hpp"
#include "serve/generation_scheduler.hpp"
#include "serve/peer_connection.hpp"
#include "serve/sequence_drafter.hpp"

namespace strix::tool {
namespace {

struct serve_options {
  run_options run;
  std::string host = "127.0.0.1", name;
  int port = 8080;
  std::size_t max_sequences = 8, context = 4096;
  std::string kv_budget;  // KV bytes shared by all sequences; default: every sequence at the full context
  std::string draft;      // speculative decoding with this draft model
  bool ngram = false;     // or with n-gram lookup in each request's own tokens
  std::size_t draft_max = 8;

  [[nodiscard]] bool speculative() const noexcept { return ngram || !draft.empty(); }
  [[nodiscard]] std::size_t max_rollback() const noexcept { return speculative() ? draft_max + 1 : 0; }
};

// JSON text of a reply. Generated text may hold bytes that are not UTF-8 (a model can emit byte
// tokens that form no character, or stop inside one): they become U+FFFD, as other servers do.
std::string json_text(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// An OpenAI-style error.
struct request_error {
  request_error(int http_status, std::string what, std::string error_code = {})
      : status(http_status), message(std::move(what)), code(std::move(error_code)) {}
  int status;
  std::string message, type = "invalid_request_error", code;
};

void send_error(httplib::Response& res, const request_error& e) {
  res.status = e.status;
  const nlohmann::json body{{"error", {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", e.code.empty() ? nlohmann::json() : nlohmann::json(e.code)}}}};
  res.set_content(json_text(body), "application/json");
}

const char* finish_name(serve::finish_reason r) {
  switch (r) {
    case serve::finish_reason::stop: return "stop";
    case serve::finish_reason::length: return "length";
    default: return "stop";
  }
}

// What one request asks for, parsed and checked.
struct parsed_request {
  std::vector<std::int32_t> prompt;
  serve::generation_request generation;
  std::vector<std::string> stop_strings;
  bool stream = false, include_usage = false, chat = false;
  bool tools = false;  // tool declarations given: the reply is parsed for calls at its end
};

// A finished reply of a request with tools: thought, content and calls (Gemma 4 syntax).
struct tool_reply {
  std::string reasoning, content;
  std::vector<text::tool_call> calls;
};

tool_reply parse_tool_reply(text::chat_format format, const std::string& raw) {
  const text::split_reply split = text::split_thought(format, raw);
  text::reply_with_tools extracted = text::extract_gemma4_tool_calls(split.answer);
  return {split.thought, std::move(extracted.content), std::move(extracted.calls)};
}

nlohmann::json openai_tool_calls(const std::vector<text::tool_call>& calls, const std::string& id, bool indexed) {
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < calls.size(); ++i) {
    nlohmann::json c{{"id", "call_" + id + "_" + std::to_string(i)}, {"type", "function"}, {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (indexed) c["index"] = i;
    out.push_back(c);
  }
  return out;
}

// Turns generated tokens into text for one reply: the thought channel apart from the answer, and
// the answer held back where it could still be the start of a stop string.
class reply_text {
 public:
  reply_text(const text::tokenizer& tok, text::chat_format format, std::vector<std::string> stops, bool split_thought)
      : tok_(tok), decoder_(tok), format_(format), stops_(std::move(stops)), split_(split_thought) {
    const bool gemma = format == text::chat_format::gemma4;
    open_ = tok.find(gemma ? "<|channel>" : "<think>");
    close_ = tok.find(gemma ? "<channel|>" : "</think>");
  }

  struct piece {
    std::string reasoning, content;
    bool stopped = false;  // a stop string was found: the reply ends here
  };

  piece push(std::int32_t token) {
    tok_.append_bytes(token, raw_, false);
    piece p;
    if (split_ && token == open_ && open_ != text::no_token) {
      thinking_ = true;
      naming_channel_ = format_ == text::chat_format::gemma4;
      return p;
    }
    if (split_ && token == close_ && close_ != text::no_token) {
      thinking_ = false;
      return p;
    }
    std::string text = decoder_.push(token);
    if (thinking_) {
      if (naming_channel_) {  // Gemma 4 names the channel ("thought") on its first line
        const auto newline = text.find('\n');
        text = newline == std::string::npos ? "" : text.substr(newline + 1);
        naming_channel_ = newline == std::string::npos;
      }
      p.reasoning = std::move(text);
      return p;
    }
    return answer(std::move(text), false);
  }

  piece finish() { return answer(decoder_.finish(), true); }

  // The whole reply with control-token text, for parsing tool calls.
  [[nodiscard]] const std::string& raw() const noexcept { return raw_; }

 private:
  piece answer(std::string text, bool last) {
    piece p;
    held_ += text;
    for (const std::string& s : stops_) {
      if (const auto at = held_.find(s); !s.empty() && at != std::string::npos) {
        p.content = held_.substr(0, at);
        held_.clear();
        p.stopped = true;
        return p;
      }
    }
    std::size_t keep = 0;  // the longest tail that begins a stop string
    if (!last) {
      for (const std::string& s : stops_) {
        for (std::size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n) {
          if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
            keep = n;
            break;
          }
        }
      }
    }
    // Never split a UTF-8 character between pieces.
    std::size_t emit = held_.size() - keep;
    while (emit > 0 && emit < held_.size() && (static_cast<unsigned char>(held_[emit]) & 0xC0) == 0x80) --emit;
    p.content = held_.substr(0, emit);
    held_.erase(0, emit);
    return p;
  }

  const text::tokenizer& tok_;
  text::streaming_decoder decoder_;
  text::chat_format format_;
  std::vector<std::string> stops_;
  bool split_;
  text::token_id open_ = text::no_token, close_ = text::no_token;
  bool thinking_ = false, naming_channel_ = false;
  std::string held_, raw_;
};

template <class Device, class Model, class Cache>
class server {
 public:
  server(const serve_options& o, text::tokenizer tok, Model& model, Cache& cache, sample::sampling_params defaults,
         serve::sequence_drafter* drafter)
      : o_(o), tok_(std::move(tok)), format_(text::detect_chat_format(tok_.vocab()).format), defaults_(defaults),
        scheduler_(model, cache,
                   {o.max_sequences, o.run.chunk, o.context, {.max_draft = o.draft_max, .first_draft = std::min<std::size_t>(4, o.draft_max)}},
                   drafter) {
    for (const text::token_id end : {tok_.vocab().eos, tok_.vocab().end_of_turn}) {
      if (end != text::no_token) stop_tokens_.push_back(end);
    }
    tool_response_ = tok_.find("<|tool_response>");
  }

  void run(Device& dev) {
    std::thread model_thread([&] { scheduler_.run(dev); });
    httplib::Server http;
    http.new_task_queue = [] { return new httplib::ThreadPool(64); };
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content(R"({"status":"ok"})", "application/json"); });
    http.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
      const nlohmann::json body{{"object", "list"}, {"data", {{{"id", o_.name}, {"object", "model"}, {"created", 0}, {"owned_by", "strix"}}}}};
      res.set_content(json_text(body), "application/json");
    });
    http.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) { complete(req, res, true); });
    http.Post("/v1/completions", [&](const httplib::Request& req, httplib::Response& res) { complete(req, res, false); });
    http.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) { res.set_content(metrics_text(), "text/plain; version=0.0.4"); });
    // Port 0: any free port (the line below says which).
    const int port = o_.port == 0 ? http.bind_to_any_port(o_.host) : (http.bind_to_port(o_.host, o_.port) ? o_.port : -1);
    if (port <= 0) {
      scheduler_.stop();
      model_thread.join();
      throw error(error_category::io, "cannot listen on " + o_.host + ":" + std::to_string(o_.port));
    }
    const std::string speculation = o_.ngram ? ", n-gram speculation" : o_.draft.empty() ? "" : ", speculation with " + o_.draft;
    std::fprintf(stderr, "strix serve: %s on http://%s:%d (max %zu sequences, context %zu%s)\n", o_.name.c_str(), o_.host.c_str(), port,
                 o_.max_sequences, o_.context, speculation.c_str());
    http.listen_after_bind();
    scheduler_.stop();
    model_thread.join();
  }

 private:
  void complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    parsed_request p;
    try {
      p = parse(req.body, chat);
    } catch (const request_error& e) {
      send_error(res, e);
      return;
    } catch (const std::exception& e) {
      send_error(res, {500, e.what(), "internal_error"});
      return;
    }
    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(++next_id_);
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto stream = std::make_shared<serve::generation_stream>();
    p.generation.stream = stream;
    const std::size_t prompt_tokens = p.prompt.size();
    scheduler_.submit(std::move(p.generation));
    auto reply = std::make_shared<reply_text>(tok_, format_, p.stop_strings, chat);
    const std::string object = chat ? "chat.completion" : "text_completion";

    auto usage = [prompt_tokens](std::size_t completion) {
      return nlohmann::json{{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion}, {"total_tokens", prompt_tokens + completion}};
    };
    if (!p.stream) {
      const serve::peer_connection peer(req.remote_addr, req.remote_port, req.local_addr, req.local_port);
      std::string content, reasoning;
      std::size_t completion = 0;
      const char* finish = "stop";
      for (;;) {
        if (peer.closed()) {  // nobody to reply to: free the sequence now, not at max_tokens
          stream->cancel();
          return;
        }
        const auto event = stream->pop(std::chrono::milliseconds(100));
        if (!event) continue;
        if (event->finish == serve::finish_reason::error) {
          send_error(res, {400, event->error});
          return;
        }
        reply_text::piece piece = event->finish == serve::finish_reason::none ? reply->push(event->token) : reply->finish();
        if (event->finish == serve::finish_reason::none) ++completion;
        content += piece.content;
        reasoning += piece.reasoning;
        if (piece.stopped) stream->cancel();
        if (piece.stopped || event->finish != serve::finish_reason::none) {
          finish = piece.stopped ? "stop" : finish_name(event->finish);
          break;
        }
      }
      nlohmann::json choice{{"index", 0}, {"finish_reason", finish}};
      if (chat && p.tools) {
        const tool_reply parsed = parse_tool_reply(format_, reply->raw());
        choice["message"] = {{"role", "assistant"}, {"content", parsed.content}};
        if (!parsed.reasoning.empty()) choice["message"]["reasoning_content"] = parsed.reasoning;
        if (!parsed.calls.empty()) {
          choice["message"]["tool_calls"] = openai_tool_calls(parsed.calls, id, false);
          if (parsed.content.empty()) choice["message"]["content"] = nullptr;
          choice["finish_reason"] = "tool_calls";
        }
      } else if (chat) {
        choice["message"] = {{"role", "assistant"}, {"content", content}};
        if (!reasoning.empty()) choice["message"]["reasoning_content"] = reasoning;
      } else {
        choice["text"] = content;
      }
      const nlohmann::json body{{"id", id}, {"object", object}, {"created", created}, {"model", o_.name}, {"choices", {choice}}, {"usage", usage(completion)}};
      res.set_content(json_text(body), "application/json");
      return;
    }
    const bool include_usage = p.include_usage, tools = p.tools;
    res.set_chunked_content_provider("text/event-stream", [=, this](std::size_t, httplib::DataSink& sink) {
      auto send = [&](const nlohmann::json& chunk) {
        const std::string line = "data: " + json_text(chunk) + "\n\n";
        return sink.write(line.data(), line.size());
      };
      auto chunk = [&](const nlohmann::json& delta, const nlohmann::json& finish) {
        nlohmann::json choice{{"index", 0}, {"finish_reason", finish}};
        if (chat) {
          choice["delta"] = delta;
        } else {
          choice["text"] = delta.value("content", std::string());
        }
        return nlohmann::json{{"id", id}, {"object", object + ".chunk"}, {"created", created}, {"model", o_.name}, {"choices", {choice}}};
      };
      if (chat && !send(chunk({{"role", "assistant"}, {"content", ""}}, nullptr))) {
        stream->cancel();
        return false;
      }
      std::size_t completion = 0;
      for (;;) {
        const auto event = stream->pop(std::chrono::milliseconds(100));
        if (!event) {
          if (!sink.is_writable()) {
            stream->cancel();
            return false;
          }
          continue;
        }
        if (event->finish == serve::finish_reason::error) {
          const std::string line = "data: " + json_text(nlohmann::json{{"error", {{"message", event->error}, {"type", "server_error"}}}}) + "\n\n";
          sink.write(line.data(), line.size());
          break;
        }
        const bool last = event->finish != serve::finish_reason::none;
        reply_text::piece piece = last ? reply->finish() : reply->push(event->token);
        if (!last) ++completion;
        nlohmann::json delta = nlohmann::json::object();
        // With tools the reply is sent whole at its end, calls parsed out of it.
        if (!tools && !piece.content.empty()) delta["content"] = piece.content;
        if (!tools && !piece.reasoning.empty()) delta["reasoning_content"] = piece.reasoning;
        std::string finish = piece.stopped ? "stop" : finish_name(event->finish);
        if (tools && last) {
          const tool_reply parsed = parse_tool_reply(format_, reply->raw());
          if (!parsed.reasoning.empty()) delta["reasoning_content"] = parsed.reasoning;
          if (!parsed.content.empty()) delta["content"] = parsed.content;
          if (!parsed.calls.empty()) {
            delta["tool_calls"] = openai_tool_calls(parsed.calls, id, true);
            finish = "tool_calls";
          }
        }
        if (!delta.empty() && !send(chunk(delta, nullptr))) {
          stream->cancel();
          return false;
        }
        if (piece.stopped) stream->cancel();
        if (piece.stopped || last) {
          send(chunk(nlohmann::json::object(), finish));
          if (include_usage) {
            nlohmann::json u{{"id", id}, {"object", object + ".chunk"}, {"created", created}, {"model", o_.name}, {"choices", nlohmann::json::array()}};
            u["usage"] = usage(completion);
            send(u);
          }
          break;
        }
      }
      const std::string done = "data: [DONE]\n\n";
      sink.write(done.data(), done.size());
      sink.done();
      return true;
    });
  }

  parsed_request parse(const std::string& body, bool chat) const {
    if (!text::is_valid_utf8(body)) throw request_error{400, "the body is not valid UTF-8"};
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
      throw request_error{400, std::string("the body is not valid JSON: ") + e.what()};
    }
    if (!j.is_object()) throw request_error{400, "the body must be a JSON object"};
    if (j.contains("model") && j["model"] != o_.name) {
      throw request_error{404, "the model '" + json_text(j["model"]) + "' does not exist; this server has '" + o_.name + "'", "model_not_found"};
    }
    auto number = [&](const char* key, double fallback) {
      if (!j.contains(key) || j[key].is_null()) return fallback;
      if (!j[key].is_number()) throw request_error{400, std::string("'") + key + "' must be a number"};
      return j[key].get<double>();
    };
    parsed_request p;
    p.chat = chat;
    p.stream = j.value("stream", false);
    p.include_usage = j.contains("stream_options") && j["stream_options"].is_object() && j["stream_options"].value("include_usage", false);
    if (number("n", 1) != 1) throw request_error{400, "only n = 1 is supported"};
    const double max_tokens = number(j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens", chat ? 512 : 16);
    if (max_tokens < 1) throw request_error{400, "'max_tokens' must be at least 1"};
    sample::sampling_params s = defaults_;
    s.temperature = static_cast<float>(number("temperature", s.temperature));
    s.top_p = static_cast<float>(number("top_p", s.top_p));
    s.presence_penalty = static_cast<float>(number("presence_penalty", 0));
    s.frequency_penalty = static_cast<float>(number("frequency_penalty", 0));
    s.seed = static_cast<std::uint64_t>(number("seed", static_cast<double>(next_id_.load())));
    try {
      s.validate();
    } catch (const error& e) {
      throw request_error{400, e.what()};
    }
    // Empty stop strings would match everywhere; they are dropped.
    if (j.contains("stop") && !j["stop"].is_null()) {
      if (j["stop"].is_string()) {
        if (!j["stop"].get<std::string>().empty()) p.stop_strings.push_back(j["stop"]);
      } else if (j["stop"].is_array()) {
        for (const auto& v : j["stop"]) {
          if (!v.is_string()) throw request_error{400, "'stop' must be a string or an array of strings"};
          if (!v.get<std::string>().empty()) p.stop_strings.push_back(v);
        }
      } else {
        throw request_error{400, "'stop' must be a string or an array of strings"};
      }
    }
    std::string prompt;
    if (chat) {
      if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) throw request_error{400, "'messages' must be a non-empty array"};
      std::vector<text::chat_message> messages;
      std::map<std::string, std::string> call_names;  // tool_call_id → function name
      for (const auto& m : j["messages"]) {
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) throw request_error{400, "each message needs a 'role'"};
        std::string content;
        if (m.contains("content") && m["content"].is_string()) {
          content = m["content"];
        } else if (m.contains("content") && m["content"].is_array()) {
          for (const auto& part : m["content"]) {
            if (part.is_object() && part.value("type", std::string()) == "text") content += part.value("text", std::string());
          }
        }
        const std::string role = m["role"];
        if (role != "system" && role != "user" && role != "assistant" && role != "developer" && role != "tool") {
          throw request_error{400, "message role '" + role + "' is not supported (system, developer, user, assistant, tool)"};
        }
        std::vector<text::tool_call> calls;
        if (role == "assistant" && m.contains("tool_calls") && m["tool_calls"].is_array()) {
          for (const auto& c : m["tool_calls"]) {
            const nlohmann::json f = c.is_object() ? c.value("function", nlohmann::json::object()) : nlohmann::json::object();
            if (!f.contains("name") || !f["name"].is_string()) throw request_error{400, "a tool call needs function.name"};
            const std::string arguments = f.contains("arguments") && f["arguments"].is_string() ? f["arguments"].get<std::string>() : "{}";
            const nlohmann::json parsed = nlohmann::json::parse(arguments, nullptr, false);
            if (parsed.is_discarded() || !parsed.is_object()) throw request_error{400, "tool call arguments must be a JSON object"};
            calls.push_back({f["name"], arguments});
            if (c.contains("id") && c["id"].is_string()) call_names[c["id"]] = f["name"];
          }
        }
        std::string tool_name;
        if (role == "tool") {
          const auto by_id = m.contains("tool_call_id") && m["tool_call_id"].is_string() ? call_names.find(m["tool_call_id"]) : call_names.end();
          tool_name = by_id != call_names.end() ? by_id->second : m.value("name", std::string());
          if (tool_name.empty()) throw request_error{400, "a tool message needs the tool_call_id of an earlier call (or a name)"};
        }
        messages.emplace_back(role == "developer" ? "system" : role, content, std::move(calls), std::move(tool_name));
      }
      text::chat_options chat_options{.thinking = false, .add_generation_prompt = true, .tools = nlohmann::json::array()};
      const bool no_tools = j.contains("tool_choice") && j["tool_choice"] == "none";
      if (j.contains("tools") && !j["tools"].is_null() && !no_tools) {
        if (!j["tools"].is_array()) throw request_error{400, "'tools' must be an array"};
        chat_options.tools = j["tools"];
        p.tools = !chat_options.tools.empty();
      }
      bool thinking = false;
      if (j.contains("chat_template_kwargs") && j["chat_template_kwargs"].is_object()) thinking = j["chat_template_kwargs"].value("enable_thinking", false);
      if (j.contains("reasoning_effort") && j["reasoning_effort"].is_string()) thinking = j["reasoning_effort"] != "none";
      chat_options.thinking = thinking;
      try {
        prompt = text::render_chat(format_, messages, chat_options);
      } catch (const error& e) {
        throw request_error{400, e.what()};
      }
    } else {
      if (!j.contains("prompt") || !j["prompt"].is_string()) throw request_error{400, "'prompt' must be a string"};
      prompt = j["prompt"];
    }
    p.prompt = tok_.encode(prompt, {.add_bos = tok_.vocab().add_bos, .parse_control = chat});
    if (p.prompt.empty()) throw request_error{400, "the prompt is empty"};
    if (p.prompt.size() >= o_.context) {
      throw request_error{400, "the prompt has " + std::to_string(p.prompt.size()) + " tokens; this server's context is " + std::to_string(o_.context),
                          "context_length_exceeded"};
    }
    p.generation.prompt = p.prompt;
    p.generation.sampling = s;
    p.generation.max_tokens = static_cast<std::size_t>(max_tokens);
    if (!j.value("ignore_eos", false)) p.generation.stop_tokens = stop_tokens_;  // ignore_eos: vLLM's extension
    // After a call Gemma 4 opens the tool response: the caller supplies it.
    if (p.tools && tool_response_ != text::no_token) p.generation.stop_tokens.push_back(tool_response_);
    return p;
  }

  std::string metrics_text() const {
    const serve::scheduler_metrics m = scheduler_.metrics();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, double value) {
      char line[256];
      std::snprintf(line, sizeof line, "# HELP strix_%s %s\n# TYPE strix_%s %s\nstrix_%s %.9g\n", name, help, name, type, name, value);
      out += line;
    };
    metric("requests_total", "counter", "Requests received.", static_cast<double>(m.requests));
    metric("requests_finished_total", "counter", "Requests finished (any reason).", static_cast<double>(m.finished));
    metric("requests_cancelled_total", "counter", "Requests cancelled: the client went away or a stop string matched.", static_cast<double>(m.cancelled));
    metric("prompt_tokens_total", "counter", "Prompt tokens of requests that produced a token.", static_cast<double>(m.prompt_tokens));
    metric("generation_tokens_total", "counter", "Tokens generated.", static_cast<double>(m.generated_tokens));
    metric("prefix_cache_hit_tokens_total", "counter", "Prompt positions reused from the KV prefix cache.", static_cast<double>(m.prefix_hit_tokens));
    metric("preemptions_total", "counter", "Requests preempted for want of KV blocks.", static_cast<double>(m.preemptions));
    metric("spec_draft_tokens_total", "counter", "Speculative tokens drafted.", static_cast<double>(m.draft_tokens));
    metric("spec_accepted_tokens_total", "counter", "Speculative tokens the target accepted.", static_cast<double>(m.accepted_tokens));
    metric("time_to_first_token_seconds_sum", "counter", "Summed time from arrival to first token.", m.time_to_first_token_s);
    metric("time_to_first_token_seconds_count", "counter", "First tokens.", static_cast<double>(m.first_tokens));
    metric("time_per_output_token_seconds_sum", "counter", "Summed time between consecutive tokens of a request.", m.time_per_output_token_s);
    metric("time_per_output_token_seconds_count", "counter", "Tokens after the first.", static_cast<double>(m.later_tokens));
    metric("requests_running", "gauge", "Requests holding a sequence.", static_cast<double>(m.running));
    metric("requests_waiting", "gauge", "Requests queued.", static_cast<double>(m.waiting));
    metric("kv_blocks_in_use", "gauge", "KV cache blocks referenced by sequences.", static_cast<double>(m.kv_blocks_in_use));
    metric("kv_blocks_total", "gauge", "KV cache blocks in all pools.", static_cast<double>(m.kv_blocks_total));
    return out;
  }

  const serve_options& o_;
  text::tokenizer tok_;
  text::chat_format format_;
  sample::sampling_params defaults_;
  std::vector<std::int32_t> stop_tokens_;
  text::token_id tool_response_ = text::no_token;
  serve::generation_scheduler<Device, Model, Cache> scheduler_;
  mutable std::atomic<std::uint64_t> next_id_{0};
};

// The draft model of --draft, with a sequence per concurrent request at the full context in its
// own cache (checked against the machine's memory on its own).
template <class Device>
std::unique_ptr<serve::sequence_drafter> load_drafter(Device& dev, const serve_options& o, const text::tokenizer& tok,
                                                      const models::plan_options& planned, std::size_t target_vocab) {
  check_same_tokenizer(&tok.vocab().pieces, o.draft);
  const model_spec draft = open_model(o.draft);
  models::weight_census census = draft.census();
  const models::memory_plan plan = plan_model(draft.config, census, planned);
  check_fits(draft.name, plan, models::system_memory::read(), o.run.budget);
  const kv_cache_options options{planned.kv, 16, o.max_sequences, o.run.chunk, o.max_rollback()};
  return with_model<Device>(draft, options, plan.kv_bytes, [&](auto& model, auto& cache) -> std::unique_ptr<serve::sequence_drafter> {
    using model_type = std::decay_t<decltype(model)>;
    using cache_type = std::decay_t<decltype(cache)>;
    spec::check_compatible(target_vocab, model.config().vocab, o.draft);
    return std::make_unique<serve::model_sequence_drafter<Device, model_type, cache_type>>(dev, std::move(model), std::move(cache), o.run.chunk);
  });
}

template <class Device>
void serve_model(Device& dev, const serve_options& o) {
  const auto vocabulary = models::load_model_vocabulary(o.run.model);
  if (!vocabulary) throw error(error_category::format, o.run.model + ": the model has no tokenizer; strix serve needs one");
  text::tokenizer tok(*vocabulary);
  sample::sampling_params defaults{.temperature = 1.0f};
  if (is_gguf_file(o.run.model)) defaults = sample::with_gguf_defaults(gguf_file::open(o.run.model), defaults);
  const model_spec spec = open_model(o.run.model);
  models::weight_census census = spec.census();
  models::plan_options planned = plan_options_for(o.run, o.context, o.max_rollback());
  planned.sequences = o.max_sequences;
  const models::memory_plan plan = plan_model(spec.config, census, planned);
  const std::uint64_t kv_budget = o.kv_budget.empty() ? plan.kv_bytes : parse_bytes(o.kv_budget);
  check_fits(spec.name, plan, models::system_memory::read(), o.run.budget);
  const kv_cache_options options{planned.kv, 16, o.max_sequences, o.run.chunk, o.max_rollback()};
  std::unique_ptr<serve::sequence_drafter> drafter;
  if (o.ngram) drafter = std::make_unique<serve::ngram_sequence_drafter>();
  if (!o.draft.empty()) drafter = load_drafter(dev, o, tok, planned, std::visit([](const auto& c) { return c.vocab; }, spec.config));
  with_model<Device>(spec, options, kv_budget, [&](auto& model, auto& cache) -> void {
    using model_type = std::decay_t<decltype(model)>;
    using cache_type = std::decay_t<decltype(cache)>;
    server<Device, model_type, cache_type>(o, std::move(tok), model, cache, defaults, drafter.get()).run(dev);
  });
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server with continuous batching");
  auto o = std::make_shared<serve_options>();
  o->run.model = STRIX_DEFAULT_CHAT_MODEL;
  cmd->add_option("--model", o->run.model, "GGUF file or Hugging Face folder (default: the shipped tiny Gemma 4 chat model)");
  cmd->add_option("--name", o->name, "the model id clients name (default: the file or folder name)");
  cmd->add_option("--host", o->host, "address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", o->port, "port (default 8080; 0: any free port)")->check(CLI::Range(0, 65535));
  cmd->add_option("--max-seqs", o->max_sequences, "requests decoded together (default 8)")->check(CLI::PositiveNumber);
  cmd->add_option("-c,--ctx", o->context, "most tokens of one request, prompt and reply (default 4096)")->check(CLI::PositiveNumber);
  cmd->add_option("--kv-budget", o->kv_budget, "KV cache size shared by all requests (16G, 512MiB; default: every sequence at --ctx)");
  add_device_option(*cmd, o->run.device);
  cmd->add_option("-t,--threads", o->run.threads, "threads for zen5 (default: all)");
  cmd->add_option("--kv-type", o->run.kv, "KV cache type: f32, f16, bf16, q8_0, q4_0");
  cmd->add_option("--chunk", o->run.chunk, "tokens per forward pass across the batch (prefill chunk)")->check(CLI::PositiveNumber);
  cmd->add_option("--budget", o->run.budget, "refuse to load beyond this much memory in all (16G, 512MiB, bytes)");
  auto* draft = cmd->add_option("--draft", o->draft, "speculative decoding with this draft model (same tokenizer), per request");
  cmd->add_flag("--ngram", o->ngram, "speculative decoding with n-gram lookup in each request's tokens")->excludes(draft);
  cmd->add_option("--draft-max", o->draft_max, "most drafted tokens per step and request (adaptive below it)")->check(CLI::Range(1, 32));
  cmd->callback([o] {
    if (o->name.empty()) o->name = std::filesystem::path(o->run.model).filename().string();
    with_device(o->run, [&](auto& dev) { serve_model(dev, *o); });
  });
}

}  // namespace strix::tool
